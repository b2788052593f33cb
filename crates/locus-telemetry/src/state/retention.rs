//! A retention confirmation, `retention-<destination>.json`: the bucket rule last confirmed.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The persisted confirmation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionState {
    /// The destination whose rule was confirmed (as the sink describes it, no secrets).
    pub destination: String,
    /// The retention it was confirmed with.
    pub days: u32,
    /// When it was confirmed.
    pub confirmed_at: DateTime<Utc>,
}
