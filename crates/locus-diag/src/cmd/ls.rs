//! `locus-diag ls DEST [--date YYYY-MM-DD]`: lists the diagnostics files of a destination
//! (`s3://bucket[/prefix]` or `file:///dir`), one line per file — key, size, time —
//! sorted by key (= by day, device, time). S3 credentials, region and endpoint come from
//! the environment by the AWS conventions (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_REGION`, `AWS_ENDPOINT_URL`, `LOCUS_S3_PATH_STYLE=1`).
//!
//! Encrypted files (`….log.gz.age`, see `diagnostics_recipients`) are marked `age` at
//! the end of their line (`"encrypted": true` in JSON); `cat --identity` reads them.
//!
//! Also home of the small helpers the `cat` and `lifecycle` commands share: a
//! current-thread runtime and opening a store from a URL.

use anyhow::Context;
use chrono::{NaiveDate, SecondsFormat};
use locus_telemetry::inspect::bucket::{
    is_encrypted_key, Destination, DiagnosticsStore, S3Options,
};
use std::io::Write;

/// Arguments of `locus-diag ls`.
#[derive(clap::Args)]
pub struct Args {
    /// Destination: `s3://bucket[/prefix]` or `file:///dir`.
    dest: String,
    /// Only this UTC day's folder (`YYYY-MM-DD`).
    #[arg(long)]
    date: Option<NaiveDate>,
    /// One JSON object per line (`key`, `size`, `last_modified`, `url`, `encrypted`)
    /// instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs `locus-diag ls`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let dest = parse_dest(&args.dest)?;
    if let Destination::File { root } = &dest {
        // The store reads a missing folder as empty (nothing uploaded yet); a missing
        // destination directory is a typo worth saying so.
        match std::fs::metadata(root) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => anyhow::bail!("cannot list {dest}: {} is not a directory", root.display()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                anyhow::bail!("cannot list {dest}: no such directory {}", root.display())
            }
            Err(e) => anyhow::bail!("cannot list {dest}: {}: {e}", root.display()),
        }
    }
    let rt = runtime()?;
    let objects = rt.block_on(async {
        let store = open(&dest).await?;
        store
            .list(args.date)
            .await
            .with_context(|| format!("cannot list {dest}"))
    })?;
    // Keys are whatever was put in the bucket: shown, never obeyed.
    let keys: Vec<String> = objects
        .iter()
        .map(|o| crate::term::visible(&o.key).into_owned())
        .collect();
    let width = keys.iter().map(|k| k.chars().count()).max().unwrap_or(0);
    let mut out = String::new();
    for (o, key) in objects.iter().zip(&keys) {
        let time = o.last_modified.to_rfc3339_opts(SecondsFormat::Millis, true);
        if args.json {
            let line = serde_json::json!({
                "key": o.key,
                "size": o.size,
                "last_modified": time,
                "url": dest.object_url(&o.key),
                "encrypted": is_encrypted_key(&o.key),
            })
            .to_string();
            out.push_str(&crate::term::json_visible(&line));
        } else {
            out.push_str(&format!("{key:<width$}  {:>10}  {time}", o.size));
            if is_encrypted_key(&o.key) {
                out.push_str("  age");
            }
        }
        out.push('\n');
    }
    write!(crate::term::stdout(), "{out}")?;
    let total: u64 = objects.iter().map(|o| o.size).sum();
    let sealed = objects.iter().filter(|o| is_encrypted_key(&o.key)).count();
    eprintln!(
        "{} file{}, {total} bytes in {dest}{}{}",
        objects.len(),
        if objects.len() == 1 { "" } else { "s" },
        args.date.map(|d| format!(" on {d}")).unwrap_or_default(),
        if sealed > 0 {
            format!(" ({sealed} encrypted: read them with `cat --identity KEY-FILE`)")
        } else {
            String::new()
        }
    );
    Ok(())
}

/// Parses a destination URL with a helpful error.
pub(crate) fn parse_dest(url: &str) -> anyhow::Result<Destination> {
    Ok(Destination::parse(url)?)
}

/// A small current-thread runtime for one command.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start an async runtime")
}

/// Opens `dest` with S3 settings from the environment.
pub(crate) async fn open(dest: &Destination) -> anyhow::Result<DiagnosticsStore> {
    Ok(DiagnosticsStore::open(dest, &S3Options::from_env()).await?)
}
