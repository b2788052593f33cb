//! Secrets: credentials that must never leave the device. PEM blocks, authorization
//! and cookie headers (Digest credentials whole, any `X-...-Token:` header), bearer
//! tokens, credentials in URLs and after `curl -u`, tracking cookies, FCM registration
//! tokens, secret `key=value` pairs and query parameters (`password=`, `token=`, `sig=`,
//! `X-Amz-Signature=` ..., also under compound names such as `the_secret=`,
//! `a_password_here=`, `secret-token-here=`, and `auth=`, `two-factor=`),
//! vendor keys with a recognisable prefix (AWS `AKIA...`, GitHub, Slack, Stripe,
//! Google), JWTs, and, last, long random-looking tokens with no context at all.

use regex::Captures;

use super::{group, keyed_value, KEYED_SEP, KEYED_VAL};
use crate::engine::{Edit, Rule, Verdict};
use crate::validate::{is_status_word, prev_char};
use crate::PiiKind::Personal;

const SECRET: &str = "<secret>";

/// Keys whose value is secret however short it is.
const PASSWORD_KEYS: &str = r"pass(?:word|wd|phrase|code)|pwd|pin|otp|totp";

/// Keys whose value is secret when it is at least six characters long (`sig=11` and
/// `token=abc` are not worth hiding; `sig=3f9a...` is).
const TOKEN_KEYS: &str = concat!(
    r"secret|token|api[_-]?key|apikey|access[_-]?key(?:[_-]?id)?|awsaccesskeyid|",
    r"secret[_-]?key|private[_-]?key|signing[_-]?key|credentials?|signature|sig|",
    r"session[_-]?(?:id|key|token)|sessionid|sid|salt|key|accesstoken|refreshtoken|",
    r"clientsecret|authtoken|id[_-]?token|(?:aws)?secret[_-]?access[_-]?key"
);

/// PEM blocks, which run before anything else looks at the text: their content could
/// look like anything.
pub(crate) fn early() -> Vec<Rule> {
    vec![
        Rule::whole(
            "pem-block",
            Personal,
            r"-----BEGIN [A-Z0-9 ]{1,40}-----.*?-----END [A-Z0-9 ]{1,40}-----",
            SECRET,
        ),
        Rule::whole(
            "pem-begin",
            Personal,
            r"-----BEGIN [A-Z0-9 ]{1,40}-----.*",
            SECRET,
        ),
        Rule::whole(
            "pem-end",
            Personal,
            r"(?:[A-Za-z0-9+/=]+[ \t]*)?-----END [A-Z0-9 ]{1,40}-----",
            SECRET,
        ),
    ]
}

/// Credentials with a fixed shape, after the PEM and NMEA rules: URLs with user info,
/// authorization and cookie headers, bearer tokens, JWTs.
pub(crate) fn credentials() -> Vec<Rule> {
    vec![
        Rule::check(
            "url-credentials",
            Personal,
            r#"\b[A-Za-z][A-Za-z0-9+.-]{1,15}://(?P<cred>[^\s/?#@<>"']+)@"#,
            group("cred", SECRET),
        ),
        Rule::check(
            "authorization-header",
            Personal,
            concat!(
                r#"(?i)\b(?P<key>(?:proxy-)?authorization|x-(?:api|auth)-(?:key|token))"#,
                r#"(?P<sep>"?[ \t]*[:=][ \t]*"?)"#,
                r#"(?:(?P<scheme>bearer|basic|digest|token|negotiate|ntlm|hmac|aws4-hmac-sha256|apikey|key|sharedkey|sharedaccesssignature)[ \t]+)?"#,
                r#"(?P<val>[^\s"',;<>]+)"#
            ),
            authorization,
        ),
        Rule::check(
            "cookie-header",
            Personal,
            // The whole value goes: `Cookie: a="b"` never becomes `Cookie: <secret>"b"`.
            r#"(?i)\b(?P<key>set-cookie|cookie)(?P<sep>"?[ \t]*:[ \t]*)(?P<val>"(?:[^"\\\r\n]|\\.)*"|[^\r\n]+)"#,
            keyed_value(SECRET, 1),
        ),
        Rule::check(
            "bearer",
            Personal,
            r"(?i)\bbearer[ \t]+(?P<val>[A-Za-z0-9._~+/=-]{8,})",
            |_, caps| {
                let Some(v) = caps.name("val") else {
                    return Verdict::Retry;
                };
                let s = v.as_str();
                if s.len() >= 20 || s.bytes().any(|b| b.is_ascii_digit()) {
                    Verdict::Edit(Edit::new(v.start(), v.end(), SECRET))
                } else {
                    Verdict::Resume(v.end())
                }
            },
        ),
        Rule::whole(
            "fcm-token",
            Personal,
            r"\b[A-Za-z0-9_-]{11,}:APA91[A-Za-z0-9_-]{20,}",
            SECRET,
        ),
        Rule::whole(
            "jwt",
            Personal,
            r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*",
            SECRET,
        ),
    ]
}

/// Secret `key=value` pairs, query parameters and command-line flags. They run after
/// the number rules, so that a value the key rule would cut at a space or comma (a
/// phone number, a coordinate pair) has already been taken whole.
pub(crate) fn keyed() -> Vec<Rule> {
    vec![
        Rule::check(
            "password-value",
            Personal,
            &format!(
                r"(?i)(?P<key>\b(?:[A-Za-z0-9]+[_.-])*(?P<core>{PASSWORD_KEYS})(?P<tail>(?:[_-][A-Za-z0-9]+)*))\b{KEYED_SEP}{KEYED_VAL}"
            ),
            compound_key(1),
        ),
        Rule::check(
            "auth-value",
            Personal,
            &format!(
                r"(?i)(?:\A|[^:A-Za-z0-9_.\-])(?P<key>(?:(?:[a-z]+[_-])?auth|two[_-]?factor|2fa|mfa(?:[_-]?code)?))\b{KEYED_SEP}{KEYED_VAL}"
            ),
            |hay, caps| {
                // `two-factor=` is a secret, `not-a-two-factor=` is a question.
                let Some(k) = caps.name("key") else {
                    return Verdict::Retry;
                };
                // `not-a-two-factor=` asks a question; `locus::auth: ...` is a module path.
                let glued = prev_char(hay, k.start()).is_some_and(|c| {
                    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')
                });
                match (glued, caps.name("val")) {
                    (true, Some(v)) => Verdict::Resume(v.end()),
                    _ => keyed_value(SECRET, 1)(hay, caps),
                }
            },
        ),
        Rule::check(
            "secret-value",
            Personal,
            &format!(
                r"(?i)(?P<key>\b(?:[A-Za-z0-9]+[_.-])*(?P<core>{TOKEN_KEYS})(?P<tail>(?:[_-][A-Za-z0-9]+)*))\b{KEYED_SEP}{KEYED_VAL}"
            ),
            compound_key(6),
        ),
        Rule::check(
            "curl-user",
            Personal,
            r#"(?:\A|[ \t])(?:-u|--user|--proxy-user|-U)[ \t]*(?P<v>'[^'\r\n]*'|"[^"\r\n]*"|[^\s'"<]+)"#,
            |_, caps| match caps.name("v") {
                Some(v) if v.as_str().contains(':') => {
                    let q = usize::from(v.as_str().starts_with(['\'', '"']));
                    Verdict::Edit(Edit::new(v.start() + q, v.end() - q, SECRET))
                }
                Some(v) => Verdict::Resume(v.end()),
                None => Verdict::Retry,
            },
        ),
        Rule::check(
            "tracking-cookie",
            Personal,
            concat!(
                r"(?P<key>\b(?:_ga(?:_[A-Z0-9]+)?|_gid|_gat[_A-Za-z0-9]*|_gcl_[a-z]+|_fbp|_fbc|__utm[a-z]|_hjSessionUser_[0-9]+",
                r"|_hjid|_pk_id[.0-9a-f]*|_pk_ses[.0-9a-f]*|ajs_anonymous_id|ajs_user_id|_uetsid|_uetvid|MUID|IDE|NID|ANID",
                r"|_clck|_clsk|__hssc|__hstc|hubspotutk|_shopify_y|_ttp|_scid|_rdt_uuid|amplitude_id[_A-Za-z0-9]*",
                r#"|mp_[a-z0-9]+_mixpanel|optimizelyEndUserId|__gads|__gpi|_dd_s|_mkto_trk|intercom-id-[a-z0-9]+))(?P<sep>=)(?P<val>"[^"\r\n]*"|[^;\s,"<>]+)"#
            ),
            keyed_value("<id>", 1),
        ),
        Rule::check(
            "secret-flag",
            Personal,
            &format!(
                r#"(?i)--(?P<key>(?:[A-Za-z0-9]+-)*(?:{PASSWORD_KEYS}|{TOKEN_KEYS}))(?P<sep>[ \t]+)(?P<val>"[^"\r\n]*"|'[^'\r\n]*'|[^\s"'&,;<>(){{}}\[\]-][^\s"'&,;<>(){{}}\[\]]*)"#
            ),
            keyed_value(SECRET, 1),
        ),
    ]
}

/// Vendor keys with a recognisable prefix (AWS access key ids, GitHub, Slack, Stripe,
/// Google, GitLab); after the key rules, which take a whole `X-Amz-Credential=` value.
pub(crate) fn vendor() -> Vec<Rule> {
    vec![Rule::whole(
        "vendor-key",
        Personal,
        concat!(
            r"\b(?:(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA|ABIA|ACCA)[A-Z0-9]{16}",
            r"|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,}",
            r"|xox[abposr]-[A-Za-z0-9-]{10,}|[sr]k_(?:live|test)_[A-Za-z0-9]{16,}",
            r"|AIza[0-9A-Za-z_-]{35}|glpat-[A-Za-z0-9_-]{20,})\b"
        ),
        SECRET,
    )]
}

/// Long random-looking tokens with no key in front of them (a PEM body line, an API key
/// pasted into a message): 32 characters or more, or 16 and more with base64 padding.
/// Runs after the hex and UUID rules.
pub(crate) fn opaque() -> Vec<Rule> {
    vec![Rule::check(
        "opaque-token",
        Personal,
        r"[A-Za-z0-9+/_-]{16,}={0,2}",
        |hay, caps| {
            let Some(m) = caps.get(0) else {
                return Verdict::Retry;
            };
            // `X-Amz-SignedHeaders=host`: the `=` is a key's, not base64 padding.
            let key = m.as_str().ends_with('=')
                && crate::validate::next_char(hay, m.end()).is_some_and(crate::validate::is_word);
            if looks_random(m.as_str())
                && !key
                && !crate::validate::prev_char(hay, m.start()).is_some_and(crate::validate::is_word)
            {
                Verdict::Edit(Edit::new(m.start(), m.end(), SECRET))
            } else {
                Verdict::Resume(m.end())
            }
        },
    )]
}

fn authorization(hay: &str, caps: &Captures<'_>) -> Verdict {
    let Some(v) = caps.name("val") else {
        return Verdict::Retry;
    };
    // Digest credentials are a list of `k="v"` pairs: all of them go, to the end of the
    // line or, inside a JSON string, to its closing quote.
    if caps
        .name("scheme")
        .is_some_and(|s| s.as_str().eq_ignore_ascii_case("digest"))
    {
        let in_json = caps.name("sep").is_some_and(|s| s.as_str().contains('"'));
        let rest = &hay[v.start()..];
        let mut end = rest.len();
        if in_json {
            let b = rest.as_bytes();
            if let Some(i) = (0..b.len()).find(|&i| b[i] == b'"' && (i == 0 || b[i - 1] != b'\\')) {
                end = i;
            }
        }
        let end = v.start() + end;
        if end > v.start() && &hay[v.start()..end] != SECRET {
            return Verdict::Edit(Edit::new(v.start(), end, SECRET));
        }
        return Verdict::Resume(v.end());
    }
    const SCHEMES: &[&str] = &[
        "bearer",
        "basic",
        "digest",
        "token",
        "negotiate",
        "ntlm",
        "hmac",
        "aws4-hmac-sha256",
        "apikey",
        "key",
        "sharedkey",
        "sharedaccesssignature",
    ];
    let s = v.as_str();
    if SCHEMES.iter().any(|w| s.eq_ignore_ascii_case(w)) || is_status_word(s) {
        return Verdict::Resume(v.end());
    }
    Verdict::Edit(Edit::new(v.start(), v.end(), SECRET))
}

/// The check for secret keys with words around the secret noun (`the_secret`,
/// `a_password_here`, `secret-token-here`): the value goes, unless the last word says
/// the value is about the secret rather than the secret itself (`password_length=12`,
/// `token_type=bearer`, `token_expires_in=3600`).
fn compound_key(min_chars: usize) -> impl Fn(&str, &Captures<'_>) -> Verdict + Send + Sync {
    const ABOUT: &[&str] = &[
        "len",
        "length",
        "count",
        "size",
        "type",
        "kind",
        "policy",
        "strength",
        "hint",
        "required",
        "reset",
        "expiry",
        "expires",
        "expired",
        "expiration",
        "age",
        "ttl",
        "in",
        "at",
        "ms",
        "s",
        "sec",
        "secs",
        "seconds",
        "min",
        "max",
        "rules",
        "field",
        "prompt",
        "manager",
        "changed",
        "updated",
        "enabled",
        "disabled",
        "valid",
        "status",
        "state",
        "error",
        "errors",
        "attempts",
        "retries",
        "source",
        "format",
        "version",
        "name",
        "names",
        "scope",
        "scopes",
        "endpoint",
        "url",
        "uri",
        "path",
        "file",
        "store",
        "refresh",
        "rotation",
        "cache",
        "provider",
        "mode",
        "usage",
        "limit",
        "used",
    ];
    let short = keyed_value(SECRET, 1);
    let long = keyed_value(SECRET, min_chars);
    move |hay, caps| {
        let tail = caps.name("tail").map_or("", |t| t.as_str());
        let last = tail
            .rsplit(['_', '-'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        let key = caps.name("key").map_or("", |k| k.as_str());
        let core = caps
            .name("core")
            .map_or("", |c| c.as_str())
            .to_ascii_lowercase();
        // Only a bare short key (`sig=11` is a signal, `key=up` a key press) wants a
        // value that looks like a secret; a named secret is one however short.
        let bare_short =
            key.len() == core.len() && matches!(core.as_str(), "sig" | "key" | "sid" | "salt");
        match caps.name("val") {
            Some(v) if !tail.is_empty() && ABOUT.contains(&last.as_str()) => {
                Verdict::Resume(v.end())
            }
            _ if bare_short => long(hay, caps),
            _ => short(hay, caps),
        }
    }
}

/// Base64/base64url noise: both letter cases, few separators, and the character class
/// (upper, lower, digit, symbol) changing often, which random text does and
/// `CamelCaseIdentifiers`, words and paths do not.
fn looks_random(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    let b = body.as_bytes();
    let padded = body.len() < s.len();
    let short = b.len() < 32;
    if short && !(padded && b.len() >= 16 && b.iter().any(u8::is_ascii_digit)) {
        return false;
    }
    let class = |c: u8| match c {
        b'A'..=b'Z' => 0u8,
        b'a'..=b'z' => 1,
        b'0'..=b'9' => 2,
        _ => 3,
    };
    let (mut upper, mut lower, mut symbols, mut changes) = (0, 0, 0, 0);
    for (i, &c) in b.iter().enumerate() {
        match class(c) {
            0 => upper += 1,
            1 => lower += 1,
            3 => symbols += 1,
            _ => {}
        }
        if i > 0 && class(c) != class(b[i - 1]) {
            changes += 1;
        }
    }
    upper > 0 && lower > 0 && symbols * 8 <= b.len() && changes * 10 >= b.len() * 4
}

#[cfg(test)]
mod tests {
    use super::looks_random;

    #[test]
    fn randomness() {
        assert!(looks_random(
            "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj"
        ));
        assert!(!looks_random("AbstractSingletonProxyFactoryBeanImpl"));
        assert!(!looks_random(
            "diagnostics/2026/11/27/device42_20261127T010203Z"
        ));
        assert!(looks_random("Zk9yq1c3H7wTt2m0D1h8n7Lr6T5cQ=="));
        assert!(!looks_random("Zk9yq1c3H7wTt2m0D1h8n7Lr6T5cQ"));
    }
}
