//! `locus-diag debug`, the interactive Debug screen, driven headless under tmux as a
//! user drives it: keys in with `send-keys`, the screen out with `capture-pane`, each
//! expectation polled until it shows (or a generous deadline fails the test with the
//! last screen). Covers following a running app, the level and kind filters, the search
//! and its highlight, a crash's detail, the status panel with an open breaker, resizing,
//! a ring replaced under the screen, and a missing or damaged data dir.
//!
//! tmux is required: without it these tests fail, naming the package to install
//! (`scripts/test` installs it).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use locus_telemetry::breaker::PersistedBreaker;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Long enough for a loaded CI machine; only a screen that never shows gets here.
const DEADLINE: Duration = Duration::from_secs(30);

fn diag() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_locus-diag"));
    c.env("RUST_BACKTRACE", "0").stdin(Stdio::null());
    c
}

/// A finished demo run in `dir`.
fn demo(dir: &Path, extra: &[&str]) {
    let out = diag()
        .args(["demo", "--data-dir"])
        .arg(dir)
        .args(["--seconds", "1"])
        .args(extra)
        .output()
        .expect("locus-diag runs");
    assert!(
        out.status.success(),
        "demo exits 0: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The screen in its own tmux server (a socket of its own, no user config), killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn tmux(&self) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket, "-f", "/dev/null"]);
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        let out = self.tmux().args(args).output().unwrap_or_else(|e| {
            panic!("cannot run tmux ({e}): install it with `apt-get install tmux`")
        });
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Starts `locus-diag debug --data-dir DIR` on a `width`×`height` terminal. When it
    /// exits, the pane prints its exit status and stays (`exit=N`).
    fn start(dir: &Path, width: u16, height: u16) -> Tmux {
        match Command::new("tmux").arg("-V").output() {
            Ok(o) if o.status.success() => {}
            _ => panic!(
                "tmux is missing: the Debug screen tests drive the screen under tmux. \
                 Install it with `apt-get install tmux` (scripts/test does)."
            ),
        }
        static N: AtomicUsize = AtomicUsize::new(0);
        let socket = format!(
            "locus-debug-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let t = Tmux { socket };
        let command = format!(
            "RUST_BACKTRACE=0 '{}' debug --data-dir '{}' --interval-ms 100; echo exit=$?; sleep 600",
            env!("CARGO_BIN_EXE_locus-diag"),
            dir.display()
        );
        t.run(&[
            "new-session",
            "-d",
            "-s",
            "debug",
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
            &command,
        ]);
        t
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "debug"];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    /// Types `text` literally.
    fn type_text(&self, text: &str) {
        self.run(&["send-keys", "-t", "debug", "-l", text]);
    }

    fn capture(&self, styled: bool) -> String {
        let mut args = vec!["capture-pane", "-p", "-t", "debug"];
        if styled {
            args.push("-e");
        }
        String::from_utf8_lossy(&self.run(&args).stdout).into_owned()
    }

    /// Polls the screen until `ok` holds on a settled screen (two captures alike, so
    /// never one caught half-drawn); fails with `what` and the last screen.
    fn wait(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let t0 = Instant::now();
        let mut before = String::new();
        loop {
            let screen = self.capture(false);
            if screen == before && ok(&screen) {
                return screen;
            }
            before = screen.clone();
            assert!(
                t0.elapsed() < DEADLINE,
                "the screen never showed {what}; last screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn wait_for(&self, needle: &str) -> String {
        self.wait(&format!("{needle:?}"), |s| s.contains(needle))
    }

    /// `q`, then the process's exit status as the pane prints it.
    fn quit(&self) {
        self.keys(&["q"]);
        let screen = self.wait("the process exiting", |s| s.contains("exit="));
        assert!(
            screen.contains("exit=0"),
            "q exits cleanly, terminal restored:\n{screen}"
        );
        assert!(
            !screen.contains("Locus Debug"),
            "the alternate screen is left on exit:\n{screen}"
        );
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux().arg("kill-server").output();
    }
}

/// The record rows of the list (sequence number first), in screen order.
fn rows(screen: &str) -> Vec<&str> {
    let lines: Vec<&str> = screen.lines().collect();
    let Some(title) = lines.iter().position(|l| l.starts_with("── records")) else {
        return Vec::new();
    };
    lines[title + 1..]
        .iter()
        .copied()
        .filter(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|w| w.parse::<u64>().is_ok())
        })
        .collect()
}

fn seq_of(row: &str) -> u64 {
    row.split_whitespace().next().unwrap().parse().unwrap()
}

/// A row's level column.
fn level_of(row: &str) -> &str {
    row.split_whitespace().nth(2).unwrap()
}

#[test]
fn follows_a_running_app_and_pauses_when_scrolled_up() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = diag()
        .args(["demo", "--data-dir"])
        .arg(dir.path())
        .args(["--seconds", "8", "--no-upload", "--hz", "20"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ring = dir.path().join("recorder.ring");
    assert!(locus_testkit::wait_until(DEADLINE, || ring.exists()));
    let t = Tmux::start(dir.path(), 80, 24);
    let first = t.wait("records", |s| !rows(s).is_empty());
    assert!(first.contains("FOLLOWING"), "{first}");
    let bottom = seq_of(rows(&first).last().unwrap());
    assert!(bottom < 40, "the app has only just started: {first}");
    // New records appear at the bottom while following.
    let later = t.wait("newer records at the bottom", |s| {
        rows(s).last().is_some_and(|r| seq_of(r) > 40)
    });
    let seqs: Vec<u64> = rows(&later).iter().map(|r| seq_of(r)).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "oldest first: {seqs:?}"
    );

    // Scrolling up pauses: the selected record stays where it is while the app writes.
    t.keys(&["Up", "Up", "Up"]);
    let paused = t.wait_for("PAUSED");
    let paused_rows: Vec<u64> = rows(&paused).iter().map(|r| seq_of(r)).collect();
    std::thread::sleep(Duration::from_millis(600));
    let still = t.capture(false);
    assert!(still.contains("PAUSED"), "{still}");
    assert_eq!(
        rows(&still).iter().map(|r| seq_of(r)).collect::<Vec<_>>(),
        paused_rows,
        "a paused list does not move"
    );
    // End follows again and catches up.
    let newest_paused = *paused_rows.last().unwrap();
    t.keys(&["End"]);
    t.wait("following again, newer rows", |s| {
        s.contains("FOLLOWING") && rows(s).last().is_some_and(|r| seq_of(r) > newest_paused)
    });
    assert!(
        writer.wait().unwrap().success(),
        "the app was not disturbed"
    );
    t.quit();
}

#[test]
fn level_and_kind_filters_and_the_crash_detail() {
    let dir = tempfile::tempdir().unwrap();
    demo(dir.path(), &["--crash", "--no-upload"]);
    let t = Tmux::start(dir.path(), 80, 24);
    let screen = t.wait_for("session clean exit");
    assert!(
        screen.contains("crashed (1 crash)"),
        "the session's verdict:\n{screen}"
    );

    // Level: all → >=debug → >=info: the demo's debug lines go.
    t.keys(&["l", "l"]);
    let info = t.wait_for("level>=info");
    assert!(!rows(&info).is_empty());
    assert!(rows(&info).iter().all(|r| level_of(r) != "debug"), "{info}");
    t.keys(&["l", "l"]);
    let errors = t.wait_for("level>=error");
    assert_eq!(
        rows(&errors).len(),
        1,
        "only the crash is error or worse:\n{errors}"
    );
    assert!(
        rows(&errors)[0].contains("CRASH panic in 'sync-worker'"),
        "{errors}"
    );

    // Kind: clear, then all → log → crash → metric.
    t.keys(&["c", "k", "k", "k"]);
    let metrics = t.wait_for("kind=metric");
    assert!(!rows(&metrics).is_empty());
    assert!(
        rows(&metrics)
            .iter()
            .all(|r| r.contains(" metric ") || r.contains(" histogram ")),
        "{metrics}"
    );

    // Target: log records whose target contains the text.
    t.keys(&["c", "t"]);
    t.type_text("CMD::demo");
    t.keys(&["Enter"]);
    let target = t.wait_for("target~CMD::demo");
    assert!(!rows(&target).is_empty());
    assert!(
        rows(&target)
            .iter()
            .all(|r| r.contains(" locus_diag::cmd::demo: ")),
        "{target}"
    );

    // The crash's detail: message, location, thread and the whole backtrace.
    t.keys(&["c", "k", "k"]);
    let crash = t.wait_for("kind=crash");
    assert_eq!(rows(&crash).len(), 1, "{crash}");
    t.keys(&["Enter"]);
    let detail = t.wait_for("backtrace:");
    for needle in [
        "kind         crash",
        "crash        panic",
        "message      sync queue unexpectedly empty",
        "location     crates/locus-diag/src/cmd/demo.rs:",
        "thread       sync-worker",
        "backtrace:",
    ] {
        assert!(
            detail.contains(needle),
            "detail lacks {needle:?}:\n{detail}"
        );
    }
    // The backtrace's frames follow, then the record as JSON; scrolling stops at its end.
    assert!(detail.contains("   0: "), "{detail}");
    for _ in 0..60 {
        t.keys(&["PageDown"]);
    }
    // The detail wraps at the screen's width: read its rows joined up.
    let joined = |s: &str| s.lines().skip(1).collect::<String>();
    let end = t.wait("the end of the JSON line", |s| {
        joined(s).ends_with("\"level\":\"fatal\"}")
    });
    assert!(joined(&end).contains("\"uptime_ms\":"), "{end}");
    t.keys(&["Escape"]);
    t.wait("the list again", |s| {
        s.contains("kind=crash") && !s.contains("Record #")
    });
    t.keys(&["?"]);
    t.wait_for("level filter: all, >=debug");
    t.keys(&["Escape"]);
    t.wait_for("kind=crash");
    t.quit();
}

#[test]
fn search_highlights_matches_and_jumps_to_them() {
    let dir = tempfile::tempdir().unwrap();
    demo(dir.path(), &["--no-upload"]);
    let t = Tmux::start(dir.path(), 80, 24);
    t.wait_for("session clean exit");
    t.keys(&["/"]);
    t.type_text("Battery");
    t.wait_for("/Battery");
    t.keys(&["Enter"]);
    let found = t.wait_for("search \"Battery\":");
    let count: usize = found
        .split("search \"Battery\": ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a match count:\n{found}"));
    assert!(count > 0, "{found}");
    // `n` jumps to the newest match above the bottom and pauses there; the match is
    // highlighted (black on yellow) wherever it shows.
    t.keys(&["n"]);
    let paused = t.wait_for("PAUSED");
    assert!(
        rows(&paused).iter().any(|r| r.contains("battery")),
        "{paused}"
    );
    let styled = t.capture(true);
    // Yellow background just before the match: `ESC[43m` or `ESC[48;5;3m`.
    let highlighted = styled.contains("43mbattery") || styled.contains("48;5;3mbattery");
    assert!(highlighted, "matches are highlighted:\n{styled:?}");
    // Esc clears the search.
    t.keys(&["Escape"]);
    t.wait("the search cleared", |s| !s.contains("search \"Battery\""));
    t.quit();
}

#[test]
fn status_panel_shows_an_open_breaker_and_the_backlog() {
    let dir = tempfile::tempdir().unwrap();
    demo(dir.path(), &["--no-upload"]);
    // The breaker as the library persists it after six failed uploads in a row.
    let breaker = PersistedBreaker {
        consecutive_failures: 6,
        open_until: Some(chrono::Utc::now() + chrono::Duration::hours(6)),
        times_opened: 1,
        last_error: Some("connect: connection refused (os error 111)".into()),
        in_flight: None,
    };
    std::fs::write(
        dir.path().join("breaker-s3.json"),
        serde_json::to_vec_pretty(&breaker).unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("cursor-s3.json"),
        br#"{"last_shipped_seq":10}"#,
    )
    .unwrap();
    let t = Tmux::start(dir.path(), 80, 24);
    let screen = t.wait_for("breaker OPEN");
    let s3 = screen
        .lines()
        .find(|l| l.starts_with("s3 "))
        .unwrap_or_else(|| panic!("an s3 line:\n{screen}"));
    assert!(s3.contains("next probe in 5h59m"), "{s3}");
    assert!(s3.contains("6 failures in a row"), "{s3}");
    let waiting: u64 = screen
        .split(" records waiting")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a number waiting:\n{screen}"));
    let newest = rows(&screen).last().map(|r| seq_of(r)).unwrap();
    assert_eq!(waiting, newest - 10, "{screen}");
    assert!(
        screen.contains("last error: connect: connection refused"),
        "{screen}"
    );
    assert!(
        screen.contains("last ok before the failures began"),
        "{screen}"
    );
    for needle in [
        "recorder   file 1.0 MiB",
        "dropped 0",
        "session    exited cleanly",
        "community",
    ] {
        assert!(screen.contains(needle), "lacks {needle:?}:\n{screen}");
    }
    t.quit();
}

#[test]
fn redraws_on_resize() {
    let dir = tempfile::tempdir().unwrap();
    demo(dir.path(), &["--no-upload"]);
    let t = Tmux::start(dir.path(), 80, 24);
    let small = t.wait_for("session clean exit");
    assert_eq!(small.lines().count(), 24, "{small}");
    let title = |s: &str| {
        s.lines()
            .find(|l| l.starts_with("── records"))
            .map(|l| l.chars().count())
            .unwrap_or(0)
    };
    assert_eq!(title(&small), 80, "{small}");
    let rows_small = rows(&small).len();
    t.run(&["resize-window", "-t", "debug", "-x", "120", "-y", "40"]);
    let big = t.wait("the title across 120 columns", |s| title(s) == 120);
    assert!(
        rows(&big).len() >= rows_small + 15,
        "more rows on a taller screen:\n{big}"
    );
    assert!(
        big.lines().last().unwrap_or("").contains("Enter detail"),
        "{big}"
    );
    t.run(&["resize-window", "-t", "debug", "-x", "60", "-y", "14"]);
    let tiny = t.wait("the title across 60 columns", |s| title(s) == 60);
    assert!(tiny.contains("Locus Debug"), "{tiny}");
    assert!(!rows(&tiny).is_empty(), "{tiny}");
    t.quit();
}

#[test]
fn a_missing_then_damaged_then_replaced_data_dir_is_shown_not_a_panic() {
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("data");
    let t = Tmux::start(&dir, 80, 24);
    t.wait_for("does not exist: no app has written telemetry there");

    // It appears, damaged: a ring cut short, unreadable state files.
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("recorder.ring"), vec![0xA5u8; 100]).unwrap();
    std::fs::write(dir.join("session.json"), b"{not json").unwrap();
    std::fs::create_dir(dir.join("breaker-s3.json")).unwrap();
    let damaged = t.wait_for("The flight recorder cannot be read:");
    assert!(
        damaged.contains("session    unknown (session.json: damaged"),
        "{damaged}"
    );
    assert!(
        damaged.contains("breaker unknown (breaker-s3.json"),
        "{damaged}"
    );
    // A ring-sized file of garbage reads as no records at all.
    std::fs::write(dir.join("recorder.ring"), vec![0xA5u8; 64 * 1024]).unwrap();
    t.wait_for("no readable records");

    // An app starts over there: the screen picks the new ring up.
    std::fs::remove_file(dir.join("recorder.ring")).unwrap();
    std::fs::remove_file(dir.join("session.json")).unwrap();
    demo(&dir, &["--no-upload"]);
    let good = t.wait_for("session clean exit");
    assert!(good.contains("FOLLOWING"), "{good}");
    let before = rows(&good).len();
    assert!(before > 0);

    // The ring is rewritten under the screen (another copy renamed over it): the screen
    // keeps going and shows the new one.
    let other = base.path().join("other");
    demo(&other, &["--no-upload", "--crash"]);
    std::fs::copy(other.join("recorder.ring"), dir.join("recorder.ring.new")).unwrap();
    std::fs::rename(dir.join("recorder.ring.new"), dir.join("recorder.ring")).unwrap();
    t.keys(&["k", "k"]);
    t.wait("the new ring's crash", |s| {
        rows(s).iter().any(|r| r.contains("CRASH panic"))
    });
    t.quit();
}

#[test]
fn without_a_terminal_it_says_what_to_use_instead() {
    let dir = tempfile::tempdir().unwrap();
    let out = diag()
        .args(["debug", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("needs a terminal") && err.contains("locus-diag buffer"),
        "{err}"
    );
}

/// Issue 22: the Debug screen shows hangs — a count and the latest in the status panel,
/// the records themselves under the kind filter `hang`, and a hang's detail.
#[test]
fn hangs_are_counted_in_the_panel_and_listed_by_kind() {
    let dir = tempfile::tempdir().unwrap();
    let out = diag()
        .args(["demo", "--data-dir"])
        .arg(dir.path())
        .args(["--seconds", "2", "--no-upload", "--stall-ms", "1500"])
        .output()
        .expect("locus-diag runs");
    assert!(out.status.success());
    let t = Tmux::start(dir.path(), 100, 30);
    let screen = t.wait_for("session clean exit");
    assert!(
        screen.contains("1 in the ring · latest: tracking "),
        "the panel counts the hang:\n{screen}"
    );
    // Kind: all → log → crash → metric → session → hang.
    t.keys(&["k", "k", "k", "k", "k"]);
    let hangs = t.wait_for("kind=hang");
    let rows = rows(&hangs);
    assert_eq!(rows.len(), 2, "a start and an end:\n{hangs}");
    assert!(rows[0].contains("HANG start: loop 'tracking'"), "{hangs}");
    assert!(
        rows[1].contains("HANG end: loop 'tracking' stalled"),
        "{hangs}"
    );
    t.quit();
}
