//! Briefing intelligence and stock foresight, computed on the tablet from its own store so
//! they work offline: the size a customer likely wears per category, products to show them,
//! and variants about to run out. The relay side publishes the related-products document the
//! recommendations start from.

use rusqlite::{OptionalExtension, params};
use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::error::Result;
use crate::model::{
    Category, CustomerProfile, LikelySize, Millis, ProductSku, Recommendation, SizeBasis,
    StockAlert, StockAlertReason, StockGrid, StoreId, VariantSku,
};
use crate::recommend::{self, Related, RelatedTable};
use crate::store::Store;

const DAY_MS: Millis = 86_400_000;
/// Days of sales the velocity looks back over.
const VELOCITY_DAYS: i64 = 56;
/// Half-life of a day's sales in the velocity: a sale a week ago counts half as much.
const VELOCITY_HALF_LIFE_DAYS: f64 = 7.0;
/// Below this a variant is not selling (about one unit a quarter).
const SELLING: f64 = 0.01;
/// Recommendations a briefing shows.
const BRIEFING_RECOMMENDATIONS: usize = 3;

impl Store {
    /// The size the customer most likely wears in each category they shop: what they bought
    /// (most often, then most recently), else what is in their carts, else what they viewed.
    /// A size an associate recorded after their last purchase in the category wins.
    pub fn likely_sizes(&self, profile: &CustomerProfile) -> Result<Vec<LikelySize>> {
        // (category, basis) → size → (count, latest)
        let mut signals: BTreeMap<(Category, u8), BTreeMap<String, (i64, Millis)>> =
            BTreeMap::new();
        let mut add = |category: Category, basis: u8, size: &str, n: i64, at: Millis| {
            let entry = signals
                .entry((category, basis))
                .or_default()
                .entry(size.to_string())
                .or_insert((0, 0));
            entry.0 += n;
            entry.1 = entry.1.max(at);
        };
        for purchase in &profile.purchases {
            for line in &purchase.item.lines {
                if let Some((category, size)) = self.variant_category_size(&line.variant)? {
                    add(category, 0, &size, 1, purchase.item.at);
                }
            }
        }
        for cart in &profile.carts {
            for line in cart.item.lines.values() {
                if let Some((category, size)) = self.variant_category_size(&line.variant)? {
                    add(category, 1, &size, 1, cart.item.updated_at);
                }
            }
        }
        for view in &profile.views {
            let Some(category) = self.product_category(&view.product)? else {
                continue;
            };
            for (size, n) in &view.sizes {
                add(category, 2, size, *n, view.last_seen);
            }
        }

        let mut out = Vec::new();
        for category in Category::ALL {
            let strongest = (0u8..3).find_map(|basis| {
                let sizes = signals.get(&(category, basis))?;
                let (size, (_, latest)) = sizes
                    .iter()
                    .max_by_key(|(size, (n, at))| (*n, *at, std::cmp::Reverse(*size)))?;
                Some((basis, size.clone(), *latest))
            });
            let recorded = profile.sizes.get(category.as_key());
            let last_purchase = signals
                .get(&(category, 0))
                .and_then(|s| s.values().map(|(_, at)| *at).max());
            let likely = match (recorded, strongest) {
                (Some(r), _) if last_purchase.is_none_or(|at| r.updated_at > at) => {
                    Some((SizeBasis::Recorded, r.size.clone()))
                }
                (_, Some((basis, size, _))) => Some((
                    match basis {
                        0 => SizeBasis::Purchases,
                        1 => SizeBasis::Cart,
                        _ => SizeBasis::Views,
                    },
                    size,
                )),
                (Some(r), None) => Some((SizeBasis::Recorded, r.size.clone())),
                (None, None) => None,
            };
            if let Some((basis, size)) = likely {
                out.push(LikelySize {
                    category,
                    size,
                    basis,
                });
            }
        }
        Ok(out)
    }

    fn variant_category_size(&self, variant: &VariantSku) -> Result<Option<(Category, String)>> {
        let row: Option<(String, String)> = self
            .conn()
            .prepare_cached(
                "SELECT p.category, v.size FROM variants v
                 JOIN products p ON p.sku = v.product_sku WHERE v.variant_sku = ?1",
            )?
            .query_row([variant.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        Ok(row.and_then(|(category, size)| Some((Category::from_key(&category)?, size))))
    }

    fn product_category(&self, product: &ProductSku) -> Result<Option<Category>> {
        let category: Option<String> = self
            .conn()
            .prepare_cached("SELECT category FROM products WHERE sku = ?1")?
            .query_row([product.as_str()], |r| r.get(0))
            .optional()?;
        Ok(category.as_deref().and_then(Category::from_key))
    }

    /// Related products for what the customer wants, re-ranked by their colour and style
    /// leanings, kept only when in stock here in their likely size.
    pub fn recommendations_for(
        &self,
        store: &StoreId,
        profile: &CustomerProfile,
        likely: &[LikelySize],
        now: Millis,
    ) -> Result<Vec<Recommendation>> {
        let mut seeds: BTreeMap<ProductSku, f64> = BTreeMap::new();
        let mut seed = |product: &ProductSku, weight: f64| {
            let w = seeds.entry(product.clone()).or_insert(0.0);
            *w = w.max(weight);
        };
        for cart in &profile.carts {
            for line in cart.item.lines.values() {
                seed(&line.product, 1.0);
            }
        }
        for item in &profile.wishlist {
            seed(&item.product, 0.8);
        }
        for purchase in profile
            .purchases
            .iter()
            .filter(|p| now - p.item.at <= 180 * DAY_MS)
        {
            for line in &purchase.item.lines {
                seed(&line.product, 0.6);
            }
        }
        for view in profile.views.iter().filter(|v| v.count >= 2).take(10) {
            seed(&view.product, 0.3 + 0.1 * view.count.min(5) as f64);
        }
        if seeds.is_empty() {
            return Ok(Vec::new());
        }
        // Whatever they already bought is not a recommendation either.
        let mut owned: BTreeSet<&ProductSku> = BTreeSet::new();
        for purchase in &profile.purchases {
            owned.extend(purchase.item.lines.iter().map(|l| &l.product));
        }

        let mut table: RelatedTable = BTreeMap::new();
        let mut stmt = self.conn().prepare_cached(
            "SELECT related_sku, score, together FROM related_products
             WHERE product_sku = ?1 ORDER BY rank",
        )?;
        for product in seeds.keys() {
            let related = stmt
                .query_map([product.as_str()], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, f64>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                })?
                .filter_map(|row| {
                    let (sku, score, together) = row.ok()?;
                    Some(Related {
                        product: ProductSku::parse(sku).ok()?,
                        score,
                        together: u32::try_from(together).unwrap_or(0),
                    })
                })
                .collect();
            table.insert(product.clone(), related);
        }
        let seeds: Vec<(ProductSku, f64)> = seeds.into_iter().collect();
        let candidates = recommend::recommend(&table, &seeds, 30);

        let top_style = profile.style_affinity.first().map(|a| a.name.as_str());
        let top_colours: Vec<&str> = profile
            .colour_affinity
            .iter()
            .take(2)
            .map(|a| a.name.as_str())
            .collect();
        let mut ranked = Vec::new();
        for (product, score, because) in candidates {
            if owned.contains(&product) {
                continue;
            }
            let Ok(grid) = self.stock_for_product(store, &product) else {
                continue;
            };
            let size = likely
                .iter()
                .find(|l| l.category == grid.product.category)
                .map(|l| l.size.clone())
                .filter(|s| grid.sizes.contains(s));
            let available = available_in(&grid, size.as_deref());
            if available <= 0 {
                continue;
            }
            let style = self.product_style(&product)?;
            let mut boost = 1.0;
            if top_style.is_some() && style.as_deref() == top_style {
                boost += 0.25;
            }
            if grid
                .colours
                .iter()
                .any(|c| top_colours.contains(&c.as_str()))
            {
                boost += 0.15;
            }
            let because_name = self
                .product(&because)
                .map(|p| p.name)
                .unwrap_or_else(|_| because.to_string());
            ranked.push(Recommendation {
                product: grid.product,
                because,
                because_name,
                size,
                available,
                score: score * boost,
            });
        }
        ranked.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.product.sku.cmp(&b.product.sku))
        });
        ranked.truncate(BRIEFING_RECOMMENDATIONS);
        Ok(ranked)
    }

    fn product_style(&self, product: &ProductSku) -> Result<Option<String>> {
        Ok(self
            .conn()
            .prepare_cached("SELECT style FROM products WHERE sku = ?1")?
            .query_row([product.as_str()], |r| r.get(0))
            .optional()?)
    }

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
                                  AND h.ended_at IS NULL AND h.expires_at > ?3), 0)
             FROM variants v JOIN products p ON p.sku = v.product_sku
             LEFT JOIN stock s ON s.store_id = ?1 AND s.variant_sku = v.variant_sku
             WHERE v.variant_sku = ?2",
        )?;
        for variant in candidates {
            let Some((product, name, size, colour, available)) = stmt
                .query_row(params![store.as_str(), variant, now], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, i64>(4)?,
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
            } else if available > 0 && days_of_cover.is_some_and(|d| d <= f64::from(horizon_days)) {
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
fn available_in(grid: &StockGrid, size: Option<&str>) -> i64 {
    grid.levels
        .iter()
        .filter(|l| size.is_none_or(|s| l.size == s))
        .map(|l| l.available().max(0))
        .sum()
}
