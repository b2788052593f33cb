//! Diagnostics encrypted to the user's own key (issue 22): with `diagnostics_recipients`
//! set, each batch is gzip'd as always and then encrypted with [age] to those X25519
//! recipients (`age1…`), and stored as `….log.gz.age`. Only the holder of a matching
//! identity (`AGE-SECRET-KEY-1…`) can read it — with `locus-diag cat --identity` or the
//! standard tool: `age -d -i key.txt x.log.gz.age | zcat | jq`. The device only ever holds
//! public keys; identities are read by tools on the user's own machine.
//!
//! ```
//! use locus_telemetry::sink::s3::{decrypt_reader, encrypt_body, Identities, Recipients};
//! use std::io::Read;
//! let key = age::x25519::Identity::generate();
//! let recipients = Recipients::parse(&[key.to_public().to_string()]).unwrap();
//! let sealed = encrypt_body(b"gzip bytes", &recipients).unwrap();
//! use age::secrecy::ExposeSecret;
//! let ids = Identities::parse(key.to_string().expose_secret()).unwrap();
//! let mut plain = Vec::new();
//! decrypt_reader(&sealed[..], &ids).unwrap().read_to_end(&mut plain).unwrap();
//! assert_eq!(plain, b"gzip bytes");
//! ```
//!
//! [age]: https://age-encryption.org/v1

use std::io::{BufRead, Read, Write};
use std::path::Path;

/// What every age file starts with (its version line).
pub const AGE_MAGIC: &[u8] = b"age-encryption.org/v1\n";

/// The suffix an encrypted diagnostics file adds to [`super::EXTENSION`].
pub const AGE_SUFFIX: &str = ".age";

/// Largest identity file read (a key file is a few hundred bytes).
const MAX_IDENTITY_FILE_BYTES: u64 = 64 * 1024;

/// Why recipients, identities or an encrypted file could not be used. Messages never
/// hold a private key.
#[derive(Debug, thiserror::Error)]
pub enum AgeError {
    /// `diagnostics_recipients` is set to an empty string or a list with nothing usable.
    #[error("no recipients given")]
    NoRecipients,
    /// A recipient is not an age X25519 public key.
    #[error("{shown} is not an age X25519 recipient (a public key `age1…`, as `age-keygen -y key.txt` prints it)")]
    BadRecipient {
        /// The value as shown (a private key is never shown).
        shown: String,
    },
    /// A private key was given where a recipient belongs.
    #[error("entry {index} is a private key (AGE-SECRET-KEY-1…, not shown): it must never be on the device; give its public key (`age-keygen -y key.txt`)")]
    SecretKeyAsRecipient {
        /// 1-based position in the list.
        index: usize,
    },
    /// The identity file could not be read.
    #[error("cannot read identity file {path}: {source}")]
    IdentityRead {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A line of the identity file is not an identity.
    #[error("identity file{path}: line {line} is not an age X25519 identity (AGE-SECRET-KEY-1…){hint}")]
    BadIdentity {
        /// ` path` or empty.
        path: String,
        /// 1-based line number.
        line: usize,
        /// A hint when the line is a public key.
        hint: &'static str,
    },
    /// The identity file holds no identity.
    #[error("identity file{path} holds no age identity (AGE-SECRET-KEY-1…)")]
    NoIdentities {
        /// ` path` or empty.
        path: String,
    },
    /// The data is not an age file.
    #[error("not an age-encrypted file")]
    NotAge,
    /// No identity given matches a recipient of the file.
    #[error("none of the given identities can decrypt it (it was encrypted to other keys)")]
    NoMatchingIdentity,
    /// The file is damaged, truncated or was altered.
    #[error("cannot decrypt: {0}")]
    Decrypt(String),
    /// Encryption failed.
    #[error("cannot encrypt: {0}")]
    Encrypt(String),
}

/// The public keys batches are encrypted to. Holds no secret.
#[derive(Clone)]
pub struct Recipients(Vec<age::x25519::Recipient>);

impl std::fmt::Debug for Recipients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(ToString::to_string))
            .finish()
    }
}

impl Recipients {
    /// [`Recipients::parse`] for the setting: an empty list means no encryption.
    pub(crate) fn parse_optional(list: &[String]) -> Result<Option<Recipients>, AgeError> {
        if list.is_empty() {
            Ok(None)
        } else {
            Recipients::parse(list).map(Some)
        }
    }

    /// Parses `age1…` public keys; every entry must be one, and there must be at least
    /// one. Surrounding whitespace is ignored.
    pub fn parse(list: &[String]) -> Result<Recipients, AgeError> {
        if list.is_empty() {
            return Err(AgeError::NoRecipients);
        }
        let mut out = Vec::with_capacity(list.len());
        for (i, entry) in list.iter().enumerate() {
            let entry = entry.trim();
            if entry
                .get(..15)
                .is_some_and(|p| p.eq_ignore_ascii_case("AGE-SECRET-KEY-"))
            {
                return Err(AgeError::SecretKeyAsRecipient { index: i + 1 });
            }
            let parsed = entry
                .parse::<age::x25519::Recipient>()
                .map_err(|_| AgeError::BadRecipient {
                    shown: show(entry),
                })?;
            out.push(parsed);
        }
        Ok(Recipients(out))
    }

    /// How many.
    fn count(&self) -> usize {
        self.0.len()
    }
}

/// A value from the settings, shown in an error: quoted, cut at 80 characters.
fn show(value: &str) -> String {
    let cut: String = value.chars().take(80).collect();
    if cut.len() < value.len() {
        format!("{cut:?}…")
    } else {
        format!("{cut:?}")
    }
}

/// Encrypts `body` (a gzip'd batch) to `recipients`: the bytes of a standard age file.
pub fn encrypt_body(body: &[u8], recipients: &Recipients) -> Result<Vec<u8>, AgeError> {
    let encryptor = age::Encryptor::with_recipients(
        recipients
            .0
            .iter()
            .map(|r| r as &dyn age::Recipient),
    )
    .map_err(|e| AgeError::Encrypt(e.to_string()))?;
    // age adds a header (~200 bytes per recipient) and 16 bytes per 64 KiB chunk.
    let mut out = Vec::with_capacity(body.len() + 256 * recipients.count() + body.len() / 4096 + 64);
    let enc = |e: std::io::Error| AgeError::Encrypt(e.to_string());
    let mut writer = encryptor.wrap_output(&mut out).map_err(enc)?;
    writer.write_all(body).map_err(enc)?;
    writer.finish().map_err(enc)?;
    Ok(out)
}

/// The identities (private keys) a tool decrypts with. Never printed.
pub struct Identities(Vec<age::x25519::Identity>);

impl std::fmt::Debug for Identities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Identities({} keys, not shown)", self.0.len())
    }
}

impl Identities {
    /// Reads an identity file as `age-keygen` writes it: `AGE-SECRET-KEY-1…` lines,
    /// `#` comments and blank lines.
    pub fn from_file(path: &Path) -> Result<Identities, AgeError> {
        let shown = path.display().to_string();
        let read_err = |source| AgeError::IdentityRead {
            path: shown.clone(),
            source,
        };
        let mut text = String::new();
        std::fs::File::open(path)
            .map_err(read_err)?
            .take(MAX_IDENTITY_FILE_BYTES)
            .read_to_string(&mut text)
            .map_err(read_err)?;
        Self::parse_named(&text, &format!(" {shown}"))
    }

    /// Adds the identities of `other` (several `--identity` files make one set).
    pub fn extend(&mut self, other: Identities) {
        self.0.extend(other.0);
    }

    /// Parses the text of an identity file.
    pub fn parse(text: &str) -> Result<Identities, AgeError> {
        Self::parse_named(text, "")
    }

    fn parse_named(text: &str, path: &str) -> Result<Identities, AgeError> {
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match line.parse::<age::x25519::Identity>() {
                Ok(id) => out.push(id),
                Err(_) => {
                    return Err(AgeError::BadIdentity {
                        path: path.to_owned(),
                        line: i + 1,
                        hint: if line.starts_with("age1") {
                            " — it is a public key (recipient); decrypting needs the private key"
                        } else {
                            ""
                        },
                    })
                }
            }
        }
        if out.is_empty() {
            return Err(AgeError::NoIdentities {
                path: path.to_owned(),
            });
        }
        Ok(Identities(out))
    }
}

/// True when `head` (the first bytes of a file) is the start of an age file.
pub fn looks_encrypted(head: &[u8]) -> bool {
    head.starts_with(AGE_MAGIC)
}

/// A reader of the plaintext of the age file `input`. The header is checked here: not
/// age, or no matching identity, is an error before anything is read. Each 64 KiB chunk
/// is authenticated before it is returned, so a damaged or altered file ends in a read
/// error, never in altered plaintext.
pub fn decrypt_reader<R: BufRead>(
    input: R,
    identities: &Identities,
) -> Result<impl Read, AgeError> {
    let decryptor = age::Decryptor::new_buffered(input).map_err(|e| match e {
        age::DecryptError::UnknownFormat | age::DecryptError::InvalidHeader => AgeError::NotAge,
        other => AgeError::Decrypt(other.to_string()),
    })?;
    decryptor
        .decrypt(identities.0.iter().map(|i| i as &dyn age::Identity))
        .map_err(|e| match e {
            age::DecryptError::NoMatchingKeys => AgeError::NoMatchingIdentity,
            other => AgeError::Decrypt(other.to_string()),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use age::secrecy::ExposeSecret;

    fn key() -> (age::x25519::Identity, String) {
        let id = age::x25519::Identity::generate();
        let public = id.to_public().to_string();
        (id, public)
    }

    fn ids(id: &age::x25519::Identity) -> Identities {
        Identities::parse(&format!(
            "# created: now\n# public key: x\n{}\n",
            id.to_string().expose_secret()
        ))
        .unwrap()
    }

    fn open(sealed: &[u8], ids: &Identities) -> Result<Vec<u8>, AgeError> {
        let mut out = Vec::new();
        decrypt_reader(sealed, ids)?
            .read_to_end(&mut out)
            .map_err(|e| AgeError::Decrypt(e.to_string()))?;
        Ok(out)
    }

    #[test]
    fn round_trips_to_each_of_several_recipients_and_not_to_others() {
        let (a, pa) = key();
        let (b, pb) = key();
        let (c, _) = key();
        let body: Vec<u8> = (0..300_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let sealed = encrypt_body(&body, &Recipients::parse(&[pa, pb]).unwrap()).unwrap();
        assert!(looks_encrypted(&sealed));
        assert_eq!(open(&sealed, &ids(&a)).unwrap(), body);
        assert_eq!(open(&sealed, &ids(&b)).unwrap(), body);
        assert!(matches!(
            open(&sealed, &ids(&c)),
            Err(AgeError::NoMatchingIdentity)
        ));
    }

    #[test]
    fn a_damaged_file_is_an_error_not_altered_plaintext() {
        let (a, pa) = key();
        let body = vec![7u8; 200_000];
        let sealed = encrypt_body(&body, &Recipients::parse(&[pa]).unwrap()).unwrap();
        let mut flipped = sealed.clone();
        let at = flipped.len() - 100;
        flipped[at] ^= 1;
        assert!(open(&flipped, &ids(&a)).is_err());
        assert!(open(&sealed[..sealed.len() - 10], &ids(&a)).is_err());
        assert!(matches!(
            decrypt_reader(&b"\x1f\x8bnot age"[..], &ids(&a)).err(),
            Some(AgeError::NotAge)
        ));
    }

    #[test]
    fn recipients_refuse_garbage_and_never_echo_a_private_key() {
        let (a, pa) = key();
        assert!(matches!(
            Recipients::parse(&[]),
            Err(AgeError::NoRecipients)
        ));
        let e = Recipients::parse(&[pa.clone(), "age1nope".into()]).unwrap_err();
        assert!(e.to_string().contains("age1nope"), "{e}");
        let secret = a.to_string().expose_secret().to_owned();
        let e = Recipients::parse(&[pa, secret.clone()]).unwrap_err();
        assert!(matches!(e, AgeError::SecretKeyAsRecipient { index: 2 }));
        assert!(!e.to_string().contains(&secret[15..]), "{e}");
    }

    #[test]
    fn identity_files_refuse_public_keys_and_empty_files_without_echoing() {
        let (_, pa) = key();
        let e = Identities::parse(&format!("# c\n{pa}\n")).unwrap_err();
        assert!(e.to_string().contains("line 2") && e.to_string().contains("public key"));
        assert!(matches!(
            Identities::parse("# only a comment\n"),
            Err(AgeError::NoIdentities { .. })
        ));
        let e = Identities::parse("AGE-SECRET-KEY-1GARBAGE\n").unwrap_err();
        assert!(!e.to_string().contains("GARBAGE"), "{e}");
    }
}
