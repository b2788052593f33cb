//! The session marker: a small file in the data dir that says which session is running.
//! A clean shutdown marks it exited; if the next start finds it still running, the
//! previous session crashed (a tombstone follows its start record in the ring) or ended
//! abnormally (killed, aborted, power cut) without one.

use crate::record::{Body, Record, SessionEvent};
use crate::recorder::FlightRecorder;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// How the previous session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// No previous session in this data dir.
    FirstStart,
    /// Shut down cleanly.
    Exited,
    /// Crashed and left a tombstone.
    Crashed,
    /// Ended without a clean exit or a tombstone (killed, aborted, power loss).
    Abnormal,
    /// Not over: another running process owns the data dir (its ring is locked). This
    /// instance leaves that session's state alone.
    StillRunning,
}

impl Outcome {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::FirstStart => "first start",
            Outcome::Exited => "exited",
            Outcome::Crashed => "crashed",
            Outcome::Abnormal => "abnormal",
            Outcome::StillRunning => "still running in another process",
        }
    }
}

/// What the start found about the previous session.
#[derive(Debug, Clone)]
pub struct PreviousSession {
    /// How it ended.
    pub outcome: Outcome,
    /// Its id, when known.
    pub session_id: Option<String>,
    /// Its app version, when known.
    pub app_version: Option<String>,
    /// The crash tombstone, for `Crashed`.
    pub tombstone: Option<Record>,
}

impl PreviousSession {
    /// An outcome with nothing else known about the session.
    pub fn only(outcome: Outcome) -> PreviousSession {
        PreviousSession {
            outcome,
            session_id: None,
            app_version: None,
            tombstone: None,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Marker {
    session_id: String,
    start_seq: u64,
    pid: u32,
    app_version: String,
    started_at: DateTime<Utc>,
    clean_exit: bool,
    /// Crashes (caught panics in worker threads) seen before a clean exit.
    #[serde(default)]
    crashes: u64,
}

/// The running session.
#[derive(Debug)]
pub(crate) struct Session {
    pub id: String,
    path: PathBuf,
    marker: Option<Marker>,
}

fn marker_path(data_dir: &Path) -> PathBuf {
    data_dir.join("session.json")
}

/// Reads how the previous session in `data_dir` ended, using the recorded ring.
pub fn previous(data_dir: &Path, records: &[Record]) -> PreviousSession {
    let text = match crate::state_file::read_to_string(&marker_path(data_dir)) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return PreviousSession::only(Outcome::FirstStart)
        }
        // There is a marker, but not one we can read (a directory, a FIFO, unreadable):
        // a session did not finish cleanly here.
        Err(_) => return PreviousSession::only(Outcome::Abnormal),
    };
    let Ok(marker) = serde_json::from_str::<Marker>(&text) else {
        // A marker we cannot read was written by a session that did not finish cleanly.
        return PreviousSession::only(Outcome::Abnormal);
    };
    let tombstone = records
        .iter()
        .rfind(|r| r.seq > marker.start_seq && matches!(r.body, Body::Crash(_)))
        .cloned();
    // The ring's own clean-exit record stands in for a marker that could not be written
    // at shutdown (a full disk).
    let clean_exit_recorded = || {
        records.iter().any(|r| {
            r.seq > marker.start_seq
                && matches!(&r.body, Body::Session(s)
                    if matches!(s.event, SessionEvent::CleanExit)
                        && s.session_id == marker.session_id)
        })
    };
    // A session that crashed in a worker thread and then exited cleanly still crashed.
    let outcome = if tombstone.is_some() || marker.crashes > 0 {
        Outcome::Crashed
    } else if marker.clean_exit || clean_exit_recorded() {
        Outcome::Exited
    } else {
        Outcome::Abnormal
    };
    PreviousSession {
        outcome,
        session_id: Some(marker.session_id),
        app_version: Some(marker.app_version),
        tombstone: if outcome == Outcome::Crashed {
            tombstone
        } else {
            None
        },
    }
}

pub(crate) fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    if getrandom::fill(&mut b).is_err() {
        // No entropy source: time and pid still make a session id unique enough.
        let seed = crate::recorder::now_nanos() as u64 ^ u64::from(std::process::id()) << 32;
        for (i, x) in b.iter_mut().enumerate() {
            *x = (seed >> ((i % 8) * 8)) as u8 ^ i as u8;
        }
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn write_marker(path: &Path, marker: &Marker) -> std::io::Result<()> {
    let json = serde_json::to_vec_pretty(marker).map_err(std::io::Error::other)?;
    crate::state_file::replace(path, &json)
}

impl Session {
    /// Records the start of a session and marks it running. A marker that cannot be
    /// written (read-only data dir) is reported, not fatal.
    pub fn begin(
        data_dir: &Path,
        recorder: &FlightRecorder,
        app_version: &str,
    ) -> (Session, Option<String>) {
        let id = random_hex(8);
        let start_seq = recorder.session(SessionEvent::Start, &id, app_version);
        let marker = Marker {
            session_id: id.clone(),
            start_seq,
            pid: std::process::id(),
            app_version: app_version.to_owned(),
            started_at: Utc::now(),
            clean_exit: false,
            crashes: 0,
        };
        let path = marker_path(data_dir);
        let problem = write_marker(&path, &marker)
            .err()
            .map(|e| format!("cannot write session marker {}: {e}", path.display()));
        (
            Session {
                id,
                path,
                marker: Some(marker),
            },
            problem,
        )
    }

    /// Records a clean exit: in the ring first, then in the marker. A marker that cannot
    /// be written is logged into the ring (whose clean-exit record the next start trusts).
    pub fn end(&mut self, recorder: &FlightRecorder) {
        if let Some(mut marker) = self.marker.take() {
            recorder.session(SessionEvent::CleanExit, &self.id, &marker.app_version);
            marker.clean_exit = true;
            marker.crashes = super::crashes_seen();
            if let Err(e) = write_marker(&self.path, &marker) {
                recorder.log(
                    crate::record::Level::Warn,
                    "locus_telemetry::session",
                    &format!(
                        "cannot mark the session exited in {}: {e} (the clean-exit record \
                         in the ring stands for it)",
                        self.path.display()
                    ),
                    &[],
                );
            }
        }
    }
}

/// After telemetry's own start failed in this process (a degraded start), ends the
/// session it may have begun as exited: a start that telemetry could not complete is not
/// a crash of the app, and must not read as one next time.
pub(crate) fn settle_failed_start(data_dir: &Path) {
    let path = marker_path(data_dir);
    let Ok(text) = crate::state_file::read_to_string(&path) else {
        return;
    };
    let Ok(mut marker) = serde_json::from_str::<Marker>(&text) else {
        return;
    };
    if marker.pid == std::process::id() && !marker.clean_exit {
        marker.clean_exit = true;
        let _ = write_marker(&path, &marker);
    }
}
