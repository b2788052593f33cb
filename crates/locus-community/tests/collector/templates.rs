//! Issue 13, item 2: k-anonymous text. A crash's message template is served only once at
//! least k distinct pseudonyms reported that identical template; before that, no
//! endpoint (`/v1/versions`, `/v1/versions/{version}`, `/`, `/healthz`, with or without
//! `?days=`) serves its text — only kind, location and counts. Both backends, the real
//! binary.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use crate::common::*;

both_backends!(templates_need_k_devices_on_every_endpoint);

const SIG: &str = "abcdef0123456789";
const LOCATION: &str = "src/track.rs:42";
/// Reported by k devices in the end.
const SHARED: &str = "cannot open <file> during export";
/// Reported by one device only, many times: never served.
const LONELY: &str = "cannot open <file> during import";

/// Every page a client can read, concatenated.
async fn everything(c: &reqwest::Client, s: &Server) -> String {
    let mut all = String::new();
    for path in [
        "/",
        "/?days=1",
        "/healthz",
        "/v1/versions",
        "/v1/versions?days=1",
        "/v1/versions/4.0.0",
        "/v1/versions/4.0.0?days=1",
    ] {
        let resp = c.get(s.url(path)).send().await.unwrap();
        all.push_str(&resp.text().await.unwrap());
        all.push('\n');
    }
    all
}

async fn templates_need_k_devices_on_every_endpoint(b: Backend) {
    let db = TestDb::new(b).await;
    let s = Server::start(&db, &["--k", "3"]);
    let c = client();
    // Device 0 reports the lonely template five times, devices 0 and 1 the shared one:
    // the version itself has 3 devices (shown), the templates 1 and 2 (withheld).
    for _ in 0..5 {
        let r = report(0, "4.0.0", 1, 1, 0, vec![crash(SIG, LONELY, 1)], 2);
        assert_eq!(post(&c, &s, &r).await.0, 202);
    }
    for d in [0, 1] {
        let r = report(d, "4.0.0", 1, 1, 0, vec![crash(SIG, SHARED, 1)], 3);
        assert_eq!(post(&c, &s, &r).await.0, 202);
    }
    let r = report(2, "4.0.0", 2, 0, 0, vec![], 2);
    assert_eq!(post(&c, &s, &r).await.0, 202);
    // The rows are stored (the text is in the database) ...
    assert_eq!(db.store().await.report_count().await.unwrap(), 8);

    // ... but no endpoint serves it; the signature is listed with kind, location, counts.
    let all = everything(&c, &s).await;
    assert!(
        !all.contains("during export") && !all.contains("during import"),
        "a withheld template was served:\n{all}"
    );
    let (status, v) = get_json(&c, &s, "/v1/versions/4.0.0").await;
    assert_eq!(status, 200, "{v}");
    let top = &v["top_crashes"][0];
    assert_eq!(top["signature"], SIG, "{v}");
    assert_eq!(top["kind"], "panic");
    assert_eq!(top["location"], LOCATION);
    assert_eq!(top["count"], 7);
    assert_eq!(top["devices"], 2);
    assert!(top["message"].is_null(), "{v}");
    let page = c
        .get(s.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("withheld: fewer than 3 devices"), "{page}");

    // A third device with the shared template: k reached, that template is served, the
    // lonely one still nowhere.
    let r = report(2, "4.0.0", 0, 1, 0, vec![crash(SIG, SHARED, 1)], 1);
    assert_eq!(post(&c, &s, &r).await.0, 202);
    let (_, v) = get_json(&c, &s, "/v1/versions/4.0.0").await;
    assert_eq!(v["top_crashes"][0]["message"], SHARED, "{v}");
    let (_, list) = get_json(&c, &s, "/v1/versions").await;
    assert_eq!(list["versions"][0]["top_crashes"][0]["message"], SHARED);
    let all = everything(&c, &s).await;
    assert!(all.contains("during export"), "{all}");
    assert!(
        !all.contains("during import"),
        "a withheld template was served:\n{all}"
    );
    let page = c
        .get(s.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("cannot open &lt;file&gt; during export"),
        "{page}"
    );
}
