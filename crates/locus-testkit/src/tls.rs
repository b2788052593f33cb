//! A private certificate authority for HTTPS tests: a CA no system trusts, and a server
//! certificate it signed for `127.0.0.1` / `localhost`, written as PEM files (what
//! SeaweedFS's `-s3.cert.file`/`-s3.key.file` and a client's `ca_file` take).
//!
//! ```no_run
//! use locus_testkit::tls::PrivateCa;
//! let dir = std::env::temp_dir();
//! let ca = PrivateCa::create(&dir).unwrap();
//! assert!(std::fs::read_to_string(&ca.ca_pem).unwrap().contains("BEGIN CERTIFICATE"));
//! ```

use std::path::{Path, PathBuf};

/// The files of a private CA and of one server certificate it signed.
#[derive(Debug, Clone)]
pub struct PrivateCa {
    /// The CA's certificate (PEM): what a client must be told to trust.
    pub ca_pem: PathBuf,
    /// The server's certificate (PEM), for `127.0.0.1` and `localhost`.
    pub server_cert: PathBuf,
    /// The server's private key (PEM, PKCS#8).
    pub server_key: PathBuf,
}

impl PrivateCa {
    /// Makes a fresh CA and server certificate (valid from now for a few days) and
    /// writes them under `dir` as `ca.pem`, `server.pem` and `server.key`.
    pub fn create(dir: &Path) -> Result<PrivateCa, String> {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
            KeyUsagePurpose,
        };
        let err = |what: &str, e: rcgen::Error| format!("{what}: {e}");
        let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(|e| err("CA", e))?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "Locus test private CA");
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = KeyPair::generate().map_err(|e| err("CA key", e))?;
        let ca_cert = ca.self_signed(&ca_key).map_err(|e| err("CA cert", e))?;

        let mut server =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                .map_err(|e| err("server", e))?;
        server
            .distinguished_name
            .push(DnType::CommonName, "127.0.0.1");
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_key = KeyPair::generate().map_err(|e| err("server key", e))?;
        let server_cert = server
            .signed_by(&server_key, &ca_cert, &ca_key)
            .map_err(|e| err("server cert", e))?;

        let out = PrivateCa {
            ca_pem: dir.join("ca.pem"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server.key"),
        };
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for (path, text) in [
            (&out.ca_pem, ca_cert.pem()),
            (&out.server_cert, server_cert.pem()),
            (&out.server_key, server_key.serialize_pem()),
        ] {
            std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        Ok(out)
    }
}
