//! Automerge document schemas and their ids. One document per customer, one inventory document
//! per store and one catalog document for the chain, so opening a customer never loads anything
//! else and erasure is dropping one document.

mod catalog;
mod customer;
mod inventory;
mod loyalty;
mod recommendations;

pub use catalog::CatalogDoc;
pub use customer::{CustomerDoc, CustomerGuards, IndexedCart, IndexedCustomer, IndexedLine, IndexedPurchase};
pub use inventory::{Adjustment, InventoryDoc, keys as inventory_keys};
pub use loyalty::{LoyaltyDoc, LoyaltyKey, Revocation};
pub use recommendations::{RecommendationsDoc, RelatedEntry};

use std::fmt;
use std::str::FromStr;

use crate::error::CoreError;
use crate::model::{CustomerId, StoreId};

/// Bumped when a document layout changes incompatibly; readers refuse newer ones.
pub const SCHEMA_VERSION: u64 = 1;

/// Which document: the text form (`customer/<id>`, `inventory/<store>`, `catalog`) is what
/// the store and the sync protocol use.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DocId {
    Customer(CustomerId),
    Inventory(StoreId),
    Catalog,
    /// Related products, published by the relay.
    Recommendations,
    /// Loyalty token keys and revocations, published by the relay.
    Loyalty,
}

impl DocId {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Customer(_) => "customer",
            Self::Inventory(_) => "inventory",
            Self::Catalog => "catalog",
            Self::Recommendations => "recommendations",
            Self::Loyalty => "loyalty",
        }
    }
}

impl fmt::Display for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Customer(id) => write!(f, "customer/{id}"),
            Self::Inventory(store) => write!(f, "inventory/{store}"),
            Self::Catalog => f.write_str("catalog"),
            Self::Recommendations => f.write_str("recommendations"),
            Self::Loyalty => f.write_str("loyalty"),
        }
    }
}

impl FromStr for DocId {
    type Err = CoreError;

    fn from_str(text: &str) -> Result<Self, CoreError> {
        let bad = || CoreError::invalid("doc_id", "unknown document id");
        match text {
            "catalog" => return Ok(Self::Catalog),
            "recommendations" => return Ok(Self::Recommendations),
            "loyalty" => return Ok(Self::Loyalty),
            _ => {}
        }
        let (kind, id) = text.split_once('/').ok_or_else(bad)?;
        match kind {
            "customer" => Ok(Self::Customer(CustomerId::parse(id)?)),
            "inventory" => Ok(Self::Inventory(StoreId::parse(id)?)),
            _ => Err(bad()),
        }
    }
}

/// The map key a patch acts at: what was put, deleted, incremented or found in conflict there
/// (`None` for list and text edits). Readers of a diff sort patches by it.
pub fn patch_map_key(action: &automerge::PatchAction) -> Option<&str> {
    use automerge::{PatchAction, Prop};
    match action {
        PatchAction::PutMap { key, .. } | PatchAction::DeleteMap { key } => Some(key),
        PatchAction::Increment {
            prop: Prop::Map(key),
            ..
        }
        | PatchAction::Conflict {
            prop: Prop::Map(key),
        } => Some(key),
        _ => None,
    }
}

/// Hydrates a whole document, naming it in the error if its content does not fit the schema.
pub fn hydrate_doc<T: autosurgeon::Hydrate>(
    doc: &automerge::AutoCommit,
    id: &DocId,
) -> Result<T, CoreError> {
    autosurgeon::hydrate(doc).map_err(|e| CoreError::Corrupt {
        doc: id.to_string(),
        reason: e.to_string(),
    })
}

/// Refuses documents written by a newer schema than this build understands.
pub fn check_schema(schema: u64, id: &DocId) -> Result<(), CoreError> {
    if schema > SCHEMA_VERSION {
        return Err(CoreError::Corrupt {
            doc: id.to_string(),
            reason: format!(
                "written by a newer Aisle (schema {schema}, this build reads {SCHEMA_VERSION}); update the app"
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doc_ids_round_trip() {
        for text in [
            "catalog",
            "recommendations",
            "loyalty",
            "customer/abc-123",
            "inventory/LDN-CG",
        ] {
            assert_eq!(text.parse::<DocId>().unwrap().to_string(), text);
        }
        assert!("nope/1".parse::<DocId>().is_err());
        assert!("customer/".parse::<DocId>().is_err());
        assert!("customer/a b".parse::<DocId>().is_err());
    }
}
