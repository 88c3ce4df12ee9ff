//! Access control at the relay, tested over real connections: revoked tokens are refused at
//! once (also on an open connection), a tablet cannot read or write another store's
//! inventory, a kiosk cannot read customers (their notes), and garbage frames close only the
//! connection that sent them.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

use aisle_core::Store;
use aisle_core::protocol::{ClientFrame, DocChanges, DocHeads, ServerFrame};
use aisle_tablet::{relay_client, sync_client};
use aisle_tests::{Relay, enrolment_code};
use futures_util::{SinkExt, StreamExt};
use std::path::Path;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Enrols a device and returns its token.
async fn token(
    relay: &Relay,
    relay_dir: &Path,
    dir: &Path,
    name: &str,
    store: &str,
    role: &str,
) -> String {
    let code = enrolment_code(relay_dir, store, role, name).unwrap();
    let db = Store::open(dir.join(format!("{name}.sqlite3"))).unwrap();
    relay_client::enrol(&relay.url(""), &code, db.actor())
        .await
        .unwrap()
        .token
}

async fn connect(
    relay: &Relay,
    token: &str,
) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
    let mut request = format!("ws://{}/v1/sync", relay.addr)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(s, _)| s)
}

/// Sends Hello and reads frames until the backlog is done.
async fn hello(socket: &mut Socket) {
    socket
        .send(Message::Binary(
            ClientFrame::Hello { cursor: 0 }.encode().into(),
        ))
        .await
        .unwrap();
    loop {
        match next(socket).await {
            Some(ServerFrame::Feed { done: true, .. }) => return,
            Some(_) => {}
            None => panic!("closed during the backlog"),
        }
    }
}

/// The next server frame, or None once the connection closed.
async fn next(socket: &mut Socket) -> Option<ServerFrame> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .ok()??;
        match message {
            Ok(Message::Binary(bytes)) => return Some(ServerFrame::decode(&bytes).unwrap()),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// Reads until the relay closes, returning the error message it gave, if any.
async fn closed_with(socket: &mut Socket) -> String {
    let mut reason = String::new();
    while let Some(frame) = next(socket).await {
        if let ServerFrame::Error { message, .. } = frame {
            reason = message;
        }
    }
    reason
}

async fn admin(relay: &Relay, relay_dir: &Path) -> (reqwest::Client, String) {
    let token = std::fs::read_to_string(relay_dir.join("admin-token")).unwrap();
    let _ = relay;
    (reqwest::Client::new(), token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_devices_are_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let relay_dir = dir.path().join("relay");
    let relay = Relay::start(&relay_dir, &["--demo", "--demo-customers", "20"]).unwrap();
    let token = token(&relay, &relay_dir, dir.path(), "t1", "LDN-CG", "associate").await;
    let mut socket = connect(&relay, &token).await.unwrap();
    hello(&mut socket).await;

    // Revoke through the admin API: the open connection closes with a reason.
    let (http, admin_token) = admin(&relay, &relay_dir).await;
    let devices: serde_json::Value = http
        .get(relay.url("/v1/admin/devices"))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = devices[0]["id"].as_str().unwrap().to_string();
    let started = std::time::Instant::now();
    let status = http
        .post(relay.url(&format!("/v1/admin/devices/{id}/revoke")))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 204);
    assert!(closed_with(&mut socket).await.contains("revoked"));
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "closed at once, took {:?}",
        started.elapsed()
    );
    // New connections and HTTP calls with the token are refused.
    let refused = connect(&relay, &token).await.unwrap_err().to_string();
    assert!(refused.contains("401"), "{refused}");
    let lookup = http
        .get(relay.url("/v1/customers/search?q=a"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(lookup.status(), 401);
    // The admin API itself wants the admin token.
    let forged = http
        .get(relay.url("/v1/admin/devices"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);

    // Revoking from the admin command (another process) closes connections too.
    let token2 = self::token(&relay, &relay_dir, dir.path(), "t2", "LDN-CG", "associate").await;
    let mut socket = connect(&relay, &token2).await.unwrap();
    hello(&mut socket).await;
    let devices: serde_json::Value = http
        .get(relay.url("/v1/admin/devices"))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id2 = devices[1]["id"].as_str().unwrap().to_string();
    let out = std::process::Command::new(aisle_tests::relay_binary().unwrap())
        .args(["admin", "revoke", &id2, "--data-dir"])
        .arg(&relay_dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(closed_with(&mut socket).await.contains("revoked"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_and_roles_are_kept_apart() {
    let dir = tempfile::tempdir().unwrap();
    let relay_dir = dir.path().join("relay");
    let relay = Relay::start(&relay_dir, &["--demo", "--demo-customers", "30"]).unwrap();
    let a = token(&relay, &relay_dir, dir.path(), "a", "LDN-CG", "associate").await;

    // Reading another store's inventory closes the connection.
    let mut socket = connect(&relay, &a).await.unwrap();
    hello(&mut socket).await;
    let pull = ClientFrame::Pull {
        docs: vec![DocHeads {
            doc: "inventory/MAN-AR".into(),
            heads: vec![],
        }],
    };
    socket
        .send(Message::Binary(pull.encode().into()))
        .await
        .unwrap();
    assert!(
        closed_with(&mut socket)
            .await
            .contains("may not read inventory/MAN-AR")
    );

    // So does writing to it, and nothing is stored.
    let mut socket = connect(&relay, &a).await.unwrap();
    hello(&mut socket).await;
    let push = ClientFrame::Push {
        docs: vec![DocChanges {
            doc: "inventory/MAN-AR".into(),
            heads: vec![],
            changes: vec![1, 2, 3],
        }],
    };
    socket
        .send(Message::Binary(push.encode().into()))
        .await
        .unwrap();
    assert!(
        closed_with(&mut socket)
            .await
            .contains("may not write inventory/MAN-AR")
    );

    // And writing the server-owned catalog.
    let mut socket = connect(&relay, &a).await.unwrap();
    hello(&mut socket).await;
    let push = ClientFrame::Push {
        docs: vec![DocChanges {
            doc: "catalog".into(),
            heads: vec![],
            changes: vec![],
        }],
    };
    socket
        .send(Message::Binary(push.encode().into()))
        .await
        .unwrap();
    assert!(
        closed_with(&mut socket)
            .await
            .contains("may not write catalog")
    );

    // A kiosk receives no customers in its backlog and cannot ask for one.
    let kiosk = token(&relay, &relay_dir, dir.path(), "k", "LDN-CG", "kiosk").await;
    let mut socket = connect(&relay, &kiosk).await.unwrap();
    socket
        .send(Message::Binary(
            ClientFrame::Hello { cursor: 0 }.encode().into(),
        ))
        .await
        .unwrap();
    let mut docs = Vec::new();
    loop {
        if let ServerFrame::Feed { items, done, .. } = next(&mut socket).await.unwrap() {
            docs.extend(items.into_iter().map(|i| i.doc));
            if done {
                break;
            }
        }
    }
    // The catalog scope only: the catalog, the published recommendations and the loyalty
    // keys (the kiosk verifies codes with them).
    docs.sort();
    assert_eq!(docs, ["catalog", "loyalty", "recommendations"]);
    let http = reqwest::Client::new();
    let lookup = http
        .get(relay.url("/v1/customers/search?q=a"))
        .bearer_auth(&kiosk)
        .send()
        .await
        .unwrap();
    assert_eq!(lookup.status(), 403);
    let customer = http
        .get(relay.url("/v1/customers/search?q=a"))
        .bearer_auth(&a)
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap()[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let pull = ClientFrame::Pull {
        docs: vec![DocHeads {
            doc: format!("customer/{customer}"),
            heads: vec![],
        }],
    };
    socket
        .send(Message::Binary(pull.encode().into()))
        .await
        .unwrap();
    assert!(
        closed_with(&mut socket)
            .await
            .contains("may not read customer/")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_frames_close_only_their_connection() {
    let dir = tempfile::tempdir().unwrap();
    let relay_dir = dir.path().join("relay");
    let relay = Relay::start(&relay_dir, &["--demo", "--demo-customers", "10"]).unwrap();
    let token = token(&relay, &relay_dir, dir.path(), "g", "LDN-CG", "associate").await;
    let mut bystander = connect(&relay, &token).await.unwrap();
    hello(&mut bystander).await;

    let hello_frame = ClientFrame::Hello { cursor: 0 }.encode();
    let garbage: Vec<Vec<u8>> = vec![
        vec![],
        vec![0xff; 7],
        hello_frame[..hello_frame.len() - 1].to_vec(),
        [&[0u8, 9][..], &hello_frame[2..]].concat(),
        b"\x00\x01\x01\xff\xff\xff\xff\x0f".to_vec(),
    ];
    for bytes in garbage {
        let mut socket = connect(&relay, &token).await.unwrap();
        hello(&mut socket).await;
        socket
            .send(Message::Binary(bytes.clone().into()))
            .await
            .unwrap();
        let reason = closed_with(&mut socket).await;
        assert!(reason.starts_with("frame"), "{bytes:?} → {reason}");
    }
    // Text frames and a missing Hello are refused as well.
    let mut socket = connect(&relay, &token).await.unwrap();
    socket.send(Message::Text("hello?".into())).await.unwrap();
    assert!(closed_with(&mut socket).await.contains("text frames"));
    // Changes that do not load are rejected and change nothing.
    let mut socket = connect(&relay, &token).await.unwrap();
    hello(&mut socket).await;
    let push = ClientFrame::Push {
        docs: vec![DocChanges {
            doc: "inventory/LDN-CG".into(),
            heads: vec![[3; 32]],
            changes: vec![0x85, 0x6f, 0x4a, 0x83, 1, 2, 3],
        }],
    };
    socket
        .send(Message::Binary(push.encode().into()))
        .await
        .unwrap();
    let reason = closed_with(&mut socket).await;
    assert!(reason.contains("do not load"), "{reason}");

    // The bystander's connection is unaffected, and so is the relay.
    bystander
        .send(Message::Binary(
            ClientFrame::Pull {
                docs: vec![DocHeads {
                    doc: "catalog".into(),
                    heads: vec![],
                }],
            }
            .encode()
            .into(),
        ))
        .await
        .unwrap();
    assert!(matches!(
        next(&mut bystander).await,
        Some(ServerFrame::Changes { .. })
    ));
    let health = reqwest::get(relay.url("/healthz")).await.unwrap();
    assert!(health.status().is_success());
}

#[tokio::test(flavor = "multi_thread")]
async fn other_stores_stock_is_counts_only_and_the_tablet_list_is_for_managers() {
    let data = tempfile::tempdir().unwrap();
    let relay_dir = data.path().join("relay");
    let relay = Relay::start(&relay_dir, &["--demo", "--demo-customers", "20"]).unwrap();
    let associate = token(
        &relay,
        &relay_dir,
        data.path(),
        "assoc",
        "LDN-CG",
        "associate",
    )
    .await;
    let manager = token(&relay, &relay_dir, data.path(), "boss", "LDN-CG", "manager").await;
    let kiosk = token(&relay, &relay_dir, data.path(), "kiosk", "LDN-CG", "kiosk").await;
    let other = token(
        &relay,
        &relay_dir,
        data.path(),
        "leeds",
        "MAN-AR",
        "manager",
    )
    .await;
    let product = aisle_relay::domain::demo::DemoData::generate(
        aisle_relay::domain::demo::DemoConfig::new(20, 0),
    )
    .products[0]
        .sku
        .clone();

    let config = |token: &str| sync_client::SyncConfig::new(relay.url(""), token);
    let stock = relay_client::stock_by_store(&config(&associate), &product)
        .await
        .unwrap();
    assert_eq!(stock.len(), 5, "every store");
    assert_eq!(stock[0].store.as_str(), "LDN-CG", "nearest (its own) first");
    assert!(
        stock
            .windows(2)
            .all(|w| w[0].distance_km <= w[1].distance_km)
    );
    assert!(stock.iter().all(|s| !s.available.is_empty()));
    assert!(matches!(
        relay_client::stock_by_store(&config(&kiosk), &product).await,
        Err(sync_client::SyncError::Protocol(m)) if m.contains("kiosk")
    ));

    // Managers see their own store's tablets, with who is connected.
    let mut session = connect(&relay, &associate).await.unwrap();
    hello(&mut session).await;
    let devices = relay_client::store_devices(&config(&manager))
        .await
        .unwrap();
    let names: Vec<&str> = devices.iter().map(|d| d.name.as_str()).collect();
    assert!(names.contains(&"assoc") && names.contains(&"boss") && names.contains(&"kiosk"));
    assert!(
        !names.contains(&"leeds"),
        "another store's tablet: {names:?}"
    );
    let assoc = devices.iter().find(|d| d.name == "assoc").unwrap();
    assert!(assoc.online && assoc.last_seen_at.is_some());
    assert!(!devices.iter().find(|d| d.name == "boss").unwrap().online);
    assert!(
        relay_client::store_devices(&config(&associate))
            .await
            .is_err()
    );
    let leeds = relay_client::store_devices(&config(&other)).await.unwrap();
    assert_eq!(leeds.len(), 1);
    drop(session);
}
