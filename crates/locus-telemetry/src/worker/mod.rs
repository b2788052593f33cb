//! The workers of the dual dispatch: [`s3::S3Worker`] for the user's bucket and the
//! community worker for the opt-in service. Each runs as its own task on the telemetry
//! thread's runtime, reading the recorder after its own cursor, so a hung or failing
//! destination never delays the other.
//!
//! This module holds what they share: the status each one publishes. How they are
//! woken, stopped and acknowledged (flush) is the dispatcher's business
//! (`dispatch::control`).

pub mod community;
pub mod policy;
pub mod retention;
pub mod s3;

use crate::breaker::BreakerSnapshot;

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
