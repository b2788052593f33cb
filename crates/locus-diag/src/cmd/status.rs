//! `locus-diag status`: what telemetry in a data dir is doing, read from its files
//! without disturbing the app — the recorder (and any damaged rings salvage kept aside),
//! how the last session ended, the last shipped record per destination, and each circuit
//! breaker's state and backoff.
//!
//! Everything is read through the library's [`DataDir`], the one owner of the data dir's
//! file names and formats: the ring with its bounded reader, the small state files as
//! the typed values the library writes, and only if they are regular files (never
//! through a link, never blocking on a FIFO, bounded in size). So it never hangs and
//! never reads much, whatever is in the data dir.

use locus_telemetry::inspect::{DataDir, SessionMarker, StateError};
use locus_telemetry::{DestinationKind, PreviousSession, SessionOutcome};
use std::io::Write;
use std::path::PathBuf;

/// Damaged copies listed one by one; the rest are counted.
const MAX_LISTED_DAMAGED: usize = 50;

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

/// What `status` makes of `session.json`.
enum Marker {
    /// No marker: no session has started in this data dir.
    None,
    /// The marker the library wrote.
    Known(SessionMarker),
    /// Something is there but it is not a readable marker.
    Unknown(String),
}

impl Marker {
    fn of(read: &Result<Option<SessionMarker>, StateError>, data: &DataDir) -> Marker {
        match read {
            Ok(Some(m)) => Marker::Known(m.clone()),
            Ok(None) => Marker::None,
            Err(e) => Marker::Unknown(short(e, data)),
        }
    }
}

/// The verdict in words: the library's one verdict (the one the next start and the
/// Debug screen give), never a reading of the marker of our own.
fn verdict_words(v: &PreviousSession) -> &'static str {
    match v.outcome {
        SessionOutcome::FirstStart => "none (first start)",
        SessionOutcome::Exited => "exited cleanly",
        SessionOutcome::Crashed => "crashed",
        SessionOutcome::Abnormal => "running, or ended without a clean exit",
        SessionOutcome::StillRunning => "still running in another process",
        SessionOutcome::Unknown => "unknown",
    }
}

/// A state-file error with the data dir's path left out (`session.json: …`).
fn short(e: &StateError, data: &DataDir) -> String {
    let text = e.to_string();
    let root = format!("{}/", data.root().display());
    text.strip_prefix(&root).map_or(text.clone(), str::to_owned)
}

/// A damaged ring copy: file name and size.
struct Damaged {
    name: String,
    size: u64,
}

/// Runs `locus-diag status`.
pub fn run(args: Args) -> anyhow::Result<()> {
    // Every value below may come from a file someone else wrote: `v` shows it on one
    // line, never obeyed; the stream itself is shown safely as a last wall.
    let mut out = crate::term::stdout();
    let v = |s: &dyn std::fmt::Display| crate::term::visible(&s.to_string()).into_owned();
    let dir = &args.data_dir;
    if !dir.is_dir() {
        anyhow::bail!(
            "{} is not a directory (no telemetry data there)",
            dir.display()
        );
    }
    let data = DataDir::new(dir);
    let ring_path = data.ring_path();
    // The only way the ring is read: the library's bounded, non-blocking reader.
    let ring = data.read_ring();
    let (damaged, damaged_more) = damaged_copies(&data);
    let device_id = data.device_id();
    let read = locus_telemetry::inspect::read_session_marker(&data);
    let session = Marker::of(&read, &data);
    let records = ring.as_ref().map_or(&[][..], |s| s.records.as_slice());
    let verdict = locus_telemetry::inspect::session_verdict(read, records);
    // Uploads telemetry recorded as stopped for good in the last session (the upload
    // runtime or thread could not start), from the ring: the library's own reading.
    let uploads_stopped = ring
        .as_ref()
        .ok()
        .and_then(|s| locus_telemetry::inspect::uploads_stopped(&s.records));
    let mut destinations = Vec::new();
    let mut skipped = Vec::new();
    for name in [DestinationKind::S3, DestinationKind::Community] {
        let breaker = match data.breaker_status(name) {
            Ok(b) => b,
            Err(e) => {
                skipped.push(format!("{}: not read", short(&e, &data)));
                continue;
            }
        };
        let cursor = match data.shipped_through(name) {
            Ok(c) => c.unwrap_or(0),
            Err(e) => {
                skipped.push(format!("{}: not read", short(&e, &data)));
                continue;
            }
        };
        if breaker.is_none() && cursor == 0 {
            continue;
        }
        destinations.push((name, breaker, cursor));
    }

    if args.json {
        let salvaged: Vec<_> = damaged
            .iter()
            .map(|d| serde_json::json!({"name": d.name, "size": d.size}))
            .collect();
        let mut recorder = match &ring {
            Ok(s) => {
                serde_json::json!({"path": ring_path, "records": s.records.len(), "missing": s.missing,
                "newest_seq": s.records.last().map(|r| r.seq)})
            }
            Err(e) => serde_json::json!({"path": ring_path, "error": e.to_string()}),
        };
        recorder["salvaged"] = serde_json::Value::Array(salvaged);
        recorder["salvaged_not_listed"] = damaged_more.into();
        let (session_json, session_error) = match &session {
            Marker::Known(m) => (serde_json::to_value(m)?, None),
            Marker::None => (serde_json::Value::Null, None),
            Marker::Unknown(why) => (serde_json::Value::Null, Some(why.clone())),
        };
        let v = serde_json::json!({
            "data_dir": dir,
            "device_id": device_id.as_ref().ok().and_then(|id| id.as_deref()),
            "device_id_error": device_id.as_ref().err().map(|e| short(e, &data)),
            "recorder": recorder,
            "session": session_json,
            "session_state": verdict_words(&verdict),
            "session_outcome": verdict.outcome,
            "session_reason": verdict.reason,
            "session_error": session_error,
            "uploads_stopped": uploads_stopped,
            "destinations": destinations.iter().map(|(name, b, cursor)| serde_json::json!({
                "name": name, "shipped_through": cursor, "breaker": b,
            })).collect::<Vec<_>>(),
            "not_read": skipped,
        });
        writeln!(
            out,
            "{}",
            crate::term::json_visible(&serde_json::to_string_pretty(&v)?)
        )?;
        return Ok(());
    }

    writeln!(out, "data dir:         {}", v(&dir.display()))?;
    match &device_id {
        Ok(Some(id)) => writeln!(out, "device id:        {}", v(id))?,
        Ok(None) => writeln!(out, "device id:        (none yet)")?,
        Err(e) => writeln!(out, "device id:        unreadable: {}", v(&short(e, &data)))?,
    }
    match &ring {
        Ok(s) => writeln!(
            out,
            "flight recorder:  {} — {} records, newest #{}, {} missing",
            v(&ring_path.display()),
            s.records.len(),
            s.records.last().map_or(0, |r| r.seq),
            s.missing
        )?,
        Err(e) => writeln!(out, "flight recorder:  unreadable: {}", v(e))?,
    }
    if let Ok(s) = &ring {
        writeln!(out, "hangs:            {}", hangs_words(&s.records))?;
    }
    for d in &damaged {
        writeln!(out, "  salvaged:       {} ({} bytes)", v(&d.name), d.size)?;
    }
    if damaged_more > 0 {
        writeln!(out, "  salvaged:       … and {damaged_more} more")?;
    }
    let words = verdict_words(&verdict);
    match (&verdict.session_id, &verdict.app_version, &session) {
        (Some(id), Some(app), Marker::Unknown(why)) => writeln!(
            out,
            "last session:     {} (app {}) — {words} (marker unreadable: {})",
            v(id),
            v(app),
            v(why)
        )?,
        (Some(id), Some(app), _) => writeln!(
            out,
            "last session:     {} (app {}) — {words}",
            v(id),
            v(app)
        )?,
        (_, _, Marker::Unknown(why)) => writeln!(out, "last session:     {words} ({})", v(why))?,
        _ => writeln!(out, "last session:     {words}")?,
    }
    for s in &skipped {
        writeln!(out, "not read:         {}", v(s))?;
    }
    if let Some(why) = &uploads_stopped {
        writeln!(
            out,
            "uploads:          not running in the last session: {why}"
        )?;
    } else if destinations.is_empty() {
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
                    writeln!(out, "  last error       {}", v(&e))?;
                }
            }
            None => writeln!(out, "  breaker          closed (no failures recorded)")?,
        }
    }
    Ok(())
}

/// The hangs of watched loops in the ring: how many started, and the latest one's end.
fn hangs_words(records: &[locus_telemetry::Record]) -> String {
    use locus_telemetry::record::{Body, HangPhase};
    let hangs = || {
        records.iter().filter_map(|r| match &r.body {
            Body::Hang(h) => Some(h),
            _ => None,
        })
    };
    let started = hangs().filter(|h| h.phase == HangPhase::Start).count();
    match hangs().rfind(|h| h.phase == HangPhase::End) {
        _ if started == 0 => "none in the ring".into(),
        Some(h) => format!(
            "{started} in the ring (latest: loop '{}' stalled {} ms)",
            h.loop_name, h.measured_ms
        ),
        None => format!("{started} in the ring (still in progress)"),
    }
}

/// The damaged ring copies salvage kept aside, the newest [`MAX_LISTED_DAMAGED`] by name
/// (they sort by time), and how many more there are.
fn damaged_copies(data: &DataDir) -> (Vec<Damaged>, usize) {
    let all = data.damaged_rings();
    let more = all.len().saturating_sub(MAX_LISTED_DAMAGED);
    let listed = all
        .into_iter()
        .skip(more)
        .map(|(path, size)| Damaged {
            name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            size,
        })
        .collect();
    (listed, more)
}
