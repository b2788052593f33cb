//! `DiagnosticsStore` on a `file://` destination: the embedded default, with the bucket's
//! key layout under a local directory and the retention rule in a JSON file.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use chrono::{NaiveDate, TimeZone, Utc};
use locus_telemetry::record::{Body, Level, LogRecord, Record};
use locus_telemetry::sink::s3::*;
use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, SystemTime};

fn records(n: u64) -> Vec<Record> {
    (0..n)
        .map(|i| {
            Record::new(
                i,
                1_795_000_000_000_000_000 + i as i64,
                Body::Log(LogRecord {
                    level: Level::Warn,
                    target: "locus::sync".into(),
                    message: format!("upload slow #{i}"),
                    fields: vec![("ms".into(), (800 + i as i64).into())],
                }),
            )
        })
        .collect()
}

async fn open(dir: &Path) -> DiagnosticsStore {
    let dest = Destination::parse(&format!("file://{}", dir.display())).unwrap();
    DiagnosticsStore::open(&dest, &S3Options::default())
        .await
        .unwrap()
}

#[tokio::test]
async fn file_put_list_get_round_trip_with_the_bucket_layout() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("bucket"); // created on first put
    let store = open(&root).await;
    assert!(
        store.list(None).await.unwrap().is_empty(),
        "missing dir lists as empty"
    );

    let when = Utc.with_ymd_and_hms(2025, 3, 4, 23, 59, 59).unwrap();
    let key = store.key_for("dev-1", KeyClock::new().next_after(when));
    assert_eq!(
        key,
        "diagnostics/2025/03/04/dev-1_20250304T235959.000000000Z.log.gz"
    );
    let body = encode_batch(&records(50));
    store.put(&key, body.clone()).await.unwrap();

    let on_disk = root.join(&key);
    assert_eq!(
        std::fs::read(&on_disk).unwrap(),
        body,
        "same layout as the bucket"
    );
    let listed = store.list(None).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].key.as_str(), listed[0].size),
        (key.as_str(), body.len() as u64)
    );
    assert!((Utc::now() - listed[0].last_modified).num_seconds().abs() < 60);
    assert_eq!(
        store
            .list(Some(NaiveDate::from_ymd_opt(2025, 3, 4).unwrap()))
            .await
            .unwrap(),
        listed
    );
    assert!(store
        .list(Some(NaiveDate::from_ymd_opt(2025, 3, 5).unwrap()))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        decode_batch(&store.get(&key).await.unwrap()).unwrap(),
        records(50)
    );

    // Overwrite is atomic and leaves no temp file behind.
    store.put(&key, encode_batch(&records(2))).await.unwrap();
    let names: Vec<String> = std::fs::read_dir(on_disk.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(
        names,
        vec![on_disk.file_name().unwrap().to_str().unwrap().to_owned()]
    );

    let missing = store
        .get("diagnostics/2025/03/04/nope.log.gz")
        .await
        .unwrap_err();
    assert!(matches!(missing, SinkError::NotFound { .. }), "{missing}");
    for bad in ["../escape.log.gz", "/etc/passwd", "diagnostics/../../x"] {
        let e = store.put(bad, vec![1]).await.unwrap_err();
        assert!(matches!(e, SinkError::InvalidKey { .. }), "{bad}: {e}");
    }
    assert!(!tmp.path().join("escape.log.gz").exists());
}

#[tokio::test]
async fn file_two_hundred_puts_in_a_tight_loop_make_two_hundred_files() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path()).await;
    let body = encode_batch(&records(1));
    let mut keys = Vec::new();
    for _ in 0..200 {
        let key = store.key_for("dev-1", KeyClock::global().next());
        store.put(&key, body.clone()).await.unwrap();
        keys.push(key);
    }
    assert_eq!(keys.iter().collect::<HashSet<_>>().len(), 200);
    let listed: Vec<String> = store
        .list(None)
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert_eq!(listed, keys, "200 files, sorted in creation order");
}

#[tokio::test]
async fn file_put_into_an_unwritable_place_is_an_io_error() {
    let tmp = tempfile::tempdir().unwrap();
    let blocker = tmp.path().join("not-a-dir");
    std::fs::write(&blocker, b"x").unwrap();
    let dest = Destination::File {
        root: blocker.clone(),
    };
    let e = DiagnosticsStore::open(&dest, &S3Options::default())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("not a directory"), "{e}");

    // A `diagnostics` that is a file: the put fails with an error value.
    let store = open(tmp.path()).await;
    std::fs::write(tmp.path().join("diagnostics"), b"x").unwrap();
    let e = store
        .put(&store.key_for("d", KeyClock::global().next()), vec![1])
        .await
        .unwrap_err();
    assert!(matches!(e, SinkError::Io { .. }), "{e:?}");
}

fn age(path: &Path, days: u64) {
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(days * 86_400))
        .unwrap();
}

#[tokio::test]
async fn file_lifecycle_keeps_other_rules_and_expires_old_files() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path()).await;
    assert_eq!(
        store.lifecycle_show().await.unwrap(),
        None,
        "no lifecycle file yet"
    );

    // Someone else's rule already in the file: it must survive byte-for-byte as JSON.
    let tracks = serde_json::json!({
        "id": "tracks-retention", "prefix": "tracks/", "days": 365, "enabled": true,
        "transitions": [{"days": 90, "storage_class": "STANDARD_IA"}]
    });
    std::fs::write(
        tmp.path().join(LIFECYCLE_FILE),
        serde_json::to_vec(&serde_json::json!({ "rules": [tracks.clone()] })).unwrap(),
    )
    .unwrap();
    assert_eq!(store.lifecycle_show().await.unwrap(), None);

    let mut keys = Vec::new();
    for _ in 0..3 {
        let k = store.key_for("d", KeyClock::global().next());
        store.put(&k, encode_batch(&records(1))).await.unwrap();
        keys.push(k);
    }
    age(&tmp.path().join(&keys[0]), 40);
    age(&tmp.path().join(&keys[1]), 10);
    // Age is measured from the newest diagnostics the bucket held before this run (or
    // now, if earlier): a clock that jumped ahead cannot make every file look old.
    age(&tmp.path().join(&keys[2]), 1);
    std::fs::create_dir_all(tmp.path().join("tracks")).unwrap();
    let track = tmp.path().join("tracks/old.gpx");
    std::fs::write(&track, b"<gpx/>").unwrap();
    age(&track, 400);

    let created = store.lifecycle_apply(30).await.unwrap();
    assert_eq!(created.change, LifecycleChange::Created);
    assert_eq!(created.rule, RetentionRule::new("diagnostics/", 30));
    assert_eq!((created.other_rules, created.expired_files), (1, 1));
    assert!(!tmp.path().join(&keys[0]).exists(), "40 days old: expired");
    assert!(tmp.path().join(&keys[1]).exists() && tmp.path().join(&keys[2]).exists());
    assert!(
        track.exists(),
        "never touches anything outside diagnostics/"
    );

    let again = store.lifecycle_apply(30).await.unwrap();
    assert_eq!(
        (again.change, again.expired_files),
        (LifecycleChange::Unchanged, 0)
    );

    let updated = store.lifecycle_apply(7).await.unwrap();
    assert_eq!(updated.change, LifecycleChange::Updated);
    assert_eq!(updated.previous.map(|r| r.days), Some(30));
    assert_eq!(
        updated.expired_files, 1,
        "the 10-day-old file goes at 7 days"
    );
    assert_eq!(store.list(None).await.unwrap().len(), 1);
    assert_eq!(
        store.lifecycle_show().await.unwrap(),
        Some(RetentionRule::new("diagnostics/", 7))
    );

    let file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join(LIFECYCLE_FILE)).unwrap()).unwrap();
    let rules = file["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 2);
    assert_eq!(
        rules[0], tracks,
        "the other rule is kept exactly, in its place"
    );
    assert_eq!(rules[1]["id"], RULE_ID);
    assert_eq!(rules[1]["days"], 7);
}

#[tokio::test]
async fn file_lifecycle_file_that_is_garbage_is_an_error_not_a_wipe() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path()).await;
    std::fs::write(tmp.path().join(LIFECYCLE_FILE), b"{not json").unwrap();
    assert!(matches!(
        store.lifecycle_show().await.unwrap_err(),
        SinkError::Decode { .. }
    ));
    assert!(store.lifecycle_apply(30).await.is_err());
    assert_eq!(
        std::fs::read(tmp.path().join(LIFECYCLE_FILE)).unwrap(),
        b"{not json",
        "left alone"
    );
}
