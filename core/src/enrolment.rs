//! What a tablet needs to join a relay, in one string a QR code can carry: the relay's
//! address, the one-time code, and the fingerprint of the certificate authority the relay's
//! certificate is signed by. A self-hosted relay with a private CA is trusted that way (trust
//! on enrolment); a relay with a publicly trusted certificate needs no fingerprint.
//!
//! The ticket is a URI, `aisle://enrol?relay=https%3A%2F%2Frelay.example%3A8787&code=…&ca=…`.

use std::fmt;

use sha2::{Digest, Sha256};

/// SHA-256 of a certificate's DER encoding.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CertFingerprint(pub [u8; 32]);

impl CertFingerprint {
    pub fn of_der(der: &[u8]) -> Self {
        Self(Sha256::digest(der).into())
    }

    /// Hex, with or without colons or spaces between the bytes, any case, optionally after
    /// `sha256:` (as `openssl x509 -fingerprint -sha256` prints it, or as the relay does).
    pub fn parse(text: &str) -> Result<Self, TicketError> {
        let text = text.trim();
        let text = text
            .strip_prefix("sha256:")
            .or_else(|| text.strip_prefix("SHA256:"))
            .or_else(|| text.strip_prefix("sha256 Fingerprint="))
            .unwrap_or(text);
        let digits: String = text
            .chars()
            .filter(|c| !matches!(c, ':' | ' ' | '-'))
            .collect();
        let bytes = hex::decode(&digits).map_err(|_| TicketError::Fingerprint)?;
        <[u8; 32]>::try_from(bytes.as_slice())
            .map(Self)
            .map_err(|_| TicketError::Fingerprint)
    }

    /// Lower-case hex, no separators: the ticket's form.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

/// `AB:CD:…`, the form people compare by eye.
impl fmt::Display for CertFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, byte) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{byte:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for CertFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CertFingerprint({})", self.to_hex())
    }
}

impl serde::Serialize for CertFingerprint {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for CertFingerprint {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    #[error("not an Aisle enrolment code: it should start with aisle://enrol")]
    NotATicket,
    #[error("the enrolment code has no {0}")]
    Missing(&'static str),
    #[error("a certificate fingerprint is 64 hexadecimal digits (SHA-256)")]
    Fingerprint,
    #[error("the relay address must start with https:// or http://")]
    RelayUrl,
}

/// Everything a tablet needs to enrol, as printed in the QR code of `aisle-relay admin enrol`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnrolmentTicket {
    pub relay_url: String,
    pub code: String,
    pub ca: Option<CertFingerprint>,
}

impl EnrolmentTicket {
    pub fn to_uri(&self) -> String {
        let mut uri = url::Url::parse("aisle://enrol").unwrap_or_else(|_| unreachable!());
        {
            let mut query = uri.query_pairs_mut();
            query.append_pair("relay", &self.relay_url);
            query.append_pair("code", &self.code);
            if let Some(ca) = &self.ca {
                query.append_pair("ca", &ca.to_hex());
            }
        }
        uri.to_string()
    }

    /// Reads a ticket URI (scanned or pasted).
    pub fn parse(text: &str) -> Result<Self, TicketError> {
        let uri = url::Url::parse(text.trim()).map_err(|_| TicketError::NotATicket)?;
        if uri.scheme() != "aisle" || uri.host_str() != Some("enrol") {
            return Err(TicketError::NotATicket);
        }
        let (mut relay_url, mut code, mut ca) = (None, None, None);
        for (key, value) in uri.query_pairs() {
            match key.as_ref() {
                "relay" => relay_url = Some(value.into_owned()),
                "code" => code = Some(value.into_owned()),
                "ca" => ca = Some(CertFingerprint::parse(&value)?),
                // Later versions may add fields; this one ignores what it does not know.
                _ => {}
            }
        }
        let relay_url = relay_url.ok_or(TicketError::Missing("relay address"))?;
        if !(relay_url.starts_with("https://") || relay_url.starts_with("http://")) {
            return Err(TicketError::RelayUrl);
        }
        Ok(Self {
            relay_url,
            code: code
                .filter(|c| !c.is_empty())
                .ok_or(TicketError::Missing("code"))?,
            ca,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_survives_its_uri() {
        let ticket = EnrolmentTicket {
            relay_url: "https://relay.example:8787/aisle".into(),
            code: "K7Q2-99XZ".into(),
            ca: Some(CertFingerprint::of_der(b"a certificate")),
        };
        assert_eq!(EnrolmentTicket::parse(&ticket.to_uri()), Ok(ticket.clone()));
        let without = EnrolmentTicket { ca: None, ..ticket };
        assert_eq!(EnrolmentTicket::parse(&without.to_uri()), Ok(without));
    }

    #[test]
    fn fingerprints_read_as_people_copy_them() {
        let fp = CertFingerprint::of_der(b"x");
        for text in [
            fp.to_hex(),
            fp.to_string(),
            fp.to_string().to_lowercase(),
            format!("sha256:{}", fp.to_hex()),
            format!("sha256 Fingerprint={fp}"),
        ] {
            assert_eq!(CertFingerprint::parse(&text), Ok(fp), "{text}");
        }
        assert_eq!(
            CertFingerprint::parse("AB:CD"),
            Err(TicketError::Fingerprint)
        );
    }

    #[test]
    fn what_is_not_a_ticket_says_so() {
        assert_eq!(
            EnrolmentTicket::parse("K7Q2-99XZ"),
            Err(TicketError::NotATicket)
        );
        assert_eq!(
            EnrolmentTicket::parse("aisle://enrol?code=X"),
            Err(TicketError::Missing("relay address"))
        );
        assert_eq!(
            EnrolmentTicket::parse("aisle://enrol?relay=ftp://x&code=X"),
            Err(TicketError::RelayUrl)
        );
        assert_eq!(
            EnrolmentTicket::parse("aisle://enrol?relay=https://x&code=X&ca=zz"),
            Err(TicketError::Fingerprint)
        );
    }
}
