//! The Telemetry Dispatcher of the spec's diagram: one dedicated OS thread named
//! `locus-telemetry` that owns its own async runtime (the app's runtime — or lack of
//! one — is never used), wakes the workers on a timer and on demand, and is stopped
//! within a deadline whatever the network does.
//!
//! Isolation is the point: the app's threads only ever touch the lock-free recorder.
//! If this thread cannot start, or dies, the recorder keeps recording and `status()`
//! says so.

pub(crate) mod control;

use crate::breaker::{CircuitBreaker, Clock, Permit};
use crate::record::Level;
use crate::recorder::FlightRecorder;
use crate::settings::Settings;
use crate::sink::community::CommunityClient;
use crate::sink::DiagnosticsSink;
use crate::worker::community::{CommunityShared, CommunityWorker};
use crate::worker::retention::RetentionCheck;
use crate::worker::s3::batch;
use crate::worker::s3::S3Worker;
use crate::worker::DestinationStatus;
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

/// Things tests (and embedders) may substitute: the clock of the breakers and the
/// diagnostics sink.
#[derive(Clone, Default)]
pub struct Overrides {
    /// Clock for the breakers (default: the system clock).
    pub clock: Option<Arc<dyn Clock>>,
    /// A diagnostics sink used instead of the one `destination` names.
    pub diagnostics_sink: Option<Arc<dyn DiagnosticsSink>>,
}

/// Target of the records the dispatcher writes about itself.
const TARGET: &str = "locus_telemetry::dispatch";

/// The running telemetry thread.
pub(crate) struct Dispatcher {
    clock: Arc<dyn Clock>,
    ctl: Arc<Control>,
    statuses: Vec<Arc<Mutex<DestinationStatus>>>,
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
        let community_client = match (&community, &settings.community_url) {
            (Some(_), Some(url)) => {
                match CommunityClient::new(url, Duration::from_secs(settings.attempt_timeout_secs))
                {
                    Ok(c) => Some(c),
                    Err(e) => {
                        problems.push(format!("community telemetry unavailable: {e}"));
                        None
                    }
                }
            }
            _ => None,
        };
        if !settings.enable_s3_diagnostics && community_client.is_none() {
            return None;
        }
        let clock: Arc<dyn Clock> = overrides
            .clock
            .clone()
            .unwrap_or_else(|| Arc::new(crate::breaker::SystemClock));
        let status_clock = clock.clone();
        let retention_clock = clock.clone();
        let mut statuses = Vec::new();
        let mut s3_parts = None;
        if settings.enable_s3_diagnostics {
            let (breaker, problem) =
                CircuitBreaker::load(&settings.data_dir, "s3", settings.backoff(), clock.clone());
            problems.extend(problem);
            let status = Arc::new(Mutex::new(DestinationStatus {
                name: "s3".into(),
                target: settings.destination_url(),
                breaker: Some(breaker.snapshot()),
                ..DestinationStatus::default()
            }));
            statuses.push(status.clone());
            s3_parts = Some((statuses.len() - 1, breaker, status));
        }
        let mut community_worker = None;
        if let (Some(client), Some(shared)) = (community_client, community) {
            let (breaker, problem) =
                CircuitBreaker::load(&settings.data_dir, "community", settings.backoff(), clock);
            problems.extend(problem);
            let status = Arc::new(Mutex::new(DestinationStatus {
                name: "community".into(),
                target: client.describe(),
                breaker: Some(breaker.snapshot()),
                ..DestinationStatus::default()
            }));
            statuses.push(status.clone());
            community_worker = Some((
                statuses.len() - 1,
                CommunityWorker {
                    private_terms: crate::worker::community::private_terms(
                        device_id,
                        &settings.destination_url(),
                    ),
                    recorder: recorder.clone(),
                    client,
                    shared,
                    device_id: device_id.to_owned(),
                    app_version: settings.app_version.clone(),
                    allowed_metrics: settings.community_metrics.clone(),
                    period: Duration::from_secs(settings.community_period_secs),
                    breaker,
                    attempt_timeout: Duration::from_secs(settings.attempt_timeout_secs),
                    status,
                },
            ));
        }
        let ctl = Control::new(statuses.len());
        let running = Arc::new(AtomicBool::new(true));
        let (exit_tx, exit_rx) = mpsc::channel();

        let thread_ctl = ctl.clone();
        let thread_running = running.clone();
        let settings = settings.clone();
        let recorder = recorder.clone();
        let device_id = device_id.to_owned();
        let sink_override = overrides.diagnostics_sink.clone();
        let worker_count = statuses.len();
        let spawned = std::thread::Builder::new()
            .name("locus-telemetry".into())
            .spawn(move || {
                crate::background::mark_telemetry_thread();
                crate::background::lower_current_thread_priority();
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build();
                    let Ok(rt) = rt else {
                        recorder.log(
                            Level::Error,
                            TARGET,
                            "cannot build the telemetry runtime; uploads disabled",
                            &[],
                        );
                        return;
                    };
                    rt.block_on(async {
                        let mut tasks = Vec::new();
                        if let Some((index, breaker, status)) = s3_parts {
                            let sink = match sink_override {
                                Some(s) => Some(s),
                                None => open_sink(&settings, &recorder, &status).await,
                            };
                            match sink {
                                Some(sink) => {
                                    let worker = S3Worker {
                                        recorder: recorder.clone(),
                                        sink,
                                        device_id: device_id.clone(),
                                        breaker,
                                        cursor: batch::Cursor::load(&settings.data_dir, "s3"),
                                        attempt_timeout: Duration::from_secs(
                                            settings.attempt_timeout_secs,
                                        ),
                                        limits: batch::BatchLimits::default(),
                                        retention: Some(RetentionCheck::new(
                                            &settings.data_dir,
                                            "s3",
                                            settings.retention_days,
                                            retention_clock,
                                        )),
                                        status,
                                    };
                                    tasks.push(supervise(
                                        "S3",
                                        index,
                                        worker.run(thread_ctl.clone(), index),
                                        &thread_ctl,
                                        &recorder,
                                    ));
                                }
                                None => thread_ctl.retire(index),
                            }
                        }
                        if let Some((index, worker)) = community_worker {
                            tasks.push(supervise(
                                "community",
                                index,
                                worker.run(thread_ctl.clone(), index),
                                &thread_ctl,
                                &recorder,
                            ));
                        }
                        let interval = Duration::from_secs(settings.upload_interval_secs);
                        loop {
                            tokio::select! {
                                _ = tokio::time::sleep(interval) => thread_ctl.wake_all(),
                                _ = thread_ctl.stopped() => break,
                            }
                        }
                        for task in tasks {
                            let _ = task.await;
                        }
                    });
                }));
                if outcome.is_err() {
                    recorder.log(
                        Level::Error,
                        TARGET,
                        "telemetry thread panicked; uploads stopped, recording continues",
                        &[],
                    );
                }
                for i in 0..worker_count {
                    thread_ctl.retire(i);
                }
                thread_running.store(false, Ordering::Release);
                // Release our clone of the recorder (and with it, maybe, the ring file's
                // lock) before saying we are done: a restart right after `shutdown`
                // returned must be able to take the ring file back.
                drop(recorder);
                let _ = exit_tx.send(());
            });
        if let Err(e) = spawned {
            problems.push(format!(
                "cannot start the telemetry thread: {e}; recording continues without uploads"
            ));
            return None;
        }
        Some(Dispatcher {
            clock: status_clock,
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
        let mut destinations: Vec<DestinationStatus> = self
            .statuses
            .iter()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).clone())
            .collect();
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

/// Runs a worker as its own task; if it dies (a panic outside the upload boundary), the
/// death is recorded and its flush acknowledgements are released, so the app's `flush`
/// and `shutdown` never wait for a worker that is gone.
fn supervise(
    name: &'static str,
    index: usize,
    work: impl std::future::Future<Output = ()> + Send + 'static,
    ctl: &Arc<Control>,
    recorder: &FlightRecorder,
) -> tokio::task::JoinHandle<()> {
    let ctl = ctl.clone();
    let recorder = recorder.clone();
    let task = tokio::spawn(work);
    tokio::spawn(async move {
        if let Err(e) = task.await {
            let why = if e.is_panic() {
                crate::crash::panic_message(e.into_panic().as_ref())
            } else {
                "cancelled".to_owned()
            };
            recorder.log(
                Level::Error,
                TARGET,
                &format!("{name} worker stopped: {why}; recording continues"),
                &[],
            );
            ctl.retire(index);
        }
    })
}

/// Opens the destination named in the settings; a bad URL is recorded and disables the
/// worker (it is a configuration error: retrying cannot fix it).
async fn open_sink(
    settings: &Settings,
    recorder: &FlightRecorder,
    status: &Arc<Mutex<DestinationStatus>>,
) -> Option<Arc<dyn DiagnosticsSink>> {
    match crate::worker::s3::open_sink(settings).await {
        Ok(sink) => Some(sink),
        Err(e) => {
            let msg = format!("diagnostics destination unusable, uploads disabled: {e}");
            recorder.log(
                crate::record::Level::Error,
                "locus_telemetry::s3",
                &msg,
                &[],
            );
            status.lock().unwrap_or_else(|e| e.into_inner()).last_error = Some(msg);
            None
        }
    }
}
