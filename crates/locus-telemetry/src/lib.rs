//! Locus telemetry (to be written).
