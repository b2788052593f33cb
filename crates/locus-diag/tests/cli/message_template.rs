//! Issue 13 end to end: `locus-diag demo --crash-message TEXT` panics with the user's
//! text; `locus-diag preview` shows only its template (no name, path or coordinate); and
//! `demo --community URL` sends the period's report when the run ends, so the template
//! reaches a real collector's `/v1/versions` (here with k = 1: one demo is one device).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const MESSAGE: &str = "cannot upload /storage/emulated/0/Download/Anna_Schmidt_Lauf.gpx \
     for Anna Schmidt at 52.520008, 13.404954";
const SECRETS: &[&str] = &[
    "Anna", "Schmidt", "Lauf", "storage", "Download", "52.52", "13.40", "520008", "404954",
];

fn diag(args: &[&str], dir: &Path) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_locus-diag"))
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{args:?}: {stdout}\n{stderr}");
    (stdout, stderr)
}

fn the_template_hides_everything(template: &str) {
    for s in SECRETS {
        assert!(!template.contains(s), "{s} in {template:?}");
    }
    assert!(
        template.starts_with("cannot upload <path> for "),
        "{template:?}"
    );
    assert!(
        !template.bytes().any(|b| b.is_ascii_digit()),
        "{template:?}"
    );
}

#[test]
fn preview_after_a_crash_shows_the_template_only() {
    let dir = tempfile::tempdir().unwrap();
    let (out, _) = diag(
        &[
            "demo",
            "--seconds",
            "0.4",
            "--hz",
            "50",
            "--no-upload",
            "--crash-message",
            MESSAGE,
        ],
        dir.path(),
    );
    assert!(out.contains("panicked once"), "{out}");
    let (json, _) = diag(&["preview"], dir.path());
    for s in SECRETS {
        assert!(!json.contains(s), "{s} in the preview:\n{json}");
    }
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let crashes = report["crashes"].as_array().unwrap();
    assert_eq!(crashes.len(), 1, "{json}");
    the_template_hides_everything(crashes[0]["message"].as_str().unwrap());
}

/// The real collector's router on loopback (SQLite, k = 1), until the test ends.
fn collector(dir: &Path) -> (String, tokio::sync::oneshot::Sender<()>) {
    let db = format!("sqlite://{}", dir.join("community.db").display());
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
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
            let app = locus_community::app::router(state);
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
    let addr = addr_rx.recv_timeout(Duration::from_secs(30)).unwrap();
    (format!("http://{addr}"), stop_tx)
}

#[test]
fn a_short_demo_reports_when_it_ends_and_the_collector_shows_the_template() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _stop) = collector(dir.path());
    let data = dir.path().join("app");
    // Bounds, not waits: the demo exits as soon as its report is answered; a collector
    // slowed by a loaded machine is waited for, not timed out (which would retry or cut
    // the report sent at shutdown off).
    let cfg = dir.path().join("settings.toml");
    std::fs::write(
        &cfg,
        "attempt_timeout_secs = 120\nshutdown_deadline_ms = 60000\n",
    )
    .unwrap();
    diag(
        &[
            "demo",
            "--config",
            cfg.to_str().unwrap(),
            "--seconds",
            "0.4",
            "--hz",
            "50",
            "--no-upload",
            "--app-version",
            "7.7.7",
            "--community",
            &url,
            "--crash-message",
            MESSAGE,
        ],
        &data,
    );
    // Wait until the collector shows the version (it has stored the report), not a
    // fixed moment after the demo ended.
    let versions = || {
        let out = Command::new("curl")
            .args(["-s", &format!("{url}/v1/versions")])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let shown =
        locus_testkit::wait_until(Duration::from_secs(120), || versions().contains("7.7.7"));
    let body = versions();
    assert!(shown, "the collector never showed 7.7.7: {body}");
    for s in SECRETS {
        assert!(!body.contains(s), "{s} served:\n{body}");
    }
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let version = &v["versions"][0];
    assert_eq!(version["version"], "7.7.7", "{body}");
    let top = &version["top_crashes"][0];
    the_template_hides_everything(top["message"].as_str().unwrap());
}
