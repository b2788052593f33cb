//! The Telemetry Dispatcher of the spec's diagram: one dedicated OS thread named
//! `locus-telemetry` that owns its own async runtime (the app's runtime — or lack of
//! one — is never used), wakes the workers on a timer and on demand, and is stopped
//! within a deadline whatever the network does.
//!
//! Isolation is the point: the app's threads only ever touch the lock-free recorder.
//! If this thread cannot start, or dies, the recorder keeps recording and `status()`
//! says so.

pub(crate) mod control;
mod thread;

use crate::breaker::{Clock, Permit, SystemClock};
use crate::recorder::FlightRecorder;
use crate::settings::Settings;
use crate::sink::{CommunitySink, DiagnosticsSink};
use crate::worker::community::{CommunityShared, CommunityWorker};
use crate::worker::s3::S3Worker;
use crate::worker::{DestinationStatus, StatusCell};
use control::Control;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The dispatcher as `status()` shows it.
#[derive(Debug, Clone, Default)]
pub struct DispatchStatus {
    /// Whether the telemetry thread is running.
    pub running: bool,
    /// One entry per enabled destination.
    pub destinations: Vec<DestinationStatus>,
}

impl DispatchStatus {
    /// Human-readable lines, one per destination.
    pub fn summary_lines(&self) -> Vec<String> {
        self.destinations
            .iter()
            .map(|d| {
                let breaker = d.breaker.as_ref().map_or("?".to_owned(), |b| {
                    format!("{} ({} consecutive failures)", b.state, b.consecutive_failures)
                });
                let mut line = format!(
                    "{:<18} {} uploads ok, {} failed, {} attempts, {} skipped, breaker {breaker}; shipped through #{}",
                    format!("{}:", d.name),
                    d.uploads_ok,
                    d.uploads_failed,
                    d.attempts,
                    d.skipped,
                    d.shipped_through
                );
                if let Some(e) = &d.last_error {
                    line.push_str(&format!("; last error: {e}"));
                }
                line
            })
            .collect()
    }
}

/// Things tests (and embedders) may substitute: the clock of the breakers and either
/// destination's transport.
#[derive(Clone, Default)]
pub struct Overrides {
    /// Clock for the breakers (default: the system clock).
    pub clock: Option<Arc<dyn Clock>>,
    /// A diagnostics sink used instead of the one `destination` names.
    pub diagnostics_sink: Option<Arc<dyn DiagnosticsSink>>,
    /// A community sink used instead of the service `community_url` names (community
    /// telemetry still runs only as the opt-in allows).
    pub community_sink: Option<Arc<dyn CommunitySink>>,
}

/// The running telemetry thread.
pub(crate) struct Dispatcher {
    clock: Arc<dyn Clock>,
    ctl: Arc<Control>,
    statuses: Vec<StatusCell>,
    running: Arc<AtomicBool>,
    exited: Mutex<Option<mpsc::Receiver<()>>>,
}

impl Dispatcher {
    /// Starts the thread if any destination is enabled. Problems are reported, never
    /// raised.
    pub fn start(
        settings: &Settings,
        recorder: &FlightRecorder,
        device_id: &str,
        overrides: &Overrides,
        community: Option<Arc<CommunityShared>>,
        problems: &mut Vec<String>,
    ) -> Option<Dispatcher> {
        let sink = overrides.community_sink.clone();
        let community = community
            .and_then(|shared| Some((CommunityWorker::client(settings, sink, problems)?, shared)));
        let clock = overrides
            .clock
            .clone()
            .unwrap_or_else(|| Arc::new(SystemClock));
        let mut destinations = Vec::new();
        if settings.enable_s3_diagnostics {
            let sink = overrides.diagnostics_sink.clone();
            destinations.push(S3Worker::pending(
                settings, recorder, device_id, sink, &clock, problems,
            ));
        }
        if let Some((client, shared)) = community {
            destinations.push(CommunityWorker::pending(
                settings, recorder, device_id, client, shared, &clock, problems,
            ));
        }
        if destinations.is_empty() {
            return None;
        }
        let statuses = destinations.iter().map(|d| d.status.clone()).collect();
        let ctl = Control::new(destinations.len());
        let running = Arc::new(AtomicBool::new(true));
        let (exit_tx, exit_rx) = mpsc::channel();
        let thread = thread::TelemetryThread {
            destinations,
            ctl: ctl.clone(),
            interval: Duration::from_secs(settings.upload_interval_secs),
            recorder: recorder.clone(),
            running: running.clone(),
            exited: exit_tx,
        };
        if let Err(e) = thread.spawn() {
            problems.push(format!(
                "cannot start the telemetry thread: {e}; recording continues without uploads"
            ));
            return None;
        }
        Some(Dispatcher {
            clock,
            ctl,
            statuses,
            running,
            exited: Mutex::new(Some(exit_rx)),
        })
    }

    /// Wakes the workers for a round now, without waiting.
    pub fn wake(&self) {
        self.ctl.wake_all();
    }

    /// Status of the thread and each destination.
    pub fn status(&self) -> DispatchStatus {
        let now = self.clock.now();
        let mut destinations: Vec<DestinationStatus> =
            self.statuses.iter().map(StatusCell::get).collect();
        // The snapshot is taken when the worker last acted; a backoff may have ended since.
        for b in destinations.iter_mut().filter_map(|d| d.breaker.as_mut()) {
            b.state = Permit::at(b.open_until, now).state_name().into();
        }
        DispatchStatus {
            running: self.running.load(Ordering::Acquire),
            destinations,
        }
    }

    /// Ships what is recorded now; waits at most `deadline`.
    pub fn flush(&self, deadline: Duration) -> bool {
        if !self.running.load(Ordering::Acquire) {
            return false;
        }
        self.ctl.flush(deadline, false)
    }

    /// A last round, then stop; returns within `deadline` whatever the network does.
    /// Returns (everything shipped, thread exited).
    pub fn shutdown(&self, deadline: Duration) -> (bool, bool) {
        let start = Instant::now();
        // Keep a little of the deadline to cancel in-flight requests and let the
        // thread exit.
        let grace = (deadline / 10).min(Duration::from_millis(50));
        let flushed = self.running.load(Ordering::Acquire)
            && self.ctl.flush(deadline.saturating_sub(grace), true);
        self.ctl.request_stop();
        let left = deadline.saturating_sub(start.elapsed());
        let exited = match self.exited.lock().ok().and_then(|mut g| g.take()) {
            Some(rx) => rx.recv_timeout(left).is_ok(),
            None => true,
        };
        (flushed, exited)
    }
}
