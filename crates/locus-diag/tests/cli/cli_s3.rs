//! The built `locus-diag` binary's `ls`, `cat` and `lifecycle` commands against a real S3
//! server (SeaweedFS via locus-testkit, credentials passed the AWS way in the
//! environment) and against a `file://` directory.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use locus_telemetry::record::{Body, Level, LogRecord, MetricKind, MetricSample, Record};
use locus_telemetry::sink::s3::{
    encode_batch, Destination, DiagnosticsStore, KeyClock, S3Options, RULE_ID,
};
use locus_testkit::seaweed::{run_async, SeaweedS3};
use std::process::{Command, Output};

const AWS_VARS: [&str; 8] = [
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "LOCUS_S3_PATH_STYLE",
];

/// `locus-diag ARGS` with no AWS settings but `env`.
fn diag(args: &[&str], env: &[(&str, String)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_locus-diag"));
    cmd.args(args);
    for v in AWS_VARS {
        cmd.env_remove(v);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run locus-diag")
}

fn s3_env() -> Vec<(&'static str, String)> {
    SeaweedS3::shared().env_vars()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "locus-diag failed: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn err(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "locus-diag should have failed; stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr.clone()).unwrap()
}

fn records(first_seq: u64) -> Vec<Record> {
    vec![
        Record::new(
            first_seq,
            1_795_000_000_000_000_000,
            Body::Log(LogRecord {
                level: Level::Error,
                target: "locus::sync".into(),
                message: "upload failed".into(),
                fields: vec![("status".into(), 503i64.into())],
            }),
        ),
        Record::new(
            first_seq + 1,
            1_795_000_000_100_000_000,
            Body::Metric(MetricSample {
                name: "battery_pct".into(),
                metric: MetricKind::Gauge,
                value: 64.0,
            }),
        ),
    ]
}

/// Puts two batches through the library and returns their keys.
fn seed(url: &str) -> Vec<String> {
    let s3 = SeaweedS3::shared();
    let opts = S3Options::default().or_vars(|k| s3.var(k));
    let dest = Destination::parse(url).unwrap();
    run_async(move || async move {
        let store = DiagnosticsStore::open(&dest, &opts).await.unwrap();
        let mut keys = Vec::new();
        for seq in [1, 3] {
            let key = store.key_for("pixel-7", KeyClock::global().next());
            store.put(&key, encode_batch(&records(seq))).await.unwrap();
            keys.push(key);
        }
        keys
    })
}

#[test]
fn ls_lists_key_size_and_time_and_filters_by_date() {
    let bucket = SeaweedS3::shared().unique_bucket("cli-ls");
    let url = format!("s3://{bucket}");
    let keys = seed(&url);
    let out = ok(&diag(&["ls", &url], &s3_env()));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    for (line, key) in lines.iter().zip(&keys) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cols.len(), 3, "{line}");
        assert_eq!(cols[0], key);
        assert_eq!(cols[1], encode_batch(&records(1)).len().to_string());
        assert!(
            chrono::DateTime::parse_from_rfc3339(cols[2]).is_ok(),
            "{line}"
        );
    }
    let today = chrono::Utc::now().date_naive().to_string();
    assert_eq!(ok(&diag(&["ls", &url, "--date", &today], &s3_env())), out);
    assert_eq!(
        ok(&diag(&["ls", &url, "--date", "2001-02-03"], &s3_env())),
        ""
    );
    let json = ok(&diag(&["ls", &url, "--json"], &s3_env()));
    let first: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(first["key"], keys[0].as_str());
    assert_eq!(first["url"], format!("s3://{bucket}/{}", keys[0]));

    assert!(err(&diag(&["ls", &url, "--date", "2026-13-01"], &s3_env())).contains("--date"));
}

#[test]
fn cat_prints_records_by_url_or_by_key() {
    let bucket = SeaweedS3::shared().unique_bucket("cli-cat");
    let url = format!("s3://{bucket}/fleet");
    let keys = seed(&url);
    assert!(keys[0].starts_with("fleet/diagnostics/"), "{}", keys[0]);

    let text = ok(&diag(
        &["cat", &format!("s3://{bucket}/{}", keys[0])],
        &s3_env(),
    ));
    let want: String = records(1).iter().map(|r| r.to_text_line() + "\n").collect();
    assert_eq!(text, want);

    let json = ok(&diag(
        &["cat", &keys[1], "--dest", &url, "--json"],
        &s3_env(),
    ));
    let want: String = records(3).iter().map(|r| r.to_json_line() + "\n").collect();
    assert_eq!(json, want);

    // A key from `diagnostics/` on is taken under the prefix; several files in one go.
    let short = keys[1].strip_prefix("fleet/").unwrap();
    let both = ok(&diag(&["cat", &keys[0], short, "--dest", &url], &s3_env()));
    assert_eq!(both.lines().count(), 4);

    let missing = err(&diag(
        &[
            "cat",
            "fleet/diagnostics/2026/01/01/x.log.gz",
            "--dest",
            &url,
        ],
        &s3_env(),
    ));
    assert!(missing.contains("no such object"), "{missing}");
    let no_dest = err(&diag(&["cat", &keys[0]], &s3_env()));
    assert!(no_dest.contains("--dest"), "{no_dest}");
}

#[test]
fn cat_of_a_damaged_file_prints_what_it_can_and_fails() {
    let s3 = SeaweedS3::shared();
    let bucket = s3.unique_bucket("cli-damaged");
    let key = "diagnostics/2026/01/01/dev_20260101T000000.000000000Z.log.gz";
    let mut body = encode_batch(&(0..500).flat_map(records).collect::<Vec<_>>());
    body.truncate(body.len() / 2);
    let client = s3.client();
    let b = bucket.clone();
    run_async(move || async move {
        client
            .put_object()
            .bucket(&b)
            .key(key)
            .body(body.into())
            .send()
            .await
            .unwrap();
    });
    let out = diag(&["cat", &format!("s3://{bucket}/{key}")], &s3_env());
    let stderr = err(&out);
    assert!(stderr.contains("truncated"), "{stderr}");
    assert!(
        !out.stdout.is_empty(),
        "the readable records are still printed"
    );
}

#[test]
fn lifecycle_apply_then_show_then_update() {
    let s3 = SeaweedS3::shared();
    let bucket = s3.unique_bucket("cli-lifecycle");
    let url = format!("s3://{bucket}");
    let none = ok(&diag(&["lifecycle", "show", &url], &s3_env()));
    assert!(none.contains("no retention rule"), "{none}");

    let created = ok(&diag(
        &["lifecycle", "apply", &url, "--days", "14"],
        &s3_env(),
    ));
    assert!(
        created.starts_with(&format!("{url}: created rule `{RULE_ID}`")),
        "{created}"
    );
    assert!(created.contains("expire after 14 days"), "{created}");
    let shown = ok(&diag(&["lifecycle", "show", &url], &s3_env()));
    assert!(
        shown.contains("`diagnostics/` expire after 14 days (enabled)"),
        "{shown}"
    );

    let updated = ok(&diag(&["lifecycle", "apply", &url], &s3_env()));
    assert!(
        updated.contains("updated")
            && updated.contains("30 days")
            && updated.contains("was 14 days"),
        "{updated}"
    );
    let json = ok(&diag(&["lifecycle", "show", &url, "--json"], &s3_env()));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["rule"]["days"], 30);

    // What the bucket really holds.
    let client = s3.client();
    let days = run_async(move || async move {
        let out = client
            .get_bucket_lifecycle_configuration()
            .bucket(&bucket)
            .send()
            .await
            .unwrap();
        out.rules()
            .iter()
            .find(|r| r.id() == Some(RULE_ID))
            .and_then(|r| r.expiration().and_then(|e| e.days()))
    });
    assert_eq!(days, Some(30));
    let unchanged = ok(&diag(&["lifecycle", "apply", &url, "--json"], &s3_env()));
    assert!(
        unchanged.contains("\"change\":\"unchanged\""),
        "{unchanged}"
    );
    assert!(err(&diag(
        &["lifecycle", "apply", &url, "--days", "0"],
        &s3_env()
    ))
    .contains("--days"));
}

#[test]
fn wrong_secret_fails_with_the_service_error_and_no_secret() {
    let bucket = SeaweedS3::shared().unique_bucket("cli-wrong");
    let mut env = s3_env();
    for (k, v) in env.iter_mut() {
        if *k == "AWS_SECRET_ACCESS_KEY" {
            *v = "wrong-secret-value-xyz".into();
        }
    }
    let out = diag(&["ls", &format!("s3://{bucket}")], &env);
    let stderr = err(&out);
    assert!(stderr.contains("SignatureDoesNotMatch (403)"), "{stderr}");
    assert!(!stderr.contains("wrong-secret-value-xyz"), "{stderr}");

    let no_creds = err(&diag(&["ls", &format!("s3://{bucket}")], &[]));
    assert!(no_creds.contains("AWS_ACCESS_KEY_ID"), "{no_creds}");
    let bad_url = err(&diag(&["ls", "file://relative"], &[]));
    assert!(bad_url.contains("absolute path"), "{bad_url}");
}

#[test]
fn the_same_commands_work_on_a_file_destination() {
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("file://{}", tmp.path().display());
    let keys = seed(&url);
    let out = ok(&diag(&["ls", &url], &[]));
    assert_eq!(
        out.lines()
            .map(|l| l.split_whitespace().next().unwrap())
            .collect::<Vec<_>>(),
        keys
    );
    let text = ok(&diag(&["cat", &format!("{url}/{}", keys[1])], &[]));
    let want: String = records(3).iter().map(|r| r.to_text_line() + "\n").collect();
    assert_eq!(text, want);
    let applied = ok(&diag(&["lifecycle", "apply", &url, "--days", "3"], &[]));
    assert!(
        applied.contains("created") && applied.contains("3 days"),
        "{applied}"
    );
    let shown = ok(&diag(&["lifecycle", "show", &url], &[]));
    assert!(shown.contains("expire after 3 days"), "{shown}");
}
