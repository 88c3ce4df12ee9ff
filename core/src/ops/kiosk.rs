//! The entry kiosk: a customer scans their loyalty code or taps their card, and the store's
//! tablets see who just arrived. The kiosk holds no customer data, so the relay resolves and
//! records the check-in; a kiosk that is offline verifies the code's signature itself, keeps
//! the check-in in its queue and sends it when it can. Each check-in carries the kiosk's id
//! for it, so a resend after a lost reply records one visit.

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
}
