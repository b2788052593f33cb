//! Token buckets for the per-client and per-pseudonym rate limits (issue 20: limits that
//! hold across instances).
//!
//! On PostgreSQL, which N collectors share, the buckets live in the database
//! ([`crate::store::Store::take_token`]: one atomic upsert per check, in an UNLOGGED
//! table), so a client gets its limit once in total, not once per instance. A bucket's
//! key is a keyed hash under the network key of the day, never an address. When the
//! shared bucket cannot be reached within [`SHARED_TIMEOUT`] (database down or slow), the
//! collector falls back to its own in-memory buckets for [`SHARED_BACKOFF`]: limits then
//! hold per instance only, and requests are still answered at once.
//!
//! On SQLite (one host) the buckets are only in memory. Memory keys are never stored or
//! logged and the map is bounded: idle buckets are pruned, and when it is still full new
//! keys are refused rather than letting memory grow under a flood of distinct keys.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most keys tracked at once per limiter.
pub const MAX_KEYS: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// A token bucket per key: `per_minute` requests a minute, with a burst of the same size.
/// A rate of 0 turns the limiter off.
#[derive(Debug)]
pub struct RateLimiter<K> {
    per_minute: u32,
    max_keys: usize,
    buckets: Mutex<HashMap<K, Bucket>>,
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    /// A limiter allowing `per_minute` requests per key per minute (0 = unlimited).
    pub fn new(per_minute: u32) -> Self {
        Self::with_max_keys(per_minute, MAX_KEYS)
    }

    /// As [`RateLimiter::new`], tracking at most `max_keys` keys.
    pub fn with_max_keys(per_minute: u32, max_keys: usize) -> Self {
        RateLimiter {
            per_minute,
            max_keys: max_keys.max(1),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `key` at `now`; on refusal, how long until one is available.
    pub fn check(&self, key: &K, now: Instant) -> Result<(), Duration> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let capacity = f64::from(self.per_minute);
        let per_sec = capacity / 60.0;
        // A poisoned lock only means another request panicked mid-update; the map is
        // still a valid map, so keep going with it.
        let mut map = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if !map.contains_key(key) && map.len() >= self.max_keys {
            // Drop buckets that have refilled completely: they carry no state.
            map.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.last).as_secs_f64() * per_sec < capacity
            });
            if map.len() >= self.max_keys {
                return Err(Duration::from_secs(1));
            }
        }
        let b = map.entry(key.clone()).or_insert(Bucket {
            tokens: capacity,
            last: now,
        });
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + elapsed * per_sec).min(capacity);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) / per_sec))
        }
    }
}

/// How long the in-memory buckets decide reads alone after the shared ones failed.
pub const SHARED_BACKOFF: Duration = Duration::from_secs(5);

/// Why a request may not go on.
#[derive(Debug)]
pub enum Refusal {
    /// The limit is reached; a token is there after this long.
    Limited(Duration),
    /// A write could not reach the shared buckets (nor could it store anything).
    Store(crate::store::StoreError),
}

/// A limit checked in the shared buckets when the store keeps them, else in memory.
#[derive(Debug)]
pub struct Limit<K> {
    /// The in-memory buckets (and the rate).
    pub local: RateLimiter<K>,
    /// Tag of this limit's shared keys (`c` client, `p` pseudonym).
    tag: u8,
    /// Unix ms until which reads skip the shared buckets (after a failure).
    skip_until_ms: std::sync::atomic::AtomicI64,
}

impl<K: Hash + Eq + Clone> Limit<K> {
    /// `per_minute` requests per key per minute (0 = unlimited); `tag` names the limit's
    /// shared keys.
    pub fn new(per_minute: u32, tag: u8) -> Self {
        Limit {
            local: RateLimiter::new(per_minute),
            tag,
            skip_until_ms: std::sync::atomic::AtomicI64::new(0),
        }
    }

    /// Takes one token for `key` (whose shared name is made of `name`). `read`: a read
    /// request, which, when the shared buckets fail (the
    /// database is down; reads may still be served from the cache), is limited in memory
    /// for [`SHARED_BACKOFF`]. A write that cannot reach them is refused with the store's
    /// error (503): it could not have been stored either, and falling back would let
    /// each instance admit a full burst.
    pub async fn check(
        &self,
        store: &crate::store::Store,
        keys: &crate::network::NetworkKeys,
        key: &K,
        name: &[u8],
        read: bool,
    ) -> Result<(), Refusal> {
        use std::sync::atomic::Ordering;
        let per_minute = self.local.per_minute;
        if per_minute == 0 {
            return Ok(());
        }
        // The instance's own buckets first: what this instance alone saw is a lower
        // bound of what all saw, so a key over the limit here is over it everywhere, and
        // a flood is refused without a database round trip per request.
        self.local
            .check(key, Instant::now())
            .map_err(Refusal::Limited)?;
        let now = chrono::Utc::now();
        let now_ms = now.timestamp_millis();
        if !store.shares_limits() || (read && self.skip_until_ms.load(Ordering::Relaxed) > now_ms) {
            return Ok(());
        }
        let mut data = vec![self.tag];
        data.extend_from_slice(name);
        let shared = match keys.keyed(store, &data, now).await {
            Ok(key) => store.take_token(&key, per_minute, now_ms).await,
            Err(crate::network::NetworkError::Store(e)) => Err(e),
            Err(crate::network::NetworkError::Random(_)) => {
                Err(crate::store::StoreError::Unavailable)
            }
        };
        match shared {
            Ok(None) => Ok(()),
            Ok(Some(wait)) => Err(Refusal::Limited(wait)),
            Err(e) if !read => Err(Refusal::Store(e)),
            Err(e) => {
                let backoff = i64::try_from(SHARED_BACKOFF.as_millis()).unwrap_or(5000);
                self.skip_until_ms
                    .store(now_ms + backoff, Ordering::Relaxed);
                tracing::warn!(error = %e, "shared rate limits unreachable: limiting reads in memory");
                Ok(())
            }
        }
    }
}

/// The key a client address is limited under: the address itself for IPv4, the /64
/// network for IPv6 (one host usually owns a whole /64).
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refill() {
        let rl = RateLimiter::new(60);
        let t0 = Instant::now();
        for _ in 0..60 {
            assert!(rl.check(&"a", t0).is_ok());
        }
        let wait = rl.check(&"a", t0).unwrap_err();
        assert!(wait <= Duration::from_secs(1));
        assert!(rl.check(&"b", t0).is_ok(), "keys are independent");
        assert!(rl.check(&"a", t0 + Duration::from_secs(1)).is_ok());
        assert!(rl.check(&"a", t0 + Duration::from_secs(1)).is_err());
    }

    #[test]
    fn zero_is_off() {
        let rl = RateLimiter::new(0);
        let t0 = Instant::now();
        for _ in 0..10_000 {
            assert!(rl.check(&1u32, t0).is_ok());
        }
    }

    #[test]
    fn key_map_is_bounded() {
        let rl = RateLimiter::with_max_keys(10, 3);
        let t0 = Instant::now();
        for k in 0..3u32 {
            assert!(rl.check(&k, t0).is_ok());
        }
        assert!(rl.check(&99, t0).is_err(), "full map refuses new keys");
        // After a minute every bucket is full again and can be pruned.
        assert!(rl.check(&99, t0 + Duration::from_secs(61)).is_ok());
    }

    #[test]
    fn ipv6_is_limited_per_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        assert_eq!(client_key(a), client_key(b));
        let v4: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(client_key(v4), v4);
    }
}
