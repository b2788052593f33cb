//! Group commit: every report is written through a [`Batcher`]. Requests queue their
//! report; writer tasks take whatever has queued (up to [`MAX_BATCH`]) and write it in one
//! transaction, so concurrent requests share one commit (one fsync on PostgreSQL, one
//! write lock on SQLite) instead of each paying for its own. If a batch fails on a
//! statement (the database answered, refusing something), its reports are retried one per
//! transaction so one bad report cannot fail the others. If it fails because the database
//! is unreachable (pool timeout, I/O, closed connection), nothing is retried: the batch
//! and every report already queued behind it fail at once with
//! [`StoreError::Unavailable`] (answered 503), so an outage costs each request about one
//! pool acquire timeout, not one per report. A batch is one transaction: a failure leaves
//! nothing of it written.

use std::sync::Arc;

use locus_report::HealthReport;
use sqlx::{PgPool, SqlitePool};
use tokio::sync::{mpsc, oneshot, Mutex};

use super::{Insert, StoreError};

/// Most reports committed in one transaction.
pub const MAX_BATCH: usize = 64;

/// Reports waiting for a writer; beyond this, `insert` waits for room.
const QUEUE: usize = 1024;

pub(super) struct Job {
    report: HealthReport,
    received_at: i64,
    network: String,
    reply: oneshot::Sender<Result<Insert, StoreError>>,
}

/// The pool writers write to.
#[derive(Debug, Clone)]
pub(super) enum WritePool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The queue in front of the writer tasks.
#[derive(Debug, Clone)]
pub(super) struct Batcher {
    queue: mpsc::Sender<Job>,
}

impl Batcher {
    /// Starts `writers` writer tasks on the current runtime; they end when every
    /// `Batcher` clone is dropped.
    pub(super) fn start(pool: WritePool, writers: usize) -> Batcher {
        let (queue, rx) = mpsc::channel(QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..writers.max(1) {
            tokio::spawn(run(pool.clone(), rx.clone()));
        }
        Batcher { queue }
    }

    /// Queues `report` and waits for its outcome.
    pub(super) async fn insert(
        &self,
        report: HealthReport,
        received_at: i64,
        network: String,
    ) -> Result<Insert, StoreError> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            report,
            received_at,
            network,
            reply,
        };
        self.queue
            .send(job)
            .await
            .map_err(|_| StoreError::WriterGone)?;
        answer.await.map_err(|_| StoreError::WriterGone)?
    }
}

/// Takes the next batch: waits for one job, then takes what else is already queued.
async fn next_batch(rx: &Mutex<mpsc::Receiver<Job>>) -> Option<Vec<Job>> {
    let mut rx = rx.lock().await;
    let first = rx.recv().await?;
    let mut jobs = vec![first];
    while jobs.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(job) => jobs.push(job),
            Err(_) => break,
        }
    }
    Some(jobs)
}

async fn run(pool: WritePool, rx: Arc<Mutex<mpsc::Receiver<Job>>>) {
    while let Some(jobs) = next_batch(&rx).await {
        match write(&pool, &jobs).await {
            Ok(outcomes) => {
                for (job, outcome) in jobs.into_iter().zip(outcomes) {
                    let _ = job.reply.send(Ok(outcome));
                }
            }
            Err(e) if unreachable(&e) => {
                tracing::warn!(error = %e, "database unreachable: failing the queued reports");
                for job in jobs {
                    let _ = job.reply.send(Err(StoreError::Unavailable));
                }
                // Whatever queued meanwhile would wait for the same timeout: fail it now.
                let mut queue = rx.lock().await;
                while let Ok(job) = queue.try_recv() {
                    let _ = job.reply.send(Err(StoreError::Unavailable));
                }
            }
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
                // `sqlx::Error` is not `Clone`; there is only one job here anyway.
                let mut e = Some(e);
                for job in jobs {
                    let err = e
                        .take()
                        .map(StoreError::Db)
                        .unwrap_or(StoreError::WriterGone);
                    let _ = job.reply.send(Err(err));
                }
            }
        }
    }
}

/// Whether `e` means the database could not be reached (as opposed to a statement the
/// database refused).
pub(super) fn unreachable(e: &sqlx::Error) -> bool {
    matches!(
        e,
        sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed
    )
}

/// Writes `jobs` in one transaction; one outcome per job, in order.
async fn write(pool: &WritePool, jobs: &[Job]) -> Result<Vec<Insert>, sqlx::Error> {
    let outcomes = match pool {
        WritePool::Sqlite(pool) => {
            let mut tx = pool.begin().await?;
            let outcomes = write_batch_in_tx!(tx, jobs)?;
            tx.commit().await?;
            outcomes
        }
        WritePool::Postgres(pool) => {
            let mut tx = pool.begin().await?;
            let mut keys: Vec<i64> = jobs
                .iter()
                .map(|j| super::pseudonym_hash(&j.report.pseudonym).1)
                .collect();
            keys.sort_unstable();
            keys.dedup();
            sqlx::query(super::LOCK_PSEUDONYMS_SHARED)
                .bind(keys)
                .execute(&mut *tx)
                .await?;
            let outcomes = write_batch_in_tx!(tx, jobs)?;
            tx.commit().await?;
            outcomes
        }
    };
    Ok(outcomes)
}
