//! The community privacy filter: removes personal data and location from free text
//! before anything leaves the device for the opt-in community service.
//!
//! One function, [`scrub`], is used by the community worker, by `locus-diag preview`
//! and by `locus-diag scrub`; [`find_pii`] is the same recogniser used as a
//! defence-in-depth check by the community server.
//!
//! ```
//! let line = "fix 52.520008, 13.404954 for alice@example.com from 10.1.2.3 in 12.5ms";
//! assert_eq!(
//!     locus_privacy::scrub(line),
//!     "fix <location> for <email> from <ip> in 12.5ms"
//! );
//! ```
//!
//! How it works: the text is handled line by line (a match never spans a line break,
//! and placeholders hold none, so line breaks are kept exactly). One pass of a
//! [`regex::RegexSet`] over a line says which rules can match; only those run, in a
//! fixed order, specific shapes first (see the `patterns` module). A line is passed
//! again until nothing changes, which is what makes `scrub` idempotent and
//! `find_pii(&scrub(x))` always `None`. All patterns are compiled once, on first use;
//! the regex crate matches in linear time and the rules' own checks look at a bounded
//! neighbourhood of each match, so a megabyte of hostile input stays fast (tested).

use std::borrow::Cow;

pub mod display;
mod engine;
mod patterns;
mod pem;
pub mod redact;
pub mod template;
mod validate;

use patterns::{RULES, SET};

/// What kind of personal data or location a piece of text carried.
///
/// ```
/// use locus_privacy::{find_pii, PiiKind};
///
/// assert_eq!(find_pii("$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47"), Some(PiiKind::Location));
/// assert_eq!(find_pii("card 4111 1111 1111 1111"), Some(PiiKind::Personal));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PiiKind {
    /// Any location shape: decimal pairs, lat/lon keys, geo URIs, map links, WKT, GeoJSON,
    /// DMS, NMEA, E7 and micro-degree integers, grid and geocode systems (plus codes,
    /// geohash, MGRS, UTM, Maidenhead, what3words, H3/S2), map tiles, projected metres,
    /// polylines, street addresses and postcodes, cell ids, Wi-Fi names and BSSIDs.
    Location,
    /// Any other personal data (e-mail, phone, names, network addresses, ids, secrets...).
    Personal,
}

/// The placeholders [`scrub`] puts in place of what it removes. None of them is itself
/// recognised as personal data.
///
/// ```
/// use locus_privacy::{find_pii, scrub, PLACEHOLDERS};
///
/// let out = scrub("call +49 30 1234567");
/// assert!(PLACEHOLDERS.iter().any(|p| out.contains(p)));
/// assert!(PLACEHOLDERS.iter().all(|p| find_pii(p).is_none()));
/// ```
pub const PLACEHOLDERS: &[&str] = &[
    "<location>",
    "<email>",
    "<phone>",
    "<ip>",
    "<mac>",
    "<imei>",
    "<card>",
    "<iban>",
    "<national-id>",
    "<user>",
    "<bucket>",
    "<uuid>",
    "<id>",
    "<secret>",
    "<redacted>",
    "<name>",
    "<address>",
    "<cell>",
    "<ssid>",
];

/// A line is scrubbed again until it no longer changes; placeholders never match, so
/// one extra pass is the norm and this bound is never reached in practice.
const MAX_PASSES: usize = 6;

/// Returns `text` with every recognised piece of personal data or location replaced by
/// a placeholder such as `<email>` or `<location>`. Never adds or removes line breaks.
///
/// Returns [`Cow::Borrowed`] when there was nothing to remove.
///
/// ```
/// use locus_privacy::scrub;
///
/// assert_eq!(scrub("GET /v1/tiles 503 in 250ms"), "GET /v1/tiles 503 in 250ms");
/// assert_eq!(
///     scrub("panicked at /home/alice/src/locus/src/sync.rs:42:7"),
///     "panicked at /home/<user>/src/locus/src/sync.rs:42:7"
/// );
/// assert_eq!(scrub("Authorization: Bearer abc123def456"), "Authorization: Bearer <secret>");
/// ```
pub fn scrub(text: &str) -> Cow<'_, str> {
    scrub_with(text, &mut pem::Tracker::default())
}

/// Scrubs a text that arrives one line at a time (`locus-diag scrub` reading stdin):
/// line for line the same result as [`scrub`] on the whole text, because it remembers
/// across lines what `scrub` remembers, i.e. that a PEM block is open and the lines
/// that follow are its body.
///
/// ```
/// use locus_privacy::LineScrubber;
///
/// let mut s = LineScrubber::new();
/// assert_eq!(s.scrub_line("-----BEGIN PRIVATE KEY-----"), "<secret>");
/// assert_eq!(s.scrub_line("MIIEvQIBADANBgkqhkiG9w0"), "<secret>");
/// assert_eq!(s.scrub_line("-----END PRIVATE KEY-----"), "<secret>");
/// assert_eq!(s.scrub_line("sync ok in 12ms"), "sync ok in 12ms");
/// ```
#[derive(Debug, Default, Clone)]
pub struct LineScrubber {
    pem: pem::Tracker,
}

impl LineScrubber {
    /// A scrubber at the start of a text.
    pub fn new() -> Self {
        Self::default()
    }

    /// Scrubs the next line. A `line` that holds line breaks itself is handled as
    /// several lines.
    pub fn scrub_line<'a>(&mut self, line: &'a str) -> Cow<'a, str> {
        scrub_with(line, &mut self.pem)
    }
}

fn scrub_with<'a>(text: &'a str, pem: &mut pem::Tracker) -> Cow<'a, str> {
    if !pem.inside() && !SET.is_match(text) {
        return Cow::Borrowed(text);
    }
    let mut out: Option<String> = None;
    for (start, end, next) in lines(text) {
        let line = &text[start..end];
        let scrubbed = match pem.body_line(line) {
            Some(body) => Cow::Owned(body),
            None => scrub_line(line),
        };
        match (&mut out, scrubbed) {
            (None, Cow::Borrowed(_)) => {}
            (Some(o), s) => o.push_str(&s),
            (o @ None, Cow::Owned(s)) => {
                let mut buf = String::with_capacity(text.len() + 64);
                buf.push_str(&text[..start]);
                buf.push_str(&s);
                *o = Some(buf);
            }
        }
        if let Some(o) = &mut out {
            o.push_str(&text[end..next]);
        }
    }
    match out {
        Some(o) => Cow::Owned(o),
        None => Cow::Borrowed(text),
    }
}

/// [`scrub`], then every occurrence of `terms` replaced by `<redacted>`: values the
/// caller knows to be private but that have no recognisable shape, such as the S3
/// bucket name, the raw device id or the account name. Terms shorter than three
/// characters, holding a line break, or found inside a placeholder (`user`, `id`) are
/// ignored.
///
/// ```
/// use locus_privacy::scrub_terms;
///
/// let line = "upload to my-tracks for pixel-of-alice failed after 3 tries";
/// assert_eq!(
///     scrub_terms(line, &["my-tracks", "pixel-of-alice"]),
///     "upload to <redacted> for <redacted> failed after 3 tries"
/// );
/// ```
pub fn scrub_terms<'a>(text: &'a str, terms: &[&str]) -> Cow<'a, str> {
    let mut out = scrub(text);
    for term in terms {
        let usable = term.chars().count() >= 3
            && !term.contains(['\n', '\r'])
            && !PLACEHOLDERS.iter().any(|p| p.contains(term));
        if usable && out.contains(term) {
            out = Cow::Owned(out.replace(term, "<redacted>"));
        }
    }
    out
}

/// The first kind of personal data or location found in `text`, if any.
///
/// It recognises exactly what [`scrub`] removes, so `find_pii(&scrub(x))` is `None`
/// for every `x`.
///
/// ```
/// use locus_privacy::{find_pii, scrub, PiiKind};
///
/// assert_eq!(find_pii("geo:52.52,13.405"), Some(PiiKind::Location));
/// assert_eq!(find_pii("mail bob@example.org"), Some(PiiKind::Personal));
/// assert_eq!(find_pii("uploaded 12 records (4.2 KiB) in 0.25 s"), None);
/// assert_eq!(find_pii(&scrub("mail bob@example.org")), None);
/// ```
pub fn find_pii(text: &str) -> Option<PiiKind> {
    if !SET.is_match(text) {
        return None;
    }
    let mut pem = pem::Tracker::default();
    for (start, end, _) in lines(text) {
        let line = &text[start..end];
        if pem.body_line(line).is_some() {
            return Some(PiiKind::Personal);
        }
        let hits = SET.matches(line);
        for i in hits.iter() {
            let rule = &RULES[i];
            if rule.finds(line) {
                return Some(rule.kind);
            }
        }
    }
    None
}

/// Scrubs one line (no `\n` or `\r` in it) until it no longer changes.
fn scrub_line(line: &str) -> Cow<'_, str> {
    let mut current = Cow::Borrowed(line);
    for _ in 0..MAX_PASSES {
        match pass(&current) {
            Some(next) => current = Cow::Owned(next),
            None => break,
        }
    }
    current
}

/// Runs every rule that can match, in order; `None` when nothing changed.
fn pass(line: &str) -> Option<String> {
    let hits = SET.matches(line);
    let mut owned: Option<String> = None;
    for i in hits.iter() {
        let src = owned.as_deref().unwrap_or(line);
        if let Some(next) = RULES[i].apply(src) {
            owned = Some(next);
        }
    }
    owned
}

/// The lines of `text` as `(start, end, next)`: the line is `text[start..end]`, its
/// line break (one `\n` or `\r`, if any) is `text[end..next]`.
fn lines(text: &str) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        match memchr::memchr2(b'\n', b'\r', &bytes[start..]) {
            Some(p) => {
                let item = (start, start + p, start + p + 1);
                start += p + 1;
                Some(item)
            }
            None => {
                done = true;
                Some((start, text.len(), text.len()))
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_cover_the_text() {
        let t = "a\r\nb\n\nc";
        let parts: Vec<_> = lines(t).map(|(s, e, n)| (&t[s..e], &t[e..n])).collect();
        assert_eq!(
            parts,
            [("a", "\r"), ("", "\n"), ("b", "\n"), ("", "\n"), ("c", "")]
        );
    }

    #[test]
    fn placeholders_are_not_findings() {
        for p in PLACEHOLDERS {
            assert_eq!(find_pii(p), None, "{p}");
            assert_eq!(scrub(p), *p);
        }
        let all = PLACEHOLDERS.join(" ");
        assert_eq!(find_pii(&all), None);
    }

    #[test]
    fn rule_names_are_unique() {
        let mut names: Vec<_> = RULES.iter().map(|r| r.name).collect();
        names.sort_unstable();
        let n = names.len();
        names.dedup();
        assert_eq!(n, names.len());
    }
}
