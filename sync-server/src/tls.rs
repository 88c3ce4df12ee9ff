//! HTTPS and WSS served by the relay itself, with rustls: the certificate chain and key from
//! PEM files (`--tls-cert`, `--tls-key`), read again whenever the files change (a renewal by
//! certbot or the IT team's tooling needs no restart), or a certificate authority and
//! certificate of its own (`--tls-self-signed`, and the demo), made once with rcgen.
//!
//! Tablets trust the relay through the system's roots, or through the fingerprint of the last
//! certificate of the served chain (the private CA, or a lone self-signed certificate) which
//! enrolment tickets carry: see [`TlsFiles::trust_fingerprint`].

use aisle_core::enrolment::CertFingerprint;
use anyhow::{Context, bail};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio_rustls::TlsAcceptor;
use tracing::{info, warn};

/// How often the certificate files are checked for a change.
pub const RELOAD_CHECK_EVERY: Duration = Duration::from_secs(2);

/// Where the relay's certificate chain and private key are, both PEM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TlsFiles {
    /// The fingerprint tablets pin at enrolment: the last certificate of the chain file, so
    /// a renewed server certificate from the same CA keeps working on enrolled tablets.
    pub fn trust_fingerprint(&self) -> anyhow::Result<CertFingerprint> {
        let chain = read_chain(&self.cert)?;
        let top = chain
            .last()
            .context("the certificate file holds no certificate")?;
        Ok(CertFingerprint::of_der(top))
    }

    /// The files of a certificate authority and server certificate of the relay's own in
    /// `<data-dir>/tls/`, made on first use for `names` (host names and addresses the relay
    /// is reached by). The CA's private key is not kept: nothing can sign another certificate
    /// tablets would trust. Deleting the folder makes a new CA, and enrolled tablets then
    /// refuse the relay until they are enrolled again.
    pub fn self_signed(data_dir: &Path, names: &[String]) -> anyhow::Result<Self> {
        let dir = data_dir.join("tls");
        let files = Self {
            cert: dir.join("relay.pem"),
            key: dir.join("relay.key"),
        };
        if files.cert.exists() && files.key.exists() {
            return Ok(files);
        }
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let (chain, key) = generate(names)?;
        write_private(&files.key, key.as_bytes())?;
        std::fs::write(&files.cert, chain)
            .with_context(|| format!("writing {}", files.cert.display()))?;
        info!(dir = %dir.display(), "made the relay's own certificate authority and certificate");
        Ok(files)
    }
}

/// A CA and a server certificate it signed, for `names`: (the chain as PEM, server first; the
/// server's private key as PEM).
pub fn generate(names: &[String]) -> anyhow::Result<(String, String)> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Aisle relay certificate authority");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = rcgen::Issuer::new(ca_params, ca_key);

    let server_key = KeyPair::generate()?;
    let mut server_params = CertificateParams::new(names.to_vec())
        .context("a relay name is not a valid host name or address")?;
    server_params
        .distinguished_name
        .push(DnType::CommonName, "Aisle relay");
    server_params.use_authority_key_identifier_extension = true;
    server_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    server_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let server_cert = server_params.signed_by(&server_key, &issuer)?;
    Ok((
        format!("{}{}", server_cert.pem(), ca_cert.pem()),
        server_key.serialize_pem(),
    ))
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}

fn read_chain(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let chain = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("reading certificates from {}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{} is not a PEM certificate chain", path.display()))?;
    if chain.is_empty() {
        bail!("{} holds no certificate", path.display());
    }
    Ok(chain)
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads and checks a chain and its key: the key must be the first certificate's.
fn load(files: &TlsFiles) -> anyhow::Result<Arc<CertifiedKey>> {
    let chain = read_chain(&files.cert)?;
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .with_context(|| format!("{} is not a PEM private key", files.key.display()))?;
    let certified = CertifiedKey::from_der(chain, key, &provider()).with_context(|| {
        format!(
            "the key in {} does not belong to the certificate in {}",
            files.key.display(),
            files.cert.display()
        )
    })?;
    Ok(Arc::new(certified))
}

/// The certificate handshakes use now; swapped when the files change.
#[derive(Debug)]
struct Current(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for Current {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.read().unwrap_or_else(|e| e.into_inner()).clone())
    }
}

/// What the accept loop hands each connection, and the task that keeps the certificate fresh.
pub struct Tls {
    pub acceptor: TlsAcceptor,
    pub reloader: tokio::task::JoinHandle<()>,
}

/// Loads the files (a bad file stops the start, with the reason) and starts watching them.
pub fn serve_with(files: TlsFiles) -> anyhow::Result<Tls> {
    // Taken before loading: a renewal landing in between is seen at the first check.
    let seen = stamp(&files);
    let current = Arc::new(Current(RwLock::new(load(&files)?)));
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(current.clone());
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let reloader = tokio::spawn(reload_on_change(files, current, seen));
    Ok(Tls { acceptor, reloader })
}

/// A digest of both files' contents: a few kilobytes read every few seconds, and unlike
/// modification times it sees a copy that kept its time (`cp -p`, a restore).
fn stamp(files: &TlsFiles) -> Option<[u8; 32]> {
    use sha2::{Digest, Sha256};
    let mut digest = Sha256::new();
    digest.update(std::fs::read(&files.cert).ok()?);
    digest.update([0]);
    digest.update(std::fs::read(&files.key).ok()?);
    Some(digest.finalize().into())
}

/// Polls the files' contents: it works the same for files replaced by a rename, written in
/// place, or behind a symbolic link that moved (certbot's `live/`).
async fn reload_on_change(files: TlsFiles, current: Arc<Current>, mut seen: Option<[u8; 32]>) {
    loop {
        tokio::time::sleep(RELOAD_CHECK_EVERY).await;
        let now = stamp(&files);
        if now.is_none() || now == seen {
            continue;
        }
        // A renewal writes two files: a key that does not match the chain yet is retried on
        // the next check, and until then the old certificate is served.
        match load(&files) {
            Ok(loaded) => {
                *current.0.write().unwrap_or_else(|e| e.into_inner()) = loaded;
                seen = now;
                info!(cert = %files.cert.display(), "reloaded the TLS certificate");
            }
            Err(e) => {
                warn!(error = %format!("{e:#}"), "the new TLS certificate files do not load yet; still serving the previous certificate")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_made_certificate_loads_and_pins_its_ca() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let files = TlsFiles::self_signed(dir.path(), &["localhost".into(), "127.0.0.1".into()])?;
        load(&files)?;
        let pin = files.trust_fingerprint()?;
        // Made once: a second start serves the same certificate authority.
        let again = TlsFiles::self_signed(dir.path(), &["localhost".into()])?;
        assert_eq!(again.trust_fingerprint()?, pin);
        let chain = read_chain(&files.cert)?;
        assert_eq!(chain.len(), 2, "server certificate, then the CA");
        assert_eq!(CertFingerprint::of_der(&chain[1]), pin);
        Ok(())
    }

    #[test]
    fn a_key_of_another_certificate_is_refused_with_the_reason() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let (chain, _) = generate(&["localhost".into()])?;
        let (_, other_key) = generate(&["localhost".into()])?;
        let files = TlsFiles {
            cert: dir.path().join("relay.pem"),
            key: dir.path().join("relay.key"),
        };
        std::fs::write(&files.cert, chain)?;
        std::fs::write(&files.key, other_key)?;
        let error = format!(
            "{:#}",
            load(&files).err().context("a mismatched key loads")?
        );
        assert!(error.contains("does not belong"), "{error}");
        std::fs::write(&files.key, "not a key")?;
        let error = format!("{:#}", load(&files).err().context("garbage loads")?);
        assert!(error.contains("not a PEM private key"), "{error}");
        Ok(())
    }
}
