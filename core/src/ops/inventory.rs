//! Inventory operations: stock by size × colour, adjustments, holds and sales.

use rusqlite::{OptionalExtension, params};
use std::collections::BTreeMap;

use crate::doc::{DocId, InventoryDoc};
use crate::error::{CoreError, Result};
use crate::model::{
    AssociateId, CustomerId, Hold, HoldEnd, HoldEnded, HoldSummary, IncomingTransfer,
    MovementKind, NearbyStock, OversellConflict, ProductSku, Sale, StockGrid, StockLevel,
    StockMovement, StoreId, TransferLine, VariantSku,
};
use crate::store::Store;

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

    /// A product's stock movements here (deliveries, damage, transfers, counts), newest first.
    pub fn stock_movements(
        &self,
        store: &StoreId,
        product: &ProductSku,
        limit: usize,
    ) -> Result<Vec<StockMovement>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT m.movement_id, m.variant_sku, v.colour, v.size, m.kind, m.delta, m.counted,
                    m.transfer_id, m.other_store, m.note, m.associate_id, m.at, m.sale_id
             FROM stock_movements m JOIN variants v ON v.variant_sku = m.variant_sku
             WHERE m.store_id = ?1 AND v.product_sku = ?2
             ORDER BY m.at DESC, m.movement_id LIMIT ?3",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt.query_map(params![store.as_str(), product.as_str(), limit], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, Option<i64>>(6)?,
                r.get::<_, Option<String>>(7)?,
                r.get::<_, Option<String>>(8)?,
                r.get::<_, String>(9)?,
                r.get::<_, String>(10)?,
                r.get::<_, i64>(11)?,
                r.get::<_, Option<String>>(12)?,
            ))
        })?;
        rows.map(|row| {
            let (id, variant, colour, size, kind, delta, counted, transfer, other, note, by, at, sale) =
                row?;
            Ok(StockMovement {
                id,
                store: store.clone(),
                variant: VariantSku::parse(variant)?,
                colour,
                size,
                kind: MovementKind::parse(&kind).unwrap_or(MovementKind::Correction),
                delta,
                counted,
                transfer,
                other_store: other.map(StoreId::parse).transpose()?,
                sale,
                note,
                by: AssociateId::parse(by)?,
                at,
            })
        })
        .collect()
    }

    /// Transfers other stores sent to `store` that it has not received in full, oldest first.
    pub fn incoming_transfers(&self, store: &StoreId) -> Result<Vec<IncomingTransfer>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT o.transfer_id, o.store_id, COALESCE(st.name, o.store_id), MIN(o.at),
                    o.variant_sku, COALESCE(p.name, o.variant_sku), COALESCE(v.colour, ''),
                    COALESCE(v.size, ''), -SUM(o.delta),
                    COALESCE((SELECT SUM(i.delta) FROM stock_movements i
                              WHERE i.transfer_id = o.transfer_id AND i.kind = 'transfer_in'
                                AND i.store_id = ?1 AND i.other_store = o.store_id
                                AND i.variant_sku = o.variant_sku), 0)
             FROM stock_movements o
             LEFT JOIN stores st ON st.store_id = o.store_id
             LEFT JOIN variants v ON v.variant_sku = o.variant_sku
             LEFT JOIN products p ON p.sku = v.product_sku
             WHERE o.kind = 'transfer_out' AND o.other_store = ?1
             GROUP BY o.transfer_id, o.store_id, o.variant_sku
             ORDER BY MIN(o.at), o.transfer_id, v.colour_order, v.size_order",
        )?;
        let rows = stmt.query_map([store.as_str()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, String>(7)?,
                r.get::<_, i64>(8)?,
                r.get::<_, i64>(9)?,
            ))
        })?;
        let mut transfers: Vec<IncomingTransfer> = Vec::new();
        for row in rows {
            let (transfer, from, from_name, sent_at, variant, name, colour, size, sent, received) =
                row?;
            let line = TransferLine {
                variant: VariantSku::parse(variant)?,
                product_name: name,
                colour,
                size,
                sent,
                received,
            };
            let from = StoreId::parse(from)?;
            match transfers
                .iter_mut()
                .find(|t| t.transfer == transfer && t.from_store == from)
            {
                Some(t) => {
                    t.sent_at = t.sent_at.min(sent_at);
                    t.lines.push(line);
                }
                None => transfers.push(IncomingTransfer {
                    transfer,
                    from_store: from,
                    from_store_name: from_name,
                    sent_at,
                    lines: vec![line],
                }),
            }
        }
        transfers.retain(|t| t.lines.iter().any(|l| l.received < l.sent));
        Ok(transfers)
    }

    /// Units of `variant` that `from` sent to `to` in `transfer`, and how many `to` has
    /// recorded receiving: what a transfer received is checked against.
    pub fn transfer_balance(
        &self,
        transfer: &str,
        from: &StoreId,
        to: &StoreId,
        variant: &VariantSku,
    ) -> Result<(i64, i64)> {
        let sum = |kind: &str, store: &StoreId, other: &StoreId| -> Result<i64> {
            Ok(self.conn().query_row(
                "SELECT COALESCE(SUM(delta), 0) FROM stock_movements
                 WHERE transfer_id = ?1 AND kind = ?2 AND store_id = ?3 AND other_store = ?4
                   AND variant_sku = ?5",
                params![transfer, kind, store.as_str(), other.as_str(), variant.as_str()],
                |r| r.get(0),
            )?)
        };
        Ok((-sum("transfer_out", from, to)?, sum("transfer_in", to, from)?))
    }

    /// Whether `id` already names a recorded sale or stock movement, in any store. Sales and
    /// movements share one key space (the till outbox, the projection), so an id is used once.
    pub fn record_id_taken(&self, id: &str) -> Result<bool> {
        Ok(self.conn().query_row(
            "SELECT EXISTS (SELECT 1 FROM sales WHERE sale_id = ?1)
                 OR EXISTS (SELECT 1 FROM stock_movements WHERE movement_id = ?1)",
            [id],
            |r| r.get(0),
        )?)
    }

    /// Units of `variant` recorded as returned of `sale` in `store`.
    pub fn returned_of(&self, store: &StoreId, sale: &str, variant: &VariantSku) -> Result<i64> {
        Ok(self.conn().query_row(
            "SELECT COALESCE(SUM(delta), 0) FROM stock_movements
             WHERE sale_id = ?1 AND kind = 'return' AND store_id = ?2 AND variant_sku = ?3",
            params![sale, store.as_str(), variant.as_str()],
            |r| r.get(0),
        )?)
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
