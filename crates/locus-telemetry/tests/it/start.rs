//! A cheap start: `Telemetry::start` opens the ring without decoding it and leaves the
//! previous session's verdict, this session's marker and the community's count to a
//! background step. Nothing may be lost or misjudged for it: records logged right after
//! start survive (a kill included), the verdict is the same whoever finds it and
//! whenever, and a session killed before its marker was written is still judged. (What
//! start costs is the `start` bench's business: no timing is asserted here.)

use locus_telemetry::crash::session::{Outcome, SessionMarker};
use locus_telemetry::inspect::DataDir;
use locus_telemetry::record::{Body, Level, SessionEvent};
use locus_telemetry::recorder::{read_ring_file, FieldValue, FlightRecorder};
use locus_telemetry::{Settings, Telemetry};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const MODE: &str = "LOCUS_START_CHILD";
const DIR: &str = "LOCUS_START_DIR";
const RING: usize = 256 * 1024;
const WAIT: Duration = Duration::from_secs(20);
const SHUTDOWN: Duration = Duration::from_millis(500);

fn settings(dir: &Path) -> Settings {
    Settings {
        data_dir: dir.to_path_buf(),
        enable_s3_diagnostics: false,
        ring_bytes: RING,
        app_version: "7.0.0".into(),
        ..Settings::default()
    }
}

fn log_n(t: &Telemetry, n: u64, msg: &str) -> Vec<u64> {
    (0..n)
        .map(|i| t.log(Level::Info, "app", msg, &[("i", FieldValue::U64(i))]))
        .collect()
}

fn messages(dir: &Path, msg: &str) -> usize {
    read_ring_file(&DataDir::new(dir).ring_path())
        .unwrap()
        .records
        .iter()
        .filter(|r| matches!(&r.body, Body::Log(l) if l.message == msg))
        .count()
}

/// One clean session with `n` records.
fn clean_session(dir: &Path, n: u64) {
    let t = Telemetry::start(settings(dir));
    log_n(&t, n, "an earlier session");
    t.shutdown(SHUTDOWN);
}

/// The child's side: does nothing unless started by a parent test below. It starts
/// telemetry, logs at once, and dies as told — most often before start's background
/// step has written its marker.
#[test]
fn child_entry() {
    let (Ok(mode), Ok(dir)) = (std::env::var(MODE), std::env::var(DIR)) else {
        return;
    };
    let t = Telemetry::start(settings(Path::new(&dir)));
    log_n(&t, 100, "right after start");
    match mode.as_str() {
        // SAFETY: plain FFI calls.
        "kill" => unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        },
        "abort" => std::process::abort(),
        _ => panic!("the app failed right after start"),
    }
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn child(mode: &str, dir: &Path) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "start::child_entry",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(MODE, mode)
        .env(DIR, dir)
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success(), "the child ({mode}) died");
}

#[test]
fn records_logged_right_after_start_survive_the_app_dying_and_the_verdict_holds() {
    for (mode, expected) in [
        ("kill", Outcome::Abnormal),
        ("abort", Outcome::Crashed),
        ("panic", Outcome::Crashed),
    ] {
        let dir = tempfile::tempdir().unwrap();
        clean_session(dir.path(), 50);
        child(mode, dir.path());
        assert_eq!(messages(dir.path(), "right after start"), 100, "{mode}");
        // The child's session, whether or not it lived to write its marker.
        let started = read_ring_file(&DataDir::new(dir.path()).ring_path())
            .unwrap()
            .records
            .iter()
            .rev()
            .find_map(|r| match &r.body {
                Body::Session(s) if matches!(s.event, SessionEvent::Start) => {
                    Some(s.session_id.clone())
                }
                _ => None,
            })
            .unwrap();
        let t = Telemetry::start(settings(dir.path()));
        let waited = t
            .wait_previous_session(WAIT)
            .expect("the verdict within 20 s");
        assert_eq!(waited.outcome, expected, "{mode}");
        assert_eq!(
            waited.session_id.as_deref(),
            Some(started.as_str()),
            "{mode}"
        );
        assert_eq!(waited.tombstone.is_some(), expected == Outcome::Crashed);
        assert_eq!(t.previous_session().outcome, expected, "{mode}");
        assert_eq!(t.status().previous_session, expected, "{mode}");
        t.shutdown(SHUTDOWN);
    }
}

#[test]
fn records_logged_right_after_start_on_a_full_ring_follow_the_old_ones() {
    let dir = tempfile::tempdir().unwrap();
    clean_session(dir.path(), 5_000); // laps the 256 KiB ring several times
    let before = read_ring_file(&DataDir::new(dir.path()).ring_path()).unwrap();
    let newest_before = before.records.last().unwrap().seq;

    let t = Telemetry::start(settings(dir.path()));
    // What the ring held was found at open without decoding it, counted all the same.
    let status = t.status().recorder;
    assert_eq!(status.recovered, before.records.len() + before.lapped);
    let seqs = log_n(&t, 500, "right after start");
    assert!(
        seqs[0] > newest_before,
        "sequence numbers continue after the old ones"
    );
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1));
    t.shutdown(SHUTDOWN);
    drop(t);

    let after = read_ring_file(&DataDir::new(dir.path()).ring_path()).unwrap();
    assert_eq!(messages(dir.path(), "right after start"), 500);
    assert_eq!(after.missing, 0, "the window is gap-free");
    // The new session went on where the old one ended: its newest records are still there.
    assert!(after.records.iter().any(|r| r.seq == newest_before));
    let t = Telemetry::start(settings(dir.path()));
    assert_eq!(t.previous_session().outcome, Outcome::Exited);
    t.shutdown(SHUTDOWN);
}

#[test]
fn previous_session_while_the_verdict_is_pending_is_never_a_guess() {
    // Whichever comes first — the background step, or a caller asking at once — the
    // answer is the verdict; `wait_previous_session` is either still pending or right.
    for round in 0..10 {
        let dir = tempfile::tempdir().unwrap();
        clean_session(dir.path(), 20);
        let t = Telemetry::start(settings(dir.path()));
        if let Some(p) = t.wait_previous_session(Duration::ZERO) {
            assert_eq!(p.outcome, Outcome::Exited, "round {round}");
        }
        let (first, second) = if round % 2 == 0 {
            (t.previous_session(), t.wait_previous_session(WAIT).unwrap())
        } else {
            let waited = t.wait_previous_session(WAIT).unwrap();
            (waited, t.previous_session())
        };
        assert_eq!(first.outcome, Outcome::Exited, "round {round}");
        assert_eq!(first.session_id, second.session_id);
        assert_eq!(t.status().previous_session, Outcome::Exited);
        t.shutdown(SHUTDOWN);
        drop(t);
        // Its marker was written (by whoever found the verdict) and then marked exited.
        let marker = DataDir::new(dir.path()).session_marker().unwrap().unwrap();
        assert!(marker.clean_exit, "round {round}");
    }
}

/// A session that wrote its start record into the ring and died before its marker was
/// written: the marker still names the session before it.
fn unmarked_session(dir: &Path, exit_recorded: bool) {
    clean_session(dir, 10);
    let rec = FlightRecorder::open(&DataDir::new(dir).ring_path(), RING);
    assert!(rec.status().file_backed());
    rec.session(SessionEvent::Start, "feedfacefeedface", "7.0.1");
    rec.log(Level::Info, "app", "in the unmarked session", &[]);
    if exit_recorded {
        rec.session(SessionEvent::CleanExit, "feedfacefeedface", "7.0.1");
    }
    drop(rec);
    let marker: SessionMarker = DataDir::new(dir).session_marker().unwrap().unwrap();
    assert_ne!(marker.session_id, "feedfacefeedface");
    assert!(marker.clean_exit);
}

#[test]
fn a_session_that_died_before_writing_its_marker_is_judged_by_the_ring() {
    for (exit_recorded, expected) in [(false, Outcome::Abnormal), (true, Outcome::Exited)] {
        let dir = tempfile::tempdir().unwrap();
        unmarked_session(dir.path(), exit_recorded);
        let t = Telemetry::start(settings(dir.path()));
        let p = t.previous_session();
        assert_eq!(p.outcome, expected);
        assert_eq!(p.session_id.as_deref(), Some("feedfacefeedface"));
        assert_eq!(p.app_version.as_deref(), Some("7.0.1"));
        t.shutdown(SHUTDOWN);
    }
}

#[test]
fn the_community_counts_the_previous_outcome_found_after_start() {
    let dir = tempfile::tempdir().unwrap();
    unmarked_session(dir.path(), false);
    let t = Telemetry::start(Settings {
        enable_community_telemetry: true,
        ..settings(dir.path())
    });
    assert_eq!(
        t.wait_previous_session(WAIT).unwrap().outcome,
        Outcome::Abnormal
    );
    let sessions = t.community_preview().unwrap().report.sessions;
    assert_eq!(
        (sessions.exited, sessions.crashed, sessions.abnormal),
        (0, 0, 1)
    );
    t.shutdown(SHUTDOWN);
}

#[test]
fn a_second_instance_and_a_degraded_start_know_their_verdict_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let owner = Telemetry::start(settings(dir.path()));
    let second = Telemetry::start(settings(dir.path()));
    assert!(second.status().recorder.owned_elsewhere);
    assert_eq!(
        second
            .wait_previous_session(Duration::ZERO)
            .unwrap()
            .outcome,
        Outcome::StillRunning
    );
    second.shutdown(SHUTDOWN);
    owner.shutdown(SHUTDOWN);

    // An invalid setting no longer degrades the start: that setting alone falls back to
    // its default (a failed start's verdict, known at once, is in false_stories.rs).
    let fallback = Telemetry::start(Settings {
        ring_bytes: 1,
        ..settings(dir.path())
    });
    assert!(fallback
        .status()
        .problems
        .iter()
        .any(|p| p.message.contains("ring_bytes")));
    fallback.shutdown(SHUTDOWN);
}
