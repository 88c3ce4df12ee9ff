//! A tablet the relay removed (revoked, or reported lost) forgets what it held of people: every
//! customer document and the rows projected from it, the kiosk's queued check-ins (they carry
//! loyalty codes) and the refused pushes. The store runs with `secure_delete`, so freed pages
//! are overwritten, and the write-ahead log is truncated, so no old page stays behind in it.
//! What this does not reach (blocks a flash controller has not reused yet) is the device's
//! storage encryption's to cover: docs/security.md.

use aisle_core::Result;
use aisle_core::doc::DocId;

use crate::Tablet;

/// What a wipe removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wiped {
    pub customers: usize,
    pub queued_check_ins: usize,
}

impl Tablet {
    /// Deletes every customer document with its projections, the kiosk queue and the push
    /// refusals. The catalog and stock counts stay: they hold no personal data.
    pub fn wipe_customer_data(&mut self) -> Result<Wiped> {
        let customers = self.doc_ids("customer")?;
        for id in &customers {
            self.forget_doc(id, |tx| {
                if let DocId::Customer(_) = id {
                    tx.execute("DELETE FROM peer_heads WHERE doc_id = ?1", [id.to_string()])?;
                }
                Ok(())
            })?;
        }
        let queued_check_ins = self.with_tx(|tx| {
            let queued = tx.execute("DELETE FROM kiosk_queue", [])?;
            tx.execute("DELETE FROM push_refusals", [])?;
            // Full-text index segments keep deleted terms until merged: merge them now.
            tx.execute(
                "INSERT INTO customer_search (customer_search) VALUES ('optimize')",
                [],
            )?;
            Ok(queued)
        })?;
        self.conn()
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(Wiped {
            customers: customers.len(),
            queued_check_ins,
        })
    }
}
