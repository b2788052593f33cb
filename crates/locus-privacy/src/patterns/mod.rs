//! The rule table. Rules run in this order, specific shapes before generic ones, so
//! that e.g. an NMEA sentence is removed whole before its numbers could be taken for
//! a phone number, and a URL's credentials before its host could look like an e-mail:
//!
//! 1. PEM blocks ([`secrets`]), NMEA sentences ([`location`]), then credentials with
//!    a fixed shape: URLs with user info, authorization/cookie headers, bearer tokens,
//!    JWTs;
//! 2. structured location: `geo:` URIs, map links, WKT, GeoJSON, E7 integers,
//!    `lat`/`lon` keys, degrees-minutes-seconds; then the other ways to write a place
//!    ([`grids`]): plus codes, geohash, MGRS, UTM, Maidenhead, what3words, H3/S2 cells,
//!    map tiles, micro-degrees, projected metres, polylines, geofence centres; and
//!    radio identifiers ([`radio`]): cell ids, SSIDs, bare BSSIDs;
//! 3. identity ([`personal`]): e-mail addresses, home-directory user names, buckets,
//!    ARN account ids, Firebase installation ids, hardware serials; then people in
//!    prose ([`people`]): spelled-out and non-ASCII e-mail, device names carrying a
//!    name, names, dates of birth, passports; then street addresses and postcodes
//!    ([`address`]);
//! 4. network ([`network`]): UUIDs, MAC, IPv6, IPv4 addresses (four-part versions
//!    kept), host names that embed an address;
//! 5. bare decimal coordinate pairs, then a lone coordinate in an assertion message;
//! 6. numbers with check digits or a fixed layout: IMEI, payment cards, IBAN,
//!    national ids; then long hex identifiers, opaque tokens, and phone numbers
//!    (`tel:` URIs, international, North American, national);
//! 7. `key=value` pairs (secret, then personal keys) and vendor key prefixes last:
//!    a key rule cuts its value at a space or comma, so everything that spans one
//!    (a phone number, a coordinate pair) must have been taken whole before.

use std::sync::LazyLock;

use regex::{Captures, RegexSet, RegexSetBuilder};

use crate::engine::{Edit, Rule, Verdict};
use crate::validate::is_status_word;

pub(crate) mod address;
pub(crate) mod grids;
pub(crate) mod location;
pub(crate) mod network;
pub(crate) mod people;
pub(crate) mod personal;
pub(crate) mod radio;
pub(crate) mod secrets;

/// Replaces the named group with `placeholder`.
pub(crate) fn group(
    name: &'static str,
    placeholder: &'static str,
) -> impl Fn(&str, &Captures<'_>) -> Verdict + Send + Sync {
    move |_, caps| match caps.name(name) {
        Some(v) => Verdict::Edit(Edit::new(v.start(), v.end(), placeholder)),
        None => Verdict::Retry,
    }
}

/// Like [`group`], but only when the group holds a digit (a coordinate needs one);
/// otherwise matching resumes after it.
pub(crate) fn group_with_digit(
    name: &'static str,
    placeholder: &'static str,
) -> impl Fn(&str, &Captures<'_>) -> Verdict + Send + Sync {
    move |_, caps| match caps.name(name) {
        Some(v) if v.as_str().bytes().any(|b| b.is_ascii_digit()) => {
            Verdict::Edit(Edit::new(v.start(), v.end(), placeholder))
        }
        Some(v) => Verdict::Resume(v.end()),
        None => Verdict::Retry,
    }
}

/// Every rule, in the order they run.
pub(crate) static RULES: LazyLock<Vec<Rule>> = LazyLock::new(|| {
    let mut rules = secrets::early();
    rules.extend(location::nmea());
    rules.extend(secrets::credentials());
    rules.extend(location::structured());
    rules.extend(grids::grids());
    rules.extend(radio::radio());
    rules.extend(personal::identity());
    rules.extend(people::people());
    rules.extend(address::addresses());
    rules.extend(network::addresses());
    rules.extend(location::pairs());
    rules.extend(grids::lone());
    rules.extend(personal::numbers());
    rules.extend(network::identifiers());
    rules.extend(secrets::opaque());
    rules.extend(personal::phones());
    rules.extend(secrets::keyed());
    rules.extend(personal::keyed());
    rules.extend(secrets::vendor());
    rules
});

/// All patterns at once: one pass over a line says which rules can match at all.
pub(crate) static SET: LazyLock<RegexSet> = LazyLock::new(|| {
    // The rules' patterns, as compiled (word boundaries already made ASCII).
    RegexSetBuilder::new(RULES.iter().map(|r| r.re.as_str()))
        .size_limit(256 << 20)
        .dfa_size_limit(128 << 20)
        .build()
        .unwrap_or_else(|e| panic!("built-in pattern set does not compile: {e}"))
});

/// The separator between a key and its value: `=`, `:`, `:=`, `=>`, with optional
/// spaces and the closing quote of a quoted key (`"password": `).
pub(crate) const KEYED_SEP: &str = r#"(?P<sep>["']?[ \t]*(?::=|=>|[:=])[ \t]*)"#;

/// A value: quoted (may hold spaces) or a bare run up to the next delimiter. Bare
/// values never start with `<`, so placeholders are not matched again.
pub(crate) const KEYED_VAL: &str = r#"(?P<val>"[^"\r\n]*"|'[^'\r\n]*'|[^\s"'&,;<>(){}\[\]]+)"#;

/// The check for `key=value` rules: replaces the value (inside its quotes, if any) with
/// `placeholder`, unless it is empty, shorter than `min_chars`, or a status word such
/// as `missing` or `***`. An unquoted value of a quoted key (`"pin": 1234`) is replaced
/// by a quoted placeholder so that JSON stays JSON.
pub(crate) fn keyed_value(
    placeholder: &'static str,
    min_chars: usize,
) -> impl Fn(&str, &Captures<'_>) -> Verdict + Send + Sync + 'static {
    move |hay, caps| {
        let Some(val) = caps.name("val") else {
            return Verdict::Retry;
        };
        let v = val.as_str();
        let quoted = v.len() >= 2 && (v.starts_with('"') || v.starts_with('\''));
        let inner = if quoted { &v[1..v.len() - 1] } else { v };
        if inner.trim().is_empty() || inner.chars().count() < min_chars || is_status_word(inner) {
            return Verdict::Resume(val.end());
        }
        if quoted {
            Verdict::Edit(Edit::new(val.start() + 1, val.end() - 1, placeholder))
        } else if json_key(hay, caps) {
            Verdict::Edit(Edit::new(
                val.start(),
                val.end(),
                format!("\"{placeholder}\""),
            ))
        } else {
            Verdict::Edit(Edit::new(val.start(), val.end(), placeholder))
        }
    }
}

/// Whether the key of this match is a quoted JSON key (`"lat": 52.5`).
pub(crate) fn json_key(hay: &str, caps: &Captures<'_>) -> bool {
    let (Some(key), Some(sep)) = (caps.name("key"), caps.name("sep")) else {
        return false;
    };
    sep.as_str().starts_with('"') && crate::validate::prev_char(hay, key.start()) == Some('"')
}
