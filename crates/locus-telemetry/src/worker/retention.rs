//! When the bucket's retention rule was last confirmed, so that the S3 worker checks it
//! at most once a day instead of on every start (phones start the app many times a day,
//! and each check is up to three requests).
//!
//! The state file is `retention-<destination>.json` in the data dir (`retention-s3.json`
//! for the S3 worker), beside the breaker and cursor files, replaced whole (tmp +
//! rename) like them:
//!
//! ```json
//! {"destination":"s3://my-bucket","days":30,"confirmed_at":"2026-11-27T08:00:00Z"}
//! ```
//!
//! The check is skipped while the rule for the same destination and the same number of
//! days was confirmed less than [`CHECK_INTERVAL`] ago. Anything else — no file, a
//! damaged or unreadable one (it is read like every state file: a regular file only,
//! bounded, never blocking), another bucket or retention, a confirmation time in the
//! future (a clock that was wrong) — means the check is due. Only a successful check writes the file; a
//! failed or cut-off one counts for the breaker like an upload and is tried again at the
//! next start.
//!
//! ```
//! use locus_telemetry::breaker::{Clock, ManualClock};
//! use locus_telemetry::worker::retention::{RetentionCheck, CHECK_INTERVAL};
//! use std::sync::Arc;
//! let dir = tempfile::tempdir().unwrap();
//! let clock = Arc::new(ManualClock::new());
//! let check = RetentionCheck::new(dir.path(), "s3", 30, clock.clone());
//! assert!(check.due("s3://b"));
//! check.confirmed("s3://b");
//! assert!(!check.due("s3://b"));
//! assert!(check.due("s3://other-bucket"));
//! clock.advance(CHECK_INTERVAL);
//! assert!(check.due("s3://b"));
//! ```

use crate::breaker::Clock;
use crate::data_dir::{DataDir, StateFile};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
pub use crate::state::{RetentionState};

/// How long a confirmed rule is trusted before it is checked again.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(24 * 3600);


/// The once-a-day retention check of one destination.
#[derive(Debug, Clone)]
pub struct RetentionCheck {
    days: u32,
    path: PathBuf,
    clock: Arc<dyn Clock>,
}

impl RetentionCheck {
    /// The check of destination `name` (e.g. `s3`) in `data_dir` for a rule of `days`,
    /// timed by `clock`.
    pub fn new(data_dir: &Path, name: &str, days: u32, clock: Arc<dyn Clock>) -> Self {
        RetentionCheck {
            days,
            path: Self::state_path(data_dir, name),
            clock,
        }
    }

    /// The state file of destination `name` in `data_dir`.
    pub fn state_path(data_dir: &Path, name: &str) -> PathBuf {
        DataDir::new(data_dir).path(StateFile::Retention(name))
    }

    /// The persisted confirmation of destination `name`, if there is a readable one.
    #[cfg(any(test, feature = "internals"))]
    pub fn read(data_dir: &Path, name: &str) -> Option<RetentionState> {
        DataDir::new(data_dir).retention(name).ok()?
    }

    /// The retention the rule is to have.
    pub fn days(&self) -> u32 {
        self.days
    }

    /// Whether the rule of `destination` is to be checked now.
    pub fn due(&self, destination: &str) -> bool {
        let Ok(text) = crate::state_file::read_to_string(&self.path) else {
            return true;
        };
        let Ok(state) = serde_json::from_str::<RetentionState>(&text) else {
            return true;
        };
        if state.destination != destination || state.days != self.days {
            return true;
        }
        let now = self.clock.now();
        if state.confirmed_at > now {
            return true;
        }
        now.signed_duration_since(state.confirmed_at)
            .to_std()
            .map_or(true, |age| age >= CHECK_INTERVAL)
    }

    /// The rule of `destination` was just confirmed. A data dir that cannot be written
    /// only means the next start checks again.
    pub fn confirmed(&self, destination: &str) {
        let state = RetentionState {
            destination: destination.to_owned(),
            days: self.days,
            confirmed_at: self.clock.now(),
        };
        if let Ok(json) = serde_json::to_vec(&state) {
            let _ = crate::state_file::replace(&self.path, &json);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::breaker::ManualClock;

    #[test]
    fn due_unless_confirmed_for_the_same_rule_within_a_day() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new());
        let check = RetentionCheck::new(dir.path(), "s3", 30, clock.clone());
        assert!(check.due("s3://b"), "no file yet");
        check.confirmed("s3://b");
        let state = RetentionCheck::read(dir.path(), "s3").unwrap();
        assert_eq!((state.destination.as_str(), state.days), ("s3://b", 30));
        clock.advance(CHECK_INTERVAL - Duration::from_secs(1));
        assert!(!check.due("s3://b"), "confirmed 23:59:59 ago");
        assert!(check.due("s3://c"), "another bucket");
        let seven = RetentionCheck::new(dir.path(), "s3", 7, clock.clone());
        assert!(seven.due("s3://b"), "another retention");
        clock.advance(Duration::from_secs(1));
        assert!(check.due("s3://b"), "24 h later");
    }

    #[test]
    fn a_damaged_file_or_a_time_in_the_future_means_due() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new());
        let check = RetentionCheck::new(dir.path(), "s3", 30, clock.clone());
        let path = RetentionCheck::state_path(dir.path(), "s3");
        std::fs::write(&path, b"{not json").unwrap();
        assert!(check.due("s3://b"));
        let future = RetentionState {
            destination: "s3://b".into(),
            days: 30,
            confirmed_at: clock.now() + chrono::Duration::hours(1),
        };
        std::fs::write(&path, serde_json::to_vec(&future).unwrap()).unwrap();
        assert!(
            check.due("s3://b"),
            "a confirmation from the future is not trusted"
        );
    }
}
