//! What a foreign runtime's binding (the Kotlin one) needs of the core: an uncaught JVM
//! exception written as a crash tombstone (`record_uncaught_exception`), `close` that
//! returns only once the data dir is released, and `recent(n)` read backwards from the
//! ring's head, equal to the tail of a full snapshot whatever the threads did.

use locus_telemetry::record::{Body, CrashKind, Level};
use locus_telemetry::recorder::FieldValue;
use locus_telemetry::{ProblemArea, SessionOutcome, Settings, Telemetry, UncaughtException};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const SHUTDOWN: Duration = Duration::from_millis(500);

fn settings(dir: &Path) -> Settings {
    Settings {
        data_dir: dir.to_path_buf(),
        enable_s3_diagnostics: false,
        app_version: "8.1.0".into(),
        ..Settings::default()
    }
}

fn exception<'a>(message: &'a str, thread: &'a str) -> UncaughtException<'a> {
    UncaughtException {
        class: "java.lang.IllegalStateException",
        message,
        location: "app.Gps.fix(Gps.kt:42)",
        thread,
        stack: "java.lang.IllegalStateException: x\n\tat app.Gps.fix(Gps.kt:42)\n\tat app.Main.run(Main.kt:7)",
    }
}

#[test]
fn an_uncaught_exception_is_a_crash_next_time_and_a_template_for_the_community() {
    let dir = tempfile::tempdir().unwrap();
    let t = Telemetry::start(settings(dir.path()));
    t.log(Level::Info, "app", "before", &[]);
    let seq = t.record_uncaught_exception(&exception("cannot open Anna_Schmidt_Lauf.gpx", "main"));
    assert!(seq > 0);
    // The process would die here; a kill leaves the ring as it is. Forgetting the handle
    // leaves its session unended, as a dead process does.
    std::mem::forget(t);
    // The forgotten handle still holds the data dir: its files, as a dead process left them.
    let dir2 = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), dir2.path().join(entry.file_name())).unwrap();
        }
    }
    let next = Telemetry::start(settings(dir2.path()));
    let prev = next.previous_session();
    assert_eq!(prev.outcome, SessionOutcome::Crashed);
    let tomb = prev.tombstone.expect("a tombstone");
    assert_eq!(tomb.seq, seq);
    let Body::Crash(c) = &tomb.body else {
        panic!("not a crash: {tomb:?}")
    };
    assert_eq!(c.crash, CrashKind::Exception);
    assert_eq!(
        c.message,
        "java.lang.IllegalStateException: cannot open Anna_Schmidt_Lauf.gpx"
    );
    assert_eq!(c.thread, "main");
    assert_eq!(c.location, "app.Gps.fix(Gps.kt:42)");
    assert!(c.backtrace.contains("app.Main.run(Main.kt:7)"));
    assert_eq!(c.app_version, "8.1.0");
    assert!(
        tomb.to_json_line().contains(r#""crash":"exception""#),
        "{}",
        tomb.to_json_line()
    );
    let report = next.community_preview().unwrap().report;
    assert_eq!(report.crashes.len(), 1, "{report:?}");
    let crash = &report.crashes[0];
    assert!(crash.message.contains("IllegalStateException"), "{crash:?}");
    assert!(!crash.message.contains("Anna_Schmidt"), "{crash:?}");
    next.shutdown(SHUTDOWN);
}

#[test]
fn a_crash_of_an_earlier_session_in_the_process_does_not_mark_a_later_one() {
    let dir = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    let t = Telemetry::start(settings(other.path()));
    assert!(t.record_uncaught_exception(&exception("worker died", "w")) > 0);
    assert!(t.close(SHUTDOWN));
    let t = Telemetry::start(settings(dir.path()));
    t.log(Level::Info, "app", "fine", &[]);
    assert!(t.close(SHUTDOWN));
    let next = Telemetry::start(settings(dir.path()));
    assert_eq!(next.previous_session().outcome, SessionOutcome::Exited);
    next.shutdown(SHUTDOWN);
    // While the one that crashed (a worker thread, then a clean exit) reads crashed.
    let next = Telemetry::start(settings(other.path()));
    assert_eq!(next.previous_session().outcome, SessionOutcome::Crashed);
    next.shutdown(SHUTDOWN);
}

#[test]
fn close_returns_once_the_data_dir_is_released_with_loggers_running() {
    let dir = tempfile::tempdir().unwrap();
    for round in 0..5 {
        let t = Telemetry::start(settings(dir.path()));
        let stop = Arc::new(AtomicBool::new(false));
        let loggers: Vec<_> = (0..3)
            .map(|i| {
                let (t, stop) = (t.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) && n < 200_000 {
                        t.log(Level::Info, "app", "line", &[("i", FieldValue::U64(n))]);
                        n += 1;
                    }
                    let _ = i;
                })
            })
            .collect();
        // A clone alive: not released, and `close` says so.
        let clone = t.clone();
        assert!(!clone.close(Duration::from_millis(50)), "round {round}");
        stop.store(true, Ordering::Relaxed);
        for l in loggers {
            l.join().unwrap();
        }
        assert!(t.close(SHUTDOWN), "round {round}");
        let next = Telemetry::start(settings(dir.path()));
        assert_eq!(
            next.previous_session().outcome,
            SessionOutcome::Exited,
            "round {round}"
        );
        assert!(
            !next
                .status()
                .problems
                .iter()
                .any(|p| p.area == ProblemArea::SecondInstance),
            "round {round}: {:?}",
            next.status().problems
        );
        assert!(next.close(SHUTDOWN));
    }
}

#[test]
fn recent_equals_the_tail_of_a_snapshot_with_a_quiet_thread_and_big_records() {
    let dir = tempfile::tempdir().unwrap();
    let t = Telemetry::start(Settings {
        ring_bytes: 256 * 1024,
        ..settings(dir.path())
    });
    let quiet = {
        let t = t.clone();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<u64>();
        let h = std::thread::spawn(move || {
            t.log(Level::Info, "quiet", "first", &[]);
            while go_rx.recv().is_ok() {
                done_tx
                    .send(t.log(Level::Info, "quiet", "again", &[]))
                    .unwrap();
            }
        });
        (go_tx, done_rx, h)
    };
    let big = "b".repeat(3000);
    for round in 0..30u64 {
        for i in 0..(round * 37 % 300) {
            let msg = if i % 50 == 0 { big.as_str() } else { "busy" };
            t.log(Level::Info, "busy", msg, &[("i", FieldValue::U64(i))]);
        }
        quiet.0.send(()).unwrap();
        let quiet_seq = quiet.1.recv().unwrap();
        t.counter("c", 1);
        for n in [0usize, 1, 2, 5, 20, 100, 1000, 100_000] {
            let full = t.recorder().snapshot().records;
            let want: Vec<u64> = full[full.len().saturating_sub(n)..]
                .iter()
                .map(|r| r.seq)
                .collect();
            let got: Vec<u64> = t.recent(n).iter().map(|r| r.seq).collect();
            if n <= 100 {
                assert_eq!(got, want, "round {round}, n {n}");
            } else {
                // Past a lap, the snapshot leaves out old records whose neighbours were
                // overwritten, `recent` keeps every valid one: the newest agree.
                assert!(got.windows(2).all(|w| w[0] < w[1]), "round {round}, n {n}");
                assert!(
                    got.ends_with(&want[want.len().saturating_sub(100)..]),
                    "round {round}, n {n}"
                );
            }
            if n >= 20 {
                assert!(
                    got.contains(&quiet_seq),
                    "round {round}, n {n}: the quiet thread's record"
                );
            }
        }
    }
    drop(quiet.0);
    quiet.2.join().unwrap();
    t.shutdown(SHUTDOWN);
}
