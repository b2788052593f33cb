//! The circuit breaker of spec §4.3, one per destination: after more than 5 consecutive
//! failed attempts (a retry counts: three failed uploads open it) the destination backs
//! off for 6 hours and makes no network attempt at all; then a single probe decides
//! between closed and another backoff.
//!
//! State is persisted in the data dir so that restarting the app does not reset it; a
//! damaged or unreadable state file (read like every state file: a regular file only,
//! bounded, never blocking) reads as closed. The clock is injectable so tests cover hours in
//! milliseconds. Pure policy: no I/O but the state file, no network.
//!
//! An attempt is marked *in flight* in the state file before its request goes out
//! ([`CircuitBreaker::begin_attempt`]) and the mark is cleared with its outcome. An
//! attempt that never gets an outcome — cut off by shutdown ([`CircuitBreaker::on_cut_off`])
//! or by the process dying — is a failed attempt: short sessions against a hung endpoint
//! open the breaker like long ones. A mark found at [`CircuitBreaker::load`] is counted
//! then.
//!
//! Time arithmetic saturates: no backoff value, however large, and no clock reading can
//! make the breaker panic (a backoff past the end of the calendar ends at
//! [`latest_time`]).
//!
//! ```
//! use locus_telemetry::breaker::{CircuitBreaker, ManualClock, Permit};
//! use std::sync::Arc;
//! let clock = Arc::new(ManualClock::new());
//! let mut b = CircuitBreaker::in_memory(std::time::Duration::from_secs(6 * 3600), clock.clone());
//! for _ in 0..6 {
//!     let p = b.permit();
//!     b.on_failure(p);
//! }
//! assert!(matches!(b.permit(), Permit::Denied { .. }));
//! clock.advance(std::time::Duration::from_secs(6 * 3600));
//! assert_eq!(b.permit(), Permit::Probe);
//! ```

use crate::status::{BreakerState, BreakerStatus};
use crate::data_dir::{DataDir, StateFile};
use chrono::{DateTime, Utc};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
pub use crate::state::{PersistedBreaker, InFlight};

/// Consecutive failed attempts tolerated; one more opens the breaker (spec: "> 5").
pub const FAILURE_THRESHOLD: u32 = 5;

/// Where time comes from.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        crate::clock::now()
    }
}

/// A clock that moves only when told (tests).
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    /// A clock standing at the current time.
    pub fn new() -> Self {
        ManualClock(Mutex::new(crate::clock::now()))
    }

    /// Moves the clock forward (stopping at `latest_time`).
    pub fn advance(&self, by: Duration) {
        let mut t = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *t = later(*t, by);
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The latest time the breaker works with: the end of year 9999, the last one every
/// RFC 3339 reader (and so the state file) can hold. Backoffs that would end later end
/// here.
pub fn latest_time() -> DateTime<Utc> {
    chrono::NaiveDate::from_ymd_opt(9999, 12, 31)
        .and_then(|d| d.and_hms_opt(23, 59, 59))
        .map_or(DateTime::<Utc>::MAX_UTC, |t| t.and_utc())
}

/// `at + by`, saturating at [`latest_time`] (never panics, whatever `by` is).
pub fn later(at: DateTime<Utc>, by: Duration) -> DateTime<Utc> {
    let latest = latest_time();
    chrono::Duration::from_std(by)
        .ok()
        .and_then(|by| at.checked_add_signed(by))
        .map_or(latest, |t| t.min(latest.max(at)))
}

/// What the breaker allows right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permit {
    /// Closed: an upload may make its attempt and one retry.
    Closed,
    /// The backoff is over: exactly one probe attempt.
    Probe,
    /// Open: no network attempt until then.
    Denied {
        /// When the backoff ends.
        until: DateTime<Utc>,
    },
}

impl Permit {
    /// What a breaker whose backoff ends at `open_until` allows at `now`.
    pub fn at(open_until: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Permit {
        match open_until {
            Some(until) if now < until => Permit::Denied { until },
            Some(_) => Permit::Probe,
            None => Permit::Closed,
        }
    }

    /// The breaker's state as `status()` shows it.
    pub fn state(self) -> BreakerState {
        match self {
            Permit::Closed => BreakerState::Closed,
            Permit::Probe => BreakerState::HalfOpen,
            Permit::Denied { .. } => BreakerState::Open,
        }
    }
}



impl InFlight {
    /// The permit the attempt was made under.
    fn permit(self) -> Permit {
        if self.probe {
            Permit::Probe
        } else {
            Permit::Closed
        }
    }
}

/// The error recorded for an attempt cut off by shutdown.
pub const CUT_OFF_BY_SHUTDOWN: &str = "attempt cut off by shutdown before it finished";

impl BreakerStatus {
    /// The status of a persisted breaker (as `locus-diag status` shows it), read at the
    /// system clock's now.
    pub(crate) fn of(state: &PersistedBreaker) -> BreakerStatus {
        CircuitBreaker {
            path: None,
            state: state.clone(),
            backoff: Duration::ZERO,
            clock: Arc::new(SystemClock),
            cut_offs: 0,
        }
        .snapshot()
    }
}

/// One destination's breaker.
#[derive(Debug)]
pub struct CircuitBreaker {
    path: Option<PathBuf>,
    state: PersistedBreaker,
    backoff: Duration,
    clock: Arc<dyn Clock>,
    /// Attempts cut off in this process and not yet counted in a status.
    cut_offs: u32,
}

impl CircuitBreaker {
    /// A breaker whose state is not persisted.
    #[cfg(any(test, feature = "internals"))]
    pub fn in_memory(backoff: Duration, clock: Arc<dyn Clock>) -> Self {
        CircuitBreaker {
            path: None,
            state: PersistedBreaker::default(),
            backoff,
            clock,
            cut_offs: 0,
        }
    }

    /// The state file of destination `name` in `data_dir`.
    #[cfg(any(test, feature = "internals"))]
    pub fn state_path(data_dir: &Path, name: &str) -> PathBuf {
        DataDir::new(data_dir).path(StateFile::Breaker(name))
    }

    /// Loads the persisted breaker; a missing file is closed, a damaged one is closed
    /// and reported. An attempt still marked in flight was cut off when the previous
    /// process ended: it is counted as failed now (and that is persisted).
    pub fn load(
        data_dir: &Path,
        name: &str,
        backoff: Duration,
        clock: Arc<dyn Clock>,
    ) -> (Self, Option<String>) {
        let data = DataDir::new(data_dir);
        let path = data.path(StateFile::Breaker(name));
        let (state, problem) = match data.breaker(name) {
            Ok(state) => (state.unwrap_or_default(), None),
            Err(e) => (
                PersistedBreaker::default(),
                Some(format!("{e}; breaker starts closed")),
            ),
        };
        let mut b = CircuitBreaker {
            path: Some(path),
            state,
            backoff,
            clock,
            cut_offs: 0,
        };
        b.clamp_backoff();
        if let Some(attempt) = b.state.in_flight {
            b.on_failure_with(
                attempt.permit(),
                &format!(
                    "attempt started {} was cut off: the app ended before it finished",
                    attempt
                        .since
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                ),
            );
        }
        (b, problem)
    }

    /// Reads a persisted breaker without owning it (for `locus-diag status`).
    #[cfg(any(test, feature = "internals"))]
    pub fn read_snapshot(data_dir: &Path, name: &str) -> Option<BreakerStatus> {
        let state = DataDir::new(data_dir).breaker(name).ok()??;
        Some(BreakerStatus::of(&state))
    }

    /// A backoff persisted while the clock was far ahead (or written by hand) never
    /// outlasts one backoff from now.
    fn clamp_backoff(&mut self) {
        let latest = later(self.clock.now(), self.backoff);
        if let Some(until) = self.state.open_until {
            if until > latest {
                self.state.open_until = Some(latest);
                self.persist();
            }
        }
    }

    /// What may happen now.
    pub fn permit(&self) -> Permit {
        Permit::at(self.state.open_until, self.clock.now())
    }

    /// An attempt under `permit` is about to send its request: marked in flight and
    /// persisted first, so that it counts as failed if no outcome ever follows (see
    /// [`CircuitBreaker::load`]). One small file write (tmp + rename).
    pub fn begin_attempt(&mut self, permit: Permit) {
        self.state.in_flight = Some(InFlight {
            since: self.clock.now(),
            probe: permit == Permit::Probe,
        });
        self.persist();
    }

    /// An attempt made under `permit` succeeded.
    pub fn on_success(&mut self) {
        let was = self.state.clone();
        self.state.consecutive_failures = 0;
        self.state.open_until = None;
        self.state.in_flight = None;
        if self.state != was {
            self.persist();
        }
    }

    /// An attempt made under `permit` failed with `error`.
    pub fn on_failure_with(&mut self, permit: Permit, error: &str) {
        self.state.consecutive_failures = self.state.consecutive_failures.saturating_add(1);
        self.state.last_error = Some(error.chars().take(300).collect());
        self.state.in_flight = None;
        let opens = permit == Permit::Probe || self.state.consecutive_failures > FAILURE_THRESHOLD;
        if opens {
            self.state.open_until = Some(later(self.clock.now(), self.backoff));
            self.state.times_opened = self.state.times_opened.saturating_add(1);
        }
        self.persist();
    }

    /// An attempt made under `permit` was cut off before it had an outcome (its future
    /// dropped at shutdown): a failed attempt, persisted before this returns.
    pub fn on_cut_off(&mut self, permit: Permit) {
        self.cut_offs = self.cut_offs.saturating_add(1);
        self.on_failure_with(permit, CUT_OFF_BY_SHUTDOWN);
    }

    /// Attempts cut off since the last call (for the worker's status counts).
    pub(crate) fn take_cut_offs(&mut self) -> u32 {
        std::mem::take(&mut self.cut_offs)
    }

    /// An attempt failed (no message).
    #[cfg(any(test, feature = "internals"))]
    pub fn on_failure(&mut self, permit: Permit) {
        self.on_failure_with(permit, "failed");
    }

    /// The current state, for `status()`.
    pub fn snapshot(&self) -> BreakerStatus {
        BreakerStatus {
            state: self.permit().state(),
            consecutive_failures: self.state.consecutive_failures,
            open_until: self.state.open_until,
            times_opened: self.state.times_opened,
            last_error: self.state.last_error.clone(),
        }
    }

    /// Writes the state atomically; a read-only data dir just keeps it in memory.
    fn persist(&self) {
        let Some(path) = &self.path else { return };
        let Ok(json) = serde_json::to_vec(&self.state) else {
            return;
        };
        let _ = crate::state_file::replace(path, &json);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIX_HOURS: Duration = Duration::from_secs(6 * 3600);

    fn fail(b: &mut CircuitBreaker) {
        let p = b.permit();
        b.on_failure(p);
    }

    #[test]
    fn opens_after_more_than_five_and_probes_once_after_the_backoff() {
        let clock = Arc::new(ManualClock::new());
        let mut b = CircuitBreaker::in_memory(SIX_HOURS, clock.clone());
        for _ in 0..5 {
            fail(&mut b);
            assert_eq!(b.permit(), Permit::Closed);
        }
        fail(&mut b);
        assert!(matches!(b.permit(), Permit::Denied { .. }));
        clock.advance(SIX_HOURS - Duration::from_secs(1));
        assert!(matches!(b.permit(), Permit::Denied { .. }));
        clock.advance(Duration::from_secs(1));
        assert_eq!(b.permit(), Permit::Probe);
        fail(&mut b); // a failed probe backs off again at once
        assert!(matches!(b.permit(), Permit::Denied { .. }));
        clock.advance(SIX_HOURS);
        assert_eq!(b.permit(), Permit::Probe);
        b.on_success();
        assert_eq!(b.permit(), Permit::Closed);
        assert_eq!(b.snapshot().consecutive_failures, 0);
    }

    #[test]
    fn a_success_resets_the_count() {
        let clock = Arc::new(ManualClock::new());
        let mut b = CircuitBreaker::in_memory(SIX_HOURS, clock);
        for _ in 0..5 {
            fail(&mut b);
        }
        b.on_success();
        for _ in 0..5 {
            fail(&mut b);
        }
        assert_eq!(b.permit(), Permit::Closed);
    }

    #[test]
    fn state_survives_a_reload_and_damage_reads_closed() {
        let dir = tempfile::tempdir().unwrap();
        let clock: Arc<dyn Clock> = Arc::new(ManualClock::new());
        let (mut b, problem) = CircuitBreaker::load(dir.path(), "s3", SIX_HOURS, clock.clone());
        assert!(problem.is_none());
        for _ in 0..6 {
            fail(&mut b);
        }
        let (b2, _) = CircuitBreaker::load(dir.path(), "s3", SIX_HOURS, clock.clone());
        assert!(matches!(b2.permit(), Permit::Denied { .. }));
        std::fs::write(CircuitBreaker::state_path(dir.path(), "s3"), b"{not json").unwrap();
        let (b3, problem) = CircuitBreaker::load(dir.path(), "s3", SIX_HOURS, clock);
        assert_eq!(b3.permit(), Permit::Closed);
        assert!(problem.unwrap().contains("damaged"));
    }

    #[test]
    fn an_attempt_left_in_flight_counts_as_failed_at_the_next_load() {
        let dir = tempfile::tempdir().unwrap();
        let clock: Arc<dyn Clock> = Arc::new(ManualClock::new());
        let (mut b, _) = CircuitBreaker::load(dir.path(), "s3", SIX_HOURS, clock.clone());
        // Settled attempts leave no mark.
        b.begin_attempt(Permit::Closed);
        b.on_success();
        let (b2, _) = CircuitBreaker::load(dir.path(), "s3", SIX_HOURS, clock.clone());
        assert_eq!(b2.snapshot().consecutive_failures, 0);
        // The process "dies" mid-attempt: the mark is on disk, counted at the next load,
        // once (the load persists the count and clears the mark).
        b.begin_attempt(Permit::Closed);
        let text = std::fs::read_to_string(CircuitBreaker::state_path(dir.path(), "s3")).unwrap();
        assert!(text.contains("in_flight"), "{text}");
        drop(b);
        for _ in 0..2 {
            let (b, _) = CircuitBreaker::load(dir.path(), "s3", SIX_HOURS, clock.clone());
            let snap = b.snapshot();
            assert_eq!(
                (snap.state.as_str(), snap.consecutive_failures),
                ("closed", 1)
            );
            assert!(snap.last_error.unwrap().contains("cut off"));
        }
    }

    #[test]
    fn a_probe_cut_off_opens_again() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new());
        let dyn_clock: Arc<dyn Clock> = clock.clone();
        let (mut b, _) = CircuitBreaker::load(dir.path(), "s3", SIX_HOURS, dyn_clock.clone());
        for _ in 0..6 {
            fail(&mut b);
        }
        clock.advance(SIX_HOURS);
        assert_eq!(b.permit(), Permit::Probe);
        b.begin_attempt(Permit::Probe);
        drop(b); // killed mid-probe
        let (b, _) = CircuitBreaker::load(dir.path(), "s3", SIX_HOURS, dyn_clock.clone());
        assert!(matches!(b.permit(), Permit::Denied { .. }));
        assert_eq!(b.snapshot().times_opened, 2);
        // Cut off in this process: counted at once, and counted for the status.
        clock.advance(SIX_HOURS);
        let (mut b, _) = CircuitBreaker::load(dir.path(), "s3", SIX_HOURS, dyn_clock.clone());
        b.begin_attempt(Permit::Probe);
        b.on_cut_off(Permit::Probe);
        assert_eq!(b.take_cut_offs(), 1);
        assert_eq!(b.take_cut_offs(), 0);
        let (b, _) = CircuitBreaker::load(dir.path(), "s3", SIX_HOURS, dyn_clock);
        let snap = b.snapshot();
        assert_eq!((snap.state.as_str(), snap.times_opened), ("open", 3));
        assert_eq!(snap.last_error.as_deref(), Some(CUT_OFF_BY_SHUTDOWN));
    }

    #[test]
    fn no_backoff_value_makes_it_panic() {
        let absurd = [
            Duration::MAX,
            Duration::from_secs(u64::MAX),
            Duration::from_secs_f64(3e9 * 3600.0), // backoff_hours = 3e9 (issue 10)
            Duration::from_secs(300_000 * 365 * 24 * 3600), // past chrono's calendar
        ];
        for backoff in absurd {
            let dir = tempfile::tempdir().unwrap();
            let clock = Arc::new(ManualClock::new());
            let dyn_clock: Arc<dyn Clock> = clock.clone();
            let (mut b, _) = CircuitBreaker::load(dir.path(), "s3", backoff, dyn_clock.clone());
            for _ in 0..6 {
                fail(&mut b);
            }
            let Permit::Denied { until } = b.permit() else {
                panic!("{backoff:?}: open after 6 failures");
            };
            assert_eq!(until, latest_time(), "{backoff:?}: saturates");
            // The saturated time survives the state file and a reload.
            let (b2, problem) = CircuitBreaker::load(dir.path(), "s3", backoff, dyn_clock.clone());
            assert!(problem.is_none(), "{backoff:?}: {problem:?}");
            assert_eq!(b2.snapshot().open_until, Some(until));
            // A clock moved past the end of the calendar neither panics nor re-opens
            // the past.
            clock.advance(Duration::MAX);
            clock.advance(Duration::MAX);
            assert_eq!(b2.permit(), Permit::Probe, "{backoff:?}");
            let mut b2 = b2;
            fail(&mut b2);
            assert!(matches!(b2.permit(), Permit::Probe | Permit::Denied { .. }));
            b2.on_success();
            assert_eq!(b2.permit(), Permit::Closed);
            // In memory too, and `read_snapshot` of the file.
            let mut m = CircuitBreaker::in_memory(backoff, dyn_clock);
            for _ in 0..6 {
                fail(&mut m);
            }
            assert!(CircuitBreaker::read_snapshot(dir.path(), "s3").is_some());
        }
    }

    #[test]
    fn a_state_file_with_times_at_the_ends_of_the_calendar_loads() {
        for until in [
            "\"+262142-12-31T23:59:59Z\"",
            "\"9999-12-31T23:59:59Z\"",
            "\"-262143-01-01T00:00:00Z\"",
        ] {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(
                CircuitBreaker::state_path(dir.path(), "s3"),
                format!(r#"{{"consecutive_failures":6,"open_until":{until},"times_opened":1,"last_error":null,"in_flight":{{"since":{until},"probe":true}}}}"#),
            )
            .unwrap();
            let clock: Arc<dyn Clock> = Arc::new(ManualClock::new());
            let (b, problem) = CircuitBreaker::load(dir.path(), "s3", Duration::MAX, clock);
            // Read (the in-flight probe counted: open again, to the end of the calendar
            // at most) or refused as damaged (closed); either way no panic.
            match problem {
                None => assert_eq!(
                    b.permit(),
                    Permit::Denied {
                        until: latest_time()
                    },
                    "{until}"
                ),
                Some(p) => {
                    assert!(p.contains("damaged"), "{until}: {p}");
                    assert_eq!(b.permit(), Permit::Closed);
                }
            }
            println!("{until}: {:?}", b.snapshot());
        }
    }

    #[test]
    fn a_fifo_as_the_state_file_reads_closed_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = CircuitBreaker::state_path(dir.path(), "s3");
        let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let (tx, rx) = std::sync::mpsc::channel();
        let data_dir = dir.path().to_path_buf();
        std::thread::spawn(move || {
            let clock: Arc<dyn Clock> = Arc::new(ManualClock::new());
            let (b, problem) = CircuitBreaker::load(&data_dir, "s3", SIX_HOURS, clock);
            let snapshot = CircuitBreaker::read_snapshot(&data_dir, "s3");
            let _ = tx.send((b.permit(), problem, snapshot));
        });
        // (A blocking open of the FIFO would never return: the answer would not come.)
        let (permit, problem, snapshot) = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("load and read_snapshot returned");
        assert_eq!(permit, Permit::Closed);
        assert!(problem.unwrap().contains("not a regular file"));
        assert!(snapshot.is_none());
    }
}
