//! SQLite connection settings: the file is created on first start, WAL journal so
//! readers never block the writer, one writer connection per process (writes queue in
//! the pool, in order, instead of sleeping in SQLite's busy handler), and a busy timeout
//! for writers of other processes sharing the file. Reports are written by a batcher
//! (group commit): concurrent requests share one transaction.

use std::str::FromStr;
use std::time::Duration;

use locus_report::HealthReport;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;
use tokio::sync::{mpsc, oneshot};

use super::{Insert, StoreError};

/// Opens the (writer, readers) pools on `url` (`sqlite://path`, `sqlite::memory:`).
pub(super) async fn connect(
    url: &str,
    max_connections: u32,
) -> Result<(SqlitePool, SqlitePool), sqlx::Error> {
    let in_memory = url.contains(":memory:") || url.contains("mode=memory");
    let mut options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(false);
    if !in_memory {
        options = options
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal);
    }
    let mut writer = SqlitePoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(10));
    if in_memory {
        // The database lives as long as its one connection: never let it go.
        writer = writer
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None);
    }
    let write = writer.connect_with(options.clone()).await?;
    // Each connection to `:memory:` would be a database of its own: share the writer.
    if in_memory {
        return Ok((write.clone(), write));
    }
    let read = SqlitePoolOptions::new()
        .max_connections(max_connections.max(1))
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options.read_only(true))
        .await?;
    Ok((write, read))
}

/// Most reports committed in one transaction.
const MAX_BATCH: usize = 64;

/// Reports waiting for the writer; beyond this, `insert` waits for room.
const QUEUE: usize = 1024;

struct Job {
    report: HealthReport,
    received_at: i64,
    reply: oneshot::Sender<Result<Insert, StoreError>>,
}

/// Group commit for the single SQLite writer: reports queue here and a task writes
/// whatever has queued (up to [`MAX_BATCH`]) in one transaction, so concurrent requests
/// share one commit instead of each waiting for its own.
#[derive(Debug, Clone)]
pub(super) struct Batcher {
    queue: mpsc::Sender<Job>,
}

impl Batcher {
    /// Starts the writer task on the current runtime; it ends when every `Batcher`
    /// clone is dropped.
    pub(super) fn start(pool: SqlitePool) -> Batcher {
        let (queue, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(pool, rx));
        Batcher { queue }
    }

    /// Queues `report` and waits for its outcome.
    pub(super) async fn insert(
        &self,
        report: HealthReport,
        received_at: i64,
    ) -> Result<Insert, StoreError> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            report,
            received_at,
            reply,
        };
        self.queue
            .send(job)
            .await
            .map_err(|_| StoreError::WriterGone)?;
        answer.await.map_err(|_| StoreError::WriterGone)?
    }
}

async fn run(pool: SqlitePool, mut rx: mpsc::Receiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        match write(&pool, &jobs).await {
            Ok(outcomes) => {
                for (job, outcome) in jobs.into_iter().zip(outcomes) {
                    let _ = job.reply.send(Ok(outcome));
                }
            }
            // One at a time, so one failing report cannot fail the others.
            Err(_) if jobs.len() > 1 => {
                for job in jobs {
                    let result = write(&pool, std::slice::from_ref(&job))
                        .await
                        .map_err(StoreError::Db)
                        .and_then(|o| o.into_iter().next().ok_or(StoreError::WriterGone));
                    let _ = job.reply.send(result);
                }
            }
            Err(e) => {
                for job in jobs {
                    let _ = job.reply.send(Err(StoreError::Db(clone_error(&e))));
                }
            }
        }
    }
}

/// Writes `jobs` in one transaction; one outcome per job, in order.
async fn write(pool: &SqlitePool, jobs: &[Job]) -> Result<Vec<Insert>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let mut outcomes = Vec::with_capacity(jobs.len());
    for job in jobs {
        outcomes.push(insert_in_tx!(tx, &job.report, job.received_at)?);
    }
    tx.commit().await?;
    Ok(outcomes)
}

/// `sqlx::Error` is not `Clone`: keep its message.
fn clone_error(e: &sqlx::Error) -> sqlx::Error {
    sqlx::Error::Protocol(e.to_string())
}
