//! NFC loyalty cards through the real PC/SC stack: our own `pcscd` with the vpcd virtual
//! reader, and a virtual NTAG215 card answering the UID and page reads. A tap with a signed
//! token identifies the customer; an unknown card is linked to the open customer and then
//! identifies them; stopping `pcscd` (every reader unplugged) and starting it again is survived.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

use aisle_core::model::{AssociateId, Identifier, NfcUid, ScanTarget};
use aisle_core::{CoreError, Store};
use aisle_relay::domain::demo::{DemoConfig, DemoData};
use aisle_tablet::Tablet;
use aisle_tablet::nfc::{NfcEvent, NfcReaders};
use aisle_tests::{Pcscd, VirtualCard};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The next event that `wanted` accepts, skipping others; fails after `within`.
fn next(
    events: &mpsc::Receiver<NfcEvent>,
    within: Duration,
    wanted: impl Fn(&NfcEvent) -> bool,
) -> NfcEvent {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(event) if wanted(&event) => return event,
            Ok(_) => {}
            Err(_) => panic!("no matching NFC event within {within:?}"),
        }
    }
}

fn tap(events: &mpsc::Receiver<NfcEvent>) -> (NfcUid, Option<String>) {
    match next(events, Duration::from_secs(10), |e| {
        matches!(e, NfcEvent::Tap { .. })
    }) {
        NfcEvent::Tap { uid, text, .. } => (uid, text),
        _ => unreachable!(),
    }
}

#[test]
fn cards_identify_customers_unknown_cards_link_and_unplugging_is_survived() {
    let dir = tempfile::tempdir().unwrap();
    // The store plays the relay first: demo data, a signing key, and a token for customer 1.
    let mut relay = aisle_relay::domain::RelayDocs::new(
        Store::open(dir.path().join("tablet.sqlite3")).unwrap(),
    )
    .expect("a relay store");
    let data = DemoData::generate(DemoConfig::new(5, relay.now()));
    data.import(&mut relay, |_| {}).unwrap();
    let key = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
    relay.add_loyalty_key("k1", &key).unwrap();
    let member = relay
        .identify(&Identifier::Loyalty(data.customer(1).customer.loyalty_id))
        .unwrap();
    let token = relay
        .issue_loyalty_token("k1", &key, &member, Some(365))
        .unwrap();
    let mut store = Tablet::new(relay.into_store()).expect("a tablet store");

    let mut pcscd = Pcscd::start().unwrap();
    let (sender, events) = mpsc::channel();
    let _readers = NfcReaders::start(move |event| {
        let _ = sender.send(event);
    })
    .unwrap();
    next(&events, Duration::from_secs(10), |e| {
        matches!(e, NfcEvent::ReaderAttached { .. })
    });

    // A card carrying a signed token: the token identifies the member.
    {
        let _card = VirtualCard::present("04A1B2C3D4E5F6", Some(&token)).unwrap();
        let (uid, text) = tap(&events);
        assert_eq!(uid.as_str(), "04A1B2C3D4E5F6");
        let text = text.expect("the card's NDEF text");
        assert_eq!(
            store.resolve_scan(&text).unwrap(),
            ScanTarget::Customer { id: member.clone() }
        );
    }

    // A plain card nobody has: not found, so the associate links it to the open customer; the
    // next tap identifies them by UID alone.
    let plain = "04C0FFEE123456";
    {
        let _card = VirtualCard::present(plain, None).unwrap();
        let (uid, text) = tap(&events);
        assert_eq!(text, None);
        assert!(matches!(
            store.identify(&Identifier::Nfc(uid.clone())),
            Err(CoreError::NotFound { .. })
        ));
        store
            .link_nfc_card(&member, &uid, Some(&AssociateId::parse("kim.a").unwrap()))
            .unwrap();
    }
    {
        let _card = VirtualCard::present(plain, None).unwrap();
        let (uid, _) = tap(&events);
        assert_eq!(store.identify(&Identifier::Nfc(uid)).unwrap(), member);
    }

    // Every reader unplugged (pcscd stops), then back: the loop carries on by itself.
    pcscd = {
        pcscd.stop().unwrap();
        next(&events, Duration::from_secs(10), |e| {
            matches!(
                e,
                NfcEvent::ReaderDetached { .. } | NfcEvent::ServiceUnavailable { .. }
            )
        });
        Pcscd::start().unwrap()
    };
    next(&events, Duration::from_secs(15), |e| {
        matches!(e, NfcEvent::ReaderAttached { .. })
    });
    {
        let _card = VirtualCard::present("04A1B2C3D4E5F6", Some(&token)).unwrap();
        let (_, text) = tap(&events);
        assert_eq!(
            store.resolve_scan(&text.unwrap()).unwrap(),
            ScanTarget::Customer { id: member }
        );
    }
    pcscd.stop().unwrap();
}
