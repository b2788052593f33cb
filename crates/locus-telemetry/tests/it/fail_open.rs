//! Fail-open by construction (issue 18): each case a hostile user found, replayed in a
//! real child process (this binary re-run, see `drill`) under the real fault — a clock
//! set before 1970 or after 2262 or 400 days ahead (`faketime`), a file-size limit
//! (`RLIMIT_FSIZE`), a FIFO or a link at a temporary name, `fork()` without `exec`, a
//! fatal signal sent by another process. The child must finish its story and exit 0;
//! the parent then checks what was left on disk and what the next start says.

use super::drill::{child_role, DIR, DONE, ROLE};
use locus_telemetry::crash::session::Outcome;
use locus_telemetry::record::Body;
use locus_telemetry::recorder::read_ring_file;
use locus_telemetry::{ExportOptions, FieldValue, Level, ProblemArea, Settings, Telemetry};
use locus_testkit::faults::child::ChildTest;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn settings(data: &Path) -> Settings {
    Settings {
        data_dir: data.to_path_buf(),
        ring_bytes: 256 * 1024,
        app_version: "9.9.9".into(),
        ..Settings::default()
    }
}

/// Runs `test` in a child with scratch dir `base` (made by the parent, which may stage
/// files in it first); asserts it finished its story and exited 0.
fn run_child(test: &str, child: ChildTest, base: &Path) -> String {
    let out = child
        .env(ROLE, test)
        .env(DIR, base.to_str().unwrap())
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        .env("RUST_BACKTRACE", "0")
        .timeout(Duration::from_secs(180))
        .run()
        .unwrap_or_else(|e| panic!("{test}: cannot run the child: {e}"));
    assert!(
        out.succeeded_with(DONE),
        "{test}: the app died, hung or failed its story:\n{}",
        out.transcript()
    );
    out.stdout
}

/// `faketime` from Debian, or a loud failure naming the install command.
fn faketime(test: &str, spec: &str) -> ChildTest {
    let found = std::process::Command::new("faketime")
        .arg("--version")
        .output()
        .is_ok();
    assert!(
        found,
        "faketime is not installed: apt-get install faketime (scripts/test installs it)"
    );
    ChildTest::new(test).wrapped(&["faketime", "-f", spec])
}

/// What the next start (a normal clock, no fault) says of the session the child ran.
fn next_verdict(data: &Path) -> Outcome {
    let t = Telemetry::start(Settings {
        enable_s3_diagnostics: false,
        ..settings(data)
    });
    let outcome = t
        .wait_previous_session(Duration::from_secs(30))
        .map(|p| p.outcome);
    t.shutdown(Duration::from_secs(5));
    outcome.expect("the verdict settles")
}

/// Waits until no thread of this process holds the data dir's ring any more (the
/// dispatcher lets go of it after `shutdown` returns).
fn wait_until_released(data: &Path) {
    let ring = std::fs::File::open(data.join("recorder.ring")).unwrap();
    let mut tries = 0u32;
    while ring.try_lock().is_err() {
        tries += 1;
        assert!(tries < 60_000, "the ring was never released");
        std::thread::sleep(Duration::from_millis(1));
    }
    ring.unlock().unwrap();
}

fn diagnostics_files(bucket: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.to_string_lossy().ends_with(".log.gz") {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(&bucket.join("diagnostics"), &mut out);
    out.sort();
    out
}

/// The story every clock case runs: start, the tracking loop, every public call that
/// reads the clock, flush, shutdown.
fn clock_story(base: &Path, clock_flagged: bool) -> Telemetry {
    let t = Telemetry::start(settings(&base.join("data")));
    for i in 0..300u64 {
        t.log(Level::Info, "tracking", "fix", &[("i", FieldValue::U64(i))]);
    }
    let s = t.status();
    let _ = t.set_verbosity(Level::Debug, Duration::from_secs(60));
    let _ = t.export(&base.join("share.jsonl.gz"), &ExportOptions::default());
    let _ = t.set_community_telemetry(true);
    let _ = t.community_preview();
    assert_eq!(
        s.problems.iter().any(|p| p.area == ProblemArea::Clock),
        clock_flagged,
        "the clock's state is in status(): {:?}",
        s.problems
    );
    println!("tracking loop done: 300 fixes");
    t
}

#[test]
fn a_clock_before_1970_is_clamped_never_a_panic() {
    const NAME: &str = "fail_open::a_clock_before_1970_is_clamped_never_a_panic";
    let Some(base) = child_role(NAME) else {
        let base = tempfile::tempdir().unwrap();
        let out = run_child(NAME, faketime(NAME, "@1969-12-31 23:00:00"), base.path());
        assert!(out.contains("tracking loop done"), "{out}");
        assert_eq!(next_verdict(&base.path().join("data")), Outcome::Exited);
        return;
    };
    let t = clock_story(&base, true);
    assert!(t.flush(Duration::from_secs(30)), "uploads go on");
    t.shutdown(Duration::from_secs(10));
    println!("{DONE}");
}

#[test]
fn a_clock_after_2262_keeps_object_keys_unique() {
    const NAME: &str = "fail_open::a_clock_after_2262_keeps_object_keys_unique";
    let Some(base) = child_role(NAME) else {
        let base = tempfile::tempdir().unwrap();
        run_child(NAME, faketime(NAME, "@2300-01-01 00:00:00"), base.path());
        let files = diagnostics_files(&base.path().join("data/bucket"));
        assert!(
            files.len() >= 3,
            "three rounds, three objects (none overwritten): {files:?}"
        );
        assert_eq!(next_verdict(&base.path().join("data")), Outcome::Exited);
        return;
    };
    let t = clock_story(&base, true);
    for round in 0..3 {
        t.log(
            Level::Info,
            "tracking",
            "round",
            &[("round", FieldValue::U64(round as u64))],
        );
        assert!(t.flush(Duration::from_secs(30)), "round {round} uploads");
    }
    t.shutdown(Duration::from_secs(10));
    println!("{DONE}");
}

#[test]
fn a_clock_400_days_ahead_deletes_no_diagnostics() {
    const NAME: &str = "fail_open::a_clock_400_days_ahead_deletes_no_diagnostics";
    let Some(base) = child_role(NAME) else {
        let base = tempfile::tempdir().unwrap();
        let data = base.path().join("data");
        // A first run on the true clock leaves diagnostics in the file:// bucket.
        let t = Telemetry::start(settings(&data));
        t.log(Level::Info, "tracking", "yesterday", &[]);
        assert!(t.flush(Duration::from_secs(30)));
        t.shutdown(Duration::from_secs(10));
        drop(t);
        wait_until_released(&data);
        let before = diagnostics_files(&data.join("bucket"));
        assert!(!before.is_empty());
        // Retention is due again at the next start (as it would be a day later).
        std::fs::remove_file(data.join("retention-s3.json")).unwrap();
        run_child(NAME, faketime(NAME, "+400d"), base.path());
        assert!(
            data.join("retention-s3.json").is_file(),
            "the retention rule was applied in the child"
        );
        let after = diagnostics_files(&data.join("bucket"));
        for f in &before {
            assert!(
                after.contains(f),
                "{} was deleted on a clock 400 days ahead",
                f.display()
            );
        }
        return;
    };
    // A clock that is wrong from the start is no jump: only retention's own rule holds.
    let t = clock_story(&base, false);
    // The retention check runs on the worker's first round; a flush waits for it.
    assert!(t.flush(Duration::from_secs(30)));
    t.shutdown(Duration::from_secs(10));
    println!("{DONE}");
}

#[test]
fn a_fifo_or_a_link_at_a_temporary_name_is_never_opened() {
    const NAME: &str = "fail_open::a_fifo_or_a_link_at_a_temporary_name_is_never_opened";
    let Some(base) = child_role(NAME) else {
        let base = tempfile::tempdir().unwrap();
        let data = base.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        let victim = base.path().join("victim.txt");
        std::fs::write(&victim, b"the user's file").unwrap();
        for name in [
            "device_id.json.tmp",
            "session.json.tmp",
            "breaker-s3.json.tmp",
        ] {
            std::os::unix::fs::symlink(&victim, data.join(name)).unwrap();
        }
        for name in ["cursor-s3.json.tmp", "verbosity.json.tmp"] {
            let c = std::ffi::CString::new(data.join(name).to_str().unwrap()).unwrap();
            // SAFETY: mkfifo with a valid C string.
            assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        }
        run_child(NAME, ChildTest::new(NAME), base.path());
        assert_eq!(std::fs::read(&victim).unwrap(), b"the user's file");
        assert!(data.join("cursor-s3.json").is_file(), "the cursor was kept");
        assert_eq!(next_verdict(&data), Outcome::Exited);
        return;
    };
    let t = Telemetry::start(settings(&base.join("data")));
    for i in 0..100u64 {
        t.log(Level::Info, "tracking", "fix", &[("i", FieldValue::U64(i))]);
    }
    let _ = t.status();
    assert!(t.flush(Duration::from_secs(30)));
    t.shutdown(Duration::from_secs(10));
    println!("tracking loop done");
    println!("{DONE}");
}

#[test]
fn a_file_size_limit_is_an_error_never_sigxfsz() {
    const NAME: &str = "fail_open::a_file_size_limit_is_an_error_never_sigxfsz";
    let Some(base) = child_role(NAME) else {
        let base = tempfile::tempdir().unwrap();
        // 16 KiB: state files fit; a batch of incompressible lines and the export do not.
        let out = run_child(
            NAME,
            ChildTest::new(NAME).fsize_limit(16 * 1024),
            base.path(),
        );
        assert!(out.contains("export refused"), "{out}");
        assert!(
            !base.path().join("share.jsonl.gz").exists()
                && !base.path().join("share.summary.txt").exists(),
            "a cut-short export leaves no partial bundle"
        );
        assert_eq!(next_verdict(&base.path().join("data")), Outcome::Exited);
        return;
    };
    let t = Telemetry::start(settings(&base.join("data")));
    // Incompressible text, so the gzip'd batch passes the limit.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..400 {
        let mut line = String::new();
        for _ in 0..8 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            line.push_str(&format!("{x:016x}"));
        }
        t.log(Level::Info, "tracking", &line, &[]);
    }
    // The upload to the file:// bucket fails (EFBIG) and is counted; the app lives on.
    let _ = t.flush(Duration::from_secs(30));
    let exported = t.export(&base.join("share.jsonl.gz"), &ExportOptions::default());
    assert!(exported.is_err(), "the bundle is larger than the limit");
    println!(
        "export refused: {}",
        exported.err().map(|e| e.to_string()).unwrap_or_default()
    );
    t.shutdown(Duration::from_secs(10));
    println!("{DONE}");
}

#[test]
fn a_forked_child_never_writes_the_parents_ring() {
    const NAME: &str = "fail_open::a_forked_child_never_writes_the_parents_ring";
    let Some(base) = child_role(NAME) else {
        let base = tempfile::tempdir().unwrap();
        run_child(NAME, ChildTest::new(NAME), base.path());
        let data = base.path().join("data");
        let snap = read_ring_file(&data.join("recorder.ring")).unwrap();
        let messages: Vec<String> = snap
            .records
            .iter()
            .filter_map(|r| match &r.body {
                Body::Log(l) => Some(l.message.clone()),
                _ => None,
            })
            .collect();
        assert!(
            !messages.iter().any(|m| m == "forked child"),
            "{messages:?}"
        );
        assert_eq!(messages.iter().filter(|m| *m == "parent").count(), 200);
        assert_eq!(snap.missing, 0, "no torn or lost record");
        assert_eq!(next_verdict(&data), Outcome::Exited);
        return;
    };
    let t = Telemetry::start(Settings {
        enable_s3_diagnostics: false,
        ..settings(&base.join("data"))
    });
    for _ in 0..100 {
        t.log(Level::Info, "app", "parent", &[]);
    }
    // SAFETY: the child only calls telemetry (which must do nothing there) and _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork");
    if pid == 0 {
        for _ in 0..1_000 {
            t.log(Level::Info, "app", "forked child", &[]);
        }
        t.counter("child_counter", 1);
        t.shutdown(Duration::from_millis(100));
        // SAFETY: _exit ends the forked child without running the parent's destructors.
        unsafe { libc::_exit(0) };
    }
    let mut status = 0;
    // SAFETY: waits for the child we forked.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "child status {status}"
    );
    for _ in 0..100 {
        t.log(Level::Info, "app", "parent", &[]);
    }
    t.shutdown(Duration::from_secs(10));
    println!("{DONE}");
}

#[test]
fn a_fatal_signal_sent_by_another_process_is_not_a_crash() {
    const NAME: &str = "fail_open::a_fatal_signal_sent_by_another_process_is_not_a_crash";
    let Some(base) = child_role(NAME) else {
        let base = tempfile::tempdir().unwrap();
        run_child(NAME, ChildTest::new(NAME), base.path());
        let data = base.path().join("data");
        let snap = read_ring_file(&data.join("recorder.ring")).unwrap();
        assert!(
            !snap
                .records
                .iter()
                .any(|r| matches!(r.body, Body::Crash(_))),
            "no tombstone for a signal another process sent"
        );
        assert_eq!(next_verdict(&data), Outcome::Exited);
        return;
    };
    let t = Telemetry::start(Settings {
        enable_s3_diagnostics: false,
        capture_fatal_signals: true,
        ..settings(&base.join("data"))
    });
    let me = std::process::id().to_string();
    for round in 1..=2u64 {
        // `kill` is another process. Twice: after the first, our handler must still be
        // there (Rust's own SIGSEGV handler resets the disposition when it runs).
        let ok = std::process::Command::new("kill")
            .args(["-SEGV", &me])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -SEGV");
        while locus_telemetry::crash::foreign_signals_seen() < round {
            std::thread::yield_now();
        }
        t.log(Level::Info, "app", "still here", &[]);
    }
    t.shutdown(Duration::from_secs(10));
    println!("{DONE}");
}

#[test]
fn a_deadline_of_duration_max_is_a_long_wait_never_a_panic() {
    // `Instant + Duration::MAX` overflows: it must not panic inside (where the guard
    // would turn it into a silent `false`), it must wait as asked.
    let dir = tempfile::tempdir().unwrap();
    let t = Telemetry::start(settings(dir.path()));
    t.log(Level::Info, "tracking", "fix", &[]);
    assert!(
        t.flush(Duration::MAX),
        "a flush with no deadline to speak of ships"
    );
    let report = t.shutdown(Duration::MAX);
    assert!(report.flushed && report.dispatcher_finished, "{report:?}");
    assert!(
        !t.status()
            .problems
            .iter()
            .any(|p| p.area == ProblemArea::Internal),
        "no caught panic: {:?}",
        t.status().problems
    );
}

#[test]
fn files_are_private_and_a_ring_of_another_user_is_refused() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Under umask 022 files would come out 0644: telemetry's are 0600 whatever the umask.
    let t = Telemetry::start(settings(&data));
    t.log(Level::Info, "tracking", "fix", &[]);
    assert!(t.flush(Duration::from_secs(30)));
    assert!(t.close(Duration::from_secs(10)), "released");
    let ring = data.join("recorder.ring");
    let mut files = diagnostics_files(&data.join("bucket"));
    files.push(ring.clone());
    files.push(data.join("session.json"));
    for f in &files {
        let mode = std::fs::metadata(f).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} is {mode:o}", f.display());
    }
    // A ring that another user owns, world-writable: never used as the recorder.
    let nobody = 65534;
    std::os::unix::fs::chown(&ring, Some(nobody), Some(nobody)).unwrap();
    std::fs::set_permissions(&ring, std::fs::Permissions::from_mode(0o666)).unwrap();
    let t = Telemetry::start(Settings {
        enable_s3_diagnostics: false,
        ..settings(&data)
    });
    let s = t.status();
    assert!(!s.recorder.file_backed(), "{:?}", s.recorder.backend);
    assert!(
        format!("{:?}", s.recorder.backend).contains("owned by uid 65534"),
        "{:?}",
        s.recorder.backend
    );
    assert!(t.log(Level::Info, "app", "still recording", &[]) > 0);
    t.shutdown(Duration::from_secs(5));
    assert_eq!(
        std::fs::metadata(&ring).unwrap().uid(),
        nobody,
        "left alone"
    );
}

/// Under an address-space limit (`RLIMIT_AS`) too tight for telemetry's threads (each
/// may reserve a 64 MiB glibc malloc arena), telemetry starts none and says so: the app
/// neither aborts on a failed allocation (seen in the fault sweep at 96 MiB) nor loses
/// its recording.
#[test]
fn a_tight_address_space_limit_starts_no_thread_and_says_so() {
    const NAME: &str = "fail_open::a_tight_address_space_limit_starts_no_thread_and_says_so";
    let Some(base) = child_role(NAME) else {
        let base = tempfile::tempdir().unwrap();
        let out = run_child(NAME, ChildTest::new(NAME), base.path());
        assert!(out.contains("problem: "), "{out}");
        let data = base.path().join("data");
        let snap = read_ring_file(&data.join("recorder.ring")).unwrap();
        let fixes = snap
            .records
            .iter()
            .filter(|r| matches!(&r.body, Body::Log(l) if l.message == "fix"))
            .count();
        assert_eq!(fixes, 500, "every record of the limited run kept");
        assert_eq!(next_verdict(&data), Outcome::Exited);
        return;
    };
    // The limit: what the process uses now and 96 MiB more (the size the sweep failed
    // at, whatever this test binary's own size).
    let pages: u64 = std::fs::read_to_string("/proc/self/statm")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    // SAFETY: sysconf and setrlimit take no pointers but the struct we own.
    let limit = pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64 + (96 << 20);
    let l = libc::rlimit {
        rlim_cur: limit,
        rlim_max: limit,
    };
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &l) }, 0);
    let t = Telemetry::start(settings(&base.join("data")));
    for i in 0..500 {
        t.log(Level::Info, "tracking", "fix", &[("i", FieldValue::I64(i))]);
    }
    let status = t.status();
    let problem = status
        .problems
        .iter()
        .find(|p| p.area == ProblemArea::Dispatcher && p.message.contains("RLIMIT_AS"))
        .unwrap_or_else(|| panic!("no address-space problem in {:?}", status.problems));
    println!("problem: {}", problem.message);
    assert!(
        status.dispatch.as_ref().is_none_or(|d| !d.running),
        "no upload thread under the limit"
    );
    t.shutdown(Duration::from_secs(10));
    println!("{DONE}");
}
