//! The community pseudonym: HMAC-SHA256 of the device id keyed with a random
//! per-install salt. The salt is created on opt-in, kept in the data dir (mode 0600),
//! never leaves the device, and is replaced on opt-out — so a later opt-in is a new,
//! unlinkable pseudonym.
//!
//! ```
//! use locus_telemetry::privacy::Salt;
//! let dir = tempfile::tempdir().unwrap();
//! let salt = Salt::load_or_create(dir.path()).unwrap();
//! let a = salt.pseudonym("device-1");
//! assert_eq!(a, Salt::load_or_create(dir.path()).unwrap().pseudonym("device-1"));
//! assert_eq!(a.len(), 64);
//! assert!(!a.contains("device"));
//! ```

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::path::{Path, PathBuf};

/// A secret salt. Its `Debug` never shows the bytes.
pub struct Salt([u8; 32]);

impl std::fmt::Debug for Salt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Salt(<secret>)")
    }
}

fn salt_path(data_dir: &Path) -> PathBuf {
    crate::data_dir::DataDir::new(data_dir).path(crate::data_dir::StateFile::Salt)
}

impl Salt {
    /// A fresh random salt (not stored).
    pub fn random() -> std::io::Result<Salt> {
        let mut b = [0u8; 32];
        getrandom::fill(&mut b).map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(Salt(b))
    }

    /// The stored salt, or a new one written with owner-only permissions.
    pub fn load_or_create(data_dir: &Path) -> std::io::Result<Salt> {
        match Self::load(data_dir) {
            Some(salt) => Ok(salt),
            None => Self::rotate(data_dir),
        }
    }

    /// The stored salt, if there is a valid one.
    pub fn load(data_dir: &Path) -> Option<Salt> {
        let bytes = crate::state_file::read(&salt_path(data_dir)).ok()?;
        let arr: [u8; 32] = bytes.try_into().ok()?;
        Some(Salt(arr))
    }

    fn store(&self, data_dir: &Path) -> std::io::Result<()> {
        // Through the file door: 0600, the temporary name never followed, bounded.
        let path = salt_path(data_dir);
        crate::door::replace_via(&path, &path.with_extension("tmp"), &self.0)
    }

    /// Replaces the stored salt with a new random one (opt-out).
    pub fn rotate(data_dir: &Path) -> std::io::Result<Salt> {
        let salt = Salt::random()?;
        salt.store(data_dir)?;
        Ok(salt)
    }

    /// The pseudonym of `device_id`: 64 lowercase hex chars.
    pub fn pseudonym(&self, device_id: &str) -> String {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.0) else {
            unreachable!("HMAC accepts keys of any length")
        };
        mac.update(device_id.as_bytes());
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}
