//! The verbosity request, `verbosity.json`: a raised log level and until when.

use crate::record::Level;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The request file `verbosity.json`, as the tools write it and the app reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerbosityRequest {
    /// `trace`, `debug` or `info` (back to the default).
    pub level: Level,
    /// When the raise ends (the app caps it at the file's time plus [`crate::MAX_VERBOSITY_RAISE`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
    /// Who wrote it (`app`, `locus-diag`, …), for people reading the file.
    #[serde(default)]
    pub set_by: String,
}
