//! The loyalty document: the public keys loyalty tokens are signed with, and the tokens
//! revoked. Written by the relay only; every device holds it to verify scans offline.

use autosurgeon::{Hydrate, Reconcile};
use std::collections::BTreeMap;

use crate::model::{CustomerId, Millis};

#[derive(Clone, Debug, PartialEq, Reconcile, Hydrate)]
pub struct LoyaltyKey {
    /// Ed25519 public key, hex.
    pub public: String,
    pub created_at: Millis,
    /// A retired key signs nothing new; its tokens still verify unless revoked.
    pub retired_at: Option<Millis>,
    /// A withdrawn key (its private half leaked) verifies nothing: every token naming it is
    /// refused, so whoever holds it cannot make codes that open profiles.
    pub withdrawn_at: Option<Millis>,
}

#[derive(Clone, Debug, PartialEq, Reconcile, Hydrate)]
pub struct Revocation {
    pub customer: CustomerId,
    pub at: Millis,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Reconcile, Hydrate)]
pub struct LoyaltyDoc {
    pub schema: u64,
    /// By key id.
    pub keys: BTreeMap<String, LoyaltyKey>,
    /// By `<token id>/<customer id>`.
    pub revoked: BTreeMap<String, Revocation>,
}
