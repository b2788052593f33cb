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

use crate::breaker::{BreakerSnapshot, CircuitBreaker};
use futures_util::future::BoxFuture;
use std::sync::{Arc, Mutex};

/// What the dispatcher's loop needs of a destination: it runs [`Destination::start`]
/// once, then a [`Destination::round`] per wake-up until stopped, and on a stop that cuts
/// a step off, [`Destination::cut_off`]. Steps are cancelled by dropping their future.
pub(crate) trait Destination: Send + 'static {
    /// The destination in the dispatcher's log lines (`S3`, `community`).
    fn name(&self) -> &'static str;

    /// Once, before the first round, cancellable by shutdown (the S3 worker checks the
    /// bucket's retention rule here). What must happen even if shutdown comes first
    /// (publishing the target) is done before the future is returned.
    fn start(&mut self) -> BoxFuture<'_, ()>;

    /// One round: ships what was recorded when it began. `final_round`: the last one
    /// before shutdown (ship everything, hold nothing back).
    fn round(&mut self, final_round: bool) -> BoxFuture<'_, ()>;

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
    /// The status of destination `name` going to `target`, with `breaker`'s state.
    pub fn new(name: &str, target: String, breaker: &CircuitBreaker) -> StatusCell {
        StatusCell(Arc::new(Mutex::new(DestinationStatus {
            name: name.into(),
            target,
            breaker: Some(breaker.snapshot()),
            ..DestinationStatus::default()
        })))
    }

    /// Changes the status with `f` and publishes `breaker`'s state with it.
    pub fn update(&self, breaker: &CircuitBreaker, f: impl FnOnce(&mut DestinationStatus)) {
        let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut s);
        s.breaker = Some(breaker.snapshot());
    }

    /// The status as last published.
    pub fn get(&self) -> DestinationStatus {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// One destination as `status()` shows it.
#[derive(Debug, Clone, Default)]
pub struct DestinationStatus {
    /// `s3` or `community`.
    pub name: String,
    /// Where it goes (URL without credentials).
    pub target: String,
    /// Records up to this sequence number have been shipped or discarded.
    pub shipped_through: u64,
    /// Uploads that arrived.
    pub uploads_ok: u64,
    /// Uploads that failed every allowed attempt (payload discarded).
    pub uploads_failed: u64,
    /// Network attempts made.
    pub attempts: u64,
    /// Uploads not attempted because the breaker was open.
    pub skipped: u64,
    /// The last error.
    pub last_error: Option<String>,
    /// The breaker.
    pub breaker: Option<BreakerSnapshot>,
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
