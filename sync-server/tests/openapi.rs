//! The served API description against the relay that serves it, started in-process on port 0:
//! `docs/openapi.yaml` is what the relay serves, every documented operation is routed, every
//! answer the relay gives is one the description lists, and the schema is as strict as the
//! relay (an empty event id is refused by both).

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

use aisle_relay::{Config, Relay};
use serde_json::Value;
use std::path::PathBuf;

fn config(data_dir: PathBuf) -> Config {
    Config {
        admin_token: Some("admin-secret".to_string()),
        ..Config::local(data_dir)
    }
}

fn docs_copy() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.yaml")
}

#[tokio::test]
async fn the_served_description_matches_what_the_relay_does() {
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(config(dir.path().join("relay")))
        .await
        .unwrap();
    // The workspace builds rustls with ring only, and reqwest's own default needs a provider
    // chosen for the process.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();

    // The checked-in copy is what the relay serves (AISLE_UPDATE_OPENAPI=1 rewrites it).
    let yaml = http
        .get(format!("{}/v1/openapi.yaml", relay.url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    if std::env::var_os("AISLE_UPDATE_OPENAPI").is_some() {
        std::fs::write(docs_copy(), &yaml).unwrap();
    }
    let checked_in = std::fs::read_to_string(docs_copy()).unwrap_or_default();
    assert!(
        checked_in == yaml,
        "docs/openapi.yaml differs from what the relay serves; rerun this test with \
         AISLE_UPDATE_OPENAPI=1 to rewrite it"
    );

    let description: Value = http
        .get(format!("{}/v1/openapi.json", relay.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = description["paths"].as_object().unwrap();
    assert!(paths.len() >= 20, "only {} paths documented", paths.len());
    let mut checked = 0;
    for (path, operations) in paths {
        for (method, operation) in operations.as_object().unwrap() {
            let url = format!(
                "{}{}",
                relay.url(),
                path.replace("{id}", "x").replace("{product}", "x")
            );
            // No credentials and no body: every operation must exist and answer with one of
            // the statuses it documents (a body it cannot read counts as a bad request).
            let request = match method.as_str() {
                "get" => http.get(&url),
                "post" => http.post(&url),
                other => panic!("{path}: unexpected method {other}"),
            };
            let status = request.send().await.unwrap().status().as_u16();
            let documented: Vec<u16> = operation["responses"]
                .as_object()
                .unwrap()
                .keys()
                .map(|k| k.parse().unwrap())
                .collect();
            let takes_body = operation.get("requestBody").is_some();
            let body_refused = takes_body && matches!(status, 400 | 415 | 422);
            let upgrade_refused = path == "/v1/sync" && matches!(status, 400 | 426);
            assert!(
                documented.contains(&status) || body_refused || upgrade_refused,
                "{method} {path} answered {status}, documented: {documented:?}"
            );
            assert!(
                status != 404 || documented.contains(&404) && path.contains('{'),
                "{method} {path} is documented but not routed"
            );
            assert_ne!(
                status, 405,
                "{method} {path} is documented with another method"
            );
            checked += 1;
        }
    }
    assert!(checked >= 22, "checked {checked} operations");

    // The schema is as strict as the relay: an event id must not be empty.
    let event = &description["components"]["schemas"]["Event"];
    // Flattened into its kind: the event's own fields are one part of an allOf.
    let id = event["allOf"]
        .as_array()
        .and_then(|parts| parts.iter().find_map(|p| p["properties"].get("id")))
        .unwrap_or(&Value::Null);
    assert_eq!(id["minLength"], 1, "{event}");
    let body = br#"{"events":[{"id":"","type":"wishlist_added","customer":{"loyalty_id":"AL001000009"},"product":"TOP-0001"}]}"#;
    let secret = std::fs::read_to_string(dir.path().join("relay/ingest-secret")).unwrap();
    let signature = {
        use hmac::Mac;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.trim().as_bytes()).unwrap();
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
    };
    let refused = http
        .post(format!("{}/v1/events", relay.url()))
        .header("x-aisle-tenant", "demo")
        .header("x-aisle-signature", format!("sha256={signature}"))
        .header("content-type", "application/json")
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 422);
    let rejection: aisle_core::api::BatchRejection = refused.json().await.unwrap();
    assert_eq!(rejection.index, 0);
    assert!(rejection.message.contains("id"), "{}", rejection.message);

    relay.stop().await.unwrap();
}
