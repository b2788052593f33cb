//! locus-telemetry's integration tests, one binary made of modules (as ripgrep does): it
//! links the library and aws-sdk-s3 once instead of ten times. Tests that re-run this
//! binary as a child name themselves by their full path (`module::test`).
//!
//! Three stay binaries of their own because they observe the whole process: `crash`
//! (the panic hook and fatal-signal handlers), `recorder` (counts the process's keeper
//! threads) and `fault_outage` (measures the process's RSS over a simulated day).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

#[path = "../common/mod.rs"]
mod common;

mod dispatch_community;
mod dispatch_community_shutdown;
mod dispatch_isolation;
mod dispatch_s3;
mod drill;
mod encrypted_upload;
mod fail_open;
mod false_stories;
mod fault_community;
mod fault_disk;
mod fault_drill;
mod fault_short_sessions;
mod foreign_runtime;
mod front;
mod hostile_disk;
mod layer;
mod redaction;
mod s3_file_store;
mod s3_store;
mod share;
mod start;
mod transport_seam;
mod transport_tls;
mod watchdog;
