//! The parts [`Telemetry::builder`](crate::Telemetry::builder) can substitute, for tests
//! and embedders: the circuit breakers' clock and either destination's transport.
//!
//! ```
//! use locus_telemetry::testing::{DiagnosticsSink, SinkError, SinkFuture};
//! use std::sync::{Arc, Mutex};
//!
//! /// Keeps every uploaded object in memory.
//! #[derive(Default)]
//! struct Memory(Mutex<Vec<(String, Vec<u8>)>>);
//!
//! impl DiagnosticsSink for Memory {
//!     fn put<'a>(&'a self, key: &'a str, body: Vec<u8>) -> SinkFuture<'a> {
//!         self.0.lock().unwrap().push((key.to_owned(), body));
//!         Box::pin(async { Ok(()) })
//!     }
//!     fn describe(&self) -> String {
//!         "memory".into()
//!     }
//! }
//!
//! # let dir = tempfile::tempdir().unwrap();
//! let sink = Arc::new(Memory::default());
//! let t = locus_telemetry::Telemetry::builder(locus_telemetry::Settings {
//!     data_dir: dir.path().into(),
//!     ..Default::default()
//! })
//! .diagnostics_sink(sink.clone())
//! .start();
//! t.log(locus_telemetry::Level::Info, "app", "hello", &[]);
//! assert!(t.flush(std::time::Duration::from_secs(5)));
//! assert_eq!(sink.0.lock().unwrap().len(), 1);
//! # t.shutdown(std::time::Duration::from_millis(500));
//! ```

pub use crate::breaker::{Clock, ManualClock, SystemClock};
pub use crate::sink::{CommunitySink, DiagnosticsSink, SinkError, SinkFuture};
