//! The entry kiosk over a real relay: a customer scans their loyalty QR at the kiosk and the
//! store's associate tablet shows them as just arrived; a resend is one visit; a first-time
//! visitor is asked for consent and the answer reaches the tablet; a forged code is refused;
//! a kiosk that is offline keeps the check-in and sends it later; a device trying card after
//! card is slowed and flagged.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

use aisle_core::api::KioskConsent;
use aisle_core::model::{
    ConsentPurpose, ConsentSource, CustomerId, ErrorCode, KioskCheckIn, LoyaltyId, NewCustomer,
    StoreId, Tier,
};
use aisle_tablet::relay_client;
use aisle_tests::{Api, Tablet, eventually, loyalty_token, refusal};
use std::time::Duration;

fn check_in(id: &str, token: &str, at: i64) -> KioskCheckIn {
    KioskCheckIn {
        id: id.into(),
        token: Some(token.into()),
        nfc_uid: None,
        at,
    }
}

/// Waits until the associate tablet's Floor lists `customer` as checked in today.
async fn arrives(tablet: &Tablet, customer: &CustomerId) -> Duration {
    let here = StoreId::parse("LDN-CG").unwrap();
    eventually("the check-in arrives", Duration::from_secs(10), || {
        tablet.with(|s| {
            let now = s.now();
            s.floor_overview(
                &here,
                now - now % 86_400_000,
                now - now % 86_400_000 + 86_400_000,
            )
            .unwrap()
            .checked_in
            .iter()
            .any(|c| &c.customer.id == customer)
        })
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn kiosk_check_ins_reach_the_floor_once_and_ask_first_timers_for_consent() {
    let (dir, relay_dir, relay) = aisle_tests::demo_relay(30);
    let associate = Tablet::enrol(&relay, &relay_dir, dir.path(), "floor", "associate").await;
    let mut kiosk = Tablet::enrol(&relay, &relay_dir, dir.path(), "kiosk", "kiosk").await;

    // A member of the store, and a first-timer who signed up on the associate's tablet and
    // was never asked about personalisation.
    let member = associate.with(|s| {
        let aisle_core::DocId::Customer(id) = s.doc_ids("customer").unwrap().remove(0) else {
            unreachable!()
        };
        id
    });
    let newcomer = associate.with(|s| {
        s.create_customer(NewCustomer {
            loyalty_id: LoyaltyId::from_serial(880_001),
            name: "Robin Newcomer".into(),
            email: None,
            phone: None,
            home_store: StoreId::parse("LDN-CG").unwrap(),
            tier: Tier::Member,
            consent: Default::default(),
        })
        .unwrap()
    });
    associate
        .client
        .as_ref()
        .unwrap()
        .local_change(&associate.store.lock().unwrap());
    associate.wait_synced().await;
    let member_token = loyalty_token(&relay, &relay_dir, &member).await.unwrap();
    let newcomer_token = loyalty_token(&relay, &relay_dir, &newcomer).await.unwrap();

    let now = kiosk.with(|s| s.now());
    let welcome = relay_client::kiosk_check_in(&kiosk.config, &check_in("c-1", &member_token, now))
        .await
        .unwrap();
    let waited = arrives(&associate, &member).await;
    eprintln!(
        "kiosk check-in to the associate's Floor: {} ms",
        waited.as_millis()
    );
    assert!(welcome.first_name.is_some());
    // A resend (the reply was lost) is the same visit.
    relay_client::kiosk_check_in(&kiosk.config, &check_in("c-1", &member_token, now))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let visits_today = |s: &mut aisle_core::Store, id: &CustomerId| {
        s.customer(id)
            .unwrap()
            .visits
            .iter()
            .filter(|v| v.id.starts_with("kiosk-"))
            .count()
    };
    assert_eq!(associate.with(|s| visits_today(s, &member)), 1);

    // The first-timer is asked, says yes, and the tablet shows it with its source.
    let welcome =
        relay_client::kiosk_check_in(&kiosk.config, &check_in("c-2", &newcomer_token, now))
            .await
            .unwrap();
    assert!(welcome.asks_consent);
    assert_eq!(welcome.first_name.as_deref(), Some("Robin"));
    // Only the kiosk records consent this way (a card UID is no secret).
    let by_associate = refusal(
        Api::new(&relay, &associate.config.token)
            .post("/v1/kiosk/consent")
            .json(&KioskConsent {
                check_in: check_in("c-2", &newcomer_token, now),
                granted: false,
            }),
    )
    .await
    .unwrap();
    assert_eq!(by_associate.code(), ErrorCode::Forbidden, "{by_associate}");
    relay_client::kiosk_consent(&kiosk.config, &check_in("c-2", &newcomer_token, now), true)
        .await
        .unwrap();
    let consent = || {
        associate.with(|s| {
            s.customer(&newcomer)
                .unwrap()
                .consent
                .get(&ConsentPurpose::InStorePersonalisation)
                .cloned()
        })
    };
    eventually("consent arrives", Duration::from_secs(10), || {
        consent().is_some()
    })
    .await;
    let record = consent().unwrap();
    assert!(record.granted);
    assert_eq!(record.source, ConsentSource::Kiosk);

    // A forged code: refused with the reason, nothing recorded.
    let claims = aisle_core::loyalty::peek(&member_token).unwrap().0;
    let forged =
        aisle_core::loyalty::sign(&ed25519_dalek::SigningKey::from_bytes(&[5; 32]), &claims);
    let refused = refusal(
        Api::new(&relay, &kiosk.config.token)
            .post("/v1/kiosk/check-in")
            .json(&check_in("c-3", &forged, now)),
    )
    .await
    .unwrap();
    assert_eq!(refused.code(), ErrorCode::InvalidInput, "{refused}");
    assert!(
        refused.error.message.contains("altered or forged"),
        "{refused}"
    );

    // Offline: the kiosk checks the signature itself and queues; later the queue goes out.
    kiosk.stop().await;
    let offline = kiosk.with(|s| {
        let check_in = check_in("c-4", &newcomer_token, s.now());
        s.verify_loyalty_token(check_in.token.as_deref().unwrap())
            .unwrap();
        s.queue_check_in(&check_in).unwrap();
        s.queued_check_ins().unwrap()
    });
    assert_eq!(offline.len(), 1);
    for queued in offline {
        relay_client::kiosk_check_in(&kiosk.config, &queued)
            .await
            .unwrap();
        kiosk.with(|s| s.unqueue_check_in(&queued.id).unwrap());
    }
    assert!(kiosk.with(|s| s.queued_check_ins().unwrap()).is_empty());
    // The first-timer's second arrival (from the queue) reaches the tablet too.
    eventually(
        "the queued check-in arrives",
        Duration::from_secs(10),
        || associate.with(|s| visits_today(s, &newcomer)) == 2,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_device_walking_through_card_numbers_at_the_kiosk_is_slowed_and_flagged() {
    let (dir, relay_dir, relay) = aisle_tests::demo_relay(10);
    let kiosk = Tablet::enrol(&relay, &relay_dir, dir.path(), "kiosk", "kiosk").await;
    let api = Api::new(&relay, &kiosk.config.token);
    let now = kiosk.with(|s| s.now());
    // Card after card, none of them anyone's: answered until the burst is spent, then 429.
    let limited_after = aisle_tests::first_rate_limited(40, None, |i| {
        api.post("/v1/kiosk/check-in").json(&KioskCheckIn {
            id: format!("walk-{i}"),
            token: None,
            nfc_uid: Some(format!("04A1B2C3D4{i:04X}")),
            at: now,
        })
    })
    .await;
    assert_eq!(
        limited_after,
        Some(aisle_relay::state::CHECK_IN_BURST as u32),
        "the burst, then refused"
    );
    let admin = Api::admin(&relay, &relay_dir).unwrap();
    let trail: Vec<aisle_core::api::AuditEntry> = aisle_tests::reply(admin.get("/v1/admin/audit"))
        .await
        .unwrap();
    assert!(
        trail
            .iter()
            .any(|e| e.action == aisle_core::api::AuditAction::CheckInsLimited),
        "flagged in the audit trail"
    );
}
