//! Summary counts and conflict resolution bookkeeping.

use crate::error::Result;
use crate::model::StoreStats;
use crate::store::Store;

impl Store {
    pub fn stats(&self) -> Result<StoreStats> {
        let count =
            |sql: &str| -> Result<i64> { Ok(self.conn().query_row(sql, [], |r| r.get(0))?) };
        let unsigned = |n: i64| u64::try_from(n).unwrap_or(0);
        let now = self.now();
        let active_holds: i64 = self.conn().query_row(
            "SELECT COUNT(*) FROM holds WHERE ended_at IS NULL AND expires_at > ?1",
            [now],
            |r| r.get(0),
        )?;
        Ok(StoreStats {
            customers: unsigned(count("SELECT COUNT(*) FROM customers")?),
            products: unsigned(count("SELECT COUNT(*) FROM products")?),
            variants: unsigned(count("SELECT COUNT(*) FROM variants")?),
            stores: unsigned(count("SELECT COUNT(*) FROM stores")?),
            units_on_hand: count("SELECT COALESCE(SUM(MAX(on_hand, 0)), 0) FROM stock")?,
            active_holds: unsigned(active_holds),
            open_conflicts: unsigned(count(
                "SELECT COUNT(*) FROM conflicts WHERE resolved_at IS NULL",
            )?),
            documents: unsigned(count("SELECT COUNT(*) FROM docs")?),
        })
    }
}
