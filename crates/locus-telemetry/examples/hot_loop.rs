//! Records N GPS-fix events through the direct API (for profiling the hot path with
//! `valgrind --tool=callgrind` or `perf`): `cargo run --release --example hot_loop -- 1000000`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test
use locus_telemetry::record::Level;
use locus_telemetry::recorder::{FieldValue, FlightRecorder};

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let dir = std::env::temp_dir().join(format!("hot-loop-{}", std::process::id()));
    let rec = FlightRecorder::open(&dir.join("recorder.ring"), 1024 * 1024);
    let t = std::time::Instant::now();
    for i in 0..n {
        rec.log(
            Level::Info,
            "locus::gps",
            "gps fix",
            &[
                ("lat", FieldValue::F64(52.52 + i as f64 * 1e-9)),
                ("lon", FieldValue::F64(13.40)),
                ("accuracy_m", FieldValue::F64(4.2)),
            ],
        );
    }
    let per = t.elapsed().as_nanos() as f64 / n as f64;
    println!("{per:.1} ns/record over {n} records");
    let _ = std::fs::remove_dir_all(dir);
}
