//! Loyalty tokens in the store: verifying a scanned code offline against the synced keys and
//! revocations (tablets), and keeping those keys and revocations (relay).

use ed25519_dalek::SigningKey;
use rusqlite::OptionalExtension;

use crate::doc::{self, DocId, LoyaltyDoc, LoyaltyKey, Revocation};
use crate::error::{CoreError, Result};
use crate::loyalty::{self, Claims, TokenError};
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

    fn update_loyalty(&mut self, change: impl FnOnce(&mut LoyaltyDoc) -> Result<()>) -> Result<()> {
        let id = DocId::Loyalty;
        let mut write = self.begin_write(&id, true)?;
        let mut loyalty = if write.heads_before.is_empty() {
            LoyaltyDoc {
                schema: doc::SCHEMA_VERSION,
                keys: Default::default(),
                revoked: Default::default(),
            }
        } else {
            let loyalty: LoyaltyDoc = doc::hydrate_doc(&write.doc, &id)?;
            doc::check_schema(loyalty.schema, &id)?;
            loyalty
        };
        change(&mut loyalty)?;
        autosurgeon::reconcile(&mut write.doc, &loyalty)?;
        self.commit_writes(vec![write])
    }

    /// Publishes a new signing key's public half and retires every older key (relay).
    pub fn add_loyalty_key(&mut self, key_id: &str, key: &SigningKey) -> Result<()> {
        crate::validate::check_token("key_id", key_id, 16)?;
        let now = self.now();
        let public = hex::encode(key.verifying_key().to_bytes());
        self.update_loyalty(|l| {
            if l.keys.contains_key(key_id) {
                return Err(CoreError::invalid("key_id", "is already in use"));
            }
            for key in l.keys.values_mut() {
                key.retired_at.get_or_insert(now);
            }
            l.keys.insert(
                key_id.to_string(),
                LoyaltyKey {
                    public,
                    created_at: now,
                    retired_at: None,
                    withdrawn_at: None,
                },
            );
            Ok(())
        })
    }

    /// Withdraws a key whose private half leaked (relay): every device refuses every token
    /// naming it once this has synced, so codes made with it open nothing. The key is retired
    /// too; the relay publishes a new current key first. Withdrawing twice changes nothing.
    pub fn withdraw_loyalty_key(&mut self, key_id: &str) -> Result<()> {
        let now = self.now();
        self.update_loyalty(|l| {
            let key = l
                .keys
                .get_mut(key_id)
                .ok_or_else(|| CoreError::invalid("key_id", "is not a published loyalty key"))?;
            key.retired_at.get_or_insert(now);
            key.withdrawn_at.get_or_insert(now);
            Ok(())
        })
    }

    /// Signs a token for a customer with the current key (relay).
    pub fn issue_loyalty_token(
        &self,
        key_id: &str,
        key: &SigningKey,
        customer: &CustomerId,
        valid_days: Option<u32>,
    ) -> Result<String> {
        let customer = self.current_id(customer)?;
        // Only customers that exist get codes.
        self.customer(&customer)?;
        let active: Option<String> = self
            .conn()
            .query_row(
                "SELECT public_hex FROM loyalty_keys WHERE key_id = ?1 AND retired_at IS NULL",
                [key_id],
                |r| r.get(0),
            )
            .optional()?;
        if active.as_deref() != Some(hex::encode(key.verifying_key().to_bytes()).as_str()) {
            return Err(CoreError::invalid(
                "key_id",
                "is not the current loyalty key",
            ));
        }
        let serial = u32::from_le_bytes(
            self.ids.bytes16()[..4]
                .try_into()
                .map_err(|_| CoreError::Internal("id bytes".into()))?,
        );
        let claims = loyalty::claims_for(key_id, serial, customer, self.now(), valid_days);
        Ok(loyalty::sign(key, &claims))
    }

    /// Revokes a token (a lost card): refused by every device once this has synced (relay).
    /// Returns the token's id.
    pub fn revoke_loyalty_token(&mut self, token: &str, reason: &str) -> Result<String> {
        let reason = crate::validate::check_text("reason", reason, 200)?;
        // A token with a bad signature or unknown key is refused anyway; revoking needs a
        // genuine one, expired or not.
        let claims = match self.verify_loyalty_token(token) {
            Ok(claims) => claims,
            Err(CoreError::Token(
                TokenError::Expired(_) | TokenError::Revoked(_) | TokenError::KeyWithdrawn(..),
            )) => loyalty::peek(token)?.0,
            Err(e) => return Err(e),
        };
        let token_id = claims.token_id();
        let now = self.now();
        self.update_loyalty(|l| {
            l.revoked
                .entry(format!("{token_id}/{}", claims.customer))
                .or_insert(Revocation {
                    customer: claims.customer.clone(),
                    at: now,
                    reason,
                });
            Ok(())
        })?;
        Ok(token_id)
    }
}
