//! Bulk writes (issue 20): a batch of reports is written with one statement per table —
//! the reports (returning which ids were new), their crashes, and each rollup — instead
//! of one statement per row. Rollup rows are grouped inside the statement (`GROUP BY`
//! over the batch's `VALUES`), so one statement never touches a row twice and minima
//! follow the database's collation exactly as before. Rows are upserted in key order, so
//! concurrent batches on PostgreSQL lock shared rollup rows in the same order and wait
//! for each other briefly instead of deadlocking (measured before: 1 s deadlock timeouts).

/// Most rows in one statement: far below SQLite's 32,766 and PostgreSQL's 65,535 bound
/// parameters at the widest table (14 columns). A valid batch (64 reports of at most 32
/// crashes) always fits in one statement per table.
pub(super) const ROWS_PER_STATEMENT: usize = 2048;

/// `($1, $2, …), (…)`: `rows` rows of `cols` placeholders.
pub(super) fn values(rows: usize, cols: usize) -> String {
    let mut s = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        if r > 0 {
            s.push_str(", ");
        }
        s.push('(');
        for c in 0..cols {
            if c > 0 {
                s.push_str(", ");
            }
            s.push('$');
            s.push_str(&(r * cols + c + 1).to_string());
        }
        s.push(')');
    }
    s
}

pub(super) fn insert_reports(rows: usize) -> String {
    format!(
        "INSERT INTO reports (report_id, pseudonym, app_version, platform, os_family, \
         period_start, period_end, received_at, exited, crashed, abnormal, network, hangs) \
         SELECT column1, column2, column3, column4, column5, column6, column7, column8, \
         column9, column10, column11, column12, column14 FROM (VALUES {}) AS v \
         WHERE NOT EXISTS (SELECT 1 FROM forgotten f WHERE f.report_id = v.column1) \
         AND NOT EXISTS (SELECT 1 FROM deleted_pseudonyms d \
         WHERE d.pseudonym_hash = v.column13) \
         ON CONFLICT (report_id) DO NOTHING RETURNING report_id",
        values(rows, 14)
    )
}

pub(super) fn insert_crashes(rows: usize) -> String {
    format!(
        "INSERT INTO crashes (report_id, signature, kind, message, location, count) \
         VALUES {} ON CONFLICT (report_id, signature) DO NOTHING",
        values(rows, 6)
    )
}

pub(super) fn upsert_version_hours(rows: usize) -> String {
    format!(
        "INSERT INTO version_hours (hour, version, reports, sessions, crashed, abnormal, \
         hangs) \
         SELECT column1, column2, COUNT(*), SUM(column3), SUM(column4), SUM(column5), \
         SUM(column6) \
         FROM (VALUES {}) AS v WHERE true GROUP BY column1, column2 \
         ORDER BY column1, column2 ON CONFLICT (hour, version) DO UPDATE SET \
         reports = version_hours.reports + excluded.reports, \
         sessions = version_hours.sessions + excluded.sessions, \
         crashed = version_hours.crashed + excluded.crashed, \
         abnormal = version_hours.abnormal + excluded.abnormal, \
         hangs = version_hours.hangs + excluded.hangs",
        values(rows, 6)
    )
}

pub(super) fn upsert_crash_hours(rows: usize) -> String {
    format!(
        "INSERT INTO crash_hours (hour, version, signature, kind, location, count) \
         SELECT column1, column2, column3, MIN(column4), MIN(column5), SUM(column6) \
         FROM (VALUES {}) AS v WHERE true GROUP BY column1, column2, column3 \
         ORDER BY column1, column2, column3 \
         ON CONFLICT (hour, version, signature) DO UPDATE SET \
         kind = CASE WHEN excluded.kind < crash_hours.kind \
         THEN excluded.kind ELSE crash_hours.kind END, \
         location = CASE WHEN excluded.location < crash_hours.location \
         THEN excluded.location ELSE crash_hours.location END, \
         count = crash_hours.count + excluded.count",
        values(rows, 6)
    )
}

/// Writes the batch `$jobs` (a `&[Job]`) inside the open transaction `$tx`: evaluates to
/// `Result<Vec<Insert>, sqlx::Error>`, one outcome per job in order. The first statement
/// writes, so SQLite takes its write lock up front.
macro_rules! write_batch_in_tx {
    ($tx:ident, $jobs:expr) => {
        async {
            use ::std::collections::HashSet;
            use $crate::store::bulk;
            use $crate::store::Insert;
            let jobs: &[Job] = $jobs;
            // A report id offered twice in one batch: the first is the one written.
            let mut seen = HashSet::new();
            let firsts: Vec<&Job> = jobs
                .iter()
                .filter(|j| seen.insert(j.report.report_id.as_str()))
                .collect();
            let mut stored_ids: HashSet<String> = HashSet::new();
            for chunk in firsts.chunks(bulk::ROWS_PER_STATEMENT) {
                let sql = bulk::insert_reports(chunk.len());
                let mut q = sqlx::query_scalar::<_, String>(&sql);
                for j in chunk {
                    let r = &j.report;
                    q = q
                        .bind(&r.report_id)
                        .bind(&r.pseudonym)
                        .bind(&r.app_version)
                        .bind(&r.platform)
                        .bind(&r.os_family)
                        .bind(r.period_start.timestamp())
                        .bind(r.period_end.timestamp())
                        .bind(j.received_at)
                        .bind(i64::from(r.sessions.exited))
                        .bind(i64::from(r.sessions.crashed))
                        .bind(i64::from(r.sessions.abnormal))
                        .bind(&j.network)
                        .bind($crate::store::pseudonym_hash(&r.pseudonym).0)
                        .bind(i64::from(r.hangs));
                }
                stored_ids.extend(q.fetch_all(&mut *$tx).await?);
            }
            let stored: Vec<&Job> = firsts
                .iter()
                .copied()
                .filter(|j| stored_ids.contains(&j.report.report_id))
                .collect();

            // Crashes, and the rollups' rows before grouping.
            let mut crashes = Vec::new();
            let mut crash_rows = Vec::new();
            for j in &stored {
                let r = &j.report;
                let end = r.period_end.timestamp();
                for (sig, (kind, message, location, count)) in $crate::store::merged_crashes(r) {
                    crashes.push((&r.report_id, sig, kind, message, location, count));
                    crash_rows.push((j, end, sig, kind, message, location, count));
                }
            }
            for chunk in crashes.chunks(bulk::ROWS_PER_STATEMENT) {
                let sql = bulk::insert_crashes(chunk.len());
                let mut q = sqlx::query(&sql);
                for c in chunk {
                    q = q
                        .bind(c.0)
                        .bind(c.1)
                        .bind(c.2)
                        .bind(c.3)
                        .bind(c.4)
                        .bind(c.5);
                }
                q.execute(&mut *$tx).await?;
            }
            for chunk in stored.chunks(bulk::ROWS_PER_STATEMENT) {
                let sql = bulk::upsert_version_hours(chunk.len());
                let mut q = sqlx::query(&sql);
                for j in chunk {
                    let r = &j.report;
                    let (e, c, a) = (
                        i64::from(r.sessions.exited),
                        i64::from(r.sessions.crashed),
                        i64::from(r.sessions.abnormal),
                    );
                    q = q
                        .bind(r.period_end.timestamp().div_euclid(3600))
                        .bind(&r.app_version)
                        .bind(e + c + a)
                        .bind(c)
                        .bind(a)
                        .bind(i64::from(r.hangs));
                }
                q.execute(&mut *$tx).await?;
            }
            for chunk in crash_rows.chunks(bulk::ROWS_PER_STATEMENT) {
                let sql = bulk::upsert_crash_hours(chunk.len());
                let mut q = sqlx::query(&sql);
                for (j, end, sig, kind, _, location, count) in chunk {
                    q = q
                        .bind(end.div_euclid(3600))
                        .bind(&j.report.app_version)
                        .bind(*sig)
                        .bind(*kind)
                        .bind(*location)
                        .bind(*count);
                }
                q.execute(&mut *$tx).await?;
            }

            // Distinct counts: the members each stored report shows, by kind.
            let mut seen: Vec<Vec<$crate::store::distinct::Seen>> =
                vec![Vec::new(); $crate::store::distinct::KINDS.len()];
            {
                use $crate::store::distinct::{self, seen as at};
                for j in &stored {
                    let r = &j.report;
                    let (v, p, n) = (r.app_version.as_str(), r.pseudonym.as_str(), j.network.as_str());
                    let end = r.period_end.timestamp();
                    let day = end.div_euclid(86_400);
                    seen[distinct::DEV].push(at(v, "", "", 0, p, end));
                    if r.sessions.crashed > 0 {
                        seen[distinct::CRASH].push(at(v, "", "", 0, p, end));
                    }
                    seen[distinct::NET].push(at(v, "", "", 0, n, end));
                    seen[distinct::DAYDEV].push(at(v, "", "", day, p, end));
                    seen[distinct::DAYNET].push(at(v, "", "", day, n, end));
                }
                for (j, end, sig, _, message, _, _) in &crash_rows {
                    let r = &j.report;
                    let (v, p, n) = (r.app_version.as_str(), r.pseudonym.as_str(), j.network.as_str());
                    seen[distinct::SIG].push(at(v, sig, "", 0, p, *end));
                    seen[distinct::TPL].push(at(v, sig, message, 0, p, *end));
                    seen[distinct::TPLNET].push(at(v, sig, message, 0, n, *end));
                }
            }
            distinct_upsert_in_tx!($tx, &seen)?;

            // Outcomes in order; an unwritten report is a retry, or refused (rare: one
            // look-up each).
            let mut first_done: HashSet<&str> = HashSet::new();
            let mut outcomes = Vec::with_capacity(jobs.len());
            for j in jobs {
                let id = j.report.report_id.as_str();
                let first = first_done.insert(id);
                if first && stored_ids.contains(id) {
                    outcomes.push(Insert::Stored);
                    continue;
                }
                let refused: i64 = sqlx::query_scalar($crate::store::REFUSED)
                    .bind($crate::store::pseudonym_hash(&j.report.pseudonym).0)
                    .bind(id)
                    .fetch_one(&mut *$tx)
                    .await?;
                outcomes.push(if refused > 0 {
                    Insert::Refused
                } else {
                    Insert::Duplicate
                });
            }
            Ok::<Vec<Insert>, sqlx::Error>(outcomes)
        }
        .await
    };
}
