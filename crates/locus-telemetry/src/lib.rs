//! Fail-open runtime telemetry for Locus (being written).
pub mod breaker;
pub mod crash;
pub mod dispatch;
mod layer;
pub mod privacy;
pub mod record;
pub mod recorder;
pub mod settings;
pub mod sink;
mod telemetry;
pub mod worker;

pub use layer::TelemetryLayer;
pub use settings::Settings;
pub use telemetry::{ShutdownReport, Status, Telemetry};
