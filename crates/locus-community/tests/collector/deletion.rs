//! Deletion is final (issue 20): after a deletion request, the pseudonym's later reports
//! are refused (410), retries of its forgotten reports stay duplicates, and reports
//! acknowledged while the deletion runs do not survive it.

use std::sync::Arc;

use locus_community::store::Insert;
use serde_json::json;

use crate::common::{client, post, post_raw, pseudonym, report, Backend, Server, TestDb};

async fn a_deleted_pseudonym_stays_deleted(b: Backend) {
    let db = TestDb::new(b).await;
    let s = Server::start(&db, &["--k", "1"]);
    let c = client();
    let before = report(1, "1.0.0", 1, 0, 0, vec![], 3);
    assert_eq!(post(&c, &s, &before).await.0, 202);
    let del = serde_json::to_vec(&json!({"schema": 1, "pseudonym": pseudonym(1)})).unwrap();
    let (status, body) = post_raw(
        &c,
        &s,
        "/v1/deletions",
        &[("content-type", "application/json")],
        del,
    )
    .await;
    assert_eq!((status, body), (200, json!({"deleted": 1})));

    let later = report(1, "1.0.0", 1, 0, 0, vec![], 1);
    let (status, body) = post(&c, &s, &later).await;
    assert_eq!(
        (status, &body["error"]),
        (410, &json!("pseudonym_deleted")),
        "{body}"
    );
    let (status, body) = post(&c, &s, &before).await;
    assert_eq!((status, &body["duplicate"]), (200, &json!(true)), "{body}");
    assert_eq!(
        post(&c, &s, &report(2, "1.0.0", 1, 0, 0, vec![], 1))
            .await
            .0,
        202
    );
    assert_eq!(db.store().await.report_count().await.unwrap(), 1);
}

async fn reports_acknowledged_during_a_deletion_do_not_survive_it(b: Backend) {
    let db = TestDb::new(b).await;
    let store = Arc::new(db.store().await);
    let now = chrono::Utc::now().timestamp();
    // Four writers keep sending the pseudonym's reports; the deletion starts once some
    // are stored, while the others are in flight.
    let (started, mut go) = tokio::sync::mpsc::channel::<()>(8);
    let mut writers = Vec::new();
    for w in 0..4 {
        let (store, started) = (store.clone(), started.clone());
        writers.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for i in 0..25 {
                let r = report(1, "1.0.0", 1, 0, 0, vec![], (w + i) % 5);
                let o = store.insert(r, now, "net".into()).await.unwrap();
                if o == Insert::Stored && i == 2 {
                    let _ = started.send(()).await;
                }
                outcomes.push(o);
            }
            outcomes
        }));
    }
    go.recv().await.unwrap();
    store.delete_pseudonym(&pseudonym(1)).await.unwrap();
    let mut stored = 0;
    let mut refused = 0;
    for w in writers {
        for o in w.await.unwrap() {
            match o {
                Insert::Stored => stored += 1,
                Insert::Refused => refused += 1,
                Insert::Duplicate => {}
            }
        }
    }
    assert!(
        stored > 0,
        "some reports were acknowledged before the deletion"
    );
    assert_eq!(
        store.report_count().await.unwrap(),
        0,
        "every report of the pseudonym acknowledged before or during the deletion is gone"
    );
    assert!(store.versions(0, None).await.unwrap().is_empty());
    println!("{stored} stored then deleted, {refused} refused after the deletion");
}

both_backends!(
    a_deleted_pseudonym_stays_deleted,
    reports_acknowledged_during_a_deletion_do_not_survive_it
);
