//! The primary path end to end against a real S3 server (SeaweedFS with signature
//! checks): records reach the bucket under the key layout and decode back unchanged, a
//! previous session's tombstone is shipped after restart, a wrong secret fails without
//! disturbing the app, the dispatcher works whether or not the app has a runtime, and
//! the bucket's retention rule is checked once a day, not on every start.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use locus_telemetry::breaker::{Clock, ManualClock};
use locus_telemetry::record::{Body, Level, Record};
use locus_telemetry::recorder::FieldValue;
use locus_telemetry::sink::s3::{
    decode_batch, parse_key, Destination, DiagnosticsStore, S3Options,
};
use locus_telemetry::worker::retention::RetentionCheck;
use locus_telemetry::worker::DestinationStatus;
use locus_telemetry::{Settings, Telemetry};
use locus_testkit::seaweed::{run_async, SeaweedS3};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

const MODE: &str = "LOCUS_DISPATCH_CHILD";

fn settings(s3: &SeaweedS3, bucket: &str, dir: &Path) -> Settings {
    Settings {
        data_dir: dir.to_path_buf(),
        device_id: Some("test-device".into()),
        app_version: "1.2.0".into(),
        destination: Some(format!("s3://{bucket}")),
        s3_endpoint: Some(s3.endpoint().to_owned()),
        s3_region: Some(s3.region().to_owned()),
        s3_access_key_id: Some(s3.access_key().to_owned()),
        s3_secret_access_key: Some(s3.secret_key().to_owned()),
        s3_path_style: true,
        attempt_timeout_secs: 5,
        ring_bytes: 256 * 1024,
        ..Settings::default()
    }
}

/// Where the test's own client of `bucket` goes, and how.
fn store_of(s3: &SeaweedS3, bucket: &str) -> (Destination, S3Options) {
    let opts = S3Options::default().or_vars(|k| s3.var(k));
    (Destination::parse(&format!("s3://{bucket}")).unwrap(), opts)
}

/// Every object in the bucket, decoded, with its key.
fn bucket_records(s3: &SeaweedS3, bucket: &str) -> Vec<(String, Vec<Record>)> {
    let (dest, opts) = store_of(s3, bucket);
    run_async(move || async move {
        let store = DiagnosticsStore::open(&dest, &opts).await.unwrap();
        let mut out = Vec::new();
        for obj in store.list(None).await.unwrap() {
            let body = store.get(&obj.key).await.unwrap();
            out.push((obj.key.clone(), decode_batch(&body).unwrap()));
        }
        out
    })
}

#[test]
fn child_entry() {
    let Ok(mode) = std::env::var(MODE) else {
        return;
    };
    let dir = std::env::var("LOCUS_DISPATCH_DIR").unwrap();
    let t = Telemetry::start(Settings {
        data_dir: dir.into(),
        enable_s3_diagnostics: false,
        device_id: Some("test-device".into()),
        ..Settings::default()
    });
    t.log(Level::Info, "child", "before the crash", &[]);
    match mode.as_str() {
        "panic" => panic!("tracking loop invariant broken"),
        _ => loop {
            std::thread::sleep(Duration::from_millis(5));
        },
    }
}

#[test]
fn records_arrive_under_the_key_layout_and_decode_back_unchanged() {
    let s3 = SeaweedS3::shared();
    let bucket = s3.unique_bucket("arrive");
    let dir = tempfile::tempdir().unwrap();
    let t = Telemetry::start(settings(s3, &bucket, dir.path()));
    for i in 0..500u64 {
        t.log(
            Level::Info,
            "locus::gps",
            "gps fix",
            &[("i", FieldValue::U64(i)), ("lat", FieldValue::F64(52.52))],
        );
    }
    t.gauge("battery_pct", 81.5);
    assert!(
        t.flush(Duration::from_secs(20)),
        "flush finished: {:?}",
        t.status().dispatch
    );
    let report = t.shutdown(Duration::from_secs(5));
    assert!(report.dispatcher_finished);

    let objects = bucket_records(s3, &bucket);
    assert!(!objects.is_empty());
    let today = chrono::Utc::now().format("%Y/%m/%d").to_string();
    let mut shipped: Vec<Record> = Vec::new();
    for (key, records) in &objects {
        let parts =
            parse_key(key).unwrap_or_else(|| panic!("key {key} does not follow the layout"));
        assert_eq!(parts.device_id, "test-device");
        assert!(
            key.starts_with(&format!("diagnostics/{today}/test-device_")),
            "{key}"
        );
        assert!(key.ends_with(".log.gz"));
        shipped.extend(records.iter().cloned());
    }
    shipped.sort_by_key(|r| r.seq);
    let in_ring = t.recorder().snapshot().records;
    assert_eq!(
        shipped, in_ring,
        "the bucket holds exactly what the recorder holds"
    );
    let upload_status = t.status().dispatch.unwrap();
    assert_eq!(upload_status.destinations[0].uploads_failed, 0);
}

#[test]
fn a_previous_sessions_tombstone_is_shipped_after_restart() {
    let s3 = SeaweedS3::shared();
    let bucket = s3.unique_bucket("tombstone");
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "dispatch_s3::child_entry",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(MODE, "panic")
        .env("LOCUS_DISPATCH_DIR", dir.path())
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success(), "the child panicked");

    let t = Telemetry::start(settings(s3, &bucket, dir.path()));
    assert_eq!(
        t.previous_session().outcome,
        locus_telemetry::crash::session::Outcome::Crashed
    );
    t.shutdown(Duration::from_secs(5));
    let crashes: Vec<Record> = bucket_records(s3, &bucket)
        .into_iter()
        .flat_map(|(_, r)| r)
        .filter(|r| matches!(r.body, Body::Crash(_)))
        .collect();
    assert_eq!(crashes.len(), 1, "the tombstone arrived once");
    let Body::Crash(c) = &crashes[0].body else {
        unreachable!()
    };
    assert_eq!(c.message, "tracking loop invariant broken");
}

#[test]
fn a_wrong_secret_fails_the_upload_and_the_app_carries_on() {
    let s3 = SeaweedS3::shared();
    let bucket = s3.unique_bucket("wrongkey");
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(s3, &bucket, dir.path());
    s.s3_secret_access_key = Some("definitely-not-the-secret".into());
    let t = Telemetry::start(s);
    let seq = t.log(Level::Info, "app", "still tracking", &[]);
    t.flush(Duration::from_secs(20));
    let status = t.status().dispatch.unwrap();
    let d = &status.destinations[0];
    assert_eq!(d.uploads_failed, 1, "{d:?}");
    assert_eq!(
        d.attempts, 3,
        "the retention call, then one attempt and one retry: {d:?}"
    );
    let err = d.last_error.clone().unwrap();
    assert!(
        err.contains("403") || err.contains("Signature") || err.contains("Access"),
        "{err}"
    );
    assert!(
        !err.contains("definitely-not-the-secret"),
        "no secret in errors"
    );
    // The app keeps recording; the record and the failure are in the recorder.
    let after = t.log(Level::Info, "app", "and still tracking", &[]);
    let recent = t.recent(50);
    assert!(recent.iter().any(|r| r.seq == seq));
    let between: Vec<&Record> = recent
        .iter()
        .filter(|r| r.seq > seq && r.seq < after)
        .collect();
    assert!(
        between
            .iter()
            .all(|r| matches!(&r.body, Body::Log(l) if l.target == "locus_telemetry::s3")),
        "only telemetry's own failure notes were written in between: {between:?}"
    );
    let failures = between
        .iter()
        .filter(|r| matches!(&r.body, Body::Log(l) if l.message.contains("upload failed")))
        .count();
    assert_eq!(failures, 1, "the failed upload is recorded once");
    assert!(bucket_records(s3, &bucket).is_empty());
    t.shutdown(Duration::from_millis(500));
}

fn ship_one(s3: &SeaweedS3, bucket: &str, dir: &Path) -> usize {
    let t = Telemetry::start(settings(s3, bucket, dir));
    t.log(Level::Info, "app", "inside the app's runtime", &[]);
    assert!(t.flush(Duration::from_secs(20)));
    assert!(t.shutdown(Duration::from_secs(5)).dispatcher_finished);
    bucket_records(s3, bucket).len()
}

#[test]
fn works_when_the_app_runs_its_own_tokio_runtime() {
    let s3 = SeaweedS3::shared();
    let bucket = s3.unique_bucket("apprt");
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Start, flush and shut down from inside the app's runtime: telemetry never uses it
    // and never blocks it for longer than the flush the app asked for.
    let n = rt.block_on(async { ship_one(s3, &bucket, dir.path()) });
    assert!(n >= 1);
}

#[test]
fn works_when_the_app_has_no_runtime() {
    let s3 = SeaweedS3::shared();
    let bucket = s3.unique_bucket("nort");
    let dir = tempfile::tempdir().unwrap();
    assert!(ship_one(s3, &bucket, dir.path()) >= 1);
}

#[test]
fn disabled_s3_sends_nothing_and_keeps_recording() {
    let s3 = SeaweedS3::shared();
    let bucket = s3.unique_bucket("disabled");
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(s3, &bucket, dir.path());
    s.enable_s3_diagnostics = false;
    let t = Telemetry::start(s);
    t.log(Level::Info, "app", "recorded only", &[]);
    assert!(t.status().dispatch.is_none());
    t.shutdown(Duration::from_millis(500));
    assert!(bucket_records(s3, &bucket).is_empty());
    assert!(t
        .recent(5)
        .iter()
        .any(|r| matches!(&r.body, Body::Log(l) if l.message == "recorded only")));
}

/// Our retention rule's days in `bucket`, as the bucket holds it.
fn rule_days(s3: &SeaweedS3, bucket: &str) -> Option<u32> {
    let (dest, opts) = store_of(s3, bucket);
    run_async(move || async move {
        let store = DiagnosticsStore::open(&dest, &opts).await.unwrap();
        store.lifecycle_show().await.unwrap().map(|r| r.days)
    })
}

/// The retention rule is checked at most once a day (issue 10): the first start applies
/// it and keeps when (`retention-s3.json`); starts within 24 h make no lifecycle call —
/// seen at the bucket, where a rule changed behind the app's back stays changed, and in
/// the attempts (one per upload, none more) — and the first start after 24 h checks
/// and repairs it again.
#[test]
fn the_retention_rule_is_checked_once_a_day_not_on_every_start() {
    let s3 = SeaweedS3::shared();
    let bucket = s3.unique_bucket("onceaday");
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new());
    let session = |what: &str| -> DestinationStatus {
        let t = Telemetry::builder(settings(s3, &bucket, dir.path()))
            .clock(clock.clone())
            .start();
        t.log(Level::Info, "app", what, &[]);
        assert!(
            t.flush(Duration::from_secs(20)),
            "{what}: {:?}",
            t.status().dispatch
        );
        let d = t.status().dispatch.unwrap().destinations[0].clone();
        assert!(t.shutdown(Duration::from_secs(5)).dispatcher_finished);
        assert!(d.uploads_ok >= 1 && d.uploads_failed == 0, "{what}: {d:?}");
        d
    };
    let confirmed_at = || {
        RetentionCheck::read(dir.path(), "s3")
            .expect("retention-s3.json")
            .confirmed_at
    };

    let d = session("first start");
    assert_eq!(
        rule_days(s3, &bucket),
        Some(30),
        "applied at the first start"
    );
    assert_eq!(d.attempts, d.uploads_ok + 1, "one retention call: {d:?}");
    let first = confirmed_at();
    assert_eq!(first, clock.now());

    // The rule is changed behind the app's back: only a check would put it back.
    let (dest, opts) = store_of(s3, &bucket);
    run_async(move || async move {
        let store = DiagnosticsStore::open(&dest, &opts).await.unwrap();
        store.lifecycle_apply(7).await.unwrap();
    });
    let mut attempts = vec![d.attempts];
    for (hours, what) in [(1, "an hour later"), (22, "23 hours later")] {
        clock.advance(Duration::from_secs(hours * 3600));
        let d = session(what);
        assert_eq!(
            rule_days(s3, &bucket),
            Some(7),
            "{what}: no retention call within a day"
        );
        assert_eq!(d.attempts, d.uploads_ok, "{what}: uploads only: {d:?}");
        assert_eq!(confirmed_at(), first, "{what}");
        attempts.push(d.attempts);
    }

    clock.advance(Duration::from_secs(2 * 3600));
    let d = session("25 hours later");
    assert_eq!(
        rule_days(s3, &bucket),
        Some(30),
        "checked again after 24 h, and repaired"
    );
    assert_eq!(d.attempts, d.uploads_ok + 1, "one retention call: {d:?}");
    assert_eq!(confirmed_at(), clock.now());
    attempts.push(d.attempts);
    println!(
        "DRILL retention once a day: 4 starts at 0 h, 1 h, 23 h, 25 h; rule in the bucket 30 → (set to 7 by hand) 7 → 7 → 30; attempts per start (uploads + retention calls) {attempts:?}"
    );
}
