//! Shared rate-limit buckets (issue 20: limits that hold across instances), taken in
//! groups: concurrent checks queue here and one task takes them together — one
//! transaction for everything queued, one bucket row per distinct key, locked in key
//! order (so instances taking overlapping keys wait for each other instead of
//! deadlocking). A flood of N concurrent requests costs one or a few transactions, not N
//! statements queueing for the pool. PostgreSQL only (a SQLite database serves one host).
//!
//! Per key: refill for the time since the bucket's last use (never backwards, whatever an
//! instance's clock says), grant `min(requests, whole tokens)`, keep the rest. The first
//! requests queued get the grants.

use std::collections::BTreeMap;
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};

use super::StoreError;

/// Most checks taken in one transaction.
const MAX_GROUP: usize = 512;
/// Checks waiting for the taker; beyond this, a check waits for room.
const QUEUE: usize = 4096;

struct Take {
    key: String,
    per_minute: u32,
    now_ms: i64,
    reply: oneshot::Sender<Result<Option<Duration>, StoreError>>,
}

/// Creates the buckets not there yet, full.
const CREATE: &str = "INSERT INTO rate_buckets (key, tokens, last_ms, allowed) \
     SELECT k, cap, now, 0 FROM unnest($1::text[], $2::float8[], $3::bigint[]) AS v(k, cap, now) \
     ORDER BY k ON CONFLICT (key) DO NOTHING";
/// Locks the group's buckets in key order.
const LOCK: &str =
    "SELECT key FROM rate_buckets WHERE key = ANY($1::text[]) ORDER BY key FOR UPDATE";
/// Refills and grants; `$4` = requests per key.
const TAKE: &str = "UPDATE rate_buckets b SET \
     allowed = CAST(LEAST(v.n, FLOOR(LEAST(v.cap, b.tokens \
       + GREATEST(0, v.now - b.last_ms) * v.cap / 60000.0))) AS BIGINT), \
     tokens = LEAST(v.cap, b.tokens + GREATEST(0, v.now - b.last_ms) * v.cap / 60000.0) \
       - LEAST(v.n, FLOOR(LEAST(v.cap, b.tokens \
       + GREATEST(0, v.now - b.last_ms) * v.cap / 60000.0))), \
     last_ms = GREATEST(b.last_ms, v.now) \
     FROM unnest($1::text[], $2::float8[], $3::bigint[], $4::float8[]) AS v(k, cap, now, n) \
     WHERE b.key = v.k RETURNING b.key, b.allowed, b.tokens";

/// The queue in front of the taker task.
#[derive(Debug, Clone)]
pub(super) struct Taker {
    queue: mpsc::Sender<Take>,
}

impl Taker {
    /// Starts the taker task on the current runtime; it ends when every `Taker` is dropped.
    pub(super) fn start(pool: PgPool) -> Taker {
        let (queue, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(pool, rx));
        Taker { queue }
    }

    /// Takes one token of `key` (capacity and refill `per_minute` a minute) at `now_ms`:
    /// `None` taken, `Some(wait)` refused.
    pub(super) async fn take(
        &self,
        key: &str,
        per_minute: u32,
        now_ms: i64,
    ) -> Result<Option<Duration>, StoreError> {
        let (reply, answer) = oneshot::channel();
        let take = Take {
            key: key.to_owned(),
            per_minute: per_minute.max(1),
            now_ms,
            reply,
        };
        self.queue
            .send(take)
            .await
            .map_err(|_| StoreError::WriterGone)?;
        answer.await.map_err(|_| StoreError::WriterGone)?
    }
}

async fn run(pool: PgPool, mut rx: mpsc::Receiver<Take>) {
    while let Some(first) = rx.recv().await {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(t) => group.push(t),
                Err(_) => break,
            }
        }
        // Per key: (capacity, latest now, requests), in key order.
        let mut keys: BTreeMap<&str, (f64, i64, f64)> = BTreeMap::new();
        for t in &group {
            let e = keys
                .entry(t.key.as_str())
                .or_insert((f64::from(t.per_minute), t.now_ms, 0.0));
            e.1 = e.1.max(t.now_ms);
            e.2 += 1.0;
        }
        match take_group(&pool, &keys).await {
            Ok(mut granted) => {
                for t in group {
                    let answer = match granted.get_mut(t.key.as_str()) {
                        Some((left, _)) if *left > 0 => {
                            *left -= 1;
                            None
                        }
                        Some((_, tokens)) => {
                            let per_ms = f64::from(t.per_minute) / 60_000.0;
                            let wait = ((1.0 - *tokens).max(0.0) / per_ms).ceil();
                            Some(Duration::from_millis(wait as u64))
                        }
                        None => Some(Duration::from_secs(1)),
                    };
                    let _ = t.reply.send(Ok(answer));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "shared rate limits: taking tokens failed");
                for t in group {
                    let _ = t.reply.send(Err(StoreError::Unavailable));
                }
            }
        }
    }
}

/// Takes the group's tokens in one transaction; per key, (grants, tokens left).
async fn take_group(
    pool: &PgPool,
    keys: &BTreeMap<&str, (f64, i64, f64)>,
) -> Result<BTreeMap<String, (i64, f64)>, sqlx::Error> {
    let names: Vec<String> = keys.keys().map(|k| (*k).to_owned()).collect();
    let caps: Vec<f64> = keys.values().map(|v| v.0).collect();
    let nows: Vec<i64> = keys.values().map(|v| v.1).collect();
    let counts: Vec<f64> = keys.values().map(|v| v.2).collect();
    let mut tx = pool.begin().await?;
    sqlx::query(CREATE)
        .bind(&names)
        .bind(&caps)
        .bind(&nows)
        .execute(&mut *tx)
        .await?;
    sqlx::query(LOCK).bind(&names).execute(&mut *tx).await?;
    let rows: Vec<(String, i64, f64)> = sqlx::query_as(TAKE)
        .bind(&names)
        .bind(&caps)
        .bind(&nows)
        .bind(&counts)
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(rows
        .into_iter()
        .map(|(k, granted, tokens)| (k, (granted, tokens)))
        .collect())
}
