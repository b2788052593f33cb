//! locus-diag's integration tests, one binary made of modules (as ripgrep does): each
//! module drives the built `locus-diag` as a user would. One binary links the library
//! once instead of four times.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod cli_edges;
mod cli_s3;
mod community;
mod debug_screen;
mod demo;
mod encrypted;
mod false_stories;
mod hangs;
mod hostile_text;
mod message_template;
mod redact;
mod share;
mod verdicts;
