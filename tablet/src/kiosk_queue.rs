//! The kiosk's offline queue: check-ins verified on the kiosk while the relay is out of reach,
//! kept in its SQLite and sent once it is back.

use aisle_core::model::KioskCheckIn;
use aisle_core::{CoreError, Result};
use rusqlite::params;

use crate::Tablet;

impl Tablet {
    /// Keeps a check-in the kiosk could not send (kiosk).
    pub fn queue_check_in(&mut self, check_in: &KioskCheckIn) -> Result<()> {
        let json = serde_json::to_string(check_in)
            .map_err(|e| CoreError::Internal(format!("check-in: {e}")))?;
        self.conn().execute(
            "INSERT OR IGNORE INTO kiosk_queue (check_in_id, body, at) VALUES (?1, ?2, ?3)",
            params![check_in.id, json, check_in.at],
        )?;
        Ok(())
    }

    /// Check-ins waiting to be sent, oldest first (kiosk).
    pub fn queued_check_ins(&self) -> Result<Vec<KioskCheckIn>> {
        let mut stmt = self
            .conn()
            .prepare_cached("SELECT body FROM kiosk_queue ORDER BY at, check_in_id")?;
        let bodies: Vec<String> = stmt
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        bodies
            .iter()
            .map(|b| {
                serde_json::from_str(b).map_err(|e| {
                    CoreError::Internal(format!("a queued check-in is unreadable: {e}"))
                })
            })
            .collect()
    }

    /// A queued check-in was delivered (or refused for good): it leaves the queue (kiosk).
    pub fn unqueue_check_in(&mut self, id: &str) -> Result<()> {
        self.conn()
            .execute("DELETE FROM kiosk_queue WHERE check_in_id = ?1", [id])?;
        Ok(())
    }
}
