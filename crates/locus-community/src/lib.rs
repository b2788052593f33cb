//! The opt-in community collector: receives anonymised health reports from devices,
//! stores them in SQLite or PostgreSQL, and answers "is version 1.2.0 crashing more?"
//! as JSON (`/v1/versions`) and as a server-rendered dashboard (`/`).
//!
//! The binary `locus-community` is a thin CLI over [`app::serve`].

pub mod aggregate;
pub mod api;
pub mod app;
pub mod cache;
pub mod chart;
pub mod config;
pub mod dashboard;
pub mod error;
pub mod html;
pub mod ingest;
pub mod network;
pub mod proxy;
pub mod ratelimit;
pub mod stats;
pub mod store;

pub use config::Config;
