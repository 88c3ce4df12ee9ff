//! Stock movements on the floor: deliveries, damage, transfers between stores, shelf counts
//! and returns, each a record that syncs with the counter it moves; and settling an oversell
//! conflict with a count. Every movement but a return is a manager's act: the relay refuses
//! one from any other tablet, checks a transfer received against the one the other store
//! sent, and a return against its sale.

use aisle_core::doc::{Adjustment, DocId, InventoryDoc};
use aisle_core::model::{
    AssociateId, IncomingTransfer, MovementKind, ProductSku, StockMovement, StoreId, VariantSku,
};
use aisle_core::validate::{self, MAX_STOCK_ADJUSTMENT};
use aisle_core::{CoreError, Result};
use rusqlite::{OptionalExtension, params};

use crate::Tablet;

/// Longest note on a movement (a delivery note number, what was damaged).
const MAX_MOVEMENT_NOTE_CHARS: usize = 200;

/// One variant's line of a movement: units delivered, damaged, sent or received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MovementLine {
    pub variant: VariantSku,
    pub quantity: i64,
}

impl Tablet {
    /// A correction without a kind (kept for callers that only know a delta).
    pub fn adjust_stock(
        &mut self,
        store: &StoreId,
        variant: &VariantSku,
        delta: i64,
        reason: &str,
        by: &AssociateId,
    ) -> Result<i64> {
        let movement = self.movement(variant, delta, reason, by, MovementKind::Correction)?;
        self.write_movements(store, vec![movement])
            .map(|levels| levels[0])
    }

    /// Units in from a supplier or the warehouse. Returns the new on-hand counts.
    pub fn receive_delivery(
        &mut self,
        store: &StoreId,
        lines: &[MovementLine],
        note: &str,
        by: &AssociateId,
    ) -> Result<Vec<i64>> {
        let movements = self.lines(lines, note, by, MovementKind::Delivery, 1)?;
        self.write_movements(store, movements)
    }

    /// Units damaged, stolen or lost. Returns the new on-hand counts.
    pub fn record_damage(
        &mut self,
        store: &StoreId,
        lines: &[MovementLine],
        note: &str,
        by: &AssociateId,
    ) -> Result<Vec<i64>> {
        let movements = self.lines(lines, note, by, MovementKind::Damage, -1)?;
        self.write_movements(store, movements)
    }

    /// Units sent to another store; returns the transfer's reference, which the receiving
    /// store receives against.
    pub fn send_transfer(
        &mut self,
        store: &StoreId,
        to: &StoreId,
        lines: &[MovementLine],
        note: &str,
        by: &AssociateId,
    ) -> Result<String> {
        if to == store {
            return Err(CoreError::invalid("to", "is this store"));
        }
        if !self.stores()?.iter().any(|s| s.id == *to) {
            return Err(CoreError::not_found("store", to));
        }
        let transfer = format!("TR-{}", self.ids.new_id());
        let mut movements = self.lines(lines, note, by, MovementKind::TransferOut, -1)?;
        for m in &mut movements {
            m.transfer = Some(transfer.clone());
            m.other_store = Some(to.clone());
        }
        self.write_movements(store, movements)?;
        Ok(transfer)
    }

    /// Units that arrived of a transfer another store sent (as the relay lists it): at most
    /// what is still on its way, per variant. A short delivery receives less.
    pub fn receive_transfer(
        &mut self,
        store: &StoreId,
        transfer: &IncomingTransfer,
        lines: &[MovementLine],
        by: &AssociateId,
    ) -> Result<Vec<i64>> {
        for line in lines {
            let Some(sent) = transfer.lines.iter().find(|l| l.variant == line.variant) else {
                return Err(CoreError::invalid(
                    "variant",
                    &format!("{} is not in transfer {}", line.variant, transfer.transfer),
                ));
            };
            // What this tablet recorded receiving already, perhaps since the list was read.
            let (_, received_here) = self.transfer_balance(
                &transfer.transfer,
                &transfer.from_store,
                store,
                &line.variant,
            )?;
            let outstanding = sent.sent - sent.received.max(received_here);
            if line.quantity > outstanding {
                return Err(CoreError::invalid(
                    "quantity",
                    &format!(
                        "{} units of {} received where {outstanding} are on their way",
                        line.quantity, line.variant
                    ),
                ));
            }
        }
        let note = format!("From {}", transfer.from_store_name);
        let mut movements = self.lines(lines, &note, by, MovementKind::TransferIn, 1)?;
        for m in &mut movements {
            m.transfer = Some(transfer.transfer.clone());
            m.other_store = Some(transfer.from_store.clone());
        }
        self.write_movements(store, movements)
    }

    /// Units a customer brought back of a sale recorded in this store: back into stock, linked
    /// to the sale (the till hears of it as a refund of that sale). At most what the sale
    /// sold of each variant, less what was returned of it before.
    pub fn record_return(
        &mut self,
        store: &StoreId,
        sale_id: &str,
        lines: &[MovementLine],
        note: &str,
        by: &AssociateId,
    ) -> Result<Vec<i64>> {
        let id = DocId::Inventory(store.clone());
        let sale = self
            .with_doc(&id, |doc| InventoryDoc::new(doc, store).sale(sale_id))?
            .transpose()?
            .flatten()
            .ok_or_else(|| CoreError::not_found("sale in this store", sale_id))?;
        for line in lines {
            let sold: i64 = sale
                .lines
                .iter()
                .filter(|l| l.variant == line.variant)
                .map(|l| i64::from(l.quantity))
                .sum();
            let returnable = sold - self.returned_of(store, sale_id, &line.variant)?;
            if line.quantity > returnable {
                return Err(CoreError::invalid(
                    "quantity",
                    &format!(
                        "{} of {} returned where the sale has {returnable} left to return",
                        line.quantity, line.variant
                    ),
                ));
            }
        }
        let mut movements = self.lines(lines, note, by, MovementKind::Return, 1)?;
        for m in &mut movements {
            m.sale = Some(sale_id.to_string());
            m.refund_minor = Some(sale.refund_for(&m.variant, m.delta));
        }
        self.write_movements(store, movements)
    }

    /// A shelf count of some or all of a store's variants: each level becomes what was
    /// counted (a sale on another tablet meanwhile still counts on top). A count that finds
    /// the level right is recorded too: it says the shelf was checked.
    pub fn count_stock(
        &mut self,
        store: &StoreId,
        counts: &[(VariantSku, i64)],
        note: &str,
        by: &AssociateId,
    ) -> Result<Vec<i64>> {
        if counts.is_empty() {
            return Err(CoreError::invalid("counts", "count at least one variant"));
        }
        let mut movements = Vec::with_capacity(counts.len());
        for (variant, counted) in counts {
            if !(0..=MAX_STOCK_ADJUSTMENT).contains(counted) {
                return Err(CoreError::invalid(
                    "counted",
                    &format!("{counted} for {variant}: between 0 and {MAX_STOCK_ADJUSTMENT}"),
                ));
            }
            let on_hand = self.on_hand(store, variant)?;
            let mut m = self.movement(variant, counted - on_hand, note, by, MovementKind::Count)?;
            m.counted = Some(*counted);
            m.resolves_oversell = (on_hand < 0).then_some(true);
            movements.push(m);
        }
        self.write_movements(store, movements)
    }

    /// Settles an oversell with a recount: the variant's stock is set to what was counted on
    /// the shelf (a count, so it syncs), which closes the conflict on every replica and
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
        let levels =
            self.count_stock(&store, &[(variant, counted)], "Recount after oversell", by)?;
        Ok(levels[0])
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

    /// The last movements of a product here, newest first.
    pub fn product_movements(
        &self,
        store: &StoreId,
        product: &ProductSku,
    ) -> Result<Vec<StockMovement>> {
        self.stock_movements(store, product, 50)
    }

    fn lines(
        &self,
        lines: &[MovementLine],
        note: &str,
        by: &AssociateId,
        kind: MovementKind,
        sign: i64,
    ) -> Result<Vec<Adjustment>> {
        if lines.is_empty() {
            return Err(CoreError::invalid("lines", "at least one variant"));
        }
        lines
            .iter()
            .map(|line| {
                if !(1..=MAX_STOCK_ADJUSTMENT).contains(&line.quantity) {
                    return Err(CoreError::invalid(
                        "quantity",
                        &format!(
                            "{} of {}: between 1 and {MAX_STOCK_ADJUSTMENT}",
                            line.quantity, line.variant
                        ),
                    ));
                }
                self.movement(&line.variant, sign * line.quantity, note, by, kind)
            })
            .collect()
    }

    pub(crate) fn movement(
        &self,
        variant: &VariantSku,
        delta: i64,
        note: &str,
        by: &AssociateId,
        kind: MovementKind,
    ) -> Result<Adjustment> {
        Ok(Adjustment {
            variant: variant.clone(),
            delta,
            reason: validate::check_optional_text("note", note, MAX_MOVEMENT_NOTE_CHARS)?,
            by: by.clone(),
            at: self.now(),
            resolves_oversell: None,
            kind: Some(kind),
            transfer: None,
            other_store: None,
            counted: None,
            sale: None,
            refund_minor: None,
        })
    }

    /// Records movements and moves their counters in one change of the store's inventory.
    /// Returns each variant's new on-hand count, in order.
    fn write_movements(&mut self, store: &StoreId, movements: Vec<Adjustment>) -> Result<Vec<i64>> {
        for m in &movements {
            m.check_shape(store)
                .map_err(|reason| CoreError::invalid("movement", &reason))?;
        }
        let ids: Vec<String> = movements.iter().map(|_| self.ids.new_id()).collect();
        let mut write = self.begin_write(&DocId::Inventory(store.clone()), false)?;
        let mut inventory = InventoryDoc::new(&mut write.doc, store);
        let mut levels = Vec::with_capacity(movements.len());
        for (id, movement) in ids.iter().zip(&movements) {
            // A count that found the level right moves nothing, but is recorded.
            let level = if movement.delta == 0 {
                inventory
                    .on_hand(movement.variant.as_str())?
                    .ok_or_else(|| {
                        CoreError::not_found("variant in this store", &movement.variant)
                    })?
            } else {
                inventory.increment(&movement.variant, movement.delta)?
            };
            inventory.put_adjustment(id, movement)?;
            levels.push(level);
        }
        self.commit_writes(vec![write])?;
        Ok(levels)
    }
}
