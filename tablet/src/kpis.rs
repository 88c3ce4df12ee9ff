//! The manager's KPIs over a number of days: check-ins, assisted sessions, online carts
//! converted in store, sales by associate.

use aisle_core::model::{
    AssociateId, AssociateSales, DayKpis, Millis, OUTSIDE_TILL, StoreId, StoreKpis,
};
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
        // Sales rung up at a till outside Aisle move stock but are not Aisle's sales.
        let sales_range = params![store.as_str(), from, to, OUTSIDE_TILL];

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
               WHERE store_id = ?1 AND at >= ?2 AND at < ?3 AND customer_id IS NOT NULL
                 AND associate_id <> ?4",
        )?;
        let mut sessions = std::collections::BTreeSet::new();
        for row in stmt.query_map(sales_range, |r| {
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
             WHERE store_id = ?1 AND at >= ?2 AND at < ?3 AND associate_id <> ?4",
        )?;
        for row in stmt.query_map(sales_range, |r| {
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
             WHERE store_id = ?1 AND at >= ?2 AND at < ?3 AND associate_id <> ?4
             GROUP BY associate_id ORDER BY SUM(total_cents) DESC",
        )?;
        let by_associate = stmt
            .query_map(sales_range, |r| {
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

/// The KPIs as two CSV files' text for a spreadsheet: one row per day, and one per associate
/// over the period. Amounts in major units of `currency` (named in their own column).
pub fn kpis_csv(kpis: &StoreKpis, store: &StoreId, currency: &str) -> Result<(String, String)> {
    let digits = aisle_core::model::currency_digits(currency).unwrap_or(2);
    let failed = |e: csv::Error| CoreError::Internal(format!("writing CSV: {e}"));
    let mut days = csv::Writer::from_writer(Vec::new());
    days.write_record([
        "store",
        "date",
        "check_ins",
        "assisted",
        "online_carts_converted",
        "sales",
        "revenue",
        "currency",
    ])
    .map_err(failed)?;
    for day in &kpis.days {
        days.write_record([
            store.as_str(),
            &local_date(day.day_start),
            &day.check_ins.to_string(),
            &day.assisted.to_string(),
            &day.online_carts_converted.to_string(),
            &day.sales.to_string(),
            &aisle_core::model::decimal(day.revenue_cents, digits),
            currency,
        ])
        .map_err(failed)?;
    }
    let mut people = csv::Writer::from_writer(Vec::new());
    people
        .write_record([
            "store",
            "associate",
            "sales",
            "units",
            "revenue",
            "currency",
        ])
        .map_err(failed)?;
    for a in &kpis.by_associate {
        people
            .write_record([
                store.as_str(),
                a.associate.as_str(),
                &a.sales.to_string(),
                &a.units.to_string(),
                &aisle_core::model::decimal(a.revenue_cents, digits),
                currency,
            ])
            .map_err(failed)?;
    }
    let text = |w: csv::Writer<Vec<u8>>| -> Result<String> {
        let bytes = w
            .into_inner()
            .map_err(|e| CoreError::Internal(format!("writing CSV: {e}")))?;
        String::from_utf8(bytes).map_err(|e| CoreError::Internal(e.to_string()))
    };
    Ok((text(days)?, text(people)?))
}

/// The calendar date of a local midnight given as UTC milliseconds: read at midday, it is the
/// same day in every time zone within twelve hours of UTC.
fn local_date(day_start: Millis) -> String {
    time::OffsetDateTime::from_unix_timestamp((day_start + DAY_MS / 2).div_euclid(1000))
        .map(|t| t.date().to_string())
        .unwrap_or_else(|_| day_start.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_export_has_a_row_per_day_and_per_associate_in_the_currencys_units() {
        let day = |day_start, sales, revenue_cents| DayKpis {
            day_start,
            check_ins: 3,
            assisted: 2,
            online_carts_converted: 1,
            sales,
            revenue_cents,
        };
        // Local midnights of 2 and 3 December 2026 in London (UTC) and Tokyo (UTC+9).
        let london = 1_796_169_600_000;
        let tokyo = london - 9 * 3_600_000;
        let kpis = StoreKpis {
            days: vec![day(london, 2, 12_050), day(london + DAY_MS, 0, 0)],
            by_associate: vec![AssociateSales {
                associate: AssociateId::parse("sam.k").unwrap_or_else(|_| unreachable!()),
                sales: 2,
                units: 3,
                revenue_cents: 12_050,
            }],
        };
        let store = StoreId::parse("LDN-CG").unwrap_or_else(|_| unreachable!());
        let (days, people) = kpis_csv(&kpis, &store, "GBP").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            days,
            "store,date,check_ins,assisted,online_carts_converted,sales,revenue,currency\n\
             LDN-CG,2026-12-02,3,2,1,2,120.50,GBP\n\
             LDN-CG,2026-12-03,3,2,1,0,0.00,GBP\n"
        );
        assert_eq!(
            people,
            "store,associate,sales,units,revenue,currency\nLDN-CG,sam.k,2,3,120.50,GBP\n"
        );
        assert_eq!(local_date(tokyo), "2026-12-02");
        let (yen, _) = kpis_csv(&kpis, &store, "JPY").unwrap_or_else(|e| panic!("{e}"));
        assert!(yen.contains(",12050,JPY"), "{yen}");
    }
}
