//! The S3 diagnostics worker's transport and storage: the primary destination of the
//! spec (3.1). Batches of records go, gzip'd as JSON Lines, to
//! `[prefix/]diagnostics/YYYY/MM/DD/<device_id>_<timestamp>.log.gz` in the user's bucket
//! (`s3://bucket[/prefix]`) or, as the embedded default, under a local directory
//! (`file:///dir`) with the identical layout. Retention is one lifecycle rule.
//!
//! Each call here is ONE attempt with its own timeouts; retrying, circuit breaking and
//! swallowing failures are the dispatcher's job.
//!
//! ```no_run
//! # async fn demo(records: Vec<locus_telemetry::record::Record>) -> Result<(), locus_telemetry::sink::SinkError> {
//! use locus_telemetry::sink::s3::*;
//! let dest = Destination::parse("s3://my-bucket")?;
//! let store = DiagnosticsStore::open(&dest, &S3Options::from_env()).await?;
//! let key = store.key_for("pixel-7", KeyClock::global().next());
//! store.put(&key, encode_batch(&records)).await?;
//! for obj in store.list(None).await? {
//!     println!("{} {} {}", obj.key, obj.size, obj.last_modified);
//! }
//! store.lifecycle_apply(DEFAULT_RETENTION_DAYS).await?;
//! # Ok(()) }
//! ```
//!
//! With `diagnostics_recipients` set, each body is also age-encrypted to them and the key
//! ends in `.log.gz.age` ([`encrypt_body`], [`encrypted_object_key`]).
//!
//! Files: [`url`](Destination) parsing, [`options`](S3Options), [`key`](object_key)
//! layout, [`batch`](encode_batch) encoding, `s3_store` / `file_store` backends, and
//! [`lifecycle`] retention.

mod batch;
mod encrypt;
mod file_store;
mod key;
pub mod lifecycle;
mod options;
mod s3_store;
mod url;

pub use super::SinkError;
pub use batch::{
    decode_batch, decode_batch_lenient, encode_batch, LenientBatch, MAX_DECODED_BYTES,
};
#[cfg(any(test, feature = "internals"))]
pub use batch::encode_batch_with_level;
pub use encrypt::{
    decrypt_reader, encrypt_body, looks_encrypted, AgeError, Identities, Recipients, AGE_SUFFIX,
};
pub use file_store::LIFECYCLE_FILE;
pub use key::{
    day_prefix, encrypted_object_key, is_encrypted_key, object_key, parse_key, KeyClock, KeyParts,
    EXTENSION,
};
pub use lifecycle::{
    LifecycleChange, LifecycleOutcome, RetentionRule, DEFAULT_RETENTION_DAYS, RULE_ID,
};
pub use options::{S3Options, SecretString};
pub use url::Destination;

use chrono::{DateTime, NaiveDate, Utc};

/// One stored diagnostics file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Full key: `[prefix/]diagnostics/YYYY/MM/DD/<device>_<ts>.log.gz`.
    pub key: String,
    /// Size in bytes (compressed).
    pub size: u64,
    /// When it was stored (server time for S3, modification time for files).
    pub last_modified: DateTime<Utc>,
}

/// A diagnostics destination, ready for calls. Cheap to share behind an `Arc`; all
/// methods take `&self`.
pub struct DiagnosticsStore {
    dest: Destination,
    backend: Backend,
}

enum Backend {
    File(file_store::FileStore),
    S3(Box<s3_store::S3Store>),
}

impl std::fmt::Debug for DiagnosticsStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiagnosticsStore")
            .field("destination", &self.dest.to_string())
            .finish_non_exhaustive()
    }
}

impl DiagnosticsStore {
    /// Prepares `dest`. No network call is made (the first `put` connects), and for
    /// files the directory is created on the first `put`. S3 needs credentials in `opts`
    /// (see [`S3Options::from_env`]); they are missing → [`SinkError::InvalidDestination`].
    pub async fn open(dest: &Destination, opts: &S3Options) -> Result<DiagnosticsStore, SinkError> {
        let backend = match dest {
            Destination::File { root } => Backend::File(file_store::FileStore::open(
                root,
                dest.diagnostics_prefix(),
            )?),
            Destination::S3 { .. } => Backend::S3(Box::new(s3_store::S3Store::open(dest, opts)?)),
        };
        Ok(DiagnosticsStore {
            dest: dest.clone(),
            backend,
        })
    }

    /// Asks S3 for at most `n` keys per listing page (the server's default is 1000).
    /// Listing still returns everything; this only changes how many calls it takes —
    /// mostly useful to exercise pagination in tests. No effect on `file://`.
    pub fn with_list_page_size(mut self, n: u32) -> DiagnosticsStore {
        if let Backend::S3(s) = &mut self.backend {
            s.page_size = Some(i32::try_from(n.max(1)).unwrap_or(i32::MAX));
        }
        self
    }

    /// Where this store writes.
    pub fn destination(&self) -> &Destination {
        &self.dest
    }

    /// The key for a batch of `device_id` made at `batch_time` (use
    /// `KeyClock::next` for unique times) under this destination's prefix.
    pub fn key_for(&self, device_id: &str, batch_time: DateTime<Utc>) -> String {
        object_key(self.dest.prefix(), device_id, batch_time)
    }

    /// Stores `body` under `key` (overwriting). One attempt, bounded by the connect and
    /// operation timeouts; files are written to a temp file and renamed into place.
    pub async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), SinkError> {
        match &self.backend {
            Backend::File(f) => f.put(key, body).await,
            Backend::S3(s) => s.put(key, body).await,
        }
    }

    /// The diagnostics files under `[prefix/]diagnostics/` — or only that UTC day's
    /// folder when `date` is given — sorted by key (= by day, device, time), all pages.
    pub async fn list(&self, date: Option<NaiveDate>) -> Result<Vec<ObjectInfo>, SinkError> {
        let prefix = match date {
            Some(d) => day_prefix(self.dest.prefix(), d),
            None => self.dest.diagnostics_prefix(),
        };
        match &self.backend {
            Backend::File(f) => f.list(&prefix).await,
            Backend::S3(s) => s.list(&prefix).await,
        }
    }

    /// The bytes stored under `key`; a missing key is [`SinkError::NotFound`].
    pub async fn get(&self, key: &str) -> Result<Vec<u8>, SinkError> {
        match &self.backend {
            Backend::File(f) => f.get(key).await,
            Backend::S3(s) => s.get(key).await,
        }
    }

    /// Our retention rule ([`RULE_ID`]) as stored, or `None` (also when the bucket has no
    /// lifecycle configuration at all).
    pub async fn lifecycle_show(&self) -> Result<Option<RetentionRule>, SinkError> {
        match &self.backend {
            Backend::File(f) => f.lifecycle_show().await,
            Backend::S3(s) => s.lifecycle_show().await,
        }
    }

    /// Makes sure our rule expires `[prefix/]diagnostics/` after `days` days, keeping every
    /// other rule as it was, and verifies it by reading back (see the `lifecycle` module). For
    /// `file://`, also deletes local diagnostics files older than `days`.
    pub async fn lifecycle_apply(&self, days: u32) -> Result<LifecycleOutcome, SinkError> {
        if days == 0 {
            return Err(SinkError::InvalidDestination {
                url: self.dest.to_string(),
                why: "retention must be at least 1 day".into(),
            });
        }
        match &self.backend {
            Backend::File(f) => f.lifecycle_apply(days).await,
            Backend::S3(s) => s.lifecycle_apply(days).await,
        }
    }
}
