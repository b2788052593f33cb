//! The dashboard in a real browser: the collector (real binary, SQLite) seeded with a
//! week of reports from three versions, loaded by Debian's headless Chromium. Checks the
//! rendered DOM for the chart's per-version series and the signature tables, and takes a
//! screenshot into a temp dir (set `LOCUS_KEEP_SCREENSHOT=/path.png` to keep a copy).
//! A missing browser fails loudly, naming `scripts/chromium.sh`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

fn chromium() -> String {
    let path = std::env::var("LOCUS_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&path).exists(),
        "{path} is missing: the dashboard browser test needs Debian's Chromium. \
         Install it with `bash scripts/chromium.sh` (as root) and run the tests again."
    );
    path
}

/// Runs headless Chromium with `args` and the isolation flags; returns stdout.
fn run_chromium(profile: &Path, args: &[String]) -> String {
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("chromium did not finish within 90 s");
            }
        }
    }
    reader.join().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_renders_chart_and_signatures_in_chromium() {
    let browser = chromium();
    let db = TestDb::new(Backend::Sqlite).await;
    let s = Server::start(
        &db,
        &[
            "--k",
            "3",
            "--rate-limit-per-pseudonym",
            "0",
            "--rate-limit-per-client",
            "0",
        ],
    );
    let c = client();
    let sig_oob = "0a0a0a0a0a0a0a0a";
    let sig_div = "1b1b1b1b1b1b1b1b";
    let sig_xss = "2c2c2c2c2c2c2c2c";
    // Seven days, three devices a day per version; 2.0.0 crashes more than 1.10.0.
    for day in 0..7i64 {
        let hours = 24 * day + 2;
        for d in 0..3u32 {
            let crashed_old = u32::from(d == 0 && day % 2 == 0);
            let r = report(
                d,
                "1.9.0",
                10,
                crashed_old,
                0,
                // Day 0: every device reports the signature, so its template reaches k
                // (a template is shown only once k devices reported it).
                if crashed_old > 0 || day == 0 {
                    vec![crash(
                        sig_oob,
                        "index out of bounds: the len is <num> but the index is <num>",
                        1,
                    )]
                } else {
                    vec![]
                },
                hours,
            );
            assert_eq!(post(&c, &s, &r).await.0, 202);
            let r = report(d + 10, "1.10.0", 20, 0, u32::from(d == 1), vec![], hours);
            assert_eq!(post(&c, &s, &r).await.0, 202);
            let crashed_new = if d == 0 { 3 } else { u32::from(day % 3 == 0) };
            let mut crashes = vec![crash(sig_div, "attempt to divide by zero", crashed_new)];
            if day == 0 {
                crashes.push(crash(
                    sig_xss,
                    "<input value=\"error\" type=file> & more",
                    1,
                ));
            }
            let r = report(d + 20, "2.0.0", 10, crashed_new, 0, crashes, hours);
            let (status, body) = post(&c, &s, &r).await;
            assert_eq!(status, 202, "{body}");
        }
    }
    // One device only: withheld, must not appear.
    let r = report(
        99,
        "9.9.9-secret",
        5,
        5,
        0,
        vec![crash("3d3d3d3d3d3d3d3d", "the <word> was not found", 5)],
        2,
    );
    assert_eq!(post(&c, &s, &r).await.0, 202);

    let tmp = tempfile::tempdir().expect("temp dir");
    let url = s.url("/");
    let dom = run_chromium(
        &tmp.path().join("profile-dom"),
        &["--dump-dom".into(), url.clone()],
    );
    assert!(
        dom.contains("Locus community health"),
        "page did not load: {dom:.500}"
    );
    assert!(
        dom.contains(r#"<svg id="crash-free-chart""#),
        "no chart: {dom:.2000}"
    );
    for v in ["1.9.0", "1.10.0", "2.0.0"] {
        let marker = format!(r#"<g class="series" data-version="{v}""#);
        let start = dom
            .find(&marker)
            .unwrap_or_else(|| panic!("no series for {v}"));
        let group = &dom[start..start + dom[start..].find("</g>").unwrap()];
        assert!(group.contains("<polyline"), "{v}: no line");
        assert_eq!(
            group.matches("<circle").count(),
            7,
            "{v}: one point per day"
        );
        assert!(
            dom.contains(&format!(r#"<table class="signatures" data-version="{v}""#))
                || v == "1.10.0"
        );
    }
    assert!(dom.contains(r#"<table id="versions""#));
    for text in [
        "index out of bounds: the len is &lt;num&gt; but the index is &lt;num&gt;",
        "attempt to divide by zero",
        sig_oob,
        sig_div,
    ] {
        assert!(dom.contains(text), "signature table lacks {text:?}");
    }
    // 1.10.0 had no crash: its section says so.
    assert!(dom.contains("<h3>1.10.0</h3>\n<p class=\"note\">No crashes reported.</p>"));
    // Report text is escaped: shown as text, never parsed as markup.
    assert!(
        dom.contains("&lt;input value=\"error\" type=file&gt; &amp; more"),
        "escaped text missing"
    );
    assert!(!dom.contains("<input"), "report text became markup");
    // The withheld version is nowhere.
    assert!(!dom.contains("9.9.9-secret") && !dom.contains("was not found"));
    // 2.0.0 crashes more than 1.10.0: marked as worse.
    assert!(dom.contains("class=\"worse\">▼"), "regression not marked");

    let shot = tmp.path().join("dash.png");
    run_chromium(
        &tmp.path().join("profile-shot"),
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1200,900".into(),
            "--hide-scrollbars".into(),
            url,
        ],
    );
    let png = std::fs::read(&shot).expect("chromium wrote no screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "screenshot is not a real PNG"
    );
    if let Ok(keep) = std::env::var("LOCUS_KEEP_SCREENSHOT") {
        std::fs::write(&keep, &png).expect("keep screenshot");
    }
    drop(browser);
}
