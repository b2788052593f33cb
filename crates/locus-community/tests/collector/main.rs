//! The collector's integration tests, one binary made of modules: ingest, aggregates and
//! the read API against SQLite and PostgreSQL, and the dashboard in headless Chromium.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

#[macro_use]
mod common;
mod dashboard_browser;
mod deletion;
mod hangs;
mod ingest;
mod instances;
mod outage;
mod proxy;
mod retention;
mod rollups;
mod sybils;
mod templates;
