//! The session marker: a small file in the data dir that says which session is running.
//! A clean shutdown marks it exited; if the next start finds it still running, the
//! previous session crashed (a tombstone follows its start record in the ring) or ended
//! abnormally (killed, aborted, power cut) without one. A marker that cannot be read
//! (after a few tries when the error is transient, such as EMFILE) gives an honest
//! "unknown" unless the ring tells.

use crate::data_dir::{DataDir, StateError, StateFile};
use crate::record::{Body, Record, SessionEvent};
use crate::recorder::FlightRecorder;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};
pub use crate::state::{SessionMarker};

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
    /// Not known: the session marker could not be read (and the ring does not tell), or
    /// telemetry could not use the data dir at all. [`PreviousSession::reason`] says why.
    /// Never counted for the community.
    Unknown,
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
            Outcome::Unknown => "unknown",
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
    /// Why the outcome is [`Outcome::Unknown`] (the file and the error), or what could
    /// not be read when the ring told the outcome instead of the marker.
    pub reason: Option<String>,
}

impl PreviousSession {
    /// An outcome with nothing else known about the session.
    pub fn only(outcome: Outcome) -> PreviousSession {
        PreviousSession {
            outcome,
            session_id: None,
            app_version: None,
            tombstone: None,
            reason: None,
        }
    }

    /// An unknown outcome, and why.
    pub fn unknown(reason: impl Into<String>) -> PreviousSession {
        PreviousSession {
            reason: Some(reason.into()),
            ..PreviousSession::only(Outcome::Unknown)
        }
    }
}


/// The running session.
#[derive(Debug)]
pub(crate) struct Session {
    pub id: String,
    data: DataDir,
    marker: Option<SessionMarker>,
    /// The process's crash count when this session began: a crash of an earlier
    /// session in the same process (closed, then started again) is not this one's.
    crashes_at_start: u64,
}

/// Errors worth another try when reading the marker: the process or the system is out
/// of descriptors or memory for a moment, or a signal interrupted the call.
fn transient(e: &StateError) -> bool {
    matches!(e, StateError::Unreadable { source, .. }
        if matches!(
            source.raw_os_error(),
            Some(libc::EMFILE | libc::ENFILE | libc::EINTR | libc::EAGAIN | libc::ENOMEM)
        ))
}

/// Reads of the marker tried before a transient error is taken as the answer.
const MARKER_TRIES: u32 = 5;

/// Reads the session marker, trying again (a few times, 2 ms to 128 ms apart, under
/// 200 ms in all) while the error is a transient one: EMFILE, ENFILE, EINTR, EAGAIN
/// or ENOMEM.
pub fn read_marker(data: &DataDir) -> Result<Option<SessionMarker>, StateError> {
    let mut pause = Duration::from_millis(2);
    let mut tries = 1;
    loop {
        match data.session_marker() {
            Err(e) if transient(&e) && tries < MARKER_TRIES => {
                std::thread::sleep(pause);
                pause = pause.saturating_mul(4);
                tries += 1;
            }
            read => return read,
        }
    }
}

/// Reads how the previous session in `data` ended, from its marker (read with
/// [`read_marker`]) and the session and crash records the ring held before this
/// session's first record. See [`verdict`].
pub fn previous(data: &DataDir, records: &[Record]) -> PreviousSession {
    verdict(read_marker(data), records)
}

/// How the last session in a data dir ended, from what was read of its marker and the
/// ring's records: the one verdict, which start, `locus-diag status` and the Debug
/// screen all give.
///
/// A session start record newer than the marker belongs to a session that ended before
/// it wrote its marker (the marker is written just after `start` returns): that session
/// is the previous one, judged by the ring alone. A marker that could not be read
/// leaves the ring to judge: a crash tombstone or a clean-exit record after the last
/// session start says how it ended; anything less is [`Outcome::Unknown`], with the
/// read error as the reason, never a guess.
pub fn verdict(
    marker: Result<Option<SessionMarker>, StateError>,
    records: &[Record],
) -> PreviousSession {
    let (marker, unreadable) = match marker {
        Ok(m) => (m, None),
        // The error names the marker's file and what went wrong.
        Err(e) => (None, Some(e.to_string())),
    };
    let unmarked = records.iter().rev().find_map(|r| match &r.body {
        Body::Session(s)
            if matches!(s.event, SessionEvent::Start)
                && marker.as_ref().is_none_or(|m| r.seq > m.start_seq) =>
        {
            Some((r.seq, s))
        }
        _ => None,
    });
    let (session_id, app_version, start_seq, crashes, clean_exit) = match (unmarked, marker) {
        (Some((seq, s)), _) => (s.session_id.clone(), s.app_version.clone(), seq, 0, false),
        (None, Some(m)) => (m.session_id, m.app_version, m.start_seq, m.crashes, m.clean_exit),
        (None, None) => {
            return match unreadable {
                Some(why) => PreviousSession::unknown(why),
                None => PreviousSession::only(Outcome::FirstStart),
            }
        }
    };
    let tombstone = records
        .iter()
        .rfind(|r| r.seq > start_seq && matches!(r.body, Body::Crash(_)))
        .cloned();
    // The ring's own clean-exit record stands in for a marker that could not be written
    // at shutdown (a full disk), or read now.
    let clean_exit_recorded = || {
        records.iter().any(|r| {
            r.seq > start_seq
                && matches!(&r.body, Body::Session(s)
                    if matches!(s.event, SessionEvent::CleanExit)
                        && s.session_id == session_id)
        })
    };
    // A session that crashed in a worker thread and then exited cleanly still crashed.
    let outcome = if tombstone.is_some() || crashes > 0 {
        Outcome::Crashed
    } else if clean_exit || clean_exit_recorded() {
        Outcome::Exited
    } else if unreadable.is_some() {
        Outcome::Unknown
    } else {
        Outcome::Abnormal
    };
    PreviousSession {
        outcome,
        session_id: Some(session_id),
        app_version: Some(app_version),
        tombstone: if outcome == Outcome::Crashed {
            tombstone
        } else {
            None
        },
        reason: unreadable,
    }
}

type Step = Box<dyn FnOnce() -> PreviousSession + Send>;

/// The previous session's verdict, found once: by the step `start` leaves for its
/// background (the telemetry thread's first action), or by the first caller that needs
/// it sooner, whichever comes first.
pub(crate) struct Verdict {
    state: Mutex<VerdictState>,
    ready: Condvar,
}

#[allow(clippy::large_enum_variant)] // one per telemetry, never moved about
enum VerdictState {
    Known(PreviousSession),
    Deferred(Step),
    Running,
}

impl Verdict {
    /// A verdict known at start.
    pub fn known(previous: PreviousSession) -> Arc<Verdict> {
        Arc::new(Verdict {
            state: Mutex::new(VerdictState::Known(previous)),
            ready: Condvar::new(),
        })
    }

    /// A verdict that `step` finds.
    pub fn deferred(step: impl FnOnce() -> PreviousSession + Send + 'static) -> Arc<Verdict> {
        Arc::new(Verdict {
            state: Mutex::new(VerdictState::Deferred(Box::new(step))),
            ready: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, VerdictState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The verdict if it is known within `wait`; never runs the step itself.
    pub fn wait(&self, wait: Duration) -> Option<PreviousSession> {
        let deadline = Instant::now().checked_add(wait);
        let mut state = self.lock();
        loop {
            if let VerdictState::Known(p) = &*state {
                return Some(p.clone());
            }
            let left = deadline?.checked_duration_since(Instant::now())?;
            if left.is_zero() {
                return None;
            }
            state = self
                .ready
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// The verdict: runs the step on this thread if nobody has started it, else waits
    /// for whoever runs it.
    pub fn settle(&self) -> PreviousSession {
        let mut state = self.lock();
        loop {
            match std::mem::replace(&mut *state, VerdictState::Running) {
                VerdictState::Known(p) => {
                    *state = VerdictState::Known(p.clone());
                    return p;
                }
                VerdictState::Deferred(step) => {
                    drop(state);
                    let found = {
                        // A panic in here is telemetry's failure, not the app's crash.
                        let _own = crate::background::TelemetryThreadScope::enter();
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(step))
                    }
                    // Nothing is known of a session whose verdict failed.
                    .unwrap_or_else(|_| {
                        PreviousSession::unknown("finding the verdict failed (internal panic)")
                    });
                    *self.lock() = VerdictState::Known(found.clone());
                    self.ready.notify_all();
                    return found;
                }
                VerdictState::Running => {
                    state = self.ready.wait(state).unwrap_or_else(|e| e.into_inner());
                }
            }
        }
    }
}

impl Session {
    /// Records the start of a session in the ring. Its marker is written later, by
    /// [`Session::mark_running`], after the previous session's marker was read.
    pub fn begin(data: &DataDir, recorder: &FlightRecorder, app_version: &str) -> Session {
        let id = crate::ids::random_hex(8);
        let start_seq = recorder.session(SessionEvent::Start, &id, app_version);
        let marker = SessionMarker {
            session_id: id.clone(),
            start_seq,
            pid: std::process::id(),
            app_version: app_version.to_owned(),
            started_at: crate::clock::now(),
            clean_exit: false,
            crashes: 0,
        };
        Session {
            id,
            data: data.clone(),
            marker: Some(marker),
            crashes_at_start: super::crashes_seen(),
        }
    }

    /// The sequence number of the session's start record.
    pub fn start_seq(&self) -> u64 {
        self.marker.as_ref().map_or(0, |m| m.start_seq)
    }

    /// Marks the session running in its marker. A marker that cannot be written
    /// (read-only data dir) is reported, not fatal: the ring's start record stands for
    /// it.
    pub fn mark_running(&self) -> Option<String> {
        let marker = self.marker.as_ref()?;
        self.data
            .write_json(StateFile::SessionMarker, marker)
            .err()
            .map(|e| {
                let path = self.data.path(StateFile::SessionMarker);
                format!("cannot write session marker {}: {e}", path.display())
            })
    }

    /// Records a clean exit: in the ring first, then in the marker. A marker that cannot
    /// be written is logged into the ring (whose clean-exit record the next start trusts).
    pub fn end(&mut self, recorder: &FlightRecorder) {
        if let Some(mut marker) = self.marker.take() {
            recorder.session(SessionEvent::CleanExit, &self.id, &marker.app_version);
            marker.clean_exit = true;
            marker.crashes = super::crashes_seen().saturating_sub(self.crashes_at_start);
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
