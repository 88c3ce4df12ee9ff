//! The manager's KPIs over a number of days: check-ins, assisted sessions, online carts
//! converted in store, sales by associate.

use aisle_core::model::{AssociateId, AssociateSales, DayKpis, Millis, StoreId, StoreKpis};
use aisle_core::{CoreError, Result};
use rusqlite::params;

use crate::{DAY_MS, Tablet};

const MAX_KPI_DAYS: u32 = 92;

impl Tablet {
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
