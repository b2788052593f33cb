//! The status panel: what the data dir's files say besides the records — the recorder,
//! the last session's verdict, each destination's breaker, backlog and last error, and
//! the community choice — read through the library's read-only [`DataDir`] (bounded,
//! never through a link, never blocking), so a damaged file is a line on screen.
//!
//! Device conditions (why uploads wait for Wi-Fi or charging) live only inside the app
//! process; the files say how far each destination has shipped and whether its breaker
//! is open, and that is what is shown.

use chrono::{DateTime, Utc};
use locus_telemetry::inspect::{DataDir, Snapshot, StateError};
use locus_telemetry::{BreakerState, DestinationKind, Level, SessionOutcome};

/// How a status line should stand out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tone {
    /// Nothing wrong.
    #[default]
    Normal,
    /// Worth a look (records waiting, a half-open breaker, a dirty exit).
    Warn,
    /// Something failed (an open breaker, a crash, an unreadable file).
    Bad,
}

/// One line of the status panel: a label column and the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// `recorder`, `s3`, … (empty on a continuation line).
    pub label: &'static str,
    /// What it says.
    pub text: String,
    /// How it stands out.
    pub tone: Tone,
}

impl Line {
    /// `text` may hold what a state file said: shown, never obeyed (`crate::term`).
    fn new(label: &'static str, text: impl Into<String>, tone: Tone) -> Line {
        Line {
            label,
            text: crate::term::visible(&text.into()).into_owned(),
            tone,
        }
    }
}

/// Everything the status panel shows, read at one moment.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// Set when the data dir itself is missing or not a directory.
    pub dir_problem: Option<String>,
    /// Set when the ring could not be read this time (the list keeps the last good read).
    pub ring_error: Option<String>,
    /// The panel's lines.
    pub lines: Vec<Line>,
    /// The level `verbosity.json` asks the app to record now (`None`: no request, or
    /// it ended: `info`, the default).
    pub verbosity: Option<Level>,
}

/// A state-file error without the data dir's path in it (`session.json: …`).
fn short(e: &StateError, data: &DataDir) -> String {
    let text = e.to_string();
    let root = format!("{}/", data.root().display());
    text.strip_prefix(&root).map_or(text.clone(), str::to_owned)
}

/// A duration in the two largest units: `3d04h`, `5h59m`, `4m02s`, `12s`.
pub fn human_duration(d: chrono::Duration) -> String {
    let s = d.num_seconds().max(0);
    let (days, hours, minutes, seconds) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    if days > 0 {
        format!("{days}d{hours:02}h")
    } else if hours > 0 {
        format!("{hours}h{minutes:02}m")
    } else if minutes > 0 {
        format!("{minutes}m{seconds:02}s")
    } else {
        format!("{seconds}s")
    }
}

/// A size in bytes, KiB or MiB.
fn human_size(bytes: u64) -> String {
    const KIB: u64 = 1024;
    if bytes >= KIB * KIB {
        format!("{:.1} MiB", bytes as f64 / (KIB * KIB) as f64)
    } else if bytes >= KIB {
        format!("{:.1} KiB", bytes as f64 / KIB as f64)
    } else {
        format!("{bytes} B")
    }
}

impl Facts {
    /// Reads what the data dir says, given this read of its ring (`snapshot`), at `now`.
    pub fn read(data: &DataDir, snapshot: Result<&Snapshot, String>, now: DateTime<Utc>) -> Facts {
        let root = data.root();
        let dir_problem = match std::fs::metadata(root) {
            Ok(m) if m.is_dir() => None,
            Ok(m) => Some(format!(
                "{} is {}, not a data dir",
                root.display(),
                locus_telemetry::inspect::file_type_name(&m.file_type())
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(format!(
                "{} does not exist: no app has written telemetry there",
                root.display()
            )),
            Err(e) => Some(format!("{}: {e}", root.display())),
        };
        let mut lines = Vec::new();
        let ring_error = snapshot.as_ref().err().cloned();
        let snapshot = snapshot.ok();
        recorder_lines(data, snapshot, &mut lines);
        session_line(data, snapshot, now, &mut lines);
        hang_line(snapshot, &mut lines);
        let newest = snapshot.and_then(|s| s.records.last()).map(|r| r.seq);
        for kind in [DestinationKind::S3, DestinationKind::Community] {
            destination_lines(data, kind, newest, now, &mut lines);
        }
        let verbosity = data
            .verbosity_request()
            .ok()
            .flatten()
            .filter(|r| r.until.is_none_or(|u| u > now))
            .map(|r| r.level);
        Facts {
            dir_problem,
            ring_error,
            lines,
            verbosity,
        }
    }
}

fn recorder_lines(data: &DataDir, snapshot: Option<&Snapshot>, lines: &mut Vec<Line>) {
    let size = std::fs::symlink_metadata(data.ring_path())
        .ok()
        .filter(|m| m.is_file())
        .map(|m| m.len());
    let Some(s) = snapshot else {
        lines.push(Line::new(
            "recorder",
            "no readable ring (see below)",
            Tone::Bad,
        ));
        return;
    };
    let span = match (s.records.first(), s.records.last()) {
        (Some(a), Some(b)) => format!(
            "#{}..#{} over {}",
            a.seq,
            b.seq,
            human_duration(b.ts - a.ts)
        ),
        _ => "empty".into(),
    };
    lines.push(Line::new(
        "recorder",
        format!(
            "file {} · {} records · {span}",
            size.map_or("?".into(), human_size),
            s.records.len()
        ),
        Tone::Normal,
    ));
    let salvaged = data.damaged_rings().len();
    let mut dropped = format!(
        "dropped {} (torn or in flight) · lapped {} · truncated {}",
        s.missing, s.lapped, s.truncated
    );
    if salvaged > 0 {
        dropped.push_str(&format!(" · {salvaged} damaged ring(s) kept aside"));
    }
    let tone = if s.missing > 0 || salvaged > 0 {
        Tone::Warn
    } else {
        Tone::Normal
    };
    lines.push(Line::new("", dropped, tone));
}

/// Hangs of watched loops in the ring: how many, the latest three, and a hang still in
/// progress (a start with no end yet). The records themselves are in the list (`k`
/// filters by kind: `hang`).
fn hang_line(snapshot: Option<&Snapshot>, lines: &mut Vec<Line>) {
    use locus_telemetry::record::{Body, HangPhase};
    let Some(s) = snapshot else {
        return;
    };
    let hangs: Vec<(
        &locus_telemetry::Record,
        &locus_telemetry::record::HangRecord,
    )> = s
        .records
        .iter()
        .filter_map(|r| match &r.body {
            Body::Hang(h) => Some((r, h)),
            _ => None,
        })
        .collect();
    let started = hangs
        .iter()
        .filter(|(_, h)| h.phase == HangPhase::Start)
        .count();
    if started == 0 {
        lines.push(Line::new("hangs", "none in the ring", Tone::Normal));
        return;
    }
    let ended: Vec<u64> = hangs.iter().filter_map(|(_, h)| h.start_seq).collect();
    let mut latest: Vec<String> = hangs
        .iter()
        .rev()
        .filter_map(|(r, h)| match h.phase {
            HangPhase::End => Some(format!(
                "{} {} ms at {}",
                h.loop_name,
                h.measured_ms,
                r.ts.format("%H:%M:%SZ")
            )),
            HangPhase::Start if !ended.contains(&r.seq) => Some(format!(
                "{} hanging since {}",
                h.loop_name,
                r.ts.format("%H:%M:%SZ")
            )),
            _ => None,
        })
        .take(3)
        .collect();
    latest.reverse();
    lines.push(Line::new(
        "hangs",
        format!("{started} in the ring · latest: {}", latest.join(", ")),
        Tone::Warn,
    ));
}

fn session_line(
    data: &DataDir,
    snapshot: Option<&Snapshot>,
    now: DateTime<Utc>,
    lines: &mut Vec<Line>,
) {
    // The library's one verdict (the one `status` and the next start give).
    let read = locus_telemetry::inspect::read_session_marker(data);
    let (crashes, started_at) = match &read {
        Ok(Some(m)) => (m.crashes, Some(m.started_at)),
        _ => (0, None),
    };
    let records = snapshot.map_or(&[][..], |s| s.records.as_slice());
    let verdict = locus_telemetry::inspect::session_verdict(read, records);
    let (words, tone) = match verdict.outcome {
        SessionOutcome::FirstStart => ("none yet (first start)".to_owned(), Tone::Normal),
        SessionOutcome::Crashed => {
            let n = crashes.max(1);
            (
                format!("crashed ({n} crash{})", if n == 1 { "" } else { "es" }),
                Tone::Bad,
            )
        }
        SessionOutcome::Exited => ("exited cleanly".into(), Tone::Normal),
        SessionOutcome::Abnormal => ("running, or ended without a clean exit".into(), Tone::Warn),
        SessionOutcome::StillRunning => {
            (SessionOutcome::StillRunning.as_str().into(), Tone::Normal)
        }
        SessionOutcome::Unknown => (
            format!(
                "unknown ({})",
                verdict
                    .reason
                    .as_deref()
                    .map(|r| short_text(r, data))
                    .unwrap_or_default()
            ),
            Tone::Bad,
        ),
    };
    let mut text = words;
    if let (Some(id), Some(app)) = (&verdict.session_id, &verdict.app_version) {
        text.push_str(&format!(" · {id} app {app}"));
    }
    if let Some(at) = started_at {
        text.push_str(&format!(
            " · started {}",
            if at.date_naive() == now.date_naive() {
                at.format("%H:%MZ")
            } else {
                at.format("%m-%d %H:%MZ")
            }
        ));
    }
    lines.push(Line::new("session", text, tone));
}

/// `text` with the data dir's path left out.
fn short_text(text: &str, data: &DataDir) -> String {
    text.replace(&format!("{}/", data.root().display()), "")
}

fn destination_lines(
    data: &DataDir,
    kind: DestinationKind,
    newest: Option<u64>,
    now: DateTime<Utc>,
    lines: &mut Vec<Line>,
) {
    let label = kind.as_str();
    let mut first = Vec::new();
    let mut second = Vec::new();
    let mut tone = Tone::Normal;
    if kind == DestinationKind::Community {
        first.push(match data.community_opt_in() {
            Ok(Some(true)) => "opted in".to_owned(),
            Ok(Some(false)) => "opted out".to_owned(),
            Ok(None) => "opt-in not chosen here (off by default)".to_owned(),
            Err(e) => {
                tone = Tone::Bad;
                format!("opt-in unknown ({})", short(&e, data))
            }
        });
    }
    let breaker = match data.breaker_status(kind) {
        Ok(b) => b,
        Err(e) => {
            tone = Tone::Bad;
            first.push(format!("breaker unknown ({})", short(&e, data)));
            None
        }
    };
    let shipped = match kind {
        DestinationKind::S3 => data.shipped_through(kind),
        DestinationKind::Community => data.community_aggregated_through(),
    };
    let shipped = match shipped {
        Ok(s) => s,
        Err(e) => {
            tone = Tone::Bad;
            second.push(format!("cursor unknown ({})", short(&e, data)));
            None
        }
    };
    let failing = breaker.as_ref().is_some_and(|b| b.consecutive_failures > 0);
    match &breaker {
        Some(b) if b.state == BreakerState::Open => {
            tone = Tone::Bad;
            let probe = b.open_until.map_or("unknown".into(), |until| {
                format!("in {}", human_duration(until - now))
            });
            first.push(format!(
                "breaker OPEN · next probe {probe} · {} failures in a row",
                b.consecutive_failures
            ));
        }
        Some(b) if b.state == BreakerState::HalfOpen => {
            tone = tone.max_with(Tone::Warn);
            first.push(format!(
                "breaker half-open: next attempt is a probe · {} failures in a row",
                b.consecutive_failures
            ));
        }
        Some(b) if b.consecutive_failures > 0 => {
            tone = tone.max_with(Tone::Warn);
            first.push(format!(
                "breaker closed · {} failures in a row",
                b.consecutive_failures
            ));
        }
        Some(_) => first.push("breaker closed".into()),
        None if shipped.is_some() => first.push("breaker closed".into()),
        None => {}
    }
    // Records waiting only for a destination that has run here (a cursor or a breaker).
    if breaker.is_none() && shipped.is_none() {
        first.push("has not run here".into());
    } else if let Some(newest) = newest {
        let waiting = newest.saturating_sub(shipped.unwrap_or(0));
        second.insert(0, format!("{waiting} records waiting"));
    }
    if kind == DestinationKind::S3 {
        match data.cursor_moved_at(kind) {
            Ok(Some(at)) if !failing => {
                second.push(format!("last ok {} ago", human_duration(now - at)));
            }
            Ok(Some(_)) => second.push("last ok before the failures began".into()),
            Ok(None) => {}
            Err(e) => second.push(format!("last ok unknown ({})", short(&e, data))),
        }
    }
    let last_error = breaker
        .as_ref()
        .and_then(|b| b.last_error.as_ref())
        .map(|e| format!("last error: {e}"));
    lines.push(Line::new(label, first.join(" · "), tone));
    if !second.is_empty() {
        lines.push(Line::new("", second.join(" · "), tone));
    }
    if let Some(e) = last_error {
        lines.push(Line::new("", e, tone));
    }
}

impl Tone {
    /// The more severe of two tones.
    fn max_with(self, other: Tone) -> Tone {
        let rank = |t: Tone| match t {
            Tone::Normal => 0,
            Tone::Warn => 1,
            Tone::Bad => 2,
        };
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_two_units() {
        let d = chrono::Duration::seconds;
        assert_eq!(human_duration(d(12)), "12s");
        assert_eq!(human_duration(d(242)), "4m02s");
        assert_eq!(human_duration(d(6 * 3600 - 60)), "5h59m");
        assert_eq!(human_duration(d(86_400 * 3 + 4 * 3600)), "3d04h");
        assert_eq!(human_duration(d(-5)), "0s");
        assert_eq!(human_size(8 * 1024 * 1024), "8.0 MiB");
    }

    #[test]
    fn a_missing_dir_is_a_message() {
        let data = DataDir::new("/nonexistent/locus-debug-test");
        let facts = Facts::read(&data, Err("no ring".into()), Utc::now());
        assert!(facts
            .dir_problem
            .as_deref()
            .is_some_and(|p| p.contains("does not exist")));
        assert_eq!(facts.ring_error.as_deref(), Some("no ring"));
        assert!(!facts.lines.is_empty());
    }
}
