//! Issue 14, items 2 and 3 through the app's API: the share bundle
//! (`Telemetry::export`, `inspect::export_bundle`) and the verbosity switch
//! (`Telemetry::set_verbosity`, the data dir's `verbosity.json`, the `tracing` layer).

use locus_telemetry::inspect::{export_bundle, DataDir};
use locus_telemetry::record::{Body, Record};
use locus_telemetry::sink::s3::decode_batch;
use locus_telemetry::{
    ExportError, ExportOptions, FieldValue, Level, Settings, Telemetry, Verbosity, VerbosityError,
    DEFAULT_VERBOSITY_RAISE,
};
use std::time::{Duration, Instant};
use tracing_subscriber::layer::SubscriberExt;

fn start(dir: &std::path::Path) -> Telemetry {
    Telemetry::start(Settings {
        data_dir: dir.to_path_buf(),
        enable_s3_diagnostics: false,
        app_version: "3.1.4".into(),
        ..Settings::default()
    })
}

fn logs_at(t: &Telemetry, level: Level, text: &str) -> usize {
    t.recent(10_000)
        .iter()
        .filter(|r| matches!(&r.body, Body::Log(l) if l.level == level && l.message.contains(text)))
        .count()
}

#[test]
fn debug_is_dropped_by_default_and_recorded_while_raised_through_both_paths() {
    let dir = tempfile::tempdir().unwrap();
    let t = start(dir.path());
    assert_eq!(t.verbosity(), Verbosity::DEFAULT);
    assert_eq!(t.status().verbosity, Verbosity::DEFAULT);
    let subscriber = tracing_subscriber::registry().with(t.layer());
    tracing::subscriber::with_default(subscriber, || {
        assert_eq!(t.log(Level::Debug, "app", "quiet direct", &[]), 0);
        assert_eq!(t.log(Level::Trace, "app", "quiet direct", &[]), 0);
        tracing::debug!(n = 1, "quiet layer");
        assert!(t.log(Level::Info, "app", "loud direct", &[]) > 0);

        let v = t
            .set_verbosity(Level::Debug, DEFAULT_VERBOSITY_RAISE)
            .unwrap();
        assert_eq!(v.level, Level::Debug);
        assert!(v.until.is_some());
        assert_eq!(t.status().verbosity, v);
        assert!(t.log(Level::Debug, "app", "raised direct", &[]) > 0);
        assert_eq!(t.log(Level::Trace, "app", "raised direct", &[]), 0);
        tracing::debug!(n = 2, "raised layer");
        tracing::trace!(n = 3, "raised layer");
    });
    assert_eq!(logs_at(&t, Level::Debug, "quiet"), 0);
    assert_eq!(logs_at(&t, Level::Trace, "quiet"), 0);
    assert_eq!(logs_at(&t, Level::Info, "loud direct"), 1);
    assert_eq!(logs_at(&t, Level::Debug, "raised direct"), 1);
    assert_eq!(logs_at(&t, Level::Debug, "raised layer"), 1);
    assert_eq!(logs_at(&t, Level::Trace, "raised"), 0);
    // The app's choice is in the data dir for the user's tools.
    let request = DataDir::new(dir.path())
        .verbosity_request()
        .unwrap()
        .unwrap();
    assert_eq!(
        (request.level, request.until),
        (v_level(&t), t.verbosity().until)
    );
    // Bounded and checked.
    assert!(matches!(
        t.set_verbosity(Level::Trace, Duration::from_secs(24 * 3600 + 1)),
        Err(VerbosityError::Duration(_))
    ));
    assert!(matches!(
        t.set_verbosity(Level::Trace, Duration::ZERO),
        Err(VerbosityError::Duration(_))
    ));
    assert!(matches!(
        t.set_verbosity(Level::Warn, Duration::from_secs(60)),
        Err(VerbosityError::Level(Level::Warn))
    ));
    assert_eq!(
        t.verbosity().level,
        Level::Debug,
        "a refused change changes nothing"
    );
    assert_eq!(
        t.set_verbosity(Level::Info, Duration::ZERO).unwrap(),
        Verbosity::DEFAULT
    );
    assert_eq!(t.log(Level::Debug, "app", "quiet again", &[]), 0);
    t.shutdown(Duration::from_millis(500));
}

fn v_level(t: &Telemetry) -> Level {
    t.verbosity().level
}

/// Polls `f` for up to 10 s (the keeper looks once a second).
fn eventually(what: &str, f: impl Fn() -> bool) {
    let until = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < until, "{what}: not within 10 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_request_in_the_data_dir_reaches_the_running_app_and_ends_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let t = start(dir.path());
    let data = DataDir::new(dir.path());
    data.request_verbosity(Level::Trace, Duration::from_secs(600), "test")
        .unwrap();
    eventually("trace applied", || t.verbosity().level == Level::Trace);
    assert!(t.log(Level::Trace, "app", "traced", &[("k", FieldValue::U64(1))]) > 0);
    data.request_verbosity(Level::Info, Duration::ZERO, "test")
        .unwrap();
    eventually("back to info", || t.verbosity() == Verbosity::DEFAULT);
    // A short raise ends by itself (the app enforces the end, not the tool).
    data.request_verbosity(Level::Debug, Duration::from_secs(4), "test")
        .unwrap();
    eventually("debug applied", || t.verbosity().level == Level::Debug);
    eventually("expired", || t.verbosity() == Verbosity::DEFAULT);
    // A file asking for a week is held to 24 hours from when it was written.
    let week = serde_json::json!({
        "level": "debug",
        "until": (chrono::Utc::now() + chrono::Duration::days(7)).to_rfc3339(),
        "set_by": "hand"
    });
    std::fs::write(
        dir.path().join("verbosity.json"),
        serde_json::to_vec(&week).unwrap(),
    )
    .unwrap();
    eventually("week applied", || t.verbosity().level == Level::Debug);
    let until = t.status().verbosity.until.unwrap();
    assert!(
        until <= chrono::Utc::now() + chrono::Duration::hours(24),
        "{until}"
    );
    t.shutdown(Duration::from_millis(500));
}

#[test]
fn export_reads_back_and_the_redacted_bundle_passes_the_leak_check() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let t = start(&data);
    t.log(
        Level::Warn,
        "locus::sync",
        "account alice@example.org failed at geo:52.52,13.405",
        &[
            ("token", FieldValue::Str("Bearer abcdef0123456789abcdef")),
            ("home", FieldValue::Str("/home/alice/locus")),
        ],
    );
    for i in 0..50u64 {
        t.log(
            Level::Info,
            "locus::gps",
            "gps fix",
            &[("n", FieldValue::U64(i))],
        );
    }
    let plain_out = dir.path().join("plain.jsonl.gz");
    let plain = t.export(&plain_out, &ExportOptions::default()).unwrap();
    assert!(!plain.redacted);
    assert_eq!(plain.sessions.len(), 1);
    assert_eq!(plain.app_versions, ["3.1.4"]);
    let records: Vec<Record> = decode_batch(&std::fs::read(&plain_out).unwrap()).unwrap();
    assert_eq!(records.len(), plain.records);
    assert!(records
        .iter()
        .any(|r| r.to_json_line().contains("alice@example.org")));
    let text = std::fs::read_to_string(dir.path().join("plain.summary.txt")).unwrap();
    assert_eq!(text, plain.to_text());
    assert!(text.contains("app version:  3.1.4"), "{text}");
    assert!(text.contains("redaction:    off"), "{text}");
    // Never replaces a file.
    assert!(matches!(
        t.export(&plain_out, &ExportOptions::default()),
        Err(ExportError::Exists { .. })
    ));

    let red_out = dir.path().join("red.jsonl.gz");
    let options = ExportOptions {
        redact: true,
        since: Some(Duration::from_secs(3600)),
        ..ExportOptions::default()
    };
    let red = t.export(&red_out, &options).unwrap();
    assert!(red.redacted_values >= 4, "{}", red.to_text());
    assert!(red
        .to_text()
        .contains(&format!("{} values changed", red.redacted_values)));
    let records = decode_batch(&std::fs::read(&red_out).unwrap()).unwrap();
    let mut all = Vec::new();
    for r in &records {
        all.extend(locus_testkit::json_strings(
            &serde_json::from_str(&r.to_json_line()).unwrap(),
        ));
    }
    for s in &all {
        assert_eq!(locus_privacy::find_pii(s), None, "{s:?} leaks");
    }
    t.shutdown(Duration::from_millis(500));

    // The same from the data dir, read-only, after the app is gone.
    let b = export_bundle(&data, &options).unwrap();
    assert_eq!(b.summary().sessions.len(), 1);
    assert_eq!(
        b.summary().sessions[0].end,
        locus_telemetry::SessionEnd::CleanExit
    );
    assert!(b.preview_lines(3).len() == 3);
}
