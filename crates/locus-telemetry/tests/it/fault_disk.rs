//! The fault drill's local half (issue 4): the data dir and its files go wrong, the app
//! does not notice. A data dir that cannot be created; a full disk before the ring can be
//! reserved and after it was (a tiny tmpfs); a read-only data dir (a tmpfs remounted
//! read-only: EROFS, which root cannot ignore); a file-size limit (`RLIMIT_FSIZE`); a
//! damaged ring file; a damaged breaker file. For each: logging goes on, `recent` works,
//! `shutdown` keeps its deadline, `status()` names the problem, and uploads to a healthy
//! (loopback) S3 go on where the disk is not needed for them.
//!
//! Mounts and the file-size limit are staged in a child process (this test binary
//! re-run on one test): mounts in a private mount namespace (`unshare --mount`, needs
//! root with CAP_SYS_ADMIN — these machines run tests as root), so nothing leaks into
//! the host even if the child dies. A child that cannot mount fails loudly.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use crate::common;

use crate::drill::{child_role, in_child, small_disk, DONE};
use locus_telemetry::breaker::{CircuitBreaker, ManualClock};
use locus_telemetry::record::{Body, Level};
use locus_telemetry::recorder::{Backend, FieldValue};
use locus_telemetry::{Settings, Telemetry};
use locus_testkit::faults::child::ChildTest;
use locus_testkit::faults::disk;
use locus_testkit::faults::{FaultServer, Mode};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const MARGIN: Duration = Duration::from_millis(300);
const SHUTDOWN: Duration = Duration::from_millis(500);
const ROUND: Duration = Duration::from_secs(6);

fn settings(endpoint: &str, dir: &Path) -> Settings {
    Settings {
        ring_bytes: 64 * 1024,
        ..common::loopback_settings("disk-drill", endpoint, dir)
    }
}

fn start(endpoint: &str, dir: &Path, clock: &Arc<ManualClock>) -> Telemetry {
    common::start_with_clock(settings(endpoint, dir), clock.clone())
}

/// Logs `n` records like the tracking loop; returns the sequence number of the last.
fn log_fixes(t: &Telemetry, n: u64, tag: &str) -> u64 {
    let mut last = 0;
    for i in 0..n {
        last = t.log(
            Level::Info,
            "locus::gps",
            tag,
            &[
                ("lat", FieldValue::F64(52.52)),
                ("lon", FieldValue::F64(13.40)),
                ("i", FieldValue::U64(i)),
            ],
        );
    }
    last
}

/// Lets a burst of records age past the batcher's fresh-gap hold (250 ms): a gap next
/// to records younger than that is taken for writes in flight.
fn settle() {
    std::thread::sleep(Duration::from_millis(300));
}

/// Flushes once and asserts that everything logged so far has been shipped (by this
/// round or by one the dispatcher ran on its own before it).
fn flush_ships(t: &Telemetry, what: &str) {
    let logged = t.recorder().next_seq() - 1;
    assert!(t.flush(ROUND), "{what}: flush did not finish");
    let d = t.status().dispatch.unwrap().destinations[0].clone();
    assert!(
        d.uploads_ok >= 1 && d.shipped_through >= logged,
        "{what}: not shipped through #{logged}: {d:?}"
    );
}

/// Marks the bucket's retention rule as confirmed just now, so the day's lifecycle call
/// is not due: these drills count upload attempts only.
fn retention_confirmed(dir: &Path, clock: &Arc<ManualClock>) {
    use locus_telemetry::breaker::Clock;
    use locus_telemetry::data_dir::{DataDir, StateFile};
    use locus_telemetry::worker::retention::RetentionState;
    let state = RetentionState {
        destination: "s3://disk-drill-bucket".into(),
        days: Settings::default().retention_days,
        confirmed_at: clock.now(),
    };
    let data = DataDir::new(dir);
    std::fs::create_dir_all(data.root()).unwrap();
    std::fs::write(
        data.path(StateFile::Retention("s3")),
        serde_json::to_vec(&state).unwrap(),
    )
    .unwrap();
}

fn messages(t: &Telemetry, n: usize) -> Vec<String> {
    t.recent(n)
        .into_iter()
        .filter_map(|r| match r.body {
            Body::Log(l) => Some(l.message),
            _ => None,
        })
        .collect()
}

fn shutdown_in_time(t: &Telemetry, what: &str) {
    let r = t.shutdown(SHUTDOWN);
    assert!(
        r.took <= SHUTDOWN + MARGIN,
        "{what}: shutdown took {:?}",
        r.took
    );
}

#[test]
fn data_dir_that_cannot_be_created() {
    let base = tempfile::tempdir().unwrap();
    let dir = disk::data_dir_under_regular_file(base.path()).unwrap();
    let server = FaultServer::start(Mode::Ok);
    let clock = Arc::new(ManualClock::new());
    let started = Instant::now();
    let t = start(&server.endpoint(), &dir, &clock);
    assert!(started.elapsed() < Duration::from_secs(2));
    let s = t.status();
    assert!(
        matches!(&s.recorder.backend, Backend::Memory(Some(_))),
        "heap fallback with a reason: {:?}",
        s.recorder.backend
    );
    assert!(
        s.problems
            .iter()
            .any(|p| p.message.contains("cannot create data dir")),
        "{:?}",
        s.problems
    );
    log_fixes(&t, 5_000, "fix with no data dir");
    assert!(messages(&t, 10).iter().any(|m| m == "fix with no data dir"));
    // Uploads need the network, not the disk: they go on.
    settle();
    flush_ships(&t, "no data dir");
    assert!(server.put_object_attempts() >= 1);
    // The breaker still works, in memory, when it cannot persist.
    server.set_mode(Mode::Status(503));
    for _ in 0..3 {
        log_fixes(&t, 10, "more");
        assert!(t.flush(ROUND));
    }
    let b = t.status().dispatch.unwrap().destinations[0].breaker.clone();
    assert_eq!(
        (b.state.as_str(), b.consecutive_failures),
        ("open", 6),
        "{b:?}"
    );
    let puts = server.put_object_attempts();
    log_fixes(&t, 10, "more");
    assert!(t.flush(ROUND));
    assert_eq!(
        server.put_object_attempts(),
        puts,
        "open, even though not persisted"
    );
    shutdown_in_time(&t, "no data dir");
    println!("DRILL data dir under a regular file (ENOTDIR): heap ring, problems {:?}; uploads ok, breaker opened in memory", s.problems);
}

#[test]
fn damaged_ring_file() {
    let dir = tempfile::tempdir().unwrap();
    let quiet = Settings {
        enable_s3_diagnostics: false,
        ..settings("http://127.0.0.1:9", dir.path())
    };
    // 1. Damage inside the record area only (header intact): torn records are skipped.
    let t = Telemetry::start(quiet.clone());
    let last = log_fixes(&t, 300, "before damage");
    shutdown_in_time(&t, "run 1");
    drop(t);
    let ring = dir.path().join("recorder.ring");
    for block in [2u64, 5, 9] {
        disk::scribble(&ring, 4096 + block * 4096 + 17, 700, block).unwrap();
    }
    let t = Telemetry::start(quiet.clone());
    let s = t.status().recorder;
    assert!(s.file_backed(), "{s:?}");
    assert!(
        s.recovered > 0 && (s.recovered as u64) < last,
        "some records torn, the rest recovered: {s:?}"
    );
    let next = t.log(Level::Info, "locus::app", "after damage", &[]);
    assert!(
        next > last,
        "sequence continues after the recovered records"
    );
    assert_eq!(messages(&t, 1), vec!["after damage".to_owned()]);
    shutdown_in_time(&t, "run 2");
    drop(t);
    println!(
        "DRILL damaged ring records: {} of {last}+ records recovered, writes continue at #{next}",
        s.recovered
    );

    // 2. Damaged header and blocks: the file is moved aside, readable records salvaged,
    //    a fresh ring takes over; uploads ship what was salvaged.
    disk::corrupt_ring_file(dir.path(), 3).unwrap();
    let server = FaultServer::start(Mode::Ok);
    let clock = Arc::new(ManualClock::new());
    let t = start(&server.endpoint(), dir.path(), &clock);
    let s = t.status().recorder;
    assert!(s.file_backed(), "{s:?}");
    let aside = s.moved_aside.clone().expect("damaged file kept aside");
    assert!(aside.exists(), "{}", aside.display());
    assert!(s.salvaged > 0, "readable records salvaged: {s:?}");
    assert!(messages(&t, 100_000).iter().any(|m| m == "before damage"));
    log_fixes(&t, 100, "after damage");
    settle();
    flush_ships(&t, "after a damaged ring");
    shutdown_in_time(&t, "run 3");
    println!(
        "DRILL damaged ring header: moved aside to {}, {} records salvaged, uploads ok {}",
        aside.file_name().unwrap().to_string_lossy(),
        s.salvaged,
        server.put_object_attempts()
    );
}

#[test]
fn damaged_breaker_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = disk::corrupt_breaker_file(dir.path(), "s3").unwrap();
    let server = FaultServer::start(Mode::Status(503));
    let clock = Arc::new(ManualClock::new());
    retention_confirmed(dir.path(), &clock);
    let t = start(&server.endpoint(), dir.path(), &clock);
    let s = t.status();
    assert!(
        s.problems
            .iter()
            .any(|p| p.message.contains("breaker-s3.json") && p.message.contains("damaged")),
        "{:?}",
        s.problems
    );
    let d = &s.dispatch.unwrap().destinations[0];
    assert_eq!(d.breaker.state.as_str(), "closed", "damaged = closed");
    // Closed means closed: the usual 2 attempts per upload, then it opens after 6.
    let wait = Instant::now();
    while t.status().dispatch.unwrap().destinations[0].uploads_failed < 1 {
        assert!(wait.elapsed() < ROUND, "first upload never happened");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(server.put_object_attempts(), 2);
    for _ in 0..2 {
        log_fixes(&t, 10, "fix");
        assert!(t.flush(ROUND));
    }
    assert_eq!(server.put_object_attempts(), 6);
    let persisted = CircuitBreaker::read_snapshot(dir.path(), "s3").expect("file rewritten, valid");
    assert_eq!(persisted.state.as_str(), "open");
    assert!(!std::fs::read_to_string(&path).unwrap().contains("2026-0\""));
    shutdown_in_time(&t, "damaged breaker");
    println!("DRILL damaged breaker file: problem reported, started closed, 2 attempts per upload, file rewritten valid (open) after 6");
}

/// A breaker file written while the device clock was far ahead (a phone whose clock
/// was wrong, then corrected) must not keep the destination silent for years: no
/// backoff may end later than `backoff` from now.
#[test]
fn breaker_file_from_a_clock_far_ahead_backs_off_at_most_6_hours() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        CircuitBreaker::state_path(dir.path(), "s3"),
        r#"{"consecutive_failures":6,"open_until":"2100-01-01T00:00:00Z","times_opened":1,"last_error":"x"}"#,
    )
    .unwrap();
    let server = FaultServer::start(Mode::Ok);
    let clock = Arc::new(ManualClock::new());
    let t = start(&server.endpoint(), dir.path(), &clock);
    clock.advance(Duration::from_secs(6 * 3600 + 1));
    log_fixes(&t, 10, "fix");
    assert!(t.flush(ROUND));
    let puts = server.put_object_attempts();
    shutdown_in_time(&t, "far-ahead breaker");
    assert_eq!(puts, 1, "one probe 6 h after start, not in the year 2100");
}

// ---- child-process drills: mounts and file-size limits ----

#[test]
fn full_disk_before_the_ring_is_reserved() {
    const NAME: &str = "fault_disk::full_disk_before_the_ring_is_reserved";
    let Some(base) = child_role(NAME) else {
        in_child(NAME, ChildTest::new(NAME).private_mounts());
        return;
    };
    // 64 KiB of disk; the ring needs 64 KiB + a 4 KiB header.
    let mnt = small_disk(&base.join("small"), 64 * 1024);
    let server = FaultServer::start(Mode::Ok);
    let clock = Arc::new(ManualClock::new());
    let t = start(&server.endpoint(), mnt.path(), &clock);
    let s = t.status();
    let Backend::Memory(Some(why)) = &s.recorder.backend else {
        panic!("expected the heap fallback: {:?}", s.recorder.backend)
    };
    assert!(why.contains("No space left"), "{why}");
    assert!(
        s.problems
            .iter()
            .any(|p| p.message.contains("flight recorder on the heap")),
        "{:?}",
        s.problems
    );
    log_fixes(&t, 20_000, "fix on a full disk");
    assert_eq!(messages(&t, 1), vec!["fix on a full disk".to_owned()]);
    settle();
    flush_ships(&t, "full disk");
    shutdown_in_time(&t, "full disk");
    println!("DRILL full disk (64 KiB tmpfs) before the ring: heap ring ({why}); 20000 records logged; uploads ok");
    println!("{DONE}");
}

#[test]
fn disk_fills_up_after_the_ring_is_reserved() {
    const NAME: &str = "fault_disk::disk_fills_up_after_the_ring_is_reserved";
    let Some(base) = child_role(NAME) else {
        in_child(NAME, ChildTest::new(NAME).private_mounts());
        return;
    };
    let mnt = small_disk(&base.join("data"), 512 * 1024);
    let server = FaultServer::start(Mode::Status(503));
    let clock = Arc::new(ManualClock::new());
    retention_confirmed(mnt.path(), &clock);
    let t = start(&server.endpoint(), mnt.path(), &clock);
    assert!(
        t.status().recorder.file_backed(),
        "{:?}",
        t.status().recorder
    );
    let filled = disk::fill_disk(mnt.path()).unwrap();
    // The ring's blocks were reserved up front: writing through the mapping on a full
    // disk must not SIGBUS, however often it wraps.
    log_fixes(&t, 50_000, "fix on a disk that filled up");
    assert_eq!(
        messages(&t, 1),
        vec!["fix on a disk that filled up".to_owned()]
    );
    settle();
    for _ in 0..3 {
        log_fixes(&t, 10, "fix");
        assert!(t.flush(ROUND));
    }
    let b = t.status().dispatch.unwrap().destinations[0].breaker.clone();
    assert_eq!(
        b.state.as_str(),
        "open",
        "breaker works without a disk: {b:?}"
    );
    assert_eq!(server.put_object_attempts(), 6);
    shutdown_in_time(&t, "disk filled");
    drop(t);
    // Restart on the still-full disk: the existing ring file is reused (no growth).
    let t = start(&server.endpoint(), mnt.path(), &clock);
    let s = t.status();
    assert!(s.recorder.file_backed(), "{:?}", s.recorder);
    assert!(s.recorder.recovered > 0);
    log_fixes(&t, 1_000, "after restart on a full disk");
    shutdown_in_time(&t, "restart on full disk");
    println!(
        "DRILL disk full after start ({filled} filler bytes): 50000 records through the mapped ring, no SIGBUS; breaker opened in memory; restart reused the ring ({} recovered); problems at restart {:?}",
        s.recorder.recovered, s.problems
    );
    println!("{DONE}");
}

#[test]
fn read_only_data_dir() {
    const NAME: &str = "fault_disk::read_only_data_dir";
    let Some(base) = child_role(NAME) else {
        in_child(NAME, ChildTest::new(NAME).private_mounts());
        return;
    };
    let mnt = small_disk(&base.join("data"), 4 * 1024 * 1024);
    let server = FaultServer::start(Mode::Ok);
    let clock = Arc::new(ManualClock::new());
    let t = start(&server.endpoint(), mnt.path(), &clock);
    log_fixes(&t, 100, "before read-only");
    shutdown_in_time(&t, "rw run");
    // Until every thread of it has let go of the files (close waits for that), a
    // remount read-only is refused as busy.
    assert!(t.close(Duration::from_secs(30)), "the data dir is released");
    mnt.remount_read_only().unwrap();
    assert!(
        std::fs::write(mnt.path().join("probe"), b"x").is_err(),
        "EROFS even for root"
    );

    let t = start(&server.endpoint(), mnt.path(), &clock);
    let s = t.status();
    let Backend::Memory(Some(why)) = &s.recorder.backend else {
        panic!(
            "expected the heap fallback on a read-only dir: {:?}",
            s.recorder.backend
        )
    };
    assert!(why.contains("Read-only file system"), "{why}");
    assert!(
        s.problems
            .iter()
            .any(|p| p.message.contains("session marker")),
        "{:?}",
        s.problems
    );
    assert_eq!(
        s.previous_session.as_str(),
        "exited",
        "the last session is still readable"
    );
    log_fixes(&t, 5_000, "on a read-only dir");
    settle();
    flush_ships(&t, "read-only dir (uploads need no disk)");
    shutdown_in_time(&t, "read-only");
    println!(
        "DRILL read-only data dir (tmpfs remounted ro, EROFS): heap ring ({why}); problems {:?}; uploads ok {}",
        s.problems,
        server.put_object_attempts()
    );
    println!("{DONE}");
}

#[test]
fn file_size_limit_below_the_ring() {
    const NAME: &str = "fault_disk::file_size_limit_below_the_ring";
    let Some(base) = child_role(NAME) else {
        // 32 KiB: the ring (68 KiB) may not be created; small state files may.
        in_child(NAME, ChildTest::new(NAME).fsize_limit(32 * 1024));
        return;
    };
    let server = FaultServer::start(Mode::Ok);
    let clock = Arc::new(ManualClock::new());
    let t = start(&server.endpoint(), &base.join("data"), &clock);
    let s = t.status();
    let Backend::Memory(Some(why)) = &s.recorder.backend else {
        panic!(
            "expected the heap fallback under RLIMIT_FSIZE: {:?}",
            s.recorder.backend
        )
    };
    assert!(why.contains("file-size limit"), "{why}");
    log_fixes(&t, 5_000, "under a file-size limit");
    settle();
    flush_ships(&t, "file-size limit");
    shutdown_in_time(&t, "fsize");
    println!("DRILL RLIMIT_FSIZE 32 KiB: heap ring ({why}), no SIGXFSZ; uploads ok");
    println!("{DONE}");
}
