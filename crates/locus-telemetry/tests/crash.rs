//! Process death, for real: child processes (this test binary re-run in a child mode)
//! that are SIGKILLed mid-stream, panic, or die of a fatal signal. The parent then reads
//! what survived and starts telemetry on the same data dir to see the verdict.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use locus_telemetry::crash::session::Outcome;
use locus_telemetry::record::{Body, CrashKind, Level};
use locus_telemetry::recorder::read_ring_file;
use locus_telemetry::{Settings, Telemetry};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Allocation that fails on demand, per thread: a thread under memory pressure, for the
/// panic hook to survive (it must neither allocate nor symbolise).
struct FailOnDemand;

thread_local! {
    static NO_MEMORY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Every allocation of at least this many bytes fails, on every thread, once set.
static BIG_FAIL: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn no_memory_for(size: usize) -> bool {
    let big = BIG_FAIL.load(std::sync::atomic::Ordering::Relaxed);
    (big != 0 && size >= big) || NO_MEMORY.try_with(|f| f.get()).unwrap_or(false)
}

// SAFETY: every call is forwarded to the system allocator, or fails (null) without
// touching memory, which GlobalAlloc allows.
unsafe impl std::alloc::GlobalAlloc for FailOnDemand {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        if no_memory_for(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: forwarded as received.
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        if no_memory_for(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: forwarded as received.
        unsafe { std::alloc::System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new: usize) -> *mut u8 {
        if no_memory_for(new) {
            return std::ptr::null_mut();
        }
        // SAFETY: forwarded as received.
        unsafe { std::alloc::System.realloc(ptr, layout, new) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: forwarded as received.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: FailOnDemand = FailOnDemand;

const MODE: &str = "LOCUS_CRASH_CHILD";
const DIR: &str = "LOCUS_CRASH_DIR";

fn settings(dir: &Path) -> Settings {
    Settings {
        data_dir: dir.to_path_buf(),
        enable_s3_diagnostics: false,
        ring_bytes: 256 * 1024,
        app_version: "9.9.9".into(),
        ..Settings::default()
    }
}

/// The child's side: does nothing unless started by a parent test below.
#[test]
fn child_entry() {
    let (Ok(mode), Ok(dir)) = (std::env::var(MODE), std::env::var(DIR)) else {
        return;
    };
    let telemetry = Telemetry::start(settings(Path::new(&dir)));
    let out = std::io::stdout();
    match mode.as_str() {
        "log-forever" => {
            // Bounded so that the ring never laps what the parent checks, however far
            // ahead of its reading (a 64 KiB pipe is ~13k lines) the child runs; then
            // wait for the SIGKILL.
            for _ in 0..3_000 {
                let seq = telemetry.log(Level::Info, "child", "tick", &[]);
                use std::io::Write;
                let mut out = out.lock();
                let _ = writeln!(out, "{seq}");
                let _ = out.flush();
            }
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        "panic" => {
            // Aggregated in memory, not yet flushed: the panic hook must write them.
            telemetry.counter("fixes", 7);
            telemetry.histogram("fix_latency_ms", 12.5);
            telemetry.log(Level::Info, "child", "about to fail", &[]);
            let v: Vec<u8> = Vec::new();
            let idx = std::hint::black_box(3);
            let _ = v[idx];
        }
        "segv" => {
            telemetry.log(Level::Info, "child", "about to fault", &[]);
            // SAFETY: none — a deliberate invalid write, the crash under test.
            unsafe { std::ptr::write_volatile(std::hint::black_box(0x10usize) as *mut u8, 1) };
        }
        "panic-without-memory" => {
            telemetry.log(Level::Info, "child", "about to run out of memory", &[]);
            let worker = std::thread::Builder::new()
                .name("oom-worker".into())
                .spawn(|| {
                    NO_MEMORY.with(|f| f.set(true));
                    // A literal: the panic itself needs no memory.
                    panic!("the worker ran out of memory");
                })
                .unwrap();
            let _ = worker.join();
        }
        "big-allocations-fail" => {
            // Memory pressure: nothing of 128 KiB or more can be had. The ring (256 KiB)
            // cannot be copied for a snapshot, and a heap ring of the default size
            // cannot be had: telemetry must keep the app alive, not abort it.
            BIG_FAIL.store(128 * 1024, std::sync::atomic::Ordering::Relaxed);
            for _ in 0..1_000 {
                telemetry.log(Level::Info, "child", "under pressure", &[]);
            }
            let seen = telemetry.recent(10).len();
            let _ = telemetry.status();
            // A data dir that is a file: the recorder goes to the heap.
            let file = Path::new(&dir).join("a-file");
            std::fs::write(&file, b"x").unwrap();
            let degraded = Telemetry::start(Settings {
                data_dir: file,
                ..settings(Path::new(&dir))
            });
            for _ in 0..100 {
                degraded.log(Level::Info, "child", "on the heap", &[]);
            }
            let kept = degraded.recent(10).len();
            degraded.shutdown(Duration::from_millis(100));
            telemetry.shutdown(Duration::from_millis(100));
            BIG_FAIL.store(0, std::sync::atomic::Ordering::Relaxed);
            println!("recent on the file ring: {seen}; records kept on the heap ring: {kept}");
            println!("PRESSURE-DONE");
        }
        "abort" => {
            telemetry.log(Level::Info, "child", "about to abort", &[]);
            std::process::abort();
        }
        other => panic!("unknown child mode {other}"),
    }
}

fn child(mode: &str, dir: &Path) -> Command {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env(MODE, mode)
        .env(DIR, dir)
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null());
    c
}

#[test]
fn sigkill_mid_stream_loses_nothing_logged_and_reads_as_abnormal() {
    let dir = tempfile::tempdir().unwrap();
    let mut proc = child("log-forever", dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = proc.stdout.take().unwrap();
    let mut logged = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        if let Ok(seq) = line.trim().parse::<u64>() {
            logged.push(seq);
        }
        if logged.len() == 2_000 {
            proc.kill().unwrap(); // SIGKILL
            break;
        }
    }
    let status = proc.wait().unwrap();
    assert!(!status.success(), "the child was killed");
    assert_eq!(logged.len(), 2_000);

    let snap = read_ring_file(&dir.path().join("recorder.ring")).unwrap();
    let kept: std::collections::HashSet<u64> = snap.records.iter().map(|r| r.seq).collect();
    let lost: Vec<u64> = logged
        .iter()
        .copied()
        .filter(|s| !kept.contains(s))
        .collect();
    assert!(
        lost.is_empty(),
        "records the child had logged were lost: {:?} ({} lost; the ring holds {} records, #{}..#{})",
        &lost[..lost.len().min(10)],
        lost.len(),
        snap.records.len(),
        snap.records.first().map_or(0, |r| r.seq),
        snap.records.last().map_or(0, |r| r.seq),
    );

    let t = Telemetry::start(settings(dir.path()));
    assert_eq!(t.previous_session().outcome, Outcome::Abnormal);
    t.shutdown(Duration::from_millis(100));
}

#[test]
fn a_panicking_child_leaves_a_tombstone_and_reads_as_crashed() {
    let dir = tempfile::tempdir().unwrap();
    let out = child("panic", dir.path()).output().unwrap();
    assert!(!out.status.success());
    let t = Telemetry::start(settings(dir.path()));
    let prev = t.previous_session();
    assert_eq!(prev.outcome, Outcome::Crashed);
    let tomb = prev.tombstone.as_ref().expect("tombstone");
    let Body::Crash(c) = &tomb.body else {
        panic!("not a crash record")
    };
    assert_eq!(c.crash, CrashKind::Panic);
    assert!(c.message.contains("index out of bounds"), "{}", c.message);
    assert!(c.location.contains("tests/crash.rs"), "{}", c.location);
    assert_eq!(c.app_version, "9.9.9");
    assert!(!c.backtrace.is_empty());
    // The last second's counters and histograms were flushed before the tombstone.
    let records = read_ring_file(&dir.path().join("recorder.ring"))
        .unwrap()
        .records;
    let before_tomb =
        |pred: &dyn Fn(&Body) -> bool| records.iter().any(|r| pred(&r.body) && r.seq < tomb.seq);
    assert!(before_tomb(
        &|b| matches!(b, Body::Metric(m) if m.name == "fixes" && m.value == 7.0)
    ));
    assert!(before_tomb(
        &|b| matches!(b, Body::Histogram(h) if h.name == "fix_latency_ms" && h.count == 1 && h.sum == 12.5)
    ));
    t.shutdown(Duration::from_millis(100));
}

#[test]
fn the_panic_hook_needs_no_memory_on_the_failing_thread() {
    let dir = tempfile::tempdir().unwrap();
    // After our hook, std's default hook allocates and the child aborts: that is std's
    // business. What matters is that the tombstone was written first.
    let mut proc = child("panic-without-memory", dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // A hook that symbolises deadlocks here (std's backtrace lock, then its
    // out-of-memory path waiting on it): bounded, so that reads as a failure.
    let mut waited = 0;
    while proc.try_wait().unwrap().is_none() {
        waited += 1;
        if waited > 6_000 {
            let _ = proc.kill();
            panic!("the child hung in its panic hook (deadlock under memory pressure)");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let records = read_ring_file(&dir.path().join("recorder.ring"))
        .unwrap()
        .records;
    let panic = records.iter().find_map(|r| match &r.body {
        Body::Crash(c) if c.crash == CrashKind::Panic => Some(c.clone()),
        _ => None,
    });
    let c = panic.expect("a panic tombstone, written without allocating");
    assert_eq!(c.message, "the worker ran out of memory");
    assert_eq!(c.thread, "oom-worker");
    assert!(c.location.contains("tests/crash.rs"), "{}", c.location);
    assert!(
        c.backtrace.contains("   0: 0x"),
        "raw frames: {}",
        c.backtrace
    );
}

#[test]
fn memory_pressure_costs_records_never_the_process() {
    let dir = tempfile::tempdir().unwrap();
    let out = child("big-allocations-fail", dir.path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("PRESSURE-DONE"),
        "the child died under memory pressure: {:?}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("records kept on the heap ring: 10"),
        "a smaller heap ring still records: {stdout}"
    );
}

#[test]
fn a_clean_exit_reads_as_exited() {
    let dir = tempfile::tempdir().unwrap();
    let t = Telemetry::start(settings(dir.path()));
    assert_eq!(t.previous_session().outcome, Outcome::FirstStart);
    t.shutdown(Duration::from_millis(100));
    drop(t);
    let t = Telemetry::start(settings(dir.path()));
    assert_eq!(t.previous_session().outcome, Outcome::Exited);
    t.shutdown(Duration::from_millis(100));
}

#[test]
fn a_segfault_leaves_a_signal_tombstone() {
    let dir = tempfile::tempdir().unwrap();
    let out = child("segv", dir.path()).output().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGSEGV),
        "the child died of the signal it raised"
    );
    let t = Telemetry::start(settings(dir.path()));
    let prev = t.previous_session();
    assert_eq!(prev.outcome, Outcome::Crashed);
    let Some(Body::Crash(c)) = prev.tombstone.as_ref().map(|r| &r.body) else {
        panic!("no tombstone")
    };
    assert_eq!(c.crash, CrashKind::Signal);
    assert_eq!(c.signal, Some(libc::SIGSEGV));
    assert!(c.message.starts_with("SIGSEGV"));
    t.shutdown(Duration::from_millis(100));
}

#[test]
fn an_abort_leaves_a_signal_tombstone() {
    let dir = tempfile::tempdir().unwrap();
    let out = child("abort", dir.path()).output().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(libc::SIGABRT));
    let t = Telemetry::start(settings(dir.path()));
    assert_eq!(t.previous_session().outcome, Outcome::Crashed);
    t.shutdown(Duration::from_millis(100));
}
