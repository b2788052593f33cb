//! The rollups (issue 20) against the oracle: every aggregate read from the rollups must
//! equal what the original queries over the raw reports give, for windows starting at any
//! second (mid-hour, mid-day), with duplicates offered, and after deletions.

use chrono::{DateTime, Utc};
use locus_community::store::{DayRow, SignatureRow, Store, TemplateRow, VersionRow};
use locus_report::{CrashSignature, HealthReport, SessionCounts, SCHEMA_VERSION};
use sqlx::Connection;

use crate::common::{report_id, Backend, TestDb};

const VERSIONS: &str = "SELECT app_version AS version, \
     CAST(SUM(exited + crashed + abnormal) AS BIGINT) AS sessions, \
     CAST(SUM(crashed) AS BIGINT) AS crashed, \
     CAST(SUM(abnormal) AS BIGINT) AS abnormal, \
     CAST(SUM(hangs) AS BIGINT) AS hangs, \
     COUNT(DISTINCT pseudonym) AS devices, \
     COUNT(DISTINCT CASE WHEN crashed > 0 THEN pseudonym END) AS crashed_devices, \
     COUNT(DISTINCT network) AS networks \
     FROM reports WHERE period_end >= $1 GROUP BY app_version";

const SIGNATURES: &str = "SELECT r.app_version AS version, c.signature AS signature, \
     MIN(c.kind) AS kind, MIN(c.location) AS location, \
     CAST(SUM(c.count) AS BIGINT) AS count, COUNT(DISTINCT r.pseudonym) AS devices \
     FROM crashes c JOIN reports r ON r.report_id = c.report_id \
     WHERE r.period_end >= $1 GROUP BY r.app_version, c.signature";

const TEMPLATES: &str = "SELECT r.app_version AS version, c.signature AS signature, \
     c.message AS template, COUNT(DISTINCT r.pseudonym) AS devices, \
     COUNT(DISTINCT r.network) AS networks \
     FROM crashes c JOIN reports r ON r.report_id = c.report_id \
     WHERE r.period_end >= $1 GROUP BY r.app_version, c.signature, c.message \
     HAVING COUNT(DISTINCT r.pseudonym) >= $2 AND COUNT(DISTINCT r.network) >= $2";

const DAYS: &str = "SELECT app_version AS version, period_end / 86400 AS day, \
     CAST(SUM(exited + crashed + abnormal) AS BIGINT) AS sessions, \
     CAST(SUM(crashed) AS BIGINT) AS crashed, \
     COUNT(DISTINCT pseudonym) AS devices, COUNT(DISTINCT network) AS networks \
     FROM reports WHERE period_end >= $1 GROUP BY app_version, period_end / 86400";

struct Oracle {
    versions: Vec<VersionRow>,
    signatures: Vec<SignatureRow>,
    templates: Vec<TemplateRow>,
    days: Vec<DayRow>,
}

macro_rules! oracle_on {
    ($conn:expr, $since:expr, $k:expr) => {{
        let c = &mut $conn;
        Oracle {
            versions: sqlx::query_as(VERSIONS)
                .bind($since)
                .fetch_all(&mut *c)
                .await
                .unwrap(),
            signatures: sqlx::query_as(SIGNATURES)
                .bind($since)
                .fetch_all(&mut *c)
                .await
                .unwrap(),
            templates: sqlx::query_as(TEMPLATES)
                .bind($since)
                .bind($k)
                .fetch_all(&mut *c)
                .await
                .unwrap(),
            days: sqlx::query_as(DAYS)
                .bind($since)
                .fetch_all(&mut *c)
                .await
                .unwrap(),
        }
    }};
}

async fn oracle(db: &TestDb, b: Backend, since: i64, k: i64) -> Oracle {
    match b {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            oracle_on!(conn, since, k)
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
            oracle_on!(conn, since, k)
        }
    }
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

/// A small deterministic generator (no dependency, same data on every run).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

fn random_report(g: &mut Lcg, now: i64) -> (HealthReport, String) {
    let end = now - i64::try_from(g.next(40 * 86_400)).unwrap();
    let end = DateTime::<Utc>::from_timestamp(end, 0).unwrap();
    let device = g.next(15);
    let mut crashes = Vec::new();
    for _ in 0..g.next(3) {
        crashes.push(CrashSignature {
            signature: format!("{:016x}", 0xa0 + g.next(3)),
            kind: ["panic", "signal"][g.next(2) as usize].into(),
            message: ["cannot open <path>", "index out of bounds"][g.next(2) as usize].into(),
            location: ["src/a.rs:1", "src/B.rs:2"][g.next(2) as usize].into(),
            count: 1 + g.next(3) as u32,
        });
    }
    let r = HealthReport {
        schema: SCHEMA_VERSION,
        report_id: report_id(),
        pseudonym: format!("{:064x}", 0xbeef_0000 + device),
        app_version: ["1.0.0", "1.1.0", "2.0.0"][g.next(3) as usize].into(),
        platform: "linux".into(),
        os_family: "unix".into(),
        period_start: end - chrono::Duration::hours(1),
        period_end: end,
        sessions: SessionCounts {
            exited: g.next(4) as u32,
            crashed: g.next(3) as u32,
            abnormal: g.next(2) as u32,
        },
        crashes,
        metrics: vec![],
        hangs: g.next(4) as u32,
    };
    // Devices mostly keep their network, sometimes roam.
    let network = format!("net{}", (device + g.next(2)) % 6);
    (r, network)
}

async fn assert_same(store: &Store, db: &TestDb, b: Backend, since: i64, what: &str) {
    let k = 2;
    let want = oracle(db, b, since, k).await;
    let versions = sorted(store.versions(since, None).await.unwrap());
    assert!(
        !want.versions.is_empty(),
        "{what}: the window holds reports"
    );
    assert_eq!(versions, sorted(want.versions), "{what}: versions");
    assert_eq!(
        sorted(store.signatures(since, None).await.unwrap()),
        sorted(want.signatures),
        "{what}: signatures"
    );
    assert_eq!(
        sorted(store.templates(since, 2, None).await.unwrap()),
        sorted(want.templates),
        "{what}: templates"
    );
    assert_eq!(
        sorted(store.days(since).await.unwrap()),
        sorted(want.days),
        "{what}: days"
    );
    // One version alone is that version's rows of the whole answer.
    let one = &versions[0].version;
    assert_eq!(
        store.versions(since, Some(one)).await.unwrap(),
        vec![versions[0].clone()],
        "{what}: one version"
    );
    let all_sigs = sorted(store.signatures(since, None).await.unwrap());
    let one_sigs: Vec<_> = all_sigs.into_iter().filter(|s| &s.version == one).collect();
    assert_eq!(
        sorted(store.signatures(since, Some(one)).await.unwrap()),
        one_sigs,
        "{what}: one version's signatures"
    );
}

async fn rollups_equal_the_raw_aggregates(b: Backend) {
    let db = TestDb::new(b).await;
    let store = db.store().await;
    let now = Utc::now().timestamp();
    let mut g = Lcg(20);
    let mut offered = Vec::new();
    for _ in 0..300 {
        offered.push(random_report(&mut g, now));
    }
    // Offered all at once (so batches hold many reports, one statement per table each),
    // the first 30 twice: each report id is stored exactly once.
    let mut tasks = Vec::new();
    for (r, network) in offered.iter().chain(offered.iter().take(30)) {
        let (store, r, network) = (store.clone(), r.clone(), network.clone());
        tasks.push(tokio::spawn(async move {
            let id = r.report_id.clone();
            (id, store.insert(r, now, network).await.unwrap())
        }));
    }
    let mut stored = std::collections::HashMap::new();
    for t in tasks {
        let (id, outcome) = t.await.unwrap();
        if outcome == locus_community::store::Insert::Stored {
            *stored.entry(id).or_insert(0) += 1;
        }
    }
    assert_eq!(stored.len(), 300);
    assert!(stored.values().all(|&n| n == 1), "each report stored once");
    // Retries of stored reports change nothing.
    for (r, network) in offered.iter().take(20) {
        let again = store.insert(r.clone(), now, network.clone()).await.unwrap();
        assert_eq!(again, locus_community::store::Insert::Duplicate);
    }
    let windows = [
        ("30 days", now - 30 * 86_400),
        ("7 days and a bit", now - 7 * 86_400 - 1_234),
        (
            "an hour boundary",
            (now - 3 * 86_400).div_euclid(3600) * 3600,
        ),
        (
            "a day boundary",
            (now - 5 * 86_400).div_euclid(86_400) * 86_400,
        ),
        ("everything", now - 50 * 86_400),
    ];
    for (what, since) in windows {
        assert_same(&store, &db, b, since, what).await;
    }
    for device in [3u64, 7] {
        let gone = store
            .delete_pseudonym(&format!("{:064x}", 0xbeef_0000 + device))
            .await
            .unwrap();
        assert!(gone > 0, "device {device} had reports");
    }
    for (what, since) in windows {
        assert_same(&store, &db, b, since, &format!("{what}, after deletions")).await;
    }
}

both_backends!(rollups_equal_the_raw_aggregates);

/// The raw rows the distinct counts are recomputed from: one per report and crash
/// signature (signature and template NULL for a report without crashes).
type RawRow = (
    String,
    String,
    String,
    i64,
    i64,
    Option<String>,
    Option<String>,
);
const RAW: &str = "SELECT r.pseudonym, r.network, r.app_version, r.period_end, r.crashed, \
     c.signature, c.message FROM reports r LEFT JOIN crashes c ON c.report_id = r.report_id";
const COUNTS: &str = "SELECT kind, version, signature, template, day, bucket, n \
     FROM distinct_counts WHERE n <> 0";
type CountRow = (String, String, String, String, i64, i64, i64);

/// `distinct_counts` recomputed from the raw reports, independently of the store's code:
/// per kind and group, each member's latest period end, counted in its bucket.
fn recompute(raw: &[RawRow]) -> Vec<CountRow> {
    use std::collections::BTreeMap;
    let mut last: BTreeMap<(&str, String, String, String, i64, String), i64> = BTreeMap::new();
    let mut see = |kind: &'static str, g: (&str, &str, &str, i64), member: &str, end: i64| {
        let key = (
            kind,
            g.0.to_string(),
            g.1.to_string(),
            g.2.to_string(),
            g.3,
            member.to_string(),
        );
        let e = last.entry(key).or_insert(end);
        *e = (*e).max(end);
    };
    for (p, net, v, end, crashed, sig, tpl) in raw {
        let day = end.div_euclid(86_400);
        see("dev", (v, "", "", 0), p, *end);
        if *crashed > 0 {
            see("crash", (v, "", "", 0), p, *end);
        }
        see("net", (v, "", "", 0), net, *end);
        see("daydev", (v, "", "", day), p, *end);
        see("daynet", (v, "", "", day), net, *end);
        if let (Some(sig), Some(tpl)) = (sig, tpl) {
            see("sig", (v, sig, "", 0), p, *end);
            see("tpl", (v, sig, tpl, 0), p, *end);
            see("tplnet", (v, sig, tpl, 0), net, *end);
        }
    }
    let mut counts: BTreeMap<(String, String, String, String, i64, i64), i64> = BTreeMap::new();
    for ((kind, v, s, t, day, _), end) in last {
        let bucket = if kind.starts_with("day") {
            // The chart kinds also count every member in the day's total (bucket -1).
            *counts
                .entry((kind.to_string(), v.clone(), s.clone(), t.clone(), day, -1))
                .or_insert(0) += 1;
            end.div_euclid(3600)
        } else {
            end.div_euclid(86_400)
        };
        *counts
            .entry((kind.to_string(), v, s, t, day, bucket))
            .or_insert(0) += 1;
    }
    counts
        .into_iter()
        .map(|((k, v, s, t, d, b), n)| (k, v, s, t, d, b, n))
        .collect()
}

async fn counts_and_raw(db: &TestDb, b: Backend) -> (Vec<CountRow>, Vec<RawRow>) {
    match b {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            let counts = sqlx::query_as(COUNTS).fetch_all(&mut c).await.unwrap();
            (counts, sqlx::query_as(RAW).fetch_all(&mut c).await.unwrap())
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
            let counts = sqlx::query_as(COUNTS).fetch_all(&mut c).await.unwrap();
            (counts, sqlx::query_as(RAW).fetch_all(&mut c).await.unwrap())
        }
    }
}

async fn assert_counts_recomputed(db: &TestDb, b: Backend, what: &str) {
    let (counts, raw) = counts_and_raw(db, b).await;
    assert!(!raw.is_empty(), "{what}: reports are stored");
    assert_eq!(sorted(counts), recompute(&raw), "{what}: distinct_counts");
}

/// The distinct counts kept at ingest equal a recomputation from the raw rows: after
/// concurrent batches with duplicates, after deletions (which recompute the rows of the
/// deleted device's networks), and after retention prunes whole days.
async fn distinct_counts_equal_a_recomputation_from_the_raw_rows(b: Backend) {
    let db = TestDb::new(b).await;
    let store = db.store().await;
    let now = Utc::now().timestamp();
    let mut g = Lcg(7);
    let offered: Vec<_> = (0..400).map(|_| random_report(&mut g, now)).collect();
    let mut tasks = Vec::new();
    for (r, network) in offered.iter().chain(offered.iter().take(40)) {
        let (store, r, network) = (store.clone(), r.clone(), network.clone());
        tasks.push(tokio::spawn(async move {
            store.insert(r, now, network).await.unwrap()
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_counts_recomputed(&db, b, "after ingest").await;
    for device in [2u64, 5, 11] {
        let gone = store
            .delete_pseudonym(&format!("{:064x}", 0xbeef_0000 + device))
            .await
            .unwrap();
        assert!(gone > 0, "device {device} had reports");
    }
    assert_counts_recomputed(&db, b, "after deletions").await;
    let cutoff = (now - 20 * 86_400).div_euclid(86_400) * 86_400;
    let pruned = store.prune(cutoff, 0).await.unwrap();
    assert!(pruned > 0, "the prune removed reports");
    assert_counts_recomputed(&db, b, "after pruning").await;
    // Late reports after the prune still land in the right buckets.
    let late: Vec<_> = (0..50).map(|_| random_report(&mut g, now)).collect();
    for (r, network) in late {
        if r.period_end.timestamp() >= cutoff {
            store.insert(r, now, network).await.unwrap();
        }
    }
    assert_counts_recomputed(&db, b, "after late reports").await;
}

both_backends!(distinct_counts_equal_a_recomputation_from_the_raw_rows);
