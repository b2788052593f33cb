//! The hot path, side by side with its peers in one run: one GPS-fix event (message and
//! three fields) through
//! - our direct API into the mapped ring file,
//! - `tracing::info!` with our layer,
//! - `tracing::info!` with `tracing-subscriber`'s fmt layer writing through
//!   `tracing-appender::non_blocking` to a file,
//! - `sentry::add_breadcrumb` with a client whose transport drops envelopes,
//! - and our direct API with two threads recording at once (time per record per thread);
//!
//! - and, beside them, `watch_beat`: the hang watchdog's `Watch::beat()` (issue 22:
//!   one relaxed atomic store of a flag, no clock read; target ≤ 5 ns);
//!
//! and, in the group `verbosity`, what a level the recorder filters out costs against one
//! it records (issue 14: filtering must cost less than recording): a `debug` line at the
//! default `info` verbosity vs the same line at `info`, through `Telemetry::log` and
//! through `tracing` with our layer; and, in the group `front_door`, what the public
//! call's guards add to the recorder's own `log` (issue 18).
//!
//! `cargo bench -p locus-telemetry --bench hot_path`

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // bench code; criterion's macros make undocumented fns

use criterion::{criterion_group, criterion_main, Criterion};
use locus_telemetry::record::Level;
use locus_telemetry::recorder::{FieldValue, FlightRecorder};
use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};
use tracing_subscriber::layer::SubscriberExt;

const LAT: f64 = 52.520_008;
const LON: f64 = 13.404_954;
const ACC: f64 = 4.2;

fn ring(dir: &tempfile::TempDir) -> FlightRecorder {
    let rec = FlightRecorder::open(&dir.path().join("recorder.ring"), 1024 * 1024);
    assert!(
        rec.status().file_backed(),
        "bench must measure the mapped file"
    );
    rec
}

fn record_direct(rec: &FlightRecorder) {
    rec.log(
        Level::Info,
        "locus::gps",
        "gps fix",
        &[
            ("lat", FieldValue::F64(black_box(LAT))),
            ("lon", FieldValue::F64(black_box(LON))),
            ("accuracy_m", FieldValue::F64(black_box(ACC))),
        ],
    );
}

fn tracing_event() {
    tracing::info!(
        target: "locus::gps",
        lat = black_box(LAT),
        lon = black_box(LON),
        accuracy_m = black_box(ACC),
        "gps fix"
    );
}

struct DropTransport;
impl sentry::Transport for DropTransport {
    fn send_envelope(&self, envelope: sentry::Envelope) {
        drop(black_box(envelope));
    }
}

fn hot_path(c: &mut Criterion) {
    let mut g = c.benchmark_group("hot_path");

    let dir = tempfile::tempdir().unwrap();
    let rec = ring(&dir);
    g.bench_function("locus_direct", |b| b.iter(|| record_direct(&rec)));

    // The watched loop's beat, beside the log line it usually comes with. The keeper
    // calibrates the TSC within milliseconds of the ring's open; criterion's warm-up is
    // longer, so the measured beat is the calibrated one where the TSC is trusted.
    let watch = rec
        .watch("tracking", Duration::from_millis(500))
        .expect("one watch is allowed");
    g.bench_function("watch_beat", |b| b.iter(|| black_box(&watch).beat()));

    let layer_dir = tempfile::tempdir().unwrap();
    let layer_rec = ring(&layer_dir);
    let subscriber =
        tracing_subscriber::registry().with(locus_telemetry::TelemetryLayer::new(layer_rec));
    tracing::subscriber::with_default(subscriber, || {
        g.bench_function("locus_tracing_layer", |b| b.iter(tracing_event));
    });

    let log_dir = tempfile::tempdir().unwrap();
    let appender = tracing_appender::rolling::never(log_dir.path(), "bench.log");
    let (writer, _flush_guard) = tracing_appender::non_blocking(appender);
    let subscriber = tracing_subscriber::registry().with(
        tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .with_ansi(false),
    );
    tracing::subscriber::with_default(subscriber, || {
        g.bench_function("tracing_fmt_appender_nonblocking", |b| {
            b.iter(tracing_event)
        });
    });

    let client = Arc::new(sentry::Client::from(sentry::ClientOptions {
        dsn: "https://public@sentry.invalid/1".parse().ok(),
        transport: Some(Arc::new(|_: &sentry::ClientOptions| {
            Arc::new(DropTransport) as Arc<dyn sentry::Transport>
        })),
        max_breadcrumbs: 100,
        ..Default::default()
    }));
    let hub = Arc::new(sentry::Hub::new(
        Some(client),
        Arc::new(sentry::Scope::default()),
    ));
    sentry::Hub::run(hub, || {
        g.bench_function("sentry_breadcrumb", |b| {
            b.iter(|| {
                let mut data = sentry::protocol::Map::new();
                data.insert("lat".into(), black_box(LAT).into());
                data.insert("lon".into(), black_box(LON).into());
                data.insert("accuracy_m".into(), black_box(ACC).into());
                sentry::add_breadcrumb(sentry::Breadcrumb {
                    category: Some("locus::gps".into()),
                    message: Some("gps fix".into()),
                    level: sentry::Level::Info,
                    data,
                    ..Default::default()
                });
            })
        });
    });

    // Two writers at once: each thread records `iters` records; the time reported is the
    // wall time over `iters`, i.e. the cost of one record per thread under contention.
    let two_dir = tempfile::tempdir().unwrap();
    let two = ring(&two_dir);
    g.bench_function("locus_direct_two_threads", |b| {
        b.iter_custom(|iters| {
            let barrier = Arc::new(Barrier::new(3));
            let handles: Vec<_> = (0..2)
                .map(|_| {
                    let rec = two.clone();
                    let barrier = barrier.clone();
                    std::thread::spawn(move || {
                        barrier.wait();
                        for _ in 0..iters {
                            record_direct(&rec);
                        }
                    })
                })
                .collect();
            barrier.wait();
            let start = Instant::now();
            for h in handles {
                h.join().unwrap();
            }
            start.elapsed()
        })
    });
    g.finish();
}

fn fix_fields() -> [(&'static str, FieldValue<'static>); 3] {
    [
        ("lat", FieldValue::F64(black_box(LAT))),
        ("lon", FieldValue::F64(black_box(LON))),
        ("accuracy_m", FieldValue::F64(black_box(ACC))),
    ]
}

fn verbosity(c: &mut Criterion) {
    let mut g = c.benchmark_group("verbosity");
    let dir = tempfile::tempdir().unwrap();
    let t = locus_telemetry::Telemetry::start(locus_telemetry::Settings {
        data_dir: dir.path().to_path_buf(),
        enable_s3_diagnostics: false,
        ring_bytes: 1024 * 1024,
        ..Default::default()
    });
    assert_eq!(
        t.verbosity().level,
        Level::Info,
        "the default filters debug"
    );
    g.bench_function("log_debug_filtered", |b| {
        b.iter(|| t.log(Level::Debug, "locus::gps", "gps fix", &fix_fields()))
    });
    g.bench_function("log_info_recorded", |b| {
        b.iter(|| t.log(Level::Info, "locus::gps", "gps fix", &fix_fields()))
    });
    let subscriber = tracing_subscriber::registry().with(t.layer());
    tracing::subscriber::with_default(subscriber, || {
        g.bench_function("tracing_debug_filtered", |b| {
            b.iter(|| {
                tracing::debug!(
                    target: "locus::gps",
                    lat = black_box(LAT),
                    lon = black_box(LON),
                    accuracy_m = black_box(ACC),
                    "gps fix"
                )
            })
        });
        g.bench_function("tracing_info_recorded", |b| b.iter(tracing_event));
    });
    g.finish();
    t.shutdown(Duration::from_millis(500));
}

/// What the front door adds to a record (issue 18: the `catch_unwind` guard every
/// recording call runs in, the fork check, the verbosity check): `Telemetry::log` against
/// the recorder's own `log` into a ring of the same size, side by side.
fn front_door(c: &mut Criterion) {
    let mut g = c.benchmark_group("front_door");
    let dir = tempfile::tempdir().unwrap();
    let rec = ring(&dir);
    g.bench_function("recorder_log", |b| b.iter(|| record_direct(&rec)));
    // The guard alone, around the same call into the same ring.
    g.bench_function("recorder_log_in_catch_unwind", |b| {
        b.iter(|| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| record_direct(&rec)))
                .unwrap_or(())
        })
    });
    let t = locus_telemetry::Telemetry::start(locus_telemetry::Settings {
        data_dir: dir.path().join("app"),
        enable_s3_diagnostics: false,
        ring_bytes: 1024 * 1024,
        ..Default::default()
    });
    // The fields built inline, as `record_direct` builds them (through `fix_fields()`
    // the same call measures ~15 ns more, for the helper, not for the door).
    g.bench_function("telemetry_log_guarded", |b| {
        b.iter(|| {
            t.log(
                Level::Info,
                "locus::gps",
                "gps fix",
                &[
                    ("lat", FieldValue::F64(black_box(LAT))),
                    ("lon", FieldValue::F64(black_box(LON))),
                    ("accuracy_m", FieldValue::F64(black_box(ACC))),
                ],
            )
        })
    });
    g.finish();
    t.shutdown(Duration::from_millis(500));
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_secs(1));
    targets = hot_path, verbosity, front_door
}
criterion_main!(benches);
