//! Network and device identifiers: UUIDs, MAC addresses, IPv6 and IPv4 addresses, and
//! long hexadecimal identifiers (>= 16 hex digits: hashes, device ids, pointers).
//!
//! Loopback and unspecified addresses (`127.0.0.1`, `0.0.0.0`, `::1`) are kept: they
//! identify nobody and say a lot when a connection fails. IPv6 candidates are
//! confirmed by the standard library's parser, so `locus::sync::s3` and `12:34:56`
//! are not addresses.

use std::net::{Ipv4Addr, Ipv6Addr};

use regex::Captures;

use crate::engine::{Edit, Rule, Verdict};
use crate::validate::{glued_before, is_word, next_char, next_char2, prev_char};
use crate::PiiKind::Personal;

/// UUIDs, MAC and IP addresses; they run before the decimal-pair rule.
pub(crate) fn addresses() -> Vec<Rule> {
    vec![
        Rule::whole(
            "uuid",
            Personal,
            r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b",
            "<uuid>",
        ),
        Rule::check(
            "mac",
            Personal,
            r"\b[0-9A-Fa-f]{2}[:-][0-9A-Fa-f]{2}(?:[:-][0-9A-Fa-f]{2}){4}\b|\b[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\b",
            mac,
        ),
        Rule::check(
            "ipv6",
            Personal,
            r"(?:\A|[^0-9A-Za-z_:.])(?P<addr>[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:\.[0-9]{1,3}){0,3})",
            ipv6,
        ),
        Rule::check(
            "ipv4",
            Personal,
            r"\b[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\b",
            ipv4,
        ),
        Rule::check(
            "ip-in-hostname",
            Personal,
            concat!(
                r"(?i)\b(?P<v>(?:[a-z][a-z0-9]*-)+(?:[0-9]{1,3}-){3}[0-9]{1,3}|(?:[0-9]{1,3}-){3}[0-9]{1,3})",
                r"(?:\.[a-z0-9-]+)*\.[a-z]{2,}\b",
                r"|\b(?P<hex>p[0-9a-f]{8})\.dip[0-9]*\.t-ipconnect\.de\b"
            ),
            ip_in_hostname,
        ),
    ]
}

/// Long hexadecimal identifiers; they run after the payment-card rule so that a card
/// number is reported as a card.
pub(crate) fn identifiers() -> Vec<Rule> {
    vec![Rule::check(
        "long-hex",
        Personal,
        r"\b(?:0x)?[0-9a-fA-F]{16,}\b",
        long_hex,
    )]
}

/// Keys whose hex value is a trace or span id: random per request, linked to nobody,
/// and what lets a crash be found in the server's traces.
const TRACE_KEYS: &[&str] = &[
    "trace_id",
    "traceid",
    "trace-id",
    "span_id",
    "spanid",
    "span-id",
    "parent_id",
    "parentid",
    "parent_span_id",
    "parentspanid",
    "traceparent",
    "sentry-trace",
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-parentspanid",
    "otel.trace_id",
    "otel.span_id",
    "trace",
    "span",
    "dd.trace_id",
    "dd.span_id",
];

/// Register and address words before a 16-digit hex number in a backtrace or register
/// dump (`pc 000000000004a1b4`, `x0 0000007fd2b3c4a8`, `fault addr`).
const ADDRESS_WORDS: &[&str] = &[
    "pc", "sp", "lr", "fp", "ip", "rip", "eip", "esp", "rsp", "rbp", "addr", "address", "at",
    "base", "offset", "load", "pointer", "ptr", "frame", "return", "ret", "tls", "fault",
];

/// Long hex runs are ids (`<id>`) except what a crash needs and identifies nobody:
/// an address written `0x` + at most 16 digits (a program counter, a pointer), a
/// 16-digit value starting with `0000` (a user-space address in a backtrace), a value
/// after a register or address word (`pc`, `x0`, `sp` ...), and trace and span ids.
fn long_hex(hay: &str, caps: &Captures<'_>) -> Verdict {
    let Some(m) = caps.get(0) else {
        return Verdict::Retry;
    };
    let s = m.as_str();
    let digits = s.strip_prefix("0x").unwrap_or(s);
    // Only decimal digits: a count or a timestamp in microseconds (cards are found by
    // their check digits before this rule runs).
    if digits.bytes().all(|b| b.is_ascii_digit()) && !s.starts_with("0x") {
        return Verdict::Resume(m.end());
    }
    let address = (s.starts_with("0x") && digits.len() <= 16)
        || digits.len() == 16 && (digits.starts_with("0000") || after_address_word(hay, m.start()));
    if address || after_trace_key(hay, m.start()) {
        return Verdict::Resume(m.end());
    }
    Verdict::Edit(Edit::new(m.start(), m.end(), "<id>"))
}

/// The word before byte `i`, skipping blanks, `=`, `:` and quotes (at most 48 bytes back).
fn word_before(hay: &str, i: usize) -> &str {
    let head = &hay[..i];
    let head = head.trim_end_matches([' ', '\t', '=', ':', '"', '\'']);
    let start = head
        .char_indices()
        .rev()
        .take(48)
        .take_while(|(_, c)| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        .last()
        .map_or(head.len(), |(p, _)| p);
    &head[start..]
}

fn after_address_word(hay: &str, i: usize) -> bool {
    let w = word_before(hay, i).to_ascii_lowercase();
    let register = w.len() <= 3
        && matches!(
            w.as_bytes().first(),
            Some(b'x' | b'r' | b'w' | b'd' | b'q' | b'v')
        )
        && w.len() > 1
        && w[1..].bytes().all(|b| b.is_ascii_digit());
    register || ADDRESS_WORDS.contains(&w.as_str())
}

/// Whether the hex run at `i` is the value of a trace key, also inside a W3C
/// `traceparent: 00-<trace id>-<span id>-01` (up to three hex fields back).
fn after_trace_key(hay: &str, i: usize) -> bool {
    let mut head = &hay[..i];
    for _ in 0..3 {
        let Some(h) = head.strip_suffix('-') else {
            break;
        };
        let hex = h
            .bytes()
            .rev()
            .take(33)
            .take_while(u8::is_ascii_hexdigit)
            .count();
        if hex == 0 || hex > 32 {
            break;
        }
        head = &h[..h.len() - hex];
    }
    let w = word_before(head, head.len()).to_ascii_lowercase();
    TRACE_KEYS
        .iter()
        .any(|k| w == *k || w.ends_with(&format!(".{k}")) || w.ends_with(&format!("_{k}")))
}

fn ip_in_hostname(hay: &str, caps: &Captures<'_>) -> Verdict {
    if let Some(h) = caps.name("hex") {
        return Verdict::Edit(Edit::new(h.start(), h.end(), "<ip>"));
    }
    let Some(v) = caps.name("v") else {
        return Verdict::Retry;
    };
    let s = v.as_str();
    // The last four dash-separated numbers must be an address (each 0-255, not 0.x.x.x).
    let octets: Vec<&str> = s.rsplit('-').take(4).collect();
    let valid = octets.len() == 4
        && octets
            .iter()
            .all(|o| o.parse::<u16>().is_ok_and(|n| n <= 255))
        && octets
            .last()
            .is_some_and(|o| o.parse::<u16>().is_ok_and(|n| n > 0));
    if !valid || prev_char(hay, v.start()).is_some_and(|c| c == '-' || c == '.') {
        return Verdict::Resume(v.end());
    }
    Verdict::Edit(Edit::new(v.start(), v.end(), "<ip>"))
}

fn mac(hay: &str, caps: &Captures<'_>) -> Verdict {
    let Some(m) = caps.get(0) else {
        return Verdict::Retry;
    };
    let s = m.as_str();
    let one_separator = !(s.contains(':') && s.contains('-'));
    let dotted_digits_only = s.contains('.') && s.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    // Part of a longer colon- or dash-separated run (an IPv6 address, a hex dump).
    let longer = matches!(next_char(hay, m.end()), Some(':' | '-' | '.'))
        && next_char2(hay, m.end()).is_some_and(|c| c.is_ascii_hexdigit())
        || matches!(prev_char(hay, m.start()), Some(':' | '-' | '.'));
    if one_separator && !dotted_digits_only && !longer {
        Verdict::Edit(Edit::new(m.start(), m.end(), "<mac>"))
    } else {
        Verdict::Retry
    }
}

fn ipv6(hay: &str, caps: &Captures<'_>) -> Verdict {
    let Some(m) = caps.name("addr") else {
        return Verdict::Retry;
    };
    // A sentence may end right after the address: `... 2001:db8::1: refused`.
    let mut s = m.as_str();
    while s.ends_with(':') && !s.ends_with("::") {
        s = &s[..s.len() - 1];
    }
    let end = m.start() + s.len();
    if next_char(hay, end).is_some_and(is_word)
        || next_char(hay, end) == Some('.')
            && next_char2(hay, end).is_some_and(|c| c.is_ascii_digit())
    {
        return Verdict::Resume(m.end());
    }
    let Ok(addr) = s.parse::<Ipv6Addr>() else {
        return Verdict::Resume(m.end());
    };
    if addr.is_loopback() || addr.is_unspecified() || !s.bytes().any(|b| b.is_ascii_digit()) {
        return Verdict::Resume(m.end());
    }
    // Zone index of a link-local address: `fe80::1%wlan0`.
    let mut end = end;
    if next_char(hay, end) == Some('%') {
        end += 1 + hay[end + 1..]
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric())
            .count();
    }
    Verdict::Edit(Edit::new(m.start(), end, "<ip>"))
}

fn ipv4(hay: &str, caps: &Captures<'_>) -> Verdict {
    let Some(m) = caps.get(0) else {
        return Verdict::Retry;
    };
    let Ok(addr) = m.as_str().parse::<Ipv4Addr>() else {
        return Verdict::Retry;
    };
    // A port (`:8443`) may follow; another dotted number or a word may not.
    let glued_after = next_char(hay, m.end()).is_some_and(is_word)
        || next_char(hay, m.end()) == Some('.')
            && next_char2(hay, m.end()).is_some_and(|c| c.is_ascii_digit());
    if glued_before(hay, m.start()) || glued_after {
        return Verdict::Retry;
    }
    if addr.is_loopback()
        || addr.is_unspecified()
        || addr.is_broadcast()
        || is_version(hay, m.start())
    {
        return Verdict::Resume(m.end());
    }
    Verdict::Edit(Edit::new(m.start(), m.end(), "<ip>"))
}

/// Words after which a dotted quad is a version number (`version 1.2.3.4`,
/// `"appVersion": "10.0.2.1"`, `firmware=4.2.0.12`, `build 1.2.3.4`).
const VERSION_WORDS: &[&str] = &[
    "version", "ver", "v", "build", "release", "firmware", "fw", "rev", "revision", "sdk",
    "bundle", "app", "agent", "driver", "kernel", "bios", "baseband", "vers", "versions",
];

/// A four-part version, not an address: after a version word or a key ending in
/// `version` (`versionName=`, `app_version:`), or right after `Name/` as in a user
/// agent (`Chrome/120.0.0.0`, `okhttp/4.12.0.1`).
fn is_version(hay: &str, i: usize) -> bool {
    let before = &hay[..i];
    if let Some(product) = before.strip_suffix('/') {
        let word: String = product
            .chars()
            .rev()
            .take(64)
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
            .collect();
        let letters = word.chars().filter(char::is_ascii_alphabetic).count();
        const NOT_PRODUCTS: &[&str] = &[
            "tcp", "udp", "ip", "host", "addr", "from", "to", "via", "peer",
        ];
        let w: String = word.chars().rev().collect::<String>().to_ascii_lowercase();
        return letters >= 3 && !NOT_PRODUCTS.contains(&w.as_str());
    }
    let w = word_before(hay, i).to_ascii_lowercase();
    let w = w.trim_start_matches(['-', '_', '.']);
    VERSION_WORDS.contains(&w)
        || w.ends_with("version")
        || w.ends_with("versionname")
        || w.ends_with("_ver")
        || w.ends_with("build")
}
