//! The S3 diagnostics worker (to be written).
