//! `locus-diag export`: the share bundle of a data dir's flight recorder — the records
//! as one `.jsonl.gz` (the bucket's format: `zcat FILE | jq`) and a short summary beside
//! it (`FILE` with `.jsonl.gz` replaced by `.summary.txt`). `--redact` redacts it by
//! construction (location and personal fields removed, text as templates that keep
//! technical tokens, then the privacy filter; the categories of field keys from
//! `--config`'s `field_categories`, location optionally coarsened with
//! `--location-decimals`); `--preview` prints the summary and the first lines
//! exactly as they would be written, and writes nothing. Read-only on the data dir.

use super::verbosity::parse_duration;
use anyhow::Context;
use locus_telemetry::inspect::{export_bundle, export_summary_path, ExportOptions};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

/// Arguments of `locus-diag export`.
#[derive(clap::Args)]
pub struct Args {
    /// The app's data dir (holds `recorder.ring`).
    #[arg(long, default_value = "./locus-demo")]
    data_dir: PathBuf,
    /// Only records from this long ago until now: `90s`, `30m`, `2h`, `1d`.
    #[arg(long, value_parser = parse_duration)]
    since: Option<Duration>,
    /// Redact by construction: location and personal fields removed, text as
    /// templates keeping technical tokens (what `locus-diag redact` shows), then the
    /// privacy filter.
    #[arg(long)]
    redact: bool,
    /// The app's settings file (TOML), for the data categories of its field keys
    /// (`field_categories`).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// With `--redact`, round location fields to this many decimal places (0-2)
    /// instead of removing them.
    #[arg(long, value_name = "N", requires = "redact",
          value_parser = clap::value_parser!(u8).range(0..=i64::from(ExportOptions::MAX_LOCATION_DECIMALS)))]
    location_decimals: Option<u8>,
    /// The bundle to write (created new; a `.jsonl.gz` name is best).
    #[arg(long, required_unless_present = "preview")]
    out: Option<PathBuf>,
    /// Print the summary and the first N lines as they would be written; write nothing.
    #[arg(long, num_args = 0..=1, default_missing_value = "20", value_name = "N")]
    preview: Option<usize>,
}

/// Runs `locus-diag export`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let declared = match &args.config {
        Some(p) => locus_telemetry::Settings::from_toml_file(p)?.field_categories,
        None => Default::default(),
    };
    let options = ExportOptions {
        since: args.since,
        redact: args.redact,
        location_decimals: args.location_decimals,
        ..ExportOptions::default()
    }
    .with_declared(&declared);
    let bundle = export_bundle(&args.data_dir, &options).with_context(|| {
        format!(
            "no flight recorder to export in {}",
            args.data_dir.display()
        )
    })?;
    let mut out = crate::term::stdout();
    if let Some(n) = args.preview {
        out.write_all(crate::term::visible_keeping_layout(&bundle.summary().to_text()).as_bytes())?;
        let lines = bundle.preview_lines(n);
        writeln!(
            out,
            "-- the first {} of {} lines, as they would be written --",
            lines.len(),
            bundle.records().len()
        )?;
        for l in lines {
            writeln!(out, "{}", crate::term::json_visible(&l))?;
        }
        return Ok(out.flush()?);
    }
    let Some(path) = args.out else {
        anyhow::bail!("--out FILE is required (or --preview)");
    };
    let summary = bundle.write(&path)?;
    out.write_all(crate::term::visible_keeping_layout(&summary.to_text()).as_bytes())?;
    writeln!(
        out,
        "wrote {} ({} records) and {}",
        path.display(),
        summary.records,
        export_summary_path(&path).display()
    )?;
    Ok(out.flush()?)
}
