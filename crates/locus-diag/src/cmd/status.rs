//! `locus-diag status`: what telemetry in a data dir is doing, read from its files
//! without disturbing the app — the recorder, how the last session ended, the last
//! shipped record per destination, and each circuit breaker's state and backoff.

use locus_telemetry::breaker::CircuitBreaker;
use locus_telemetry::dispatch::batch::Cursor;
use locus_telemetry::recorder::read_ring_file;
use std::io::Write;
use std::path::PathBuf;

/// Arguments of `locus-diag status`.
#[derive(clap::Args)]
pub struct Args {
    /// The app's data dir.
    #[arg(long, default_value = "./locus-demo")]
    data_dir: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs `locus-diag status`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let dir = &args.data_dir;
    if !dir.is_dir() {
        anyhow::bail!(
            "{} is not a directory (no telemetry data there)",
            dir.display()
        );
    }
    let ring_path = dir.join("recorder.ring");
    let ring = read_ring_file(&ring_path);
    let device_id = std::fs::read_to_string(dir.join("device_id"))
        .ok()
        .map(|s| s.trim().to_owned());
    let session: Option<serde_json::Value> = std::fs::read_to_string(dir.join("session.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    let mut destinations = Vec::new();
    for name in ["s3", "community"] {
        let breaker = CircuitBreaker::read_snapshot(dir, name);
        let cursor = Cursor::load(dir, name).last();
        if breaker.is_none() && cursor == 0 {
            continue;
        }
        destinations.push((name, breaker, cursor));
    }

    if args.json {
        let v = serde_json::json!({
            "data_dir": dir,
            "device_id": device_id,
            "recorder": match &ring {
                Ok(s) => serde_json::json!({"path": ring_path, "records": s.records.len(), "missing": s.missing,
                    "newest_seq": s.records.last().map(|r| r.seq)}),
                Err(e) => serde_json::json!({"path": ring_path, "error": e.to_string()}),
            },
            "session": session,
            "destinations": destinations.iter().map(|(name, b, cursor)| serde_json::json!({
                "name": name, "shipped_through": cursor, "breaker": b,
            })).collect::<Vec<_>>(),
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        return Ok(());
    }

    writeln!(out, "data dir:         {}", dir.display())?;
    writeln!(
        out,
        "device id:        {}",
        device_id.as_deref().unwrap_or("(none yet)")
    )?;
    match &ring {
        Ok(s) => writeln!(
            out,
            "flight recorder:  {} — {} records, newest #{}, {} missing",
            ring_path.display(),
            s.records.len(),
            s.records.last().map_or(0, |r| r.seq),
            s.missing
        )?,
        Err(e) => writeln!(out, "flight recorder:  unreadable: {e}")?,
    }
    if let Some(s) = &session {
        let state = if s["clean_exit"].as_bool() == Some(true) {
            "exited cleanly"
        } else {
            "running, or ended without a clean exit"
        };
        writeln!(
            out,
            "last session:     {} (app {}) — {state}",
            s["session_id"].as_str().unwrap_or("?"),
            s["app_version"].as_str().unwrap_or("?")
        )?;
    }
    if destinations.is_empty() {
        writeln!(out, "destinations:     none has run yet")?;
    }
    for (name, breaker, cursor) in destinations {
        writeln!(out, "{name}:")?;
        writeln!(out, "  shipped through #{cursor}")?;
        match breaker {
            Some(b) => {
                writeln!(
                    out,
                    "  breaker          {} — {} consecutive failures, opened {} times",
                    b.state, b.consecutive_failures, b.times_opened
                )?;
                if let Some(until) = b.open_until {
                    writeln!(out, "  backoff ends     {}", until.to_rfc3339())?;
                }
                if let Some(e) = b.last_error {
                    writeln!(out, "  last error       {e}")?;
                }
            }
            None => writeln!(out, "  breaker          closed (no failures recorded)")?,
        }
    }
    Ok(())
}
