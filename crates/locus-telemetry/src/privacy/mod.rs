//! Privacy for the community path (spec §3.2): the free-text scrubber (the same
//! function `locus-diag scrub` and the community server use, from `locus-privacy`), the
//! message template a crash's message becomes after it ([`template`]: only words known
//! to be safe leave the device, everything else is a typed placeholder) and the
//! device-id pseudonym. The payload allow-list is the typed report itself
//! (`locus_report::HealthReport`): nothing reaches the community that is not a field of it.
//!
//! ```
//! let line = "fix at 52.520008, 13.404954 for bob@example.com";
//! let clean = locus_privacy::scrub(line);
//! assert!(!clean.contains("52.520008") && !clean.contains("bob@example.com"));
//! ```

pub mod pseudonym;
pub mod template;

pub use locus_privacy::scrub_terms;
pub use pseudonym::Salt;

/// Scrubs free text for the report, also removing `private` values that have no
/// recognisable shape (the raw device id, the bucket name), and shortens it to at most
/// `max` bytes, cut on a character boundary.
pub fn scrub_short(text: &str, private: &[&str], max: usize) -> String {
    let clean = scrub_terms(text, private);
    if clean.len() <= max {
        return clean.into_owned();
    }
    let mut cut = max;
    while !clean.is_char_boundary(cut) {
        cut -= 1;
    }
    clean[..cut].to_owned()
}

/// A crash message as the community report carries it: scrubbed (`private` values
/// removed as well), then its [`template::template`] with the words of the crash's own
/// `location` known, at most `max` bytes.
pub fn message_template(message: &str, location: &str, private: &[&str], max: usize) -> String {
    let clean = scrub_terms(message, private);
    template::template(&clean, &template::source_words(location), max)
}
