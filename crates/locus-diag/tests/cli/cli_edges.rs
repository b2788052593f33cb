//! The CLI's own edges (issue 10), each run against the real binary: `ls` on a missing
//! directory, `cat` on links, FIFOs, directories and a gzip bomb (peak RSS measured with
//! `wait4`), a garbage session marker, out-of-range `demo` flags, doubled error texts,
//! and `status` / `buffer` on a hostile ring path or hostile state files.
//!
//! A child that does not finish within [`HANG`] is killed and the test fails: that is
//! a hang detector, not a timing assertion (the children finish in seconds).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use locus_telemetry::record::{Body, MetricKind, MetricSample, Record};
use std::ffi::CString;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Longer than any of these commands takes on a loaded machine; only a hang gets here.
const HANG: Duration = Duration::from_secs(120);
/// Output kept per stream (the rest is counted, not stored).
const KEEP_OUTPUT: usize = 1 << 20;

fn diag() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_locus-diag"));
    c.env("RUST_BACKTRACE", "0");
    c
}

/// How a child ended.
#[derive(Debug)]
struct Run {
    /// Exit code; `None` if a signal ended it.
    code: Option<i32>,
    stdout: String,
    stdout_bytes: usize,
    stderr: String,
    /// Peak resident set size, from the kernel's accounting of the reaped child.
    max_rss_kib: u64,
}

/// Runs `cmd` to its end (killing it and failing after [`HANG`]), with its peak RSS.
#[expect(
    clippy::zombie_processes,
    reason = "the child is reaped with wait4 (for its rusage), not Child::wait"
)]
fn run(mut cmd: Command) -> Run {
    let what = format!("{cmd:?}");
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("locus-diag starts");
    let pid = libc::pid_t::try_from(child.id()).expect("pid fits");
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut kept = Vec::new();
            let mut total = 0usize;
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match r.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        total += n;
                        let room = KEEP_OUTPUT.saturating_sub(kept.len());
                        kept.extend_from_slice(&buf[..n.min(room)]);
                    }
                }
            }
            (String::from_utf8_lossy(&kept).into_owned(), total)
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("stdout piped")));
    let err = drain(Box::new(child.stderr.take().expect("stderr piped")));
    let start = Instant::now();
    // The child's own peak RSS: VmHWM of its memory map, which `exec` starts afresh.
    // (`ru_maxrss` from wait4 also counts the test process's image at the fork before
    // the exec, so with the whole suite loaded in this process it measured the suite.)
    let mut peak_kib = 0u64;
    let (status, _usage) = loop {
        if let Some(hwm) = vm_hwm_kib(pid) {
            peak_kib = peak_kib.max(hwm);
        }
        let mut status = 0;
        // SAFETY: rusage is plain old data; all-zero is a valid value.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: pid is our own unreaped child; the pointers are to live locals.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if r == pid {
            break (status, usage);
        }
        assert_eq!(r, 0, "wait4: {}", std::io::Error::last_os_error());
        if start.elapsed() > HANG {
            // Not reaped yet, so the pid is still this child's.
            let _ = child.kill();
            let mut st = 0;
            // SAFETY: as above.
            unsafe { libc::waitpid(pid, &mut st, 0) };
            panic!("{what} hung: still running after {HANG:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let (stdout, stdout_bytes) = out.join().expect("stdout reader");
    let (stderr, _) = err.join().expect("stderr reader");
    Run {
        code: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
        stdout,
        stdout_bytes,
        stderr,
        max_rss_kib: peak_kib,
    }
}

/// `VmHWM` of a running process, in KiB (`None` once it has exited).
fn vm_hwm_kib(pid: libc::pid_t) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn cstr(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).expect("no NUL in temp paths")
}

fn mkfifo(p: &Path) {
    // SAFETY: a valid C string.
    let rc = unsafe { libc::mkfifo(cstr(p).as_ptr(), 0o600) };
    assert_eq!(
        rc,
        0,
        "mkfifo {}: {}",
        p.display(),
        std::io::Error::last_os_error()
    );
}

fn record(seq: u64) -> Record {
    Record::new(
        seq,
        1_790_000_000_000_000_000,
        Body::Metric(MetricSample {
            name: "battery_pct".into(),
            metric: MetricKind::Gauge,
            value: 80.0,
        }),
    )
}

/// One gzip member holding `bytes`.
fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).expect("gzip into a Vec");
    gz.finish().expect("gzip into a Vec")
}

/// A file destination with one diagnostics folder; returns (root, folder).
fn bucket(dir: &Path) -> (PathBuf, PathBuf) {
    let root = dir.join("bucket");
    let day = root.join("diagnostics/2026/11/27");
    std::fs::create_dir_all(&day).expect("bucket folders");
    (root, day)
}

fn url(p: &Path) -> String {
    format!("file://{}", p.display())
}

#[test]
fn ls_on_a_missing_directory_fails_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-bucket");
    let r = run({
        let mut c = diag();
        c.args(["ls", &url(&missing)]);
        c
    });
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(
        r.stderr.contains("no such directory") && r.stderr.contains("no-such-bucket"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.is_empty(), "{}", r.stdout);

    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let r = run({
        let mut c = diag();
        c.args(["ls", &url(&file)]);
        c
    });
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.stderr.contains("not a directory"), "{}", r.stderr);

    // An existing, empty bucket is not an error: nothing uploaded yet.
    let (root, _) = bucket(dir.path());
    let r = run({
        let mut c = diag();
        c.args(["ls", &url(&root)]);
        c
    });
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(r.stderr.contains("0 files"), "{}", r.stderr);
}

#[test]
fn cat_reads_regular_files_only_and_never_through_a_link() {
    let dir = tempfile::tempdir().unwrap();
    let (root, day) = bucket(dir.path());
    let real = day.join("dev_20261127T100000.000Z.log.gz");
    std::fs::write(
        &real,
        gzip(format!("{}\n", record(7).to_json_line()).as_bytes()),
    )
    .unwrap();
    let cat = |p: &Path| {
        let mut c = diag();
        c.args(["cat", "--json", &url(p)]);
        run(c)
    };
    let ok = cat(&real);
    assert_eq!(ok.code, Some(0), "{ok:?}");
    assert_eq!(ok.stdout, format!("{}\n", record(7).to_json_line()));

    // A link to that very file, in the same folder.
    let link = day.join("dev_20261127T110000.000Z.log.gz");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let r = cat(&link);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.stderr.contains("symbolic link: refused"), "{}", r.stderr);
    assert!(
        r.stdout.is_empty(),
        "nothing printed through a link: {}",
        r.stdout
    );

    // A linked folder on the way.
    let linked_day = root.join("diagnostics/2026/11/28");
    std::os::unix::fs::symlink(&day, &linked_day).unwrap();
    let r = cat(&linked_day.join("dev_20261127T100000.000Z.log.gz"));
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.stderr.contains("symbolic link: refused"), "{}", r.stderr);

    // A FIFO: refused at once (a blocking open would wait for a writer forever).
    let fifo = day.join("dev_20261127T120000.000Z.log.gz");
    mkfifo(&fifo);
    let r = cat(&fifo);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(
        r.stderr.contains("is a FIFO, not a regular file"),
        "{}",
        r.stderr
    );

    // A directory: said once, plainly.
    let sub = day.join("dev_20261127T130000.000Z.log.gz");
    std::fs::create_dir(&sub).unwrap();
    let r = cat(&sub);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(
        r.stderr.contains("is a directory, not a regular file"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
}

/// 200 MiB of decoded data in under 1 MiB of gzip: a record, a 150 MiB line of `a`, 50 MiB
/// of empty lines, a record. Built from repeated 1 MiB gzip members (a multi-member
/// file, as `zcat` reads it), so the test does not spend its time compressing.
#[test]
fn cat_streams_a_gzip_bomb_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let (_, day) = bucket(dir.path());
    let mib = 1 << 20;
    let a = gzip(&vec![b'a'; mib]);
    let newlines = gzip(&vec![b'\n'; mib]);
    let mut body = gzip(format!("{}\n", record(1).to_json_line()).as_bytes());
    for _ in 0..150 {
        body.extend_from_slice(&a);
    }
    for _ in 0..50 {
        body.extend_from_slice(&newlines);
    }
    body.extend(gzip(format!("{}\n", record(2).to_json_line()).as_bytes()));
    assert!(body.len() < 1024 * 1024, "compressed: {} bytes", body.len());
    let bomb = day.join("dev_20261127T100000.000Z.log.gz");
    std::fs::write(&bomb, &body).unwrap();

    let r = run({
        let mut c = diag();
        c.args(["cat", "--json", &url(&bomb)]);
        c
    });
    eprintln!(
        "gzip bomb: {} bytes compressed, 200 MiB decoded: peak RSS {:.1} MiB",
        body.len(),
        r.max_rss_kib as f64 / 1024.0
    );
    // The file has a line that is not a record, so it is reported damaged (exit 1)...
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(
        r.stderr
            .contains("line 2 is not a record: longer than 1048576 bytes"),
        "{}",
        r.stderr
    );
    // ...but every record around it is printed...
    assert_eq!(
        r.stdout,
        format!(
            "{}\n{}\n",
            record(1).to_json_line(),
            record(2).to_json_line()
        )
    );
    // ...in bounded memory (the whole object decoded at once took 535 MB).
    assert!(r.max_rss_kib > 0, "no VmHWM sampled while the child ran");
    assert!(
        r.max_rss_kib < 64 * 1024,
        "peak RSS {} KiB: the decoder is not streaming",
        r.max_rss_kib
    );
}

#[test]
fn a_garbage_session_marker_reads_as_unknown_not_first_start() {
    let status = |dir: &Path, json: bool| {
        let mut c = diag();
        c.args(["status", "--data-dir"]).arg(dir);
        if json {
            c.arg("--json");
        }
        run(c)
    };
    let dir = tempfile::tempdir().unwrap();
    // No marker at all: nothing has started here.
    let r = status(dir.path(), false);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(
        r.stdout.contains("last session:     none (first start)"),
        "{}",
        r.stdout
    );

    for garbage in [&b"\x00\xffgarbage{"[..], b"{}", b"[1,2]", b""] {
        std::fs::write(dir.path().join("session.json"), garbage).unwrap();
        let r = status(dir.path(), false);
        assert_eq!(r.code, Some(0), "{r:?}");
        assert!(
            r.stdout.contains("last session:     unknown (session.json"),
            "{garbage:?}: {}",
            r.stdout
        );
        assert!(
            !r.stdout.contains("first start"),
            "{garbage:?}: {}",
            r.stdout
        );
        let r = status(dir.path(), true);
        assert_eq!(r.code, Some(0), "{r:?}");
        let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("status --json");
        assert_eq!(v["session_state"], "unknown", "{garbage:?}: {v}");
        assert!(v["session_error"].is_string(), "{v}");
    }
}

#[test]
fn demo_refuses_out_of_range_seconds_and_hz_with_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("never-created");
    let cases: &[(&str, &str, &str)] = &[
        ("--seconds", "inf", "from 0 to 86400"),
        ("--seconds", "1e12", "from 0 to 86400"),
        ("--seconds", "-1", "from 0 to 86400"),
        ("--seconds", "nan", "from 0 to 86400"),
        ("--seconds", "five", "from 0 to 86400"),
        ("--hz", "4294967295", "1..=100000"),
        ("--hz", "0", "1..=100000"),
        ("--hz", "-5", "1..=100000"),
        ("--upload-interval", "0", "1..=86400"),
        ("--upload-interval", "99999999999", "1..=86400"),
    ];
    for (flag, value, range) in cases {
        let r = run({
            let mut c = diag();
            c.args(["demo", "--data-dir"])
                .arg(&data)
                .args([flag, value]);
            c
        });
        assert_eq!(r.code, Some(2), "{flag} {value}: {r:?}");
        assert!(
            r.stderr
                .contains(&format!("invalid value '{value}' for '{flag}"))
                && r.stderr.contains(range),
            "{flag} {value}: {}",
            r.stderr
        );
        assert!(!data.exists(), "{flag} {value}: the demo must not have run");
    }
}

#[test]
fn an_error_and_its_cause_are_printed_once() {
    let dir = tempfile::tempdir().unwrap();
    let (root, _) = bucket(dir.path());
    // The lifecycle file is a directory: reading it fails with EISDIR, wrapped in an
    // error whose message already carries it.
    std::fs::create_dir(root.join(".locus-lifecycle.json")).unwrap();
    let r = run({
        let mut c = diag();
        c.args(["lifecycle", "show", &url(&root)]);
        c
    });
    assert_eq!(r.code, Some(1), "{r:?}");
    // The file door says what stands there (a directory), once.
    assert_eq!(r.stderr.matches("a directory").count(), 1, "{}", r.stderr);
    assert!(r.stderr.contains(".locus-lifecycle.json"), "{}", r.stderr);
}

/// What `status` and `buffer` did with one hostile ring.
fn read_hostile_ring(data: &Path, case: &str) {
    let status = run({
        let mut c = diag();
        c.args(["status", "--data-dir"]).arg(data);
        c
    });
    let buffer = run({
        let mut c = diag();
        c.args(["buffer", "--data-dir"]).arg(data);
        c
    });
    eprintln!(
        "ring {case}: status exit {:?}, peak RSS {:.1} MiB; buffer exit {:?}, peak RSS {:.1} MiB, {} bytes out",
        status.code,
        status.max_rss_kib as f64 / 1024.0,
        buffer.code,
        buffer.max_rss_kib as f64 / 1024.0,
        buffer.stdout_bytes,
    );
    assert_eq!(status.code, Some(0), "{case}: {status:?}");
    assert!(
        status.stdout.contains("flight recorder:"),
        "{case}: {}",
        status.stdout
    );
    assert!(
        buffer.code.is_some(),
        "{case}: buffer was killed by a signal: {buffer:?}"
    );
    for (name, r) in [("status", &status), ("buffer", &buffer)] {
        assert!(
            r.max_rss_kib < 256 * 1024,
            "{case}: {name} peak RSS {} KiB",
            r.max_rss_kib
        );
    }
    // Nothing is a ring here: buffer shows no records.
    assert!(buffer.stdout_bytes < 4096, "{case}: {}", buffer.stdout);
}

#[test]
fn status_and_buffer_never_hang_or_balloon_on_a_hostile_ring() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let ring = data.join("recorder.ring");
    let reset = || {
        let _ = std::fs::remove_file(&ring);
    };

    mkfifo(&ring);
    read_hostile_ring(&data, "FIFO");

    reset();
    std::os::unix::fs::symlink("/dev/zero", &ring).unwrap();
    read_hostile_ring(&data, "link to /dev/zero");

    reset();
    let target = dir.path().join("precious.txt");
    std::fs::write(&target, b"the user's own file\n").unwrap();
    std::os::unix::fs::symlink(&target, &ring).unwrap();
    read_hostile_ring(&data, "link to a regular file");
    assert_eq!(std::fs::read(&target).unwrap(), b"the user's own file\n");
    assert!(ring.is_symlink(), "the link itself is left alone");

    reset();
    let dangling = dir.path().join("nothing-here");
    std::os::unix::fs::symlink(&dangling, &ring).unwrap();
    read_hostile_ring(&data, "dangling link");
    assert!(!dangling.exists(), "reading never creates a link's target");

    reset();
    // A character device (1:5 is /dev/zero). Needs CAP_MKNOD, which CI (root) has.
    // SAFETY: a valid C string.
    let rc = unsafe {
        libc::mknod(
            cstr(&ring).as_ptr(),
            libc::S_IFCHR | 0o600,
            libc::makedev(1, 5),
        )
    };
    assert_eq!(
        rc,
        0,
        "mknod needs CAP_MKNOD (run as root): {}",
        std::io::Error::last_os_error()
    );
    read_hostile_ring(&data, "character device");

    reset();
    // A 3 GB sparse file.
    let f = std::fs::File::create(&ring).unwrap();
    f.set_len(3_000_000_000).unwrap();
    drop(f);
    read_hostile_ring(&data, "3 GB sparse file");
}

#[test]
fn status_never_hangs_on_state_files_that_are_fifos() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "device_id",
        "session.json",
        "breaker-s3.json",
        "cursor-s3.json",
        "cursor-community.json",
    ] {
        mkfifo(&dir.path().join(name));
    }
    let r = run({
        let mut c = diag();
        c.args(["status", "--data-dir"]).arg(dir.path());
        c
    });
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(
        r.stdout
            .contains("last session:     unknown (session.json: a FIFO, not a regular file)"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("device id:        unreadable: device_id: a FIFO"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("breaker-s3.json: a FIFO, not a regular file: not read"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("cursor-community.json: a FIFO, not a regular file: not read"),
        "{}",
        r.stdout
    );
}

#[test]
fn status_lists_salvaged_rings_under_the_recorder() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("recorder.ring.damaged-1790000000"),
        vec![0u8; 4096],
    )
    .unwrap();
    std::fs::write(
        dir.path().join("recorder.ring.damaged-1790000100"),
        b"0123456789",
    )
    .unwrap();
    std::fs::write(dir.path().join("recorder.ring.other"), b"not salvage").unwrap();
    let r = run({
        let mut c = diag();
        c.args(["status", "--data-dir"]).arg(dir.path());
        c
    });
    assert_eq!(r.code, Some(0), "{r:?}");
    let lines: Vec<&str> = r.stdout.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("flight recorder:"))
        .unwrap_or_else(|| panic!("no recorder line: {}", r.stdout));
    assert_eq!(
        lines.get(at + 1..at + 3),
        Some(
            &[
                "  salvaged:       recorder.ring.damaged-1790000000 (4096 bytes)",
                "  salvaged:       recorder.ring.damaged-1790000100 (10 bytes)",
            ][..]
        ),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("recorder.ring.other"), "{}", r.stdout);

    let r = run({
        let mut c = diag();
        c.args(["status", "--json", "--data-dir"]).arg(dir.path());
        c
    });
    assert_eq!(r.code, Some(0), "{r:?}");
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("status --json");
    let salvaged = &v["recorder"]["salvaged"];
    assert_eq!(
        salvaged[0]["name"], "recorder.ring.damaged-1790000000",
        "{v}"
    );
    assert_eq!(salvaged[0]["size"], 4096, "{v}");
    assert_eq!(
        salvaged[1]["name"], "recorder.ring.damaged-1790000100",
        "{v}"
    );
    assert_eq!(salvaged[1]["size"], 10, "{v}");
    assert_eq!(salvaged.as_array().map(Vec::len), Some(2), "{v}");
}
