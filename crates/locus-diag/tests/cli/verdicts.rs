//! One verdict for a session, whoever gives it: `locus-diag status` (text and JSON) must
//! say what the library's start and the Debug screen say. A demo whose worker panicked
//! and that then exited cleanly crashed; `status` once called it "exited cleanly".

use std::path::Path;
use std::process::{Command, Stdio};

fn diag(args: &[&str], dir: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_locus-diag"))
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .output()
        .expect("locus-diag runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{args:?}: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[test]
fn status_calls_a_session_that_crashed_then_exited_crashed_as_the_library_does() {
    let dir = tempfile::tempdir().unwrap();
    let demo = diag(
        &["demo", "--seconds", "0.2", "--crash", "--no-upload"],
        dir.path(),
    );
    assert!(demo.contains("panicked once"), "{demo}");
    let marker = locus_telemetry::inspect::DataDir::new(dir.path())
        .session_marker()
        .unwrap()
        .unwrap();
    assert!(marker.clean_exit && marker.crashes == 1, "{marker:?}");

    let text = diag(&["status"], dir.path());
    let session = text
        .lines()
        .find(|l| l.starts_with("last session:"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(session.contains("crashed"), "{session}");
    assert!(!session.contains("exited cleanly"), "{session}");

    let json: serde_json::Value =
        serde_json::from_str(&diag(&["status", "--json"], dir.path())).unwrap();
    assert_eq!(json["session_outcome"], "crashed", "{json}");

    // The library's own verdict at the next start agrees.
    let t = locus_telemetry::Telemetry::start(locus_telemetry::Settings {
        data_dir: dir.path().into(),
        enable_s3_diagnostics: false,
        ..Default::default()
    });
    assert_eq!(
        t.previous_session().outcome,
        locus_telemetry::SessionOutcome::Crashed
    );
    t.shutdown(std::time::Duration::from_millis(500));
}

#[test]
fn status_says_unknown_with_the_reason_for_a_marker_it_cannot_read() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("session.json")).unwrap();
    let text = diag(&["status"], dir.path());
    assert!(
        text.contains("last session:     unknown (") && text.contains("session.json"),
        "{text}"
    );
}
