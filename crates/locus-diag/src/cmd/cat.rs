//! `locus-diag cat KEY-or-URL... [--dest URL] [--json]`: prints the records of
//! diagnostics files, decoded — one text line per record (the Debug screen's format), or
//! the JSON lines as stored with `--json`.
//!
//! A file is named by its full URL (`s3://bucket/diagnostics/2026/11/27/dev_....log.gz`,
//! `file:///dir/diagnostics/...`) or by its key (as `ls` prints it) plus `--dest`. A key
//! that starts at `diagnostics/` is taken under the destination's prefix.
//!
//! A damaged file is printed as far as it can be read; the bad lines and where it broke
//! off go to stderr and the command fails (exit 1), so scripts notice.

use super::ls::{open, parse_dest, runtime};
use anyhow::Context;
use locus_telemetry::sink::s3::{decode_batch_lenient, Destination};

/// Arguments of `locus-diag cat`.
#[derive(clap::Args)]
pub struct Args {
    /// One or more files: full URLs, or keys with `--dest`.
    #[arg(required = true, value_name = "KEY-or-URL")]
    files: Vec<String>,
    /// Destination for keys: `s3://bucket[/prefix]` or `file:///dir`.
    #[arg(long)]
    dest: Option<String>,
    /// Print the stored JSON lines instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs `locus-diag cat`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let default_dest = args.dest.as_deref().map(parse_dest).transpose()?;
    let mut targets = Vec::new();
    for f in &args.files {
        targets.push(resolve(f, default_dest.as_ref())?);
    }
    let rt = runtime()?;
    let mut damaged = Vec::new();
    for (dest, key) in targets {
        let bytes = rt.block_on(async {
            let store = open(&dest).await?;
            store
                .get(&key)
                .await
                .with_context(|| format!("cannot read {}", dest.object_url(&key)))
        })?;
        let batch = decode_batch_lenient(&bytes);
        let mut out = String::new();
        for r in &batch.records {
            out.push_str(&if args.json {
                r.to_json_line()
            } else {
                r.to_text_line()
            });
            out.push('\n');
        }
        print!("{out}");
        let url = dest.object_url(&key);
        for (line, why) in &batch.bad_lines {
            eprintln!("locus-diag: {url}: line {line} is not a record: {why}");
        }
        if let Some(e) = &batch.error {
            eprintln!(
                "locus-diag: {url}: {e} (after {} records)",
                batch.records.len()
            );
        }
        if batch.error.is_some() || !batch.bad_lines.is_empty() {
            damaged.push(url);
        }
    }
    if !damaged.is_empty() {
        anyhow::bail!("damaged diagnostics file(s): {}", damaged.join(", "));
    }
    Ok(())
}

/// A URL, or a key under `--dest`.
fn resolve(file: &str, dest: Option<&Destination>) -> anyhow::Result<(Destination, String)> {
    if file.contains("://") {
        return Ok(Destination::parse_object_url(file)?);
    }
    let dest = dest.with_context(|| {
        format!("`{file}` is a key: say where with --dest s3://bucket[/prefix] (or file:///dir), or give the full URL")
    })?;
    let key = file.trim_start_matches('/');
    let prefix = dest.prefix();
    let key = if !prefix.is_empty()
        && key.starts_with("diagnostics/")
        && !key.starts_with(&format!("{prefix}/"))
    {
        format!("{prefix}/{key}")
    } else {
        key.to_owned()
    };
    Ok((dest.clone(), key))
}
