//! Locus telemetry (being written).
pub mod record;
pub mod sink;
