//! The Floor screen's overview, product lookup for the Stock screen, and store KPIs.
//!
//! Day boundaries come from the caller: the tablet knows its local time zone, the core does
//! not, and a day in a shop is a local day.

use rusqlite::{OptionalExtension, params};

use crate::{DAY_MS, Tablet};
use aisle_core::model::{
    CheckIn, ConflictLine, CustomerId, FloorOverview, HoldLine, Millis, StoreId, VariantSku,
    VisitSource,
};
use aisle_core::{CoreError, Result};

const STOCK_ALERTS_SHOWN: usize = 12;
/// The Floor warns of what runs out within a week.
const FLOOR_ALERT_DAYS: u32 = 7;

fn visit_source(key: &str) -> VisitSource {
    match key {
        "kiosk" => VisitSource::Kiosk,
        "associate" => VisitSource::Associate,
        "nfc_tap" => VisitSource::NfcTap,
        _ => VisitSource::Import,
    }
}

impl Tablet {
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
    pub fn hold_line(&self, hold: aisle_core::model::HoldSummary) -> Result<HoldLine> {
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
}
