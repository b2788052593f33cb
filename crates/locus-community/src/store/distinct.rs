//! Exact distinct counts kept at ingest (issue 20; schema and reasoning in
//! migrations/0006_distinct_counts.sql): per counted group and member the latest period
//! end, and per group and bucket how many members have their latest end there. A read
//! sums buckets (O(buckets × groups)) plus the members of the window's first, partial
//! bucket; nothing scans devices or device-days.
//!
//! Writers upsert `distinct_last` one statement per kind (kinds in a fixed order, rows in
//! key order, so concurrent PostgreSQL batches lock rows in the same order), read back
//! each row's previous latest end, and move the member between buckets in
//! `distinct_counts`. Deletions do the same backwards (see `delete_in_tx!`).

use std::collections::BTreeMap;

/// The kinds of distinct count, in the order writers lock them.
pub(super) const KINDS: [&str; 8] = [
    "dev", "crash", "net", "sig", "tpl", "tplnet", "daydev", "daynet",
];
pub(super) const DEV: usize = 0;
pub(super) const CRASH: usize = 1;
pub(super) const NET: usize = 2;
pub(super) const SIG: usize = 3;
pub(super) const TPL: usize = 4;
pub(super) const TPLNET: usize = 5;
pub(super) const DAYDEV: usize = 6;
pub(super) const DAYNET: usize = 7;

/// Kinds whose member is a network (a deletion recomputes its rows from the remaining
/// reports; the other kinds' member is a pseudonym, whose rows a deletion removes).
pub(super) const NETWORK_KINDS: [usize; 3] = [NET, TPLNET, DAYNET];

/// Most rows in one counts statement: 7 columns × 4096 stays below SQLite's 32,766 bound
/// parameters, and one kind's deltas of a valid batch (≤ 2 × 64 reports × 32 crashes)
/// always fit.
pub(super) const COUNT_ROWS_PER_STATEMENT: usize = 4096;

/// The bucket of a latest end: the hour for the per-day chart kinds, else the UTC day.
pub(super) fn bucket(kind: usize, end: i64) -> i64 {
    if kind == DAYDEV || kind == DAYNET {
        end.div_euclid(3600)
    } else {
        end.div_euclid(86_400)
    }
}

/// One member seen in a group, with the end of the report that shows it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Seen<'a> {
    pub version: &'a str,
    pub signature: &'a str,
    pub template: &'a str,
    pub day: i64,
    pub member: &'a str,
    pub end: i64,
}

/// A [`Seen`].
pub(super) fn seen<'a>(
    version: &'a str,
    signature: &'a str,
    template: &'a str,
    day: i64,
    member: &'a str,
    end: i64,
) -> Seen<'a> {
    Seen {
        version,
        signature,
        template,
        day,
        member,
        end,
    }
}

/// A group and bucket of `distinct_counts`: (kind, version, signature, template, day,
/// bucket).
pub(super) type CountKey = (usize, String, String, String, i64, i64);

/// Count changes, keyed in lock order.
pub(super) type Deltas = BTreeMap<CountKey, i64>;

/// Records in `deltas` that a member of `kind` in a group moved from latest end `prev`
/// (None: new member; in a deletion, `to` None: gone) to `to`.
pub(super) fn record(
    deltas: &mut Deltas,
    kind: usize,
    group: (&str, &str, &str, i64),
    prev: Option<i64>,
    to: Option<i64>,
) {
    let from = prev.map(|e| bucket(kind, e));
    let to = to.map(|e| bucket(kind, e));
    if from == to {
        return;
    }
    let key = |b: i64| {
        (
            kind,
            group.0.to_owned(),
            group.1.to_owned(),
            group.2.to_owned(),
            group.3,
            b,
        )
    };
    if let Some(b) = from {
        *deltas.entry(key(b)).or_insert(0) -= 1;
    }
    if let Some(b) = to {
        *deltas.entry(key(b)).or_insert(0) += 1;
    }
    // The chart kinds' day totals change only when a member joins or leaves.
    if kind == DAYDEV || kind == DAYNET {
        match (from, to) {
            (None, Some(_)) => *deltas.entry(key(DAY_TOTAL)).or_insert(0) += 1,
            (Some(_), None) => *deltas.entry(key(DAY_TOTAL)).or_insert(0) -= 1,
            _ => {}
        }
    }
}

/// The bucket of a chart kind's day total (every member of the group, whatever its hour).
pub(super) const DAY_TOTAL: i64 = -1;

/// Upserts `rows` members of one kind; returns each row's group, previous latest end
/// (NULL: inserted now) and latest end.
pub(super) fn upsert_last(kind: usize, rows: usize) -> String {
    format!(
        "INSERT INTO distinct_last (kind, version, signature, template, day, member, \
         last_end, prev_end) \
         SELECT '{}', column1, column2, column3, column4, column5, MAX(column6), \
         CAST(NULL AS BIGINT) FROM (VALUES {}) AS v WHERE true \
         GROUP BY column1, column2, column3, column4, column5 \
         ORDER BY column1, column2, column3, column4, column5 \
         ON CONFLICT (kind, version, signature, template, day, member) DO UPDATE SET \
         prev_end = distinct_last.last_end, \
         last_end = CASE WHEN excluded.last_end > distinct_last.last_end \
         THEN excluded.last_end ELSE distinct_last.last_end END \
         RETURNING version, signature, template, day, prev_end, last_end",
        KINDS[kind],
        super::bulk::values(rows, 6)
    )
}

/// Adds `rows` deltas to `distinct_counts`, in key order.
pub(super) fn upsert_counts(rows: usize) -> String {
    format!(
        "INSERT INTO distinct_counts (kind, version, signature, template, day, bucket, n) \
         SELECT column1, column2, column3, column4, column5, column6, \
         CAST(SUM(column7) AS BIGINT) FROM (VALUES {}) AS v WHERE true \
         GROUP BY column1, column2, column3, column4, column5, column6 \
         ORDER BY column1, column2, column3, column4, column5, column6 \
         ON CONFLICT (kind, version, signature, template, day, bucket) DO UPDATE SET \
         n = distinct_counts.n + excluded.n",
        super::bulk::values(rows, 7)
    )
}

/// A pseudonym's rows of the pseudonym kinds (`$1` = pseudonym), in key order.
pub(super) const PSEUDONYM_ROWS: &str = "SELECT kind, version, signature, template, day, \
     last_end FROM distinct_last WHERE member = $1 \
     AND kind IN ('dev', 'crash', 'sig', 'tpl', 'daydev') \
     ORDER BY kind, version, signature, template, day";
pub(super) const DELETE_PSEUDONYM_ROWS: &str = "DELETE FROM distinct_last WHERE member = $1 \
     AND kind IN ('dev', 'crash', 'sig', 'tpl', 'daydev')";
/// The networks a pseudonym's reports came from.
pub(super) const PSEUDONYM_NETWORKS: &str =
    "SELECT DISTINCT network FROM reports WHERE pseudonym = $1";
/// A network's rows of the network kinds (`$1` = network), in key order.
pub(super) const NETWORK_ROWS: &str = "SELECT kind, version, signature, template, day, \
     last_end FROM distinct_last WHERE member = $1 \
     AND kind IN ('net', 'tplnet', 'daynet') \
     ORDER BY kind, version, signature, template, day";
/// The latest end of a network's reports in a group, without pseudonym `$3`'s:
/// `$1` version, `$2` network, then `$4` day (daynet) or `$4` signature and `$5` template
/// (tplnet).
pub(super) const NETWORK_LATEST: [&str; 3] = [
    "SELECT MAX(period_end) FROM reports WHERE app_version = $1 AND network = $2 \
     AND pseudonym <> $3",
    "SELECT MAX(r.period_end) FROM crashes c JOIN reports r ON r.report_id = c.report_id \
     WHERE r.app_version = $1 AND r.network = $2 AND r.pseudonym <> $3 \
     AND c.signature = $4 AND c.message = $5",
    "SELECT MAX(period_end) FROM reports WHERE app_version = $1 AND network = $2 \
     AND pseudonym <> $3 AND period_end >= CAST($4 AS BIGINT) * 86400 \
     AND period_end < (CAST($4 AS BIGINT) + 1) * 86400",
];
pub(super) const SET_LAST: &str = "UPDATE distinct_last SET last_end = $7 WHERE kind = $1 \
     AND version = $2 AND signature = $3 AND template = $4 AND day = $5 AND member = $6";
pub(super) const DELETE_LAST: &str = "DELETE FROM distinct_last WHERE kind = $1 \
     AND version = $2 AND signature = $3 AND template = $4 AND day = $5 AND member = $6";

/// Upserts the members seen in a batch (`$seen`: `[Vec<Seen>; 8]`, by kind) inside the
/// open transaction `$tx` and applies the count changes. Evaluates to
/// `Result<(), sqlx::Error>`.
macro_rules! distinct_upsert_in_tx {
    ($tx:ident, $seen:expr) => {
        async {
            use $crate::store::distinct;
            let seen: &[Vec<distinct::Seen>] = $seen;
            let mut deltas = distinct::Deltas::new();
            for (kind, rows) in seen.iter().enumerate() {
                for chunk in rows.chunks($crate::store::bulk::ROWS_PER_STATEMENT) {
                    let sql = distinct::upsert_last(kind, chunk.len());
                    let mut q =
                        sqlx::query_as::<_, (String, String, String, i64, Option<i64>, i64)>(&sql);
                    for s in chunk {
                        q = q
                            .bind(s.version)
                            .bind(s.signature)
                            .bind(s.template)
                            .bind(s.day)
                            .bind(s.member)
                            .bind(s.end);
                    }
                    for (version, signature, template, day, prev, last) in
                        q.fetch_all(&mut *$tx).await?
                    {
                        distinct::record(
                            &mut deltas,
                            kind,
                            (&version, &signature, &template, day),
                            prev,
                            Some(last),
                        );
                    }
                }
            }
            distinct_apply_in_tx!($tx, &deltas)
        }
        .await
    };
}

/// Adds `$deltas` (a `&Deltas`) to `distinct_counts` inside `$tx`, one statement per kind.
macro_rules! distinct_apply_in_tx {
    ($tx:ident, $deltas:expr) => {
        async {
            use $crate::store::distinct;
            let deltas: &distinct::Deltas = $deltas;
            let mut by_kind: Vec<Vec<(&distinct::CountKey, i64)>> =
                vec![Vec::new(); distinct::KINDS.len()];
            for (key, &n) in deltas {
                if n != 0 {
                    by_kind[key.0].push((key, n));
                }
            }
            for rows in &by_kind {
                for chunk in rows.chunks(distinct::COUNT_ROWS_PER_STATEMENT) {
                    let sql = distinct::upsert_counts(chunk.len());
                    let mut q = sqlx::query(&sql);
                    for (key, n) in chunk {
                        q = q
                            .bind(distinct::KINDS[key.0])
                            .bind(&key.1)
                            .bind(&key.2)
                            .bind(&key.3)
                            .bind(key.4)
                            .bind(key.5)
                            .bind(*n);
                    }
                    q.execute(&mut *$tx).await?;
                }
            }
            Ok::<(), sqlx::Error>(())
        }
        .await
    };
}

/// Removes pseudonym `$pseudonym`'s members (before its reports are deleted) inside `$tx`:
/// its rows of the pseudonym kinds go; the rows of its networks are recomputed from the
/// other pseudonyms' reports. `$lock` is `" FOR UPDATE"` on PostgreSQL, else `""`.
/// Evaluates to `Result<(), sqlx::Error>`.
macro_rules! distinct_delete_in_tx {
    ($tx:ident, $pseudonym:expr, $lock:expr) => {
        async {
            use $crate::store::distinct;
            let pseudonym: &str = $pseudonym;
            let lock: &str = $lock;
            let kind_of = |k: &str| distinct::KINDS.iter().position(|n| *n == k);
            let mut deltas = distinct::Deltas::new();
            let sql = format!("{}{lock}", distinct::PSEUDONYM_ROWS);
            let rows: Vec<(String, String, String, String, i64, i64)> = sqlx::query_as(&sql)
                .bind(pseudonym)
                .fetch_all(&mut *$tx)
                .await?;
            for (kind, version, signature, template, day, last) in &rows {
                if let Some(kind) = kind_of(kind) {
                    let group = (
                        version.as_str(),
                        signature.as_str(),
                        template.as_str(),
                        *day,
                    );
                    distinct::record(&mut deltas, kind, group, Some(*last), None);
                }
            }
            sqlx::query(distinct::DELETE_PSEUDONYM_ROWS)
                .bind(pseudonym)
                .execute(&mut *$tx)
                .await?;
            let mut networks: Vec<String> = sqlx::query_scalar(distinct::PSEUDONYM_NETWORKS)
                .bind(pseudonym)
                .fetch_all(&mut *$tx)
                .await?;
            networks.sort();
            let sql = format!("{}{lock}", distinct::NETWORK_ROWS);
            for network in &networks {
                let rows: Vec<(String, String, String, String, i64, i64)> = sqlx::query_as(&sql)
                    .bind(network)
                    .fetch_all(&mut *$tx)
                    .await?;
                for (kind_name, version, signature, template, day, last) in &rows {
                    let Some(kind) = kind_of(kind_name) else {
                        continue;
                    };
                    let Some(which) = distinct::NETWORK_KINDS.iter().position(|k| *k == kind)
                    else {
                        continue;
                    };
                    let q = sqlx::query_scalar(distinct::NETWORK_LATEST[which])
                        .bind(version)
                        .bind(network)
                        .bind(pseudonym);
                    let q = match which {
                        0 => q,
                        1 => q.bind(signature).bind(template),
                        _ => q.bind(*day),
                    };
                    let latest: Option<i64> = q.fetch_one(&mut *$tx).await?;
                    if latest == Some(*last) {
                        continue;
                    }
                    let sql = if latest.is_some() {
                        distinct::SET_LAST
                    } else {
                        distinct::DELETE_LAST
                    };
                    let mut q = sqlx::query(sql)
                        .bind(kind_name)
                        .bind(version)
                        .bind(signature)
                        .bind(template)
                        .bind(*day)
                        .bind(network);
                    if let Some(latest) = latest {
                        q = q.bind(latest);
                    }
                    q.execute(&mut *$tx).await?;
                    let group = (
                        version.as_str(),
                        signature.as_str(),
                        template.as_str(),
                        *day,
                    );
                    distinct::record(&mut deltas, kind, group, Some(*last), latest);
                }
            }
            distinct_apply_in_tx!($tx, &deltas)
        }
        .await
    };
}
