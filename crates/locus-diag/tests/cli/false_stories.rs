//! False stories the CLI told (issue 18): a demo whose uploads never ran reporting
//! "0 uploads ok … breaker closed" and `status` saying "none has run yet"; a flag with
//! an invalid value running the demo with telemetry off. Faults come from
//! `strace --inject` on the real binary.

use std::path::Path;
use std::process::{Command, Output, Stdio};

fn diag() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_locus-diag"));
    c.env("RUST_BACKTRACE", "0").stdin(Stdio::null());
    c
}

/// `locus-diag` under `strace` with `args` (the injection).
fn diag_under_strace(args: &[&str]) -> Command {
    let mut c = Command::new("strace");
    c.args(["-qq", "-f", "-o", "/dev/null"])
        .args(args)
        .arg(env!("CARGO_BIN_EXE_locus-diag"))
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null());
    c
}

fn run(c: &mut Command) -> (String, Output) {
    let out = c.output().unwrap_or_else(|e| {
        panic!("cannot run ({e}); strace comes from Debian: apt-get install strace")
    });
    (String::from_utf8_lossy(&out.stdout).into_owned(), out)
}

fn status(dir: &Path) -> String {
    let (text, out) = run(diag().args(["status", "--data-dir"]).arg(dir));
    assert!(out.status.success(), "{text}");
    text
}

#[test]
fn a_demo_whose_upload_runtime_cannot_be_built_says_uploads_are_not_running() {
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("demo");
    let (text, out) = run(diag_under_strace(&[
        "-e",
        "trace=epoll_create1,epoll_create",
        "-e",
        "inject=epoll_create1,epoll_create:error=EMFILE",
    ])
    .args(["demo", "--seconds", "0", "--data-dir"])
    .arg(&dir));
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("not running: cannot build the upload runtime"),
        "{text}"
    );
    assert!(!text.contains("uploads ok"), "no upload figures: {text}");
    let s = status(&dir);
    assert!(
        s.contains("not running in the last session: cannot build the upload runtime"),
        "{s}"
    );
    assert!(!s.contains("none has run yet"), "{s}");
}

#[test]
fn a_demo_on_an_unusable_data_dir_says_why_not_first_start_nor_by_choice() {
    let base = tempfile::tempdir().unwrap();
    let file = base.path().join("a-file");
    std::fs::write(&file, b"not a directory").unwrap();
    let (text, out) = run(diag()
        .args(["demo", "--seconds", "0", "--no-upload", "--data-dir"])
        .arg(&file));
    assert!(out.status.success(), "{text}");
    assert!(!text.contains("first start"), "{text}");
    assert!(!text.contains("by choice"), "{text}");
    assert!(
        text.contains("previous session:  unknown (not read: cannot create data dir"),
        "{text}"
    );
    assert!(
        text.contains("flight recorder:   in memory because"),
        "{text}"
    );
}

#[test]
fn a_demo_refuses_an_invalid_device_id_instead_of_running_with_telemetry_off() {
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("demo");
    let (text, out) = run(diag()
        .args([
            "demo",
            "--seconds",
            "0",
            "--device-id",
            "dev.1",
            "--data-dir",
        ])
        .arg(&dir));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "a usage error: {text}{err}");
    assert!(
        err.contains("--device-id") && err.contains("[A-Za-z0-9_-]"),
        "the error names the flag and the rule: {err}"
    );
    assert!(!dir.exists(), "nothing ran: {text}");
    let (_, out) = run(diag()
        .args(["demo", "--seconds", "0", "--app-version", "", "--data-dir"])
        .arg(&dir));
    assert_eq!(out.status.code(), Some(2));
}
