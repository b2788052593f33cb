//! Storage of reports: one [`Store`] over SQLite (the embedded default) or PostgreSQL
//! (shared by several stateless collectors). The SQL is written once, portable between the
//! two, and run on whichever pool the URL chose: [`on_pool!`] expands a body once per
//! backend so each copy is type-checked against its own driver.
//!
//! Reports are written through `batch` (group commit); deletions and reads go to the
//! pools directly. Everything here is plain data in, plain rows out; the rules about what
//! may be shown (k-anonymity, rates, comparisons) live in `aggregate`.

/// Writes one report inside the open transaction `$tx` (a `Transaction` variable):
/// evaluates to `Result<Insert, sqlx::Error>`. The first statement writes, so SQLite takes
/// its write lock up front (a read-then-write transaction could fail to upgrade).
macro_rules! insert_in_tx {
    ($tx:ident, $report:expr, $received_at:expr, $network:expr) => {
        async {
            let r: &::locus_report::HealthReport = $report;
            let received_at: i64 = $received_at;
            let network: &str = $network;
            let done = sqlx::query($crate::store::INSERT_REPORT)
                .bind(&r.report_id)
                .bind(&r.pseudonym)
                .bind(&r.app_version)
                .bind(&r.platform)
                .bind(&r.os_family)
                .bind(r.period_start.timestamp())
                .bind(r.period_end.timestamp())
                .bind(received_at)
                .bind(i64::from(r.sessions.exited))
                .bind(i64::from(r.sessions.crashed))
                .bind(i64::from(r.sessions.abnormal))
                .bind(network)
                .execute(&mut *$tx)
                .await?;
            if done.rows_affected() == 0 {
                return Ok::<_, sqlx::Error>($crate::store::Insert::Duplicate);
            }
            for (sig, (kind, message, location, count)) in $crate::store::merged_crashes(r) {
                sqlx::query($crate::store::INSERT_CRASH)
                    .bind(&r.report_id)
                    .bind(sig)
                    .bind(kind)
                    .bind(message)
                    .bind(location)
                    .bind(count)
                    .execute(&mut *$tx)
                    .await?;
            }
            for m in &r.metrics {
                sqlx::query($crate::store::INSERT_METRIC)
                    .bind(&r.report_id)
                    .bind(&m.name)
                    .bind(&m.kind)
                    // BIGINT is signed: clamp the (absurd) counts above i64::MAX.
                    .bind(i64::try_from(m.count).unwrap_or(i64::MAX))
                    .bind(m.sum)
                    .bind(m.min)
                    .bind(m.max)
                    .execute(&mut *$tx)
                    .await?;
            }
            Ok($crate::store::Insert::Stored)
        }
        .await
    };
}

mod batch;
mod postgres;
mod sqlite;

use std::collections::BTreeMap;

use locus_report::HealthReport;
use sqlx::{PgPool, SqlitePool};

/// A report's crash signatures by signature: one signature may appear twice in a
/// report, so counts are merged rather than failing on the primary key.
fn merged_crashes(r: &HealthReport) -> BTreeMap<&str, (&str, &str, &str, i64)> {
    let mut crashes = BTreeMap::new();
    for c in &r.crashes {
        let e = crashes.entry(c.signature.as_str()).or_insert((
            c.kind.as_str(),
            c.message.as_str(),
            c.location.as_str(),
            0i64,
        ));
        e.3 = e.3.saturating_add(i64::from(c.count));
    }
    crashes
}

/// The schema, built into the binary and applied on start (idempotent).
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Why storage failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The `--db` URL names no backend this build has.
    #[error("unsupported database URL (expected sqlite:// or postgres://)")]
    UnsupportedUrl,
    /// The driver failed.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// The SQLite writer task is gone (the store is shutting down).
    #[error("the database writer has stopped")]
    WriterGone,
    /// Applying the built-in migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Which backend a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite in a local file.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// The database: connection pools to one of the two backends.
#[derive(Debug, Clone)]
pub struct Store {
    inner: Inner,
}

#[derive(Debug, Clone)]
enum Inner {
    /// SQLite (WAL mode, created on first start): one writer connection, so writes queue
    /// in order in this process instead of spinning in SQLite's busy handler, and a pool
    /// of readers that WAL lets run beside it.
    Sqlite {
        /// The single writer.
        write: SqlitePool,
        /// Readers.
        read: SqlitePool,
        /// Queues reports for the writer, which commits them in batches.
        batcher: batch::Batcher,
    },
    /// PostgreSQL.
    Postgres {
        /// Readers and writers.
        pool: PgPool,
        /// Queues reports for the writer tasks, which commit them in batches.
        batcher: batch::Batcher,
    },
}

/// One pool of a [`Store`], chosen for reading or writing.
enum Pool<'a> {
    Sqlite(&'a SqlitePool),
    Postgres(&'a PgPool),
}

impl Store {
    fn writer(&self) -> Pool<'_> {
        match &self.inner {
            Inner::Sqlite { write, .. } => Pool::Sqlite(write),
            Inner::Postgres { pool, .. } => Pool::Postgres(pool),
        }
    }

    fn reader(&self) -> Pool<'_> {
        match &self.inner {
            Inner::Sqlite { read, .. } => Pool::Sqlite(read),
            Inner::Postgres { pool, .. } => Pool::Postgres(pool),
        }
    }
}

/// Runs `$body` with `$pool` bound to the concrete pool of a [`Pool`] and `$db` to its
/// database type.
macro_rules! on_pool {
    ($pool_ref:expr, |$pool:ident, $db:ident| $body:expr) => {
        match $pool_ref {
            Pool::Sqlite($pool) => {
                #[allow(dead_code)]
                type $db = sqlx::Sqlite;
                $body
            }
            Pool::Postgres($pool) => {
                #[allow(dead_code)]
                type $db = sqlx::Postgres;
                $body
            }
        }
    };
}

/// What happened to an offered report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Insert {
    /// Stored now.
    Stored,
    /// Already stored, or forgotten by a deletion: nothing written.
    Duplicate,
}

/// Per-version totals over a window.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct VersionRow {
    /// App version.
    pub version: String,
    /// Sessions (exited + crashed + abnormal).
    pub sessions: i64,
    /// Crashed sessions.
    pub crashed: i64,
    /// Abnormal sessions.
    pub abnormal: i64,
    /// Distinct pseudonyms.
    pub devices: i64,
    /// Distinct pseudonyms with at least one crashed session.
    pub crashed_devices: i64,
    /// Distinct client networks (keyed hashes; see `network`).
    pub networks: i64,
}

/// One crash signature of one version over a window.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SignatureRow {
    /// App version.
    pub version: String,
    /// Signature (16 hex).
    pub signature: String,
    /// `panic` or `signal`.
    pub kind: String,
    /// A source location seen with it.
    pub location: String,
    /// Crashes counted.
    pub count: i64,
    /// Distinct pseudonyms that reported it.
    pub devices: i64,
}

/// A crash signature's message template that at least k distinct pseudonyms reported
/// (identically) for one version. Templates reported by fewer are never read out of the
/// database: the `HAVING` clause drops them.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TemplateRow {
    /// App version.
    pub version: String,
    /// Signature (16 hex).
    pub signature: String,
    /// The template, as reported.
    pub template: String,
    /// Distinct pseudonyms that reported this exact template.
    pub devices: i64,
    /// Distinct client networks that reported this exact template.
    pub networks: i64,
}

/// One version's sessions on one UTC day.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DayRow {
    /// App version.
    pub version: String,
    /// Days since the Unix epoch (UTC) of the reports' period end.
    pub day: i64,
    /// Sessions.
    pub sessions: i64,
    /// Crashed sessions.
    pub crashed: i64,
    /// Distinct pseudonyms.
    pub devices: i64,
    /// Distinct client networks.
    pub networks: i64,
}

const INSERT_REPORT: &str = "INSERT INTO reports (report_id, pseudonym, app_version, platform, \
     os_family, period_start, period_end, received_at, exited, crashed, abnormal, network) \
     SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12 \
     WHERE NOT EXISTS (SELECT 1 FROM forgotten WHERE report_id = $1) \
     ON CONFLICT (report_id) DO NOTHING";

const INSERT_CRASH: &str = "INSERT INTO crashes (report_id, signature, kind, message, location, \
     count) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (report_id, signature) DO NOTHING";

const INSERT_METRIC: &str = "INSERT INTO metrics (report_id, name, kind, count, sum, min, max) \
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (report_id, name) DO NOTHING";

const FORGET_IDS: &str = "INSERT INTO forgotten (report_id) \
     SELECT report_id FROM reports WHERE pseudonym = $1 ON CONFLICT (report_id) DO NOTHING";
const DELETE_CRASHES: &str =
    "DELETE FROM crashes WHERE report_id IN (SELECT report_id FROM reports WHERE pseudonym = $1)";
const DELETE_METRICS: &str =
    "DELETE FROM metrics WHERE report_id IN (SELECT report_id FROM reports WHERE pseudonym = $1)";
const DELETE_REPORTS: &str = "DELETE FROM reports WHERE pseudonym = $1";

const VERSIONS: &str = "SELECT app_version AS version, \
     CAST(SUM(exited + crashed + abnormal) AS BIGINT) AS sessions, \
     CAST(SUM(crashed) AS BIGINT) AS crashed, \
     CAST(SUM(abnormal) AS BIGINT) AS abnormal, \
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

/// Today's network key: made once (the first collector to get here wins), read by all.
const NEW_NETWORK_KEY: &str =
    "INSERT INTO network_keys (day, secret) VALUES ($1, $2) ON CONFLICT (day) DO NOTHING";
const NETWORK_KEY: &str = "SELECT secret FROM network_keys WHERE day = $1";
const OLD_NETWORK_KEYS: &str = "DELETE FROM network_keys WHERE day < $1";

/// How many distinct pseudonyms a network (hash of today) brought, and whether one of
/// them is `$2`.
const NETWORK_PSEUDONYMS: &str = "SELECT COUNT(DISTINCT pseudonym) AS pseudonyms, \
     CAST(COALESCE(MAX(CASE WHEN pseudonym = $2 THEN 1 ELSE 0 END), 0) AS BIGINT) AS known \
     FROM reports WHERE network = $1";

impl Store {
    /// Opens (and for SQLite creates) the database named by `url` and applies the
    /// built-in migrations. `max_connections` bounds each pool; `writers` is the number of
    /// PostgreSQL writer tasks (SQLite has one).
    pub async fn connect(
        url: &str,
        max_connections: u32,
        writers: u32,
    ) -> Result<Store, StoreError> {
        let inner = if url.starts_with("sqlite:") {
            let (write, read) = sqlite::connect(url, max_connections).await?;
            let batcher = batch::Batcher::start(batch::WritePool::Sqlite(write.clone()), 1);
            Inner::Sqlite {
                write,
                read,
                batcher,
            }
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = postgres::connect(url, max_connections).await?;
            // Several writers, so one slow commit (fsync) does not stall the queue.
            let writers = writers.max(1) as usize;
            let batcher = batch::Batcher::start(batch::WritePool::Postgres(pool.clone()), writers);
            Inner::Postgres { pool, batcher }
        } else {
            return Err(StoreError::UnsupportedUrl);
        };
        let store = Store { inner };
        on_pool!(store.writer(), |pool, _Db| MIGRATOR.run(pool).await)?;
        Ok(store)
    }

    /// Which backend this store runs on.
    pub fn backend(&self) -> Backend {
        match &self.inner {
            Inner::Sqlite { .. } => Backend::Sqlite,
            Inner::Postgres { .. } => Backend::Postgres,
        }
    }

    /// Answers whether the database is reachable.
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(self.reader(), |pool, _Db| sqlx::query("SELECT 1")
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Stores a validated report once: a report id already stored, or forgotten by a
    /// deletion, is not written again.
    /// `network` is the keyed hash of the client's network (see `network`), or empty.
    pub async fn insert(
        &self,
        r: HealthReport,
        received_at: i64,
        network: String,
    ) -> Result<Insert, StoreError> {
        match &self.inner {
            Inner::Sqlite { batcher, .. } | Inner::Postgres { batcher, .. } => {
                batcher.insert(r, received_at, network).await
            }
        }
    }

    /// The network key of UTC `day`: the one stored, or `fresh` stored now if there is
    /// none. Keys of earlier days are deleted.
    pub async fn network_key(&self, day: i64, fresh: &[u8]) -> Result<Vec<u8>, StoreError> {
        let fresh_hex: String = fresh.iter().map(|b| format!("{b:02x}")).collect();
        let secret: String = on_pool!(self.writer(), |pool, _Db| {
            let mut tx = pool.begin().await?;
            sqlx::query(NEW_NETWORK_KEY)
                .bind(day)
                .bind(&fresh_hex)
                .execute(&mut *tx)
                .await?;
            sqlx::query(OLD_NETWORK_KEYS)
                .bind(day)
                .execute(&mut *tx)
                .await?;
            let secret: String = sqlx::query_scalar(NETWORK_KEY)
                .bind(day)
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(secret)
        })?;
        // A key another collector stored is used as the bytes of its text, whatever
        // they are: HMAC takes any key.
        Ok(secret.into_bytes())
    }

    /// How many distinct pseudonyms reports of `network` carry, and whether
    /// `pseudonym` is one of them.
    pub async fn network_pseudonyms(
        &self,
        network: &str,
        pseudonym: &str,
    ) -> Result<(i64, bool), StoreError> {
        let (count, known): (i64, i64) = on_pool!(self.reader(), |pool, _Db| {
            sqlx::query_as(NETWORK_PSEUDONYMS)
                .bind(network)
                .bind(pseudonym)
                .fetch_one(pool)
                .await
        })?;
        Ok((count, known > 0))
    }

    /// Forgets every report of `pseudonym`; their ids are remembered so a late retry is
    /// not stored again. Returns how many reports were deleted.
    pub async fn delete_pseudonym(&self, pseudonym: &str) -> Result<u64, StoreError> {
        on_pool!(self.writer(), |pool, _Db| {
            let mut tx = pool.begin().await?;
            sqlx::query(FORGET_IDS)
                .bind(pseudonym)
                .execute(&mut *tx)
                .await?;
            for sql in [DELETE_CRASHES, DELETE_METRICS] {
                sqlx::query(sql).bind(pseudonym).execute(&mut *tx).await?;
            }
            let done = sqlx::query(DELETE_REPORTS)
                .bind(pseudonym)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(done.rows_affected())
        })
    }

    /// Totals per version for reports whose period ended at or after `since` (Unix s).
    pub async fn versions(&self, since: i64) -> Result<Vec<VersionRow>, StoreError> {
        let rows = on_pool!(self.reader(), |pool, Db| {
            sqlx::query_as::<Db, VersionRow>(VERSIONS)
                .bind(since)
                .fetch_all(pool)
                .await
        })?;
        Ok(rows)
    }

    /// Crash signatures per version since `since`.
    pub async fn signatures(&self, since: i64) -> Result<Vec<SignatureRow>, StoreError> {
        let rows = on_pool!(self.reader(), |pool, Db| {
            sqlx::query_as::<Db, SignatureRow>(SIGNATURES)
                .bind(since)
                .fetch_all(pool)
                .await
        })?;
        Ok(rows)
    }

    /// Message templates per version and signature since `since` that at least `k`
    /// distinct pseudonyms reported identically; no other template is read.
    pub async fn templates(&self, since: i64, k: u32) -> Result<Vec<TemplateRow>, StoreError> {
        let k = i64::from(k.max(1));
        let rows = on_pool!(self.reader(), |pool, Db| {
            sqlx::query_as::<Db, TemplateRow>(TEMPLATES)
                .bind(since)
                .bind(k)
                .fetch_all(pool)
                .await
        })?;
        Ok(rows)
    }

    /// Sessions per version per UTC day since `since`.
    pub async fn days(&self, since: i64) -> Result<Vec<DayRow>, StoreError> {
        let rows = on_pool!(self.reader(), |pool, Db| {
            sqlx::query_as::<Db, DayRow>(DAYS)
                .bind(since)
                .fetch_all(pool)
                .await
        })?;
        Ok(rows)
    }

    /// How many reports are stored (all time); for tests and `/healthz`.
    pub async fn report_count(&self) -> Result<i64, StoreError> {
        let n: i64 = on_pool!(self.reader(), |pool, _Db| {
            sqlx::query_scalar("SELECT COUNT(*) FROM reports")
                .fetch_one(pool)
                .await
        })?;
        Ok(n)
    }

    /// Closes the pool, waiting for connections in use.
    pub async fn close(&self) {
        match &self.inner {
            Inner::Sqlite { write, read, .. } => {
                read.close().await;
                write.close().await;
            }
            Inner::Postgres { pool, .. } => pool.close().await,
        }
    }
}
