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
use crate::status::{DestinationStatus, DispatchStatus, Problem, ProblemArea};
use crate::worker::StatusCell;
use crate::conditions::UploadGate;
use control::Control;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Things tests (and embedders) may substitute: the clock of the breakers and either
/// destination's transport.
#[derive(Clone, Default)]
pub(crate) struct Overrides {
    /// Clock for the breakers (default: the system clock).
    pub clock: Option<Arc<dyn Clock>>,
    /// A diagnostics sink used instead of the one `destination` names.
    pub diagnostics_sink: Option<Arc<dyn DiagnosticsSink>>,
    /// A community sink used instead of the service `community_url` names (community
    /// telemetry still runs only as the opt-in allows).
    pub community_sink: Option<Arc<dyn CommunitySink>>,
    /// The HTTP transport both destinations use instead of the built-in one. Each
    /// destination calls it through an [`HttpClient`](crate::sink::transport::HttpClient)
    /// of its own (one thread, one call at a time), so a hung community endpoint cannot
    /// hold up the bucket's uploads.
    pub transport: Option<Arc<dyn crate::sink::transport::Transport>>,
}

/// Work the telemetry thread does first, before it opens any destination: what `start`
/// leaves for later (see `Telemetry::start`). It arrives on a channel once start is
/// done; a start that fails drops the sender and the thread goes on without it.
pub(crate) type FirstStep = Box<dyn FnOnce() + Send>;

/// The running telemetry thread.
pub(crate) struct Dispatcher {
    clock: Arc<dyn Clock>,
    ctl: Arc<Control>,
    statuses: Vec<StatusCell>,
    running: Arc<AtomicBool>,
    exited: Mutex<Option<mpsc::Receiver<()>>>,
    /// Why uploads stopped for good, set by the thread (see `DispatchStatus::stopped`).
    stopped: Arc<Mutex<Option<String>>>,
}

impl Dispatcher {
    /// Starts the thread if any destination is enabled; it runs the step `first` brings
    /// before anything else. Problems are reported, never raised.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        settings: &Settings,
        recorder: &FlightRecorder,
        device_id: &str,
        overrides: &Overrides,
        community: Option<Arc<CommunityShared>>,
        gate: &UploadGate,
        first: mpsc::Receiver<FirstStep>,
        problems: &mut Vec<Problem>,
    ) -> Option<Dispatcher> {
        let sink = overrides.community_sink.clone();
        let community = community
            .and_then(|shared| {
                let http = overrides.transport.clone().map(crate::sink::transport::HttpClient::new);
                Some((CommunityWorker::client(settings, sink, http, problems)?, shared))
            });
        let clock = overrides
            .clock
            .clone()
            .unwrap_or_else(|| Arc::new(SystemClock));
        let mut destinations = Vec::new();
        if settings.enable_s3_diagnostics {
            let sink = overrides.diagnostics_sink.clone();
            let http = overrides.transport.clone().map(crate::sink::transport::HttpClient::new);
            destinations.push(S3Worker::pending(
                settings, recorder, device_id, sink, http, &clock, problems,
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
        let stopped = Arc::new(Mutex::new(None));
        let thread = thread::TelemetryThread {
            first,
            destinations,
            ctl: ctl.clone(),
            interval: Duration::from_secs(settings.upload_interval_secs),
            gate: gate.clone(),
            recorder: recorder.clone(),
            running: running.clone(),
            exited: exit_tx,
            stopped: stopped.clone(),
        };
        if let Err(e) = thread.spawn() {
            let why = format!("cannot start the upload thread: {e}");
            crate::status::record_uploads_stopped(recorder, &why);
            problems.push(Problem::new(
                ProblemArea::Dispatcher,
                format!("uploads are not running: {why}; recording continues"),
            ));
            return None;
        }
        Some(Dispatcher {
            clock,
            ctl,
            statuses,
            running,
            exited: Mutex::new(Some(exit_rx)),
            stopped,
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
        for b in destinations.iter_mut().map(|d| &mut d.breaker) {
            b.state = Permit::at(b.open_until, now).state();
        }
        DispatchStatus {
            running: self.running.load(Ordering::Acquire),
            destinations,
            stopped: self
                .stopped
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
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
