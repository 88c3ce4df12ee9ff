//! The inventory document of one store.
//!
//! Stock is an Automerge counter per variant, so concurrent sales on two tablets add up (two
//! tablets selling the last unit merge to −1, which is reported as an oversell, never clamped).
//! The counters are created once, when the store's inventory is imported; tablets only
//! increment them, because two devices creating the same counter concurrently would lose one.
//! Holds, sales and stock movements (`adjustments`) are records keyed by unique ids.
//!
//! The document is touched with targeted operations rather than a whole hydrate/reconcile:
//! it holds thousands of variants and a sale changes one or two of them.

use automerge::{
    AutoCommit, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, ScalarValueRef, Value, ValueRef,
    transaction::Transactable,
};
use autosurgeon::{Hydrate, Reconcile};
use std::collections::BTreeMap;

use super::DocId;
use crate::error::{CoreError, Result};
use crate::model::{AssociateId, Hold, Millis, MovementKind, Sale, StoreId, VariantSku};
use crate::validate::MAX_STOCK_ADJUSTMENT;

/// Top-level keys of the inventory document.
pub mod keys {
    pub const ON_HAND: &str = "on_hand";
    pub const HOLDS: &str = "holds";
    pub const SALES: &str = "sales";
    pub const ADJUSTMENTS: &str = "adjustments";
    /// Per variant, when the latest level from the retailer's stock system that matched the
    /// store's count was true (Unix ms): a level that moved stock is on record as a count
    /// instead. Written by the relay only; absent until the first such level.
    pub const STOCK_SYSTEM_AS_OF: &str = "stock_system_as_of";
}
use keys::{ADJUSTMENTS, HOLDS, ON_HAND, SALES};

/// A stock movement other than a sale: a delivery, damage, a transfer sent or received, a
/// count. Fields added after the first release are absent on older documents.
#[derive(Clone, Debug, PartialEq, Eq, Reconcile, Hydrate)]
pub struct Adjustment {
    pub variant: VariantSku,
    pub delta: i64,
    /// The associate's note (a delivery note number, what was damaged).
    pub reason: String,
    pub by: AssociateId,
    pub at: Millis,
    /// Set on a recount that settles an oversell; absent on documents written before it.
    pub resolves_oversell: Option<bool>,
    /// Absent on corrections written before movements had kinds.
    pub kind: Option<MovementKind>,
    /// The transfer a sent or received movement belongs to.
    pub transfer: Option<String>,
    /// The store a transfer goes to or comes from.
    pub other_store: Option<StoreId>,
    /// What was counted on the shelf, on a count.
    pub counted: Option<i64>,
    /// The sale a return is of (recorded in the same inventory).
    pub sale: Option<String>,
    /// What a return refunds, in minor units: its units at the sale's price.
    pub refund_minor: Option<i64>,
}

impl Adjustment {
    pub fn kind(&self) -> MovementKind {
        self.kind.unwrap_or(MovementKind::Correction)
    }

    /// Whether the movement is one its kind allows, as recorded in the inventory of `here`:
    /// the same rule on the tablet that writes it and on the relay that takes it. Whether a
    /// transfer received was sent is the relay's to check, against the sender's inventory.
    pub fn check_shape(&self, here: &StoreId) -> std::result::Result<(), String> {
        let range = -MAX_STOCK_ADJUSTMENT..=MAX_STOCK_ADJUSTMENT;
        if !range.contains(&self.delta) {
            return Err(format!(
                "moves {} units; at most {MAX_STOCK_ADJUSTMENT} either way",
                self.delta
            ));
        }
        let kind = self.kind();
        let sign_ok = match kind {
            MovementKind::Delivery | MovementKind::TransferIn | MovementKind::Return => {
                self.delta > 0
            }
            MovementKind::Damage | MovementKind::TransferOut => self.delta < 0,
            MovementKind::Count => true,
            MovementKind::Correction => self.delta != 0,
        };
        if !sign_ok {
            return Err(format!("a {} of {} units", kind.as_str(), self.delta));
        }
        let is_transfer = matches!(kind, MovementKind::TransferOut | MovementKind::TransferIn);
        match (&self.transfer, &self.other_store) {
            (Some(transfer), Some(other)) if is_transfer => {
                if transfer.is_empty() || transfer.chars().count() > 64 {
                    return Err("a transfer reference of 1 to 64 characters".into());
                }
                if other == here {
                    return Err("a transfer to or from the store itself".into());
                }
            }
            (None, None) if !is_transfer => {}
            _ if is_transfer => return Err(format!("a {} with no transfer or store", kind.as_str())),
            _ => return Err(format!("a {} naming a transfer", kind.as_str())),
        }
        match (kind, &self.sale) {
            (MovementKind::Return, Some(sale))
                if !sale.is_empty() && sale.len() <= 64 && self.refund_minor.is_some_and(|r| r >= 0) => {}
            (MovementKind::Return, _) => return Err("a return of no sale, or with no refund".into()),
            (_, Some(_)) => return Err(format!("a {} naming a sale", kind.as_str())),
            (_, None) if self.refund_minor.is_some() => {
                return Err(format!("a {} refunding money", kind.as_str()));
            }
            (_, None) => {}
        }
        match (kind, self.counted) {
            (MovementKind::Count, Some(counted)) if (0..=MAX_STOCK_ADJUSTMENT).contains(&counted) => {}
            (MovementKind::Count, counted) => {
                return Err(format!(
                    "a count of {counted:?}; between 0 and {MAX_STOCK_ADJUSTMENT} units"
                ));
            }
            (_, Some(_)) => return Err(format!("a {} with a counted level", kind.as_str())),
            (_, None) => {}
        }
        Ok(())
    }
}

/// Typed access to one store's inventory document.
pub struct InventoryDoc<'a> {
    pub doc: &'a mut AutoCommit,
    pub id: DocId,
}

impl<'a> InventoryDoc<'a> {
    pub fn new(doc: &'a mut AutoCommit, store: &StoreId) -> Self {
        Self {
            doc,
            id: DocId::Inventory(store.clone()),
        }
    }

    /// Writes a fresh inventory document: one counter per variant, empty record maps.
    pub fn initialise(&mut self, store: &StoreId, stock: &BTreeMap<String, i64>) -> Result<()> {
        let doc = &mut *self.doc;
        doc.put(ROOT, "schema", super::SCHEMA_VERSION)?;
        doc.put(ROOT, "store", store.as_str())?;
        let mut counters = automerge::hydrate::Map::default();
        for (variant, on_hand) in stock {
            counters.insert(
                variant.clone(),
                automerge::hydrate::MapValue {
                    value: automerge::hydrate::Value::Scalar(ScalarValue::counter(*on_hand)),
                    conflict: false,
                },
            );
        }
        doc.batch_create_object(
            ROOT,
            ON_HAND,
            &automerge::hydrate::Value::Map(counters),
            false,
        )?;
        for key in [HOLDS, SALES, ADJUSTMENTS] {
            doc.put_object(ROOT, key, ObjType::Map)?;
        }
        Ok(())
    }

    fn map(&self, key: &str) -> Result<ObjId> {
        match self.doc.get(ROOT, key)? {
            Some((Value::Object(ObjType::Map), id)) => Ok(id),
            _ => Err(self.corrupt(&format!("missing map {key}"))),
        }
    }

    fn corrupt(&self, reason: &str) -> CoreError {
        CoreError::Corrupt {
            doc: self.id.to_string(),
            reason: reason.to_string(),
        }
    }

    pub fn schema(&self) -> Result<u64> {
        match self.doc.get(ROOT, "schema")? {
            Some((Value::Scalar(s), _)) => match s.as_ref() {
                ScalarValue::Uint(v) => Ok(*v),
                ScalarValue::Int(v) => Ok(u64::try_from(*v).unwrap_or(0)),
                _ => Err(self.corrupt("schema is not a number")),
            },
            _ => Err(self.corrupt("missing schema")),
        }
    }

    /// The store the content says it is the inventory of.
    pub fn store(&self) -> Result<String> {
        match self.doc.get(ROOT, "store")? {
            Some((Value::Scalar(s), _)) => match s.as_ref() {
                ScalarValue::Str(store) => Ok(store.to_string()),
                _ => Err(self.corrupt("store is not text")),
            },
            _ => Err(self.corrupt("missing store")),
        }
    }

    /// Current on-hand count of a variant, `None` if the store does not stock it.
    pub fn on_hand(&self, variant: &str) -> Result<Option<i64>> {
        let obj = self.map(ON_HAND)?;
        match self.doc.get(&obj, variant)? {
            None => Ok(None),
            Some((Value::Scalar(s), _)) => match s.as_ref() {
                ScalarValue::Counter(c) => Ok(Some(i64::from(c))),
                _ => Err(self.corrupt(&format!("stock of {variant} is not a counter"))),
            },
            Some(_) => Err(self.corrupt(&format!("stock of {variant} is not a counter"))),
        }
    }

    /// Every variant's on-hand count.
    pub fn all_on_hand(&self) -> Result<Vec<(String, i64)>> {
        let obj = self.map(ON_HAND)?;
        let mut out = Vec::new();
        for item in self.doc.map_range(&obj, ..) {
            if let ValueRef::Scalar(ScalarValueRef::Counter(c)) = &item.value {
                out.push((item.key.to_string(), *c));
            }
        }
        Ok(out)
    }

    /// Starts stocking a variant with `on_hand` units: creates its counter. Only the relay
    /// does this (a product imported after the store's inventory): two devices creating the
    /// same counter concurrently would lose one. `false` if the store stocks it already.
    pub fn stock_variant(&mut self, variant: &str, on_hand: i64) -> Result<bool> {
        if self.on_hand(variant)?.is_some() {
            return Ok(false);
        }
        let obj = self.map(ON_HAND)?;
        self.doc
            .put(&obj, variant, ScalarValue::counter(on_hand))?;
        Ok(true)
    }

    /// Adds `delta` to a variant's counter. The variant must already be stocked here.
    pub fn increment(&mut self, variant: &VariantSku, delta: i64) -> Result<i64> {
        let current = self
            .on_hand(variant.as_str())?
            .ok_or_else(|| CoreError::not_found("variant in this store", variant))?;
        let obj = self.map(ON_HAND)?;
        self.doc.increment(&obj, variant.as_str(), delta)?;
        Ok(current + delta)
    }

    pub fn hold(&self, hold_id: &str) -> Result<Option<Hold>> {
        let obj = self.map(HOLDS)?;
        // Absent is `None`, not a record that fails to read.
        if self.doc.get(&obj, hold_id)?.is_none() {
            return Ok(None);
        }
        autosurgeon::hydrate_prop(self.doc, &obj, hold_id).map_err(|e| self.corrupt(&e.to_string()))
    }

    pub fn holds(&self) -> Result<BTreeMap<String, Hold>> {
        autosurgeon::hydrate_prop(self.doc, ROOT, HOLDS).map_err(|e| self.corrupt(&e.to_string()))
    }

    pub fn put_hold(&mut self, hold_id: &str, hold: &Hold) -> Result<()> {
        let obj = self.map(HOLDS)?;
        autosurgeon::reconcile_prop(self.doc, &obj, hold_id, hold)?;
        Ok(())
    }

    pub fn put_sale(&mut self, sale_id: &str, sale: &Sale) -> Result<()> {
        let obj = self.map(SALES)?;
        autosurgeon::reconcile_prop(self.doc, &obj, sale_id, sale)?;
        Ok(())
    }

    pub fn sale(&self, sale_id: &str) -> Result<Option<Sale>> {
        let obj = self.map(SALES)?;
        // Absent is `None`, not a record that fails to read.
        if self.doc.get(&obj, sale_id)?.is_none() {
            return Ok(None);
        }
        autosurgeon::hydrate_prop(self.doc, &obj, sale_id).map_err(|e| self.corrupt(&e.to_string()))
    }

    pub fn adjustment(&self, id: &str) -> Result<Option<Adjustment>> {
        let obj = self.map(ADJUSTMENTS)?;
        // Absent is `None`, not a record that fails to read.
        if self.doc.get(&obj, id)?.is_none() {
            return Ok(None);
        }
        autosurgeon::hydrate_prop(self.doc, &obj, id).map_err(|e| self.corrupt(&e.to_string()))
    }

    pub fn adjustments(&self) -> Result<BTreeMap<String, Adjustment>> {
        autosurgeon::hydrate_prop(self.doc, ROOT, ADJUSTMENTS)
            .map_err(|e| self.corrupt(&e.to_string()))
    }

    pub fn sales(&self) -> Result<BTreeMap<String, Sale>> {
        autosurgeon::hydrate_prop(self.doc, ROOT, SALES).map_err(|e| self.corrupt(&e.to_string()))
    }

    /// When the latest stock system level of `variant` that matched the count was true.
    pub fn stock_system_as_of(&self, variant: &VariantSku) -> Result<Option<Millis>> {
        let obj = match self.doc.get(ROOT, keys::STOCK_SYSTEM_AS_OF)? {
            None => return Ok(None),
            Some((Value::Object(ObjType::Map), id)) => id,
            Some(_) => return Err(self.corrupt("stock_system_as_of is not a map")),
        };
        match self.doc.get(&obj, variant.as_str())? {
            None => Ok(None),
            Some((Value::Scalar(s), _)) => match s.as_ref() {
                ScalarValue::Int(v) => Ok(Some(*v)),
                _ => Err(self.corrupt("stock_system_as_of holds a time that is not a number")),
            },
            Some(_) => Err(self.corrupt("stock_system_as_of holds a time that is not a number")),
        }
    }

    pub fn set_stock_system_as_of(&mut self, variant: &VariantSku, as_of: Millis) -> Result<()> {
        let obj = match self.doc.get(ROOT, keys::STOCK_SYSTEM_AS_OF)? {
            Some((Value::Object(ObjType::Map), id)) => id,
            _ => self
                .doc
                .put_object(ROOT, keys::STOCK_SYSTEM_AS_OF, ObjType::Map)?,
        };
        self.doc
            .put(&obj, variant.as_str(), ScalarValue::Int(as_of))?;
        Ok(())
    }

    pub fn put_adjustment(&mut self, id: &str, adjustment: &Adjustment) -> Result<()> {
        let obj = self.map(ADJUSTMENTS)?;
        autosurgeon::reconcile_prop(self.doc, &obj, id, adjustment)?;
        Ok(())
    }
}
