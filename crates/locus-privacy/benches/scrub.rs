//! Throughput of `scrub` (MB/s) on realistic log text: a ~1 MiB block of a tracking
//! app's log lines, mostly clean with some personal data and coordinates (about one
//! line in eight), a clean-only block, and a block where every line carries something.
//!
//! Run: `cargo bench -p locus-privacy --bench scrub -- --warm-up-time 1 --measurement-time 3`

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // bench code; criterion's macros make undocumented fns

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use locus_privacy::{find_pii, scrub};

const CLEAN: &[&str] = &[
    "2026-11-27T01:02:03.123Z INFO  locus::gps: fix accepted sats=9 hdop=0.9 age=120ms",
    "2026-11-27T01:02:04.456Z DEBUG locus::sync::s3: uploaded 128 records (42.1 KiB) in 312ms",
    "2026-11-27T01:02:05.789Z WARN  locus::sync::s3: PUT failed: HTTP 503 Slow Down, retry 1/2 in 250ms",
    "2026-11-27T01:02:06.000Z INFO  locus::battery: level 87.5% charging=false temp 31.5°C",
    "2026-11-27T01:02:07.321Z ERROR locus::sync: request timed out after 30s (attempt 2 of 2)",
    "2026-11-27T01:02:08.654Z INFO  locus::telemetry::breaker: state=closed failures=0 backoff=6h",
    "2026-11-27T01:02:09.987Z DEBUG locus::recorder: ring 1048576 bytes, 3912 records, 0 lost",
    "2026-11-27T01:02:10.111Z INFO  locus: starting Locus v1.2.0-beta.1 (build 456) on android 14",
    "2026-11-27T01:02:11.222Z TRACE locus::gps::filter: kalman step dt=1.002s q=0.25 r=4.0",
    "2026-11-27T01:02:12.333Z WARN  locus::db: slow query 1.25s at src/db/tracks.rs:210:9",
    "thread 'locus-telemetry' panicked at crates/locus-telemetry/src/dispatch.rs:88:14:",
    "2026-11-27T01:02:13.444Z INFO  locus::sync::s3: lifecycle rule diagnostics-expiry ok (30 days)",
];

const DIRTY: &[&str] = &[
    "2026-11-27T01:02:03.123Z DEBUG locus::gps: fix 52.520008, 13.404954 acc=4.5m",
    "2026-11-27T01:02:04.456Z WARN  locus::sync::s3: PUT https://alice:hunter2@s3.example.com/b failed",
    "2026-11-27T01:02:05.789Z ERROR locus::auth: 401 for Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl",
    "2026-11-27T01:02:06.000Z INFO  locus::account: signed in as alice@example.com from 192.168.1.23",
    "thread 'main' panicked at /home/alice/src/locus/src/main.rs:10:5",
    "2026-11-27T01:02:07.321Z DEBUG locus::nmea: $GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47",
    "2026-11-27T01:02:08.654Z DEBUG locus::export: {\"type\":\"Point\",\"coordinates\":[13.404954,52.520008]}",
    "2026-11-27T01:02:09.987Z INFO  locus::share: https://www.google.com/maps/@52.5200066,13.404954,15z",
];

/// About `size` bytes of log lines; `dirty_every` = one dirty line every n lines (0 = none).
fn block(size: usize, dirty_every: usize) -> String {
    let mut out = String::with_capacity(size + 256);
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut n = 0usize;
    while out.len() < size {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let r = usize::try_from(state % 1024).unwrap_or(0);
        let line = if dirty_every > 0 && n.is_multiple_of(dirty_every) {
            DIRTY[r % DIRTY.len()]
        } else {
            CLEAN[r % CLEAN.len()]
        };
        out.push_str(line);
        out.push('\n');
        n += 1;
    }
    out
}

fn bench(c: &mut Criterion) {
    const MIB: usize = 1 << 20;
    let inputs = [
        ("mixed_1_in_8_dirty", block(MIB, 8)),
        ("clean_only", block(MIB, 0)),
        ("every_line_dirty", block(MIB, 1)),
    ];
    let mut g = c.benchmark_group("scrub");
    for (name, text) in &inputs {
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.bench_function(*name, |b| b.iter(|| scrub(black_box(text))));
    }
    g.finish();

    let mut g = c.benchmark_group("find_pii");
    let clean = &inputs[1].1;
    g.throughput(Throughput::Bytes(clean.len() as u64));
    g.bench_function("clean_only", |b| b.iter(|| find_pii(black_box(clean))));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
