//! `locus-diag redact`: reads text on stdin and writes, line for line, exactly what
//! `locus-diag export --redact` writes for a log message — the very function the share
//! bundle uses (`locus_privacy::redact::redact_text`: templates that keep technical
//! tokens, then the privacy filter as a second wall). One output line per input line;
//! bytes that are not UTF-8 are replaced, never dropped; control and bidi characters
//! are shown as escapes (`\u{1b}`), never written as such. With `--counts`, the
//! placeholders put in are counted on stderr at the end.

use std::io::{BufRead, Write};

/// Arguments of `locus-diag redact`.
#[derive(clap::Args)]
pub struct Args {
    /// At the end, write to stderr how many placeholders of each kind were put in.
    #[arg(long)]
    counts: bool,
}

/// Runs `locus-diag redact`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut buf = Vec::new();
    let mut total = locus_privacy::redact::RedactCounts::default();
    loop {
        buf.clear();
        if input.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let text = String::from_utf8_lossy(line);
        let (clean, counts) = locus_privacy::redact::redact_text(&text);
        total.add(&counts);
        out.write_all(crate::term::visible(&clean).as_bytes())?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    if args.counts {
        let list: Vec<String> = total.iter().map(|(k, n)| format!("{k} {n}")).collect();
        eprintln!(
            "placeholders: {}",
            if list.is_empty() {
                "none".to_owned()
            } else {
                list.join(", ")
            }
        );
    }
    Ok(())
}
