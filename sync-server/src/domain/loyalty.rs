//! Loyalty keys and tokens as the relay publishes them: signing keys' public halves, issued
//! tokens and revocations in the synced `loyalty` document. (Private keys: `aisle_core::loyalty`.)

use super::RelayDocs;
use aisle_core::Store;
use aisle_core::doc::{self, DocId, LoyaltyDoc, LoyaltyKey, Revocation};
use aisle_core::loyalty::{self, TokenError};
use aisle_core::model::CustomerId;
use aisle_core::{CoreError, Result};
use ed25519_dalek::SigningKey;
use rusqlite::OptionalExtension;
use std::borrow::BorrowMut;

impl<S: BorrowMut<Store>> RelayDocs<S> {
    /// Publishes a new signing key's public half and retires every older key (relay).
    pub fn add_loyalty_key(&mut self, key_id: &str, key: &SigningKey) -> Result<()> {
        aisle_core::validate::check_token("key_id", key_id, 16)?;
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
        let reason = aisle_core::validate::check_text("reason", reason, 200)?;
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
}
