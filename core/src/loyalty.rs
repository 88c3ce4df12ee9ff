//! Signed loyalty tokens: what a customer's loyalty QR code (or NFC card) carries.
//!
//! A token is `AL1.` followed by URL-safe base64 of the postcard-encoded claims and an Ed25519
//! signature over them (about 150 characters: a version 8 QR code at low error correction, or
//! version 10 at medium). The relay signs with its current key; tablets verify offline against
//! the public keys in the `loyalty` document, which also lists revoked tokens (a lost card),
//! so a revocation applies on a tablet as soon as that document has synced. Keys rotate: a
//! retired key no longer signs but its tokens still verify until they are revoked. A key whose
//! private half leaked is withdrawn: every token naming it is refused, genuine or not.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::model::{CustomerId, Millis};

/// What every token text starts with; also tells a scan apart from a barcode.
pub const TOKEN_PREFIX: &str = "AL1.";
const VERSION: u8 = 1;
/// Signatures cover this too, so a signature made for anything else never verifies here.
const DOMAIN: &[u8] = b"aisle loyalty token v1\0";
const SIGNATURE_LEN: usize = 64;
/// Longer text is not a token (and is not worth decoding).
const MAX_TOKEN_CHARS: usize = 400;

/// What a token says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub version: u8,
    /// The signing key's id.
    pub key: String,
    /// Random, so two tokens for one customer are told apart (and revoked apart).
    pub serial: u32,
    pub customer: CustomerId,
    /// Seconds since the Unix epoch.
    pub issued_at: u64,
    pub expires_at: Option<u64>,
}

impl Claims {
    /// The id a revocation names.
    pub fn token_id(&self) -> String {
        format!("{}-{:08x}", self.key, self.serial)
    }
}

/// The claims as encoded: a UUID customer id as its 16 bytes, to keep the QR code small.
#[derive(Serialize, Deserialize)]
struct Wire {
    version: u8,
    key: String,
    serial: u32,
    customer: WireCustomer,
    issued_at: u64,
    expires_at: Option<u64>,
}

#[derive(Serialize, Deserialize)]
enum WireCustomer {
    Uuid([u8; 16]),
    Text(String),
}

impl Wire {
    fn of(claims: &Claims) -> Self {
        Self {
            version: claims.version,
            key: claims.key.clone(),
            serial: claims.serial,
            customer: match uuid::Uuid::parse_str(claims.customer.as_str()) {
                Ok(id) if id.hyphenated().to_string() == claims.customer.as_str() => {
                    WireCustomer::Uuid(*id.as_bytes())
                }
                _ => WireCustomer::Text(claims.customer.to_string()),
            },
            issued_at: claims.issued_at,
            expires_at: claims.expires_at,
        }
    }

    fn claims(self) -> Option<Claims> {
        let customer = match self.customer {
            WireCustomer::Uuid(bytes) => uuid::Uuid::from_bytes(bytes).hyphenated().to_string(),
            WireCustomer::Text(text) => text,
        };
        Some(Claims {
            version: self.version,
            key: self.key,
            serial: self.serial,
            customer: CustomerId::parse(customer).ok()?,
            issued_at: self.issued_at,
            expires_at: self.expires_at,
        })
    }
}

/// Why a scanned code was refused. Each reason reads as what the associate should know.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("this is not an Aisle loyalty code")]
    Malformed,
    #[error("this loyalty code is from a newer Aisle (version {0}); update the app")]
    UnsupportedVersion(u8),
    #[error(
        "this loyalty code was signed with key {0}, which this tablet does not know: it is forged, or the tablet has not synced since the key was added"
    )]
    UnknownKey(String),
    #[error("this loyalty code's signature does not match: it was altered or forged")]
    BadSignature,
    #[error("this loyalty code expired on {0}; the customer can get a new one in the app")]
    Expired(String),
    #[error("this loyalty code is not valid yet")]
    NotYetValid,
    #[error("this loyalty code was revoked on {0} (reported lost); ask for the new card or code")]
    Revoked(String),
    #[error(
        "this loyalty code was signed with key {0}, withdrawn on {1} as compromised; the customer needs a new code"
    )]
    KeyWithdrawn(String, String),
}

/// A verifying key as devices know it from the loyalty document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PublishedKey {
    /// Ed25519 public key.
    pub public: [u8; 32],
    pub withdrawn_at: Option<Millis>,
}

/// Signs claims into token text.
pub fn sign(key: &SigningKey, claims: &Claims) -> String {
    let body = postcard::to_allocvec(&Wire::of(claims)).unwrap_or_default();
    let signature = key.sign(&signed_bytes(&body));
    let mut bytes = body;
    bytes.extend_from_slice(&signature.to_bytes());
    format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

fn signed_bytes(body: &[u8]) -> Vec<u8> {
    let mut message = DOMAIN.to_vec();
    message.extend_from_slice(body);
    message
}

/// Reads the claims without checking the signature: for routing a scan and for revoking a
/// token by its text. Never trust these claims without [`verify`].
pub fn peek(text: &str) -> Result<(Claims, Vec<u8>, [u8; SIGNATURE_LEN]), TokenError> {
    let text = text.trim();
    if text.len() > MAX_TOKEN_CHARS {
        return Err(TokenError::Malformed);
    }
    let encoded = text
        .strip_prefix(TOKEN_PREFIX)
        .ok_or(TokenError::Malformed)?;
    let bytes = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| TokenError::Malformed)?;
    if bytes.len() <= SIGNATURE_LEN {
        return Err(TokenError::Malformed);
    }
    let (body, signature) = bytes.split_at(bytes.len() - SIGNATURE_LEN);
    // The version comes first, so a newer layout is recognised before it fails to parse.
    match body.first() {
        Some(&VERSION) => {}
        Some(&v) if v > VERSION => return Err(TokenError::UnsupportedVersion(v)),
        _ => return Err(TokenError::Malformed),
    }
    let (wire, rest): (Wire, &[u8]) =
        postcard::take_from_bytes(body).map_err(|_| TokenError::Malformed)?;
    if !rest.is_empty() {
        return Err(TokenError::Malformed);
    }
    let claims = wire.claims().ok_or(TokenError::Malformed)?;
    let signature: [u8; SIGNATURE_LEN] = signature.try_into().map_err(|_| TokenError::Malformed)?;
    Ok((claims, body.to_vec(), signature))
}

/// Checks a token against the known public keys and revocations at time `now`.
/// `key_of` gives a key id's published key; `revoked_at` when a token (its id and customer:
/// the short random serial is only unique with the customer) was revoked.
pub fn verify(
    text: &str,
    now: Millis,
    key_of: impl Fn(&str) -> Option<PublishedKey>,
    revoked_at: impl Fn(&str, &CustomerId) -> Option<Millis>,
) -> Result<Claims, TokenError> {
    let (claims, body, signature) = peek(text)?;
    let published =
        key_of(&claims.key).ok_or_else(|| TokenError::UnknownKey(claims.key.clone()))?;
    // Before the signature: whoever holds a leaked key makes signatures that check out.
    if let Some(at) = published.withdrawn_at {
        return Err(TokenError::KeyWithdrawn(claims.key, date(at)));
    }
    let public =
        VerifyingKey::from_bytes(&published.public).map_err(|_| TokenError::BadSignature)?;
    public
        .verify_strict(&signed_bytes(&body), &Signature::from_bytes(&signature))
        .map_err(|_| TokenError::BadSignature)?;
    let now_secs = u64::try_from(now / 1000).unwrap_or(0);
    // A minute of grace for a tablet whose clock is a little behind the relay's.
    if claims.issued_at > now_secs + 60 {
        return Err(TokenError::NotYetValid);
    }
    if let Some(expires) = claims.expires_at
        && expires <= now_secs
    {
        return Err(TokenError::Expired(date(
            i64::try_from(expires)
                .unwrap_or(i64::MAX)
                .saturating_mul(1000),
        )));
    }
    if let Some(at) = revoked_at(&claims.token_id(), &claims.customer) {
        return Err(TokenError::Revoked(date(at)));
    }
    Ok(claims)
}

/// "27 Nov 2026" (UTC): when a token expired or was revoked.
fn date(at: Millis) -> String {
    time::OffsetDateTime::from_unix_timestamp(at / 1000).map_or_else(
        |_| "an unknown date".to_string(),
        |t| format!("{} {} {}", t.day(), &t.month().to_string()[..3], t.year()),
    )
}

/// New claims for a customer, signed with key `key`.
pub fn claims_for(
    key: &str,
    serial: u32,
    customer: CustomerId,
    now: Millis,
    valid_days: Option<u32>,
) -> Claims {
    let issued_at = u64::try_from(now / 1000).unwrap_or(0);
    Claims {
        version: VERSION,
        key: key.to_string(),
        serial,
        customer,
        issued_at,
        expires_at: valid_days.map(|d| issued_at + u64::from(d) * 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn customer() -> CustomerId {
        CustomerId::parse("4b0f8a2e-1c1d-4f5e-9a51-0d6a1f3e2b7c").unwrap()
    }

    const NOW: Millis = 1_780_000_000_000;

    fn check(text: &str, now: Millis) -> Result<Claims, TokenError> {
        let published = |seed: u8, withdrawn_at| PublishedKey {
            public: key(seed).verifying_key().to_bytes(),
            withdrawn_at,
        };
        verify(
            text,
            now,
            |kid| match kid {
                "k1" => Some(published(1, None)),
                // Leaked: its tokens verify cryptographically and must still be refused.
                "k3" => Some(published(3, Some(NOW))),
                _ => None,
            },
            |id, _| (id == "k1-000000ff").then_some(NOW),
        )
    }

    #[test]
    fn a_signed_token_verifies_and_fits_a_small_qr() {
        let token = sign(&key(1), &claims_for("k1", 7, customer(), NOW, Some(365)));
        assert!(token.len() <= 140, "{} chars", token.len());
        let claims = check(&token, NOW).unwrap();
        assert_eq!(claims.customer, customer());
        assert_eq!(claims.token_id(), "k1-00000007");
    }

    #[test]
    fn every_kind_of_bad_token_has_its_own_reason() {
        let good = sign(&key(1), &claims_for("k1", 7, customer(), NOW, Some(1)));
        // Altered: flip one character of the body.
        let mut altered: Vec<char> = good.chars().collect();
        let i = TOKEN_PREFIX.len() + 12;
        altered[i] = if altered[i] == 'A' { 'B' } else { 'A' };
        let altered: String = altered.into_iter().collect();
        assert!(matches!(
            check(&altered, NOW),
            Err(TokenError::BadSignature | TokenError::Malformed)
        ));
        // Forged: a well-formed token signed by someone else's key with our key id.
        let forged = sign(&key(2), &claims_for("k1", 7, customer(), NOW, None));
        assert_eq!(check(&forged, NOW), Err(TokenError::BadSignature));
        // Wrong key id.
        let wrong = sign(&key(1), &claims_for("k9", 7, customer(), NOW, None));
        assert_eq!(check(&wrong, NOW), Err(TokenError::UnknownKey("k9".into())));
        // Expired.
        assert!(matches!(
            check(&good, NOW + 2 * 86_400_000),
            Err(TokenError::Expired(_))
        ));
        // Revoked.
        let revoked = sign(&key(1), &claims_for("k1", 0xff, customer(), NOW, None));
        assert!(matches!(check(&revoked, NOW), Err(TokenError::Revoked(_))));
        // Signed with a withdrawn key, by the relay before the leak or by whoever has it now.
        let leaked = sign(&key(3), &claims_for("k3", 7, customer(), NOW, None));
        assert!(matches!(
            check(&leaked, NOW),
            Err(TokenError::KeyWithdrawn(k, _)) if k == "k3"
        ));
        // Not a token at all.
        for text in [
            "",
            "AL1.",
            "AL1.!!!",
            "4006381333931",
            "AL001000223",
            "AL1.AAAA",
        ] {
            assert_eq!(check(text, NOW), Err(TokenError::Malformed), "{text:?}");
        }
        let messages: std::collections::BTreeSet<String> = [
            TokenError::Malformed,
            TokenError::BadSignature,
            TokenError::UnknownKey("k9".into()),
            TokenError::Expired("1 Jan".into()),
            TokenError::Revoked("1 Jan".into()),
            TokenError::NotYetValid,
            TokenError::UnsupportedVersion(2),
            TokenError::KeyWithdrawn("k3".into(), "1 Jan".into()),
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        assert_eq!(messages.len(), 8, "distinct, readable reasons");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(10_000))]
        #[test]
        fn random_text_never_panics(text in ".{0,300}") {
            let _ = check(&text, NOW);
        }

        #[test]
        fn random_bytes_after_the_prefix_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..240)) {
            let text = format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(&bytes));
            proptest::prop_assert!(check(&text, NOW).is_err());
        }
    }
}
