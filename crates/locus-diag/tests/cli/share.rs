//! `locus-diag export` and `locus-diag verbosity` on a demo data dir, as a user runs
//! them: the bundle reads back with the real `zcat | jq`, the redacted one passes the
//! privacy filter's own leak check, `--preview` writes nothing, and a raised verbosity
//! reaches the running demo.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn diag() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_locus-diag"));
    c.env("RUST_BACKTRACE", "0").stdin(Stdio::null());
    c
}

fn ok(c: &mut Command) -> String {
    let out: Output = c.output().expect("runs");
    assert!(
        out.status.success(),
        "{:?} failed:\n{}\n{}",
        c,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn demo(dir: &Path, seconds: &str) -> Command {
    let mut c = diag();
    c.args(["demo", "--no-upload", "--seconds", seconds, "--data-dir"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

/// `zcat FILE | jq -c .`: one JSON value per line, or a loud failure naming the fix.
fn zcat_jq(file: &Path) -> Vec<serde_json::Value> {
    let jq = Command::new("jq").arg("--version").output();
    assert!(
        jq.is_ok_and(|o| o.status.success()),
        "jq is missing: `apt-get install jq` (scripts/test installs it)"
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(r#"set -o pipefail; zcat -- "$1" | jq -c ."#)
        .arg("bash")
        .arg(file)
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "zcat | jq failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn export_of_a_demo_reads_back_with_zcat_jq_and_redacted_passes_the_leak_check() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    ok(&mut demo(&data, "2"));

    // Preview: the summary and the first lines as they would be written; no file.
    let preview = ok(diag()
        .args(["export", "--redact", "--preview", "5", "--data-dir"])
        .arg(&data));
    assert!(preview.starts_with("Locus telemetry export\n"), "{preview}");
    assert!(preview.contains("values changed"), "{preview}");
    let lines: Vec<&str> = preview
        .lines()
        .skip_while(|l| !l.starts_with("-- the first 5 of"))
        .skip(1)
        .collect();
    assert_eq!(lines.len(), 5, "{preview}");
    assert!(
        std::fs::read_dir(tmp.path()).unwrap().count() == 1,
        "preview writes nothing"
    );

    // Plain.
    let plain = tmp.path().join("plain.jsonl.gz");
    let said = ok(diag()
        .args(["export", "--data-dir"])
        .arg(&data)
        .arg("--out")
        .arg(&plain));
    let summary = std::fs::read_to_string(tmp.path().join("plain.summary.txt")).unwrap();
    assert!(said.starts_with(&summary), "{said}");
    for needle in [
        "app version:",
        "time span:",
        "sessions:     1",
        "clean exit",
        "crashes:      0",
        "redaction:    off",
    ] {
        assert!(
            summary.contains(needle),
            "summary lacks {needle:?}:\n{summary}"
        );
    }
    let records = zcat_jq(&plain);
    assert!(records.len() > 100, "{}", records.len());
    assert_eq!(&lines[0][..8], r#"{"seq":1"#);
    assert!(records
        .iter()
        .all(|r| r["seq"].is_u64() && r["kind"].is_string()));
    // The preview's lines are the bundle's lines (redaction aside, the first record is
    // the session start in both).
    assert_eq!(records[0]["kind"], "session");

    // Redacted.
    let red = tmp.path().join("red.jsonl.gz");
    ok(diag()
        .args(["export", "--redact", "--since", "1h", "--data-dir"])
        .arg(&data)
        .arg("--out")
        .arg(&red));
    let summary = std::fs::read_to_string(tmp.path().join("red.summary.txt")).unwrap();
    assert!(summary.contains("redaction:    on"), "{summary}");
    let changed: usize = summary
        .split("redaction:")
        .nth(1)
        .and_then(|s| s.split(": ").nth(1))
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a count of changed values:\n{summary}"));
    assert!(changed > 0, "the demo logs an e-mail address: {summary}");
    let records = zcat_jq(&red);
    let mut all = Vec::new();
    records
        .iter()
        .for_each(|r| all.extend(locus_testkit::json_strings(r)));
    assert!(all.len() > records.len());
    for s in &all {
        assert_eq!(locus_privacy::find_pii(s), None, "{s:?} leaks");
    }

    // Never over an existing file; a missing data dir is a clear error.
    let again = diag()
        .args(["export", "--data-dir"])
        .arg(&data)
        .arg("--out")
        .arg(&red)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let missing = diag()
        .args(["export", "--data-dir"])
        .arg(tmp.path().join("nope"))
        .arg("--out")
        .arg(tmp.path().join("x.jsonl.gz"))
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no flight recorder to export"));
}

#[test]
fn verbosity_raised_from_the_cli_reaches_the_running_demo() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let shown = ok(diag().args(["verbosity", "--data-dir"]).arg(tmp.path()));
    assert!(shown.contains("verbosity: info (default"), "{shown}");
    let refused = diag()
        .args(["verbosity", "trace", "--for", "25h", "--data-dir"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("24 hours"));

    // The demo logs a debug line about the battery once a second: dropped at info.
    let mut child = demo(&data, "6").spawn().unwrap();
    let until = Instant::now() + Duration::from_secs(20);
    while !data.join("recorder.ring").exists() {
        assert!(Instant::now() < until, "the demo did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let said = ok(diag()
        .args(["verbosity", "debug", "--for", "10m", "--data-dir"])
        .arg(&data));
    assert!(said.contains("verbosity: debug until"), "{said}");
    assert!(child.wait().unwrap().success());
    let shown = ok(diag().args(["verbosity", "--data-dir"]).arg(&data));
    assert!(
        shown.contains("debug until") && shown.contains("locus-diag"),
        "{shown}"
    );
    let json = ok(diag().args(["buffer", "--json", "--data-dir"]).arg(&data));
    let debug = json
        .lines()
        .filter(|l| l.contains(r#""level":"debug""#) && l.contains("battery"))
        .count();
    assert!(debug > 0, "debug lines recorded while raised");
    ok(diag().args(["verbosity", "info", "--data-dir"]).arg(&data));
    let shown = ok(diag().args(["verbosity", "--data-dir"]).arg(&data));
    assert_eq!(shown.trim(), "verbosity: info");
}

/// A tmux server of its own, killed when dropped.
struct Tmux(String);

impl Tmux {
    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.0])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run tmux ({e}): `apt-get install tmux`"));
        assert!(out.status.success(), "tmux {args:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn wait_for(&self, needle: &str) -> String {
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = self.run(&["capture-pane", "-p", "-t", "v"]);
            if screen.contains(needle) {
                return screen;
            }
            assert!(Instant::now() < until, "never showed {needle:?}:\n{screen}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.0, "kill-server"])
            .output();
    }
}

#[test]
fn the_debug_screens_v_key_raises_the_verbosity_in_turn() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    ok(&mut demo(&data, "1"));
    let t = Tmux(format!("locus-share-test-{}", std::process::id()));
    let command = format!(
        "RUST_BACKTRACE=0 '{}' debug --data-dir '{}' --interval-ms 100; echo exit=$?; sleep 600",
        env!("CARGO_BIN_EXE_locus-diag"),
        data.display()
    );
    t.run(&[
        "new-session",
        "-d",
        "-s",
        "v",
        "-x",
        "80",
        "-y",
        "24",
        &command,
    ]);
    t.wait_for("session clean exit");
    t.run(&["send-keys", "-t", "v", "v"]);
    t.wait_for("verbosity debug until");
    let shown = ok(diag().args(["verbosity", "--data-dir"]).arg(&data));
    assert!(
        shown.contains("debug until") && shown.contains("locus-diag debug"),
        "{shown}"
    );
    t.run(&["send-keys", "-t", "v", "v"]);
    t.wait_for("verbosity trace until");
    t.run(&["send-keys", "-t", "v", "v"]);
    t.wait_for("verbosity info (the default)");
    t.run(&["send-keys", "-t", "v", "?"]);
    t.wait_for("verbosity: app records debug");
    t.run(&["send-keys", "-t", "v", "q"]);
    t.run(&["send-keys", "-t", "v", "q"]);
    t.wait_for("exit=0");
}
