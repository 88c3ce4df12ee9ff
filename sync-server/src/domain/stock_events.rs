//! Stock events from the retailer's own systems (`POST /v1/events`): units moved outside
//! Aisle (`stock_adjusted`), sales rung up at a till outside Aisle (`store_sale`), and the
//! stock system's periodic levels (`stock_level`). Checked whole with the rest of the batch
//! before anything is written, then written to the store's inventory as the tablets' own
//! movements and sales are, so they sync to every tablet of the store.
//!
//! A level reconciles without counting anything twice: it was true at `as_of`, so every
//! movement and sale Aisle holds dated after `as_of` is applied on top of it, and the
//! difference from the store's counter is booked as a count dated `as_of` (which a later
//! level, dated after it, then leaves out in turn). Per variant, a level no newer than the
//! store's latest count (a shelf count, an import, a level) is stale, and a movement or sale
//! from the retailer's systems dated no later than that count was in it already: recorded,
//! and not counted again.

use super::RelayDocs;
use super::import::IMPORT_ASSOCIATE;
use aisle_core::Store;
use aisle_core::api::{Event, EventKind, IngestOutcome, MAX_STOCK_LEVELS, OutsideMovement};
use aisle_core::doc::{Adjustment, DocId, InventoryDoc};
use aisle_core::model::{
    AssociateId, Channel, CustomerId, Millis, MovementKind, OUTSIDE_SALE_PREFIX, OUTSIDE_TILL,
    Purchase, PurchaseLine, STOCK_SYSTEM, Sale, SaleLine, StoreId, VariantSku,
};
use aisle_core::validate::{
    self, MAX_LINES, MAX_SHORT_TEXT_CHARS, MAX_STOCK_ADJUSTMENT, MAX_UNIT_PRICE_MINOR,
};
use aisle_core::{CoreError, Result};
use rusqlite::params;
use std::borrow::BorrowMut;

/// How far ahead of the relay's clock an event's time may be (the sender's clock drifts).
const FUTURE_SLACK_MS: Millis = 5 * 60 * 1000;

/// The reason a movement the stock system's level already held is recorded with.
fn already_in_level(reason: &str) -> String {
    let held = "already in the stock system's level";
    if reason.is_empty() {
        held.to_string()
    } else {
        format!("{reason} ({held})")
    }
}

/// 2020-01-01: no retailer's stock history in Aisle is older.
const EARLIEST_MS: Millis = 1_577_836_800_000;

/// The key of a till's sale in the store's inventory: the till's own id, so the same sale sent
/// again under another event id is found and not counted twice.
pub fn outside_sale_key(sale_id: &str) -> String {
    format!("{OUTSIDE_SALE_PREFIX}{sale_id}")
}

fn movement_kind(movement: OutsideMovement) -> MovementKind {
    match movement {
        OutsideMovement::Delivery => MovementKind::Delivery,
        OutsideMovement::Damage => MovementKind::Damage,
        OutsideMovement::Correction => MovementKind::Correction,
    }
}

fn adjustment(
    variant: &VariantSku,
    delta: i64,
    kind: MovementKind,
    at: Millis,
) -> Result<Adjustment> {
    Ok(Adjustment {
        variant: variant.clone(),
        delta,
        reason: String::new(),
        by: AssociateId::parse(STOCK_SYSTEM)?,
        at,
        resolves_oversell: None,
        kind: Some(kind),
        transfer: None,
        other_store: None,
        counted: None,
        sale: None,
        refund_minor: None,
    })
}

impl<S: BorrowMut<Store>> RelayDocs<S> {
    fn check_event_time(&self, field: &str, at: Millis) -> Result<()> {
        if at < EARLIEST_MS || at > self.now() + FUTURE_SLACK_MS {
            return Err(CoreError::invalid(
                field,
                "is not a time between 2020 and now (Unix milliseconds)",
            ));
        }
        Ok(())
    }

    /// That the store stocks the variant: the store's inventory has its counter.
    fn check_stocked(&self, store: &StoreId, variant: &VariantSku) -> Result<()> {
        self.variant_product(variant)?;
        self.on_hand(store, variant).map(|_| ())
    }

    /// Checks a stock event without writing anything.
    pub(super) fn check_stock_event(&self, kind: &EventKind) -> Result<()> {
        match kind {
            EventKind::StockAdjusted {
                store,
                variant,
                delta,
                movement,
                reason,
                at,
            } => {
                self.require_store(store)?;
                self.check_stocked(store, variant)?;
                if let Some(reason) = reason {
                    validate::check_text("reason", reason, MAX_SHORT_TEXT_CHARS)?;
                }
                if let Some(at) = at {
                    self.check_event_time("at", *at)?;
                }
                adjustment(variant, *delta, movement_kind(*movement), 0)?
                    .check_shape(store)
                    .map_err(|reason| CoreError::invalid("delta", &reason))
            }
            EventKind::StoreSale {
                store,
                sale_id,
                lines,
                at,
            } => {
                self.require_store(store)?;
                // `till-` and the id name the sale, within a record's 64 characters.
                validate::check_token("sale_id", sale_id, 64 - OUTSIDE_SALE_PREFIX.len())?;
                if lines.is_empty() || lines.len() > MAX_LINES {
                    return Err(CoreError::invalid(
                        "lines",
                        &format!("a sale has 1 to {MAX_LINES} lines"),
                    ));
                }
                for line in lines {
                    validate::check_quantity(line.quantity)?;
                    self.check_stocked(store, &line.variant)?;
                    if line
                        .unit_price_minor
                        .is_some_and(|p| !(0..=MAX_UNIT_PRICE_MINOR).contains(&p))
                    {
                        return Err(CoreError::invalid(
                            "unit_price_minor",
                            &format!("must be between 0 and {MAX_UNIT_PRICE_MINOR}"),
                        ));
                    }
                }
                if let Some(at) = at {
                    self.check_event_time("at", *at)?;
                }
                Ok(())
            }
            EventKind::StockLevel {
                store,
                as_of,
                levels,
            } => {
                self.require_store(store)?;
                self.check_event_time("as_of", *as_of)?;
                if levels.is_empty() || levels.len() > MAX_STOCK_LEVELS {
                    return Err(CoreError::invalid(
                        "levels",
                        &format!("1 to {MAX_STOCK_LEVELS} levels"),
                    ));
                }
                let mut seen = std::collections::HashSet::new();
                for level in levels {
                    if !seen.insert(&level.variant) {
                        return Err(CoreError::invalid(
                            "levels",
                            &format!("{} is given twice", level.variant),
                        ));
                    }
                    if !(0..=MAX_STOCK_ADJUSTMENT).contains(&level.on_hand) {
                        return Err(CoreError::invalid(
                            "on_hand",
                            &format!(
                                "{} of {}: between 0 and {MAX_STOCK_ADJUSTMENT}",
                                level.on_hand, level.variant
                            ),
                        ));
                    }
                    self.check_stocked(store, &level.variant)?;
                }
                Ok(())
            }
            _ => Err(CoreError::Internal(format!(
                "{} is not a stock event",
                kind.name()
            ))),
        }
    }

    /// Applies a checked stock event, with its id in the same transaction. `customer` is the
    /// store sale's customer, when the event named one that was found.
    pub(super) fn apply_stock_event(
        &mut self,
        event: &Event,
        customer: Option<CustomerId>,
        outcome: &mut IngestOutcome,
    ) -> Result<()> {
        let now = self.now();
        match &event.kind {
            EventKind::StockAdjusted {
                store,
                variant,
                delta,
                movement,
                reason,
                at,
            } => {
                let at = at.unwrap_or(now);
                let mut write = self.begin_write(&DocId::Inventory(store.clone()), false)?;
                let truth = self.stock_truth(&mut write.doc, store, variant)?;
                let mut inventory = InventoryDoc::new(&mut write.doc, store);
                let mut record = adjustment(variant, *delta, movement_kind(*movement), at)?;
                record.reason = reason.clone().unwrap_or_default();
                // A level the stock system gave since already holds it: on record, not
                // counted again.
                if truth.is_some_and(|truth| at <= truth) {
                    record.reason = already_in_level(&record.reason);
                } else {
                    inventory.increment(variant, *delta)?;
                }
                inventory.put_adjustment(&self.ids.new_id(), &record)?;
                self.commit_writes(vec![write])
            }
            EventKind::StoreSale {
                store,
                sale_id,
                lines,
                at,
            } => {
                let named = event.customer != Default::default();
                if named && customer.is_none() {
                    outcome.unmatched_customers.push(event.id.clone());
                }
                let key = outside_sale_key(sale_id);
                let at = at.unwrap_or(now);
                let mut inventory_write =
                    self.begin_write(&DocId::Inventory(store.clone()), false)?;
                if InventoryDoc::new(&mut inventory_write.doc, store)
                    .sale(&key)?
                    .is_some()
                {
                    // The same till sale under another event id: counted once.
                    return self.record_event_only();
                }
                let mut sale_lines = Vec::with_capacity(lines.len());
                let mut purchase_lines = Vec::with_capacity(lines.len());
                let mut counted = Vec::with_capacity(lines.len());
                for line in lines {
                    let (product, price) = self.variant_product(&line.variant)?;
                    let price = line.unit_price_minor.unwrap_or(price);
                    let truth = self.stock_truth(&mut inventory_write.doc, store, &line.variant)?;
                    counted.push(truth.is_none_or(|truth| at > truth));
                    sale_lines.push(SaleLine {
                        variant: line.variant.clone(),
                        quantity: line.quantity,
                        unit_price_cents: price,
                    });
                    purchase_lines.push(PurchaseLine {
                        variant: line.variant.clone(),
                        product,
                        quantity: line.quantity,
                        unit_price_cents: price,
                    });
                }
                let total_cents = sale_lines
                    .iter()
                    .map(|l| l.unit_price_cents * i64::from(l.quantity))
                    .sum();
                let customer = customer.map(|c| self.current_id(&c)).transpose()?;
                let mut inventory = InventoryDoc::new(&mut inventory_write.doc, store);
                // A line the stock system's level (dated after the sale) already holds is
                // not taken off again.
                for (line, counted) in sale_lines.iter().zip(counted) {
                    if counted {
                        inventory.increment(&line.variant, -i64::from(line.quantity))?;
                    }
                }
                inventory.put_sale(
                    &key,
                    &Sale {
                        lines: sale_lines,
                        customer: customer.clone(),
                        associate: AssociateId::parse(OUTSIDE_TILL)?,
                        at,
                        holds: Vec::new(),
                        from_online_cart: customer.as_ref().map(|_| false),
                        exchange_for: None,
                    },
                )?;
                let mut writes = vec![inventory_write];
                if let Some(customer) = customer {
                    let doc_id = DocId::Customer(customer);
                    let mut write = self.begin_write(&doc_id, false)?;
                    let mut profile: aisle_core::doc::CustomerDoc =
                        aisle_core::doc::hydrate_doc(&write.doc, &doc_id)?;
                    aisle_core::doc::check_schema(profile.schema, &doc_id)?;
                    profile.purchases.insert(
                        key,
                        Purchase {
                            at,
                            channel: Channel::Store,
                            store: Some(store.clone()),
                            associate: None,
                            lines: purchase_lines,
                            total_cents,
                        },
                    );
                    autosurgeon::reconcile(&mut write.doc, &profile)?;
                    writes.push(write);
                }
                self.commit_writes(writes)
            }
            EventKind::StockLevel {
                store,
                as_of,
                levels,
            } => {
                let mut write = self.begin_write(&DocId::Inventory(store.clone()), false)?;
                let mut moves = Vec::with_capacity(levels.len());
                for level in levels {
                    // Older than what the store last counted (a shelf count, an import, a
                    // later level): that count is the newer truth. Of the same instant as the
                    // stock system's own last level (Shopify dates levels to the second), the
                    // one delivered later is its later word; any other count then stands.
                    let truth = self.stock_truth(&mut write.doc, store, &level.variant)?;
                    let stale = match truth {
                        Some(truth) if *as_of < truth => true,
                        Some(truth) if *as_of == truth => {
                            self.counted_by_staff_at(store, &level.variant, truth)?
                        }
                        _ => false,
                    };
                    if stale {
                        outcome.stale_levels += 1;
                        continue;
                    }
                    let since = self.moved_since(store, &level.variant, *as_of)?;
                    moves.push((level, since, self.ids.new_id()));
                }
                if moves.is_empty() {
                    return self.record_event_only();
                }
                let mut inventory = InventoryDoc::new(&mut write.doc, store);
                for (level, since, id) in moves {
                    let current = inventory.on_hand(level.variant.as_str())?.ok_or_else(|| {
                        CoreError::not_found("variant in this store", &level.variant)
                    })?;
                    let delta = level.on_hand + since - current;
                    if delta == 0 {
                        // Right already: only when it was true is kept, so an older level
                        // arriving late is known to be older.
                        inventory.set_stock_system_as_of(&level.variant, *as_of)?;
                        continue;
                    }
                    inventory.increment(&level.variant, delta)?;
                    let mut record =
                        adjustment(&level.variant, delta, MovementKind::Count, *as_of)?;
                    record.reason = "stock system level".into();
                    record.counted = Some(level.on_hand);
                    record.resolves_oversell =
                        (current < 0 && current + delta >= 0).then_some(true);
                    inventory.put_adjustment(&id, &record)?;
                }
                self.commit_writes(vec![write])
            }
            _ => Err(CoreError::Internal(format!(
                "{} is not a stock event",
                event.kind.name()
            ))),
        }
    }

    /// When the store's count of `variant` was last set to a known truth: its latest count
    /// (a shelf count, an import, a stock system level that moved it), or the latest stock
    /// system level that found it right. A tablet's count dated after the relay's now (a
    /// fast clock, or a modified app) is no truth yet: it would make every level and outside
    /// movement until then count as older. The relay's own (a level, an import) always is.
    fn stock_truth(
        &self,
        doc: &mut aisle_core::automerge::AutoCommit,
        store: &StoreId,
        variant: &VariantSku,
    ) -> Result<Option<Millis>> {
        let counted: Option<Millis> = self
            .conn()
            .prepare_cached(
                "SELECT MAX(at) FROM stock_movements
                 WHERE store_id = ?1 AND variant_sku = ?2 AND kind = 'count'
                   AND (at <= ?3 OR associate_id IN (?4, ?5))",
            )?
            .query_row(
                params![
                    store.as_str(),
                    variant.as_str(),
                    self.now(),
                    STOCK_SYSTEM,
                    IMPORT_ASSOCIATE
                ],
                |r| r.get(0),
            )?;
        let matched = InventoryDoc::new(doc, store).stock_system_as_of(variant)?;
        Ok(counted.max(matched))
    }

    /// Whether anyone but the stock system (a manager, an import) counted `variant` at `at`.
    fn counted_by_staff_at(
        &self,
        store: &StoreId,
        variant: &VariantSku,
        at: Millis,
    ) -> Result<bool> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM stock_movements
                 WHERE store_id = ?1 AND variant_sku = ?2 AND kind = 'count' AND at = ?3
                   AND associate_id <> ?4)",
            )?
            .query_row(
                params![store.as_str(), variant.as_str(), at, STOCK_SYSTEM],
                |r| r.get(0),
            )?)
    }

    /// What Aisle's records moved a variant's stock by after `after`: movements (returns,
    /// deliveries, transfers) less units sold. Not counts: a level older than a count is
    /// stale, so the only counts after it are dated ahead of the relay's clock, taken before
    /// the level in truth, which the level then holds.
    fn moved_since(&self, store: &StoreId, variant: &VariantSku, after: Millis) -> Result<i64> {
        let args = params![store.as_str(), variant.as_str(), after];
        let moved: i64 = self
            .conn()
            .prepare_cached(
                "SELECT COALESCE(SUM(delta), 0) FROM stock_movements
                 WHERE store_id = ?1 AND variant_sku = ?2 AND at > ?3 AND kind <> 'count'",
            )?
            .query_row(args, |r| r.get(0))?;
        let sold: i64 = self
            .conn()
            .prepare_cached(
                "SELECT COALESCE(SUM(quantity), 0) FROM sale_lines
                 WHERE store_id = ?1 AND variant_sku = ?2 AND at > ?3",
            )?
            .query_row(args, |r| r.get(0))?;
        Ok(moved - sold)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixed_authors_are_valid_associate_ids() {
        for id in [OUTSIDE_TILL, STOCK_SYSTEM] {
            assert!(AssociateId::parse(id).is_ok(), "{id}");
        }
    }
}
