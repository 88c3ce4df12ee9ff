//! The entry kiosk: a customer scans their loyalty code or taps their card, and the store's
//! tablets see who just arrived. The kiosk holds no customer data, so the relay resolves and
//! records the check-in; a kiosk that is offline verifies the code's signature itself, keeps
//! the check-in in its queue and sends it when it can. Each check-in carries the kiosk's id
//! for it, so a resend after a lost reply records one visit.

use rusqlite::params;

use crate::error::{CoreError, Result};
use crate::model::{
    ConsentPurpose, ConsentSource, CustomerId, Identifier, KioskCheckIn, KioskWelcome, Millis,
    NfcUid, StoreId, Visit, VisitSource,
};
use crate::store::Store;
use crate::validate;

/// A check-in older than this when it finally reaches the relay is not an arrival any more.
const MAX_QUEUED_MS: Millis = 12 * 3_600_000;
/// How long after a check-in the kiosk may record the consent answer.
const CONSENT_WINDOW_MS: Millis = 15 * 60_000;

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

    /// Records a kiosk check-in at `store` (relay). Idempotent by the check-in's id.
    pub fn kiosk_check_in(
        &mut self,
        store: &StoreId,
        check_in: &KioskCheckIn,
    ) -> Result<KioskWelcome> {
        validate::check_token("id", &check_in.id, 64)?;
        self.require_store(store)?;
        let now = self.now();
        if check_in.at > now.saturating_add(60_000)
            || now.saturating_sub(check_in.at) > MAX_QUEUED_MS
        {
            return Err(CoreError::invalid(
                "at",
                "is not within the last twelve hours",
            ));
        }
        let customer = self.kiosk_customer(check_in)?;
        let source = if check_in.token.is_some() {
            VisitSource::Kiosk
        } else {
            VisitSource::NfcTap
        };
        let visit_id = format!("kiosk-{}", check_in.id);
        let at = check_in.at.min(now);
        self.update_customer(&customer, |c| {
            c.visits.entry(visit_id).or_insert(Visit {
                store: store.clone(),
                at,
                source,
            });
            Ok(())
        })?;
        let profile = self.customer(&customer)?;
        Ok(KioskWelcome {
            first_name: profile
                .identity
                .name
                .split_whitespace()
                .next()
                .map(str::to_string),
            asks_consent: !profile
                .consent
                .contains_key(&ConsentPurpose::InStorePersonalisation),
            queued: false,
        })
    }

    /// The customer's answer on the kiosk's consent screen (relay). Only right after they
    /// checked in at this store: a card's UID is no secret, and an old request replayed must
    /// not overturn what the customer decided since.
    pub fn kiosk_consent(
        &mut self,
        store: &StoreId,
        check_in: &KioskCheckIn,
        granted: bool,
    ) -> Result<()> {
        let customer = self.kiosk_customer(check_in)?;
        let now = self.now();
        let just_checked_in = self.customer(&customer)?.visits.iter().any(|v| {
            &v.item.store == store
                && matches!(v.item.source, VisitSource::Kiosk | VisitSource::NfcTap)
                && now.saturating_sub(v.item.at) <= CONSENT_WINDOW_MS
        });
        if !just_checked_in {
            return Err(CoreError::invalid(
                "consent",
                "is asked right after a check-in at this store's kiosk",
            ));
        }
        self.set_consent(
            &customer,
            ConsentPurpose::InStorePersonalisation,
            granted,
            ConsentSource::Kiosk,
        )
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
