//! The telemetry thread's body: its own runtime, each destination opened and run as its
//! own supervised task through one loop (start step, then a round per wake-up until
//! stopped), and the timer that wakes them.
//!
//! Whatever happens in here — a runtime that cannot be built, a destination that panics
//! outside its upload boundary, the thread itself panicking — is recorded, every flush
//! acknowledgement is released, and the recorder goes on recording.

use super::control::Control;
use crate::record::Level;
use crate::recorder::FlightRecorder;
use crate::conditions::UploadGate;
use crate::worker::{Destination, Pending, StatusCell};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

/// Target of the records the dispatcher writes about itself.
const TARGET: &str = "locus_telemetry::dispatch";

/// What the thread owns: the destinations to run (destination `i` answers to the
/// control's worker `i`), the time between rounds, and how it says it is done.
pub(super) struct TelemetryThread {
    pub first: mpsc::Receiver<super::FirstStep>,
    pub destinations: Vec<Pending>,
    pub ctl: Arc<Control>,
    pub interval: Duration,
    pub gate: UploadGate,
    pub recorder: FlightRecorder,
    pub running: Arc<AtomicBool>,
    pub exited: mpsc::Sender<()>,
    /// Why uploads stopped for good, when they did (see `DispatchStatus::stopped`).
    pub stopped: Arc<std::sync::Mutex<Option<String>>>,
}

/// Threads of the upload runtime's blocking pool at most (file:// writes, DNS lookups):
/// tokio's default is 512, each with a stack and, with glibc, a malloc arena.
const BLOCKING_THREADS: usize = 2;

impl TelemetryThread {
    /// Starts the thread `locus-telemetry`.
    pub fn spawn(self) -> std::io::Result<()> {
        // Marked as telemetry's and at background priority by the one way telemetry
        // starts a thread; `run` catches its own panics to release every waiter.
        crate::background::spawn_with_pool(
            "locus-telemetry",
            2 * 1024 * 1024,
            BLOCKING_THREADS,
            move || self.run(),
        )
    }

    fn run(self) {
        let TelemetryThread {
            first,
            destinations,
            ctl,
            interval,
            gate,
            recorder,
            running,
            exited,
            stopped,
        } = self;
        let stop = |why: String| {
            crate::status::record_uploads_stopped(&recorder, &why);
            *stopped.lock().unwrap_or_else(|e| e.into_inner()) = Some(why);
        };
        let count = destinations.len();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            if let Ok(step) = first.recv() {
                step();
            }
            // The blocking pool's threads (file:// writes, DNS) are telemetry's too: a
            // panic there is telemetry's failure, never a crash of the app.
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .max_blocking_threads(BLOCKING_THREADS)
                .on_thread_start(|| {
                    crate::background::mark_telemetry_thread();
                    crate::background::lower_current_thread_priority();
                })
                .build();
            let rt = match rt {
                Ok(rt) => rt,
                Err(e) => {
                    stop(format!("cannot build the upload runtime: {e}"));
                    return;
                }
            };
            rt.block_on(run_all(destinations, &ctl, interval, &gate, &recorder));
        }));
        if outcome.is_err() {
            stop("the upload thread panicked".to_owned());
        }
        for i in 0..count {
            ctl.retire(i);
        }
        running.store(false, Ordering::Release);
        // Release our clone of the recorder (and with it, maybe, the ring file's
        // lock) before saying we are done: a restart right after `shutdown`
        // returned must be able to take the ring file back.
        drop(recorder);
        let _ = exited.send(());
    }
}

/// Opens each destination in turn and runs it as its own task; wakes them all on the
/// timer until stopped, then waits for them to finish.
async fn run_all(
    destinations: Vec<Pending>,
    ctl: &Arc<Control>,
    interval: Duration,
    gate: &UploadGate,
    recorder: &FlightRecorder,
) {
    let mut tasks = Vec::new();
    for (index, pending) in destinations.into_iter().enumerate() {
        match pending.open.await {
            Some(destination) => {
                let gated = Gated {
                    gate: gate.clone(),
                    status: pending.status,
                };
                tasks.push(supervise(destination, gated, index, ctl, recorder))
            }
            None => ctl.retire(index),
        }
    }
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => ctl.wake_all(),
            _ = ctl.stopped() => break,
        }
    }
    for task in tasks {
        let _ = task.await;
    }
}

/// Runs a destination as its own task; if it dies (a panic outside the upload
/// boundary), the death is recorded and its flush acknowledgements are released, so the
/// app's `flush` and `shutdown` never wait for a worker that is gone.
fn supervise(
    destination: Box<dyn Destination>,
    gated: Gated,
    index: usize,
    ctl: &Arc<Control>,
    recorder: &FlightRecorder,
) -> tokio::task::JoinHandle<()> {
    let name = destination.kind().title();
    let ctl = ctl.clone();
    let recorder = recorder.clone();
    let task = tokio::spawn(drive(destination, gated, ctl.clone(), index));
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

/// The upload gate as one destination sees it, with the status it says "waiting" in.
struct Gated {
    gate: UploadGate,
    status: StatusCell,
}

/// The one delivery loop: a round per wake-up, each acknowledged for the flush that was
/// pending when it began. A round the upload gate holds back (device conditions) makes
/// no attempt; the destination's start step (e.g. the retention check, a network call)
/// waits for the first round that may go. Stop cancels the step under way (its cut-off
/// attempt is counted); the destination then retires.
async fn drive(mut destination: Box<dyn Destination>, gated: Gated, ctl: Arc<Control>, index: usize) {
    let kind = destination.kind();
    let mut started = false;
    loop {
        let gen = ctl.flush_generation();
        let wait = gated.gate.wait_for(kind);
        gated.status.set_waiting(wait);
        if wait.is_some() {
            destination.held();
        } else {
            if !started {
                tokio::select! {
                    biased;
                    _ = ctl.stopped() => {
                        destination.cut_off();
                        break;
                    }
                    _ = destination.start() => {}
                }
                started = true;
            }
            tokio::select! {
                biased;
                _ = ctl.stopped() => {
                    destination.cut_off();
                    break;
                }
                _ = destination.round(ctl.final_round()) => {}
            }
        }
        ctl.ack(index, gen);
        if ctl.stopping() {
            break;
        }
        ctl.woken(index).await;
    }
    ctl.retire(index);
}
