//! `locus-diag buffer`: the Debug screen in text form. Reads the ring file of a data dir
//! (read-only, no lock: it never disturbs the app writing it), oldest first; `--follow`
//! keeps polling and prints new records as they are committed.

use anyhow::Context;
use locus_telemetry::inspect::{read_ring_file, DataDir};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

/// Arguments of `locus-diag buffer`.
#[derive(clap::Args)]
pub struct Args {
    /// The app's data dir (holds `recorder.ring`).
    #[arg(long, default_value = "./locus-demo")]
    data_dir: PathBuf,
    /// Show only the newest N records.
    #[arg(long)]
    last: Option<usize>,
    /// One JSON object per line (`seq`, `ts`, `kind`, `level`, message and fields).
    #[arg(long)]
    json: bool,
    /// Keep printing new records as they arrive (Ctrl-C to stop).
    #[arg(long)]
    follow: bool,
    /// Poll interval for `--follow`, in milliseconds.
    #[arg(long, default_value_t = 200)]
    interval_ms: u64,
}

/// Runs `locus-diag buffer`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let path = DataDir::new(&args.data_dir).ring_path();
    let snap = read_ring_file(&path)
        .with_context(|| format!("no flight recorder to show in {}", args.data_dir.display()))?;
    let mut out = crate::term::stdout();
    let skip = args
        .last
        .map_or(0, |n| snap.records.len().saturating_sub(n));
    let mut last_seq = 0;
    for r in &snap.records[skip..] {
        print_record(&mut out, r, args.json)?;
    }
    if let Some(r) = snap.records.last() {
        last_seq = r.seq;
    }
    if !args.json {
        writeln!(
            out,
            "-- {} records shown, {} in ring, {} missing (torn or in flight), {} truncated, \
             {} left out at the old end (neighbours overwritten)",
            snap.records.len() - skip,
            snap.records.len(),
            snap.missing,
            snap.truncated,
            snap.lapped
        )?;
    }
    out.flush()?;
    if !args.follow {
        return Ok(());
    }
    loop {
        std::thread::sleep(Duration::from_millis(args.interval_ms.max(10)));
        // A ring being rewritten (or replaced) between polls is simply read again.
        let Ok(snap) = read_ring_file(&path) else {
            continue;
        };
        let seen = last_seq;
        for r in snap.records.iter().filter(|r| r.seq > seen) {
            print_record(&mut out, r, args.json)?;
            last_seq = r.seq;
        }
        out.flush()?;
    }
}

fn print_record(
    out: &mut impl Write,
    r: &locus_telemetry::Record,
    json: bool,
) -> std::io::Result<()> {
    // A record is one line: whatever its text holds is shown, never obeyed.
    if json {
        writeln!(out, "{}", crate::term::json_visible(&r.to_json_line()))
    } else {
        writeln!(out, "{}", crate::term::visible(&r.to_text_line()))
    }
}
