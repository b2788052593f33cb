//! The filter's integration tests, one binary made of modules: properties over generated
//! input, realistic log lines, the categories of issue 13 (with benign lines that must
//! stay intact), Sentry Relay's PII cases as a peer suite, and robustness against
//! hostile input.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod categories;
mod properties;
mod realistic_lines;
mod redaction;
mod relay_peer;
mod robustness;
