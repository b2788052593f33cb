//! The session marker: a small file in the data dir that says which session is running.
//! A clean shutdown marks it exited; if the next start finds it still running, the
//! previous session crashed (a tombstone follows its start record in the ring) or ended
//! abnormally (killed, aborted, power cut) without one.

use crate::data_dir::{DataDir, StateFile};
use crate::record::{Body, Record, SessionEvent};
use crate::recorder::FlightRecorder;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

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

/// The session marker, `session.json` in the data dir (read it through
/// [`DataDir::session_marker`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionMarker {
    /// The session's id (also in its ring records).
    pub session_id: String,
    /// The sequence number of its start record.
    pub start_seq: u64,
    /// The process that ran it.
    pub pid: u32,
    /// The app version it ran.
    pub app_version: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Whether it shut down cleanly.
    pub clean_exit: bool,
    /// Crashes (caught panics in worker threads) seen before a clean exit.
    #[serde(default)]
    pub crashes: u64,
}

/// The running session.
#[derive(Debug)]
pub(crate) struct Session {
    pub id: String,
    data: DataDir,
    marker: Option<SessionMarker>,
}

/// Reads how the previous session in `data` ended, using the recorded ring.
pub fn previous(data: &DataDir, records: &[Record]) -> PreviousSession {
    let marker = match data.session_marker() {
        Ok(Some(m)) => m,
        Ok(None) => return PreviousSession::only(Outcome::FirstStart),
        // There is a marker, but not one we can read (a directory, a FIFO, damaged): a
        // session did not finish cleanly here.
        Err(_) => return PreviousSession::only(Outcome::Abnormal),
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

impl Session {
    /// Records the start of a session and marks it running. A marker that cannot be
    /// written (read-only data dir) is reported, not fatal.
    pub fn begin(
        data: &DataDir,
        recorder: &FlightRecorder,
        app_version: &str,
    ) -> (Session, Option<String>) {
        let id = crate::ids::random_hex(8);
        let start_seq = recorder.session(SessionEvent::Start, &id, app_version);
        let marker = SessionMarker {
            session_id: id.clone(),
            start_seq,
            pid: std::process::id(),
            app_version: app_version.to_owned(),
            started_at: Utc::now(),
            clean_exit: false,
            crashes: 0,
        };
        let problem = data
            .write_json(StateFile::SessionMarker, &marker)
            .err()
            .map(|e| {
                let path = data.path(StateFile::SessionMarker);
                format!("cannot write session marker {}: {e}", path.display())
            });
        (
            Session {
                id,
                data: data.clone(),
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
            if let Err(e) = self.data.write_json(StateFile::SessionMarker, &marker) {
                recorder.log(
                    crate::record::Level::Warn,
                    "locus_telemetry::session",
                    &format!(
                        "cannot mark the session exited in {}: {e} (the clean-exit record \
                         in the ring stands for it)",
                        self.data.path(StateFile::SessionMarker).display()
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
pub(crate) fn settle_failed_start(data: &DataDir) {
    let Ok(Some(mut marker)) = data.session_marker() else {
        return;
    };
    if marker.pid == std::process::id() && !marker.clean_exit {
        marker.clean_exit = true;
        let _ = data.write_json(StateFile::SessionMarker, &marker);
    }
}
