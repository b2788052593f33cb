//! The main job, as a user runs it: `locus-diag demo` (embedded local bucket and real
//! S3), then the Debug screen (`buffer`, `--json`, `--follow`) and `status` on its data
//! dir. Whatever happens to telemetry, the demo exits 0.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use locus_testkit::seaweed::{run_async, SeaweedS3};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn diag() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_locus-diag"));
    c.env("RUST_BACKTRACE", "0").stdin(Stdio::null());
    c
}

fn run(c: &mut Command) -> (String, Output) {
    let out = c.output().expect("locus-diag runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (text, out)
}

fn demo(dir: &Path, extra: &[&str]) -> String {
    let (text, out) = run(diag()
        .args(["demo", "--data-dir"])
        .arg(dir)
        .args(["--seconds", "1"])
        .args(extra));
    assert!(
        out.status.success(),
        "demo exits 0: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn demo_fills_the_recorder_ships_locally_and_the_debug_screen_shows_it() {
    let dir = tempfile::tempdir().unwrap();
    let summary = demo(dir.path(), &[]);
    for needle in [
        "records written:",
        "records dropped:",
        "tracking loop:",
        "p99",
        "previous session:  first start",
        "flight recorder:",
        "file://",
    ] {
        assert!(
            summary.contains(needle),
            "summary lacks {needle:?}:\n{summary}"
        );
    }
    let (text, out) = run(diag()
        .args(["buffer", "--data-dir"])
        .arg(dir.path())
        .args(["--json"]));
    assert!(out.status.success());
    let lines = json_lines(&text);
    let fixes = lines.iter().filter(|l| l["message"] == "gps fix").count();
    assert!(fixes > 80, "100 Hz for a second logs about a hundred fixes");
    // Counters and histograms are aggregated: a few records, exact totals.
    let counted: f64 = lines
        .iter()
        .filter(|l| l["kind"] == "metric" && l["name"] == "fixes")
        .filter_map(|l| l["value"].as_f64())
        .sum();
    assert_eq!(
        counted as usize, fixes,
        "the fixes counter counts every fix"
    );
    let observed: u64 = lines
        .iter()
        .filter(|l| l["kind"] == "histogram" && l["name"] == "fix_latency_ms")
        .filter_map(|l| l["count"].as_u64())
        .sum();
    assert_eq!(observed as usize, fixes, "one latency observation per fix");
    assert!(
        lines.len() < fixes + 20,
        "metrics add a handful of records, not two per fix: {}",
        lines.len()
    );
    for l in &lines {
        for key in ["seq", "ts", "level", "kind"] {
            assert!(l.get(key).is_some(), "{key} missing: {l}");
        }
    }
    assert!(
        lines
            .windows(2)
            .all(|w| w[0]["seq"].as_u64() < w[1]["seq"].as_u64()),
        "oldest first"
    );
    assert!(lines
        .iter()
        .any(|l| l["message"] == "gps fix" && l["fields"]["lat"].is_number()));

    let (last, _) = run(diag()
        .args(["buffer", "--data-dir"])
        .arg(dir.path())
        .args(["--last", "5"]));
    assert_eq!(
        last.lines().count(),
        6,
        "five records and the footer:\n{last}"
    );

    // The embedded destination holds the same records.
    let bucket = dir.path().join("bucket").join("diagnostics");
    let files: Vec<_> = walk(&bucket);
    assert!(!files.is_empty(), "files under {}", bucket.display());
    let (status, _) = run(diag().args(["status", "--data-dir"]).arg(dir.path()));
    assert!(status.contains("shipped through #"), "{status}");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn a_crash_run_is_reported_crashed_by_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let first = demo(dir.path(), &["--crash"]);
    assert!(first.contains("panicked once"), "{first}");
    let second = demo(dir.path(), &[]);
    assert!(second.contains("previous session:  crashed"), "{second}");
    let (text, _) = run(diag()
        .args(["buffer", "--data-dir"])
        .arg(dir.path())
        .args(["--json"]));
    let crash = json_lines(&text)
        .into_iter()
        .find(|l| l["kind"] == "crash")
        .expect("tombstone in the ring");
    assert_eq!(crash["thread"], "sync-worker");
    assert_eq!(crash["level"], "fatal");
}

#[test]
fn demo_uploads_to_real_s3() {
    let s3 = SeaweedS3::shared();
    let bucket = s3.unique_bucket("demo");
    let dir = tempfile::tempdir().unwrap();
    let url = format!("s3://{bucket}");
    let mut c = diag();
    c.args(["demo", "--data-dir"]).arg(dir.path()).args([
        "--seconds",
        "1",
        "--device-id",
        "pixel-7",
        "--bucket",
        &url,
    ]);
    for (k, v) in s3.env_vars() {
        c.env(k, v);
    }
    let (summary, out) = run(&mut c);
    assert!(out.status.success(), "{summary}");
    assert!(summary.contains("0 failed"), "{summary}");

    let client = s3.client();
    let keys: Vec<String> = run_async(move || async move {
        let list = client
            .list_objects_v2()
            .bucket(&bucket)
            .send()
            .await
            .unwrap();
        list.contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect()
    });
    assert!(!keys.is_empty());
    let day = chrono::Utc::now().format("%Y/%m/%d").to_string();
    for k in &keys {
        assert!(
            k.starts_with(&format!("diagnostics/{day}/pixel-7_")) && k.ends_with(".log.gz"),
            "{k}"
        );
    }
    // `cat` on the first object decodes records that the ring also holds.
    let mut c = diag();
    c.args(["cat", &format!("{url}/{}", keys[0]), "--json"]);
    for (k, v) in s3.env_vars() {
        c.env(k, v);
    }
    let (cat, out) = run(&mut c);
    assert!(
        out.status.success(),
        "{cat}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shipped = json_lines(&cat);
    let (ring, _) = run(diag()
        .args(["buffer", "--data-dir"])
        .arg(dir.path())
        .args(["--json"]));
    let ring = json_lines(&ring);
    for r in &shipped {
        assert!(ring.contains(r), "shipped record is the ring's record: {r}");
    }
}

#[test]
fn follow_tails_a_running_demo_without_disturbing_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = diag()
        .args(["demo", "--data-dir"])
        .arg(dir.path())
        .args(["--seconds", "3", "--no-upload"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // Wait for the ring to exist.
    let ring = dir.path().join("recorder.ring");
    let t0 = Instant::now();
    while !ring.exists() && t0.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let mut follower = diag()
        .args(["buffer", "--data-dir"])
        .arg(dir.path())
        .args(["--follow", "--json", "--interval-ms", "50"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let reader = BufReader::new(follower.stdout.take().unwrap());
    let mut seqs = Vec::new();
    let started = Instant::now();
    for line in reader.lines() {
        let Ok(line) = line else { break };
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        seqs.push(v["seq"].as_u64().unwrap());
        if started.elapsed() > Duration::from_millis(1500) {
            break;
        }
    }
    follower.kill().unwrap();
    let _ = follower.wait();
    let status = writer.wait().unwrap();
    assert!(status.success(), "the writer was not disturbed");
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "follow prints each record once, in order"
    );
    assert!(
        seqs.len() > 150,
        "it kept printing new records: {}",
        seqs.len()
    );
}

#[test]
fn bad_config_and_unusable_data_dir_still_exit_zero() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "ring_bytes = \"lots\"\n").unwrap();
    let data = dir.path().join("data");
    let text = demo(&data, &["--config", cfg.to_str().unwrap()]);
    assert!(text.contains("ring_bytes"), "the reason is printed: {text}");

    // A data dir that is a regular file: everything degrades, nothing fails.
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let text = demo(&file, &[]);
    assert!(text.contains("in memory"), "{text}");
    assert!(text.contains("problem:"), "{text}");
}

fn figure(summary: &str, label: &str) -> u64 {
    summary
        .lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {label:?} in {summary}"))
}

/// Issue 10, item 5: runs at 5000 Hz wrap the ring many times over. The window read back
/// stays gap-free, holds nothing of earlier sessions, and "dropped" never exceeds what the
/// session wrote.
#[test]
fn wrapping_runs_leave_a_gap_free_window_and_honest_counts() {
    let dir = tempfile::tempdir().unwrap();
    let mut firsts = Vec::new();
    for n in 0..3 {
        let summary = demo(dir.path(), &["--hz", "5000"]);
        let written = figure(&summary, "records written:");
        let dropped = figure(&summary, "records dropped:");
        assert!(written > 2_000, "run {n}: {summary}");
        assert!(
            dropped <= written,
            "run {n}: dropped {dropped} > written {written}"
        );
        let (text, out) = run(diag()
            .args(["buffer", "--json", "--data-dir"])
            .arg(dir.path()));
        assert!(out.status.success());
        let seqs: Vec<u64> = json_lines(&text)
            .iter()
            .map(|r| r["seq"].as_u64().expect("seq"))
            .collect();
        assert!(seqs.len() > 1_000, "run {n}: {} records", seqs.len());
        let gaps = seqs.windows(2).filter(|w| w[1] != w[0] + 1).count();
        assert_eq!(gaps, 0, "run {n}: gaps in the window");
        firsts.push(seqs[0]);
    }
    assert!(
        firsts.windows(2).all(|w| w[1] > w[0]),
        "the oldest record moves on with every session: {firsts:?}"
    );
}
