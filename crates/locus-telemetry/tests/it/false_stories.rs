//! False stories (issue 18): what telemetry tells the next launch, `status()` and the
//! community must be true even when something failed underneath it. Each test here
//! drives real child processes (this test binary re-run in a child role), some of them
//! under `strace --inject` so that a system call fails exactly where the story is told.

use locus_telemetry::crash::session::Outcome;
use locus_telemetry::{Level, ProblemArea, Settings, Telemetry};
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

const ROLE: &str = "LOCUS_STORY_ROLE";
const DIR: &str = "LOCUS_STORY_DIR";
const ENTRY: &str = "false_stories::child_entry";
const URL: &str = "LOCUS_STORY_URL";
const SHUTDOWN: Duration = Duration::from_millis(500);

fn settings(dir: &Path) -> Settings {
    Settings {
        data_dir: dir.to_path_buf(),
        enable_s3_diagnostics: false,
        // Opted in, to a loopback listener that never answers (see `Silent`): the
        // previous session's outcome is counted, and no report ever completes, so the
        // counts stay in `community.json` for the parent to read.
        enable_community_telemetry: true,
        community_url: std::env::var(URL).ok(),
        ring_bytes: 256 * 1024,
        app_version: "7.0.1".into(),
        ..Settings::default()
    }
}

/// The child's side: does nothing unless a parent test below started it.
#[test]
fn child_entry() {
    let (Ok(role), Ok(dir)) = (std::env::var(ROLE), std::env::var(DIR)) else {
        return;
    };
    let dir = Path::new(&dir);
    if role == "degraded" {
        // Telemetry's own start fails (an internal panic, injected at its first step).
        let first = Telemetry::start(Settings {
            enable_community_telemetry: false,
            ..settings(&dir.join("first"))
        });
        first.inject_panic_on_thread("start");
        let t = Telemetry::start(settings(dir));
        let previous = t.previous_session();
        println!("VERDICT {}", previous.outcome.as_str());
        println!("REASON {}", previous.reason.unwrap_or_default());
        println!("BACKEND {:?}", t.status().recorder.backend);
        t.shutdown(SHUTDOWN);
        first.shutdown(SHUTDOWN);
        println!("DONE");
        return;
    }
    let t = Telemetry::start(Settings {
        enable_s3_diagnostics: role == "uploads",
        ..settings(dir)
    });
    // The verdict (and with it this session's marker) is settled before anything else.
    let previous = t.previous_session();
    println!("VERDICT {}", previous.outcome.as_str());
    println!("REASON {}", previous.reason.clone().unwrap_or_default());
    for p in t.status().problems {
        println!("PROBLEM {:?} {}", p.area, p.message);
    }
    t.log(Level::Info, "story", "child ran", &[]);
    match role.as_str() {
        "crash" => {
            // A real crash of the app: a panic on its own thread.
            let v: Vec<u8> = Vec::new();
            let _ = v[std::hint::black_box(5)];
        }
        "vanish" => {
            // Ends without a clean exit and without a crash (killed, power cut).
            std::process::exit(0);
        }
        "clean" => {
            t.shutdown(SHUTDOWN);
            println!("DONE");
        }
        "keeper" => {
            t.inject_panic_on_thread("locus-keeper");
            // Waits for the event: the keeper's panic reported as telemetry's failure.
            let mut reported = None;
            for _ in 0..3000 {
                reported = t.status().problems.into_iter().find(|p| {
                    p.area == ProblemArea::Internal && p.message.contains("locus-keeper")
                });
                if reported.is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            println!("KEEPER {}", reported.map(|p| p.message).unwrap_or_default());
            t.log(Level::Info, "story", "recording goes on", &[]);
            t.shutdown(SHUTDOWN);
            println!("DONE");
        }
        "uploads" => {
            // Waits for the event: the upload thread has given up (or runs).
            let mut status = t.status();
            for _ in 0..3000 {
                let d = status.dispatch.as_ref().unwrap();
                if !d.running || d.destinations.iter().any(|d| d.uploads_ok > 0) {
                    break;
                }
                t.flush(Duration::from_millis(10));
                status = t.status();
            }
            for p in &status.problems {
                println!("LATER {:?} {}", p.area, p.message);
            }
            for l in status.dispatch.as_ref().unwrap().summary_lines() {
                println!("SUMMARY {l}");
            }
            t.shutdown(SHUTDOWN);
            println!("DONE");
        }
        other => panic!("unknown role {other}"),
    }
}

/// A community endpoint that accepts connections (the kernel does, into the backlog)
/// and never answers: a report sent there neither arrives nor fails before the child
/// is gone, so the session counts are never reset by a send.
struct Silent(std::net::TcpListener);

impl Silent {
    fn new() -> Silent {
        Silent(std::net::TcpListener::bind("127.0.0.1:0").unwrap())
    }

    fn url(&self) -> String {
        format!("http://{}/v1/reports", self.0.local_addr().unwrap())
    }
}

thread_local! {
    static SILENT: Silent = Silent::new();
}

/// Runs the child in `role`, optionally under `strace` with `strace_args`.
fn child(role: &str, dir: &Path, strace_args: Option<&[&str]>) -> Output {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = match strace_args {
        Some(args) => {
            let mut c = Command::new("strace");
            c.args(["-qq", "-f", "-o", "/dev/null"])
                .args(args)
                .arg(&exe);
            c
        }
        None => Command::new(&exe),
    };
    cmd.args([ENTRY, "--exact", "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .env(DIR, dir)
        .env(URL, SILENT.with(Silent::url))
        .env("RUST_BACKTRACE", "0");
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("cannot run the child ({e}); strace comes from Debian: apt-get install strace")
    });
    assert!(
        stdout(&out).contains("VERDICT "),
        "the child did not get as far as its verdict:\n{}\n{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The value of the child's line `KEY value`.
fn line<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        // (libtest may print "test <name> ... " in front of the child's first line)
        .find_map(|l| l.find(key).map(|at| l[at + key.len()..].trim()))
        .unwrap_or_else(|| panic!("no {key} line in:\n{text}"))
}

/// The community's session counts for the period, as the child left them.
fn community_counts(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("community.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["sessions"].clone()
}

/// `strace` arguments that fail opening the session marker with `errno`, at the opens
/// `when` selects (`1`: the first only; `1+`: every one).
fn fail_marker_open(dir: &Path, errno: &str, when: &str) -> Vec<String> {
    vec![
        "-P".into(),
        dir.join("session.json").display().to_string(),
        "-e".into(),
        "trace=openat".into(),
        "-e".into(),
        format!("inject=openat:error={errno}:when={when}"),
    ]
}

fn as_strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn a_transient_error_reading_the_marker_is_retried_and_the_crash_is_still_a_crash() {
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("data");
    child("clean", &dir, None);
    let crashed = child("crash", &dir, None);
    assert!(!crashed.status.success(), "the crash child must fail");
    for errno in ["EMFILE", "ENFILE", "EINTR", "EAGAIN", "ENOMEM"] {
        let args = fail_marker_open(&dir, errno, "1");
        let out = child("crash", &dir, Some(&as_strs(&args)));
        let text = stdout(&out);
        assert_eq!(
            line(&text, "VERDICT"),
            "crashed",
            "one {errno} reading the marker:\n{text}"
        );
    }
    let counts = community_counts(&dir);
    assert_eq!(counts["abnormal"], 0, "{counts}");
    assert_eq!(counts["crashed"], 5, "{counts}");
}

#[test]
fn a_marker_that_cannot_be_read_gives_an_honest_unknown_never_abnormal() {
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("data");
    child("clean", &dir, None);
    child("vanish", &dir, None);
    let args = fail_marker_open(&dir, "EMFILE", "1+");
    let out = child("clean", &dir, Some(&as_strs(&args)));
    let text = stdout(&out);
    assert_eq!(line(&text, "VERDICT"), "unknown", "{text}");
    let reason = line(&text, "REASON");
    assert!(
        reason.contains("session.json") && reason.contains("Too many open files"),
        "the reason names the file and the error: {text}"
    );
    assert!(text.contains("DONE"), "{text}");
    let counts = community_counts(&dir);
    assert_eq!(counts["abnormal"], 0, "an unknown is not counted: {counts}");
    // (the one exit counted is the first session's, at the vanishing run's start)
    assert_eq!(counts["exited"], 1, "nor as exited: {counts}");
}

#[test]
fn a_real_crash_while_the_marker_cannot_be_read_is_still_a_crash() {
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("data");
    child("clean", &dir, None);
    child("crash", &dir, None);
    let args = fail_marker_open(&dir, "EMFILE", "1+");
    let out = child("clean", &dir, Some(&as_strs(&args)));
    let text = stdout(&out);
    // The tombstone in the ring, after the previous session's start record, says so.
    assert_eq!(line(&text, "VERDICT"), "crashed", "{text}");
    let counts = community_counts(&dir);
    assert_eq!(counts["abnormal"], 0, "{counts}");
    assert_eq!(counts["crashed"], 1, "{counts}");
}

#[test]
fn an_upload_runtime_that_cannot_be_built_is_a_problem_and_no_breaker_story() {
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("data");
    // The runtime's I/O driver needs an epoll instance: none to be had.
    let args = [
        "-e",
        "trace=epoll_create1,epoll_create",
        "-e",
        "inject=epoll_create1,epoll_create:error=EMFILE",
    ];
    let out = child("uploads", &dir, Some(&args));
    let text = stdout(&out);
    assert!(text.contains("DONE"), "{text}");
    let problem = text
        .lines()
        .find(|l| l.contains(&format!("LATER {:?}", ProblemArea::Dispatcher)))
        .unwrap_or_else(|| panic!("no dispatcher problem in status():\n{text}"));
    assert!(
        problem.contains("uploads are not running") && problem.contains("Too many open files"),
        "{problem}"
    );
    let summary: Vec<&str> = text.lines().filter(|l| l.contains("SUMMARY")).collect();
    assert!(
        summary.iter().all(|l| !l.contains("uploads ok")) && !summary.is_empty(),
        "the summary must say uploads are not running, not count them: {summary:?}"
    );
    assert!(
        summary.iter().any(|l| l.contains("not running")),
        "{summary:?}"
    );
    // And the ring keeps the story for tools reading the data dir afterwards.
    let records = locus_telemetry::inspect::DataDir::new(&dir)
        .read_ring()
        .unwrap()
        .records;
    assert_eq!(
        locus_telemetry::inspect::uploads_stopped(&records).as_deref(),
        Some("cannot build the upload runtime: Too many open files (os error 24)"),
    );
}

#[test]
fn a_panic_on_telemetrys_keeper_thread_is_telemetrys_failure_not_an_app_crash() {
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("data");
    let out = child("keeper", &dir, None);
    let text = stdout(&out);
    assert!(text.contains("DONE"), "{text}");
    let keeper = line(&text, "KEEPER");
    assert!(
        keeper.contains("locus-keeper") && keeper.contains("panicked"),
        "status() names the failed thread: {text}"
    );
    let next = child("clean", &dir, None);
    let text = stdout(&next);
    assert_eq!(
        line(&text, "VERDICT"),
        Outcome::Exited.as_str(),
        "the app did not crash: {text}"
    );
}

#[test]
fn a_start_that_failed_says_why_not_first_start_and_not_in_memory_by_choice() {
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("data");
    child("clean", &dir, None);
    let out = child("degraded", &dir, None);
    let text = stdout(&out);
    assert!(text.contains("DONE"), "{text}");
    assert_eq!(line(&text, "VERDICT"), "unknown", "{text}");
    assert!(
        line(&text, "REASON").contains("telemetry failed to start"),
        "{text}"
    );
    let backend = line(&text, "BACKEND");
    assert!(
        backend.starts_with("Memory(Some(") && backend.contains("telemetry failed to start"),
        "the heap ring says why: {text}"
    );
}

#[test]
fn an_unusable_data_dir_says_so_in_the_verdict_and_the_recorder() {
    let base = tempfile::tempdir().unwrap();
    let file = base.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let t = Telemetry::start(Settings {
        enable_community_telemetry: false,
        community_url: None,
        ..settings(&file)
    });
    let previous = t.previous_session();
    assert_eq!(previous.outcome, Outcome::Unknown);
    let reason = previous.reason.unwrap_or_default();
    assert!(
        reason.contains("data dir") && reason.contains(&file.display().to_string()),
        "{reason}"
    );
    let status = t.status();
    assert_eq!(status.previous_session, Outcome::Unknown);
    match &status.recorder.backend {
        locus_telemetry::Backend::Memory(Some(why)) => assert!(!why.is_empty()),
        other => panic!("a heap ring with its reason, not {other:?}"),
    }
    t.shutdown(SHUTDOWN);
}

#[test]
fn an_invalid_setting_falls_back_alone_and_is_reported_with_its_range_and_default() {
    let base = tempfile::tempdir().unwrap();
    let t = Telemetry::start(Settings {
        retention_days: 0,
        device_id: Some("dev.1".into()),
        enable_community_telemetry: false,
        community_url: None,
        ..settings(base.path())
    });
    let status = t.status();
    assert!(
        status.recorder.file_backed(),
        "the recorder runs: {status:?}"
    );
    assert_eq!(t.settings().retention_days, 30);
    assert_eq!(
        t.settings().ring_bytes,
        256 * 1024,
        "valid settings are kept"
    );
    assert_eq!(status.device_id.len(), 16, "a generated id stands in");
    let settings_problems: Vec<&str> = status
        .problems
        .iter()
        .filter(|p| p.area == ProblemArea::Settings)
        .map(|p| p.message.as_str())
        .collect();
    assert_eq!(settings_problems.len(), 2, "{settings_problems:?}");
    assert!(
        settings_problems
            .iter()
            .any(|p| p.contains("retention_days")
                && p.contains("between 1 and 3650")
                && p.contains("default 30")),
        "{settings_problems:?}"
    );
    assert!(
        settings_problems
            .iter()
            .any(|p| p.contains("device_id") && p.contains("default")),
        "{settings_problems:?}"
    );
    t.log(Level::Info, "story", "recorded", &[]);
    assert!(t
        .recent(10)
        .iter()
        .any(|r| r.to_text_line().contains("recorded")));
    t.shutdown(SHUTDOWN);
}
