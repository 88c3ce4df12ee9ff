//! Check-ins from the entry kiosk, recorded on the relay once per check-in id, and the
//! consent a first-time visitor gives there.

use super::RelayDocs;
use aisle_core::Store;
use aisle_core::model::{
    ConsentPurpose, ConsentSource, KioskCheckIn, KioskWelcome, Millis, StoreId, Visit, VisitSource,
};
use aisle_core::validate;
use aisle_core::{CoreError, Result};
use std::borrow::BorrowMut;

/// A check-in older than this when it finally reaches the relay is not an arrival any more.
const MAX_QUEUED_MS: Millis = 12 * 3_600_000;
/// How long after a check-in the kiosk may record the consent answer.
const CONSENT_WINDOW_MS: Millis = 15 * 60_000;

impl<S: BorrowMut<Store>> RelayDocs<S> {
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
}
