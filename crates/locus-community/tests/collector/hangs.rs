//! Hangs (the report's `hangs` count): capped at ingest (422), summed in the hourly
//! rollup, and shown as "hangs per session" per version on `/v1/versions`,
//! `/v1/versions/{v}` and the dashboard. A report from an older device without the field
//! counts 0 hangs.

use serde_json::json;

use crate::common::{client, get_json, post, post_raw, report, Backend, Server, TestDb};

async fn hangs_per_session_per_version(b: Backend) {
    let db = TestDb::new(b).await;
    let s = Server::start(&db, &["--k", "1", "--read-cache-ms", "0"]);
    let c = client();
    let mut one = report(1, "4.0.0", 3, 1, 0, vec![], 2);
    one.hangs = 2;
    let mut two = report(2, "4.0.0", 6, 0, 0, vec![], 3);
    two.hangs = 3;
    for r in [&one, &two] {
        let (status, body) = post(&c, &s, r).await;
        assert_eq!(status, 202, "{body}");
    }
    // An older device: no `hangs` in its JSON at all.
    let old = report(3, "4.0.0", 2, 0, 0, vec![], 1);
    let mut value = serde_json::to_value(&old).unwrap();
    value.as_object_mut().unwrap().remove("hangs");
    let (status, body) = post_raw(
        &crate::common::client_from(crate::common::device_addr(3)),
        &s,
        "/v1/reports",
        &[("content-type", "application/json")],
        serde_json::to_vec(&value).unwrap(),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    // Over the cap: refused, nothing stored.
    let mut flood = report(4, "4.0.0", 1, 0, 0, vec![], 1);
    flood.hangs = 10_001;
    let (status, body) = post(&c, &s, &flood).await;
    assert_eq!(status, 422, "{body}");
    let mut at_cap = report(5, "4.1.0", 1, 0, 0, vec![], 1);
    at_cap.hangs = 10_000;
    assert_eq!(post(&c, &s, &at_cap).await.0, 202);
    assert_eq!(db.store().await.report_count().await.unwrap(), 4);

    // 5 hangs in 3 + 1 + 6 + 2 = 12 sessions.
    let (status, list) = get_json(&c, &s, "/v1/versions").await;
    assert_eq!(status, 200, "{list}");
    let v = list["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["version"] == "4.0.0")
        .unwrap()
        .clone();
    assert_eq!(v["hangs"], 5);
    assert_eq!(v["hangs_per_session"], json!(5.0 / 12.0));
    let (status, one_version) = get_json(&c, &s, "/v1/versions/4.0.0").await;
    assert_eq!(status, 200, "{one_version}");
    assert_eq!(one_version["hangs"], 5);
    assert_eq!(one_version["hangs_per_session"], json!(5.0 / 12.0));
    let (_, capped) = get_json(&c, &s, "/v1/versions/4.1.0").await;
    assert_eq!(capped["hangs_per_session"], json!(10_000.0));

    let page = c
        .get(s.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("<th>Hangs per session</th>"), "{page}");
    let row = page
        .lines()
        .find(|l| l.contains("data-version=\"4.0.0\"") && l.contains("<tr"))
        .unwrap_or_else(|| panic!("no row for 4.0.0 in {page}"));
    assert!(
        row.contains(">0.42<"),
        "hangs per session in the row: {row}"
    );
}

both_backends!(hangs_per_session_per_version);
