//! The isolated telemetry thread (being written).

use crate::recorder::FlightRecorder;
use crate::settings::Settings;
use std::time::Duration;

/// The dispatcher's view for `status()`.
#[derive(Debug, Clone, Default)]
pub struct DispatchStatus {}

impl DispatchStatus {
    /// Lines for a summary.
    pub fn summary_lines(&self) -> Vec<String> {
        Vec::new()
    }
}

/// The telemetry thread.
pub(crate) struct Dispatcher {}

impl Dispatcher {
    pub fn start(
        _s: &Settings,
        _r: &FlightRecorder,
        _d: &str,
        _p: &mut Vec<String>,
    ) -> Option<Dispatcher> {
        None
    }
    pub fn status(&self) -> DispatchStatus {
        DispatchStatus {}
    }
    pub fn flush(&self, _d: Duration) -> bool {
        true
    }
    pub fn shutdown(&self, _d: Duration) -> bool {
        true
    }
}
