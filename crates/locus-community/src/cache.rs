//! A short per-instance cache of the read answers (issue 20): the dashboard and
//! `/v1/versions` are computed at most once per key and time-to-live, however many
//! readers ask, so readers cannot multiply the load on the database. Computation is
//! single-flight: readers of an expired answer wait for the one computing it, so one
//! instance runs at most one aggregate read at a time. This instance's own writes (a
//! stored report, a deletion) invalidate the cache at once without waiting for it (a
//! generation counter); writes through other instances show after at most the
//! time-to-live.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

/// Most distinct keys kept (each version name asked for is a key); beyond, the cache
/// starts over, so a client asking for many names cannot grow it.
const MAX_KEYS: usize = 256;

/// What a cached answer is for: window days, with the chart's series, one version.
pub type Key = (u32, bool, Option<String>);

/// Cached answers of type `T`.
#[derive(Debug)]
pub struct ReadCache<T> {
    ttl: Duration,
    generation: AtomicU64,
    entries: Mutex<HashMap<Key, Entry<T>>>,
}

#[derive(Debug)]
struct Entry<T> {
    at: Instant,
    generation: u64,
    value: Arc<T>,
}

impl<T> ReadCache<T> {
    /// A cache keeping answers for `ttl` (zero: no caching).
    pub fn new(ttl: Duration) -> ReadCache<T> {
        ReadCache {
            ttl,
            generation: AtomicU64::new(0),
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The answer for `key`: the cached one if younger than the time-to-live, otherwise
    /// computed by `compute` (errors are not cached).
    pub async fn get_or_compute<E, F, Fut>(&self, key: Key, compute: F) -> Result<Arc<T>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        if self.ttl.is_zero() {
            return compute().await.map(Arc::new);
        }
        let mut entries = self.entries.lock().await;
        let generation = self.generation.load(Ordering::Acquire);
        if let Some(e) = entries.get(&key) {
            if e.generation == generation && e.at.elapsed() < self.ttl {
                return Ok(e.value.clone());
            }
        }
        let at = Instant::now();
        let value = Arc::new(compute().await?);
        if entries.len() >= MAX_KEYS {
            entries.clear();
        }
        let entry = Entry {
            at,
            generation,
            value: value.clone(),
        };
        entries.insert(key, entry);
        Ok(value)
    }

    /// Invalidates every answer (after a write through this instance); never waits.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn answers_are_reused_until_cleared() {
        let cache: ReadCache<u32> = ReadCache::new(Duration::from_secs(3600));
        let key = (30, false, None);
        let first = cache
            .get_or_compute(key.clone(), || async { Ok::<_, ()>(1) })
            .await
            .unwrap();
        let again = cache
            .get_or_compute(key.clone(), || async { Ok::<_, ()>(2) })
            .await
            .unwrap();
        assert_eq!((*first, *again), (1, 1), "the second read is served cached");
        cache.invalidate();
        let fresh = cache
            .get_or_compute(key, || async { Ok::<_, ()>(3) })
            .await
            .unwrap();
        assert_eq!(*fresh, 3);
    }

    #[tokio::test]
    async fn errors_are_not_cached_and_zero_ttl_never_caches() {
        let cache: ReadCache<u32> = ReadCache::new(Duration::from_secs(3600));
        let key = (7, true, Some("1.0.0".into()));
        let failed = cache
            .get_or_compute(key.clone(), || async { Err::<u32, _>("down") })
            .await;
        assert_eq!(failed, Err("down"));
        let ok = cache
            .get_or_compute(key, || async { Ok::<_, &str>(4) })
            .await
            .unwrap();
        assert_eq!(*ok, 4);
        let off: ReadCache<u32> = ReadCache::new(Duration::ZERO);
        let a = off
            .get_or_compute((1, false, None), || async { Ok::<_, ()>(5) })
            .await
            .unwrap();
        let b = off
            .get_or_compute((1, false, None), || async { Ok::<_, ()>(6) })
            .await
            .unwrap();
        assert_eq!((*a, *b), (5, 6));
    }
}
