//! The filter's integration tests, one binary made of modules: properties over generated
//! input, realistic log lines, and robustness against hostile input.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod properties;
mod realistic_lines;
mod robustness;
