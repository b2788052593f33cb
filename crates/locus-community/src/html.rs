//! HTML escaping for the server-rendered pages: every piece of text that came from a
//! report (versions, messages, locations) goes through [`escape`] before it is written.
//! Control and bidi characters (`locus_privacy::display::is_hidden`, the set `locus-diag`
//! escapes on a terminal) are shown as visible escapes (`\u{202e}`): as a character
//! reference (`&#8238;`) a bidi override would still reorder the page.

use std::fmt::Write;

/// `s` with `& < > " '` replaced by entities: safe in element text and quoted
/// attributes; control and bidi characters written as visible text (`\u{1b}`).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if locus_privacy::display::is_hidden(c) && c != '\n' && c != '\t' => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

/// A rate in 0..=1 as a percentage with two decimals, or `–` when there is none.
pub fn percent(rate: Option<f64>) -> String {
    match rate {
        Some(r) => format!("{:.2}%", r * 100.0),
        None => "–".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        assert_eq!(percent(Some(0.98765)), "98.77%");
        assert_eq!(percent(None), "–");
    }

    #[test]
    fn bidi_and_control_characters_are_shown_not_obeyed() {
        let out = escape("a\u{202e}gpx.exe\u{1b}[2J\u{85}\u{2066}");
        assert_eq!(out, "a\\u{202e}gpx.exe\\u{1b}[2J\\u{85}\\u{2066}");
        assert!(!out.chars().any(locus_privacy::display::is_hidden));
    }
}
