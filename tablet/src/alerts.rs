//! Stock alerts for the Floor and the manager's outlook: variants running out at their rate
//! of sale, out here while customers have them in carts, carts wanting more than is left.

use aisle_core::Result;
use aisle_core::model::{
    Millis, ProductSku, StockAlert, StockAlertReason, StockGrid, StoreId, VariantSku,
};
use rusqlite::{OptionalExtension, params};
use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::{DAY_MS, Tablet};

/// Days of sales the velocity looks back over: as far as a device keeps purchase lines.
const VELOCITY_DAYS: i64 = aisle_core::store::projection::DEVICE_PURCHASE_LINE_DAYS;
/// Half-life of a day's sales in the velocity: a sale a week ago counts half as much.
const VELOCITY_HALF_LIFE_DAYS: f64 = 7.0;
/// Below this a variant is not selling (about one unit a quarter).
const SELLING: f64 = 0.01;

impl Tablet {
    /// Variants here that will run out within `horizon_days` at their current rate of sale,
    /// or are out (or short) while customers have them in their carts. Most urgent first;
    /// returns at most `limit` and the total.
    pub fn stock_alerts(
        &self,
        store: &StoreId,
        horizon_days: u32,
        limit: usize,
    ) -> Result<(Vec<StockAlert>, u64)> {
        let now = self.now();
        let from = now - VELOCITY_DAYS * DAY_MS;
        // Units per variant per day: till sales, plus purchases customers made here that no
        // sale row records (history from before the tablet, imported).
        let mut daily: HashMap<String, BTreeMap<i64, i64>> = HashMap::new();
        let mut stmt = self.conn().prepare_cached(
            "SELECT variant_sku, at, quantity FROM sale_lines WHERE store_id = ?1 AND at >= ?2
             UNION ALL
             SELECT variant_sku, at, quantity FROM customer_lines
               WHERE kind = 'purchase' AND store_id = ?1 AND at >= ?2
                 AND substr(basket_id, 10) NOT IN (SELECT sale_id FROM sales WHERE store_id = ?1)",
        )?;
        let mut rows = stmt.query(params![store.as_str(), from])?;
        while let Some(r) = rows.next()? {
            let at: Millis = r.get(1)?;
            let day = ((at - from) / DAY_MS).clamp(0, VELOCITY_DAYS - 1);
            *daily.entry(r.get(0)?).or_default().entry(day).or_default() += r.get::<_, i64>(2)?;
        }
        let alpha = 1.0 - 0.5f64.powf(1.0 / VELOCITY_HALF_LIFE_DAYS);
        let velocity: HashMap<String, f64> = daily
            .into_iter()
            .map(|(variant, days)| {
                let mut v = 0.0;
                for day in 0..VELOCITY_DAYS {
                    let units = days.get(&day).copied().unwrap_or(0) as f64;
                    v = alpha * units + (1.0 - alpha) * v;
                }
                (variant, v)
            })
            .collect();

        // Units in open carts of this store's customers, or carts built in this store.
        let mut in_carts: HashMap<String, i64> = HashMap::new();
        let mut stmt = self.conn().prepare_cached(
            "SELECT l.variant_sku, SUM(l.quantity) FROM customer_lines l
             LEFT JOIN customers c ON c.customer_id = l.customer_id
             WHERE l.open = 1 AND (c.home_store = ?1 OR l.store_id = ?1)
             GROUP BY l.variant_sku",
        )?;
        let mut rows = stmt.query([store.as_str()])?;
        while let Some(r) = rows.next()? {
            in_carts.insert(r.get(0)?, r.get(1)?);
        }

        let candidates: BTreeSet<&String> = velocity
            .iter()
            .filter(|(_, v)| **v >= SELLING)
            .map(|(k, _)| k)
            .chain(in_carts.keys())
            .collect();
        let mut alerts = Vec::new();
        let mut stmt = self.conn().prepare_cached(
            "SELECT p.sku, p.name, v.size, v.colour, COALESCE(s.on_hand, 0)
                    - COALESCE((SELECT SUM(h.quantity) FROM holds h
                                WHERE h.store_id = ?1 AND h.variant_sku = v.variant_sku
                                  AND h.ended_at IS NULL AND h.expires_at > ?3), 0),
                    EXISTS (SELECT 1 FROM discontinued_products d WHERE d.sku = p.sku)
             FROM variants v JOIN products p ON p.sku = v.product_sku
             LEFT JOIN stock s ON s.store_id = ?1 AND s.variant_sku = v.variant_sku
             WHERE v.variant_sku = ?2",
        )?;
        for variant in candidates {
            let Some((product, name, size, colour, available, discontinued)) = stmt
                .query_row(params![store.as_str(), variant, now], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, i64>(4)?,
                        r.get::<_, bool>(5)?,
                    ))
                })
                .optional()?
            else {
                continue;
            };
            let per_day = velocity.get(variant).copied().unwrap_or(0.0);
            let carts = in_carts.get(variant).copied().unwrap_or(0);
            let days_of_cover = (per_day >= SELLING).then(|| available.max(0) as f64 / per_day);
            let reason = if available <= 0 && carts > 0 {
                StockAlertReason::OutWithDemand
            } else if available > 0 && carts > available {
                StockAlertReason::CartsExceedStock
            } else if available > 0
                && !discontinued
                && days_of_cover.is_some_and(|d| d <= f64::from(horizon_days))
            {
                // Running out matters when more can be ordered: not of a discontinued one.
                StockAlertReason::RunningOut
            } else {
                continue;
            };
            alerts.push(StockAlert {
                product: ProductSku::parse(product)?,
                product_name: name,
                variant: VariantSku::parse(variant.clone())?,
                size,
                colour,
                available,
                per_day,
                days_of_cover,
                in_carts: u32::try_from(carts).unwrap_or(u32::MAX),
                reason,
            });
        }
        let urgency = |a: &StockAlert| match a.reason {
            StockAlertReason::OutWithDemand => 0,
            StockAlertReason::CartsExceedStock => 1,
            StockAlertReason::RunningOut => 2,
        };
        alerts.sort_by(|a, b| {
            urgency(a)
                .cmp(&urgency(b))
                .then_with(|| b.in_carts.cmp(&a.in_carts))
                .then_with(|| {
                    a.days_of_cover
                        .unwrap_or(f64::MAX)
                        .total_cmp(&b.days_of_cover.unwrap_or(f64::MAX))
                })
                .then_with(|| a.product_name.cmp(&b.product_name))
                .then_with(|| a.variant.cmp(&b.variant))
        });
        let total = alerts.len() as u64;
        alerts.truncate(limit);
        Ok((alerts, total))
    }
}

/// Units available in `size` (any size when unknown).
pub(crate) fn available_in(grid: &StockGrid, size: Option<&str>) -> i64 {
    grid.levels
        .iter()
        .filter(|l| size.is_none_or(|s| l.size == s))
        .map(|l| l.available().max(0))
        .sum()
}
