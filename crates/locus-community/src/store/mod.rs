//! Storage of reports: one [`Store`] over SQLite (the embedded default) or PostgreSQL
//! (shared by several stateless collectors). The SQL is written once, portable between the
//! two, and run on whichever pool the URL chose: [`on_pool!`] expands a body once per
//! backend so each copy is type-checked against its own driver.
//!
//! Reports are written through `batch` (group commit), which also maintains the rollups
//! (migrations/0003_rollups.sql, 0006_distinct_counts.sql): per-hour sums and exact
//! distinct counts per bucket (`distinct`), so reads cost O(hours × versions), never
//! O(reports) or O(devices). Deletions and reads go to
//! the pools directly. Everything here is plain data in, plain rows out; the rules about what
//! may be shown (k-anonymity, rates, comparisons) live in `aggregate`.

#[macro_use]
mod distinct;
#[macro_use]
mod bulk;
mod batch;
mod limits;
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

/// The SHA-256 of a pseudonym (hex, as kept for deleted pseudonyms) and the advisory lock
/// key taken from it.
pub(crate) fn pseudonym_hash(pseudonym: &str) -> (String, i64) {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(pseudonym.as_bytes());
    let mut key = [0u8; 8];
    key.copy_from_slice(&digest[..8]);
    (crate::network::hex(&digest), i64::from_be_bytes(key))
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
    /// The database could not be reached (pool acquire timeout, connection lost):
    /// nothing of the request was written.
    #[error("the database is unreachable")]
    Unavailable,
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

/// Connections each PostgreSQL collector opens for the shared rate-limit buckets, beside
/// its write and read pools.
pub const LIMIT_CONNECTIONS: u32 = 1;

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
    /// PostgreSQL: separate pools, so readers (aggregates, dashboard) can never take
    /// the connections ingest and deletions need.
    Postgres {
        /// Writers (the batch writer tasks, deletions, the ingest-path lookups).
        write: PgPool,
        /// Aggregate reads.
        read: PgPool,
        /// The shared rate-limit buckets ([`LIMIT_CONNECTIONS`]): their statements are
        /// short (an UNLOGGED table, no fsync) and must not queue behind commits or reads.
        limits: PgPool,
        /// Takes the buckets' tokens in groups.
        taker: limits::Taker,
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
            Inner::Postgres { write, .. } => Pool::Postgres(write),
        }
    }

    /// Small reads on the ingest path: on PostgreSQL the write pool, which aggregate
    /// readers cannot exhaust; on SQLite a reader (WAL), not the one writer connection.
    fn lookup(&self) -> Pool<'_> {
        match &self.inner {
            Inner::Sqlite { read, .. } => Pool::Sqlite(read),
            Inner::Postgres { write, .. } => Pool::Postgres(write),
        }
    }

    fn reader(&self) -> Pool<'_> {
        match &self.inner {
            Inner::Sqlite { read, .. } => Pool::Sqlite(read),
            Inner::Postgres { read, .. } => Pool::Postgres(read),
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
    /// Refused: the pseudonym was deleted (deletion is final).
    Refused,
    /// Already stored, or forgotten by a deletion: nothing written.
    Duplicate,
}

/// Per-version totals over a window.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, sqlx::FromRow)]
pub struct VersionRow {
    /// App version.
    pub version: String,
    /// Sessions (exited + crashed + abnormal).
    pub sessions: i64,
    /// Crashed sessions.
    pub crashed: i64,
    /// Abnormal sessions.
    pub abnormal: i64,
    /// Hangs of watched loops.
    pub hangs: i64,
    /// Distinct pseudonyms.
    pub devices: i64,
    /// Distinct pseudonyms with at least one crashed session.
    pub crashed_devices: i64,
    /// Distinct client networks (keyed hashes; see `network`).
    pub networks: i64,
}

/// One crash signature of one version over a window.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, sqlx::FromRow)]
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
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, sqlx::FromRow)]
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
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, sqlx::FromRow)]
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

/// 1 when an unwritten report was refused because its pseudonym was deleted (and it is
/// not a retry of a stored or forgotten report), else 0.
const REFUSED: &str = "SELECT COUNT(*) FROM deleted_pseudonyms WHERE pseudonym_hash = $1 \
     AND NOT EXISTS (SELECT 1 FROM forgotten WHERE report_id = $2) \
     AND NOT EXISTS (SELECT 1 FROM reports WHERE report_id = $2)";

const MARK_DELETED: &str = "INSERT INTO deleted_pseudonyms (pseudonym_hash, deleted_at) \
     VALUES ($1, $2) ON CONFLICT (pseudonym_hash) DO NOTHING";

/// PostgreSQL: a deletion and the batches writing reports of the same pseudonym exclude
/// each other (transaction-scoped advisory locks: exclusive for the deletion, shared for
/// the batches), so a report acknowledged while a deletion runs is either deleted by it
/// or refused after it. SQLite has one writer connection: the same holds by construction.
const LOCK_PSEUDONYM: &str = "SELECT pg_advisory_xact_lock($1)";
const LOCK_PSEUDONYMS_SHARED: &str =
    "SELECT pg_advisory_xact_lock_shared(k) FROM unnest($1::bigint[]) AS t(k)";

const FORGET_IDS: &str = "INSERT INTO forgotten (report_id, forgotten_at) \
     SELECT report_id, $2 FROM reports WHERE pseudonym = $1 ON CONFLICT (report_id) DO NOTHING";
const DELETE_CRASHES: &str =
    "DELETE FROM crashes WHERE report_id IN (SELECT report_id FROM reports WHERE pseudonym = $1)";
const DELETE_METRICS: &str =
    "DELETE FROM metrics WHERE report_id IN (SELECT report_id FROM reports WHERE pseudonym = $1)";
const DELETE_REPORTS: &str = "DELETE FROM reports WHERE pseudonym = $1";

// Rollup upserts (see migrations/0003_rollups.sql). Maxima and minima are taken by the
// database (`CASE`), so they follow its collation exactly as `MIN` over rows did.

// Deletion: the rollup rows a pseudonym's reports touched are recomputed from the other
// reports of the same hour (exact for sums and minima alike); its device rows go.
const DELETE_VERSION_HOURS: &str = "DELETE FROM version_hours WHERE (hour, version) IN \
     (SELECT period_end / 3600, app_version FROM reports WHERE pseudonym = $1)";
const RECOMPUTE_VERSION_HOURS: &str = "INSERT INTO version_hours \
     (hour, version, reports, sessions, crashed, abnormal, hangs) \
     SELECT k.h, k.v, COUNT(*), CAST(SUM(r.exited + r.crashed + r.abnormal) AS BIGINT), \
     CAST(SUM(r.crashed) AS BIGINT), CAST(SUM(r.abnormal) AS BIGINT), \
     CAST(SUM(r.hangs) AS BIGINT) \
     FROM (SELECT DISTINCT period_end / 3600 AS h, app_version AS v \
     FROM reports WHERE pseudonym = $1) k \
     JOIN reports r ON r.app_version = k.v AND r.period_end >= k.h * 3600 \
     AND r.period_end < (k.h + 1) * 3600 \
     WHERE r.pseudonym <> $1 GROUP BY k.h, k.v";
const DELETE_CRASH_HOURS: &str = "DELETE FROM crash_hours WHERE (hour, version, signature) IN \
     (SELECT r.period_end / 3600, r.app_version, c.signature \
     FROM reports r JOIN crashes c ON c.report_id = r.report_id WHERE r.pseudonym = $1)";
const RECOMPUTE_CRASH_HOURS: &str = "INSERT INTO crash_hours \
     (hour, version, signature, kind, location, count) \
     SELECT k.h, k.v, k.s, MIN(c.kind), MIN(c.location), CAST(SUM(c.count) AS BIGINT) \
     FROM (SELECT DISTINCT r.period_end / 3600 AS h, r.app_version AS v, c.signature AS s \
     FROM reports r JOIN crashes c ON c.report_id = r.report_id WHERE r.pseudonym = $1) k \
     JOIN reports r ON r.app_version = k.v AND r.period_end >= k.h * 3600 \
     AND r.period_end < (k.h + 1) * 3600 \
     JOIN crashes c ON c.report_id = r.report_id AND c.signature = k.s \
     WHERE r.pseudonym <> $1 GROUP BY k.h, k.v, k.s";

// Reads. `$1` = window start (Unix s), `$2` = the hour it falls in, `$3` = its day, `$4` =
// one version or NULL for all. Sums come from the rollups for the hours after `$2` plus
// the reports of hour `$2` itself from `$1` on (exact at any window start); distinct
// counts from `distinct_counts` for the buckets after the one `$1` falls in plus the
// members whose latest report is in that bucket from `$1` on (see `distinct`): exact, and
// O(buckets × groups).
const VERSIONS: &str = "SELECT s.version AS version, s.sessions AS sessions, \
     s.crashed AS crashed, s.abnormal AS abnormal, s.hangs AS hangs, d.devices AS devices, \
     d.crashed_devices AS crashed_devices, d.networks AS networks FROM \
     (SELECT version, CAST(SUM(sessions) AS BIGINT) AS sessions, \
     CAST(SUM(crashed) AS BIGINT) AS crashed, CAST(SUM(abnormal) AS BIGINT) AS abnormal, \
     CAST(SUM(hangs) AS BIGINT) AS hangs FROM \
     (SELECT version, sessions, crashed, abnormal, hangs FROM version_hours \
     WHERE hour > $2 AND ($4 IS NULL OR version = $4) \
     UNION ALL SELECT app_version, exited + crashed + abnormal, crashed, abnormal, hangs \
     FROM reports WHERE period_end >= $1 AND period_end < ($2 + 1) * 3600 \
     AND ($4 IS NULL OR app_version = $4)) u GROUP BY version) s \
     JOIN (SELECT version, \
     CAST(SUM(CASE WHEN kind = 'dev' THEN n ELSE 0 END) AS BIGINT) AS devices, \
     CAST(SUM(CASE WHEN kind = 'crash' THEN n ELSE 0 END) AS BIGINT) AS crashed_devices, \
     CAST(SUM(CASE WHEN kind = 'net' THEN n ELSE 0 END) AS BIGINT) AS networks FROM \
     (SELECT kind, version, n FROM distinct_counts WHERE kind IN ('dev', 'crash', 'net') \
     AND bucket > $3 AND ($4 IS NULL OR version = $4) \
     UNION ALL SELECT kind, version, 1 FROM distinct_last \
     WHERE kind IN ('dev', 'crash', 'net') AND last_end >= $1 \
     AND last_end < (CAST($3 AS BIGINT) + 1) * 86400 AND ($4 IS NULL OR version = $4)) u \
     GROUP BY version) d ON d.version = s.version";

const SIGNATURES: &str = "SELECT s.version AS version, s.signature AS signature, \
     s.kind AS kind, s.location AS location, s.count AS count, d.devices AS devices FROM \
     (SELECT version, signature, MIN(kind) AS kind, MIN(location) AS location, \
     CAST(SUM(count) AS BIGINT) AS count FROM \
     (SELECT version, signature, kind, location, count FROM crash_hours \
     WHERE hour > $2 AND ($4 IS NULL OR version = $4) \
     UNION ALL SELECT r.app_version, c.signature, c.kind, c.location, c.count \
     FROM crashes c JOIN reports r ON r.report_id = c.report_id \
     WHERE r.period_end >= $1 AND r.period_end < ($2 + 1) * 3600 \
     AND ($4 IS NULL OR r.app_version = $4)) u GROUP BY version, signature) s \
     JOIN (SELECT version, signature, CAST(SUM(n) AS BIGINT) AS devices FROM \
     (SELECT version, signature, n FROM distinct_counts WHERE kind = 'sig' \
     AND bucket > $3 AND ($4 IS NULL OR version = $4) \
     UNION ALL SELECT version, signature, 1 FROM distinct_last WHERE kind = 'sig' \
     AND last_end >= $1 AND last_end < (CAST($3 AS BIGINT) + 1) * 86400 \
     AND ($4 IS NULL OR version = $4)) u \
     GROUP BY version, signature) d ON d.version = s.version AND d.signature = s.signature";

// `$1` = window start, `$2` = its day, `$3` = one version or NULL, `$4` = k.
const TEMPLATES: &str = "SELECT version, signature, template, \
     CAST(SUM(CASE WHEN kind = 'tpl' THEN n ELSE 0 END) AS BIGINT) AS devices, \
     CAST(SUM(CASE WHEN kind = 'tplnet' THEN n ELSE 0 END) AS BIGINT) AS networks FROM \
     (SELECT kind, version, signature, template, n FROM distinct_counts \
     WHERE kind IN ('tpl', 'tplnet') AND bucket > $2 AND ($3 IS NULL OR version = $3) \
     UNION ALL SELECT kind, version, signature, template, 1 FROM distinct_last \
     WHERE kind IN ('tpl', 'tplnet') AND last_end >= $1 \
     AND last_end < (CAST($2 AS BIGINT) + 1) * 86400 AND ($3 IS NULL OR version = $3)) u \
     GROUP BY version, signature, template \
     HAVING SUM(CASE WHEN kind = 'tpl' THEN n ELSE 0 END) >= $4 \
     AND SUM(CASE WHEN kind = 'tplnet' THEN n ELSE 0 END) >= $4";

// `$1` = window start, `$2` = its hour, `$3` = its day: days after the first from their
// totals (bucket -1), the first day from its hour buckets after `$2` and the members of
// hour `$2` itself from `$1` on.
const DAYS: &str = "SELECT s.version AS version, s.day AS day, s.sessions AS sessions, \
     s.crashed AS crashed, d.devices AS devices, d.networks AS networks FROM \
     (SELECT version, day, CAST(SUM(sessions) AS BIGINT) AS sessions, \
     CAST(SUM(crashed) AS BIGINT) AS crashed FROM \
     (SELECT version, hour / 24 AS day, sessions, crashed FROM version_hours WHERE hour > $2 \
     UNION ALL SELECT app_version, period_end / 86400, exited + crashed + abnormal, crashed \
     FROM reports WHERE period_end >= $1 AND period_end < ($2 + 1) * 3600) u \
     GROUP BY version, day) s \
     JOIN (SELECT version, day, \
     CAST(SUM(CASE WHEN kind = 'daydev' THEN n ELSE 0 END) AS BIGINT) AS devices, \
     CAST(SUM(CASE WHEN kind = 'daynet' THEN n ELSE 0 END) AS BIGINT) AS networks FROM \
     (SELECT kind, version, day, n FROM distinct_counts \
     WHERE kind IN ('daydev', 'daynet') AND bucket = -1 AND day > $3 \
     UNION ALL SELECT kind, version, day, n FROM distinct_counts \
     WHERE kind IN ('daydev', 'daynet') AND bucket > $2 \
     AND bucket < (CAST($3 AS BIGINT) + 1) * 24 \
     UNION ALL SELECT kind, version, day, 1 FROM distinct_last \
     WHERE kind IN ('daydev', 'daynet') AND last_end >= $1 \
     AND last_end < (CAST($2 AS BIGINT) + 1) * 3600) u GROUP BY version, day) d \
     ON d.version = s.version AND d.day = s.day";

// Retention, in order: `$1` is the cutoff (Unix s) for the first three, its hour for the
// next two, its day for the next two (whole days of distinct counts), and the cutoff of forgotten ids for the last.
const PRUNE: [&str; 8] = [
    "DELETE FROM crashes WHERE report_id IN (SELECT report_id FROM reports WHERE period_end < $1)",
    "DELETE FROM metrics WHERE report_id IN (SELECT report_id FROM reports WHERE period_end < $1)",
    "DELETE FROM reports WHERE period_end < $1",
    "DELETE FROM version_hours WHERE hour < $1",
    "DELETE FROM crash_hours WHERE hour < $1",
    "DELETE FROM distinct_last WHERE last_end < CAST($1 AS BIGINT) * 86400",
    "DELETE FROM distinct_counts WHERE CASE WHEN kind IN ('daydev', 'daynet') \
     THEN day < $1 ELSE bucket < $1 END",
    "DELETE FROM forgotten WHERE forgotten_at < $1",
];

const PRUNE_RATE_BUCKETS: &str = "DELETE FROM rate_buckets WHERE last_ms < $1";
/// PostgreSQL: whether the bucket table is still logged (made UNLOGGED at start).
const RATE_BUCKETS_LOGGED: &str = "SELECT COUNT(*) FROM pg_class \
     WHERE oid = to_regclass('rate_buckets') AND relpersistence = 'p'";

/// A window start and the hour and day it falls in.
struct Window {
    since: i64,
    hour: i64,
    day: i64,
}

impl Window {
    fn new(since: i64) -> Window {
        Window {
            since,
            hour: since.div_euclid(3600),
            day: since.div_euclid(86_400),
        }
    }
}

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
        Store::connect_pools(url, max_connections, max_connections, writers).await
    }

    /// As [`Store::connect`], with PostgreSQL's read pool of its own size
    /// `read_connections` (SQLite's readers take `max_connections`).
    pub async fn connect_pools(
        url: &str,
        max_connections: u32,
        read_connections: u32,
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
            let write = postgres::connect(url, max_connections).await?;
            let read = postgres::connect(url, read_connections).await?;
            let limits = postgres::connect(url, LIMIT_CONNECTIONS).await?;
            let taker = limits::Taker::start(limits.clone());
            // Several writers, so one slow commit (fsync) does not stall the queue.
            let writers = writers.max(1) as usize;
            let batcher = batch::Batcher::start(batch::WritePool::Postgres(write.clone()), writers);
            Inner::Postgres {
                write,
                read,
                limits,
                taker,
                batcher,
            }
        } else {
            return Err(StoreError::UnsupportedUrl);
        };
        let store = Store { inner };
        on_pool!(store.writer(), |pool, _Db| MIGRATOR.run(pool).await)?;
        if let Inner::Postgres { write, .. } = &store.inner {
            let logged: i64 = sqlx::query_scalar(RATE_BUCKETS_LOGGED)
                .fetch_one(write)
                .await?;
            if logged > 0 {
                sqlx::query("ALTER TABLE rate_buckets SET UNLOGGED")
                    .execute(write)
                    .await?;
            }
        }
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
        let fresh_hex = crate::network::hex(fresh);
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
        let (count, known): (i64, i64) = on_pool!(self.lookup(), |pool, _Db| {
            sqlx::query_as(NETWORK_PSEUDONYMS)
                .bind(network)
                .bind(pseudonym)
                .fetch_one(pool)
                .await
        })?;
        Ok((count, known > 0))
    }

    /// Forgets every report of `pseudonym`; their ids are remembered so a late retry is
    /// not stored again, and the pseudonym's later reports are refused. Returns how many reports were deleted.
    pub async fn delete_pseudonym(&self, pseudonym: &str) -> Result<u64, StoreError> {
        let (hash, key) = pseudonym_hash(pseudonym);
        let postgres = self.backend() == Backend::Postgres;
        on_pool!(self.writer(), |pool, _Db| {
            let mut tx = pool.begin().await?;
            if postgres {
                sqlx::query(LOCK_PSEUDONYM)
                    .bind(key)
                    .execute(&mut *tx)
                    .await?;
            }
            let now = chrono::Utc::now().timestamp();
            sqlx::query(MARK_DELETED)
                .bind(&hash)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            sqlx::query(FORGET_IDS)
                .bind(pseudonym)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            distinct_delete_in_tx!(tx, pseudonym, if postgres { " FOR UPDATE" } else { "" })?;
            for sql in [
                DELETE_VERSION_HOURS,
                RECOMPUTE_VERSION_HOURS,
                DELETE_CRASH_HOURS,
                RECOMPUTE_CRASH_HOURS,
                DELETE_CRASHES,
                DELETE_METRICS,
            ] {
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

    /// Totals per version for reports whose period ended at or after `since` (Unix s);
    /// only `version` when given.
    pub async fn versions(
        &self,
        since: i64,
        version: Option<&str>,
    ) -> Result<Vec<VersionRow>, StoreError> {
        let w = Window::new(since);
        let rows = on_pool!(self.reader(), |pool, Db| {
            sqlx::query_as::<Db, VersionRow>(VERSIONS)
                .bind(w.since)
                .bind(w.hour)
                .bind(w.day)
                .bind(version)
                .fetch_all(pool)
                .await
        })?;
        Ok(rows)
    }

    /// Crash signatures per version since `since`; only `version`'s when given.
    pub async fn signatures(
        &self,
        since: i64,
        version: Option<&str>,
    ) -> Result<Vec<SignatureRow>, StoreError> {
        let w = Window::new(since);
        let rows = on_pool!(self.reader(), |pool, Db| {
            sqlx::query_as::<Db, SignatureRow>(SIGNATURES)
                .bind(w.since)
                .bind(w.hour)
                .bind(w.day)
                .bind(version)
                .fetch_all(pool)
                .await
        })?;
        Ok(rows)
    }

    /// Message templates per version and signature since `since` that at least `k`
    /// distinct pseudonyms from `k` networks reported identically; no other template is
    /// read. Only `version`'s when given.
    pub async fn templates(
        &self,
        since: i64,
        k: u32,
        version: Option<&str>,
    ) -> Result<Vec<TemplateRow>, StoreError> {
        let k = i64::from(k.max(1));
        let w = Window::new(since);
        let rows = on_pool!(self.reader(), |pool, Db| {
            sqlx::query_as::<Db, TemplateRow>(TEMPLATES)
                .bind(w.since)
                .bind(w.day)
                .bind(version)
                .bind(k)
                .fetch_all(pool)
                .await
        })?;
        Ok(rows)
    }

    /// Sessions per version per UTC day since `since`.
    pub async fn days(&self, since: i64) -> Result<Vec<DayRow>, StoreError> {
        let w = Window::new(since);
        let rows = on_pool!(self.reader(), |pool, Db| {
            sqlx::query_as::<Db, DayRow>(DAYS)
                .bind(w.since)
                .bind(w.hour)
                .bind(w.day)
                .fetch_all(pool)
                .await
        })?;
        Ok(rows)
    }

    /// Retention: deletes reports whose period ended before `cutoff` (Unix s) and the
    /// rollup rows of hours and days before it, and forgotten ids forgotten before
    /// `forgotten_cutoff`. One transaction; returns the number of reports deleted.
    pub async fn prune(&self, cutoff: i64, forgotten_cutoff: i64) -> Result<u64, StoreError> {
        // Whole hours and days only: the rollup rows of the cutoff's own hour and day
        // also hold reports after it, and stay.
        let w = Window::new(cutoff);
        on_pool!(self.writer(), |pool, _Db| {
            let mut tx = pool.begin().await?;
            let mut reports = 0;
            for (i, sql) in PRUNE.iter().enumerate() {
                let bound = match i {
                    0..=2 => cutoff,
                    3 | 4 => w.hour,
                    5 | 6 => w.day,
                    _ => forgotten_cutoff,
                };
                let done = sqlx::query(sql).bind(bound).execute(&mut *tx).await?;
                if i == 2 {
                    reports = done.rows_affected();
                }
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(reports)
        })
        .map_err(StoreError::from)
    }

    /// Whether rate limits are kept in this database ([`Store::take_token`]): on
    /// PostgreSQL, which N collectors share. A SQLite database serves one host; its
    /// collector keeps the limits in memory.
    pub fn shares_limits(&self) -> bool {
        self.backend() == Backend::Postgres
    }

    /// Takes one token of the shared bucket `key` (capacity `per_minute`, refilled at
    /// `per_minute` a minute) at `now_ms` (Unix ms). `Ok(None)`: taken; `Ok(Some(wait))`:
    /// refused, a token is there after `wait`. On PostgreSQL through a pool of its own,
    /// concurrent checks taken together (`limits`); SQLite keeps no shared buckets.
    pub async fn take_token(
        &self,
        key: &str,
        per_minute: u32,
        now_ms: i64,
    ) -> Result<Option<std::time::Duration>, StoreError> {
        match &self.inner {
            Inner::Postgres { taker, .. } => taker.take(key, per_minute, now_ms).await,
            // Never asked: see `shares_limits`.
            Inner::Sqlite { .. } => Ok(None),
        }
    }

    /// Deletes shared rate-limit buckets last used before `before_ms` (Unix ms).
    pub async fn prune_rate_buckets(&self, before_ms: i64) -> Result<u64, StoreError> {
        let done = on_pool!(self.writer(), |pool, _Db| {
            sqlx::query(PRUNE_RATE_BUCKETS)
                .bind(before_ms)
                .execute(pool)
                .await
                .map(|d| d.rows_affected())
        })?;
        Ok(done)
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
            Inner::Postgres {
                write,
                read,
                limits,
                ..
            } => {
                limits.close().await;
                read.close().await;
                write.close().await;
            }
        }
    }
}
