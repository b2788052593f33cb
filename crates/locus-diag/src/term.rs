//! What `locus-diag` writes for a person to read never carries a character that drives
//! the terminal or reorders the text. Records, settings, bucket keys and error messages
//! may hold what an attacker wrote: ESC sequences (clear the screen, OSC 52 writes the
//! clipboard, OSC 8 hides a link), CR that overwrites a line, BEL, C1 controls, bidi
//! overrides and isolates. They are shown as visible escapes (`\u{1b}`), with the one
//! set of characters and the one notation of `locus_privacy::display` (which the
//! collector's dashboard uses too):
//!
//! - [`visible`] for a value inside a line (a record, a field): line breaks and tabs in
//!   it are escaped too, so a value can never forge a line of its own;
//! - [`json_visible`] for JSON text: `serde_json` escapes C0 but writes DEL, C1 and bidi
//!   controls raw, these become `\u0085`-style JSON escapes (same JSON, safe to show);
//! - [`Shown`] wraps the whole output stream as the last wall: whatever a command
//!   writes, only `\n` and `\t` of the hidden characters get through as themselves.
//!
//! The Debug screen uses [`visible`] for every record it draws.

use std::io::Write;

pub use locus_privacy::display::{json_visible, visible, visible_keeping_layout};

/// Standard output, shown safely (see [`Shown`]).
pub fn stdout() -> Shown<std::io::StdoutLock<'static>> {
    Shown::new(std::io::stdout().lock())
}

/// A writer that passes text on with every hidden character but `\n` and `\t` written
/// as a visible escape. Bytes that are not UTF-8 are shown as `\x..`; a character split
/// across two writes is held until it is whole.
pub struct Shown<W: Write> {
    inner: W,
    pending: Vec<u8>,
}

impl<W: Write> Shown<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        Shown {
            inner,
            pending: Vec::new(),
        }
    }

    /// Writes out what is pending; `all`: also an incomplete character at the end.
    fn drain(&mut self, all: bool) -> std::io::Result<()> {
        let mut out = String::new();
        let mut rest: &[u8] = &self.pending;
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    out.push_str(&visible_keeping_layout(s));
                    rest = &[];
                    break;
                }
                Err(e) => {
                    let (good, bad) = rest.split_at(e.valid_up_to());
                    // `good` is valid UTF-8 by the error's own word.
                    out.push_str(&visible_keeping_layout(
                        std::str::from_utf8(good).unwrap_or_default(),
                    ));
                    match e.error_len() {
                        Some(n) => {
                            for b in &bad[..n] {
                                out.push_str(&format!("\\x{b:02x}"));
                            }
                            rest = &bad[n..];
                        }
                        None if all => {
                            for b in bad {
                                out.push_str(&format!("\\x{b:02x}"));
                            }
                            rest = &[];
                            break;
                        }
                        None => {
                            rest = bad;
                            break;
                        }
                    }
                }
            }
        }
        let keep = rest.to_vec();
        self.inner.write_all(out.as_bytes())?;
        self.pending = keep;
        Ok(())
    }
}

impl<W: Write> Write for Shown<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(buf);
        self.drain(false)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.drain(false)?;
        self.inner.flush()
    }
}

impl<W: Write> Drop for Shown<W> {
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            let _ = self.drain(true);
        }
        let _ = self.inner.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(parts: &[&[u8]]) -> String {
        let mut buf = Vec::new();
        {
            let mut w = Shown::new(&mut buf);
            for p in parts {
                w.write_all(p).unwrap();
            }
        }
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn controls_are_escaped_layout_stays() {
        assert_eq!(
            shown(&[b"a\x1b]52;c;aGk=\x07\r\n\tb\n"]),
            "a\\u{1b}]52;c;aGk=\\u{7}\\u{d}\n\tb\n"
        );
        assert_eq!(
            shown(&["x\u{202e}y\u{85}".as_bytes()]),
            "x\\u{202e}y\\u{85}"
        );
    }

    #[test]
    fn a_character_split_across_writes_is_kept_whole() {
        let rlo = "\u{202e}".as_bytes();
        assert_eq!(shown(&[b"a", &rlo[..1], &rlo[1..], b"b"]), "a\\u{202e}b");
        let e = "é".as_bytes();
        assert_eq!(shown(&[&e[..1], &e[1..]]), "é");
    }

    #[test]
    fn bytes_that_are_not_utf8_are_shown_as_hex() {
        assert_eq!(shown(&[b"a\xffb"]), "a\\xffb");
        assert_eq!(shown(&[b"a\xe2\x80"]), "a\\xe2\\x80");
    }
}
