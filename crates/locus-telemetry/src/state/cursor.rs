//! An upload cursor, `cursor-<destination>.json`: the last record shipped.

use serde::{Deserialize, Serialize};

/// The persisted cursor, `cursor-<destination>.json` in the data dir (read it through
/// [`crate::data_dir::DataDir::cursor`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CursorState {
    /// The last sequence number shipped to the destination.
    pub last_shipped_seq: u64,
}
