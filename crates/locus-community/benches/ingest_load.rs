//! Load benchmark of the collector's ingest: the real binary on loopback, N concurrent
//! clients posting distinct valid reports for a fixed time, per backend. Prints
//! sustained reports/s and p50/p99 latency for SQLite and PostgreSQL.
//!
//!   eval "$(bash scripts/postgres.sh)"
//!   cargo bench -p locus-community --bench ingest_load
//!
//! Settings (environment): LOCUS_BENCH_SECS (10 per backend), LOCUS_BENCH_CLIENTS (16),
//! LOCUS_BENCH_BACKENDS (`sqlite,postgres`), LOCUS_BENCH_SERVER_ARGS (extra flags for
//! `serve`, e.g. `--db-writers 8`). PostgreSQL comes from
//! LOCUS_TEST_POSTGRES_URL (a fresh database is created in it and dropped after).
//! Rate limits are turned off (`--rate-limit-per-client 0 --rate-limit-per-pseudonym 0`).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // bench code; criterion's macros make undocumented fns

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use locus_report::{CrashSignature, HealthReport, SessionCounts};
use sqlx::Connection;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(db: &str, max_conns: u32) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_locus-community"))
            .args(["serve", "--listen", "127.0.0.1:0", "--db", db])
            .args([
                "--rate-limit-per-client",
                "0",
                "--rate-limit-per-pseudonym",
                "0",
                // Every simulated device reports from 127.0.0.1: one network.
                "--new-pseudonyms-per-network",
                "0",
            ])
            .args(["--db-max-connections", &max_conns.to_string()])
            .args(
                std::env::var("LOCUS_BENCH_SERVER_ARGS")
                    .unwrap_or_default()
                    .split_whitespace(),
            )
            .env("LOCUS_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .expect("start locus-community");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("listening line");
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .expect("listening line")
            .to_string();
        Server { child, base }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn make_report(client: u64, n: u64) -> HealthReport {
    let end = Utc::now() - chrono::Duration::hours((n % 48) as i64);
    let device = (client * 7919 + n) % 1000;
    let crashed = u32::from(n.is_multiple_of(7));
    HealthReport {
        report_id: format!("{:016x}{:016x}", client + 1, n),
        pseudonym: format!("{device:064x}"),
        app_version: format!("1.{}.0", n % 5),
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
                message: "index out of bounds".into(),
                location: "src/track.rs:42".into(),
                count: 1,
            })
            .collect(),
        // schema, platform, os_family and the one fix_latency_ms histogram
        ..HealthReport::example()
    }
}

struct Outcome {
    ok: u64,
    errors: u64,
    latencies: Vec<Duration>,
    elapsed: Duration,
}

async fn load(base: &str, clients: u64, secs: u64) -> Outcome {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients as usize)
        .build()
        .expect("client");
    let url = format!("{base}/v1/reports");
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (http, url, measuring, stop, errors) = (
            http.clone(),
            url.clone(),
            measuring.clone(),
            stop.clone(),
            errors.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let body = serde_json::to_vec(&make_report(c, n)).expect("json");
                n += 1;
                let t0 = Instant::now();
                let resp = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await;
                let dt = t0.elapsed();
                let good = matches!(&resp, Ok(r) if r.status().as_u16() == 202);
                if measuring.load(Ordering::Relaxed) {
                    if good {
                        lat.push(dt);
                    } else {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            lat
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await; // warm-up
    measuring.store(true, Ordering::Relaxed);
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    measuring.store(false, Ordering::Relaxed);
    let elapsed = t0.elapsed();
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.expect("client task"));
    }
    latencies.sort();
    Outcome {
        ok: latencies.len() as u64,
        errors: errors.load(Ordering::Relaxed),
        latencies,
        elapsed,
    }
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn report(name: &str, o: &Outcome, clients: u64) {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{name:<10} clients={clients:<3} reports={:<7} errors={:<4} reports/s={:>8.0}  p50={:.2} ms  p99={:.2} ms  max={:.2} ms",
        o.ok,
        o.errors,
        o.ok as f64 / o.elapsed.as_secs_f64(),
        ms(pct(&o.latencies, 0.50)),
        ms(pct(&o.latencies, 0.99)),
        ms(o.latencies.last().copied().unwrap_or_default()),
    );
}

async fn pg_database(admin: &str) -> (String, String) {
    let name = format!("locus_bench_{}", std::process::id());
    let mut conn = sqlx::PgConnection::connect(admin)
        .await
        .expect("connect to LOCUS_TEST_POSTGRES_URL");
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await
        .expect("drop old bench database");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create bench database");
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(admin);
    (format!("{base}/{name}"), name)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` would pass nothing useful.
    let secs: u64 = env_or("LOCUS_BENCH_SECS", 10);
    let clients: u64 = env_or("LOCUS_BENCH_CLIENTS", 16);
    let backends: String = env_or("LOCUS_BENCH_BACKENDS", "sqlite,postgres".to_string());
    println!("ingest load: {clients} clients, {secs} s per backend, loopback, rate limits off");
    for backend in backends.split(',').map(str::trim) {
        match backend {
            "sqlite" => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("bench.db").display());
                let server = Server::start(&url, 8);
                let o = load(&server.base, clients, secs).await;
                report("sqlite", &o, clients);
            }
            "postgres" => {
                let admin = std::env::var("LOCUS_TEST_POSTGRES_URL").unwrap_or_else(|_| {
                    panic!(
                        "LOCUS_TEST_POSTGRES_URL is not set: start PostgreSQL with \
                         `eval \"$(bash scripts/postgres.sh)\"`, or set \
                         LOCUS_BENCH_BACKENDS=sqlite"
                    )
                });
                let (url, name) = pg_database(&admin).await;
                {
                    let server = Server::start(&url, 16);
                    let o = load(&server.base, clients, secs).await;
                    report("postgres", &o, clients);
                }
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await;
                }
            }
            other => panic!("unknown backend {other:?} in LOCUS_BENCH_BACKENDS"),
        }
    }
}
