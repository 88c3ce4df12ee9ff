//! The audit trail over a real relay: enrolments, refused enrolment codes (slowed after a few),
//! failed authentication (counted, not one entry per request), revocation, erasure, key
//! rotation and admin calls are recorded in order; the command line prints them; a manager sees
//! their own store's part only; and the table takes no update or delete.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

use aisle_core::Store;
use aisle_core::api::{AuditAction, AuditEntry, EnrolRequest, EnrolledDevice, RotatedKey};
use aisle_core::model::{CustomerId, ErrorCode, Identifier, LoyaltyId};
use aisle_tests::{Api, demo_relay, enrol_device, refusal, reply};

fn actions(entries: &[AuditEntry]) -> Vec<AuditAction> {
    entries.iter().map(|e| e.action).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn security_relevant_acts_are_recorded_in_an_append_only_trail() {
    let (dir, relay_dir, relay) = demo_relay(20);
    let admin = Api::admin(&relay, &relay_dir).unwrap();
    let mut tokens = Vec::new();
    for (store, role, name) in [
        ("LDN-CG", "manager", "boss"),
        ("MAN-AR", "associate", "far"),
        ("LDN-CG", "associate", "floor"),
    ] {
        let db = Store::open(dir.path().join(format!("{name}.sqlite3"))).unwrap();
        tokens.push(enrol_device(&relay, &relay_dir, (store, role, name), db.actor()).await);
    }
    let [manager, far, associate] = <[String; 3]>::try_from(tokens).unwrap();

    // Forged tokens: refused, and counted into one entry.
    for i in 0..5 {
        let forged = refusal(Api::new(&relay, &format!("forged-{i}")).get("/v1/store/devices"))
            .await
            .unwrap();
        assert_eq!(forged.code(), ErrorCode::Unauthorized);
    }
    // Guessed enrolment codes: refused, and after ten from one address, slowed.
    let limited_after = aisle_tests::first_rate_limited(12, Some(400), |i| {
        relay
            .http()
            .post(relay.url("/v1/enrol"))
            .json(&EnrolRequest {
                code: format!("GUESS-{i:05}"),
                actor: "0a0b".into(),
            })
    })
    .await;
    assert_eq!(limited_after, Some(10), "ten failed guesses, then 429");

    // The admin revokes the far tablet, erases a customer and rotates the loyalty key.
    let devices: Vec<EnrolledDevice> = reply(admin.get("/v1/admin/devices")).await.unwrap();
    let far_id = devices.iter().find(|d| d.name == "far").unwrap().id.clone();
    reply::<()>(admin.post(&format!("/v1/admin/devices/{far_id}/revoke")))
        .await
        .unwrap();
    let revoked = refusal(Api::new(&relay, &far).get("/v1/customers/search?q=a"))
        .await
        .unwrap();
    assert_eq!(revoked.code(), ErrorCode::Revoked);
    let customer = aisle_tests::demo_customer(20, |c| c.home_store.as_str() == "LDN-CG");
    let relay_view = Store::open(aisle_tests::relay_documents(&relay_dir)).unwrap();
    let id: CustomerId = relay_view
        .identify(&Identifier::Loyalty(
            LoyaltyId::parse(customer.customer.loyalty_id.as_str()).unwrap(),
        ))
        .unwrap();
    drop(relay_view);
    reply::<serde_json::Value>(admin.post(&format!("/v1/customers/{id}/erase")))
        .await
        .unwrap();
    let rotated: RotatedKey = reply(admin.post("/v1/loyalty/keys/rotate")).await.unwrap();

    let trail: Vec<AuditEntry> = reply(admin.get("/v1/admin/audit")).await.unwrap();
    let recorded = actions(&trail);
    for expected in [
        AuditAction::EnrolmentCodeCreated,
        AuditAction::DeviceEnrolled,
        AuditAction::AuthenticationFailed,
        AuditAction::EnrolmentRefused,
        AuditAction::DeviceRevoked,
        AuditAction::CustomerErased,
        AuditAction::LoyaltyKeyRotated,
        AuditAction::AdminCall,
    ] {
        assert!(
            recorded.contains(&expected),
            "{expected:?} missing from {recorded:?}"
        );
    }
    assert!(
        trail.windows(2).all(|w| w[0].seq < w[1].seq),
        "in recording order"
    );
    let failed: Vec<_> = trail
        .iter()
        .filter(|e| e.action == AuditAction::AuthenticationFailed)
        .collect();
    assert!(
        failed.len() <= 2,
        "forged tokens flooded the trail: {failed:?}"
    );
    assert!(
        trail
            .iter()
            .any(|e| e.action == AuditAction::DeviceRevoked && e.subject == far_id)
    );
    assert!(trail.iter().any(|e| e.action == AuditAction::CustomerErased
        && e.subject == format!("customer/{id}")
        && e.store.as_deref() == Some("LDN-CG")));
    assert!(
        trail
            .iter()
            .any(|e| e.action == AuditAction::LoyaltyKeyRotated && e.subject == rotated.key_id)
    );
    let erased_at = trail
        .iter()
        .position(|e| e.action == AuditAction::CustomerErased)
        .unwrap();
    let rotated_at = trail
        .iter()
        .position(|e| e.action == AuditAction::LoyaltyKeyRotated)
        .unwrap();
    assert!(erased_at < rotated_at);

    // A manager sees their own store's entries only; an associate none.
    let own: Vec<AuditEntry> = reply(Api::new(&relay, &manager).get("/v1/store/audit"))
        .await
        .unwrap();
    assert!(!own.is_empty());
    assert!(
        own.iter().all(|e| e.store.as_deref() == Some("LDN-CG")),
        "{own:?}"
    );
    assert!(actions(&own).contains(&AuditAction::CustomerErased));

    let not_a_manager = refusal(Api::new(&relay, &associate).get("/v1/store/audit"))
        .await
        .unwrap();
    assert_eq!(
        (not_a_manager.status, not_a_manager.code()),
        (403, ErrorCode::Forbidden)
    );

    // The command line prints the same trail.
    let printed = aisle_tests::admin_command(&relay_dir)
        .unwrap()
        .args(["admin", "audit"])
        .output()
        .unwrap();
    assert!(printed.status.success());
    let printed = String::from_utf8_lossy(&printed.stdout);
    assert!(
        printed.contains("device_revoked") && printed.contains(&far_id),
        "{printed}"
    );

    // Append-only: the database refuses to change or remove an entry.
    for statement in ["UPDATE audit SET actor = 'nobody'", "DELETE FROM audit"] {
        let refused = aisle_tests::registry_statement(&relay_dir, statement).unwrap_err();
        assert!(refused.contains("append-only"), "{refused}");
    }
}
