//! `locus-diag preview`: prints the exact community report that would be sent now from
//! a data dir — whether or not the user has opted in — so a user can see what they
//! would share before deciding. Read-only: it never disturbs a running app.

use anyhow::Context;
use std::io::Write;
use std::path::PathBuf;

/// Arguments of `locus-diag preview`.
#[derive(clap::Args)]
pub struct Args {
    /// The app's data dir.
    #[arg(long, default_value = "./locus-demo")]
    data_dir: PathBuf,
    /// Settings file (for `app_version` and `community_metrics`).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Metric names the app allows in reports (comma-separated); default: the settings'
    /// list, else the demo's.
    #[arg(long, value_delimiter = ',')]
    metrics: Option<Vec<String>>,
}

/// Runs `locus-diag preview`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let dir = &args.data_dir;
    let settings = match &args.config {
        Some(p) => locus_telemetry::Settings::from_toml_file(p)?,
        None => locus_telemetry::Settings::default(),
    };
    let metrics = args.metrics.clone().unwrap_or_else(|| {
        if settings.community_metrics.is_empty() {
            super::demo::COMMUNITY_METRICS
                .iter()
                .map(|s| s.to_string())
                .collect()
        } else {
            settings.community_metrics.clone()
        }
    });
    let settings = locus_telemetry::Settings {
        data_dir: dir.clone(),
        community_metrics: metrics,
        ..settings
    };
    let (preview, problems) = locus_telemetry::inspect::community_preview(&settings)
        .with_context(|| format!("no flight recorder in {}", dir.display()))?;
    for p in problems {
        eprintln!("warning: {}", crate::term::visible(&p.to_string()));
    }
    eprintln!(
        "community telemetry is {}; {}",
        if preview.opted_in {
            "ON"
        } else {
            "OFF (nothing is sent)"
        },
        if preview.pseudonym_is_kept {
            "this is the report the next send would carry"
        } else {
            "shown with a throwaway pseudonym: opting in creates a new secret salt"
        }
    );
    let report = preview.report;
    writeln!(
        crate::term::stdout(),
        "{}",
        crate::term::json_visible(&serde_json::to_string_pretty(&report)?)
    )?;
    Ok(())
}
