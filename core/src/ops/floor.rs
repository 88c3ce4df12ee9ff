//! The Floor screen's overview, product lookup for the Stock screen, and store KPIs.
//!
//! Day boundaries come from the caller: the tablet knows its local time zone, the core does
//! not, and a day in a shop is a local day.

use rusqlite::{OptionalExtension, params};

use crate::error::{CoreError, Result};
use crate::model::{
    AssociateId, AssociateSales, Briefing, CheckIn, ConflictLine, CustomerId, DayKpis,
    FloorOverview, HoldLine, Millis, ProductSku, ProductSummary, StoreId, StoreKpis, Suggestion,
    SuggestionKind, VariantSku, VisitSource, ago, money,
};
use crate::store::Store;

const DAY_MS: Millis = 86_400_000;
const MAX_KPI_DAYS: u32 = 92;
const STOCK_ALERTS_SHOWN: usize = 12;
/// The Floor warns of what runs out within a week.
const FLOOR_ALERT_DAYS: u32 = 7;
const BRIEFING_VIEWS: usize = 12;

fn visit_source(key: &str) -> VisitSource {
    match key {
        "kiosk" => VisitSource::Kiosk,
        "associate" => VisitSource::Associate,
        "nfc_tap" => VisitSource::NfcTap,
        _ => VisitSource::Import,
    }
}

impl Store {
    /// Who is in today, holds running out today and what is nearly sold out, for one store.
    /// `day_end` is the end of the tablet's local day.
    pub fn floor_overview(
        &self,
        store: &StoreId,
        day_start: Millis,
        day_end: Millis,
    ) -> Result<FloorOverview> {
        if day_end <= day_start || day_end - day_start > 2 * DAY_MS {
            return Err(CoreError::invalid("day", "must be one day"));
        }
        let mut checked_in = Vec::new();
        let mut stmt = self.conn().prepare_cached(
            "SELECT customer_id, MAX(at), source FROM visits
             WHERE store_id = ?1 AND at >= ?2 AND at < ?3
             GROUP BY customer_id ORDER BY MAX(at) DESC LIMIT 50",
        )?;
        let rows = stmt
            .query_map(params![store.as_str(), day_start, day_end], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Millis>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        for (customer, at, source) in rows {
            if let Some(customer) = self.summary(&CustomerId::parse(customer)?)? {
                checked_in.push(CheckIn {
                    customer,
                    at,
                    source: visit_source(&source),
                });
            }
        }

        let mut holds_expiring = Vec::new();
        for summary in self.holds(store, true)? {
            if summary.hold.expires_at > day_end {
                continue;
            }
            holds_expiring.push(self.hold_line(summary)?);
        }
        holds_expiring.sort_by_key(|h| h.hold.hold.expires_at);

        let (stock_alerts, stock_alerts_total) =
            self.stock_alerts(store, FLOOR_ALERT_DAYS, STOCK_ALERTS_SHOWN)?;
        Ok(FloorOverview {
            checked_in,
            holds_expiring,
            stock_alerts,
            stock_alerts_total,
        })
    }

    /// A hold with product, size, colour and customer name filled in.
    pub fn hold_line(&self, hold: crate::model::HoldSummary) -> Result<HoldLine> {
        let (product_name, size, colour) = self.variant_label(&hold.hold.variant)?;
        let customer_name = self
            .summary(&hold.hold.customer)?
            .map(|c| c.name)
            .unwrap_or_else(|| "Customer not on this tablet".into());
        Ok(HoldLine {
            hold,
            product_name,
            size,
            colour,
            customer_name,
        })
    }

    /// Oversell conflicts (open first) with product, size and colour.
    pub fn conflict_lines(&self) -> Result<Vec<ConflictLine>> {
        self.conflicts()?
            .into_iter()
            .map(|conflict| {
                let (product_name, size, colour) = self.variant_label(&conflict.variant)?;
                Ok(ConflictLine {
                    conflict,
                    product_name,
                    size,
                    colour,
                })
            })
            .collect()
    }

    /// (product name, size, colour) of a variant; its SKU when the catalog no longer has it.
    fn variant_label(&self, variant: &VariantSku) -> Result<(String, String, String)> {
        Ok(self
            .conn()
            .query_row(
                "SELECT p.name, v.size, v.colour FROM variants v
                 JOIN products p ON p.sku = v.product_sku WHERE v.variant_sku = ?1",
                [variant.as_str()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?
            .unwrap_or_else(|| (variant.to_string(), String::new(), String::new())))
    }

    /// Active holds for one customer at a store.
    pub fn customer_holds(&self, store: &StoreId, customer: &CustomerId) -> Result<Vec<HoldLine>> {
        self.holds(store, true)?
            .into_iter()
            .filter(|h| &h.hold.customer == customer)
            .map(|h| self.hold_line(h))
            .collect()
    }

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
            if profile.has_consent(crate::model::ConsentPurpose::InStorePersonalisation) {
                let likely = self.likely_sizes(&profile)?;
                let recommendations = self.recommendations_for(store, &profile, &likely, now)?;
                (
                    suggest(&profile, &grids, &likely, &recommendations, now),
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

    /// Products by name, brand or SKU prefix, or by a scanned EAN-13 barcode.
    pub fn search_products(&self, query: &str, limit: usize) -> Result<Vec<ProductSummary>> {
        let query = query.trim();
        if query.is_empty() {
            return Ok(Vec::new());
        }
        if query.chars().count() > 100 {
            return Err(CoreError::invalid("query", "is longer than 100 characters"));
        }
        let skus: Vec<String> = if query.len() == 13 && query.bytes().all(|b| b.is_ascii_digit()) {
            let mut stmt = self
                .conn()
                .prepare_cached("SELECT product_sku FROM variants WHERE ean = ?1")?;
            stmt.query_map([query], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?
        } else {
            let escaped = query
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            let words = format!("%{escaped}%");
            let prefix = format!("{escaped}%");
            let mut stmt = self.conn().prepare_cached(
                "SELECT sku FROM products
                 WHERE name LIKE ?1 ESCAPE '\\' OR brand LIKE ?1 ESCAPE '\\'
                    OR sku LIKE ?2 ESCAPE '\\'
                 ORDER BY (name LIKE ?2 ESCAPE '\\') DESC, name LIMIT ?3",
            )?;
            stmt.query_map(
                params![words, prefix, i64::try_from(limit).unwrap_or(i64::MAX)],
                |r| r.get(0),
            )?
            .collect::<rusqlite::Result<_>>()?
        };
        skus.into_iter()
            .take(limit)
            .map(|sku| self.product(&ProductSku::parse(sku)?))
            .collect()
    }

    /// Daily figures for `days` local days from `from` (a local midnight), and sales by
    /// associate over the whole period.
    pub fn store_kpis(&self, store: &StoreId, from: Millis, days: u32) -> Result<StoreKpis> {
        if days == 0 || days > MAX_KPI_DAYS {
            return Err(CoreError::invalid(
                "days",
                &format!("must be between 1 and {MAX_KPI_DAYS}"),
            ));
        }
        let to = from + i64::from(days) * DAY_MS;
        let mut out: Vec<DayKpis> = (0..i64::from(days))
            .map(|d| DayKpis {
                day_start: from + d * DAY_MS,
                ..DayKpis::default()
            })
            .collect();
        let day_of = |at: Millis| usize::try_from((at - from) / DAY_MS).ok();
        let conn = self.conn();
        let range = params![store.as_str(), from, to];

        let mut stmt = conn.prepare_cached(
            "SELECT at FROM visits WHERE store_id = ?1 AND at >= ?2 AND at < ?3
               AND source IN ('kiosk', 'nfc_tap')",
        )?;
        for at in stmt.query_map(range, |r| r.get::<_, Millis>(0))? {
            if let Some(day) = day_of(at?).and_then(|d| out.get_mut(d)) {
                day.check_ins += 1;
            }
        }

        // One assisted session per customer per day, whatever the associate did.
        let mut stmt = conn.prepare_cached(
            "SELECT customer_id, at FROM visits
               WHERE store_id = ?1 AND at >= ?2 AND at < ?3 AND source = 'associate'
             UNION ALL SELECT customer_id, placed_at FROM holds
               WHERE store_id = ?1 AND placed_at >= ?2 AND placed_at < ?3
             UNION ALL SELECT customer_id, at FROM sales
               WHERE store_id = ?1 AND at >= ?2 AND at < ?3 AND customer_id IS NOT NULL",
        )?;
        let mut sessions = std::collections::BTreeSet::new();
        for row in stmt.query_map(range, |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Millis>(1)?))
        })? {
            let (customer, at) = row?;
            if let Some(day) = day_of(at) {
                sessions.insert((day, customer));
            }
        }
        for (day, _) in sessions {
            if let Some(d) = out.get_mut(day) {
                d.assisted += 1;
            }
        }

        let mut stmt = conn.prepare_cached(
            "SELECT at, total_cents, from_online_cart FROM sales
             WHERE store_id = ?1 AND at >= ?2 AND at < ?3",
        )?;
        for row in stmt.query_map(range, |r| {
            Ok((
                r.get::<_, Millis>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, bool>(2)?,
            ))
        })? {
            let (at, total, converted) = row?;
            if let Some(day) = day_of(at).and_then(|d| out.get_mut(d)) {
                day.sales += 1;
                day.revenue_cents += total;
                day.online_carts_converted += u64::from(converted);
            }
        }

        let mut stmt = conn.prepare_cached(
            "SELECT associate_id, COUNT(*), SUM(units), SUM(total_cents) FROM sales
             WHERE store_id = ?1 AND at >= ?2 AND at < ?3
             GROUP BY associate_id ORDER BY SUM(total_cents) DESC",
        )?;
        let by_associate = stmt
            .query_map(range, |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })?
            .map(|row| {
                let (associate, sales, units, revenue_cents) = row?;
                Ok(AssociateSales {
                    associate: AssociateId::parse(associate)?,
                    sales: u64::try_from(sales).unwrap_or(0),
                    units: u64::try_from(units).unwrap_or(0),
                    revenue_cents,
                })
            })
            .collect::<Result<_>>()?;
        Ok(StoreKpis {
            days: out,
            by_associate,
        })
    }
}

/// Most "what to do" lines a briefing shows: an associate reads them in a few seconds.
const MAX_SUGGESTIONS: usize = 6;
/// A product viewed this often is one they keep coming back to.
const KEEPS_VIEWING: i64 = 3;
/// Chats older than this are no longer what the customer came in about.
const CHAT_RECENT: Millis = 14 * DAY_MS;

/// The "what to do" list: from the profile and this store's stock alone, so it works offline.
fn suggest(
    profile: &crate::model::CustomerProfile,
    grids: &std::collections::BTreeMap<String, crate::model::StockGrid>,
    likely: &[crate::model::LikelySize],
    recommendations: &[crate::model::Recommendation],
    now: Millis,
) -> Vec<Suggestion> {
    use crate::model::CartStatus;
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
                money(cart.total_cents())
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
