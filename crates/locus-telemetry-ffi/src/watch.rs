//! The hang watchdog for Kotlin (issue 22): `watch(name, max_gap_ms)` returns a
//! [`LoopWatch`] whose `beat()` the app calls from its loop; the Kotlin layer polls
//! [`LoopWatch::hang_in_progress`] from a daemon thread of its own and, when the loop
//! hangs, hands the watched thread's stack (`Thread.getStackTrace`) to
//! [`LoopWatch::record_hang_stack`]. Polling rather than a callback: the core's keeper
//! never calls into the JVM, and a JVM that cannot answer cannot stall telemetry.
//!
//! Kept in its own file (the FFI crate's other parts are only appended to).

use crate::LocusTelemetry;
use locus_telemetry::{Watch, WatchError as CoreWatchError};
use std::sync::Arc;
use std::time::Duration;

/// A loop the app asked wrongly to watch: a name that is not `[a-z][a-z0-9_.-]{0,31}`, a
/// `max_gap_ms` outside 250..=600000, a name already watched, or more than 16 loops.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum WatchError {
    /// What is wrong, with the valid range where there is one.
    #[error("{reason}")]
    Invalid {
        /// What is wrong.
        reason: String,
    },
}

/// A watched loop (the library's `Watch`): beat it once per iteration. Dropping the
/// last reference stops watching.
#[derive(Debug, uniffi::Object)]
pub struct LoopWatch {
    watch: Watch,
}

#[uniffi::export]
impl LoopWatch {
    /// The loop is alive: one relaxed atomic store in Rust. Never throws.
    pub fn beat(&self) {
        self.watch.beat();
    }

    /// The loop's name.
    pub fn name(&self) -> String {
        self.watch.name().to_owned()
    }

    /// The loop's `max_gap`, in milliseconds.
    pub fn max_gap_ms(&self) -> u64 {
        crate::millis(self.watch.max_gap())
    }

    /// The sequence number of the `start` record of the loop's hang in progress, if it
    /// is in one: the moment to take the watched thread's stack.
    pub fn hang_in_progress(&self) -> Option<u64> {
        crate::guarded(None, || self.watch.hang_in_progress())
    }

    /// Records the watched thread's stack for the hang `hang` (from
    /// `hang_in_progress`), once per hang and only while it lasts: a `hang` record of
    /// phase `stack`. Returns its sequence number, `None` when it was not recorded.
    pub fn record_hang_stack(&self, hang: u64, stack: String) -> Option<u64> {
        crate::guarded(None, || self.watch.record_hang_stack(hang, &stack))
    }
}

#[uniffi::export]
impl LocusTelemetry {
    /// Watches the loop `name` for hangs (see the library's `Telemetry::watch`): an error
    /// for what the app asked wrongly, `None` when telemetry failed or was shut down.
    pub fn watch(
        &self,
        name: String,
        max_gap_ms: u64,
    ) -> Result<Option<Arc<LoopWatch>>, WatchError> {
        self.with(Ok(None), |t| {
            match t.watch(&name, Duration::from_millis(max_gap_ms)) {
                Ok(watch) => Ok(Some(Arc::new(LoopWatch { watch }))),
                Err(CoreWatchError::ShutDown | CoreWatchError::Internal) => Ok(None),
                Err(e) => Err(WatchError::Invalid {
                    reason: e.to_string(),
                }),
            }
        })
    }

    /// Whether the app is in the foreground (default: yes); in the background gaps of
    /// watched loops are not hangs. The other device conditions stay as they are.
    pub fn set_in_foreground(&self, foreground: bool) {
        self.with((), |t| t.set_in_foreground(foreground))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrong_watch_is_an_error_and_a_good_one_beats() {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = crate::default_settings(dir.path().display().to_string(), "1.0".into());
        settings.enable_s3_diagnostics = false;
        let t = LocusTelemetry::new(settings).unwrap();
        assert!(matches!(
            t.watch("Tracking Loop".into(), 500),
            Err(WatchError::Invalid { .. })
        ));
        assert!(t.watch("tracking".into(), 10).is_err());
        let w = t.watch("tracking".into(), 500).unwrap().unwrap();
        w.beat();
        assert_eq!((w.name().as_str(), w.max_gap_ms()), ("tracking", 500));
        assert_eq!(w.hang_in_progress(), None);
        assert_eq!(w.record_hang_stack(1, "at x".into()), None);
        t.set_in_foreground(false);
        assert!(t.status().unwrap().conditions.background);
        t.shutdown(500);
        assert!(matches!(t.watch("other".into(), 500), Ok(None)));
    }
}
