//! What `Telemetry::start` costs the caller's thread (in an Android app: inside
//! `Application.onCreate`, the cold-start budget), side by side with `sentry::init` in
//! the same run:
//! - `start_full_ring`: a data dir whose 1 MiB ring is full (about 20,000 records of
//!   ~100 B, several laps), S3 diagnostics on (the default `file://` bucket), as an app
//!   relaunches after a long session;
//! - `start_empty_dir`: the very first launch, into a fresh data dir;
//! - `sentry_init`: `sentry::init` with a DSN and a transport that drops every envelope.
//!
//! Only the call is timed: each `shutdown` (or the sentry guard's drop) happens after the
//! clock stopped, as does waiting for start's background step (so one start's leftover
//! work never lands in the next one's time). The first start in the process, which also
//! pays for installing the crash hooks, is timed once and printed before the groups.
//!
//! `cargo bench -p locus-telemetry --bench start`

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // bench code; criterion's macros make undocumented fns

use criterion::{criterion_group, criterion_main, Criterion};
use locus_telemetry::{FieldValue, Level, Settings, Telemetry};
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const RING_BYTES: usize = 1024 * 1024;
const DEADLINE: Duration = Duration::from_secs(5);

fn settings(dir: &Path) -> Settings {
    Settings {
        data_dir: dir.to_path_buf(),
        ring_bytes: RING_BYTES,
        ..Settings::default()
    }
}

/// A data dir whose ring is full: one session's worth of GPS-fix lines, shipped.
fn full_ring() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let t = Telemetry::start(settings(dir.path()));
    let before = t.status().recorder.next_seq;
    for i in 0..20_000u64 {
        t.log(
            Level::Info,
            "locus::gps",
            "gps fix accepted into the track after filtering",
            &[
                ("lat", FieldValue::F64(52.520_008)),
                ("lon", FieldValue::F64(13.404_954)),
                ("fix", FieldValue::U64(i)),
            ],
        );
    }
    assert!(t.status().recorder.next_seq - before >= 20_000);
    t.shutdown(DEADLINE);
    let snap =
        locus_telemetry::recorder::read_ring_file(&dir.path().join("recorder.ring")).unwrap();
    assert!(
        snap.records.len() > 5_000,
        "the ring should be full: {} records",
        snap.records.len()
    );
    dir
}

/// The calling thread's CPU time: what a call cost it, without the time it spent
/// preempted (on a busy machine wall times mostly measure the neighbours).
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

thread_local! {
    static CPU: std::cell::RefCell<Vec<Duration>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Times `start` only; the rest of the telemetry's life is outside the clock.
fn timed_start(dir: &Path) -> (Duration, Telemetry) {
    let s = settings(dir);
    let cpu = thread_cpu();
    let t0 = Instant::now();
    let t = Telemetry::start(black_box(s));
    let took = t0.elapsed();
    let cpu = thread_cpu() - cpu;
    CPU.with(|c| c.borrow_mut().push(cpu));
    (took, t)
}

fn finish(t: Telemetry) {
    // Outside the clock: let the background step and the uploader settle, then end.
    let _ = t.wait_previous_session(DEADLINE);
    assert!(t.status().recorder.file_backed());
    t.shutdown(DEADLINE);
}

struct DropTransport;
impl sentry::Transport for DropTransport {
    fn send_envelope(&self, envelope: sentry::Envelope) {
        drop(black_box(envelope));
    }
}

fn sentry_options() -> sentry::ClientOptions {
    sentry::ClientOptions {
        dsn: "https://public@sentry.invalid/1".parse().ok(),
        transport: Some(Arc::new(|_: &sentry::ClientOptions| {
            Arc::new(DropTransport) as Arc<dyn sentry::Transport>
        })),
        release: Some("locus@0.0.0".into()),
        ..Default::default()
    }
}

/// Median and 90th percentile of single calls (wall time, and the caller's CPU time
/// when measured), printed beside criterion's estimates.
fn report(name: &str, samples: Vec<Duration>) {
    let cpu = CPU.with(|c| std::mem::take(&mut *c.borrow_mut()));
    let quantiles = |mut v: Vec<Duration>| {
        v.sort();
        let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e6;
        format!("median {:.1} µs, p90 {:.1} µs", at(0.5), at(0.9))
    };
    if samples.is_empty() {
        return;
    }
    let n = samples.len();
    let cpu = if cpu.is_empty() {
        String::new()
    } else {
        format!("; caller's CPU time {}", quantiles(cpu))
    };
    println!("{name}: {n} single calls, wall {}{cpu}", quantiles(samples));
}

fn start(c: &mut Criterion) {
    let full = full_ring();
    {
        let (took, t) = timed_start(full.path());
        finish(t);
        CPU.with(|c| c.borrow_mut().clear());
        println!(
            "first start in this process (full ring): {:.1} µs",
            took.as_secs_f64() * 1e6
        );
    }

    let mut g = c.benchmark_group("start");
    let mut samples = Vec::new();
    g.bench_function("start_full_ring", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let (took, t) = timed_start(full.path());
                total += took;
                samples.push(took);
                finish(t);
            }
            total
        })
    });
    report("start_full_ring", std::mem::take(&mut samples));

    g.bench_function("start_empty_dir", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let dir = tempfile::tempdir().unwrap();
                let (took, t) = timed_start(dir.path());
                total += took;
                samples.push(took);
                finish(t);
            }
            total
        })
    });
    report("start_empty_dir", std::mem::take(&mut samples));

    g.bench_function("sentry_init", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let options = sentry_options();
                let cpu = thread_cpu();
                let t0 = Instant::now();
                let guard = sentry::init(black_box(options));
                let took = t0.elapsed();
                let cpu = thread_cpu() - cpu;
                CPU.with(|c| c.borrow_mut().push(cpu));
                total += took;
                samples.push(took);
                assert!(guard.is_enabled());
                drop(guard);
            }
            total
        })
    });
    report("sentry_init", std::mem::take(&mut samples));
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(50)
        .measurement_time(Duration::from_secs(6))
        .warm_up_time(Duration::from_secs(1));
    targets = start
}
criterion_main!(benches);
