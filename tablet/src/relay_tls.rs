//! How the tablet reaches its relay without exposing what it carries: HTTPS and WSS with
//! rustls, trusting the system's certificate authorities plus, for a self-hosted relay with a
//! private CA, the certificate whose fingerprint came with the enrolment ticket (trust on
//! enrolment). Plain `http://` goes only to loopback, unless explicitly allowed (and then it
//! is logged as a warning on every connection).
//!
//! The system's roots come from `rustls-platform-verifier`: the OS verifier on Android, iOS,
//! macOS and Windows, the distribution's CA bundle on Linux. (On Android it needs the
//! application context once at start, which the mobile shell's plugin registration passes.)

use aisle_core::enrolment::CertFingerprint;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, OnceLock};

use crate::sync_client::SyncError;

/// Where the relay is, and what this tablet trusts it by.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayAddress {
    /// `https://host:port` (or `http://` on loopback).
    pub url: String,
    /// The certificate pinned at enrolment: the relay's CA, or its own self-signed certificate.
    #[serde(default)]
    pub ca: Option<CertFingerprint>,
    /// Plain HTTP beyond loopback (a lab without TLS): customer data crosses the network
    /// readable, so it must be asked for.
    #[serde(default)]
    pub allow_plaintext: bool,
}

impl RelayAddress {
    /// A relay trusted through the system's certificate authorities only.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            ca: None,
            allow_plaintext: false,
        }
    }

    /// A relay also trusted through the certificate `ca` (from its enrolment ticket).
    pub fn pinned(url: impl Into<String>, ca: Option<CertFingerprint>) -> Self {
        Self {
            ca,
            ..Self::new(url)
        }
    }

    /// The address of `path` on the relay, once the address passed [`Self::check`].
    pub fn endpoint(&self, path: &str) -> Result<String, SyncError> {
        self.check()?;
        Ok(format!("{}{path}", self.url.trim_end_matches('/')))
    }

    /// The sync WebSocket's address: `wss://…/v1/sync` (or `ws://` where plain HTTP is allowed).
    pub fn sync_url(&self) -> Result<String, SyncError> {
        let mut url = url::Url::parse(&self.endpoint("/v1/sync")?)
            .map_err(|e| SyncError::Insecure(e.to_string()))?;
        let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
        url.set_scheme(scheme)
            .map_err(|()| SyncError::Insecure(format!("cannot make {url} a WebSocket address")))?;
        Ok(url.to_string())
    }

    /// Refuses an address that is not HTTPS, unless it is plain HTTP to this machine or plain
    /// HTTP was allowed.
    pub fn check(&self) -> Result<(), SyncError> {
        let url = url::Url::parse(&self.url).map_err(|e| {
            SyncError::Insecure(format!("the relay address {} is not valid: {e}", self.url))
        })?;
        match url.scheme() {
            "https" => Ok(()),
            "http" if is_loopback(&url) => Ok(()),
            "http" if self.allow_plaintext => {
                tracing::warn!(relay = %self.url, "plain HTTP to the relay was allowed: customer data and this tablet's token cross the network readable");
                Ok(())
            }
            "http" => Err(SyncError::Insecure(format!(
                "refusing plain http:// to {}: customer data and this tablet's token would cross the network readable. Use the relay's https:// address",
                url.host_str().unwrap_or_default()
            ))),
            other => Err(SyncError::Insecure(format!(
                "the relay address must start with https://, not {other}://"
            ))),
        }
    }

    /// The TLS settings for this relay.
    fn tls(&self) -> rustls::ClientConfig {
        let provider = provider();
        let verifier = Arc::new(RelayVerifier {
            system: system_verifier(),
            ca: self.ca,
            provider: provider.clone(),
        });
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap_or_else(|_| unreachable!("ring supports the default protocol versions"))
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth()
    }

    /// An HTTP client for the relay's API, with `timeout` for each request.
    pub fn http(&self, timeout: std::time::Duration) -> Result<reqwest::Client, SyncError> {
        self.check()?;
        reqwest::Client::builder()
            .use_preconfigured_tls(self.tls())
            .timeout(timeout)
            .build()
            .map_err(|e| SyncError::Connect(e.to_string()))
    }

    /// The TLS connector for the sync WebSocket.
    pub fn ws_connector(&self) -> tokio_tungstenite::Connector {
        tokio_tungstenite::Connector::Rustls(Arc::new(self.tls()))
    }
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// The platform's verifier, made once: on Linux it reads the CA bundle from disk.
///
/// On Android the platform verifier needs a JNI context handed over at start
/// (`rustls_platform_verifier::android::init_hosted`), which the Tauri mobile shell does not
/// pass yet: there, until it does, the bundled Mozilla roots stand in for the system's.
fn system_verifier() -> Option<Arc<dyn ServerCertVerifier>> {
    static SYSTEM: OnceLock<Option<Arc<dyn ServerCertVerifier>>> = OnceLock::new();
    SYSTEM
        .get_or_init(|| {
            #[cfg(target_os = "android")]
            {
                let roots = RootCertStore {
                    roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
                };
                return WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
                    .build()
                    .ok()
                    .map(|v| v as Arc<dyn ServerCertVerifier>);
            }
            #[cfg(not(target_os = "android"))]
            match rustls_platform_verifier::Verifier::new(provider()) {
                Ok(verifier) => Some(Arc::new(verifier) as Arc<dyn ServerCertVerifier>),
                Err(e) => {
                    // Pinned relays still work; publicly trusted ones cannot be checked.
                    tracing::error!(error = %e, "the system's certificate authorities could not be loaded");
                    None
                }
            }
        })
        .clone()
}

/// Accepts the relay's certificate if the system's authorities vouch for it, or if the chain
/// it presents holds the pinned certificate and verifies up to it (name and dates included).
#[derive(Debug)]
struct RelayVerifier {
    system: Option<Arc<dyn ServerCertVerifier>>,
    ca: Option<CertFingerprint>,
    provider: Arc<CryptoProvider>,
}

/// Why a relay's chain does not reach the enrolled certificate.
#[derive(Debug, thiserror::Error)]
#[error(
    "the relay's certificate is signed neither by an authority this tablet trusts nor by the one it was enrolled with"
)]
struct NotEnrolledCertificate;

impl RelayVerifier {
    fn verify_pinned(
        &self,
        pin: CertFingerprint,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // A lone self-signed server certificate, pinned itself, is its own root: its name and
        // dates are still checked.
        let anchor = if CertFingerprint::of_der(end_entity) == pin {
            Some(end_entity)
        } else {
            intermediates
                .iter()
                .find(|c| CertFingerprint::of_der(c) == pin)
        };
        let Some(anchor) = anchor else {
            return Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                rustls::OtherError(Arc::new(NotEnrolledCertificate)),
            )));
        };
        let mut roots = RootCertStore::empty();
        roots.add(anchor.clone().into_owned())?;
        let others: Vec<_> = intermediates
            .iter()
            .filter(|c| *c != anchor)
            .cloned()
            .collect();
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
            .build()
            .map_err(|e| rustls::Error::General(e.to_string()))?
            .verify_server_cert(end_entity, &others, server_name, ocsp, now)
    }
}

impl ServerCertVerifier for RelayVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let pinned = match self.ca {
            Some(pin) => {
                match self.verify_pinned(pin, end_entity, intermediates, server_name, ocsp, now) {
                    Ok(verified) => return Ok(verified),
                    Err(e) => Some(e),
                }
            }
            None => None,
        };
        let system = self.system.as_ref().map(|system| {
            system.verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        });
        match (pinned, system) {
            (_, Some(Ok(verified))) => Ok(verified),
            // The pinned chain's own error (a wrong name, an expired certificate) says more
            // than the system's "unknown issuer".
            (Some(pinned), _) => Err(pinned),
            (None, Some(Err(system))) => Err(system),
            (None, None) => Err(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer,
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The TLS failure behind a connection error, said the way Settings shows it; `None` when the
/// error has nothing to do with the relay's certificate.
pub fn untrusted_reason(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let tls = rustls_error_in(error)?;
    Some(match tls {
        rustls::Error::InvalidCertificate(e) => match e {
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "the relay's certificate has expired".to_string()
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                "the relay's certificate is for another address".to_string()
            }
            CertificateError::UnknownIssuer | CertificateError::Other(_) => {
                NotEnrolledCertificate.to_string()
            }
            other => format!("the relay's certificate is not valid ({other:?})"),
        },
        other => format!("the secure connection to the relay failed: {other}"),
    })
}

fn rustls_error_in<'a>(
    mut error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a rustls::Error> {
    loop {
        if let Some(tls) = error.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        if let Some(tokio_tungstenite::tungstenite::Error::Tls(
            tokio_tungstenite::tungstenite::error::TlsError::Rustls(tls),
        )) = error.downcast_ref::<tokio_tungstenite::tungstenite::Error>()
        {
            return Some(tls);
        }
        // `io::Error::source` skips the error it wraps, which is where rustls puts its own
        // (sometimes inside another `io::Error`).
        let wrapped = error
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map(|inner| inner as &(dyn std::error::Error + 'static));
        error = match wrapped {
            Some(inner) => inner,
            None => error.source()?,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_goes_only_to_this_machine_unless_allowed() {
        for local in [
            "http://127.0.0.1:8787",
            "http://localhost:8787/",
            "http://[::1]:8787",
            "https://relay.example",
            "https://10.1.2.3:8787",
        ] {
            assert!(RelayAddress::new(local).check().is_ok(), "{local}");
        }
        for remote in [
            "http://10.1.2.3:8787",
            "http://relay.example",
            "http://localhost.evil.example",
            "ws://relay.example",
            "not a url",
        ] {
            assert!(
                matches!(
                    RelayAddress::new(remote).check(),
                    Err(SyncError::Insecure(_))
                ),
                "{remote}"
            );
        }
        let allowed = RelayAddress {
            allow_plaintext: true,
            ..RelayAddress::new("http://10.1.2.3:8787")
        };
        assert!(allowed.check().is_ok());
    }

    fn verifier(pin: Option<CertFingerprint>) -> RelayVerifier {
        RelayVerifier {
            system: system_verifier(),
            ca: pin,
            provider: provider(),
        }
    }

    fn verify(
        verifier: &RelayVerifier,
        chain: &[CertificateDer<'static>],
        name: &str,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let name = ServerName::try_from(name.to_string()).unwrap_or_else(|_| unreachable!());
        verifier.verify_server_cert(&chain[0], &chain[1..], &name, &[], UnixTime::now())
    }

    /// A CA and a server certificate for `localhost` it signed: (server, CA).
    fn chain() -> (CertificateDer<'static>, CertificateDer<'static>) {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
        let ca_key = KeyPair::generate().unwrap_or_else(|_| unreachable!());
        let mut ca =
            CertificateParams::new(Vec::<String>::new()).unwrap_or_else(|_| unreachable!());
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca.self_signed(&ca_key).unwrap_or_else(|_| unreachable!());
        let issuer = rcgen::Issuer::new(ca, ca_key);
        let key = KeyPair::generate().unwrap_or_else(|_| unreachable!());
        let leaf = CertificateParams::new(vec!["localhost".to_string()])
            .and_then(|p| p.signed_by(&key, &issuer))
            .unwrap_or_else(|_| unreachable!());
        (leaf.der().clone(), ca_cert.der().clone())
    }

    #[test]
    fn a_chain_is_trusted_through_its_pinned_ca_and_nothing_else() {
        let (leaf, ca) = chain();
        let pin = CertFingerprint::of_der(&ca);
        let presented = [leaf.clone(), ca.clone()];
        assert!(verify(&verifier(Some(pin)), &presented, "localhost").is_ok());
        // The pinned CA's name checks still apply.
        let wrong_name = verify(&verifier(Some(pin)), &presented, "relay.example");
        assert!(
            untrusted_reason(&wrong_name.err().unwrap_or_else(|| unreachable!()))
                .is_some_and(|r| r.contains("another address"))
        );
        // Another CA's chain, or a chain naming the pinned CA without being signed by it.
        let (other_leaf, other_ca) = chain();
        for forged in [[other_leaf.clone(), other_ca], [other_leaf, ca]] {
            let refused = verify(&verifier(Some(pin)), &forged, "localhost");
            assert!(
                refused.is_err(),
                "a chain not signed by the pinned CA was accepted"
            );
        }
        // No pin, and no system authority knows this CA.
        assert!(verify(&verifier(None), &presented, "localhost").is_err());
    }

    #[test]
    fn a_lone_pinned_certificate_is_still_checked_for_its_name() {
        let key = rcgen::KeyPair::generate().unwrap_or_else(|_| unreachable!());
        let lone = rcgen::CertificateParams::new(vec!["localhost".to_string()])
            .and_then(|p| p.self_signed(&key))
            .unwrap_or_else(|_| unreachable!())
            .der()
            .clone();
        let pin = Some(CertFingerprint::of_der(&lone));
        assert!(verify(&verifier(pin), std::slice::from_ref(&lone), "localhost").is_ok());
        assert!(verify(&verifier(pin), std::slice::from_ref(&lone), "relay.example").is_err());
    }

    #[test]
    fn the_sync_address_follows_the_scheme() {
        assert_eq!(
            RelayAddress::new("https://relay.example:8787/")
                .sync_url()
                .ok(),
            Some("wss://relay.example:8787/v1/sync".into())
        );
        assert_eq!(
            RelayAddress::new("http://127.0.0.1:9").sync_url().ok(),
            Some("ws://127.0.0.1:9/v1/sync".into())
        );
    }
}
