//! The entry kiosk: a customer scans their loyalty code or taps their card, and the store's
//! tablets see who just arrived. The kiosk holds no customer data, so the relay resolves and
//! records the check-in; a kiosk that is offline verifies the code's signature itself, keeps
//! the check-in in its queue and sends it when it can. Each check-in carries the kiosk's id
//! for it, so a resend after a lost reply records one visit.

use rusqlite::params;

use crate::error::{CoreError, Result};
use crate::model::{CustomerId, Identifier, KioskCheckIn, NfcUid};
use crate::store::Store;

impl Store {
    /// Who a kiosk scan or tap is: a verified token's customer, or a linked card's.
    pub fn kiosk_customer(&self, check_in: &KioskCheckIn) -> Result<CustomerId> {
        match (&check_in.token, &check_in.nfc_uid) {
            (Some(token), _) => self.identify_token(token),
            (None, Some(uid)) => self.identify(&Identifier::Nfc(NfcUid::parse(uid)?)),
            (None, None) => Err(CoreError::invalid(
                "check_in",
                "needs a loyalty code or a card",
            )),
        }
    }

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
