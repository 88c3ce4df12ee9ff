//! Typed identifiers. Each one validates its text on parse, so an id that reached the core
//! from outside is known to be well formed.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::validate::{FieldError, check_token};

/// Ids are stored in Automerge documents as plain strings and validated again when read.
macro_rules! stored_as_string {
    ($name:ident) => {
        #[cfg(feature = "store")]
        impl autosurgeon::Reconcile for $name {
            type Key<'a> = autosurgeon::reconcile::NoKey;
            fn reconcile<R: autosurgeon::Reconciler>(&self, reconciler: R) -> Result<(), R::Error> {
                self.0.reconcile(reconciler)
            }
        }

        #[cfg(feature = "store")]
        impl autosurgeon::Hydrate for $name {
            fn hydrate_string(text: &str) -> Result<Self, autosurgeon::HydrateError> {
                Self::parse(text).map_err(|e| {
                    autosurgeon::HydrateError::unexpected(stringify!($name), e.to_string())
                })
            }
        }
    };
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $field:literal, $max:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String))]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates `text` as this kind of id.
            pub fn parse(text: impl Into<String>) -> Result<Self, FieldError> {
                let text = text.into();
                check_token($field, &text, $max)?;
                Ok(Self(text))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = FieldError;
            fn try_from(text: String) -> Result<Self, FieldError> {
                Self::parse(text)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        stored_as_string!($name);
    };
}

id_type!(
    /// A customer's document id (a UUID); never shown to people.
    CustomerId, "customer_id", 64
);
id_type!(
    /// A store code such as `LDN-CG`.
    StoreId, "store_id", 32
);
id_type!(
    /// A product (style) code such as `TOP-0042`.
    ProductSku, "sku", 32
);
id_type!(
    /// A sellable variant: product, colour and size, such as `TOP-0042-NAVY-M`.
    VariantSku, "variant", 64
);
id_type!(
    /// The associate (staff member) acting on the tablet.
    AssociateId, "associate_id", 64
);

/// The number printed on a loyalty card: `AL` and nine digits, the last a Luhn check digit,
/// so a mistyped number is caught before any lookup.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String, example = "AL001000009"))]
#[serde(try_from = "String", into = "String")]
pub struct LoyaltyId(String);

impl LoyaltyId {
    pub fn parse(text: impl AsRef<str>) -> Result<Self, FieldError> {
        let text = text.as_ref().trim().to_ascii_uppercase();
        let invalid = |reason: &str| FieldError::new("loyalty_id", reason);
        let digits = text
            .strip_prefix("AL")
            .ok_or_else(|| invalid("must start with AL"))?;
        if digits.len() != 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid("must be AL followed by 9 digits"));
        }
        if !luhn_valid(digits) {
            return Err(invalid("check digit does not match (mistyped?)"));
        }
        Ok(Self(text))
    }

    /// Builds the loyalty id for a serial number (up to 8 digits), adding the check digit.
    pub fn from_serial(serial: u32) -> Self {
        let body = format!("{:08}", serial % 100_000_000);
        let check = luhn_check_digit(&body);
        Self(format!("AL{body}{check}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for LoyaltyId {
    type Error = FieldError;
    fn try_from(text: String) -> Result<Self, FieldError> {
        Self::parse(text)
    }
}

impl From<LoyaltyId> for String {
    fn from(id: LoyaltyId) -> String {
        id.0
    }
}

impl fmt::Display for LoyaltyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

stored_as_string!(LoyaltyId);

fn luhn_sum(digits: &str, double_first: bool) -> u32 {
    digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if (i % 2 == 0) == double_first {
                let twice = d * 2;
                if twice > 9 { twice - 9 } else { twice }
            } else {
                d
            }
        })
        .sum()
}

fn luhn_valid(digits: &str) -> bool {
    luhn_sum(digits, false).is_multiple_of(10)
}

fn luhn_check_digit(body: &str) -> u32 {
    (10 - luhn_sum(body, true) % 10) % 10
}

/// An NFC card's UID as upper-case hex (4, 7 or 10 bytes, as ISO 14443-A cards have).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NfcUid(String);

impl NfcUid {
    pub fn parse(text: impl AsRef<str>) -> Result<Self, FieldError> {
        let hex: String = text
            .as_ref()
            .chars()
            .filter(|c| !matches!(c, ':' | ' ' | '-'))
            .collect::<String>()
            .to_ascii_uppercase();
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(FieldError::new("nfc_uid", "must be hexadecimal"));
        }
        if !matches!(hex.len(), 8 | 14 | 20) {
            return Err(FieldError::new("nfc_uid", "must be 4, 7 or 10 bytes"));
        }
        Ok(Self(hex))
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, FieldError> {
        let hex: String = bytes.iter().map(|b| format!("{b:02X}")).collect();
        Self::parse(hex)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for NfcUid {
    type Error = FieldError;
    fn try_from(text: String) -> Result<Self, FieldError> {
        Self::parse(text)
    }
}

impl From<NfcUid> for String {
    fn from(id: NfcUid) -> String {
        id.0
    }
}

impl fmt::Display for NfcUid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

stored_as_string!(NfcUid);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loyalty_ids_round_trip_and_catch_typos() {
        let id = LoyaltyId::from_serial(1234);
        assert_eq!(LoyaltyId::parse(id.as_str()).unwrap(), id);
        assert_eq!(LoyaltyId::parse(id.as_str().to_lowercase()).unwrap(), id);
        let mut typo = id.as_str().to_string();
        let last = typo.pop().unwrap();
        typo.push(if last == '0' { '1' } else { '0' });
        assert!(LoyaltyId::parse(&typo).is_err());
        assert!(LoyaltyId::parse("AL12").is_err());
        assert!(LoyaltyId::parse("XX123456789").is_err());
    }

    #[test]
    fn nfc_uids_normalise() {
        let uid = NfcUid::parse("04:a2:3b:c1:d2:e3:f4").unwrap();
        assert_eq!(uid.as_str(), "04A23BC1D2E3F4");
        assert_eq!(
            NfcUid::from_bytes(&[4, 0xA2, 0x3B, 0xC1]).unwrap().as_str(),
            "04A23BC1"
        );
        assert!(NfcUid::parse("zz").is_err());
        assert!(NfcUid::parse("0102").is_err());
    }

    #[test]
    fn ids_reject_bad_text() {
        assert!(StoreId::parse("LDN-CG").is_ok());
        assert!(StoreId::parse("").is_err());
        assert!(StoreId::parse("has space").is_err());
        assert!(StoreId::parse("x".repeat(33)).is_err());
    }
}
