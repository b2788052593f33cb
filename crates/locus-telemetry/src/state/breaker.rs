//! A destination's breaker, `breaker-<destination>.json`: failures in a row, backoff, the attempt in flight.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The persisted state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PersistedBreaker {
    /// Failed attempts in a row.
    pub consecutive_failures: u32,
    /// End of the current backoff, if open.
    pub open_until: Option<DateTime<Utc>>,
    /// How many times it has opened, ever.
    pub times_opened: u32,
    /// The last failure's message (secrets never reach it).
    pub last_error: Option<String>,
    /// An attempt that has started and has no outcome yet. Written before its request
    /// goes out, cleared with its outcome; found at load, the attempt was cut off (the
    /// process ended first) and counts as failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_flight: Option<InFlight>,
}

/// An attempt in flight, as persisted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct InFlight {
    /// When it started.
    pub since: DateTime<Utc>,
    /// Whether it was the single probe after a backoff (a cut-off probe re-opens).
    pub probe: bool,
}
