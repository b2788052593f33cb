//! Issue 19, part 3: the collector publishes only what devices could have said, and k
//! means k devices. Pseudonyms cost nothing, so k is counted over distinct client
//! networks as well (each a /24 of 127.0.0.0/8 here: real, distinct source addresses),
//! a network brings at most so many new pseudonyms a day, and a crash message that is
//! not a template as devices make them is refused and never stored. Both backends, the
//! real binary, the default k (5).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::net::IpAddr;

use crate::common::*;
use serde_json::json;

both_backends!(
    one_network_cannot_publish_with_any_number_of_pseudonyms,
    messages_that_are_not_templates_are_refused_and_not_stored,
    a_burst_of_new_pseudonyms_gets_exactly_the_quota,
);

const SIG: &str = "5151515151515151";
const TEMPLATE: &str = "cannot open <file> during export";

/// Every page a client can read, concatenated.
async fn everything(c: &reqwest::Client, s: &Server) -> String {
    let mut all = String::new();
    for path in ["/", "/healthz", "/v1/versions", "/v1/versions/6.6.6"] {
        let resp = c.get(s.url(path)).send().await.unwrap();
        all.push_str(&resp.text().await.unwrap());
        all.push('\n');
    }
    all
}

fn addr(a: u8, b: u8, host: u8) -> IpAddr {
    IpAddr::from([127, a, b, host])
}

/// The `network` column of every stored report.
async fn stored_networks(db: &TestDb, b: Backend) -> Vec<String> {
    use sqlx::Connection;
    let sql = "SELECT network FROM reports";
    match b {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            sqlx::query_scalar(sql).fetch_all(&mut conn).await.unwrap()
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
            sqlx::query_scalar(sql).fetch_all(&mut conn).await.unwrap()
        }
    }
}

async fn one_network_cannot_publish_with_any_number_of_pseudonyms(b: Backend) {
    let db = TestDb::new(b).await;
    // The default k and quota; only the per-pseudonym rate limit is beside the point.
    let s = Server::start(&db, &["--rate-limit-per-pseudonym", "0"]);
    let reader = client();

    // 25 fresh pseudonyms from one /24 (different hosts in it), in a burst: the first 20
    // (the default quota of new pseudonyms per network per day) are stored, the rest are
    // refused with 429; none of it is published.
    let mut statuses = Vec::new();
    for d in 0..25u32 {
        let c = client_from(addr(50, 0, 1 + (d % 200) as u8));
        let r = report(1000 + d, "6.6.6", 1, 1, 0, vec![crash(SIG, TEMPLATE, 1)], 1);
        let (status, body) = post_via(&c, &s, &r).await;
        if status == 429 {
            assert_eq!(body["error"], "network_quota", "{body}");
        }
        statuses.push(status);
    }
    assert_eq!(statuses.iter().filter(|&&st| st == 202).count(), 20);
    assert_eq!(statuses.iter().filter(|&&st| st == 429).count(), 5);
    // A pseudonym already seen from the network may go on reporting.
    let again = report(1000, "6.6.6", 1, 0, 0, vec![], 1);
    assert_eq!(
        post_via(&client_from(addr(50, 0, 9)), &s, &again).await.0,
        202
    );
    let (_, list) = get_json(&reader, &s, "/v1/versions").await;
    assert_eq!(list["k"], 5);
    assert_eq!(list["versions"], json!([]), "{list}");
    assert_eq!(list["withheld_versions"], 1, "{list}");
    let (status, _) = get_json(&reader, &s, "/v1/versions/6.6.6").await;
    assert_eq!(status, 404);
    let all = everything(&reader, &s).await;
    assert!(
        !all.contains("6.6.6") && !all.contains("during export"),
        "one network published:\n{all}"
    );

    // The n−1 attack: one real device reports a version; four pseudonyms from one other
    // network join it. Five pseudonyms, two networks: still withheld, signature and all.
    let real = report(1, "7.0.0", 1, 1, 0, vec![crash(SIG, TEMPLATE, 3)], 1);
    assert_eq!(
        post_via(&client_from(addr(60, 0, 1)), &s, &real).await.0,
        202
    );
    for d in 0..4u32 {
        let fake = report(2000 + d, "7.0.0", 1, 1, 0, vec![crash(SIG, TEMPLATE, 1)], 1);
        let c = client_from(addr(61, 0, 1 + d as u8));
        assert_eq!(post_via(&c, &s, &fake).await.0, 202);
    }
    let (_, list) = get_json(&reader, &s, "/v1/versions").await;
    assert_eq!(list["versions"], json!([]), "{list}");
    assert_eq!(list["withheld_versions"], 2, "{list}");
    let all = everything(&reader, &s).await;
    assert!(!all.contains("7.0.0") && !all.contains(SIG), "{all}");

    // Three more devices from three more networks: five networks, eight pseudonyms.
    // Now k is met for the version and the template: the rule is k networks, not "never".
    for (i, net) in [62u8, 63, 64].into_iter().enumerate() {
        let r = report(
            3000 + i as u32,
            "7.0.0",
            1,
            1,
            0,
            vec![crash(SIG, TEMPLATE, 1)],
            1,
        );
        assert_eq!(post_via(&client_from(addr(net, 0, 1)), &s, &r).await.0, 202);
    }
    let (status, v) = get_json(&reader, &s, "/v1/versions/7.0.0").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["devices"], 8);
    assert_eq!(v["top_crashes"][0]["message"], TEMPLATE, "{v}");
    let (_, list) = get_json(&reader, &s, "/v1/versions").await;
    assert_eq!(list["withheld_versions"], 1, "6.6.6 stays withheld: {list}");

    // What the database holds of the networks: 32-hex keyed hashes (no dotted address
    // fits in that alphabet), one per network.
    let nets = stored_networks(&db, b).await;
    assert_eq!(nets.len(), 21 + 5 + 3);
    for n in &nets {
        assert!(
            n.len() == 32 && n.bytes().all(|c| c.is_ascii_hexdigit()),
            "{n:?}"
        );
    }
    let mut distinct = nets.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 1 + 1 + 1 + 3, "{distinct:?}");
}

async fn messages_that_are_not_templates_are_refused_and_not_stored(b: Backend) {
    let db = TestDb::new(b).await;
    let s = Server::start(&db, &["--k", "1"]);
    let c = client();
    for (i, (message, location, code)) in [
        (
            "visit https://evil.example/fix to repair your tracks",
            "src/track.rs:42",
            "not_a_template",
        ),
        ("Buy cheap pills now", "src/track.rs:42", "not_a_template"),
        ("cannot open Anna.gpx", "src/track.rs:42", "not_a_template"),
        ("sync failed  twice", "src/track.rs:42", "not_a_template"),
        (
            "<word> crash\u{202e}",
            "src/track.rs:42",
            "control_character",
        ),
        (
            "crash in track",
            "src/track\u{202e}.rs:42",
            "control_character",
        ),
        (
            "crash in track",
            "src/track.rs:42\u{1b}[2J",
            "control_character",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let mut c0 = crash(SIG, message, 1);
        c0.location = location.into();
        let r = report(i as u32, "1.0.0", 1, 1, 0, vec![c0], 1);
        let (status, body) = post(&c, &s, &r).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (422, Some(code)),
            "{message:?}: {body}"
        );
    }
    assert_eq!(db.store().await.report_count().await.unwrap(), 0);
    let (_, health) = get_json(&c, &s, "/healthz").await;
    assert_eq!(health["counters"]["rejected_invalid"], 7, "{health}");

    // Templates pass, with the location's own words known as on the device.
    for (i, message) in [
        TEMPLATE,
        "<word> <url> to <word> your tracks",
        "index out of bounds: the len is <num> but the index is <num>",
        "upload_queue <word>",
    ]
    .into_iter()
    .enumerate()
    {
        let mut c0 = crash(SIG, message, 1);
        c0.location = "src/sync/upload_queue.rs:7".into();
        let r = report(100 + i as u32, "1.0.0", 1, 1, 0, vec![c0], 1);
        let (status, body) = post(&c, &s, &r).await;
        assert_eq!(status, 202, "{message:?}: {body}");
    }
    assert_eq!(db.store().await.report_count().await.unwrap(), 4);
}

async fn a_burst_of_new_pseudonyms_gets_exactly_the_quota(b: Backend) {
    let db = TestDb::new(b).await;
    let s = Server::start(&db, &["--new-pseudonyms-per-network", "7"]);
    // Warm up (connections, the day's network key) from a network of its own, so a slow
    // machine does not turn the burst's first requests into 503s.
    let warm = report(3999, "1.0.0", 1, 0, 0, vec![], 1);
    assert_eq!(
        post_via(&client_from(addr(72, 0, 1)), &s, &warm).await.0,
        202
    );
    // 30 new pseudonyms from one network at once: the check and the insert are one step,
    // so exactly 7 get in.
    let mut tasks = Vec::new();
    for d in 0..30u32 {
        let s_url = s.url("/v1/reports");
        tasks.push(tokio::spawn(async move {
            let c = client_from(addr(70, 0, 1 + d as u8));
            let r = report(4000 + d, "1.0.0", 1, 0, 0, vec![], 1);
            let resp = c.post(s_url).json(&r).send().await.expect("POST");
            resp.status().as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|&&x| x == 202).count(),
        7,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|&&x| x == 429).count(),
        23,
        "{statuses:?}"
    );
    assert_eq!(
        db.store().await.report_count().await.unwrap(),
        8,
        "7 and the warm-up"
    );
    // Another network has a quota of its own.
    let r = report(5000, "1.0.0", 1, 0, 0, vec![], 1);
    assert_eq!(post_via(&client_from(addr(71, 0, 1)), &s, &r).await.0, 202);
}
