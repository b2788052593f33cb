//! Shared test harness: a fresh database per test (a SQLite file in a temp dir, or a new
//! database in the PostgreSQL named by `LOCUS_TEST_POSTGRES_URL`), the real
//! `locus-community` binary started on a free loopback port, and report builders.
//!
//! The collector counts k over client networks as well as pseudonyms, so [`post`] sends
//! each device's reports from a network of its own, as real devices would: device `n`
//! binds to `127.(1 + n / 256).(n % 256).1` (all of 127.0.0.0/8 is loopback on Linux,
//! so these are real, distinct source addresses and distinct /24s). [`client_from`]
//! picks any source address.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use locus_community::store::Store;
use locus_report::{CrashSignature, HealthReport, SessionCounts, SCHEMA_VERSION};
use sqlx::Connection;

/// Which backend a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL the tests use; a missing variable fails the test loudly.
pub fn postgres_url() -> String {
    match std::env::var("LOCUS_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "LOCUS_TEST_POSTGRES_URL is not set: the PostgreSQL tests need a real server. \
             Start one with `eval \"$(bash scripts/postgres.sh)\"` (as root; installs \
             Debian's postgresql if missing) and run the tests again."
        ),
    }
}

/// A database that lives as long as the test.
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg_name: Option<(String, String)>,
}

static SEQ: AtomicU32 = AtomicU32::new(0);

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("community.db").display());
                TestDb {
                    url,
                    _dir: Some(dir),
                    pg_name: None,
                }
            }
            Backend::Postgres => {
                let admin = postgres_url();
                let name = format!(
                    "locus_t_{}_{}_{}",
                    std::process::id(),
                    SEQ.fetch_add(1, Ordering::Relaxed),
                    Utc::now().timestamp_subsec_nanos()
                );
                let mut conn = sqlx::PgConnection::connect(&admin)
                    .await
                    .unwrap_or_else(|e| {
                        panic!("cannot connect to LOCUS_TEST_POSTGRES_URL ({e}); start it with `eval \"$(bash scripts/postgres.sh)\"`")
                    });
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await
                    .expect("create test database");
                let _ = conn.close().await;
                let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
                let url = format!("{base}/{name}");
                TestDb {
                    url,
                    _dir: None,
                    pg_name: Some((admin, name)),
                }
            }
        }
    }

    /// A store on the same database, for looking at what the server stored.
    pub async fn store(&self) -> Store {
        Store::connect(&self.url, 2, 1)
            .await
            .expect("open test store")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = self.pg_name.take() {
            // Best effort, on a thread of its own (we may be inside a runtime).
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                rt.block_on(async {
                    let mut conn = sqlx::PgConnection::connect(&admin).await.ok()?;
                    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await
                        .ok()
                })
            })
            .join();
        }
    }
}

/// The real binary, listening on a free loopback port.
pub struct Server {
    pub base: String,
    child: Child,
}

impl Server {
    /// Starts `locus-community serve --db URL` with `args` added.
    pub fn start(db: &TestDb, args: &[&str]) -> Server {
        Server::start_url(&db.url, args)
    }

    /// Starts `locus-community serve --db URL` on any database URL.
    pub fn start_url(url: &str, args: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_locus-community"))
            .args(["serve", "--listen", "127.0.0.1:0", "--db", url])
            .args(args)
            .env("LOCUS_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn locus-community");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the listening line");
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from the server: {line:?}"))
            .to_string();
        Server { base, child }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Sends SIGTERM and waits for the exit status (graceful shutdown).
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..100 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("server did not exit within 5 s of SIGTERM");
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
}

/// A client whose requests come from `ip` (a loopback address).
pub fn client_from(ip: std::net::IpAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .local_address(ip)
        .build()
        .expect("http client")
}

/// The address device `n` reports from: a /24 of its own.
pub fn device_addr(n: u32) -> std::net::IpAddr {
    let [_, _, hi, lo] = n.to_be_bytes();
    std::net::IpAddr::from([127, hi.saturating_add(1), lo, 1])
}

/// The device number of a [`pseudonym`], if it is one.
fn device_of(pseudonym: &str) -> Option<u32> {
    let n = u64::from_str_radix(pseudonym.get(48..)?, 16).ok()?;
    u32::try_from(n.checked_sub(0xdead_0000)?).ok()
}

/// A 64-hex pseudonym for device `n`.
pub fn pseudonym(n: u32) -> String {
    format!("{:064x}", 0xdead_0000_u64 + u64::from(n))
}

/// A fresh 32-hex report id.
pub fn report_id() -> String {
    static N: AtomicU32 = AtomicU32::new(1);
    format!(
        "{:08x}{:08x}{:016x}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        Utc::now().timestamp_nanos_opt().unwrap_or(0) as u64
    )
}

/// A crash signature entry.
pub fn crash(sig: &str, message: &str, count: u32) -> CrashSignature {
    CrashSignature {
        signature: sig.to_string(),
        kind: "panic".into(),
        message: message.into(),
        location: "src/track.rs:42".into(),
        count,
    }
}

/// A report of `device` for `version` whose period ended `hours_ago` hours ago.
pub fn report(
    device: u32,
    version: &str,
    exited: u32,
    crashed: u32,
    abnormal: u32,
    crashes: Vec<CrashSignature>,
    hours_ago: i64,
) -> HealthReport {
    let end: DateTime<Utc> = Utc::now() - chrono::Duration::hours(hours_ago);
    HealthReport {
        schema: SCHEMA_VERSION,
        report_id: report_id(),
        pseudonym: pseudonym(device),
        app_version: version.into(),
        platform: "linux".into(),
        os_family: "unix".into(),
        period_start: end - chrono::Duration::hours(1),
        period_end: end,
        sessions: SessionCounts {
            exited,
            crashed,
            abnormal,
        },
        crashes,
        metrics: vec![],
        hangs: 0,
    }
}

/// POSTs `r` as JSON from the network of its device (see the module's comment; a
/// pseudonym not made by [`pseudonym`] is sent with `c`); returns (status, JSON body).
pub async fn post(c: &reqwest::Client, s: &Server, r: &HealthReport) -> (u16, serde_json::Value) {
    match device_of(&r.pseudonym) {
        Some(n) => post_via(&client_from(device_addr(n)), s, r).await,
        None => post_via(c, s, r).await,
    }
}

/// POSTs `r` as JSON with `c` as it is; returns (status, JSON body).
pub async fn post_via(
    c: &reqwest::Client,
    s: &Server,
    r: &HealthReport,
) -> (u16, serde_json::Value) {
    let resp = c
        .post(s.url("/v1/reports"))
        .json(r)
        .send()
        .await
        .expect("POST /v1/reports");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(serde_json::Value::Null))
}

/// POSTs raw bytes with the given headers; returns (status, JSON body or Null).
pub async fn post_raw(
    c: &reqwest::Client,
    s: &Server,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, serde_json::Value) {
    let mut req = c.post(s.url(path)).body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("POST");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(serde_json::Value::Null))
}

/// GETs JSON; returns (status, body).
pub async fn get_json(c: &reqwest::Client, s: &Server, path: &str) -> (u16, serde_json::Value) {
    let resp = c.get(s.url(path)).send().await.expect("GET");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(serde_json::Value::Null))
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).expect("gzip");
    enc.finish().expect("gzip")
}

/// Runs the body of a scenario for SQLite and PostgreSQL as two tests.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::common::Backend::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::common::Backend::Postgres).await
                }
            }
        )*
    };
}
