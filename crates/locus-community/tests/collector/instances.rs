//! Limits across instances (issue 20): 1, 2 and 3 real `locus-community` processes on one
//! PostgreSQL. A client's requests spread over the instances are limited once in total
//! (the buckets live in the database), one pseudonym's reports likewise, and every
//! instance serves the same aggregates, equal to what was acknowledged.

use std::time::Instant;

use serde_json::Value;

use locus_report::HealthReport;

use crate::common::{client_from, device_addr, get_json, report, Backend, Server, TestDb};

/// Requests per minute of the limits under test: a burst of this many, then one every 2 s
/// (per client) or 6 s (per pseudonym).
const PER_CLIENT: u32 = 30;
const PER_PSEUDONYM: u32 = 10;

/// At most how many of a flood a limit of `per_minute` may accept in `secs`: the burst
/// plus what refilled meanwhile (the flood's duration is measured, not assumed), plus
/// the 10 % tolerance.
fn allowance(per_minute: u32, secs: f64) -> f64 {
    f64::from(per_minute) * 1.1 + secs * f64::from(per_minute) / 60.0
}

async fn limits_hold_across(instances: usize) {
    let db = TestDb::new(Backend::Postgres).await;
    let (client_limit, pseudonym_limit) = (PER_CLIENT.to_string(), PER_PSEUDONYM.to_string());
    let args = [
        "--k",
        "1",
        "--rate-limit-per-client",
        &client_limit,
        "--rate-limit-per-pseudonym",
        &pseudonym_limit,
        "--new-pseudonyms-per-network",
        "0",
        "--read-cache-ms",
        "0",
    ];
    let servers: Vec<Server> = (0..instances).map(|_| Server::start(&db, &args)).collect();

    // Warm up: each instance opens its connections and fetches the network key of the
    // day (one report each, from a client of its own).
    for (i, s) in servers.iter().enumerate() {
        let r = report(900 + i as u32, "2.9.0", 1, 0, 0, vec![], 1);
        let c = client_from(device_addr(900 + i as u32));
        assert_eq!(post_to(c, s.base.clone(), r).await, 202);
    }

    // One client floods all instances (round robin) with 3× its limit of reports, each of
    // another pseudonym.
    let one_client = client_from("127.250.0.1".parse().unwrap());
    let flood = 3 * PER_CLIENT as usize;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..flood {
        let mut r = report(0, "3.0.0", 2, 1, 0, vec![], 1);
        r.pseudonym = format!("{:064x}", 0xfeed_0000_u64 + i as u64);
        let base = servers[i % instances].base.clone();
        tasks.push(tokio::spawn(post_to(one_client.clone(), base, r)));
    }
    let (mut accepted, mut unavailable) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            202 => accepted += 1,
            429 => {}
            // A busy machine can time a request out waiting for a connection: not
            // acknowledged, so it must not be counted either.
            503 => unavailable += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{instances} instance(s): one client accepted {accepted} of {flood} (limit {PER_CLIENT}/min, {secs:.1} s)"
    );
    assert!(
        accepted + unavailable >= PER_CLIENT,
        "{instances} instances: the burst of {PER_CLIENT} passes the limit (got {accepted} \
         accepted, {unavailable} unavailable)"
    );
    assert!(
        f64::from(accepted) <= allowance(PER_CLIENT, secs),
        "{instances} instances: one client got {accepted} reports through a limit of \
         {PER_CLIENT}/min in {secs:.1} s"
    );

    // One pseudonym reports from many clients (each its own network), round robin.
    let flood = 3 * PER_PSEUDONYM as usize;
    let started = Instant::now();
    let mut pseudonym_accepted = 0;
    let mut tasks = Vec::new();
    for i in 0..flood {
        let r = report(7, "3.1.0", 1, 0, 0, vec![], 1);
        let c = client_from(device_addr(100 + i as u32));
        tasks.push(tokio::spawn(post_to(
            c,
            servers[i % instances].base.clone(),
            r,
        )));
    }
    let mut unavailable = 0;
    for t in tasks {
        match t.await.unwrap() {
            202 => pseudonym_accepted += 1,
            429 => {}
            503 => unavailable += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{instances} instance(s): one pseudonym accepted {pseudonym_accepted} of {flood} (limit {PER_PSEUDONYM}/min, {secs:.1} s)"
    );
    assert!(pseudonym_accepted + unavailable >= PER_PSEUDONYM);
    assert!(
        f64::from(pseudonym_accepted) <= allowance(PER_PSEUDONYM, secs),
        "{instances} instances: one pseudonym got {pseudonym_accepted} reports through a \
         limit of {PER_PSEUDONYM}/min in {secs:.1} s"
    );

    // Every instance serves the same aggregates, equal to what was acknowledged.
    let reader = client_from("127.251.0.1".parse().unwrap());
    let mut answers = Vec::new();
    for s in &servers {
        let (status, v) = get_json(&reader, s, "/v1/versions").await;
        assert_eq!(status, 200, "{v}");
        answers.push(v["versions"].clone());
    }
    let version = |vs: &Value, name: &str| -> Value {
        vs.as_array()
            .unwrap()
            .iter()
            .find(|v| v["version"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("version {name} missing from {vs}"))
    };
    for a in &answers[1..] {
        assert_eq!(a, &answers[0], "every instance answers the same");
    }
    let flooded = version(&answers[0], "3.0.0");
    assert_eq!(
        flooded["devices"], accepted,
        "one device per acknowledged report"
    );
    assert_eq!(
        flooded["sessions"],
        3 * accepted,
        "3 sessions per acknowledged report"
    );
    assert_eq!(flooded["crashed"], accepted);
    let one = version(&answers[0], "3.1.0");
    assert_eq!(one["devices"], 1);
    assert_eq!(one["sessions"], pseudonym_accepted);
    let stored = db.store().await.report_count().await.unwrap();
    assert_eq!(
        stored,
        i64::from(accepted + pseudonym_accepted) + instances as i64,
        "nothing else stored (beside the warm-up reports)"
    );
}

/// POSTs `r` to the server at `base` with `c`; the status.
async fn post_to(c: reqwest::Client, base: String, r: HealthReport) -> u16 {
    let resp = c
        .post(format!("{base}/v1/reports"))
        .json(&r)
        .send()
        .await
        .expect("POST /v1/reports");
    resp.status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_hold_across_one_instance() {
    limits_hold_across(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_hold_across_two_instances() {
    limits_hold_across(2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_hold_across_three_instances() {
    limits_hold_across(3).await;
}
