//! Retention (issue 20): reports older than the longest window served (plus a margin) are
//! refused at ingest and pruned from storage with their rollups; forgotten ids expire;
//! periods in the future are refused; `?days=` beyond the longest window is a bad query.

use chrono::Utc;
use serde_json::json;
use sqlx::Connection;

use crate::common::{client, crash, get_json, post, report, Backend, Server, TestDb};

async fn forgotten_ids(db: &TestDb, b: Backend) -> i64 {
    let sql = "SELECT COUNT(*) FROM forgotten";
    match b {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
        }
    }
}

async fn old_and_future_reports_are_refused(b: Backend) {
    let db = TestDb::new(b).await;
    let s = Server::start(
        &db,
        &["--k", "1", "--window-days", "7", "--max-window-days", "10"],
    );
    let c = client();
    // Kept: 10 days + the 7-day margin.
    let kept = report(1, "1.0.0", 1, 0, 0, vec![], 16 * 24);
    assert_eq!(post(&c, &s, &kept).await.0, 202);
    for (what, hours_ago) in [
        ("too old", 18 * 24),
        ("from 2001", 25 * 365 * 24),
        ("future", -2),
    ] {
        let r = report(2, "1.0.0", 1, 0, 0, vec![], hours_ago);
        let (status, body) = post(&c, &s, &r).await;
        assert_eq!(
            (status, &body["error"]),
            (422, &json!("invalid_report")),
            "{what}: {body}"
        );
    }
    assert_eq!(db.store().await.report_count().await.unwrap(), 1);
    let (status, body) = get_json(&c, &s, "/v1/versions?days=11").await;
    assert_eq!(
        (status, &body["error"]),
        (400, &json!("bad_query")),
        "{body}"
    );
    assert_eq!(get_json(&c, &s, "/v1/versions?days=10").await.0, 200);
}

async fn pruning_drops_old_reports_rollups_and_forgotten_ids(b: Backend) {
    let db = TestDb::new(b).await;
    let store = db.store().await;
    let now = Utc::now().timestamp();
    let at = |hours_ago: i64, device: u32| {
        report(
            device,
            "1.0.0",
            2,
            1,
            0,
            vec![crash("00112233445566aa", "boom <n>", 1)],
            hours_ago,
        )
    };
    // Device 1: old and recent reports; device 2: old only; device 3: deleted.
    for r in [at(300 * 24, 1), at(2, 1), at(200 * 24, 2), at(5, 3)] {
        store.insert(r, now, "net".into()).await.unwrap();
    }
    store
        .delete_pseudonym(&crate::common::pseudonym(3))
        .await
        .unwrap();
    assert_eq!(forgotten_ids(&db, b).await, 1);
    let everything = now - 400 * 86_400;
    assert_eq!(
        store.versions(everything, None).await.unwrap()[0].sessions,
        9
    );

    let cutoff = now - 100 * 86_400;
    // Forgotten ids older than their own cutoff stay for now.
    let pruned = store.prune(cutoff, now - 86_400).await.unwrap();
    assert_eq!(pruned, 2, "the two reports older than the cutoff");
    assert_eq!(store.report_count().await.unwrap(), 1);
    assert_eq!(forgotten_ids(&db, b).await, 1);
    let v = store.versions(everything, None).await.unwrap();
    assert_eq!(v.len(), 1);
    assert_eq!((v[0].sessions, v[0].devices), (3, 1), "rollups pruned too");
    let sigs = store.signatures(everything, None).await.unwrap();
    assert_eq!((sigs[0].count, sigs[0].devices), (1, 1));
    let days = store.days(everything).await.unwrap();
    assert_eq!(days.len(), 1, "{days:?}");

    // Once a retry would be refused as too old, the forgotten id goes.
    store
        .prune(cutoff, Utc::now().timestamp() + 1)
        .await
        .unwrap();
    assert_eq!(forgotten_ids(&db, b).await, 0);
}

both_backends!(
    old_and_future_reports_are_refused,
    pruning_drops_old_reports_rollups_and_forgotten_ids
);
