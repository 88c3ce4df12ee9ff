//! Loyalty tokens in the store: verifying a scanned code offline against the synced keys and
//! revocations (tablets), and keeping those keys and revocations (relay).

use crate::error::Result;
use crate::loyalty::{self, Claims};
use crate::model::{CustomerId, Millis};
use crate::store::Store;

/// A key the loyalty document lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoyaltyKeyInfo {
    pub id: String,
    pub created_at: Millis,
    pub retired_at: Option<Millis>,
    pub withdrawn_at: Option<Millis>,
}

impl Store {
    /// Checks a scanned loyalty token: signature, key, expiry and revocation, all offline.
    pub fn verify_loyalty_token(&self, text: &str) -> Result<Claims> {
        let conn = self.conn();
        let key_of = |id: &str| -> Option<loyalty::PublishedKey> {
            let (public, withdrawn_at): (String, Option<Millis>) = conn
                .query_row(
                    "SELECT public_hex, withdrawn_at FROM loyalty_keys WHERE key_id = ?1",
                    [id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .ok()?;
            Some(loyalty::PublishedKey {
                public: hex::decode(public).ok()?.try_into().ok()?,
                withdrawn_at,
            })
        };
        let revoked_at = |id: &str, customer: &CustomerId| -> Option<Millis> {
            conn.query_row(
                "SELECT at FROM revoked_tokens WHERE token_id = ?1 AND customer_id = ?2",
                [id, customer.as_str()],
                |r| r.get(0),
            )
            .ok()
        };
        Ok(loyalty::verify(text, self.now(), key_of, revoked_at)?)
    }

    /// The customer a scanned loyalty token names (following merges).
    pub fn identify_token(&self, text: &str) -> Result<CustomerId> {
        let claims = self.verify_loyalty_token(text)?;
        self.current_id(&claims.customer)
    }

    /// Keys in the loyalty document, newest first.
    pub fn loyalty_keys(&self) -> Result<Vec<LoyaltyKeyInfo>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT key_id, created_at, retired_at, withdrawn_at FROM loyalty_keys
             ORDER BY created_at DESC, key_id DESC",
        )?;
        let keys = stmt
            .query_map([], |r| {
                Ok(LoyaltyKeyInfo {
                    id: r.get(0)?,
                    created_at: r.get(1)?,
                    retired_at: r.get(2)?,
                    withdrawn_at: r.get(3)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(keys)
    }
}
