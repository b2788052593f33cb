//! The session marker, `session.json`: how the last session ended, for the next start.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The session marker, `session.json` in the data dir (read it through
/// [`crate::data_dir::DataDir::session_marker`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionMarker {
    /// The session's id (also in its ring records).
    pub session_id: String,
    /// The sequence number of its start record.
    pub start_seq: u64,
    /// The process that ran it.
    pub pid: u32,
    /// The app version it ran.
    pub app_version: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Whether it shut down cleanly.
    pub clean_exit: bool,
    /// Crashes (caught panics in worker threads) seen before a clean exit.
    #[serde(default)]
    pub crashes: u64,
}
