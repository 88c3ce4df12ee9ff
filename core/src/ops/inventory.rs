//! Inventory operations: stock by size × colour, adjustments, holds and sales.

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::doc::{Adjustment, DocId, InventoryDoc};
use crate::error::{CoreError, Result};
use crate::model::{
    AssociateId, CartStatus, Channel, CustomerId, Hold, HoldEnd, HoldEnded, HoldSummary,
    NearbyStock, OversellConflict, ProductSku, Purchase, PurchaseLine, Sale, SaleLine, SaleReceipt,
    StockGrid, StockLevel, StoreId, VariantSku,
};
use crate::store::Store;
use crate::validate::{self, MAX_LINES, MAX_STOCK_ADJUSTMENT};

/// Longest a hold may last: a week.
const MAX_HOLD_HOURS: u32 = 24 * 7;

/// Put items aside for a customer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HoldRequest {
    pub store: StoreId,
    pub variant: VariantSku,
    pub quantity: u32,
    pub customer: CustomerId,
    pub associate: AssociateId,
    pub hours: u32,
}

/// Record a sale on the tablet (handed to the till).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SaleRequest {
    pub store: StoreId,
    pub lines: Vec<(VariantSku, u32)>,
    pub customer: Option<CustomerId>,
    pub associate: AssociateId,
    /// Holds this sale fulfils.
    #[serde(default)]
    pub holds: Vec<String>,
    /// The customer's in-store cart this sale checks out; it is marked converted.
    #[serde(default)]
    pub cart: Option<String>,
}

impl Store {
    /// Stock of a product here as a size × colour grid, plus what nearby stores have.
    pub fn stock_for_product(&self, store: &StoreId, product: &ProductSku) -> Result<StockGrid> {
        let summary = self.product(product)?;
        let now = self.now();
        let mut stmt = self.conn().prepare_cached(
            "SELECT v.variant_sku, v.colour, v.size, COALESCE(s.on_hand, 0),
                    COALESCE((SELECT SUM(h.quantity) FROM holds h
                              WHERE h.store_id = ?1 AND h.variant_sku = v.variant_sku
                                AND h.ended_at IS NULL AND h.expires_at > ?3), 0)
             FROM variants v
             LEFT JOIN stock s ON s.store_id = ?1 AND s.variant_sku = v.variant_sku
             WHERE v.product_sku = ?2
             ORDER BY v.colour_order, v.size_order",
        )?;
        let levels = stmt
            .query_map(params![store.as_str(), product.as_str(), now], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                ))
            })?
            .map(|row| {
                let (variant, colour, size, on_hand, held) = row?;
                Ok(StockLevel {
                    variant: VariantSku::parse(variant)?,
                    colour,
                    size,
                    on_hand,
                    held,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let mut sizes: Vec<String> = Vec::new();
        let mut colours: Vec<String> = Vec::new();
        for level in &levels {
            if !sizes.contains(&level.size) {
                sizes.push(level.size.clone());
            }
            if !colours.contains(&level.colour) {
                colours.push(level.colour.clone());
            }
        }
        let nearby = self.nearby_stock(store, product, now)?;
        Ok(StockGrid {
            product: summary,
            store: store.clone(),
            sizes,
            colours,
            levels,
            nearby,
        })
    }

    fn nearby_stock(
        &self,
        here: &StoreId,
        product: &ProductSku,
        now: i64,
    ) -> Result<Vec<NearbyStock>> {
        let stores = self.stores()?;
        let Some(origin) = stores.iter().find(|s| s.id == *here) else {
            return Err(CoreError::not_found("store", here));
        };
        let mut stmt = self.conn().prepare_cached(
            "SELECT COALESCE(SUM(MAX(s.on_hand - COALESCE((SELECT SUM(h.quantity) FROM holds h
                        WHERE h.store_id = s.store_id AND h.variant_sku = s.variant_sku
                          AND h.ended_at IS NULL AND h.expires_at > ?3), 0), 0)), 0)
             FROM stock s JOIN variants v ON v.variant_sku = s.variant_sku
             WHERE s.store_id = ?1 AND v.product_sku = ?2",
        )?;
        let mut out = Vec::new();
        // A tablet holds only its own store's inventory; other stores' counts come from the
        // relay (`stock_by_store`), so stores without rows here are left out, not shown as 0.
        let mut stocked = self
            .conn()
            .prepare_cached("SELECT 1 FROM stock WHERE store_id = ?1 LIMIT 1")?;
        for other in stores.iter().filter(|s| s.id != *here) {
            if !stocked.exists([other.id.as_str()])? {
                continue;
            }
            let available: i64 = stmt
                .query_row(params![other.id.as_str(), product.as_str(), now], |r| {
                    r.get(0)
                })?;
            out.push(NearbyStock {
                store: other.id.clone(),
                store_name: other.name.clone(),
                distance_km: distance_km(
                    origin.latitude,
                    origin.longitude,
                    other.latitude,
                    other.longitude,
                ),
                available,
            });
        }
        out.sort_by(|a, b| a.distance_km.total_cmp(&b.distance_km));
        Ok(out)
    }

    /// On-hand count of one variant here (from the projection).
    pub fn on_hand(&self, store: &StoreId, variant: &VariantSku) -> Result<i64> {
        self.conn()
            .query_row(
                "SELECT on_hand FROM stock WHERE store_id = ?1 AND variant_sku = ?2",
                params![store.as_str(), variant.as_str()],
                |r| r.get(0),
            )
            .optional()?
            .ok_or_else(|| CoreError::not_found("variant in this store", variant))
    }

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

    fn adjust_stock_inner(
        &mut self,
        store: &StoreId,
        variant: &VariantSku,
        delta: i64,
        reason: &str,
        by: &AssociateId,
        resolves_oversell: bool,
    ) -> Result<i64> {
        if delta == 0 || delta.abs() > MAX_STOCK_ADJUSTMENT {
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

    /// Available units of a variant: on hand minus active holds.
    pub fn available(&self, store: &StoreId, variant: &VariantSku) -> Result<i64> {
        let on_hand = self.on_hand(store, variant)?;
        let held: i64 = self.conn().query_row(
            "SELECT COALESCE(SUM(quantity), 0) FROM holds
             WHERE store_id = ?1 AND variant_sku = ?2 AND ended_at IS NULL AND expires_at > ?3",
            params![store.as_str(), variant.as_str(), self.now()],
            |r| r.get(0),
        )?;
        Ok((on_hand - held).max(0))
    }

    /// Puts items aside for a customer. Refused when fewer are available than asked for.
    pub fn place_hold(&mut self, request: &HoldRequest) -> Result<String> {
        validate::check_quantity(request.quantity)?;
        if request.hours == 0 || request.hours > MAX_HOLD_HOURS {
            return Err(CoreError::invalid(
                "hours",
                &format!("must be between 1 and {MAX_HOLD_HOURS}"),
            ));
        }
        if !self.has_doc(&DocId::Customer(request.customer.clone()))? {
            return Err(CoreError::not_found("customer", &request.customer));
        }
        let available = self.available(&request.store, &request.variant)?;
        if available < i64::from(request.quantity) {
            return Err(CoreError::invalid(
                "quantity",
                &format!("only {available} available to hold"),
            ));
        }
        let hold_id = self.ids.new_id();
        let now = self.now();
        let hold = Hold {
            variant: request.variant.clone(),
            quantity: request.quantity,
            customer: request.customer.clone(),
            associate: request.associate.clone(),
            placed_at: now,
            expires_at: now + i64::from(request.hours) * 3_600_000,
            ended: None,
        };
        let mut write = self.begin_write(&DocId::Inventory(request.store.clone()), false)?;
        InventoryDoc::new(&mut write.doc, &request.store).put_hold(&hold_id, &hold)?;
        self.commit_writes(vec![write])?;
        Ok(hold_id)
    }

    pub fn release_hold(&mut self, store: &StoreId, hold_id: &str, by: &AssociateId) -> Result<()> {
        let now = self.now();
        let mut write = self.begin_write(&DocId::Inventory(store.clone()), false)?;
        let mut inventory = InventoryDoc::new(&mut write.doc, store);
        let mut hold = inventory
            .hold(hold_id)?
            .ok_or_else(|| CoreError::not_found("hold", hold_id))?;
        if hold.ended.is_some() {
            return Err(CoreError::invalid("hold", "has already ended"));
        }
        hold.ended = Some(HoldEnded {
            how: HoldEnd::Released,
            at: now,
            by: by.clone(),
        });
        inventory.put_hold(hold_id, &hold)?;
        self.commit_writes(vec![write])
    }

    /// Records a sale: stock goes down, fulfilled holds end, and the customer (if known) gets
    /// the purchase, all in one transaction. A sale is never refused for lack of recorded
    /// stock (the item is in the customer's hand); going below zero is reported instead.
    pub fn sell(&mut self, request: &SaleRequest) -> Result<SaleReceipt> {
        if request.lines.is_empty() || request.lines.len() > MAX_LINES {
            return Err(CoreError::invalid(
                "lines",
                &format!("a sale needs 1 to {MAX_LINES} lines"),
            ));
        }
        if request.cart.is_some() && request.customer.is_none() {
            return Err(CoreError::invalid("cart", "a cart belongs to a customer"));
        }
        let mut lines = Vec::with_capacity(request.lines.len());
        let mut purchase_lines = Vec::with_capacity(request.lines.len());
        let mut preferences = Vec::new();
        for (variant, quantity) in &request.lines {
            validate::check_quantity(*quantity)?;
            let (product, price) = self.variant_product(variant)?;
            preferences.push(self.variant_size_pref(variant)?);
            lines.push(SaleLine {
                variant: variant.clone(),
                quantity: *quantity,
                unit_price_cents: price,
            });
            purchase_lines.push(PurchaseLine {
                variant: variant.clone(),
                product,
                quantity: *quantity,
                unit_price_cents: price,
            });
        }
        let total_cents = lines
            .iter()
            .map(|l| l.unit_price_cents * i64::from(l.quantity))
            .sum();
        let sale_id = self.ids.new_id();
        let at = self.now();

        // The customer's document first: whether the sale converts their online cart is
        // recorded on the sale, so every replica counts it the same way.
        let mut customer_write = None;
        let mut from_online_cart = false;
        if let Some(customer_id) = &request.customer {
            let doc_id = DocId::Customer(customer_id.clone());
            let write = self.begin_write(&doc_id, false)?;
            let mut customer: crate::doc::CustomerDoc =
                crate::doc::hydrate_doc(&write.doc, &doc_id)?;
            crate::doc::check_schema(customer.schema, &doc_id)?;
            if let Some(cart_id) = &request.cart {
                let cart = customer
                    .carts
                    .get_mut(cart_id)
                    .ok_or_else(|| CoreError::not_found("cart", cart_id))?;
                cart.status = CartStatus::Converted;
                cart.updated_at = at;
            }
            if let Some(cart) = customer.carts.get_mut(crate::model::ONLINE_CART) {
                let sold: std::collections::BTreeSet<&ProductSku> =
                    purchase_lines.iter().map(|l| &l.product).collect();
                if cart.status != CartStatus::Converted
                    && cart.lines.values().any(|l| sold.contains(&l.product))
                {
                    cart.status = CartStatus::Converted;
                    cart.updated_at = at;
                    from_online_cart = true;
                }
            }
            super::customers::learn_sizes(&mut customer, &preferences, at);
            for (_, _, colour) in &preferences {
                customer.tally_affinity(self.writer(), Some(colour), None);
            }
            customer.purchases.insert(
                sale_id.clone(),
                Purchase {
                    at,
                    channel: Channel::Store,
                    store: Some(request.store.clone()),
                    associate: Some(request.associate.clone()),
                    lines: purchase_lines,
                    total_cents,
                },
            );
            customer_write = Some((write, customer));
        }

        let mut inventory_write =
            self.begin_write(&DocId::Inventory(request.store.clone()), false)?;
        let mut inventory = InventoryDoc::new(&mut inventory_write.doc, &request.store);
        let mut oversold = Vec::new();
        for line in &lines {
            if inventory.increment(&line.variant, -i64::from(line.quantity))? < 0 {
                oversold.push(line.variant.clone());
            }
        }
        for hold_id in &request.holds {
            let mut hold = inventory
                .hold(hold_id)?
                .ok_or_else(|| CoreError::not_found("hold", hold_id))?;
            if hold.ended.is_none() {
                hold.ended = Some(HoldEnded {
                    how: HoldEnd::Sold,
                    at,
                    by: request.associate.clone(),
                });
                inventory.put_hold(hold_id, &hold)?;
            }
        }
        inventory.put_sale(
            &sale_id,
            &Sale {
                lines,
                customer: request.customer.clone(),
                associate: request.associate.clone(),
                at,
                holds: request.holds.clone(),
                from_online_cart: request.customer.is_some().then_some(from_online_cart),
            },
        )?;
        let mut writes = vec![inventory_write];
        if let Some((mut write, customer)) = customer_write {
            autosurgeon::reconcile(&mut write.doc, &customer)?;
            writes.push(write);
        }
        self.commit_writes(writes)?;
        Ok(SaleReceipt {
            sale_id,
            total_cents,
            oversold,
        })
    }

    /// Every sale recorded in a store's inventory document, by sale id.
    pub fn sales(&mut self, store: &StoreId) -> Result<BTreeMap<String, Sale>> {
        let id = DocId::Inventory(store.clone());
        self.with_doc(&id, |doc| InventoryDoc::new(doc, store).sales())?
            .unwrap_or_else(|| Err(CoreError::not_found("inventory for store", store)))
    }

    /// Holds in a store, newest first; `active_only` hides ended and expired ones.
    pub fn holds(&self, store: &StoreId, active_only: bool) -> Result<Vec<HoldSummary>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT h.hold_id, h.variant_sku, v.product_sku, h.quantity, h.customer_id,
                    h.associate_id, h.placed_at, h.expires_at, h.ended_at, h.ended_how
             FROM holds h LEFT JOIN variants v ON v.variant_sku = h.variant_sku
             WHERE h.store_id = ?1 AND (?2 = 0 OR (h.ended_at IS NULL AND h.expires_at > ?3))
             ORDER BY h.placed_at DESC",
        )?;
        let rows = stmt.query_map(params![store.as_str(), active_only, self.now()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, u32>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, i64>(6)?,
                r.get::<_, i64>(7)?,
                r.get::<_, Option<i64>>(8)?,
                r.get::<_, Option<String>>(9)?,
            ))
        })?;
        rows.map(|row| {
            let (
                id,
                variant,
                product,
                quantity,
                customer,
                associate,
                placed_at,
                expires_at,
                ended_at,
                how,
            ) = row?;
            let variant = VariantSku::parse(variant)?;
            let product = ProductSku::parse(product.unwrap_or_else(|| variant.to_string()))?;
            let associate = AssociateId::parse(associate)?;
            Ok(HoldSummary {
                id,
                store: store.clone(),
                product,
                hold: Hold {
                    variant,
                    quantity,
                    customer: CustomerId::parse(customer)?,
                    associate: associate.clone(),
                    placed_at,
                    expires_at,
                    ended: ended_at.map(|at| HoldEnded {
                        how: if how.as_deref() == Some("sold") {
                            HoldEnd::Sold
                        } else {
                            HoldEnd::Released
                        },
                        at,
                        by: associate,
                    }),
                },
            })
        })
        .collect()
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

    /// Oversell conflicts, open ones first.
    pub fn conflicts(&self) -> Result<Vec<OversellConflict>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT conflict_id, store_id, variant_sku, on_hand, detected_at, resolved_at, resolved_by
             FROM conflicts ORDER BY resolved_at IS NOT NULL, detected_at DESC",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, Option<i64>>(5)?,
                r.get::<_, Option<String>>(6)?,
            ))
        })?;
        rows.map(|row| {
            let (id, store, variant, on_hand, detected_at, resolved_at, resolved_by) = row?;
            Ok(OversellConflict {
                id,
                store: StoreId::parse(store)?,
                variant: VariantSku::parse(variant)?,
                on_hand,
                detected_at,
                resolved_at,
                resolved_by: resolved_by.map(AssociateId::parse).transpose()?,
            })
        })
        .collect()
    }
}

/// Great-circle distance, for "nearest store that has it".
pub fn distance_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = (lat2 - lat1).to_radians();
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    6371.0 * 2.0 * a.sqrt().asin()
}

#[cfg(test)]
mod tests {
    use super::distance_km;

    #[test]
    fn london_to_manchester_is_about_260_km() {
        let d = distance_km(51.5117, -0.1240, 53.4831, -2.2391);
        assert!((250.0..270.0).contains(&d), "{d}");
    }
}
