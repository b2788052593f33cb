//! The opt-in community path end to end against the real collector (`locus-community`'s
//! router on loopback, SQLite), with every request body captured as the server received
//! it: nothing is sent by default; after opt-in, the bytes carry no coordinate, e-mail,
//! device id or bucket name; the pseudonym is stable until opt-out and new after; opting
//! out sends exactly one deletion; a hung endpoint never delays the user's S3.
//!
//! Nothing here reads the collector once and hopes: a test waits for what it expects to
//! arrive ([`EVENT`] is only a bound against a hang), and counts reports by their
//! `report_id`, so a client-side timeout followed by a retry (a slow collector on a
//! loaded machine receives the same report twice) is one report, as the collector's own
//! store counts it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use locus_telemetry::record::Level;
use locus_telemetry::{Settings, Telemetry};
use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The longest a test waits for something it expects to happen (a report to arrive, the
/// collector to show it): a bound against a hang, never a measure of speed.
const EVENT: Duration = Duration::from_secs(120);

/// One request as the server received it (body un-gzipped).
#[derive(Debug, Clone)]
struct Captured {
    path: String,
    body: Vec<u8>,
}

struct Collector {
    url: String,
    seen: Arc<Mutex<Vec<Captured>>>,
    _dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Collector {
    fn start() -> Collector {
        let dir = tempfile::tempdir().unwrap();
        let db = format!("sqlite://{}", dir.path().join("community.db").display());
        let seen: Arc<Mutex<Vec<Captured>>> = Arc::default();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let capture = seen.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let mut config = locus_community::Config::new(db);
                config.k = 1;
                let state = locus_community::app::AppState::open(config).await.unwrap();
                let app = locus_community::app::router(state).layer(axum::middleware::from_fn(
                    move |req: Request, next: Next| {
                        let capture = capture.clone();
                        async move {
                            let (parts, body) = req.into_parts();
                            let bytes = axum::body::to_bytes(body, 1 << 20)
                                .await
                                .unwrap_or_default();
                            let mut plain = Vec::new();
                            if flate2::read::GzDecoder::new(&bytes[..])
                                .read_to_end(&mut plain)
                                .is_err()
                            {
                                plain = bytes.to_vec();
                            }
                            capture.lock().unwrap().push(Captured {
                                path: parts.uri.path().to_owned(),
                                body: plain,
                            });
                            next.run(Request::from_parts(parts, Body::from(bytes)))
                                .await
                        }
                    },
                ));
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                axum::serve(
                    listener,
                    app.into_make_service_with_connect_info::<SocketAddr>(),
                )
                .with_graceful_shutdown(async {
                    let _ = stop_rx.await;
                })
                .await
                .unwrap();
            });
        });
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("collector started");
        Collector {
            url: format!("http://{addr}"),
            seen,
            _dir: dir,
            _stop: stop_tx,
        }
    }

    fn requests(&self, path: &str) -> Vec<Captured> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.path == path)
            .cloned()
            .collect()
    }

    /// The distinct reports received, in order: a report sent again (a retry after the
    /// client gave up waiting for an answer) is counted once, by its `report_id`.
    fn reports(&self) -> Vec<serde_json::Value> {
        let mut seen = std::collections::HashSet::new();
        self.requests("/v1/reports")
            .iter()
            .map(|c| serde_json::from_slice::<serde_json::Value>(&c.body).unwrap())
            .filter(|r| seen.insert(r["report_id"].to_string()))
            .collect()
    }

    /// The distinct deletion requests received (a retried one has the same body).
    fn deletions(&self) -> Vec<Captured> {
        let mut seen = std::collections::HashSet::new();
        self.requests("/v1/deletions")
            .into_iter()
            .filter(|c| seen.insert(c.body.clone()))
            .collect()
    }

    /// Waits until the reports received satisfy `ok`; returns them.
    fn wait_reports(
        &self,
        what: &str,
        ok: impl Fn(&[serde_json::Value]) -> bool,
    ) -> Vec<serde_json::Value> {
        let arrived = locus_testkit::wait_until(EVENT, || ok(&self.reports()));
        let reports = self.reports();
        assert!(arrived, "{what}: {reports:?}");
        reports
    }

    fn versions(&self) -> serde_json::Value {
        let url = format!("{}/v1/versions", self.url);
        let out = Command::new("curl").args(["-s", &url]).output();
        match out {
            Ok(o) => serde_json::from_slice(&o.stdout).unwrap_or_default(),
            Err(_) => serde_json::Value::Null,
        }
    }
}

fn diag(args: &[&str], dir: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_locus-diag"))
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{args:?}: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// The demo's settings file. The attempt timeout and the shutdown deadline are bounds,
/// not waits: the demo exits as soon as its report is answered, and a slow collector on a
/// loaded machine is waited for instead of timed out (a timed-out attempt is retried and
/// the report sent at shutdown may be cut off).
fn config(dir: &Path, community_url: &str) -> std::path::PathBuf {
    let path = dir.join("settings.toml");
    std::fs::write(
        &path,
        format!(
            "community_url = \"{community_url}\"\ncommunity_period_secs = 1\nupload_interval_secs = 1\n\
             attempt_timeout_secs = 120\nshutdown_deadline_ms = 60000\n"
        ),
    )
    .unwrap();
    path
}

#[test]
fn default_settings_send_nothing_to_the_community() {
    let collector = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &collector.url);
    let data = dir.path().join("data");
    diag(
        &[
            "demo",
            "--seconds",
            "2",
            "--crash",
            "--config",
            cfg.to_str().unwrap(),
        ],
        &data,
    );
    diag(
        &["demo", "--seconds", "1", "--config", cfg.to_str().unwrap()],
        &data,
    );
    assert!(
        collector.seen.lock().unwrap().is_empty(),
        "not one request while opted out"
    );
    assert!(
        !data.join("community-salt").exists(),
        "no pseudonym salt kept while off"
    );
}

#[test]
fn opted_in_reports_carry_nothing_personal() {
    let collector = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &collector.url);
    let data = dir.path().join("data");
    let bucket = format!("file://{}", dir.path().join("my-private-bucket").display());
    let run = |extra: &[&str]| {
        let mut args = vec![
            "demo",
            "--seconds",
            "2",
            "--config",
            cfg.to_str().unwrap(),
            "--community",
            &collector.url,
            "--bucket",
            &bucket,
        ];
        args.extend_from_slice(extra);
        diag(&args, &data)
    };
    run(&["--crash"]);
    run(&[]);
    // The crash is in a report of the first run, the crashed session counted in one of the
    // second (its start finds the previous session crashed).
    let parsed = collector.wait_reports("the crash and the crashed session reported", |p| {
        p.iter()
            .any(|r| r["crashes"].as_array().is_some_and(|c| !c.is_empty()))
            && p.iter()
                .any(|r| r["sessions"]["crashed"].as_u64() == Some(1))
    });
    let reports = collector.requests("/v1/reports");
    assert!(!reports.is_empty(), "reports were sent after opt-in");

    // What the demo wrote to its own logs, which must not leave the device.
    let ring = diag(&["buffer", "--json"], &data);
    let device_id = std::fs::read_to_string(data.join("device_id"))
        .unwrap()
        .trim()
        .to_owned();
    let mut banned = vec![
        device_id.clone(),
        "alice.tracker@example.com".into(),
        "my-private-bucket".into(),
        "example.com".into(),
    ];
    for line in ring.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        for key in ["lat", "lon"] {
            if let Some(x) = v["fields"][key].as_f64() {
                banned.push(format!("{x}"));
                banned.push(format!("{x:.5}"));
            }
        }
    }
    assert!(banned.len() > 100, "the demo logged coordinates");
    for r in &reports {
        let text = String::from_utf8_lossy(&r.body);
        for b in &banned {
            assert!(
                !text.contains(b.as_str()),
                "{b} reached the community: {text}"
            );
        }
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_strings_clean(&v);
    }
    assert!(
        parsed
            .iter()
            .any(|r| r["crashes"].as_array().is_some_and(|c| !c.is_empty())),
        "the worker crash is reported: {parsed:?}"
    );
    assert!(
        parsed
            .iter()
            .all(|r| r["pseudonym"] == parsed[0]["pseudonym"]),
        "one pseudonym while opted in"
    );
    assert!(
        parsed
            .iter()
            .any(|r| r["sessions"]["crashed"].as_u64() == Some(1)),
        "the crashed session is counted"
    );
    // And the collector's aggregates include the demo's version (once it has stored the
    // report: the capture above sees a request before the collector's handler is done).
    assert!(
        locus_testkit::wait_until(EVENT, || collector.versions().to_string().contains("1.2.0")),
        "{}",
        collector.versions()
    );
}

/// Every string except the hex identifiers passes the server's own PII check.
fn assert_strings_clean(v: &serde_json::Value) {
    match v {
        serde_json::Value::String(s) => {
            let is_id = s.len() >= 16 && s.bytes().all(|b| b.is_ascii_hexdigit());
            let is_time = chrono::DateTime::parse_from_rfc3339(s).is_ok();
            if !is_id && !is_time {
                assert_eq!(locus_privacy::find_pii(s), None, "unscrubbed string {s:?}");
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(assert_strings_clean),
        serde_json::Value::Object(o) => o.values().for_each(assert_strings_clean),
        _ => {}
    }
}

fn settings(dir: &Path, url: &str) -> Settings {
    Settings {
        data_dir: dir.to_path_buf(),
        device_id: Some("device-under-test".into()),
        app_version: "1.2.0".into(),
        community_url: Some(url.to_owned()),
        community_period_secs: 1,
        community_metrics: vec!["battery_pct".into()],
        // A bound, not a wait: a slow collector is waited for rather than timed out and
        // sent the same report again.
        attempt_timeout_secs: 120,
        ..Settings::default()
    }
}

/// Makes a report due and waits until the collector has received it: one more distinct
/// report than before.
fn report_now(t: &Telemetry, collector: &Collector) {
    let before = collector.reports().len();
    t.gauge("battery_pct", 77.0);
    // A report is due once a community period (1 s) has passed: a lower bound, never a
    // race (waiting longer changes nothing).
    std::thread::sleep(Duration::from_millis(1100));
    let arrived = locus_testkit::wait_until(EVENT, || {
        t.flush(Duration::from_secs(10));
        collector.reports().len() > before
    });
    assert!(arrived, "no new report: {:?}", t.status().dispatch);
}

#[test]
fn pseudonym_is_stable_until_opt_out_which_sends_one_deletion() {
    let collector = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let t = Telemetry::start(settings(dir.path(), &collector.url));
    assert!(!t.community_telemetry());
    t.set_community_telemetry(true).unwrap();
    report_now(&t, &collector);
    report_now(&t, &collector);
    t.shutdown(Duration::from_secs(2));
    drop(t);
    // A restart keeps the choice and the pseudonym.
    let t = Telemetry::start(settings(dir.path(), &collector.url));
    assert!(t.community_telemetry(), "the choice persists");
    report_now(&t, &collector);
    let reports = collector.reports();
    assert_eq!(reports.len(), 3, "{reports:?}");
    let first = reports[0]["pseudonym"].as_str().unwrap().to_owned();
    assert!(reports.iter().all(|r| r["pseudonym"] == first.as_str()));
    assert!(!first.contains("device-under-test"));

    t.set_community_telemetry(false).unwrap();
    t.gauge("battery_pct", 1.0);
    std::thread::sleep(Duration::from_millis(1100));
    assert!(
        locus_testkit::wait_until(EVENT, || {
            t.flush(Duration::from_secs(10));
            !collector.deletions().is_empty()
        }),
        "a deletion request after opt-out"
    );
    // One more round: nothing else is sent.
    t.flush(Duration::from_secs(10));
    let deletions = collector.deletions();
    assert_eq!(deletions.len(), 1, "exactly one deletion request");
    let del: serde_json::Value = serde_json::from_slice(&deletions[0].body).unwrap();
    assert_eq!(del["pseudonym"], first.as_str());
    assert_eq!(collector.reports().len(), 3, "no report after opt-out");

    t.set_community_telemetry(true).unwrap();
    report_now(&t, &collector);
    let reports = collector.reports();
    assert_eq!(reports.len(), 4);
    assert_ne!(
        reports[3]["pseudonym"],
        first.as_str(),
        "a new opt-in is a new pseudonym"
    );
    t.shutdown(Duration::from_secs(2));
}

#[test]
fn a_hung_community_endpoint_does_not_delay_s3() {
    // Accepts connections (the kernel's backlog) and never answers.
    let hung = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", hung.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), &url);
    s.attempt_timeout_secs = 30;
    let t = Telemetry::start(s);
    t.set_community_telemetry(true).unwrap();
    t.gauge("battery_pct", 50.0); // something to report
    std::thread::sleep(Duration::from_millis(1100));
    let seq = t.log(Level::Info, "app", "ship me", &[]);
    let started = Instant::now();
    let all_done = t.flush(Duration::from_secs(3));
    assert!(
        !all_done,
        "the community worker is still stuck on the hung endpoint"
    );
    // Bounds far from the 30-s attempt timeout, not tight timings: the point is that
    // neither call waits for the hung attempt (a loaded machine may take a second more).
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "flush kept its deadline, not the hung attempt's"
    );
    let status = t.status().dispatch.unwrap();
    let s3 = status
        .destinations
        .iter()
        .find(|d| d.kind == locus_telemetry::DestinationKind::S3)
        .unwrap();
    assert!(
        s3.shipped_through >= seq,
        "S3 shipped while the community hung: {s3:?}"
    );
    assert_eq!(s3.uploads_failed, 0);
    let report = t.shutdown(Duration::from_millis(500));
    assert!(
        report.took < Duration::from_secs(10),
        "shutdown kept its deadline, not the hung attempt's: {report:?}"
    );
}

#[test]
fn scrub_is_line_for_line_and_preview_shows_the_report() {
    let input = concat!(
        "fix 52.520008,13.404954 acc=4m\nmail bob@example.org\n\nbad \u{fffd} utf8 192.168.1.20\n",
        "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nq83Z\n-----END PRIVATE KEY-----\n",
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_locus-diag"))
        .arg("scrub")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input.as_bytes()).unwrap();
        stdin.write_all(b"raw \xff\xfe bytes\n").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 9, "{text}");
    for gone in [
        "52.520008",
        "bob@example.org",
        "192.168.1.20",
        "MIIEvQ",
        "q83Z",
    ] {
        assert!(!text.contains(gone), "{text}");
    }
    assert!(text.contains("acc=4m"));

    let dir = tempfile::tempdir().unwrap();
    diag(&["demo", "--seconds", "1", "--crash"], dir.path());
    let preview = diag(&["preview"], dir.path());
    let report: locus_report::HealthReport =
        serde_json::from_str(&preview).expect("preview prints a valid report");
    report.validate().unwrap();
    assert!(!report.crashes.is_empty());
    assert!(!preview.contains("alice.tracker"));
}
