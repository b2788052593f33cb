//! Gzip throughput (MB/s of JSON Lines in) and compression ratio of `encode_batch` on a
//! realistic ~1 MiB batch: GPS fix logs with fields, sync logs, health metrics, and one
//! crash tombstone — what a phone ships after a few minutes of tracking. Compares gzip
//! levels 1 (fast), 6 (flate2's default, what `encode_batch` uses) and 9 (best), and
//! measures `decode_batch` too.
//!
//! Group `age_upload` (issue 22): the cost per upload of encrypting to the user's key —
//! `encode_batch` alone against `encode_batch` + `encrypt_body` (one X25519 recipient,
//! what `diagnostics_recipients` does), on the 1 MiB batch and a small 16 KiB one; the
//! sizes are printed first. Single-threaded, so time is CPU time.
//!
//! Run: `cargo bench -p locus-telemetry --bench gzip_batch` (prints the ratios first).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // bench code; criterion's macros make undocumented fns

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use locus_telemetry::record::{
    Body, CrashKind, Level, LogRecord, MetricKind, MetricSample, Record, Tombstone,
};
use locus_telemetry::sink::s3::{
    decode_batch, encode_batch, encode_batch_with_level, encrypt_body, Recipients,
};
use std::hint::black_box;
use std::time::Duration;

/// Deterministic pseudo-random numbers (xorshift), so every run compresses the same data.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn unit(&mut self) -> f64 {
        (self.next() % 1_000_000) as f64 / 1_000_000.0
    }
}

/// Records until their JSON Lines reach `target` bytes; returns them and the JSON size.
fn realistic_batch(target: usize) -> (Vec<Record>, usize) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut records = Vec::new();
    let mut bytes = 0usize;
    let mut ts: i64 = 1_795_000_000_000_000_000;
    let (mut lat, mut lon) = (48.137_154_f64, 11.576_124_f64);
    let mut seq = 0u64;
    while bytes < target {
        seq += 1;
        ts += 10_000_000 + (rng.next() % 2_000_000) as i64; // ~100 Hz tracking loop
        lat += (rng.unit() - 0.5) * 1e-4;
        lon += (rng.unit() - 0.5) * 1e-4;
        let body = match seq % 50 {
            0 => Body::Metric(MetricSample {
                name: "battery_pct".into(),
                metric: MetricKind::Gauge,
                value: 100.0 - seq as f64 / 500.0,
            }),
            10 => Body::Metric(MetricSample {
                name: "fix_latency_ms".into(),
                metric: MetricKind::Histogram,
                value: 20.0 + rng.unit() * 200.0,
            }),
            20 => Body::Metric(MetricSample {
                name: "points_written".into(),
                metric: MetricKind::Counter,
                value: 50.0,
            }),
            30 => Body::Log(LogRecord {
                level: if rng.next().is_multiple_of(5) {
                    Level::Warn
                } else {
                    Level::Info
                },
                target: "locus::sync".into(),
                message: "uploaded track segment".into(),
                fields: vec![
                    ("segment".into(), (seq / 50).into()),
                    ("points".into(), 50i64.into()),
                    (
                        "bytes".into(),
                        ((rng.next() % 40_000) as i64 + 2_000).into(),
                    ),
                    ("ms".into(), ((rng.next() % 900) as i64 + 80).into()),
                ],
            }),
            _ => Body::Log(LogRecord {
                level: Level::Debug,
                target: "locus::gps".into(),
                message: "fix".into(),
                fields: vec![
                    ("lat".into(), ((lat * 1e6).round() / 1e6).into()),
                    ("lon".into(), ((lon * 1e6).round() / 1e6).into()),
                    ("acc_m".into(), ((rng.unit() * 150.0).round() / 10.0).into()),
                    (
                        "speed_mps".into(),
                        ((rng.unit() * 140.0).round() / 10.0).into(),
                    ),
                    (
                        "bearing".into(),
                        ((rng.unit() * 3600.0).round() / 10.0).into(),
                    ),
                    ("sats".into(), ((rng.next() % 12) as i64 + 4).into()),
                    ("provider".into(), "gps".into()),
                ],
            }),
        };
        let r = Record::new(seq, ts, body);
        bytes += r.to_json_line().len() + 1;
        records.push(r);
    }
    // One crash, as a real batch after a restart would carry.
    let crash = Record::new(
        seq + 1,
        ts + 1_000,
        Body::Crash(Tombstone {
            crash: CrashKind::Panic,
            message: "called `Option::unwrap()` on a `None` value".into(),
            location: "src/track/writer.rs:212:31".into(),
            thread: "gps".into(),
            backtrace: (0..40)
                .map(|i| format!("{i:>4}: locus::track::writer::Writer::flush_segment::h{:016x}\n             at src/track/writer.rs:{}:9", rng.next(), 100 + i))
                .collect::<Vec<_>>()
                .join("\n"),
            app_version: "1.2.0".into(),
            os: "android-aarch64".into(),
            uptime_ms: 3_600_000,
            signal: None,
        }),
    );
    bytes += crash.to_json_line().len() + 1;
    records.push(crash);
    (records, bytes)
}

fn bench(c: &mut Criterion) {
    let (records, json_bytes) = realistic_batch(1 << 20);
    println!(
        "batch: {} records, {json_bytes} bytes of JSON Lines ({:.1} bytes/record)",
        records.len(),
        json_bytes as f64 / records.len() as f64
    );
    for level in [1, 6, 9] {
        let gz = encode_batch_with_level(&records, level);
        println!(
            "gzip level {level}: {} bytes, ratio {:.2}:1 ({:.1}% of the JSON){}",
            gz.len(),
            json_bytes as f64 / gz.len() as f64,
            100.0 * gz.len() as f64 / json_bytes as f64,
            if level == 6 { "  <- encode_batch" } else { "" }
        );
    }
    assert_eq!(encode_batch(&records), encode_batch_with_level(&records, 6));

    let mut g = c.benchmark_group("gzip_batch");
    g.throughput(Throughput::Bytes(json_bytes as u64))
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    for level in [1u32, 6, 9] {
        g.bench_with_input(
            BenchmarkId::new("encode_level", level),
            &level,
            |b, &level| b.iter(|| encode_batch_with_level(black_box(&records), level)),
        );
    }
    // The JSON part alone, to see what gzip itself costs on top.
    g.bench_function("json_lines_only", |b| {
        b.iter(|| {
            let mut out = String::with_capacity(json_bytes);
            for r in black_box(&records) {
                out.push_str(&r.to_json_line());
                out.push('\n');
            }
            out
        })
    });
    let gz = encode_batch(&records);
    g.bench_function("decode", |b| b.iter(|| decode_batch(black_box(&gz))));
    g.finish();
}

/// Issue 22: what encrypting each upload to the user's age key costs, in time and bytes.
fn bench_age(c: &mut Criterion) {
    let recipient = age::x25519::Identity::generate().to_public().to_string();
    let recipients = Recipients::parse(&[recipient]).unwrap();
    let mut g = c.benchmark_group("age_upload");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for (name, target) in [("1MiB", 1usize << 20), ("16KiB", 16 << 10)] {
        let (records, json_bytes) = realistic_batch(target);
        let gz = encode_batch(&records);
        let sealed = encrypt_body(&gz, &recipients).unwrap();
        println!(
            "age {name}: {json_bytes} bytes JSON, gzip {} bytes, gzip+age {} bytes (+{} bytes, +{:.2}%)",
            gz.len(),
            sealed.len(),
            sealed.len() - gz.len(),
            100.0 * (sealed.len() - gz.len()) as f64 / gz.len() as f64
        );
        g.throughput(Throughput::Bytes(json_bytes as u64));
        g.bench_function(BenchmarkId::new("gzip", name), |b| {
            b.iter(|| encode_batch(black_box(&records)))
        });
        g.bench_function(BenchmarkId::new("gzip_then_age", name), |b| {
            b.iter(|| encrypt_body(&encode_batch(black_box(&records)), &recipients).unwrap())
        });
        g.bench_function(BenchmarkId::new("age_only", name), |b| {
            b.iter(|| encrypt_body(black_box(&gz), &recipients).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, bench, bench_age);
criterion_main!(benches);
