//! `DiagnosticsStore` against a real S3 server: SeaweedFS `weed mini` with SigV4 checked,
//! one per test binary (locus-testkit). Needs `weed` (`scripts/seaweedfs.sh`); without it
//! every test here fails loudly.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, ExpirationStatus,
    LifecycleExpiration, LifecycleRule, LifecycleRuleFilter, NoncurrentVersionExpiration,
    Transition, TransitionStorageClass,
};
use chrono::{Datelike, NaiveDate, TimeZone, Utc};
use locus_telemetry::record::{
    Body, CrashKind, Level, LogRecord, MetricKind, MetricSample, Record, Tombstone,
};
use locus_telemetry::sink::s3::*;
use locus_testkit::seaweed::SeaweedS3;
use std::collections::HashSet;
use std::time::{Duration, Instant};

fn opts(s3: &SeaweedS3) -> S3Options {
    S3Options {
        connect_timeout: Duration::from_secs(2),
        operation_timeout: Duration::from_secs(10),
        ..S3Options::default()
    }
    .or_vars(|k| s3.var(k))
}

async fn store(url: &str) -> DiagnosticsStore {
    let dest = Destination::parse(url).unwrap();
    DiagnosticsStore::open(&dest, &opts(SeaweedS3::shared()))
        .await
        .unwrap()
}

fn batch() -> Vec<Record> {
    let t0 = 1_795_000_000_000_000_000i64;
    vec![
        Record::new(
            1,
            t0,
            Body::Log(LogRecord {
                level: Level::Info,
                target: "locus::gps".into(),
                message: "fix".into(),
                fields: vec![("lat".into(), 48.1.into()), ("sats".into(), 9i64.into())],
            }),
        ),
        Record::new(
            2,
            t0 + 1_000,
            Body::Metric(MetricSample {
                name: "battery_pct".into(),
                metric: MetricKind::Gauge,
                value: 71.5,
            }),
        ),
        Record::new(
            3,
            t0 + 2_000,
            Body::Crash(Tombstone {
                crash: CrashKind::Panic,
                message: "index out of bounds".into(),
                location: "src/track.rs:42:9".into(),
                thread: "gps".into(),
                backtrace: "0: main".into(),
                app_version: "1.2.0".into(),
                os: "linux-x86_64".into(),
                uptime_ms: 1234,
                signal: None,
            }),
        ),
    ]
}

/// `diagnostics/YYYY/MM/DD/<device>_<YYYYMMDD>T<HHMMSS>.<9 digits>Z.log.gz`, checked by hand.
fn assert_layout(key: &str, prefix: &str, device: &str, date: NaiveDate) {
    let rest = key
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("{key} lacks prefix {prefix:?}"));
    let parts: Vec<&str> = rest.split('/').collect();
    assert_eq!(parts.len(), 5, "{key}");
    assert_eq!(parts[0], "diagnostics", "{key}");
    assert_eq!(
        parts[1..4],
        [
            format!("{:04}", date.year()),
            format!("{:02}", date.month()),
            format!("{:02}", date.day())
        ],
        "{key}"
    );
    let file = parts[4];
    let ts = file
        .strip_prefix(&format!("{device}_"))
        .and_then(|f| f.strip_suffix(".log.gz"))
        .unwrap_or_else(|| panic!("{key}: file name not <device>_<ts>.log.gz"));
    let b = ts.as_bytes();
    assert_eq!(b.len(), 26, "{ts}");
    assert_eq!(&ts[..8], date.format("%Y%m%d").to_string(), "{ts}");
    assert_eq!((b[8], b[15], b[25]), (b'T', b'.', b'Z'), "{ts}");
    assert!(
        ts[9..15]
            .bytes()
            .chain(ts[16..25].bytes())
            .all(|c| c.is_ascii_digit()),
        "{ts}"
    );
}

#[tokio::test]
async fn s3_put_list_get_round_trip_with_exact_key_layout() {
    let s3 = SeaweedS3::shared();
    let bucket = s3.unique_bucket("roundtrip");
    let store = store(&format!("s3://{bucket}")).await;

    let records = batch();
    let body = encode_batch(&records);
    let when = Utc.with_ymd_and_hms(2025, 3, 4, 1, 2, 3).unwrap();
    let key = store.key_for("pixel-7", KeyClock::new().next_after(when));
    assert_eq!(
        key,
        "diagnostics/2025/03/04/pixel-7_20250304T010203.000000000Z.log.gz"
    );
    store.put(&key, body.clone()).await.unwrap();

    // A second batch "now", to see listing by date pick the right folder.
    let now_key = store.key_for("pixel-7", KeyClock::global().next());
    assert_layout(&now_key, "", "pixel-7", Utc::now().date_naive());
    store
        .put(&now_key, encode_batch(&records[..1]))
        .await
        .unwrap();

    let all = store.list(None).await.unwrap();
    let keys: Vec<&str> = all.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, vec![key.as_str(), now_key.as_str()]);
    assert_eq!(all[0].size, body.len() as u64);
    let age = Utc::now() - all[0].last_modified;
    assert!(
        age.num_seconds().abs() < 120,
        "last_modified {}",
        all[0].last_modified
    );

    let day = store.list(Some(when.date_naive())).await.unwrap();
    assert_eq!(day.iter().map(|o| &o.key).collect::<Vec<_>>(), vec![&key]);
    let none = store
        .list(Some(NaiveDate::from_ymd_opt(2025, 3, 5).unwrap()))
        .await
        .unwrap();
    assert!(none.is_empty(), "{none:?}");

    let got = store.get(&key).await.unwrap();
    assert_eq!(got, body);
    assert_eq!(decode_batch(&got).unwrap(), records);

    // The object is a plain gzip file: what `zcat | jq` would read.
    let raw = s3
        .client()
        .get_object()
        .bucket(&bucket)
        .key(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(raw.content_type(), Some("application/gzip"));
    assert_eq!(raw.content_encoding(), None);

    let missing = store
        .get("diagnostics/2025/03/04/nope.log.gz")
        .await
        .unwrap_err();
    assert!(matches!(missing, SinkError::NotFound { .. }), "{missing}");
}

#[tokio::test]
async fn s3_prefix_scopes_keys_and_listing() {
    let s3 = SeaweedS3::shared();
    let bucket = s3.unique_bucket("prefixed");
    let store = store(&format!("s3://{bucket}/fleet/a")).await;
    let other = store_for_bucket(&bucket).await;

    let key = store.key_for("dev", KeyClock::global().next());
    assert_layout(&key, "fleet/a/", "dev", Utc::now().date_naive());
    store.put(&key, encode_batch(&batch())).await.unwrap();
    let outside = other.key_for("dev", KeyClock::global().next());
    other.put(&outside, encode_batch(&batch())).await.unwrap();

    let listed: Vec<String> = store
        .list(None)
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert_eq!(listed, vec![key.clone()]);
    let all: Vec<String> = other
        .list(None)
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert_eq!(
        all,
        vec![outside],
        "the prefix-less store lists only diagnostics/"
    );
    assert_eq!(
        decode_batch(&store.get(&key).await.unwrap()).unwrap(),
        batch()
    );
}

async fn store_for_bucket(bucket: &str) -> DiagnosticsStore {
    store(&format!("s3://{bucket}")).await
}

#[tokio::test]
async fn s3_two_hundred_puts_in_a_tight_loop_make_two_hundred_keys() {
    let s3 = SeaweedS3::shared();
    let bucket = s3.unique_bucket("tight-loop");
    let store = store(&format!("s3://{bucket}"))
        .await
        .with_list_page_size(7);
    let body = encode_batch(&batch()[..1]);
    let mut keys = Vec::new();
    for _ in 0..200 {
        let key = store.key_for("dev-1", KeyClock::global().next());
        store.put(&key, body.clone()).await.unwrap();
        keys.push(key);
    }
    let distinct: HashSet<&String> = keys.iter().collect();
    assert_eq!(distinct.len(), 200);

    // Listed with 7 keys per page: 29 pages, nothing lost or doubled, sorted.
    let listed: Vec<String> = store
        .list(None)
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert_eq!(listed.len(), 200);
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(listed, sorted);
    assert_eq!(sorted, keys, "keys sort in the order they were made");
    for k in &listed {
        assert!(parse_key(k).is_some(), "{k}");
    }
}

#[tokio::test]
async fn s3_wrong_secret_fails_quickly_without_leaking_it() {
    let s3 = SeaweedS3::shared();
    let bucket = s3.unique_bucket("wrong-secret");
    let mut o = opts(s3);
    o.secret_access_key = Some(SecretString::new("definitely-not-the-secret-123"));
    let store = DiagnosticsStore::open(&Destination::parse(&format!("s3://{bucket}")).unwrap(), &o)
        .await
        .unwrap();
    let t = Instant::now();
    let err = store
        .put(
            &store.key_for("dev", KeyClock::global().next()),
            encode_batch(&batch()),
        )
        .await
        .unwrap_err();
    let took = t.elapsed();
    match &err {
        SinkError::Service {
            code,
            status,
            operation,
            ..
        } => {
            assert_eq!(
                (code.as_str(), *status, *operation),
                ("SignatureDoesNotMatch", 403, "PutObject")
            )
        }
        other => panic!("expected SignatureDoesNotMatch (403), got {other:?}"),
    }
    assert!(took < Duration::from_secs(3), "took {took:?}");
    let text = format!("{err} {err:?}");
    assert!(text.contains("SignatureDoesNotMatch (403)"), "{text}");
    assert!(!text.contains("definitely-not-the-secret-123"), "{text}");
    assert!(!text.contains(s3.secret_key()), "{text}");
    assert!(store.list(None).await.is_err());
}

#[tokio::test]
async fn s3_missing_bucket_is_a_service_error() {
    // (SeaweedFS creates a missing bucket on PUT for an admin identity; AWS would not.
    // Listing and reading show the error mapping either way.)
    let store = store("s3://locus-no-such-bucket-anywhere").await;
    let err = store.list(None).await.unwrap_err();
    assert!(
        matches!(&err, SinkError::Service { code, status: 404, .. } if code == "NoSuchBucket"),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("ListObjectsV2: NoSuchBucket (404)"),
        "{err}"
    );
    let err = store.get("diagnostics/x.log.gz").await.unwrap_err();
    assert!(
        matches!(&err, SinkError::Service { code, status: 404, .. } if code == "NoSuchBucket"),
        "{err:?}"
    );
}

#[tokio::test]
async fn s3_refused_connection_fails_within_the_timeout() {
    let mut o = opts(SeaweedS3::shared());
    o.endpoint = Some(locus_testkit::net::refusing_endpoint());
    o.connect_timeout = Duration::from_secs(1);
    o.operation_timeout = Duration::from_secs(3);
    let store = DiagnosticsStore::open(&Destination::parse("s3://bucket").unwrap(), &o)
        .await
        .unwrap();
    let t = Instant::now();
    let err = store
        .put("diagnostics/a.log.gz", vec![1, 2, 3])
        .await
        .unwrap_err();
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "took {:?}",
        t.elapsed()
    );
    match &err {
        SinkError::Transport { message, .. } => {
            assert!(message.to_lowercase().contains("refused"), "{message}")
        }
        other => panic!("expected a transport error, got {other:?}"),
    }
}

#[tokio::test]
async fn s3_hung_server_times_out_at_the_operation_timeout() {
    // Accepts connections (the kernel's backlog does) and never answers.
    let hung = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut o = opts(SeaweedS3::shared());
    o.endpoint = Some(format!("http://{}", hung.local_addr().unwrap()));
    o.operation_timeout = Duration::from_millis(800);
    let store = DiagnosticsStore::open(&Destination::parse("s3://bucket").unwrap(), &o)
        .await
        .unwrap();
    let t = Instant::now();
    let err = store
        .put("diagnostics/a.log.gz", vec![1, 2, 3])
        .await
        .unwrap_err();
    let took = t.elapsed();
    assert!(matches!(err, SinkError::Timeout { .. }), "{err:?}");
    assert!(
        took >= Duration::from_millis(700) && took < Duration::from_secs(2),
        "took {took:?}"
    );
}

/// The Tracks rule, richest first: SeaweedFS 4.x refuses transitions (501
/// NotImplemented), so the test falls back to the richest variant the server stores.
fn tracks_rules() -> Vec<(&'static str, LifecycleRule)> {
    let base = || {
        LifecycleRule::builder()
            .id("tracks-retention")
            .filter(LifecycleRuleFilter::builder().prefix("tracks/").build())
            .status(ExpirationStatus::Enabled)
            .expiration(LifecycleExpiration::builder().days(365).build())
    };
    vec![
        (
            "expiration + transition",
            base()
                .transitions(
                    Transition::builder()
                        .days(90)
                        .storage_class(TransitionStorageClass::StandardIa)
                        .build(),
                )
                .build()
                .unwrap(),
        ),
        (
            "expiration + abort-incomplete-multipart + noncurrent expiration",
            base()
                .abort_incomplete_multipart_upload(
                    AbortIncompleteMultipartUpload::builder()
                        .days_after_initiation(7)
                        .build(),
                )
                .noncurrent_version_expiration(
                    NoncurrentVersionExpiration::builder()
                        .noncurrent_days(30)
                        .build(),
                )
                .build()
                .unwrap(),
        ),
        (
            "expiration + abort-incomplete-multipart",
            base()
                .abort_incomplete_multipart_upload(
                    AbortIncompleteMultipartUpload::builder()
                        .days_after_initiation(7)
                        .build(),
                )
                .build()
                .unwrap(),
        ),
        ("expiration only", base().build().unwrap()),
    ]
}

async fn raw_rules(client: &aws_sdk_s3::Client, bucket: &str) -> Vec<LifecycleRule> {
    client
        .get_bucket_lifecycle_configuration()
        .bucket(bucket)
        .send()
        .await
        .unwrap()
        .rules()
        .to_vec()
}

#[tokio::test]
async fn s3_lifecycle_upserts_our_rule_and_keeps_the_tracks_rule_exactly() {
    let s3 = SeaweedS3::shared();
    let bucket = s3.unique_bucket("lifecycle");
    let client = s3.client();

    // A pre-existing Tracks rule, as rich as the server takes.
    let mut stored = None;
    for (what, rule) in tracks_rules() {
        let r = client
            .put_bucket_lifecycle_configuration()
            .bucket(&bucket)
            .lifecycle_configuration(
                BucketLifecycleConfiguration::builder()
                    .rules(rule)
                    .build()
                    .unwrap(),
            )
            .send()
            .await;
        match r {
            Ok(_) => {
                stored = Some(what);
                break;
            }
            Err(e) => eprintln!(
                "tracks rule `{what}` refused: {:?}",
                e.as_service_error().map(|s| s.to_string())
            ),
        }
    }
    let stored = stored.expect("the server took no lifecycle rule at all");
    let baseline = raw_rules(&client, &bucket).await;
    eprintln!("tracks rule stored: `{stored}`, reads back as {baseline:?}");
    assert_eq!(baseline.len(), 1, "{baseline:?}");
    assert_eq!(baseline[0].id(), Some("tracks-retention"));
    assert_eq!(baseline[0].expiration().and_then(|e| e.days()), Some(365));

    let store = store(&format!("s3://{bucket}")).await;
    assert_eq!(
        store.lifecycle_show().await.unwrap(),
        None,
        "only the tracks rule exists"
    );

    let created = store.lifecycle_apply(30).await.unwrap();
    assert_eq!(created.change, LifecycleChange::Created);
    assert_eq!(created.rule, RetentionRule::new("diagnostics/", 30));
    assert_eq!(created.other_rules, 1);
    let after = raw_rules(&client, &bucket).await;
    assert_eq!(after.len(), 2, "{after:?}");
    let tracks: Vec<&LifecycleRule> = after
        .iter()
        .filter(|r| r.id() == Some("tracks-retention"))
        .collect();
    assert_eq!(
        tracks,
        vec![&baseline[0]],
        "tracks rule changed by apply(30)"
    );
    let ours = after.iter().find(|r| r.id() == Some(RULE_ID)).unwrap();
    assert_eq!(ours.filter().and_then(|f| f.prefix()), Some("diagnostics/"));
    assert_eq!(ours.expiration().and_then(|e| e.days()), Some(30));
    assert_eq!(ours.status(), &ExpirationStatus::Enabled);

    let again = store.lifecycle_apply(30).await.unwrap();
    assert_eq!(again.change, LifecycleChange::Unchanged);

    let updated = store.lifecycle_apply(7).await.unwrap();
    assert_eq!(updated.change, LifecycleChange::Updated);
    assert_eq!(updated.previous.as_ref().map(|r| r.days), Some(30));
    assert_eq!(updated.rule.days, 7);
    let after = raw_rules(&client, &bucket).await;
    assert_eq!(after.len(), 2, "{after:?}");
    let tracks: Vec<&LifecycleRule> = after
        .iter()
        .filter(|r| r.id() == Some("tracks-retention"))
        .collect();
    assert_eq!(
        tracks,
        vec![&baseline[0]],
        "tracks rule changed by apply(7)"
    );
    assert_eq!(
        after.iter().filter(|r| r.id() == Some(RULE_ID)).count(),
        1,
        "updated in place, not added"
    );
    assert_eq!(
        store.lifecycle_show().await.unwrap(),
        Some(RetentionRule::new("diagnostics/", 7))
    );
}

#[tokio::test]
async fn s3_bucket_without_lifecycle_shows_none_and_apply_creates() {
    let s3 = SeaweedS3::shared();
    let bucket = s3.unique_bucket("no-lifecycle");
    let store = store(&format!("s3://{bucket}/p")).await;
    assert_eq!(store.lifecycle_show().await.unwrap(), None);
    let o = store.lifecycle_apply(DEFAULT_RETENTION_DAYS).await.unwrap();
    assert_eq!(o.change, LifecycleChange::Created);
    assert_eq!(o.rule, RetentionRule::new("p/diagnostics/", 30));
    assert_eq!(o.other_rules, 0);
    assert_eq!(store.lifecycle_show().await.unwrap(), Some(o.rule));
    assert!(store.lifecycle_apply(0).await.is_err(), "0 days is refused");
}

#[tokio::test]
async fn s3_open_without_credentials_is_a_clear_error() {
    let mut o = opts(SeaweedS3::shared());
    o.access_key_id = None;
    o.secret_access_key = None;
    let err = DiagnosticsStore::open(&Destination::parse("s3://bucket").unwrap(), &o)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("AWS_ACCESS_KEY_ID"), "{err}");
}
