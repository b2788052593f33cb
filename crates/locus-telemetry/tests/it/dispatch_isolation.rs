//! A worker that dies outside the upload boundary (a bug in the worker itself) is
//! recorded, releases `flush`, and leaves the app recording.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use locus_telemetry::record::{Body, Level};
use locus_telemetry::sink::{DiagnosticsSink, SinkFuture};
use locus_telemetry::{Settings, Telemetry};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct BrokenSink;

impl DiagnosticsSink for BrokenSink {
    fn put<'a>(&'a self, _key: &'a str, _body: Vec<u8>) -> SinkFuture<'a> {
        Box::pin(async { Ok(()) })
    }
    fn describe(&self) -> String {
        panic!("bug in the worker's own code")
    }
}

#[test]
fn a_dead_worker_is_recorded_and_never_holds_up_flush_or_the_app() {
    let dir = tempfile::tempdir().unwrap();
    let t = Telemetry::builder(Settings {
        data_dir: dir.path().into(),
        ..Settings::default()
    })
    .diagnostics_sink(Arc::new(BrokenSink))
    .start();
    let started = Instant::now();
    // Give the worker a moment to die, then flush: it must not wait for the dead worker.
    std::thread::sleep(Duration::from_millis(200));
    assert!(t.flush(Duration::from_secs(5)));
    assert!(started.elapsed() < Duration::from_secs(4));
    let seq = t.log(Level::Info, "app", "still recording", &[]);
    assert!(seq > 0);
    let recent = t.recent(20);
    assert!(
        recent.iter().any(|r| matches!(&r.body, Body::Log(l) if l.message.contains("S3 worker stopped") && l.message.contains("bug in the worker"))),
        "{recent:?}"
    );
    let report = t.shutdown(Duration::from_millis(500));
    assert!(report.took < Duration::from_secs(1));
    // The panic on the telemetry thread is not an app crash.
    drop(t);
    let t = Telemetry::start(Settings {
        data_dir: dir.path().into(),
        enable_s3_diagnostics: false,
        ..Settings::default()
    });
    assert_eq!(
        t.previous_session().outcome,
        locus_telemetry::crash::session::Outcome::Exited
    );
}
