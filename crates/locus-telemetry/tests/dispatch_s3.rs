//! The primary path end to end against a real S3 server (SeaweedFS with signature
//! checks): records reach the bucket under the key layout and decode back unchanged, a
//! previous session's tombstone is shipped after restart, a wrong secret fails without
//! disturbing the app, and the dispatcher works whether or not the app has a runtime.

use locus_telemetry::record::{Body, Level, Record};
use locus_telemetry::recorder::FieldValue;
use locus_telemetry::sink::s3::{
    decode_batch, parse_key, Destination, DiagnosticsStore, S3Options,
};
use locus_telemetry::{Settings, Telemetry};
use locus_testkit::seaweed::{run_async, SeaweedS3};
use std::path::Path;
use std::process::{Command, Stdio};
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

/// Every object in the bucket, decoded, with its key.
fn bucket_records(s3: &SeaweedS3, bucket: &str) -> Vec<(String, Vec<Record>)> {
    let opts = S3Options::default().or_vars(|k| s3.var(k));
    let dest = Destination::parse(&format!("s3://{bucket}")).unwrap();
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
        .args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
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
    assert_eq!(d.attempts, 2, "one attempt and one retry");
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
