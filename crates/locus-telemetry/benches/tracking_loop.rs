//! The tracking loop of `locus-diag demo` (a GPS fix logged through `tracing` with the
//! `TelemetryLayer`, a histogram and a counter per iteration, a gauge every 100) in these
//! configurations in one run: telemetry off (no subscriber, no `Telemetry`), a bare
//! `tracing` registry that records nothing (what `tracing` costs once anyone listens),
//! the recorder alone (uploads disabled), a healthy S3 (SeaweedFS), and S3 hung (a loopback server
//! that accepts and never answers). Uploads run every second, so they really happen
//! during the loop.
//!
//! Two loops per configuration: paced at 100 Hz for a few seconds (as the app runs), and
//! unthrottled for a fixed number of iterations (worst case for the hot path).
//!
//! For the paced loop an iteration's time is its period, start to next start, as the app
//! lives it (the 5 % target applies here): p50 / p99 / max and p99 relative to telemetry
//! off, iterations late by more than 1 ms; and, apart, the body's time (the work without
//! the sleep) with the microseconds telemetry adds to it. For the unthrottled loop an
//! iteration is the body alone: p50 / p99 / max, ratio and stalls over 1 ms. Printed as
//! two markdown tables.
//!
//! `cargo bench -p locus-telemetry --bench tracking_loop` (needs `weed`: `bash
//! scripts/seaweedfs.sh`). A custom main, not criterion: we need tail latencies of one
//! long run, not means of many short ones. Takes about two minutes.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // bench code; criterion's macros make undocumented fns

use locus_telemetry::{Settings, Telemetry};
use locus_testkit::faults::{FaultServer, Mode};
use locus_testkit::seaweed::SeaweedS3;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};
use tracing_subscriber::layer::SubscriberExt;

const HZ: u32 = 100;
const PACED_SECONDS: u32 = 20;
const UNTHROTTLED_ITERATIONS: usize = 1_000_000;
/// The configuration with a bare `tracing` registry and no telemetry.
const NO_OP_SUBSCRIBER: &str = "tracing registry only, no telemetry";
const STALL: Duration = Duration::from_millis(1);
const PERIOD: Duration = Duration::from_millis(1000 / HZ as u64);

/// The demo's deterministic random walk.
struct Walk(u64);
impl Walk {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

struct Fix {
    rng: Walk,
    lat: f64,
    lon: f64,
    battery: f64,
}

impl Fix {
    fn new() -> Fix {
        Fix {
            rng: Walk(0x9E37_79B9_7F4A_7C15),
            lat: 52.520008,
            lon: 13.404954,
            battery: 96.0,
        }
    }

    /// One iteration of the demo's loop body (same events, same fields).
    #[inline(always)]
    fn iterate(&mut self, i: usize, telemetry: Option<&Telemetry>) {
        let rng = &mut self.rng;
        self.lat += (rng.next() - 0.5) * 1e-4;
        self.lon += (rng.next() - 0.5) * 1e-4;
        let accuracy = 3.0 + rng.next() * 9.0;
        let speed = rng.next() * 14.0;
        let (lat, lon) = (self.lat, self.lon);
        tracing::info!(
            lat,
            lon,
            accuracy_m = accuracy,
            speed_mps = speed,
            "gps fix"
        );
        let latency = 4.0 + rng.next() * 20.0;
        if let Some(t) = telemetry {
            t.histogram("fix_latency_ms", latency);
            t.counter("fixes", 1);
        }
        if i.is_multiple_of(100) {
            self.battery -= 0.05;
            if let Some(t) = telemetry {
                t.gauge("battery_pct", self.battery);
            }
            tracing::debug!(battery_pct = self.battery, charging = false, "battery");
        }
        black_box(latency);
    }
}

#[derive(Clone, Copy)]
struct Stats {
    p50: Duration,
    p99: Duration,
    max: Duration,
    stalls: usize,
    /// Paced loop only: period p50, p99, max and periods late by more than `STALL`.
    period: Option<(Duration, Duration, Duration, usize)>,
}

fn stats(mut samples: Vec<Duration>, periods: Option<Vec<Duration>>) -> Stats {
    samples.sort_unstable();
    let at = |s: &[Duration], q: f64| s[((s.len() as f64 - 1.0) * q).round() as usize];
    let period = periods.map(|mut p| {
        p.sort_unstable();
        let late = p.iter().filter(|d| **d > PERIOD + STALL).count();
        (at(&p, 0.5), at(&p, 0.99), *p.last().unwrap(), late)
    });
    Stats {
        p50: at(&samples, 0.5),
        p99: at(&samples, 0.99),
        max: *samples.last().unwrap(),
        stalls: samples.iter().filter(|d| **d > STALL).count(),
        period,
    }
}

fn paced(telemetry: Option<&Telemetry>) -> Stats {
    let period = PERIOD;
    let n = (PACED_SECONDS * HZ) as usize;
    let mut fix = Fix::new();
    let mut samples = Vec::with_capacity(n);
    let mut periods = Vec::with_capacity(n);
    let start = Instant::now();
    let mut last = start;
    for i in 0..n {
        let t0 = Instant::now();
        if i > 0 {
            periods.push(t0 - last);
        }
        last = t0;
        fix.iterate(i, telemetry);
        samples.push(t0.elapsed());
        let next = start + period * (i as u32 + 1);
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    stats(samples, Some(periods))
}

fn unthrottled(telemetry: Option<&Telemetry>) -> Stats {
    let mut fix = Fix::new();
    let mut samples = Vec::with_capacity(UNTHROTTLED_ITERATIONS);
    for i in 0..UNTHROTTLED_ITERATIONS {
        let t0 = Instant::now();
        fix.iterate(i, telemetry);
        samples.push(t0.elapsed());
    }
    stats(samples, None)
}

fn settings(dir: &Path) -> Settings {
    Settings {
        data_dir: dir.to_path_buf(),
        device_id: Some("bench-device".into()),
        app_version: "1.2.0".into(),
        upload_interval_secs: 1,
        attempt_timeout_secs: 2,
        s3_path_style: true,
        s3_region: Some("us-east-1".into()),
        ..Settings::default()
    }
}

struct Row {
    config: &'static str,
    loop_kind: &'static str,
    stats: Stats,
    uploads: String,
}

/// Runs both loops with `telemetry` (None = off) and a layer when on.
fn run(config: &'static str, telemetry: Option<&Telemetry>, rows: &mut Vec<Row>) {
    let dispatch = match telemetry {
        Some(t) => tracing::Dispatch::new(tracing_subscriber::registry().with(t.layer())),
        None if config == NO_OP_SUBSCRIBER => {
            tracing::Dispatch::new(tracing_subscriber::registry())
        }
        None => tracing::Dispatch::none(),
    };
    let describe = |t: Option<&Telemetry>| match t.and_then(|t| t.status().dispatch) {
        Some(d) => {
            let s = &d.destinations[0];
            format!(
                "{} ok / {} failed / {} attempts, breaker {}",
                s.uploads_ok,
                s.uploads_failed,
                s.attempts,
                s.breaker.state.as_str()
            )
        }
        None => "—".into(),
    };
    tracing::dispatcher::with_default(&dispatch, || {
        let before = describe(telemetry);
        let s = paced(telemetry);
        rows.push(Row {
            config,
            loop_kind: "100 Hz",
            stats: s,
            uploads: format!("{before} → {}", describe(telemetry)),
        });
        let before = describe(telemetry);
        let s = unthrottled(telemetry);
        rows.push(Row {
            config,
            loop_kind: "unthrottled",
            stats: s,
            uploads: format!("{before} → {}", describe(telemetry)),
        });
    });
}

fn us(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e6)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing special: run
    // a tiny smoke version then, so the test build stays quick.
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--bench") {
        println!("tracking_loop: run with `cargo bench --bench tracking_loop`");
        return;
    }
    let total = Instant::now();
    let mut rows = Vec::new();
    // For profiling one case (`perf record`): only the recorder-only 100 Hz loop.
    if std::env::var("LOCUS_BENCH_ONLY").as_deref() == Ok("recorder-paced") {
        let dir = tempfile::tempdir().unwrap();
        let t = Telemetry::start(Settings {
            enable_s3_diagnostics: false,
            ..settings(dir.path())
        });
        let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(t.layer()));
        let s = tracing::dispatcher::with_default(&dispatch, || paced(Some(&t)));
        println!(
            "recorder only, 100 Hz: p50 {} µs, p99 {} µs",
            us(s.p50),
            us(s.p99)
        );
        return;
    }

    eprintln!("telemetry off…");
    run("telemetry off", None, &mut rows);
    // What `tracing` itself costs once any subscriber listens, before we record anything.
    eprintln!("a tracing subscriber that records nothing…");
    run(NO_OP_SUBSCRIBER, None, &mut rows);

    // The recorder alone (uploads disabled): separates the hot path's own cost from
    // anything the upload thread does.
    let dir = tempfile::tempdir().unwrap();
    let t = Telemetry::start(Settings {
        enable_s3_diagnostics: false,
        ..settings(dir.path())
    });
    eprintln!("recorder only…");
    run("recorder only (no uploads)", Some(&t), &mut rows);
    t.shutdown(Duration::from_millis(500));
    drop(t);

    eprintln!("starting SeaweedFS…");
    let s3 = SeaweedS3::start();
    let bucket = s3.unique_bucket("tracking-loop");
    let dir = tempfile::tempdir().unwrap();
    let t = Telemetry::start(Settings {
        destination: Some(format!("s3://{bucket}")),
        s3_endpoint: Some(s3.endpoint().to_owned()),
        s3_region: Some(s3.region().to_owned()),
        s3_access_key_id: Some(s3.access_key().to_owned()),
        s3_secret_access_key: Some(s3.secret_key().to_owned()),
        ..settings(dir.path())
    });
    eprintln!("healthy S3…");
    run("healthy S3", Some(&t), &mut rows);
    let healthy_shutdown = t.shutdown(Duration::from_millis(500));
    drop(t);

    let hung = FaultServer::start(Mode::Hang);
    let dir = tempfile::tempdir().unwrap();
    let t = Telemetry::start(Settings {
        destination: Some("s3://hung-bucket".into()),
        s3_endpoint: Some(hung.endpoint()),
        s3_access_key_id: Some("AKIDBENCH".into()),
        s3_secret_access_key: Some("bench-secret".into()),
        ..settings(dir.path())
    });
    eprintln!("S3 hung…");
    run("S3 hung", Some(&t), &mut rows);
    let hung_shutdown = t.shutdown(Duration::from_millis(500));
    let hung_requests = hung.attempts();
    drop(t);
    drop(s3);

    let off = |kind: &str| {
        rows.iter()
            .find(|o| o.config == "telemetry off" && o.loop_kind == kind)
            .map(|o| o.stats)
            .expect("telemetry off ran")
    };
    let ms = |d: Duration| format!("{:.3}", d.as_secs_f64() * 1e3);
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-9);

    println!();
    println!("100 Hz loop ({} iterations): an iteration is its period, start to next start; the body is the work without the sleep.", PACED_SECONDS * HZ);
    println!();
    println!(
        "| configuration | period p50 ms | period p99 ms | period max ms | p99 / off | late > 1 ms | body p50 µs | body p99 µs | body max µs | added at p99 µs | body stalls > 1 ms | uploads during the loop |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    let base = off("100 Hz");
    let (_, base_p99, _, _) = base.period.expect("paced");
    for r in rows.iter().filter(|r| r.loop_kind == "100 Hz") {
        let s = r.stats;
        let (p50, p99, max, late) = s.period.expect("paced");
        println!(
            "| {} | {} | {} | {} | {:.3}× | {} | {} | {} | {} | {:+.2} | {} | {} |",
            r.config,
            ms(p50),
            ms(p99),
            ms(max),
            ratio(p99, base_p99),
            late,
            us(s.p50),
            us(s.p99),
            us(s.max),
            (s.p99.as_secs_f64() - base.p99.as_secs_f64()) * 1e6,
            s.stalls,
            r.uploads
        );
    }
    println!();
    println!(
        "Unthrottled loop ({UNTHROTTLED_ITERATIONS} iterations): an iteration is the body alone."
    );
    println!();
    println!("| configuration | p50 µs | p99 µs | max µs | p99 / off | stalls > 1 ms | uploads during the loop |");
    println!("|---|---:|---:|---:|---:|---:|---|");
    let base = off("unthrottled");
    for r in rows.iter().filter(|r| r.loop_kind == "unthrottled") {
        let s = r.stats;
        println!(
            "| {} | {} | {} | {} | {:.2}× | {} | {} |",
            r.config,
            us(s.p50),
            us(s.p99),
            us(s.max),
            ratio(s.p99, base.p99),
            s.stalls,
            r.uploads
        );
    }
    println!();
    println!(
        "shutdown(500 ms): healthy {:?} (finished: {}), hung {:?} (finished: {}); requests at the hung server: {hung_requests}; total bench time {:.0} s",
        healthy_shutdown.took,
        healthy_shutdown.dispatcher_finished,
        hung_shutdown.took,
        hung_shutdown.dispatcher_finished,
        total.elapsed().as_secs_f64()
    );
}
