//! The collector end to end: the real binary on loopback, talking HTTP, against SQLite and
//! against a real PostgreSQL (`LOCUS_TEST_POSTGRES_URL`, started by `scripts/postgres.sh`).
//! Every scenario runs on both backends.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use crate::common::*;
use serde_json::{json, Value};

both_backends!(
    ingest_plain_and_gzip,
    duplicates_are_stored_once,
    coordinates_are_refused_and_not_stored,
    deletion_forgets_a_pseudonym,
    k_anonymity_withholds_small_versions,
    aggregates_match_hand_computed_rates,
    bad_requests_get_clear_4xx_and_server_stays_up,
    floods_are_rate_limited,
    two_collectors_share_one_database,
);

async fn ingest_plain_and_gzip(b: Backend) {
    let db = TestDb::new(b).await;
    let s = Server::start(&db, &[]);
    let c = client();
    let r = report(
        1,
        "1.2.0",
        3,
        1,
        0,
        vec![crash("00112233445566aa", "crash in track", 1)],
        2,
    );
    let (status, body) = post(&c, &s, &r).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body, json!({"accepted": true, "duplicate": false}));

    let r2 = report(2, "1.2.0", 5, 0, 1, vec![], 2);
    let bytes = serde_json::to_vec(&r2).unwrap();
    let (status, body) = post_raw(
        &c,
        &s,
        "/v1/reports",
        &[
            ("content-type", "application/json"),
            ("content-encoding", "gzip"),
        ],
        gzip(&bytes),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(db.store().await.report_count().await.unwrap(), 2);

    let (status, health) = get_json(&c, &s, "/healthz").await;
    assert_eq!(status, 200);
    assert_eq!(health["status"], "ok");
    assert_eq!(health["counters"]["accepted"], 2);
    let exit = s.terminate();
    assert!(exit.success(), "graceful shutdown on SIGTERM: {exit:?}");

    // A restart on the same database keeps everything (migrations are idempotent).
    let s = Server::start(&db, &["--k", "1"]);
    let (status, v) = get_json(&c, &s, "/v1/versions/1.2.0").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["sessions"], 10);
    assert_eq!(v["crashed"], 1);
    assert_eq!(v["abnormal"], 1);
    assert_eq!(v["devices"], 2);
}

async fn duplicates_are_stored_once(b: Backend) {
    let db = TestDb::new(b).await;
    let s = Server::start(&db, &[]);
    let c = client();
    let r = report(
        1,
        "1.2.0",
        3,
        1,
        0,
        vec![crash("00112233445566aa", "crash in track", 1)],
        2,
    );
    assert_eq!(post(&c, &s, &r).await.0, 202);
    for _ in 0..3 {
        let (status, body) = post(&c, &s, &r).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body, json!({"accepted": true, "duplicate": true}));
    }
    // Gzip retry of the same report: still a duplicate.
    let (status, body) = post_raw(
        &c,
        &s,
        "/v1/reports",
        &[
            ("content-type", "application/json"),
            ("content-encoding", "gzip"),
        ],
        gzip(&serde_json::to_vec(&r).unwrap()),
    )
    .await;
    assert_eq!((status, body["duplicate"].clone()), (200, json!(true)));
    assert_eq!(db.store().await.report_count().await.unwrap(), 1);

    // The same new report raced from 20 connections: one stores it, 19 see a duplicate;
    // 40 distinct reports (devices, each from its own network) at once are all stored
    // (they may share one commit).
    let raced = report(2, "1.2.0", 1, 0, 0, vec![], 2);
    let mut tasks = Vec::new();
    for i in 0..60 {
        let c = if i < 20 {
            c.clone()
        } else {
            client_from(device_addr(100 + i))
        };
        let url = s.url("/v1/reports");
        let r = if i < 20 {
            raced.clone()
        } else {
            report(100 + i, "1.2.0", 1, 0, 0, vec![], 2)
        };
        tasks.push(tokio::spawn(async move {
            c.post(url)
                .json(&r)
                .send()
                .await
                .expect("POST")
                .status()
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(
        statuses[..20].iter().filter(|&&x| x == 202).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses[..20].iter().filter(|&&x| x == 200).count(),
        19,
        "{statuses:?}"
    );
    assert!(statuses[20..].iter().all(|&x| x == 202), "{statuses:?}");
    assert_eq!(db.store().await.report_count().await.unwrap(), 42);
    // Counted once in the aggregates too.
    let s1 = Server::start(&db, &["--k", "1"]);
    let (_, v) = get_json(&c, &s1, "/v1/versions/1.2.0").await;
    assert_eq!(v["sessions"], 4 + 1 + 40);
    assert_eq!(v["devices"], 42);
    assert_eq!(v["top_crashes"][0]["count"], 1);
}

async fn coordinates_are_refused_and_not_stored(b: Backend) {
    let db = TestDb::new(b).await;
    let s = Server::start(&db, &[]);
    let c = client();
    let r = report(
        1,
        "1.2.0",
        3,
        1,
        0,
        vec![crash("00112233445566aa", "fix at 52.520008, 13.404954", 1)],
        2,
    );
    let (status, body) = post(&c, &s, &r).await;
    assert_eq!(
        status, 422,
        "a report whose crash message carries coordinates must be refused: {body}"
    );
    assert_eq!(body["error"], "pii_detected");
    assert_eq!(db.store().await.report_count().await.unwrap(), 0);
    let (_, health) = get_json(&c, &s, "/healthz").await;
    assert_eq!(health["counters"]["rejected_pii"], 1);
    assert_eq!(health["counters"]["accepted"], 0);
}

async fn deletion_forgets_a_pseudonym(b: Backend) {
    let db = TestDb::new(b).await;
    let s = Server::start(&db, &["--k", "1"]);
    let c = client();
    let a1 = report(
        1,
        "1.2.0",
        3,
        1,
        0,
        vec![crash("00112233445566aa", "crash in track", 1)],
        3,
    );
    let a2 = report(1, "1.3.0", 2, 0, 0, vec![], 2);
    let other = report(2, "1.2.0", 4, 0, 0, vec![], 2);
    for r in [&a1, &a2, &other] {
        assert_eq!(post(&c, &s, r).await.0, 202);
    }
    let del = serde_json::to_vec(&json!({"schema": 1, "pseudonym": pseudonym(1)})).unwrap();
    let (status, body) = post_raw(
        &c,
        &s,
        "/v1/deletions",
        &[("content-type", "application/json")],
        del.clone(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"deleted": 2}));
    assert_eq!(db.store().await.report_count().await.unwrap(), 1);

    // A late retry of a forgotten report stays forgotten.
    let (status, body) = post(&c, &s, &a1).await;
    assert_eq!((status, body["duplicate"].clone()), (200, json!(true)));
    assert_eq!(db.store().await.report_count().await.unwrap(), 1);

    // Nothing of the pseudonym is left in the aggregates.
    let (_, v) = get_json(&c, &s, "/v1/versions").await;
    let versions = v["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 1, "{v}");
    assert_eq!(versions[0]["version"], "1.2.0");
    assert_eq!(versions[0]["sessions"], 4);
    assert_eq!(versions[0]["top_crashes"], json!([]));

    // Deleting again finds nothing; a malformed request is refused.
    let (status, body) = post_raw(
        &c,
        &s,
        "/v1/deletions",
        &[("content-type", "application/json")],
        del,
    )
    .await;
    assert_eq!((status, body), (200, json!({"deleted": 0})));
    let bad = serde_json::to_vec(&json!({"schema": 1, "pseudonym": "device-1"})).unwrap();
    let (status, body) = post_raw(
        &c,
        &s,
        "/v1/deletions",
        &[("content-type", "application/json")],
        bad,
    )
    .await;
    assert_eq!(status, 422, "{body}");
}

async fn k_anonymity_withholds_small_versions(b: Backend) {
    let db = TestDb::new(b).await;
    let s = Server::start(&db, &["--k", "5"]);
    let c = client();
    // Four devices (k - 1), several reports each.
    for d in 0..4 {
        for h in [2, 5] {
            let r = report(
                d,
                "3.0.0",
                4,
                1,
                0,
                vec![crash("aaaaaaaaaaaaaaaa", "<word> crash", 1)],
                h,
            );
            assert_eq!(post(&c, &s, &r).await.0, 202);
        }
    }
    let (status, v) = get_json(&c, &s, "/v1/versions").await;
    assert_eq!(status, 200);
    assert_eq!(v["versions"], json!([]), "{v}");
    assert_eq!(v["withheld_versions"], 1);
    assert!(
        !v.to_string().contains("3.0.0"),
        "a withheld version is not even named: {v}"
    );
    let (status, single) = get_json(&c, &s, "/v1/versions/3.0.0").await;
    assert_eq!(status, 404, "{single}");
    // Same answer as a version never seen.
    let (status_unknown, unknown) = get_json(&c, &s, "/v1/versions/9.9.9").await;
    assert_eq!((status_unknown, &unknown["error"]), (404, &single["error"]));
    let page = c
        .get(s.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !page.contains("3.0.0"),
        "the dashboard does not name it either"
    );

    // The fifth device makes it visible.
    let r = report(4, "3.0.0", 4, 0, 0, vec![], 2);
    assert_eq!(post(&c, &s, &r).await.0, 202);
    let (_, v) = get_json(&c, &s, "/v1/versions").await;
    assert_eq!(v["withheld_versions"], 0);
    assert_eq!(v["versions"][0]["version"], "3.0.0");
    assert_eq!(v["versions"][0]["devices"], 5);
    assert_eq!(v["versions"][0]["sessions"], 8 * 5 + 4);
    let (status, single) = get_json(&c, &s, "/v1/versions/3.0.0").await;
    assert_eq!(status, 200, "{single}");
    assert_eq!(single["k"], 5);
}

fn approx(v: &Value, expected: f64) {
    let got = v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"));
    assert!(
        (got - expected).abs() < 1e-9,
        "got {got}, expected {expected}"
    );
}

async fn aggregates_match_hand_computed_rates(b: Backend) {
    let db = TestDb::new(b).await;
    let s = Server::start(&db, &["--k", "3", "--rate-limit-per-pseudonym", "0"]);
    let c = client();
    let a = "a0a0a0a0a0a0a0a0";
    let bb = "b1b1b1b1b1b1b1b1";
    let cc = "c2c2c2c2c2c2c2c2";
    let seed = vec![
        // 1.9.0: devices 1, 2, 3.
        report(1, "1.9.0", 6, 0, 0, vec![], 30),
        report(1, "1.9.0", 4, 0, 0, vec![], 5), // same device again: 10 sessions, no crash
        report(
            2,
            "1.9.0",
            8,
            2,
            0,
            vec![crash(a, "index out of bounds", 2)],
            10,
        ),
        report(
            3,
            "1.9.0",
            5,
            1,
            1,
            vec![crash(bb, "unwrap on None", 1)],
            20,
        ),
        // Outside the 30-day window: ignored by default, counted with ?days=60.
        report(
            4,
            "1.9.0",
            0,
            7,
            0,
            vec![crash(a, "index out of bounds", 7)],
            24 * 40,
        ),
        // 1.10.0 (newer than 1.9.0 by semver, older by string order): devices 1..4.
        report(
            1,
            "1.10.0",
            9,
            1,
            0,
            vec![crash(cc, "attempt to divide by zero", 1)],
            3,
        ),
        report(2, "1.10.0", 10, 0, 0, vec![], 3),
        report(3, "1.10.0", 10, 0, 0, vec![], 3),
        report(4, "1.10.0", 4, 0, 2, vec![], 3),
        // 2.0.0: two devices only, withheld with k = 3.
        report(
            1,
            "2.0.0",
            1,
            1,
            0,
            vec![crash(a, "index out of bounds", 1)],
            1,
        ),
        report(2, "2.0.0", 1, 0, 0, vec![], 1),
    ];
    for r in &seed {
        let (status, body) = post(&c, &s, r).await;
        assert_eq!(status, 202, "{body}");
    }
    let (status, v) = get_json(&c, &s, "/v1/versions").await;
    assert_eq!(status, 200);
    assert_eq!(v["window_days"], 30);
    assert_eq!(v["withheld_versions"], 1);
    let versions = v["versions"].as_array().unwrap();
    let names: Vec<_> = versions
        .iter()
        .map(|x| x["version"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["1.10.0", "1.9.0"], "newest first, by semver");

    // 1.10.0: sessions 10 + 10 + 10 + 6 = 36, crashed 1, abnormal 2; crash-free sessions
    // 35/36; devices 4 of which 1 crashed: crash-free devices 3/4.
    let new = &versions[0];
    assert_eq!(new["sessions"], 36);
    assert_eq!(new["crashed"], 1);
    assert_eq!(new["abnormal"], 2);
    assert_eq!(new["devices"], 4);
    approx(&new["crash_free_session_rate"], 35.0 / 36.0);
    approx(&new["crash_free_device_rate"], 3.0 / 4.0);
    assert_eq!(new["top_crashes"][0]["signature"], cc);
    // One device reported its template (k = 3): kind, location and counts only.
    assert!(new["top_crashes"][0]["message"].is_null(), "{new}");
    assert_eq!(new["top_crashes"][0]["count"], 1);

    // 1.9.0 in 30 days: sessions 10 + 10 + 7 = 27, crashed 3, abnormal 1; crash-free
    // sessions 24/27; devices 3, two crashed: crash-free devices 1/3.
    let old = &versions[1];
    assert_eq!(old["sessions"], 27);
    assert_eq!(old["crashed"], 3);
    assert_eq!(old["abnormal"], 1);
    assert_eq!(old["devices"], 3);
    approx(&old["crash_free_session_rate"], 24.0 / 27.0);
    approx(&old["crash_free_device_rate"], 1.0 / 3.0);
    let top = old["top_crashes"].as_array().unwrap();
    assert_eq!(top.len(), 2);
    assert_eq!(
        (&top[0]["signature"], &top[0]["count"]),
        (&json!(a), &json!(2))
    );
    assert_eq!(
        (&top[1]["signature"], &top[1]["count"]),
        (&json!(bb), &json!(1))
    );
    assert!(old["previous"].is_null());

    // 1.10.0 against 1.9.0: fewer crashes per session.
    let prev = &new["previous"];
    assert_eq!(prev["version"], "1.9.0");
    approx(&prev["crash_free_session_rate"], 24.0 / 27.0);
    approx(&prev["session_rate_change"], 35.0 / 36.0 - 24.0 / 27.0);
    approx(&prev["device_rate_change"], 3.0 / 4.0 - 1.0 / 3.0);
    assert_eq!(prev["crashing_more"], false);

    // 60 days: device 4's old report joins 1.9.0: sessions 34, crashed 10, devices 4
    // (3 crashed): 24/34 and 1/4; 1.10.0 now crashes less than that too.
    let (_, v60) = get_json(&c, &s, "/v1/versions/1.9.0?days=60").await;
    assert_eq!(v60["window_days"], 60);
    assert_eq!(v60["sessions"], 34);
    assert_eq!(v60["crashed"], 10);
    assert_eq!(v60["devices"], 4);
    approx(&v60["crash_free_session_rate"], 24.0 / 34.0);
    approx(&v60["crash_free_device_rate"], 1.0 / 4.0);
    assert_eq!(v60["top_crashes"][0]["count"], 9);
    assert_eq!(v60["top_crashes"][0]["devices"], 2);

    // The single-version view agrees with the list.
    let (status, one) = get_json(&c, &s, "/v1/versions/1.10.0").await;
    assert_eq!(status, 200);
    assert_eq!(one["sessions"], 36);
    assert_eq!(one["previous"]["version"], "1.9.0");
    assert_eq!(get_json(&c, &s, "/v1/versions/2.0.0").await.0, 404);

    // Bad windows are clear 400s.
    for q in ["days=0", "days=abc", "days=99999"] {
        let (status, body) = get_json(&c, &s, &format!("/v1/versions?{q}")).await;
        assert_eq!(status, 400, "{q}: {body}");
        assert_eq!(body["error"], "bad_query");
    }
}

type Headers = Vec<(&'static str, &'static str)>;

async fn bad_requests_get_clear_4xx_and_server_stays_up(b: Backend) {
    let db = TestDb::new(b).await;
    let mut s = Server::start(&db, &[]);
    let c = client();
    let json_ct = [("content-type", "application/json")];
    let good = serde_json::to_vec(&report(1, "1.2.0", 1, 0, 0, vec![], 1)).unwrap();

    // (what, headers, body, expected status, expected error code)
    let cases: Vec<(&str, Headers, Vec<u8>, u16, &str)> = vec![
        (
            "malformed JSON",
            json_ct.to_vec(),
            b"{\"schema\": 1,".to_vec(),
            400,
            "malformed_json",
        ),
        (
            "not JSON at all",
            json_ct.to_vec(),
            b"hello".to_vec(),
            400,
            "malformed_json",
        ),
        (
            "wrong content type",
            vec![("content-type", "text/plain")],
            good.clone(),
            415,
            "unsupported_media_type",
        ),
        (
            "no content type",
            vec![],
            good.clone(),
            415,
            "unsupported_media_type",
        ),
        (
            "unknown encoding",
            vec![
                ("content-type", "application/json"),
                ("content-encoding", "br"),
            ],
            good.clone(),
            415,
            "unsupported_media_type",
        ),
        (
            "gzip header, plain body",
            vec![
                ("content-type", "application/json"),
                ("content-encoding", "gzip"),
            ],
            good.clone(),
            400,
            "bad_gzip",
        ),
        (
            "oversized body",
            json_ct.to_vec(),
            vec![b' '; 70 * 1024],
            413,
            "too_large",
        ),
        (
            "gzip bomb",
            vec![
                ("content-type", "application/json"),
                ("content-encoding", "gzip"),
            ],
            gzip(&vec![b' '; 50 * 1024 * 1024]),
            413,
            "too_large",
        ),
    ];
    for (what, headers, body, want, code) in cases {
        let (status, answer) = post_raw(&c, &s, "/v1/reports", &headers, body).await;
        assert_eq!(status, want, "{what}: {answer}");
        assert_eq!(answer["error"], code, "{what}: {answer}");
        assert!(
            answer["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}"
        );
    }

    let mut v = serde_json::to_value(report(1, "1.2.0", 1, 0, 0, vec![], 1)).unwrap();
    v["latitude"] = json!(52.52);
    let (status, answer) = post_raw(
        &c,
        &s,
        "/v1/reports",
        &json_ct,
        serde_json::to_vec(&v).unwrap(),
    )
    .await;
    assert_eq!(
        (status, &answer["error"]),
        (422, &json!("schema_mismatch")),
        "{answer}"
    );
    assert!(answer["message"].as_str().unwrap().contains("latitude"));

    let mut v = serde_json::to_value(report(1, "1.2.0", 1, 0, 0, vec![], 1)).unwrap();
    v["schema"] = json!(2);
    v["something_new"] = json!(true);
    let (status, answer) = post_raw(
        &c,
        &s,
        "/v1/reports",
        &json_ct,
        serde_json::to_vec(&v).unwrap(),
    )
    .await;
    assert_eq!(
        (status, &answer["error"]),
        (422, &json!("unsupported_schema")),
        "{answer}"
    );

    let mut r = report(1, "1.2.0", 1, 0, 0, vec![], 1);
    r.pseudonym = "device-1234".into();
    let (status, answer) = post(&c, &s, &r).await;
    assert_eq!(
        (status, &answer["error"]),
        (422, &json!("invalid_report")),
        "{answer}"
    );

    let r = report(1, "1.2.0", 1, 0, 0, vec![], -72);
    let (status, answer) = post(&c, &s, &r).await;
    assert_eq!(
        (status, &answer["error"]),
        (422, &json!("invalid_report")),
        "future period: {answer}"
    );

    assert_eq!(get_json(&c, &s, "/no/such/route").await.0, 404);
    assert_eq!(
        c.get(s.url("/v1/reports"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        405
    );

    // Still up, still accepting, nothing bad stored.
    assert!(s.is_running());
    let (status, _) = post_raw(&c, &s, "/v1/reports", &json_ct, good).await;
    assert_eq!(status, 202);
    assert_eq!(db.store().await.report_count().await.unwrap(), 1);
    let (status, health) = get_json(&c, &s, "/healthz").await;
    assert_eq!(status, 200);
    assert_eq!(health["counters"]["rejected_too_large"], 2);
}

async fn floods_are_rate_limited(b: Backend) {
    let db = TestDb::new(b).await;
    let mut s = Server::start(
        &db,
        &[
            "--rate-limit-per-client",
            "30",
            "--rate-limit-per-pseudonym",
            "5",
        ],
    );
    let c = client();
    // One pseudonym: 5 pass, the 6th is refused.
    for i in 0..6 {
        let r = report(7, "1.2.0", 1, 0, 0, vec![], 1);
        let (status, body) = post(&c, &s, &r).await;
        if i < 5 {
            assert_eq!(status, 202, "report {i}: {body}");
        } else {
            assert_eq!(
                (status, &body["error"]),
                (429, &json!("rate_limited")),
                "{body}"
            );
        }
    }
    // One client, many pseudonyms, 200 requests at once: the client limit bites.
    let mut tasks = Vec::new();
    for d in 100..300 {
        let c = c.clone();
        let url = s.url("/v1/reports");
        tasks.push(tokio::spawn(async move {
            let r = report(d, "1.2.0", 1, 0, 0, vec![], 1);
            let resp = c.post(url).json(&r).send().await.expect("POST");
            let retry = resp.headers().get("retry-after").is_some();
            (resp.status().as_u16(), retry)
        }));
    }
    let mut limited = 0;
    for t in tasks {
        let (status, retry) = t.await.unwrap();
        assert!(status == 202 || status == 429, "status {status}");
        if status == 429 {
            assert!(retry, "429 carries Retry-After");
            limited += 1;
        }
    }
    assert!(
        limited >= 170,
        "only {limited} of 200 flood requests were limited"
    );
    assert!(s.is_running());
    let (status, health) = get_json(&c, &s, "/healthz").await;
    assert_eq!(status, 200);
    assert!(health["counters"]["rate_limited"].as_u64().unwrap() >= 171);
    // Stored: 5 + at most the client's burst (device 7 reported from its own address,
    // see `common::post`, so the flooding client's bucket was full).
    let stored = db.store().await.report_count().await.unwrap();
    assert!((5..=35).contains(&stored), "stored {stored}");
}

async fn two_collectors_share_one_database(b: Backend) {
    let db = TestDb::new(b).await;
    let s1 = Server::start(&db, &["--k", "1"]);
    let s2 = Server::start(&db, &["--k", "1"]);
    let c = client();
    let r = report(
        1,
        "1.2.0",
        3,
        1,
        0,
        vec![crash("00112233445566aa", "crash in track", 1)],
        2,
    );
    assert_eq!(post(&c, &s1, &r).await.0, 202);
    let (status, body) = post(&c, &s2, &r).await;
    assert_eq!((status, &body["duplicate"]), (200, &json!(true)), "{body}");
    let (_, v) = get_json(&c, &s2, "/v1/versions/1.2.0").await;
    assert_eq!(v["sessions"], 4);
    assert_eq!(db.store().await.report_count().await.unwrap(), 1);
}
