//! In-memory token buckets for the per-client and per-pseudonym rate limits.
//!
//! Keys live only in this process's memory (client addresses are never stored or logged)
//! and the map is bounded: idle buckets are pruned, and when it is still full new keys are
//! refused rather than letting memory grow under a flood of distinct keys.

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
