//! Fail-open on the disk (issue 10): whatever happens to the ring file and the data dir,
//! the app lives on and the next launch tells the truth.
//!
//! Each case is staged the way a hostile disk or user would: a ring restored sparse onto
//! a full disk, holes punched into it, the file truncated by another process while the
//! app writes, a symlink, a FIFO, a device, a 3 GB file, a lease held by another
//! process, many wraps and kills, a disk that fills before shutdown, two instances on
//! one data dir. Cases that can kill the process or need mounts run in a child (this
//! binary re-run on one test; mounts in a private mount namespace, needs root — CI runs
//! as root; a child that cannot mount fails loudly). The child must finish its drill
//! and exit 0: that is "the app never notices".

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use crate::drill::{child_role, in_child, small_disk, DIR, DONE, ROLE};
use locus_telemetry::crash::session::Outcome;
use locus_telemetry::record::{Body, Level, SessionEvent};
use locus_telemetry::recorder::{read_ring_file, Backend, FieldValue};
use locus_telemetry::{Settings, Telemetry};
use locus_testkit::faults::child::ChildTest;
use locus_testkit::faults::disk;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const SHUTDOWN: Duration = Duration::from_millis(300);
const RING: usize = 64 * 1024;

fn settings(dir: &Path) -> Settings {
    Settings {
        data_dir: dir.to_path_buf(),
        app_version: "3.1.4".into(),
        enable_s3_diagnostics: false,
        ring_bytes: RING,
        ..Settings::default()
    }
}

fn ring(dir: &Path) -> PathBuf {
    dir.join("recorder.ring")
}

fn log_n(t: &Telemetry, n: u64, msg: &str) {
    for i in 0..n {
        t.log(
            Level::Info,
            "locus::gps",
            msg,
            &[("i", FieldValue::U64(i)), ("hdop", FieldValue::F64(0.8))],
        );
    }
}

fn heap_reason(t: &Telemetry) -> String {
    match t.status().recorder.backend {
        Backend::Memory(Some(why)) => why,
        other => panic!("expected the heap fallback with a reason, got {other:?}"),
    }
}

fn messages(t: &Telemetry) -> Vec<String> {
    t.recent(usize::MAX)
        .into_iter()
        .filter_map(|r| match r.body {
            Body::Log(l) => Some(l.message),
            _ => None,
        })
        .collect()
}

/// One clean session: start, log `n`, shut down. Returns the handle's previous verdict.
fn session(dir: &Path, n: u64, msg: &str) -> Outcome {
    let t = Telemetry::start(settings(dir));
    let previous = t.previous_session().outcome;
    log_n(&t, n, msg);
    t.shutdown(SHUTDOWN);
    previous
}

fn sh(cmd: &mut Command) {
    let shown = format!("{cmd:?}");
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {shown}: {e}"));
    assert!(
        out.status.success(),
        "{shown} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The peak resident set of this process (VmHWM), in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmHWM in /proc/self/status");
    kb * 1024
}

/// Asserts the data dir holds no 0-byte and no temporary state files.
fn no_half_written_state(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        let meta = entry.metadata().unwrap();
        if !meta.is_file() || name == "filler" {
            continue;
        }
        assert!(!name.contains(".tmp"), "a temporary file survived: {name}");
        assert!(meta.len() > 0, "a 0-byte state file survived: {name}");
    }
}

// --- 1. SIGBUS on every launch: a sparse ring on a full disk -------------------------

#[test]
fn sparse_ring_restored_onto_a_full_disk() {
    const NAME: &str = "hostile_disk::sparse_ring_restored_onto_a_full_disk";
    let Some(base) = child_role(NAME) else {
        in_child(NAME, ChildTest::new(NAME).private_mounts());
        return;
    };
    // A data dir made on a good disk, with a clean session in it.
    let original = base.join("original");
    assert_eq!(
        session(&original, 50, "before the backup"),
        Outcome::FirstStart
    );
    // Restored with a sparse-aware copy onto a small disk, which then fills up.
    let mnt = small_disk(&base.join("disk"), 512 * 1024);
    let restored = mnt.path().join("data");
    sh(Command::new("cp")
        .args(["-r", "--sparse=always"])
        .arg(&original)
        .arg(&restored));
    disk::fill_disk(mnt.path()).unwrap();
    for launch in 1..=3 {
        let t = Telemetry::start(settings(&restored));
        let why = heap_reason(&t);
        assert!(why.contains("reserve disk space"), "{why}");
        // The file's records came along: the verdict and the history hold.
        assert_eq!(
            t.previous_session().outcome,
            Outcome::Exited,
            "launch {launch}"
        );
        assert!(messages(&t).iter().any(|m| m == "before the backup"));
        log_n(&t, 2_000, "on a full disk");
        assert_eq!(
            messages(&t).last().map(String::as_str),
            Some("on a full disk")
        );
        t.shutdown(SHUTDOWN);
        no_half_written_state(&restored);
        println!("DRILL sparse ring on a full disk, launch {launch}: heap ring ({why})");
    }
    println!("{DONE}");
}

#[test]
fn holes_punched_into_a_ring_on_a_full_tmpfs() {
    const NAME: &str = "hostile_disk::holes_punched_into_a_ring_on_a_full_tmpfs";
    let Some(base) = child_role(NAME) else {
        in_child(NAME, ChildTest::new(NAME).private_mounts());
        return;
    };
    let mnt = small_disk(&base.join("disk"), 512 * 1024);
    let dir = mnt.path().join("data");
    assert_eq!(session(&dir, 50, "before the holes"), Outcome::FirstStart);
    sh(Command::new("fallocate")
        .args(["--punch-hole", "--offset", "8192", "--length"])
        .arg((RING - 8192).to_string())
        .arg(ring(&dir)));
    disk::fill_disk(mnt.path()).unwrap();
    // Readers never map: the holes read as zeros.
    let snap = read_ring_file(&ring(&dir)).unwrap();
    assert!(!snap.records.is_empty());
    let t = Telemetry::start(settings(&dir));
    let why = heap_reason(&t);
    assert!(why.contains("reserve disk space"), "{why}");
    assert_eq!(t.previous_session().outcome, Outcome::Exited);
    log_n(&t, 2_000, "after the holes");
    t.shutdown(SHUTDOWN);
    println!("DRILL holes punched on a full tmpfs: heap ring ({why})");
    println!("{DONE}");
}

// --- 2. The ring truncated by another process while the app writes ------------------

#[test]
fn ring_truncated_under_a_running_app() {
    const NAME: &str = "hostile_disk::ring_truncated_under_a_running_app";
    let Some(base) = child_role(NAME) else {
        in_child(NAME, ChildTest::new(NAME));
        return;
    };
    for (i, size) in ["0", "4096", "half"].into_iter().enumerate() {
        let dir = base.join(format!("data-{i}"));
        let t = Telemetry::start(settings(&dir));
        assert!(t.status().recorder.file_backed());
        log_n(&t, 500, "before the truncation");
        let len = std::fs::metadata(ring(&dir)).unwrap().len();
        let to = if size == "half" {
            (len / 2).to_string()
        } else {
            size.to_owned()
        };
        sh(Command::new("truncate").args(["-s", &to]).arg(ring(&dir)));
        // Enough to lap the 64 KiB ring: every page of the mapping is written again.
        log_n(&t, 3_000, "after the truncation");
        assert_eq!(
            messages(&t).last().map(String::as_str),
            Some("after the truncation")
        );
        let why = heap_reason(&t);
        assert!(why.contains("cut short"), "{why}");
        t.shutdown(SHUTDOWN);
        drop(t);
        let next = Telemetry::start(settings(&dir));
        assert_eq!(
            next.previous_session().outcome,
            Outcome::Exited,
            "truncated to {to}: the session ended cleanly"
        );
        next.shutdown(SHUTDOWN);
        println!("DRILL ring truncated to {to} under a running app: survived ({why})");
    }
    println!("{DONE}");
}

// --- 3. Links and special files ---------------------------------------------------------

#[test]
fn a_symlinked_ring_is_refused_and_its_target_untouched() {
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("data");
    std::fs::create_dir_all(&dir).unwrap();
    let target = base.path().join("precious.txt");
    std::fs::write(&target, b"the user's own file\n").unwrap();
    std::os::unix::fs::symlink(&target, ring(&dir)).unwrap();
    let t = Telemetry::start(settings(&dir));
    let why = heap_reason(&t);
    assert!(why.contains("symbolic link"), "{why}");
    log_n(&t, 100, "with a linked ring");
    t.shutdown(SHUTDOWN);
    assert_eq!(std::fs::read(&target).unwrap(), b"the user's own file\n");
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.iter().any(|n| n.contains("damaged")),
        "nothing copied aside: {names:?}"
    );
    assert!(
        read_ring_file(&ring(&dir)).is_err(),
        "readers refuse it too"
    );

    // A dangling link creates nothing at its target.
    let dir2 = base.path().join("data2");
    std::fs::create_dir_all(&dir2).unwrap();
    let nowhere = base.path().join("outside/never-created");
    std::os::unix::fs::symlink(&nowhere, ring(&dir2)).unwrap();
    let t = Telemetry::start(settings(&dir2));
    assert!(heap_reason(&t).contains("symbolic link"));
    t.shutdown(SHUTDOWN);
    assert!(!nowhere.exists() && !nowhere.parent().unwrap().exists());
}

/// Runs `f` on a thread and fails the test if it has not answered within a minute
/// (a hang detector, not a timing assertion).
fn answers<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("{what} hung"))
}

#[test]
fn special_files_as_the_ring_are_refused_without_hanging() {
    let base = tempfile::tempdir().unwrap();
    type Make = fn(&Path);
    let cases: [(&str, Make); 3] = [
        ("a FIFO", |p| {
            sh(Command::new("mkfifo").arg(p));
        }),
        ("a directory", |p| std::fs::create_dir(p).unwrap()),
        ("a symbolic link", |p| {
            std::os::unix::fs::symlink("/dev/zero", p).unwrap()
        }),
    ];
    for (i, (found, make)) in cases.into_iter().enumerate() {
        let dir = base.path().join(format!("data-{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        make(&ring(&dir));
        let path = ring(&dir);
        let read = answers("reading a special ring file", move || {
            read_ring_file(&path).map(|s| s.records.len())
        });
        let err = read.expect_err("a special file is not a ring");
        assert!(err.to_string().contains(found), "{err}");
        let d = dir.clone();
        let t = answers("starting on a special ring file", move || {
            Telemetry::start(settings(&d))
        });
        assert!(heap_reason(&t).contains(found), "{}", heap_reason(&t));
        log_n(&t, 10, "special");
        t.shutdown(SHUTDOWN);
    }
}

// --- 4. Bounded readers and salvage ------------------------------------------------------

#[test]
fn a_huge_ring_file_costs_bounded_time_and_space() {
    const NAME: &str = "hostile_disk::a_huge_ring_file_costs_bounded_time_and_space";
    let Some(base) = child_role(NAME) else {
        in_child(NAME, ChildTest::new(NAME));
        return;
    };
    let dir = base.join("data");
    session(&dir, 100, "before it grew");
    // Extended to 3 GB (sparse): a valid header, a wrong size.
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(ring(&dir))
        .unwrap();
    f.set_len(3 << 30).unwrap();
    drop(f);
    let rss_before = peak_rss();
    let t0 = Instant::now();
    let snap = read_ring_file(&ring(&dir)).unwrap();
    let read_took = t0.elapsed();
    assert!(snap.records.len() >= 100);
    let t0 = Instant::now();
    let t = Telemetry::start(settings(&dir));
    let start_took = t0.elapsed();
    let status = t.status().recorder;
    assert!(status.file_backed(), "{:?}", status.backend);
    assert!(status.salvaged >= 100, "{status:?}");
    assert!(messages(&t).iter().any(|m| m == "before it grew"));
    let aside = status
        .moved_aside
        .clone()
        .expect("the odd file was kept aside");
    let aside_len = std::fs::metadata(&aside).unwrap().len();
    assert!(
        aside_len <= (4096 + RING) as u64,
        "the copy kept aside is bounded by the declared ring: {aside_len}"
    );
    assert_eq!(
        std::fs::metadata(ring(&dir)).unwrap().len(),
        (4096 + RING) as u64
    );
    t.shutdown(SHUTDOWN);
    let rss_growth = peak_rss().saturating_sub(rss_before);
    assert!(
        rss_growth < 64 << 20,
        "reading and salvaging a 3 GB ring grew the peak RSS by {rss_growth} bytes"
    );
    println!(
        "DRILL 3 GB sparse ring: read_ring_file {read_took:?}, start {start_took:?}, \
         peak RSS +{} KiB, kept aside {aside_len} bytes",
        rss_growth / 1024
    );
    println!("{DONE}");
}

#[test]
fn an_oversized_ring_setting_is_refused_by_name() {
    let base = tempfile::tempdir().unwrap();
    let t = Telemetry::start(Settings {
        ring_bytes: 1 << 30,
        ..settings(base.path())
    });
    let problems = t.status().problems;
    assert!(
        problems.iter().any(|p| p.message.contains("ring_bytes")),
        "{problems:?}"
    );
    assert_eq!(t.status().recorder.capacity_bytes, 1 << 20);
    t.shutdown(SHUTDOWN);
}

#[test]
fn a_lease_on_the_ring_never_stalls_start() {
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("data");
    session(&dir, 10, "before the lease");
    // Another process's read lease: an open for writing would wait (up to
    // /proc/sys/fs/lease-break-time, 45 s) for it to be given up.
    let mut holder = Command::new("python3")
        .arg("-c")
        .arg(
            "import fcntl, os, sys, time\n\
             fd = os.open(sys.argv[1], os.O_RDONLY)\n\
             fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_RDLCK)\n\
             print('leased', flush=True)\n\
             time.sleep(60)\n",
        )
        .arg(ring(&dir))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 (installed on every machine here) to hold a lease");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(holder.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(
        line.trim(),
        "leased",
        "the lease holder could not take its lease"
    );
    let t0 = Instant::now();
    let t = Telemetry::start(settings(&dir));
    let took = t0.elapsed();
    let why = heap_reason(&t);
    assert!(why.contains("lease"), "{why}");
    assert!(
        read_ring_file(&ring(&dir)).is_ok(),
        "readers do not conflict"
    );
    t.shutdown(SHUTDOWN);
    let _ = holder.kill();
    let _ = holder.wait();
    println!("DRILL a lease on the ring: start took {took:?} ({why})");
}

// --- 5. Wraps and kills leave a gap-free window -----------------------------------------

fn log_from_threads(t: &Telemetry, threads: usize, each: u64, msg: &'static str) {
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| log_n(t, each, msg));
        }
    });
}

/// Five sessions on one data dir, each writing ~6x what the 64 KiB ring holds from
/// `writers` threads; returns the worst `missing` seen.
fn wrap_sessions(writers: usize) -> u64 {
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("data");
    let mut worst = 0;
    for run in 0..5 {
        let t = Telemetry::start(settings(&dir));
        let first = t.recorder().next_seq();
        log_from_threads(&t, writers, 3_000 / writers as u64, "wrapping");
        t.shutdown(SHUTDOWN);
        drop(t);
        let snap = read_ring_file(&ring(&dir)).unwrap();
        worst = worst.max(snap.missing);
        let oldest = snap.records.first().unwrap().seq;
        assert!(
            oldest > first,
            "run {run}: records of an earlier session (#{oldest}) survive although this \
             session (from #{first}) wrote far more than the ring holds"
        );
        assert!(
            snap.lapped < 64,
            "run {run}: {} records left out at the old end",
            snap.lapped
        );
    }
    worst
}

#[test]
fn many_wraps_leave_a_gap_free_window() {
    // One writer (the tracking loop) and the recorder's own threads: no gap at all.
    assert_eq!(wrap_sessions(1), 0, "gaps in the window");
    // Three writers on two cores: a writer preempted mid-record while the whole ring laps
    // under it tears its record (and the one it lands on) — the one way a record can be
    // lost in a live ring. How often depends on the scheduler (in a busy test binary,
    // more), but the count is of one window and never accumulates with the laps (before
    // issue 10: 6 -> 16 -> 26 gaps per session, 168,508 missing after 20 killed runs).
    let worst = wrap_sessions(3);
    println!("DRILL 5 wrapping sessions, 3 writers: at most {worst} torn records in a window");
    assert!(worst <= 32, "{worst} records missing inside one window");
}

#[test]
fn killed_runs_leave_a_gap_free_window() {
    const NAME: &str = "hostile_disk::killed_runs_leave_a_gap_free_window";
    if let Some(dir) = child_role(NAME) {
        let t = Telemetry::start(settings(&dir));
        println!("started");
        // Two writers until the parent's SIGKILL.
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| loop {
                    log_n(&t, 100, "until killed");
                });
            }
        });
        return;
    }
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("data");
    let exe = std::env::current_exe().unwrap();
    const RUNS: u64 = 20;
    for run in 0..RUNS {
        let mut child = Command::new(&exe)
            .args([NAME, "--exact", "--nocapture", "--test-threads=1"])
            .env(ROLE, NAME)
            .env(DIR, &dir)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        while !line.contains("started") {
            line.clear();
            assert!(std::io::BufRead::read_line(&mut out, &mut line).unwrap() > 0);
        }
        std::thread::sleep(Duration::from_millis(30 + run * 7 % 40));
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let snap = read_ring_file(&ring(&dir)).unwrap();
    // A kill tears at most the record each writer was writing; a preempted writer lapped
    // by the ring tears a few more (see `many_wraps_leave_a_gap_free_window`).
    assert!(
        snap.missing <= 32,
        "{} records missing inside the window after {RUNS} kills",
        snap.missing
    );
    let t = Telemetry::start(settings(&dir));
    assert_eq!(t.previous_session().outcome, Outcome::Abnormal);
    t.shutdown(SHUTDOWN);
    println!(
        "DRILL {RUNS} killed runs: window of {} records, {} missing, {} lapped",
        snap.records.len(),
        snap.missing,
        snap.lapped
    );
}

// --- 6. Session truth ---------------------------------------------------------------------

#[test]
fn disk_full_at_shutdown_still_reads_as_exited() {
    const NAME: &str = "hostile_disk::disk_full_at_shutdown_still_reads_as_exited";
    let Some(base) = child_role(NAME) else {
        in_child(NAME, ChildTest::new(NAME).private_mounts());
        return;
    };
    let mnt = small_disk(&base.join("disk"), 512 * 1024);
    let dir = mnt.path().join("data");
    let t = Telemetry::start(settings(&dir));
    assert!(t.status().recorder.file_backed());
    log_n(&t, 100, "before the disk filled");
    disk::fill_disk(mnt.path()).unwrap();
    t.shutdown(SHUTDOWN);
    drop(t);
    let marker = std::fs::read_to_string(dir.join("session.json")).unwrap();
    assert!(
        marker.contains("\"clean_exit\": false"),
        "the marker could not be written: {marker}"
    );
    let t = Telemetry::start(settings(&dir));
    assert_eq!(t.previous_session().outcome, Outcome::Exited);
    t.shutdown(SHUTDOWN);
    no_half_written_state(&dir);
    println!("DRILL disk full at shutdown: the ring's clean-exit record stands for the marker");
    println!("{DONE}");
}

#[test]
fn disk_full_at_first_start_leaves_no_empty_or_temporary_files() {
    const NAME: &str = "hostile_disk::disk_full_at_first_start_leaves_no_empty_or_temporary_files";
    let Some(base) = child_role(NAME) else {
        in_child(NAME, ChildTest::new(NAME).private_mounts());
        return;
    };
    let mnt = small_disk(&base.join("disk"), 256 * 1024);
    let dir = mnt.path().join("data");
    std::fs::create_dir_all(&dir).unwrap();
    disk::fill_disk(mnt.path()).unwrap();
    for _ in 0..2 {
        let t = Telemetry::start(settings(&dir));
        let s = t.status();
        assert_eq!(s.device_id.len(), 16, "{:?}", s.device_id);
        assert!(
            s.problems.iter().any(|p| p.message.contains("device id")),
            "{:?}",
            s.problems
        );
        log_n(&t, 100, "on a full disk");
        t.shutdown(SHUTDOWN);
        no_half_written_state(&dir);
    }
    println!("DRILL disk full at first start: no 0-byte or .tmp state files");
    println!("{DONE}");
}

/// Every state file in the data dir and its bytes, the ring aside.
fn state_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.metadata().unwrap().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "recorder.ring")
        .map(|n| {
            let bytes = std::fs::read(dir.join(&n)).unwrap();
            (n, bytes)
        })
        .collect();
    files.sort();
    files
}

fn bucket_objects(dir: &Path) -> usize {
    fn walk(p: &Path) -> usize {
        std::fs::read_dir(p).map_or(0, |rd| {
            rd.map(|e| e.unwrap().path())
                .map(|p| if p.is_dir() { walk(&p) } else { 1 })
                .sum()
        })
    }
    walk(&dir.join("bucket"))
}

#[test]
fn a_second_instance_leaves_the_owner_alone() {
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("data");
    let uploading = |dir: &Path| Settings {
        enable_s3_diagnostics: true,
        ..settings(dir)
    };
    let owner = Telemetry::start(uploading(&dir));
    log_n(&owner, 200, "the owner");
    assert!(owner.flush(Duration::from_secs(10)));
    let state_before = state_files(&dir);
    let objects_before = bucket_objects(&dir);
    assert!(
        objects_before > 0,
        "the owner shipped to file://<data_dir>/bucket"
    );

    let second = Telemetry::start(uploading(&dir));
    assert_eq!(second.previous_session().outcome, Outcome::StillRunning);
    let s = second.status();
    assert!(!s.recorder.file_backed());
    assert!(s.recorder.owned_elsewhere);
    assert!(s.dispatch.is_none(), "the second instance uploads nothing");
    assert!(
        s.problems
            .iter()
            .any(|p| p.area == locus_telemetry::ProblemArea::SecondInstance
                && p.message.contains("in use by another")),
        "{:?}",
        s.problems
    );
    log_n(&second, 200, "the second");
    assert!(second.flush(Duration::from_secs(2)));
    second.shutdown(SHUTDOWN);
    drop(second);
    assert_eq!(
        state_files(&dir),
        state_before,
        "the second instance changed the owner's state files"
    );
    assert_eq!(bucket_objects(&dir), objects_before);

    log_n(&owner, 10, "the owner again");
    owner.shutdown(Duration::from_secs(5));
    drop(owner);
    // Every record in the bucket is the owner's: no sequence number twice.
    let mut seqs = Vec::new();
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "find {} -name '*.log.gz' -exec zcat {{}} +",
            dir.join("bucket").display()
        ))
        .output()
        .unwrap();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let r = locus_telemetry::record::Record::from_json_line(line).unwrap();
        if let Body::Log(l) = &r.body {
            assert_ne!(l.message, "the second");
        }
        seqs.push(r.seq);
    }
    let n = seqs.len();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), n, "colliding sequence numbers in the bucket");
    let next = Telemetry::start(settings(&dir));
    assert_eq!(next.previous_session().outcome, Outcome::Exited);
    next.shutdown(SHUTDOWN);
}

#[test]
fn a_degraded_start_is_not_a_crash() {
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("data");
    session(&dir, 10, "a good session");
    // A value no app should pass: start degrades (heap, no uploads), names the key.
    let t = Telemetry::start(Settings {
        backoff_hours: 3e9,
        ..settings(&dir)
    });
    assert!(
        t.status()
            .problems
            .iter()
            .any(|p| p.message.contains("backoff_hours")),
        "{:?}",
        t.status().problems
    );
    log_n(&t, 10, "degraded");
    t.shutdown(SHUTDOWN);
    drop(t);
    let t = Telemetry::start(settings(&dir));
    assert_eq!(t.previous_session().outcome, Outcome::Exited);
    assert!(t
        .recent(usize::MAX)
        .iter()
        .all(|r| !matches!(r.body, Body::Crash(_))));
    t.shutdown(SHUTDOWN);
}

#[test]
fn the_clean_exit_record_is_in_the_ring_before_the_marker() {
    // The ordering the verdict relies on when the marker cannot be written.
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("data");
    session(&dir, 5, "one");
    let records = read_ring_file(&ring(&dir)).unwrap().records;
    assert!(records.iter().any(|r| matches!(&r.body,
        Body::Session(s) if matches!(s.event, SessionEvent::CleanExit))));
}

#[test]
fn state_files_that_are_fifos_or_links_never_hang_or_mislead_start() {
    let base = tempfile::tempdir().unwrap();
    for name in ["session.json", "device_id", "community-salt"] {
        let dir = base.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        sh(Command::new("mkfifo").arg(dir.join(name)));
        let d = dir.clone();
        let t = answers(&format!("start with {name} as a FIFO"), move || {
            Telemetry::start(Settings {
                enable_community_telemetry: true,
                ..settings(&d)
            })
        });
        log_n(&t, 10, "with a FIFO for a state file");
        let expected = if name == "session.json" {
            Outcome::Unknown // a marker is there, but unreadable: not known how it ended
        } else {
            Outcome::FirstStart
        };
        assert_eq!(t.previous_session().outcome, expected, "{name}");
        assert_eq!(t.status().device_id.len(), 16, "{name}");
        answers("shutdown", move || t.shutdown(SHUTDOWN));
    }
}
