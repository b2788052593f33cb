//! The transport seam (issue 21): an app-supplied `Transport` that never returns cannot
//! hold up the app or shutdown, is called once however many rounds follow (one stuck
//! thread at most), and every attempt it swallows counts for the breaker; a transport
//! that throws (panics) or answers garbage is a failed attempt like a network error. And
//! an app transport really carries the uploads: through it to SeaweedFS, signature
//! checked, objects read back.
//!
//! Counts are taken at the transport (what reached it), never from the code under test.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use crate::common;

use locus_telemetry::breaker::ManualClock;
use locus_telemetry::sink::s3::{decode_batch, Destination, DiagnosticsStore, S3Options};
use locus_telemetry::transport::{
    DefaultTransport, HttpRequest, HttpResponse, Method, Transport, TransportError,
};
use locus_telemetry::worker::DestinationStatus;
use locus_telemetry::{FieldValue, Level, Telemetry};
use locus_testkit::seaweed::SeaweedS3;
use locus_testkit::wait_until;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

/// Slack over a promised deadline: thread wake-ups on a loaded 2-core VM.
const MARGIN: Duration = Duration::from_millis(300);
/// The deadline the spec names for shutdown.
const SHUTDOWN: Duration = Duration::from_millis(500);
/// Long enough for a round against a transport that never answers (attempt 1 s + 1 s
/// grace for the retention call; the uploads then fail at once).
const ROUND: Duration = Duration::from_secs(10);

/// Never answers until the test lets it go (dropping `release`); counts its calls.
struct Hangs {
    calls: AtomicU64,
    release: Mutex<mpsc::Receiver<()>>,
}

impl Transport for Hangs {
    fn send(&self, _req: HttpRequest) -> Result<HttpResponse, TransportError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        // Blocks until the sender is dropped at the end of the test.
        let _ = self.release.lock().unwrap().recv();
        Err(TransportError::Failed {
            message: "released".into(),
        })
    }
}

fn dest(t: &Telemetry) -> DestinationStatus {
    t.status()
        .dispatch
        .expect("dispatcher running")
        .destinations[0]
        .clone()
}

fn log_some(t: &Telemetry, n: usize) {
    for i in 0..n {
        t.log(
            Level::Info,
            "locus::gps",
            "gps fix",
            &[("i", FieldValue::U64(i as u64))],
        );
    }
}

#[test]
fn a_transport_that_never_returns_holds_up_nothing_and_is_called_once() {
    let dir = tempfile::tempdir().unwrap();
    let (keep, release) = mpsc::channel::<()>();
    let hangs = Arc::new(Hangs {
        calls: AtomicU64::new(0),
        release: Mutex::new(release),
    });
    let t = Telemetry::builder(common::loopback_settings(
        "seam-hang",
        "http://127.0.0.1:9",
        dir.path(),
    ))
    .clock(Arc::new(ManualClock::new()))
    .transport(hangs.clone())
    .start();

    // Round 1: the retention call reaches the transport and never comes back; the
    // upload that follows is refused at once (the transport is stuck), and counted.
    log_some(&t, 20);
    let _ = t.flush(ROUND);
    assert!(
        wait_until(ROUND, || dest(&t).uploads_failed >= 1),
        "the first upload never failed: {:?}",
        dest(&t)
    );
    let first = dest(&t);
    assert_eq!(hangs.calls.load(Ordering::SeqCst), 1, "{first:?}");
    assert!(
        first.breaker.consecutive_failures >= 2,
        "the stuck retention call and the refused upload attempts count: {first:?}"
    );
    assert!(
        first
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("stuck") || e.contains("timed out")),
        "{first:?}"
    );

    // Round 2: more records, another flush: still one call in the transport.
    log_some(&t, 20);
    let _ = t.flush(ROUND);
    assert!(
        wait_until(ROUND, || dest(&t).uploads_failed >= 2),
        "the second upload never failed: {:?}",
        dest(&t)
    );
    let second = dest(&t);
    assert_eq!(
        hangs.calls.load(Ordering::SeqCst),
        1,
        "a second round started a second call into a stuck transport: {second:?}"
    );
    assert!(
        second.breaker.consecutive_failures > first.breaker.consecutive_failures,
        "the second round's attempts count for the breaker: {second:?}"
    );

    // The app is not held up: recording goes on, and shutdown keeps its deadline.
    log_some(&t, 5);
    let report = t.shutdown(SHUTDOWN);
    assert!(
        report.took <= SHUTDOWN + MARGIN,
        "shutdown(500 ms) took {:?} with the transport stuck",
        report.took
    );
    assert_eq!(hangs.calls.load(Ordering::SeqCst), 1);
    drop(keep); // lets the stuck thread go
}

/// Panics on every call.
struct Panics(AtomicU64);

impl Transport for Panics {
    fn send(&self, _req: HttpRequest) -> Result<HttpResponse, TransportError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        panic!("the platform's HTTP stack threw");
    }
}

/// Answers an impossible status.
struct Garbage(AtomicU64);

impl Transport for Garbage {
    fn send(&self, _req: HttpRequest) -> Result<HttpResponse, TransportError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(HttpResponse {
            status: 0,
            headers: vec![("\u{0}".into(), "\u{ffff}".into())],
            body: vec![0xff; 17],
        })
    }
}

#[test]
fn a_transport_that_throws_or_answers_garbage_is_a_counted_failure() {
    let panics = Arc::new(Panics(AtomicU64::new(0)));
    let garbage = Arc::new(Garbage(AtomicU64::new(0)));
    let (p, g) = (panics.clone(), garbage.clone());
    type Calls = Box<dyn Fn() -> u64>;
    let cases: [(&str, Arc<dyn Transport>, &str, Calls); 2] = [
        (
            "throws",
            panics,
            "panicked",
            Box::new(move || p.0.load(Ordering::SeqCst)),
        ),
        (
            "garbage",
            garbage,
            "impossible HTTP status",
            Box::new(move || g.0.load(Ordering::SeqCst)),
        ),
    ];
    for (name, transport, why, calls) in cases {
        let dir = tempfile::tempdir().unwrap();
        let t = Telemetry::builder(common::loopback_settings(
            &format!("seam-{name}"),
            "http://127.0.0.1:9",
            dir.path(),
        ))
        .clock(Arc::new(ManualClock::new()))
        .transport(transport)
        .start();
        log_some(&t, 20);
        let _ = t.flush(ROUND);
        assert!(
            wait_until(ROUND, || dest(&t).uploads_failed >= 1),
            "{name}: the upload never failed: {:?}",
            dest(&t)
        );
        let d = dest(&t);
        // The retention call, then two attempts per failed upload (one upload, or two
        // when the round at start came before the logs): each one a failure.
        assert_eq!(d.attempts, 1 + 2 * d.uploads_failed, "{name}: {d:?}");
        assert_eq!(
            u64::from(d.breaker.consecutive_failures),
            d.attempts,
            "{name}: {d:?}"
        );
        assert_eq!(
            calls(),
            d.attempts,
            "{name}: every attempt reached the transport once"
        );
        assert!(
            d.last_error.as_deref().is_some_and(|e| e.contains(why)),
            "{name}: {d:?}"
        );
        log_some(&t, 1); // the app goes on
        let report = t.shutdown(SHUTDOWN);
        assert!(
            report.took <= SHUTDOWN + MARGIN,
            "{name}: {:?}",
            report.took
        );
    }
}

/// The built-in transport, counting what it carries: an app transport in all but name.
struct Counting {
    inner: DefaultTransport,
    puts: AtomicU64,
}

impl Transport for Counting {
    fn send(&self, req: HttpRequest) -> Result<HttpResponse, TransportError> {
        if req.method == Method::Put && !req.url.contains("lifecycle") {
            self.puts.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.send(req)
    }
}

#[test]
fn an_app_transport_carries_signed_uploads_to_seaweedfs() {
    let s3 = SeaweedS3::shared();
    let bucket = "seam-app-transport";
    s3.create_bucket(bucket);
    let dir = tempfile::tempdir().unwrap();
    let counting = Arc::new(Counting {
        inner: DefaultTransport::new(None).unwrap(),
        puts: AtomicU64::new(0),
    });
    let mut settings = common::loopback_settings("seam-app", s3.endpoint(), dir.path());
    settings.destination = Some(format!("s3://{bucket}"));
    settings.s3_access_key_id = s3.var("AWS_ACCESS_KEY_ID");
    settings.s3_secret_access_key = s3.var("AWS_SECRET_ACCESS_KEY");
    let t = Telemetry::builder(settings)
        .clock(Arc::new(ManualClock::new()))
        .transport(counting.clone())
        .start();
    t.log(
        Level::Info,
        "locus::gps",
        "through the app's transport",
        &[],
    );
    assert!(t.flush(ROUND), "{:?}", dest(&t));
    assert!(dest(&t).uploads_ok >= 1, "{:?}", dest(&t));
    assert!(counting.puts.load(Ordering::SeqCst) >= 1);
    t.shutdown(SHUTDOWN);

    let opts = S3Options::default().or_vars(|k| s3.var(k));
    let dest = Destination::parse(&format!("s3://{bucket}")).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let texts: Vec<String> = rt.block_on(async {
        let store = DiagnosticsStore::open(&dest, &opts).await.unwrap();
        let mut texts = Vec::new();
        for o in store.list(None).await.unwrap() {
            for r in decode_batch(&store.get(&o.key).await.unwrap()).unwrap() {
                if let locus_telemetry::record::Body::Log(l) = r.body {
                    texts.push(l.message);
                }
            }
        }
        texts
    });
    assert!(
        texts.iter().any(|m| m == "through the app's transport"),
        "{texts:?}"
    );
}
