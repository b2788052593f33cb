//! Client networks, for making k mean k *places* as well as k pseudonyms. Pseudonyms
//! cost nothing: one machine can invent as many as it likes. Network addresses do cost
//! something, so a version or a template is published only once k distinct pseudonyms
//! *and* k distinct client networks reported it, and one network may bring only so many
//! new pseudonyms a day.
//!
//! A client network is the /24 of an IPv4 address or the /48 of an IPv6 address (an
//! IPv4-mapped IPv6 address counts as IPv4). It is never stored as such: a report row
//! keeps only `HMAC-SHA256(key of the day, network)`, cut to 128 bits. The key is
//! random, made by whichever collector first needs it on a UTC day, shared through the
//! database (so collectors sharing one database and a restarted collector agree), and
//! deleted once the day is over: from then on nobody, the operator included, can tell
//! which network a stored hash stands for, or link the same network across days.
//!
//! The price of rotating: the same network counts as a new one each day. See the
//! README's "What k protects against" for what that means.

use std::net::IpAddr;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::store::{Store, StoreError};

/// Bytes of a day's key.
pub const KEY_BYTES: usize = 32;

/// The network an address belongs to, as bytes tagged with the address family: the
/// first three octets of IPv4, the first six bytes of IPv6.
pub fn prefix(ip: IpAddr) -> Vec<u8> {
    let ip = ip.to_canonical(); // IPv4-mapped IPv6 as IPv4
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            vec![4, o[0], o[1], o[2]]
        }
        IpAddr::V6(v6) => {
            let o = v6.octets();
            let mut p = vec![6];
            p.extend_from_slice(&o[..6]);
            p
        }
    }
}

/// The keyed hash of `ip`'s network under `key`: 32 lowercase hex characters.
pub fn hash(key: &[u8], ip: IpAddr) -> String {
    mac_hex(key, &prefix(ip))
}

/// `HMAC-SHA256(key, data)` cut to 128 bits, as 32 lowercase hex characters.
fn mac_hex(key: &[u8], data: &[u8]) -> String {
    // HMAC takes a key of any length; this cannot fail.
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(data);
    hex(&mac.finalize().into_bytes()[..16])
}

/// `bytes` as lowercase hex (the collector's one spelling of a digest).
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// The UTC day (days since the Unix epoch) of `t`.
pub fn day_of(t: DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(86_400)
}

/// Seconds from `t` until the next UTC midnight (at least 1).
pub fn seconds_to_next_day(t: DateTime<Utc>) -> u64 {
    let left = 86_400 - t.timestamp().rem_euclid(86_400);
    u64::try_from(left).unwrap_or(1).max(1)
}

/// Why a network's hash could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// The system's random source failed.
    #[error("no randomness for the network key: {0}")]
    Random(getrandom::Error),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Today's key, cached in memory; made or read through the database once a day.
#[derive(Debug, Default)]
pub struct NetworkKeys {
    current: Mutex<Option<(i64, Vec<u8>)>>,
    /// One fetch at a time: the first requests of a day (or after a start) would
    /// otherwise all queue for the same key row, each holding a connection.
    fetching: tokio::sync::Mutex<()>,
}

impl NetworkKeys {
    /// The keyed hash of `ip`'s network under the key of `now`'s UTC day.
    pub async fn hash(
        &self,
        store: &Store,
        ip: IpAddr,
        now: DateTime<Utc>,
    ) -> Result<String, NetworkError> {
        Ok(hash(&self.key(store, now).await?, ip))
    }

    /// `HMAC-SHA256(key of now's UTC day, data)`, cut to 128 bits (32 hex): names that
    /// collectors sharing the database agree on and that are unlinkable once the day's key
    /// is gone (the shared rate-limit buckets).
    pub async fn keyed(
        &self,
        store: &Store,
        data: &[u8],
        now: DateTime<Utc>,
    ) -> Result<String, NetworkError> {
        Ok(mac_hex(&self.key(store, now).await?, data))
    }

    /// The key of `day` if this instance holds it already.
    fn cached(&self, day: i64) -> Option<Vec<u8>> {
        let guard = self.current.lock().unwrap_or_else(|e| e.into_inner());
        guard
            .as_ref()
            .filter(|(d, _)| *d == day)
            .map(|(_, k)| k.clone())
    }

    /// The key of `now`'s UTC day.
    async fn key(&self, store: &Store, now: DateTime<Utc>) -> Result<Vec<u8>, NetworkError> {
        let day = day_of(now);
        if let Some(k) = self.cached(day) {
            return Ok(k);
        }
        let _one = self.fetching.lock().await;
        let key = match self.cached(day) {
            Some(k) => k,
            None => {
                let mut fresh = [0u8; KEY_BYTES];
                getrandom::fill(&mut fresh).map_err(NetworkError::Random)?;
                let key = store.network_key(day, &fresh).await?;
                let mut guard = self.current.lock().unwrap_or_else(|e| e.into_inner());
                *guard = Some((day, key.clone()));
                key
            }
        };
        Ok(key)
    }
}

/// Locks that make "check the network's quota, then store" one step for reports of a
/// new pseudonym from the same network within this process (striped: networks share
/// [`LOCK_STRIPES`] locks). Without them a burst of concurrent new pseudonyms from one
/// network would all pass the check before any is stored. Collectors sharing a database
/// can still each let one through at the same moment.
#[derive(Debug)]
pub struct QuotaLocks {
    stripes: Vec<tokio::sync::Mutex<()>>,
}

/// How many locks [`QuotaLocks`] holds.
pub const LOCK_STRIPES: usize = 64;

impl Default for QuotaLocks {
    fn default() -> Self {
        QuotaLocks {
            stripes: (0..LOCK_STRIPES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
        }
    }
}

impl QuotaLocks {
    /// Waits for the lock of `network` (a keyed hash).
    pub async fn lock(&self, network: &str) -> tokio::sync::MutexGuard<'_, ()> {
        let stripe = network.bytes().fold(0usize, |h, b| {
            h.wrapping_mul(31).wrapping_add(usize::from(b))
        }) % LOCK_STRIPES;
        self.stripes[stripe].lock().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_network_one_hash_per_key() {
        let key = [7u8; KEY_BYTES];
        let a: IpAddr = "198.51.100.7".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let b: IpAddr = "198.51.100.200"
            .parse()
            .unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let c: IpAddr = "198.51.101.7".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let mapped: IpAddr = "::ffff:198.51.100.9"
            .parse()
            .unwrap_or(IpAddr::from([0, 0, 0, 0]));
        assert_eq!(hash(&key, a), hash(&key, b), "same /24");
        assert_eq!(hash(&key, a), hash(&key, mapped), "IPv4-mapped is IPv4");
        assert_ne!(hash(&key, a), hash(&key, c), "another /24");
        assert_ne!(
            hash(&key, a),
            hash(&[8u8; KEY_BYTES], a),
            "another day's key"
        );
        assert_eq!(hash(&key, a).len(), 32);
        assert!(!hash(&key, a).contains("198"));
    }

    #[test]
    fn ipv6_networks_are_48_bits() {
        let key = [1u8; KEY_BYTES];
        let p = |s: &str| s.parse::<IpAddr>().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        assert_eq!(
            hash(&key, p("2001:db8:1:ffff::1")),
            hash(&key, p("2001:db8:1:0::2"))
        );
        assert_ne!(
            hash(&key, p("2001:db8:1::1")),
            hash(&key, p("2001:db8:2::1"))
        );
    }

    #[test]
    fn days_and_midnights() {
        let t = DateTime::from_timestamp(86_400 * 3 + 10, 0).unwrap_or_default();
        assert_eq!(day_of(t), 3);
        assert_eq!(seconds_to_next_day(t), 86_390);
    }
}
