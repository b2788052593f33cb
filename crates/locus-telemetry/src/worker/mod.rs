//! The workers of the dual dispatch: [`s3::S3Worker`] for the user's bucket and the
//! community worker for the opt-in service. Each runs as its own task on the telemetry
//! thread's runtime, reading the recorder after its own cursor, so a hung or failing
//! destination never delays the other.
//!
//! This module holds what they share: the [`Destination`] seam the dispatcher drives
//! (a start-of-life step, rounds, attempts cut off by shutdown) and the status each one
//! publishes. How they are woken, stopped and acknowledged (flush) is the dispatcher's
//! business (`dispatch`, which runs every destination through one loop); a worker never
//! sees it.

pub mod community;
pub mod policy;
pub mod retention;
pub mod s3;

use crate::breaker::CircuitBreaker;
use crate::conditions::UploadWait;
pub use crate::status::{DestinationKind, DestinationStatus};
use futures_util::future::BoxFuture;
use std::sync::{Arc, Mutex};

/// What the dispatcher's loop needs of a destination: it runs [`Destination::start`]
/// once, then a [`Destination::round`] per wake-up until stopped, and on a stop that cuts
/// a step off, [`Destination::cut_off`]. Steps are cancelled by dropping their future.
pub(crate) trait Destination: Send + 'static {
    /// Which destination this is (the upload gate and the dispatcher's log lines ask).
    fn kind(&self) -> DestinationKind;

    /// Once, before the first round, cancellable by shutdown (the S3 worker checks the
    /// bucket's retention rule here). What must happen even if shutdown comes first
    /// (publishing the target) is done before the future is returned.
    fn start(&mut self) -> BoxFuture<'_, ()>;

    /// One round: ships what was recorded when it began. `final_round`: the last one
    /// before shutdown (ship everything, hold nothing back).
    fn round(&mut self, final_round: bool) -> BoxFuture<'_, ()>;

    /// A round was held back by the upload gate (device conditions): no attempt is made.
    /// A destination that ships every record counts here what the ring overwrote
    /// before it could be shipped.
    fn held(&mut self) {}

    /// A step was cut off by shutdown: the breaker counted its attempt as failed when the
    /// future was dropped; the status counts it too.
    fn cut_off(&mut self);
}

/// A destination as the dispatcher receives it: the status it publishes (readable at
/// once), and how to open it on the telemetry thread's runtime (`None`: it cannot run,
/// e.g. a bad URL, said in its status and in the recorder).
pub(crate) struct Pending {
    /// The status entry `status()` reads.
    pub status: StatusCell,
    /// Opens the destination; awaited on the telemetry thread.
    pub open: BoxFuture<'static, Option<Box<dyn Destination>>>,
}

/// A destination's published [`DestinationStatus`], shared between its worker (which
/// writes it after every step) and the dispatcher (which reads it for `status()`).
#[derive(Debug, Clone)]
pub(crate) struct StatusCell(Arc<Mutex<DestinationStatus>>);

impl StatusCell {
    /// The status of destination `kind` going to `target`, with `breaker`'s state.
    pub fn new(kind: DestinationKind, target: String, breaker: &CircuitBreaker) -> StatusCell {
        StatusCell(Arc::new(Mutex::new(DestinationStatus::new(
            kind,
            target,
            breaker.snapshot(),
        ))))
    }

    /// Says why uploads wait now (`None`: they go), as the upload gate decided.
    pub fn set_waiting(&self, why: Option<UploadWait>) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).waiting = why;
    }

    /// Changes the status with `f` and publishes `breaker`'s state with it.
    pub fn update(&self, breaker: &CircuitBreaker, f: impl FnOnce(&mut DestinationStatus)) {
        let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut s);
        s.breaker = breaker.snapshot();
    }

    /// Adds `n` to the records the ring overwrote before they were shipped.
    pub fn add_overwritten(&self, n: u64) {
        let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        s.overwritten_unshipped = s.overwritten_unshipped.saturating_add(n);
    }

    /// The status as last published.
    pub fn get(&self) -> DestinationStatus {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl DestinationStatus {
    /// Counts one delivery: its outcome and the network attempts it made. `what` names
    /// the payload in the error, where a destination sends more than one kind.
    pub(crate) fn record(&mut self, delivery: &policy::Delivery, what: Option<&str>) {
        use policy::Delivery;
        match delivery {
            Delivery::Delivered { attempts } => {
                self.uploads_ok += 1;
                self.attempts += u64::from(*attempts);
            }
            Delivery::Failed { attempts, error } => {
                self.uploads_failed += 1;
                self.attempts += u64::from(*attempts);
                self.last_error = Some(match what {
                    Some(what) => format!("{what}: {error}"),
                    None => error.clone(),
                });
            }
            Delivery::Skipped { .. } => self.skipped += 1,
        }
    }

    /// Counts `cut` attempts cut off by shutdown: the breaker counted each as failed
    /// when its future was dropped, before the worker could see an outcome.
    pub(crate) fn record_cut_offs(&mut self, cut: u32) {
        if cut > 0 {
            self.attempts += u64::from(cut);
            self.last_error = Some(crate::breaker::CUT_OFF_BY_SHUTDOWN.to_owned());
        }
    }
}
