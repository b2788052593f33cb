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
    ]
}

/// Long hexadecimal identifiers; they run after the payment-card rule so that a card
/// number is reported as a card.
pub(crate) fn identifiers() -> Vec<Rule> {
    vec![Rule::whole(
        "long-hex",
        Personal,
        r"\b(?:0x)?[0-9a-fA-F]{16,}\b",
        "<id>",
    )]
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
    if addr.is_loopback() || addr.is_unspecified() || addr.is_broadcast() {
        return Verdict::Resume(m.end());
    }
    Verdict::Edit(Edit::new(m.start(), m.end(), "<ip>"))
}
