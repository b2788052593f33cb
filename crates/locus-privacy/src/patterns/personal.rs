//! Personal data other than location and secrets: e-mail addresses, user names in
//! home-directory paths (also `C:\Windows\Profiles\<user>`), bucket names (S3, `gs://`,
//! `arn:aws:s3:::`, Azure, R2) and AWS account ids in ARNs, Firebase installation ids,
//! hardware serial numbers, values of personal keys (`user=`, `email=`, `imei=`,
//! `ssn=` ...), IMEIs, payment cards, IBANs, national id numbers and phone numbers.
//!
//! Numbers are told from look-alikes by their check digits (Luhn, IBAN mod 97, the
//! Spanish DNI letter, the French NIR key) or by a layout that counts and timestamps
//! do not have, so `1764205323123` (epoch ms), `2026-11-27` and `HTTP 503` are kept.

use regex::Captures;

use super::{group, keyed_value, KEYED_SEP, KEYED_VAL};
use crate::engine::{Edit, Rule, Verdict};
use crate::validate::{
    digit_count, glued_after, glued_before, iban_ok, is_word, luhn_ok, one_kind_of_separator,
    prev_char,
};
use crate::PiiKind::{self, Location, Personal};

/// E-mail addresses, user names in home-directory paths, S3 bucket names in URLs.
pub(crate) fn identity() -> Vec<Rule> {
    let rules = vec![
        Rule::whole(
            "email",
            Personal,
            concat!(
                r"\b[A-Za-z0-9_][A-Za-z0-9._%+-]*(?:@|%40)[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?",
                r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}\b"
            ),
            "<email>",
        ),
        Rule::check(
            "home-dir-unix",
            Personal,
            r#"/(?:home|Users|export/home|usr/home|var/home)/(?P<user>[^/\\\s<>"':;,|*?]+)"#,
            |hay, caps| {
                let Some(m) = caps.get(0) else {
                    return Verdict::Retry;
                };
                let glued = prev_char(hay, m.start())
                    .is_some_and(|c| is_word(c) || matches!(c, '.' | '~' | '%' | '-'));
                home_user(caps, glued)
            },
        ),
        Rule::check(
            "home-dir-windows",
            Personal,
            concat!(
                r#"(?i)\b[A-Z]:(?:\\{1,2}|/)(?:Users|Documents and Settings|[^\\/\s<>"':*?|]+(?:\\{1,2}|/)Profiles)(?:\\{1,2}|/)"#,
                r#"(?:(?P<user>[^\\/\s<>"':*?|]+(?: [^\\/\s<>"':*?|]+)*)(?:\\|/)|(?P<user2>[^\\/\s<>"':*?|]+))"#
            ),
            |_, caps| home_user(caps, false),
        ),
        Rule::check(
            "arn-account",
            Personal,
            r"\barn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:(?P<v>[0-9]{12}):",
            group("v", "<id>"),
        ),
        Rule::check(
            "firebase-installation",
            Personal,
            r#"(?i)\b(?:fid|firebase[ _-]?installations?(?:[ _-]?id)?|installation[ _-]?id|fis[ _-]?id)\b["']?[ \t]*[:=]?[ \t]*["']?(?P<v>[cdef][A-Za-z0-9_-]{21})\b"#,
            group("v", "<id>"),
        ),
        Rule::check(
            "hardware-serial",
            Personal,
            concat!(
                r"(?i)\b(?:serial(?:[ \t]+(?:number|no\.?|num|#))?|s/n|sn|(?:ro\.)?(?:boot\.)?serialno|hw[ _-]?serial",
                r#"|board[ _-]?serial|build\.serial)\b["']?[ \t]*[:=#]?[ \t]*["']?(?P<v>[A-Z0-9][A-Z0-9-]{5,24})\b"#
            ),
            |_, caps| match caps.name("v") {
                Some(v)
                    if v.as_str().bytes().any(|b| b.is_ascii_digit())
                        && v.as_str().bytes().any(|b| b.is_ascii_alphabetic())
                        && !v.as_str().bytes().any(|b| b.is_ascii_lowercase()) =>
                {
                    Verdict::Edit(Edit::new(v.start(), v.end(), "<id>"))
                }
                Some(v) => Verdict::Resume(v.end()),
                None => Verdict::Retry,
            },
        ),
        Rule::check(
            "s3-bucket",
            Personal,
            concat!(
                r"\bs3://(?P<b1>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])",
                r"|\b(?P<b2>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\.s3(?:[.-][a-z0-9-]+)?\.amazonaws\.com",
                r"|://s3(?:[.-][a-z0-9-]+)?\.amazonaws\.com/(?P<b3>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])",
                r"|\bgs://(?P<b4>[a-z0-9][a-z0-9._-]{1,220}[a-z0-9])",
                r"|\barn:aws[a-z-]*:s3:::(?P<b5>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])",
                r"|\bstorage\.(?:cloud\.)?googleapis\.com/(?:storage/v1/b/)?(?P<b6>[a-z0-9][a-z0-9._-]{1,61}[a-z0-9])",
                r"|\b(?P<b7>[a-z0-9][a-z0-9-]{1,61}[a-z0-9])\.(?:blob|dfs|file)\.core\.windows\.net",
                r"|\b(?P<b8>[a-z0-9][a-z0-9-]{1,61}[a-z0-9])\.r2\.cloudflarestorage\.com"
            ),
            |_, caps| match ["b1", "b2", "b3", "b4", "b5", "b6", "b7", "b8"]
                .iter()
                .find_map(|n| caps.name(n))
            {
                Some(b) => Verdict::Edit(Edit::new(b.start(), b.end(), "<bucket>")),
                None => Verdict::Retry,
            },
        ),
    ];
    rules
}

/// `key=value` pairs that name a person, a device or a place (`user=`, `email=`,
/// `imei=`, `ssn=`, `ssid=` ...). Like the secret keys they run after the number rules.
pub(crate) fn keyed() -> Vec<Rule> {
    let mut rules = Vec::new();
    let keyed: [(&str, &'static str, PiiKind, &str); 8] = [
        (
            "user-key",
            "<user>",
            Personal,
            concat!(
                r"user(?:[_-]?(?:name|id))?|login|account[_-]?(?:name|id)|owner[_-]?name",
                r"|(?:first|last|full|display|given|family|real)[_-]?name"
            ),
        ),
        (
            "email-key",
            "<email>",
            Personal,
            r"e-?mail(?:[_-]?address)?|mail",
        ),
        ("bucket-key", "<bucket>", Personal, r"bucket(?:[_-]?name)?"),
        (
            "phone-key",
            "<phone>",
            Personal,
            r"phone(?:[_-]?(?:number|no))?|tel|telephone|mobile|msisdn|cell(?:[_-]?phone)?",
        ),
        (
            "device-id-key",
            "<id>",
            Personal,
            concat!(
                r"imei(?:sv)?|imsi|iccid|meid|serial(?:[_-]?(?:no|number))?|device[_-]?(?:id|serial)",
                r"|android[_-]?id|advertising[_-]?id|idfa|idfv|gaid|install(?:ation)?[_-]?id",
                r"|hardware[_-]?id|hwid|deviceid"
            ),
        ),
        (
            "national-id-key",
            "<national-id>",
            Personal,
            concat!(
                r"ssn|social[_-]?security(?:[_-]?(?:number|no))?|passport(?:[_-]?(?:number|no))?",
                r"|tax[_-]?id|national[_-]?id|nino|dni|nif|nie|cpf|steuer[_-]?id|aadhaar|insee|nir"
            ),
        ),
        (
            "personal-key",
            "<redacted>",
            Personal,
            concat!(
                r"birth[_-]?date|date[_-]?of[_-]?birth|dob|birthday|device[_-]?name",
                r"|computer[_-]?name|bluetooth[_-]?name|gender"
            ),
        ),
        (
            "address-key",
            "<location>",
            Location,
            concat!(
                r"(?:home|street|postal|billing|shipping|mailing)[_-]?address|street|postcode",
                r"|postal[_-]?code|zip[_-]?code|zip|bssid"
            ),
        ),
    ];
    for (name, placeholder, kind, keys) in keyed {
        rules.push(Rule::check(
            name,
            kind,
            &format!(r"(?i)(?P<key>\b(?:[A-Za-z0-9]+[_.-])*(?:{keys}))\b{KEYED_SEP}{KEYED_VAL}"),
            keyed_value(placeholder, 1),
        ));
    }
    rules
}

/// Numbers with check digits or a fixed layout.
pub(crate) fn numbers() -> Vec<Rule> {
    vec![
        Rule::check(
            "iban",
            Personal,
            r"\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,32}",
            iban,
        ),
        Rule::check(
            "imei",
            Personal,
            r"\b[0-9]{2}[ -]?[0-9]{6}[ -]?[0-9]{6}[ -]?[0-9]\b",
            |hay, caps| digits_with_check(hay, caps, 15..=15, "<imei>"),
        ),
        Rule::check(
            "payment-card",
            Personal,
            concat!(
                r"\b(?:[2-6][0-9]{12,18}|[2-6][0-9]{3}(?:[ -][0-9]{4}){2,3}(?:[ -][0-9]{1,4})?",
                r"|3[47][0-9]{2}[ -][0-9]{6}[ -][0-9]{5})\b"
            ),
            |hay, caps| digits_with_check(hay, caps, 13..=19, "<card>"),
        ),
        Rule::check(
            "us-ssn",
            Personal,
            r"\b(?P<a>[0-9]{3})-(?P<g>[0-9]{2})-(?P<s>[0-9]{4})\b",
            |hay, caps| {
                let (Some(m), Some(a), Some(g), Some(s)) =
                    (caps.get(0), caps.name("a"), caps.name("g"), caps.name("s"))
                else {
                    return Verdict::Retry;
                };
                let (a, g, s) = (a.as_str(), g.as_str(), s.as_str());
                let valid =
                    a != "000" && a != "666" && !a.starts_with('9') && g != "00" && s != "0000";
                if valid && !glued_before(hay, m.start()) && !dash_digit(hay, m.start(), m.end()) {
                    Verdict::Edit(Edit::new(m.start(), m.end(), "<national-id>"))
                } else {
                    Verdict::Retry
                }
            },
        ),
        Rule::whole(
            "uk-nino",
            Personal,
            r"\b[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D]\b",
            "<national-id>",
        ),
        Rule::check(
            "es-dni",
            Personal,
            r"\b(?P<p>[XYZ]-?)?(?P<n>[0-9]{7,8})-?(?P<l>[A-Z])\b",
            es_dni,
        ),
        Rule::whole(
            "br-cpf",
            Personal,
            r"\b[0-9]{3}\.[0-9]{3}\.[0-9]{3}-[0-9]{2}\b",
            "<national-id>",
        ),
        Rule::whole(
            "it-codice-fiscale",
            Personal,
            r"\b[A-Z]{6}[0-9LMNPQRSTUV]{2}[ABCDEHLMPRST][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z]\b",
            "<national-id>",
        ),
        Rule::check(
            "ca-sin",
            Personal,
            r"\b[0-9]{3}-[0-9]{3}-[0-9]{3}\b",
            |hay, caps| digits_with_check(hay, caps, 9..=9, "<national-id>"),
        ),
        Rule::check(
            "fr-nir",
            Personal,
            concat!(
                r"\b(?:[12][0-9]{4}(?:[0-9]{2}|2[AB])[0-9]{8}",
                r"|[12] [0-9]{2} [0-9]{2} (?:[0-9]{2}|2[AB]) [0-9]{3} [0-9]{3} [0-9]{2})\b"
            ),
            fr_nir,
        ),
    ]
}

/// Phone numbers: international (`+CC`, `00CC`), North American, and national numbers
/// with a trunk `0`. They run last, so anything more specific has already been taken.
pub(crate) fn phones() -> Vec<Rule> {
    vec![
        Rule::check(
            "tel-uri",
            Personal,
            r"(?i)\btel:(?P<v>\+?[0-9][0-9().\- ]{4,}[0-9])",
            group("v", "<phone>"),
        ),
        Rule::check(
            "phone-international",
            Personal,
            r"\+[1-9](?:[ .\-/]?\(?[0-9]{1,6}\)?){1,12}",
            |hay, caps| phone(hay, caps, 8),
        ),
        Rule::check(
            "phone-international-00",
            Personal,
            r"\b00[1-9][0-9]{0,3}(?:[ .\-/][0-9]{1,8}){2,10}",
            |hay, caps| phone(hay, caps, 10),
        ),
        Rule::check(
            "phone-nanp",
            Personal,
            concat!(
                r"(?:\b1[ .-])?(?:\([2-9][0-9]{2}\)[ ]?[0-9]{3}[ .-]",
                r"|\b[2-9][0-9]{2}-[0-9]{3}-|\b[2-9][0-9]{2}\.[0-9]{3}\.)[0-9]{4}\b"
            ),
            |hay, caps| phone(hay, caps, 10),
        ),
        Rule::check(
            "phone-national",
            Personal,
            r"(?:\(0[0-9]{1,5}\)[ ]?|\b0[1-9][0-9]{1,5}[ /.\-]?)[0-9]{2,8}(?:[ .\-][0-9]{2,8}){0,3}\b",
            |hay, caps| phone(hay, caps, 9),
        ),
    ]
}

/// Replaces the user-name group of a home-directory match, keeping the path around it.
fn home_user(caps: &Captures<'_>, glued: bool) -> Verdict {
    const NOT_PEOPLE: &[&str] = &[
        "Shared",
        "Public",
        "Default",
        "All Users",
        "Default User",
        "<user>",
    ];
    let Some(user) = caps.name("user").or(caps.name("user2")) else {
        return Verdict::Retry;
    };
    if glued
        || NOT_PEOPLE
            .iter()
            .any(|n| user.as_str().eq_ignore_ascii_case(n))
    {
        return Verdict::Resume(user.end());
    }
    Verdict::Edit(Edit::new(user.start(), user.end(), "<user>"))
}

/// A run of digits (with optional separators) of an allowed length, one kind of
/// separator, Luhn-valid, not glued to other numbers or a `+` (a phone number). When
/// the run goes on after the number (`4111 1111 1111 1111 42`), shorter prefixes that
/// end at a separator are tried: 16 and 15 digits (nearly every card) first, then the
/// longest, so that a card followed by another number does not swallow half of it.
fn digits_with_check(
    hay: &str,
    caps: &Captures<'_>,
    len: std::ops::RangeInclusive<usize>,
    placeholder: &'static str,
) -> Verdict {
    let Some(m) = caps.get(0) else {
        return Verdict::Retry;
    };
    if glued_before(hay, m.start()) || prev_char(hay, m.start()) == Some('+') {
        return Verdict::Retry;
    }
    let s = m.as_str();
    let separators = s.char_indices().rev().filter(|(_, c)| !c.is_ascii_digit());
    let mut ends: Vec<usize> = std::iter::once(s.len())
        .chain(separators.map(|(i, _)| i))
        .collect();
    ends.sort_by_key(|&e| {
        (
            !matches!(digit_count(&s[..e]), 15 | 16),
            std::cmp::Reverse(e),
        )
    });
    for end in ends {
        let candidate = &s[..end];
        let abs_end = m.start() + end;
        if len.contains(&digit_count(candidate))
            && one_kind_of_separator(candidate)
            && luhn_ok(candidate)
            && !glued_after(hay, abs_end)
            && !dash_digit(hay, m.start(), abs_end)
        {
            return Verdict::Edit(Edit::new(m.start(), abs_end, placeholder));
        }
    }
    Verdict::Retry
}

/// Whether the match is part of a longer dash- or dot-separated run of digit groups
/// (`2026-11-27-1234`, `1.2.3.4`), which is not one number.
fn dash_digit(hay: &str, start: usize, end: usize) -> bool {
    let before = matches!(prev_char(hay, start), Some('-' | '.' | '/'))
        && crate::validate::prev_char2(hay, start).is_some_and(|c| c.is_ascii_digit());
    let after = matches!(crate::validate::next_char(hay, end), Some('-' | '.' | '/'))
        && crate::validate::next_char2(hay, end).is_some_and(|c| c.is_ascii_digit());
    before || after
}

/// IBAN: the country's length is taken from the match (letters or digits, single spaces
/// allowed), then checked modulo 97.
fn iban(hay: &str, caps: &Captures<'_>) -> Verdict {
    let Some(m) = caps.get(0) else {
        return Verdict::Retry;
    };
    let s = m.as_str();
    let Some(want) = iban_length(&s[..2]) else {
        return Verdict::Retry;
    };
    let mut compact = String::with_capacity(34);
    let mut end = m.start();
    for (i, c) in s.char_indices() {
        if c == ' ' {
            continue;
        }
        compact.push(c);
        end = m.start() + i + c.len_utf8();
        if compact.len() == want {
            break;
        }
    }
    if compact.len() == want
        && iban_ok(&compact)
        && !crate::validate::next_char(hay, end).is_some_and(is_word)
        && !glued_before(hay, m.start())
    {
        Verdict::Edit(Edit::new(m.start(), end, "<iban>"))
    } else {
        Verdict::Retry
    }
}

/// IBAN length by country (ISO 13616 registry).
fn iban_length(country: &str) -> Option<usize> {
    const LENGTHS: &[(&str, usize)] = &[
        ("AD", 24),
        ("AE", 23),
        ("AL", 28),
        ("AT", 20),
        ("AZ", 28),
        ("BA", 20),
        ("BE", 16),
        ("BG", 22),
        ("BH", 22),
        ("BI", 27),
        ("BR", 29),
        ("BY", 28),
        ("CH", 21),
        ("CR", 22),
        ("CY", 28),
        ("CZ", 24),
        ("DE", 22),
        ("DJ", 27),
        ("DK", 18),
        ("DO", 28),
        ("EE", 20),
        ("EG", 29),
        ("ES", 24),
        ("FI", 18),
        ("FK", 18),
        ("FO", 18),
        ("FR", 27),
        ("GB", 22),
        ("GE", 22),
        ("GI", 23),
        ("GL", 18),
        ("GR", 27),
        ("GT", 28),
        ("HR", 21),
        ("HU", 28),
        ("IE", 22),
        ("IL", 23),
        ("IQ", 23),
        ("IS", 26),
        ("IT", 27),
        ("JO", 30),
        ("KW", 30),
        ("KZ", 20),
        ("LB", 28),
        ("LC", 32),
        ("LY", 25),
        ("LI", 21),
        ("LT", 20),
        ("LU", 20),
        ("LV", 21),
        ("MC", 27),
        ("MD", 24),
        ("ME", 22),
        ("MN", 20),
        ("MK", 19),
        ("MR", 27),
        ("MT", 31),
        ("MU", 30),
        ("NI", 28),
        ("NL", 18),
        ("NO", 15),
        ("OM", 23),
        ("PK", 24),
        ("PL", 28),
        ("PS", 29),
        ("PT", 25),
        ("QA", 29),
        ("RO", 24),
        ("RS", 22),
        ("RU", 33),
        ("SA", 24),
        ("SC", 31),
        ("SD", 18),
        ("SE", 24),
        ("SI", 19),
        ("SK", 24),
        ("SM", 27),
        ("SO", 23),
        ("ST", 25),
        ("SV", 28),
        ("TL", 23),
        ("TN", 24),
        ("TR", 26),
        ("UA", 29),
        ("VA", 22),
        ("VG", 24),
        ("XK", 20),
        ("YE", 30),
    ];
    LENGTHS.iter().find(|(c, _)| *c == country).map(|(_, n)| *n)
}

/// Spanish DNI (8 digits + letter) and NIE (X/Y/Z + 7 digits + letter): the letter is
/// the number modulo 23 looked up in a fixed table.
fn es_dni(_: &str, caps: &Captures<'_>) -> Verdict {
    const LETTERS: &[u8; 23] = b"TRWAGMYFPDXBNJZSQVHLCKE";
    let (Some(m), Some(n), Some(l)) = (caps.get(0), caps.name("n"), caps.name("l")) else {
        return Verdict::Retry;
    };
    let prefix = caps.name("p").map(|p| p.as_str().as_bytes()[0]);
    let digits = n.as_str();
    let lead = match (prefix, digits.len()) {
        (None, 8) => "",
        (Some(b'X'), 7) => "0",
        (Some(b'Y'), 7) => "1",
        (Some(b'Z'), 7) => "2",
        _ => return Verdict::Retry,
    };
    let Ok(num) = format!("{lead}{digits}").parse::<u64>() else {
        return Verdict::Retry;
    };
    if LETTERS[(num % 23) as usize] == l.as_str().as_bytes()[0] {
        Verdict::Edit(Edit::new(m.start(), m.end(), "<national-id>"))
    } else {
        Verdict::Retry
    }
}

/// French NIR (social security number): 13 digits and a two-digit key = 97 - n mod 97
/// (Corsica's `2A`/`2B` department counts as 19/18).
fn fr_nir(hay: &str, caps: &Captures<'_>) -> Verdict {
    let Some(m) = caps.get(0) else {
        return Verdict::Retry;
    };
    let compact: String = m.as_str().chars().filter(|c| *c != ' ').collect();
    if compact.len() != 15 || glued_before(hay, m.start()) || dash_digit(hay, m.start(), m.end()) {
        return Verdict::Retry;
    }
    let body = compact[..13].replace("2A", "19").replace("2B", "18");
    let (Ok(n), Ok(key)) = (body.parse::<u64>(), compact[13..].parse::<u64>()) else {
        return Verdict::Retry;
    };
    if 97 - n % 97 == key {
        Verdict::Edit(Edit::new(m.start(), m.end(), "<national-id>"))
    } else {
        Verdict::Retry
    }
}

/// A phone number candidate: enough digits, and not glued to other text. When the run
/// ends glued to something (`+1 10 000000 (12.5ms`), shorter prefixes that end at a
/// separator are tried, longest first. A run with more digits than a phone number can
/// have is taken whole: it is two numbers side by side, or a number and a count, and
/// cutting it would leave half of one behind.
fn phone(hay: &str, caps: &Captures<'_>, min: usize) -> Verdict {
    let Some(m) = caps.get(0) else {
        return Verdict::Retry;
    };
    let starts_glued = match prev_char(hay, m.start()) {
        Some(c) if is_word(c) || c == '.' || c == '+' => true,
        Some('-' | '/') => {
            crate::validate::prev_char2(hay, m.start()).is_some_and(|c| c.is_ascii_digit())
        }
        _ => false,
    };
    if starts_glued {
        return Verdict::Retry;
    }
    let s = m.as_str();
    let cuts = s
        .char_indices()
        .rev()
        .filter(|(_, c)| !c.is_ascii_digit())
        .map(|(i, _)| i);
    for cut in std::iter::once(s.len()).chain(cuts) {
        let candidate = s[..cut].trim_end_matches([' ', '.', '-', '/', '(']);
        let end = m.start() + candidate.len();
        if digit_count(candidate) < min {
            break;
        }
        if !glued_after(hay, end) && !dash_digit(hay, end, end) && balanced(candidate) {
            return Verdict::Edit(Edit::new(m.start(), end, "<phone>"));
        }
    }
    Verdict::Retry
}

/// Whether the parentheses in a phone number are properly paired.
fn balanced(s: &str) -> bool {
    let mut depth = 0i32;
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' if depth == 0 => return false,
            ')' => depth -= 1,
            _ => {}
        }
    }
    depth == 0
}
