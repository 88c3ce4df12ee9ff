//! Stock corrections on the floor: deliveries and counts, and settling an oversell conflict
//! with a shelf count that syncs to every tablet.

use aisle_core::doc::{Adjustment, DocId, InventoryDoc};
use aisle_core::model::{AssociateId, StoreId, VariantSku};
use aisle_core::validate::{self, MAX_STOCK_ADJUSTMENT};
use aisle_core::{CoreError, Result};
use rusqlite::{OptionalExtension, params};

use crate::Tablet;

impl Tablet {
    /// Corrects stock (delivery, damage, recount). Returns the new on-hand count.
    pub fn adjust_stock(
        &mut self,
        store: &StoreId,
        variant: &VariantSku,
        delta: i64,
        reason: &str,
        by: &AssociateId,
    ) -> Result<i64> {
        self.adjust_stock_inner(store, variant, delta, reason, by, false)
    }

    /// Settles an oversell with a recount: the variant's stock is set to what was counted on
    /// the shelf (an adjustment, so it syncs), which closes the conflict on every replica and
    /// records who resolved it. Returns the new on-hand count.
    pub fn resolve_oversell(
        &mut self,
        conflict_id: &str,
        counted: i64,
        by: &AssociateId,
    ) -> Result<i64> {
        if !(0..=MAX_STOCK_ADJUSTMENT).contains(&counted) {
            return Err(CoreError::invalid(
                "counted",
                &format!("must be between 0 and {MAX_STOCK_ADJUSTMENT}"),
            ));
        }
        let (store, variant): (String, String) = self
            .conn()
            .query_row(
                "SELECT store_id, variant_sku FROM conflicts
                 WHERE conflict_id = ?1 AND resolved_at IS NULL",
                [conflict_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?
            .ok_or_else(|| CoreError::not_found("open conflict", conflict_id))?;
        let (store, variant) = (StoreId::parse(store)?, VariantSku::parse(variant)?);
        let on_hand = self.on_hand(&store, &variant)?;
        if on_hand >= 0 {
            // Stock was corrected elsewhere already; only the bookkeeping is left.
            self.resolve_conflict(conflict_id, by)?;
            return Ok(on_hand);
        }
        self.adjust_stock_inner(
            &store,
            &variant,
            counted - on_hand,
            "Recount after oversell",
            by,
            true,
        )
    }

    /// Marks an oversell conflict resolved by a manager.
    pub fn resolve_conflict(&mut self, conflict_id: &str, by: &AssociateId) -> Result<()> {
        let now = self.now();
        self.with_tx(|tx| {
            let changed = tx.execute(
                "UPDATE conflicts SET resolved_at = ?2, resolved_by = ?3
                 WHERE conflict_id = ?1 AND resolved_at IS NULL",
                params![conflict_id, now, by.as_str()],
            )?;
            if changed == 0 {
                return Err(CoreError::not_found("open conflict", conflict_id));
            }
            Ok(())
        })
    }

    pub(crate) fn adjust_stock_inner(
        &mut self,
        store: &StoreId,
        variant: &VariantSku,
        delta: i64,
        reason: &str,
        by: &AssociateId,
        resolves_oversell: bool,
    ) -> Result<i64> {
        if delta == 0 || !(-MAX_STOCK_ADJUSTMENT..=MAX_STOCK_ADJUSTMENT).contains(&delta) {
            return Err(CoreError::invalid(
                "delta",
                &format!("must be non-zero and at most {MAX_STOCK_ADJUSTMENT} either way"),
            ));
        }
        let reason = validate::check_text("reason", reason, 200)?;
        let adjustment_id = self.ids.new_id();
        let at = self.now();
        let mut write = self.begin_write(&DocId::Inventory(store.clone()), false)?;
        let mut inventory = InventoryDoc::new(&mut write.doc, store);
        let on_hand = inventory.increment(variant, delta)?;
        inventory.put_adjustment(
            &adjustment_id,
            &Adjustment {
                variant: variant.clone(),
                delta,
                reason,
                by: by.clone(),
                at,
                resolves_oversell: resolves_oversell.then_some(true),
            },
        )?;
        self.commit_writes(vec![write])?;
        Ok(on_hand)
    }
}
