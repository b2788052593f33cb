//! The hang watchdog as a user meets it (issue 22, part 2): `locus-diag demo` watches its
//! tracking loop; `--stall-ms 1500` stalls it once and the flight recorder holds exactly
//! one hang of about that length (start and end records, `buffer --json`), the summary
//! `preview` and `status` count it; a normal demo records none. `--stall-ms` is validated.

use std::path::Path;
use std::process::{Command, Output, Stdio};

fn diag(args: &[&str], dir: &Path) -> (String, Output) {
    let out = Command::new(env!("CARGO_BIN_EXE_locus-diag"))
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .output()
        .expect("locus-diag runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (text, out)
}

/// The hang records in the data dir's ring, as JSON.
fn hangs(dir: &Path) -> Vec<serde_json::Value> {
    let (text, out) = diag(&["buffer", "--json"], dir);
    assert!(out.status.success());
    text.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["kind"] == "hang")
        .collect()
}

#[test]
fn a_stalled_tracking_loop_is_one_hang_of_about_the_stall() {
    let dir = tempfile::tempdir().unwrap();
    let (summary, out) = diag(
        &[
            "demo",
            "--seconds",
            "3",
            "--no-upload",
            "--stall-ms",
            "1500",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{summary}");
    let found = hangs(dir.path());
    let phase =
        |p: &str| -> Vec<&serde_json::Value> { found.iter().filter(|h| h["phase"] == p).collect() };
    let (starts, ends) = (phase("start"), phase("end"));
    assert_eq!((starts.len(), ends.len()), (1, 1), "{found:#?}");
    let (start, end) = (starts[0], ends[0]);
    assert_eq!(start["loop"], "tracking");
    assert_eq!(start["expected_gap_ms"], 500);
    assert_eq!(end["loop"], "tracking");
    assert_eq!(end["start_seq"], start["seq"]);
    assert_eq!(end["level"], "warn");
    let measured = end["measured_ms"].as_u64().unwrap();
    // Measured between the keeper's looks: within one look (250 ms) of the stall.
    assert!((1250..=5000).contains(&measured), "{end}");
    assert!(
        summary.contains(&format!(
            "hangs:             1 (tracking loop stalled {measured} ms)"
        )),
        "{summary}"
    );
    // The text form, and the community report that would be sent.
    let (text, _) = diag(&["buffer"], dir.path());
    assert!(
        text.contains(&format!("HANG end: loop 'tracking' stalled {measured} ms")),
        "{text}"
    );
    let (report, out) = diag(&["preview"], dir.path());
    assert!(out.status.success());
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["hangs"], 1, "{report}");
    let (status, _) = diag(&["status"], dir.path());
    assert!(
        status.contains(&format!(
            "hangs:            1 in the ring (latest: loop 'tracking' stalled {measured} ms)"
        )),
        "{status}"
    );
}

#[test]
fn a_normal_demo_records_no_hang() {
    let dir = tempfile::tempdir().unwrap();
    let (summary, out) = diag(&["demo", "--seconds", "2", "--no-upload"], dir.path());
    assert!(out.status.success(), "{summary}");
    assert!(hangs(dir.path()).is_empty(), "{:#?}", hangs(dir.path()));
    assert!(summary.contains("hangs:             none"), "{summary}");
    let (report, _) = diag(&["preview"], dir.path());
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["hangs"], 0, "{report}");
    let (status, _) = diag(&["status"], dir.path());
    assert!(
        status.contains("hangs:            none in the ring"),
        "{status}"
    );
}

#[test]
fn stall_ms_out_of_range_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["0", "60001", "-5", "lots"] {
        let (_, out) = diag(&["demo", "--stall-ms", bad], dir.path());
        assert!(!out.status.success(), "--stall-ms {bad} accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--stall-ms"), "{err}");
    }
    assert!(!dir.path().join("recorder.ring").exists(), "nothing ran");
}
