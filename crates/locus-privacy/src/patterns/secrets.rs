//! Secrets: credentials that must never leave the device. PEM blocks, authorization
//! and cookie headers, bearer tokens, credentials in URLs, secret `key=value` pairs
//! and query parameters (`password=`, `token=`, `sig=`, `X-Amz-Signature=` ...),
//! vendor keys with a recognisable prefix (AWS `AKIA...`, GitHub, Slack, Stripe,
//! Google), JWTs, and, last, long random-looking tokens with no context at all.

use regex::Captures;

use super::{group, keyed_value, KEYED_SEP, KEYED_VAL};
use crate::engine::{Edit, Rule, Verdict};
use crate::validate::is_status_word;
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
            r#"(?i)\b(?P<key>set-cookie|cookie)(?P<sep>"?[ \t]*:[ \t]*)(?P<val>"[^"\r\n]*"|[^\r\n"]+)"#,
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
                r"(?i)(?P<key>\b(?:[A-Za-z0-9]+[_.-])*(?:{PASSWORD_KEYS}))\b{KEYED_SEP}{KEYED_VAL}"
            ),
            keyed_value(SECRET, 1),
        ),
        Rule::check(
            "secret-value",
            Personal,
            &format!(
                r"(?i)(?P<key>\b(?:[A-Za-z0-9]+[_.-])*(?:{TOKEN_KEYS}))\b{KEYED_SEP}{KEYED_VAL}"
            ),
            keyed_value(SECRET, 6),
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

fn authorization(_: &str, caps: &Captures<'_>) -> Verdict {
    let Some(v) = caps.name("val") else {
        return Verdict::Retry;
    };
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
