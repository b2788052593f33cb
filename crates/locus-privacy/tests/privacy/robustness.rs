//! The filter on hostile input: 1 MiB strings built to make rules match, fail and
//! retry over and over (long runs of almost-coordinates, almost-cards, colons, digits,
//! markers), non-ASCII text and odd line breaks. Nothing may panic, line breaks are
//! kept, and every input finishes in well under the generous bound below (a quadratic
//! rule would take minutes on 1 MiB; the linear filter takes milliseconds).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::time::{Duration, Instant};

use locus_privacy::{find_pii, scrub, LineScrubber};

const MIB: usize = 1 << 20;

/// Far above what the filter needs even unoptimised on a busy machine, far below what a
/// quadratic rule would need on 1 MiB.
const BOUND: Duration = Duration::from_secs(60);

fn repeat(unit: &str) -> String {
    unit.repeat(MIB / unit.len() + 1)
}

fn hostile() -> Vec<(&'static str, String)> {
    let mut log_line = String::new();
    while log_line.len() < MIB {
        log_line
            .push_str("INFO sync fix 52.520008, 13.404954 from 10.1.2.3 for a@b.io in 12.5ms; ");
    }
    vec![
        ("almost coordinates", repeat("1.1 ")),
        ("coordinates", repeat("52.52, 13.40 ")),
        ("almost cards", repeat("4111 ")),
        ("digits", repeat("7")),
        ("letters", repeat("a")),
        ("colons", repeat(":")),
        ("ipv6-ish", repeat("::1 ")),
        ("hex-ish", repeat("abc:")),
        ("pem markers", repeat("-----BEGIN X-----")),
        ("lat keys", repeat("lat=1 ")),
        ("home dirs", repeat("/home/")),
        ("at signs", repeat("@a.")),
        ("plus signs", repeat("+1 ")),
        ("parentheses", repeat("(0")),
        ("degrees", repeat("1°2'")),
        ("base64", repeat("aB3+")),
        ("keys", repeat("password=")),
        ("one long log line", log_line),
        ("non-ASCII", repeat("é𝄞ü")),
        ("line breaks", repeat("\r\n\n\r")),
    ]
}

fn breaks(s: &str) -> (usize, usize) {
    (s.matches('\n').count(), s.matches('\r').count())
}

#[test]
fn hostile_megabytes_finish_and_keep_line_breaks() {
    for (name, input) in hostile() {
        let t = Instant::now();
        let out = scrub(&input);
        let took = t.elapsed();
        eprintln!("{name}: {took:?}");
        assert!(took < BOUND, "{name}: scrub took {took:?}");
        assert_eq!(breaks(&input), breaks(&out), "{name}");
        let t = Instant::now();
        let _ = find_pii(&input);
        assert!(
            t.elapsed() < BOUND,
            "{name}: find_pii took {:?}",
            t.elapsed()
        );
    }
}

#[test]
fn odd_line_breaks_are_kept_exactly() {
    let input = "a@b.io\r\nlat=52.5\r\r\n\n52.52, 13.40\rend";
    assert_eq!(
        scrub(input),
        "<email>\r\nlat=<location>\r\r\n\n<location>\rend"
    );
}

#[test]
fn line_scrubber_accepts_text_with_line_breaks() {
    let mut s = LineScrubber::new();
    assert_eq!(s.scrub_line("x 10.1.2.3\ny a@b.io"), "x <ip>\ny <email>");
}

#[test]
fn empty_and_tiny_inputs() {
    for s in [
        "", "\n", "\r", "<", "-", "0", ".", "@", "=", "°", "-----", "::", "é",
    ] {
        assert_eq!(scrub(s), s);
        assert_eq!(find_pii(s), None);
    }
}
