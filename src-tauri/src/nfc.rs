//! NFC loyalty cards on desktop tablets: the core's PC/SC reader loop, with each tap resolved
//! against the local store and sent to the UI as an `nfc-tap` event. (Android and iOS use
//! `tauri-plugin-nfc` instead; see docs/identification.md.)

use aisle_core::model::{Identifier, ScanTarget};
use aisle_tablet::nfc::{NfcEvent, NfcReaders};
use std::sync::Mutex;
use tauri::{AppHandle, Emitter, Manager};

use crate::AppState;

/// Keeps the reader loop running for the life of the app.
pub struct NfcState(#[allow(dead_code)] Mutex<Option<NfcReaders>>);

use aisle_core::model::commands::events::{CardTap, NFC_TAP};

/// Starts watching PC/SC readers. Without `pcscd` the loop waits for it quietly.
pub fn start(app: &AppHandle) {
    if std::env::var_os("AISLE_NFC").is_some_and(|v| v == "off") {
        return;
    }
    let handle = app.clone();
    match NfcReaders::start(move |event| on_event(&handle, event)) {
        Ok(readers) => {
            app.manage(NfcState(Mutex::new(Some(readers))));
        }
        Err(e) => tracing::warn!(error = %e, "cannot start the NFC reader loop"),
    }
}

fn on_event(app: &AppHandle, event: NfcEvent) {
    match event {
        NfcEvent::Tap { uid, text, reader } => {
            let state = app.state::<AppState>();
            let store = state.store.lock().unwrap_or_else(|e| e.into_inner());
            let token = text.filter(|t| aisle_core::scan::classify(t).is_ok());
            let (customer, problem) = match &token {
                Some(text) => match store.resolve_scan(text) {
                    Ok(ScanTarget::Customer { id }) => (Some(id.to_string()), None),
                    Ok(ScanTarget::Product { .. }) => (None, None),
                    Err(e) => (None, Some(e.to_string())),
                },
                None => match store.identify(&Identifier::Nfc(uid.clone())) {
                    Ok(id) => (Some(id.to_string()), None),
                    Err(_) => (None, None),
                },
            };
            drop(store);
            tracing::info!(reader, uid = %uid, known = customer.is_some(), "card tapped");
            let _ = app.emit(
                NFC_TAP,
                CardTap {
                    uid: uid.to_string(),
                    token,
                    customer,
                    problem,
                },
            );
        }
        NfcEvent::Unreadable { reader, reason } => {
            tracing::info!(reader, reason, "card could not be read");
            let _ = app.emit(
                NFC_TAP,
                CardTap {
                    uid: String::new(),
                    token: None,
                    customer: None,
                    problem: Some(format!(
                        "The card could not be read ({reason}): hold it still on the reader."
                    )),
                },
            );
        }
        NfcEvent::ReaderAttached { reader } => tracing::info!(reader, "NFC reader attached"),
        NfcEvent::ReaderDetached { reader } => tracing::info!(reader, "NFC reader detached"),
        NfcEvent::ServiceUnavailable { reason } => {
            tracing::info!(reason, "no PC/SC service: NFC cards wait for pcscd");
        }
    }
}
