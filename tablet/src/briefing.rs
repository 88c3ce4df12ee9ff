//! The customer briefing an associate reads: what to do (from web chat, the abandoned cart,
//! what they keep viewing), the size they likely wear, products to show them, their history.

use aisle_core::CoreError;
use aisle_core::Result;
use aisle_core::model::{Briefing, CustomerId, Suggestion, SuggestionKind, ago, money_in};
use aisle_core::model::{
    Category, CustomerProfile, LikelySize, Millis, ProductSku, Recommendation, SizeBasis, StoreId,
    VariantSku,
};
use aisle_core::recommend::{self, Related, RelatedTable};
use rusqlite::OptionalExtension;
use std::collections::{BTreeMap, BTreeSet};

use crate::alerts::available_in;
use crate::{DAY_MS, Tablet};

/// Recommendations a briefing shows.
const BRIEFING_RECOMMENDATIONS: usize = 3;

const BRIEFING_VIEWS: usize = 12;
/// Most "what to do" lines a briefing shows: an associate reads them in a few seconds.
const MAX_SUGGESTIONS: usize = 6;
/// A product viewed this often is one they keep coming back to.
const KEEPS_VIEWING: i64 = 3;
/// Chats older than this are no longer what the customer came in about.
const CHAT_RECENT: Millis = 14 * DAY_MS;

impl Tablet {
    /// A customer's profile with stock here for everything it mentions and their holds.
    /// Views are capped to the most viewed, as the briefing shows them.
    pub fn briefing(
        &self,
        store: &StoreId,
        customer: &CustomerId,
        day_start: Millis,
    ) -> Result<Briefing> {
        let profile = self.customer(customer)?;
        let mut products: Vec<&ProductSku> = Vec::new();
        let mut views: Vec<_> = profile.views.iter().collect();
        views.sort_by_key(|v| std::cmp::Reverse((v.count, v.last_seen)));
        products.extend(views.iter().take(BRIEFING_VIEWS).map(|v| &v.product));
        for cart in &profile.carts {
            products.extend(cart.item.lines.values().map(|l| &l.product));
        }
        products.extend(profile.wishlist.iter().map(|w| &w.product));
        for purchase in &profile.purchases {
            products.extend(purchase.item.lines.iter().map(|l| &l.product));
        }
        let mut grids = std::collections::BTreeMap::new();
        for product in products {
            if grids.contains_key(product.as_str()) {
                continue;
            }
            match self.stock_for_product(store, product) {
                Ok(grid) => {
                    grids.insert(product.to_string(), grid);
                }
                // A product since dropped from the catalog: the profile still shows its SKU.
                Err(CoreError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        let here_today = profile
            .visits
            .iter()
            .any(|v| &v.item.store == store && v.item.at >= day_start);
        let now = self.now();
        let (suggestions, likely_sizes, recommendations) =
            if profile.has_consent(aisle_core::model::ConsentPurpose::InStorePersonalisation) {
                let likely = self.likely_sizes(&profile)?;
                let recommendations = self.recommendations_for(store, &profile, &likely, now)?;
                let currency = self.locale()?.currency;
                (
                    suggest(&profile, &grids, &likely, &recommendations, now, &currency),
                    likely,
                    recommendations,
                )
            } else {
                (Vec::new(), Vec::new(), Vec::new())
            };
        Ok(Briefing {
            store: store.clone(),
            holds: self.customer_holds(store, &profile.id)?,
            profile,
            products: grids,
            here_today,
            suggestions,
            likely_sizes,
            recommendations,
        })
    }

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
            if grid.product.discontinued {
                continue;
            }
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

    pub(crate) fn variant_category_size(
        &self,
        variant: &VariantSku,
    ) -> Result<Option<(Category, String)>> {
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
    pub(crate) fn product_category(&self, product: &ProductSku) -> Result<Option<Category>> {
        let category: Option<String> = self
            .conn()
            .prepare_cached("SELECT category FROM products WHERE sku = ?1")?
            .query_row([product.as_str()], |r| r.get(0))
            .optional()?;
        Ok(category.as_deref().and_then(Category::from_key))
    }
    pub(crate) fn product_style(&self, product: &ProductSku) -> Result<Option<String>> {
        Ok(self
            .conn()
            .prepare_cached("SELECT style FROM products WHERE sku = ?1")?
            .query_row([product.as_str()], |r| r.get(0))
            .optional()?)
    }
}

/// The "what to do" list: from the profile and this store's stock alone, so it works offline.
fn suggest(
    profile: &aisle_core::model::CustomerProfile,
    grids: &std::collections::BTreeMap<String, aisle_core::model::StockGrid>,
    likely: &[aisle_core::model::LikelySize],
    recommendations: &[aisle_core::model::Recommendation],
    now: Millis,
    currency: &str,
) -> Vec<Suggestion> {
    use aisle_core::model::CartStatus;
    let mut out = Vec::new();
    let level = |product: &ProductSku, variant: &VariantSku| {
        let grid = grids.get(product.as_str())?;
        let level = grid.levels.iter().find(|l| &l.variant == variant)?;
        Some((grid, level))
    };

    if let Some(chat) = profile
        .notes
        .iter()
        .filter(|n| n.item.author.as_str() == "web-chat" && now - n.item.at <= CHAT_RECENT)
        .max_by_key(|n| n.item.at)
    {
        out.push(Suggestion {
            kind: SuggestionKind::Chat,
            text: chat.item.text.clone(),
            product: None,
        });
    }

    let mut in_cart = std::collections::BTreeSet::new();
    if let Some(cart) = profile
        .online_cart()
        .filter(|c| c.status != CartStatus::Converted && !c.lines.is_empty())
    {
        let units: u32 = cart.lines.values().map(|l| l.quantity).sum();
        out.push(Suggestion {
            kind: SuggestionKind::Cart,
            text: format!(
                "Online cart left {} ago: {units} item{}, {}.",
                ago(now - cart.updated_at),
                if units == 1 { "" } else { "s" },
                money_in(cart.total_cents(), currency)
            ),
            product: None,
        });
        for line in cart.lines.values() {
            in_cart.insert(line.product.clone());
            let Some((grid, level)) = level(&line.product, &line.variant) else {
                continue;
            };
            let (kind, text) = if level.available() > 0 {
                (
                    SuggestionKind::Bring,
                    format!(
                        "Bring the {} in {}, {}: {} in stock here.",
                        grid.product.name,
                        level.size,
                        level.colour.to_lowercase(),
                        level.available()
                    ),
                )
            } else {
                (
                    SuggestionKind::Elsewhere,
                    format!(
                        "The {} in {}, {} is not here: offer another store or a hold there.",
                        grid.product.name,
                        level.size,
                        level.colour.to_lowercase()
                    ),
                )
            };
            out.push(Suggestion {
                kind,
                text,
                product: Some(line.product.clone()),
            });
        }
    }

    let mut views: Vec<_> = profile
        .views
        .iter()
        .filter(|v| v.count >= KEEPS_VIEWING && !in_cart.contains(&v.product))
        .collect();
    views.sort_by_key(|v| std::cmp::Reverse((v.count, v.last_seen)));
    for view in views.into_iter().take(2) {
        let Some(grid) = grids.get(view.product.as_str()) else {
            continue;
        };
        let size = view
            .sizes
            .iter()
            .max_by_key(|(_, n)| *n)
            .map(|(s, _)| s.clone());
        let here: i64 = grid
            .levels
            .iter()
            .filter(|l| size.as_ref().is_none_or(|s| &l.size == s))
            .map(|l| l.available())
            .sum();
        out.push(Suggestion {
            kind: SuggestionKind::KeepsViewing,
            text: format!(
                "They viewed the {} {} times{}: {here} here{}.",
                grid.product.name,
                view.count,
                size.as_ref()
                    .map(|s| format!(", mostly in {s}"))
                    .unwrap_or_default(),
                size.as_ref()
                    .map_or_else(|| " across sizes".to_string(), |s| format!(" in {s}")),
            ),
            product: Some(view.product.clone()),
        });
    }

    for item in &profile.wishlist {
        let Some(grid) = grids.get(item.product.as_str()) else {
            continue;
        };
        let Some(size) = likely.iter().find(|l| l.category == grid.product.category) else {
            continue;
        };
        let here: i64 = grid
            .levels
            .iter()
            .filter(|l| l.size == size.size)
            .map(|l| l.available())
            .sum();
        if here > 0 {
            out.push(Suggestion {
                kind: SuggestionKind::Wishlist,
                text: format!(
                    "From their wishlist: the {} is here in their size, {} ({here}).",
                    grid.product.name, size.size
                ),
                product: Some(item.product.clone()),
            });
        }
    }
    if let Some(pick) = recommendations.first() {
        out.push(Suggestion {
            kind: SuggestionKind::GoesWith,
            text: format!(
                "Also show the {}{}: often bought with the {}. {} here.",
                pick.product.name,
                pick.size
                    .as_ref()
                    .map(|s| format!(" in {s}"))
                    .unwrap_or_default(),
                pick.because_name,
                pick.available
            ),
            product: Some(pick.product.sku.clone()),
        });
    }
    out.truncate(MAX_SUGGESTIONS);
    out
}
