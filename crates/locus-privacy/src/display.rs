//! Showing text someone else wrote without letting it drive the reader's terminal or
//! reorder what the reader sees. A record's message, a crash's location, a settings
//! value or a report's field may hold ESC sequences (clear the screen, OSC 52 writes
//! the clipboard, OSC 8 hides a link), a carriage return that overwrites a line, BEL,
//! or Unicode bidi controls (U+202E turns `gpx.exe` into what looks like `exe.xpg`).
//! One set of characters is "hidden" here, and one way to show them: as visible escapes
//! (`\u{1b}`). `locus-diag` uses this on every path that prints to a terminal (and the
//! Debug screen), the collector's dashboard on every piece of reported text.
//!
//! ```
//! use locus_privacy::display::{visible, is_hidden};
//! assert_eq!(visible("ok\u{1b}]52;c;aGk=\u{7}"), "ok\\u{1b}]52;c;aGk=\\u{7}");
//! assert_eq!(visible("file\u{202e}xpg.exe"), "file\\u{202e}xpg.exe");
//! assert!(is_hidden('\u{85}') && !is_hidden('é'));
//! ```

use std::borrow::Cow;
use std::fmt::Write;

/// Whether `c` must not reach a terminal (or a page) as itself: the C0 controls
/// (U+0000–U+001F, including `\n`, `\t` and `\r`), DEL, the C1 controls
/// (U+0080–U+009F), the bidi embeddings, overrides, isolates and marks (U+202A–U+202E,
/// U+2066–U+2069, U+200E, U+200F, U+061C) and the Unicode line and paragraph
/// separators (U+2028, U+2029).
pub fn is_hidden(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}'
        | '\u{7f}'..='\u{9f}'
        | '\u{61c}'
        | '\u{200e}' | '\u{200f}'
        | '\u{2028}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}')
}

/// `s` with every [hidden](is_hidden) character written as a visible escape, `\u{1b}`
/// (lowercase hex, Rust's own notation), line breaks and tabs included: the result is
/// one line. Borrowed when there was nothing to escape.
pub fn visible(s: &str) -> Cow<'_, str> {
    escape_where(s, is_hidden)
}

/// As [`visible`], but `\n` and `\t` stay as they are: for text whose layout is its
/// own (a multi-line summary written by this program).
pub fn visible_keeping_layout(s: &str) -> Cow<'_, str> {
    escape_where(s, |c| c != '\n' && c != '\t' && is_hidden(c))
}

/// JSON text (as `serde_json` writes it) with every [hidden](is_hidden) character from
/// DEL up written as a JSON escape (`\u0085`, `\u202e`). `serde_json` already escapes
/// the C0 controls inside strings, but writes DEL, C1 and bidi controls as they are;
/// outside strings JSON holds none of them, so this never changes what the JSON means,
/// only that a terminal showing it sees no control. The pretty printer's own line
/// breaks and indentation stay.
pub fn json_visible(json: &str) -> Cow<'_, str> {
    if !json.chars().any(|c| c >= '\u{7f}' && is_hidden(c)) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if c >= '\u{7f}' && is_hidden(c) {
            // Every hidden character from DEL up is in the Basic Multilingual Plane.
            let _ = write!(out, "\\u{:04x}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn escape_where(s: &str, hide: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !s.chars().any(&hide) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if hide(c) {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NASTY: &[char] = &[
        '\u{1b}', '\u{7}', '\r', '\n', '\t', '\0', '\u{7f}', '\u{80}', '\u{85}', '\u{9b}',
        '\u{9f}', '\u{61c}', '\u{200e}', '\u{200f}', '\u{202a}', '\u{202b}', '\u{202c}',
        '\u{202d}', '\u{202e}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}', '\u{2028}',
        '\u{2029}',
    ];

    #[test]
    fn every_control_and_bidi_character_is_escaped() {
        for &c in NASTY {
            let s = format!("a{c}b");
            let v = visible(&s);
            assert!(!v.chars().any(is_hidden), "{c:?} → {v:?}");
            assert_eq!(v, format!("a\\u{{{:x}}}b", u32::from(c)));
        }
        let kept = visible_keeping_layout("a\n\tb\u{1b}[2J\r");
        assert_eq!(kept, "a\n\tb\\u{1b}[2J\\u{d}");
    }

    #[test]
    fn ordinary_text_is_borrowed_unchanged() {
        for s in ["plain", "Grüße aus Zoë's", "日本語 ✓", "emoji 👩‍👩‍👧", ""] {
            assert!(matches!(visible(s), Cow::Borrowed(x) if x == s));
            assert!(matches!(json_visible(s), Cow::Borrowed(x) if x == s));
        }
    }

    #[test]
    fn json_stays_the_same_json() {
        let value = serde_json_like();
        let json = format!("{{\"m\":\"{value}\"}}");
        let safe = json_visible(&json);
        assert!(
            !safe.chars().any(|c| c >= '\u{7f}' && is_hidden(c)),
            "{safe}"
        );
        assert_eq!(safe, "{\"m\":\"x\\u0085y\\u202ez\\u007f\"}");
    }

    fn serde_json_like() -> String {
        "x\u{85}y\u{202e}z\u{7f}".to_owned()
    }
}
