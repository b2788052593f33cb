//! Read latency at scale (issue 20): fills a fresh database with N reports spread over 30
//! days (through the store's batched, rollup-maintaining writer), then times what a
//! request computes with the read cache off: `/v1/versions` (totals, crash signatures,
//! templates, k rules), `/v1/versions/{v}` (one version's crashes) and the dashboard
//! (plus the daily series). Prints p50 and max per size and backend.
//!
//!   eval "$(bash scripts/postgres.sh)"
//!   cargo bench -p locus-community --bench read_latency
//!
//! Settings (environment): LOCUS_BENCH_READ_SIZES (`10000,100000`), LOCUS_BENCH_BACKENDS
//! (`sqlite,postgres`), LOCUS_BENCH_READS (20 timed reads per view). PostgreSQL comes
//! from LOCUS_TEST_POSTGRES_URL (a fresh database is created in it and dropped after).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // bench code

use std::time::{Duration, Instant};

use chrono::Utc;
use locus_community::aggregate;
use locus_community::store::Store;
use locus_report::{CrashSignature, HealthReport, SessionCounts};
use sqlx::Connection;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn make_report(n: u64, now: i64) -> (HealthReport, String) {
    let end =
        chrono::DateTime::from_timestamp(now - ((n * 7919) % (30 * 86_400)) as i64, 0).unwrap();
    let device = (n * 31) % 20_000;
    let crashed = u32::from(n.is_multiple_of(5));
    let r = HealthReport {
        report_id: format!("{:032x}", n + 1),
        pseudonym: format!("{device:064x}"),
        app_version: format!("1.{}.0", (n / 997) % 20),
        period_start: end - chrono::Duration::hours(1),
        period_end: end,
        sessions: SessionCounts {
            exited: 3,
            crashed,
            abnormal: u32::from(n.is_multiple_of(11)),
        },
        crashes: (0..crashed)
            .map(|_| CrashSignature {
                signature: format!("{:016x}", n % 13),
                kind: "panic".into(),
                message: ["index out of bounds", "cannot open <path>"][(n % 2) as usize].into(),
                location: "src/track.rs:42".into(),
                count: 1,
            })
            .collect(),
        metrics: vec![],
        ..HealthReport::example()
    };
    (r, format!("net{}", device % 3000))
}

async fn view(store: &Store, days: u32, series: bool, only: Option<&str>) {
    let now = Utc::now();
    let since = now.timestamp() - i64::from(days) * 86_400;
    let versions = store.versions(since, None).await.unwrap();
    let signatures = store.signatures(since, only).await.unwrap();
    let templates = store.templates(since, 5, only).await.unwrap();
    let report = aggregate::build(versions, signatures, templates, 5, days, now, now);
    assert!(!report.versions.is_empty());
    if series {
        let s = aggregate::series(store.days(since).await.unwrap(), &report);
        assert!(!s.is_empty());
    }
}

async fn time_reads(store: &Store, reads: usize) -> [(Duration, Duration); 3] {
    let mut out = [(Duration::ZERO, Duration::ZERO); 3];
    for (i, (series, only)) in [(false, None), (false, Some("1.3.0")), (true, None)]
        .into_iter()
        .enumerate()
    {
        let mut t = Vec::new();
        for _ in 0..reads {
            let s = Instant::now();
            view(store, 30, series, only).await;
            t.push(s.elapsed());
        }
        t.sort();
        out[i] = (t[t.len() / 2], t[t.len() - 1]);
    }
    out
}

async fn run(name: &str, url: &str, sizes: &[u64], reads: usize) {
    let store = Store::connect_pools(url, 8, 4, 4).await.unwrap();
    let mut have = 0;
    for &n in sizes {
        // Grow the same database to each size.
        let took = fill_from(&store, have, n).await;
        have = n;
        let [list, one, dash] = time_reads(&store, reads).await;
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "{name:<9} reports={n:<8} filled in {:>6.1} s | /v1/versions p50={:.1} ms max={:.1} | \
             /v1/versions/{{v}} p50={:.1} max={:.1} | dashboard p50={:.1} max={:.1}",
            took.as_secs_f64(),
            ms(list.0),
            ms(list.1),
            ms(one.0),
            ms(one.1),
            ms(dash.0),
            ms(dash.1),
        );
    }
    store.close().await;
}

async fn fill_from(store: &Store, from: u64, to: u64) -> Duration {
    let now = Utc::now().timestamp();
    let started = Instant::now();
    let mut next = from;
    while next < to {
        let mut wave = Vec::new();
        for i in next..(next + 1024).min(to) {
            let store = store.clone();
            wave.push(tokio::spawn(async move {
                let (r, net) = make_report(i, now);
                store.insert(r, now, net).await.unwrap()
            }));
        }
        next += 1024;
        for t in wave {
            t.await.unwrap();
        }
    }
    started.elapsed()
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let sizes: Vec<u64> = env_or("LOCUS_BENCH_READ_SIZES", "10000,100000".to_string())
        .split(',')
        .map(|s| s.trim().parse().expect("sizes are numbers"))
        .collect();
    let reads: usize = env_or("LOCUS_BENCH_READS", 20);
    let backends: String = env_or("LOCUS_BENCH_BACKENDS", "sqlite,postgres".to_string());
    println!(
        "read latency: 30-day window, 20 versions, 20k devices, cache off, {reads} reads each"
    );
    for backend in backends.split(',').map(str::trim) {
        match backend {
            "sqlite" => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("bench.db").display());
                run("sqlite", &url, &sizes, reads).await;
            }
            "postgres" => {
                let admin = std::env::var("LOCUS_TEST_POSTGRES_URL").unwrap_or_else(|_| {
                    panic!(
                        "LOCUS_TEST_POSTGRES_URL is not set: start PostgreSQL with \
                         `eval \"$(bash scripts/postgres.sh)\"`, or set \
                         LOCUS_BENCH_BACKENDS=sqlite"
                    )
                });
                let name = format!("locus_bench_read_{}", std::process::id());
                let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
                run("postgres", &format!("{base}/{name}"), &sizes, reads).await;
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await;
            }
            other => panic!("unknown backend {other:?} in LOCUS_BENCH_BACKENDS"),
        }
    }
}
