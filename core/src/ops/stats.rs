//! Summary counts and conflict resolution bookkeeping.

use rusqlite::params;

use crate::error::{CoreError, Result};
use crate::model::{AssociateId, StoreStats};
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

    /// Marks an oversell conflict resolved by a manager.
    pub fn resolve_conflict(&mut self, conflict_id: &str, by: &AssociateId) -> Result<()> {
        let now = self.now();
        self.with_tx(|tx| {
            let changed = tx.execute(
                "UPDATE conflicts SET resolved_at = ?2, resolved_by = ?3
                 WHERE conflict_id = ?1 AND resolved_at IS NULL",
                params![conflict_id, now, by.as_str()],
            )?;
            if changed == 0 {
                return Err(CoreError::not_found("open conflict", conflict_id));
            }
            Ok(())
        })
    }
}
