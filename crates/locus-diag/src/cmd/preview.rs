//! `locus-diag preview`: prints the exact community report that would be sent now from
//! a data dir — whether or not the user has opted in — so a user can see what they
//! would share before deciding. Read-only: it never disturbs a running app.

use anyhow::Context;
use locus_telemetry::data_dir::DataDir;
use locus_telemetry::worker::community::CommunityShared;
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
    let data = DataDir::new(dir);
    let snap = data
        .read_ring()
        .with_context(|| format!("no flight recorder in {}", dir.display()))?;
    let device_id = data
        .device_id()
        .ok()
        .flatten()
        .unwrap_or_else(|| "unknown".into());
    let app_version = data
        .session_marker()
        .ok()
        .flatten()
        .map_or(settings.app_version.clone(), |m| m.app_version);
    let mut problems = Vec::new();
    let shared = CommunityShared::load(dir, false, &mut problems);
    for p in problems {
        eprintln!("warning: {p}");
    }
    let destination = locus_telemetry::Settings {
        data_dir: dir.clone(),
        ..settings.clone()
    }
    .destination_url();
    let (report, stored_salt) = shared.preview(
        &snap.records,
        &device_id,
        &destination,
        &app_version,
        &metrics,
    );
    eprintln!(
        "community telemetry is {}; {}",
        if shared.opted_in() {
            "ON"
        } else {
            "OFF (nothing is sent)"
        },
        if stored_salt {
            "this is the report the next send would carry"
        } else {
            "shown with a throwaway pseudonym: opting in creates a new secret salt"
        }
    );
    writeln!(
        std::io::stdout().lock(),
        "{}",
        serde_json::to_string_pretty(&report)?
    )?;
    Ok(())
}
