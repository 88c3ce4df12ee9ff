//! Loyalty QR codes over a real relay: the relay signs a token and renders its QR code; the
//! code in the PNG decodes; a tablet verifies it offline; forged, altered and wrong-key codes
//! are refused with their own reasons; a revocation, a key rotation and the withdrawal of a
//! leaked key reach the tablet by sync.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

use aisle_core::api::{
    IssueTokenRequest, IssuedToken, QrRequest, RevokeTokenRequest, RevokedToken, RotatedKey,
    WithdrawnKey,
};
use aisle_core::model::{CustomerId, ErrorCode, ScanTarget};
use aisle_core::{CoreError, DocId, loyalty};
use aisle_tests::{Api, Tablet, eventually, loyalty_token, refusal, reply};
use std::time::Duration;

fn scan(tablet: &Tablet, text: &str) -> Result<CustomerId, CoreError> {
    tablet.with(|s| match s.resolve_scan(text)? {
        ScanTarget::Customer { id } => Ok(id),
        other => panic!("a loyalty code opened {other:?}"),
    })
}

async fn until_refused(tablet: &Tablet, token: &str, reason: &str) {
    let what = format!("the tablet refuses the code for '{reason}'");
    eventually(&what, Duration::from_secs(10), || {
        scan(tablet, token).is_err_and(|e| e.to_string().contains(reason))
    })
    .await;
}

/// Waits until the tablet accepts a code signed with a new key (`key`), once it has synced.
async fn until_accepted(tablet: &Tablet, token: &str, key: &str) {
    let what = format!("{key} reaches the tablet");
    eventually(&what, Duration::from_secs(10), || {
        scan(tablet, token).is_ok()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn loyalty_codes_verify_offline_and_revocations_and_new_keys_arrive_by_sync() {
    let (dir, relay_dir, relay) = aisle_tests::demo_relay(30);
    let admin = Api::admin(&relay, &relay_dir).unwrap();
    let mut tablet = Tablet::enrol(&relay, &relay_dir, dir.path(), "tablet", "associate").await;
    let customer = tablet.with(|s| {
        let DocId::Customer(id) = s.doc_ids("customer").unwrap().remove(0) else {
            unreachable!()
        };
        id
    });

    let issued: IssuedToken = reply(
        admin
            .post(&format!("/v1/customers/{customer}/loyalty-token"))
            .json(&IssueTokenRequest {
                valid_days: Some(365),
            }),
    )
    .await
    .unwrap();
    let token = issued.token.clone();
    assert!(issued.qr_svg.contains("<svg"));
    assert_eq!(loyalty::peek(&token).unwrap().0.token_id(), issued.token_id);

    // The PNG the relay renders holds exactly the token.
    let png = admin
        .get("/v1/loyalty/qr")
        .query(&QrRequest {
            token: token.clone(),
            format: Some("png".into()),
        })
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let image = image::load_from_memory(&png).unwrap().to_luma8();
    let found = aisle_core::scan::decode_qr(
        image.width() as usize,
        image.height() as usize,
        image.as_raw(),
    );
    assert_eq!(found, vec![token.clone()]);

    // Offline, the tablet verifies it against the key it synced.
    tablet.stop().await;
    assert_eq!(scan(&tablet, &token).unwrap(), customer);

    // Forged with another key under the same key id, altered, and signed by an unknown key.
    let claims = loyalty::peek(&token).unwrap().0;
    let stranger = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let forged = loyalty::sign(&stranger, &claims);
    assert!(
        scan(&tablet, &forged)
            .unwrap_err()
            .to_string()
            .contains("altered or forged")
    );
    let other_key = loyalty::sign(
        &stranger,
        &loyalty::Claims {
            key: "k99".into(),
            ..claims.clone()
        },
    );
    assert!(
        scan(&tablet, &other_key)
            .unwrap_err()
            .to_string()
            .contains("key k99")
    );
    let mut altered = token.clone().into_bytes();
    let last = altered.len() - 3;
    altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();
    assert!(scan(&tablet, &altered).is_err());

    // Revoked while the tablet is offline: refused once it has synced.
    let revoked: RevokedToken = reply(admin.post("/v1/loyalty/revoke").json(&RevokeTokenRequest {
        token: token.clone(),
        reason: Some("card lost".into()),
    }))
    .await
    .unwrap();
    assert_eq!(revoked.token_id, issued.token_id);
    assert_eq!(
        scan(&tablet, &token).unwrap(),
        customer,
        "offline, the tablet has not heard yet"
    );
    tablet.start();
    tablet.wait_synced().await;
    until_refused(&tablet, &token, "revoked").await;

    // The command line refuses to change keys under the running relay (its copy would go
    // stale) and points at the endpoint; nothing changes.
    let beside = aisle_tests::admin_command(&relay_dir)
        .unwrap()
        .args(["admin", "rotate-loyalty-key"])
        .output()
        .unwrap();
    assert!(!beside.status.success());
    assert!(
        String::from_utf8_lossy(&beside.stderr).contains("POST /v1/loyalty/keys/rotate"),
        "{}",
        String::from_utf8_lossy(&beside.stderr)
    );

    // A new key: its tokens verify on the tablet once the key has synced; older keys' tokens
    // still verify.
    let older = loyalty_token(&relay, &relay_dir, &customer).await.unwrap();
    let rotated: RotatedKey = reply(admin.post("/v1/loyalty/keys/rotate")).await.unwrap();
    assert_eq!(rotated.key_id, "k2");
    let newer = loyalty_token(&relay, &relay_dir, &customer).await.unwrap();
    assert_eq!(loyalty::peek(&newer).unwrap().0.key, "k2");
    until_accepted(&tablet, &newer, "k2").await;
    assert_eq!(scan(&tablet, &older).unwrap(), customer);

    // k1 leaked: withdrawn, every code it signed is refused (a genuine one, and one whoever
    // holds the key makes now), while k2's codes still open the customer.
    let leaked_key = std::fs::read_to_string(relay_dir.join("loyalty-keys/k1.key")).unwrap();
    let leaked_key: [u8; 32] = hex::decode(leaked_key.trim()).unwrap().try_into().unwrap();
    let made_by_thief = loyalty::sign(
        &ed25519_dalek::SigningKey::from_bytes(&leaked_key),
        &loyalty::Claims {
            serial: 4242,
            ..loyalty::peek(&older).unwrap().0
        },
    );
    assert_eq!(scan(&tablet, &made_by_thief).unwrap(), customer);
    let withdrawn: WithdrawnKey = reply(admin.post("/v1/loyalty/keys/k1/withdraw"))
        .await
        .unwrap();
    assert_eq!(
        withdrawn,
        WithdrawnKey {
            withdrawn: "k1".into(),
            current_key_id: "k2".into(),
        },
        "k1 was not the current key"
    );
    for code in [&older, &made_by_thief] {
        until_refused(&tablet, code, "key k1, withdrawn on").await;
    }
    assert_eq!(scan(&tablet, &newer).unwrap(), customer);
    assert!(!relay_dir.join("loyalty-keys/k1.key").exists());

    // Withdrawing the current key switches the relay to a new one first.
    let withdrawn: WithdrawnKey = reply(admin.post("/v1/loyalty/keys/k2/withdraw"))
        .await
        .unwrap();
    assert_eq!(withdrawn.current_key_id, "k3");
    let after = loyalty_token(&relay, &relay_dir, &customer).await.unwrap();
    assert_eq!(loyalty::peek(&after).unwrap().0.key, "k3");
    until_refused(&tablet, &newer, "key k2, withdrawn on").await;
    until_accepted(&tablet, &after, "k3").await;

    // A key that was never published: 404, nothing changes.
    let missing = refusal(admin.post("/v1/loyalty/keys/k77/withdraw"))
        .await
        .unwrap();
    assert_eq!((missing.status, missing.code()), (404, ErrorCode::NotFound));
    assert_eq!(scan(&tablet, &after).unwrap(), customer);
}
