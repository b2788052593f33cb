//! `locus-diag scrub`: reads text on stdin and writes, line for line, exactly what the
//! community filter lets through — the very function the community worker uses. One
//! output line per input line; bytes that are not UTF-8 are replaced, never dropped;
//! control and bidi characters are shown as escapes (`\u{1b}`), never written as such.

use std::io::{BufRead, Write};

/// Arguments of `locus-diag scrub`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `locus-diag scrub`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut buf = Vec::new();
    // Line by line with memory: a PEM block's body lines go too, as with whole text.
    let mut scrubber = locus_privacy::LineScrubber::new();
    loop {
        buf.clear();
        if input.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let text = String::from_utf8_lossy(line);
        // The filter keeps the line as it is; a control character in it (a lone \r
        // would overwrite the line, ESC drive the terminal) is shown as an escape.
        let clean = scrubber.scrub_line(&text);
        out.write_all(crate::term::visible(&clean).as_bytes())?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}
