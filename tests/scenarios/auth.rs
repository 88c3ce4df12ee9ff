//! Access control at the relay, tested over real connections: revoked tokens are refused at
//! once (also on an open connection), a tablet cannot read or write another store's
//! inventory, a kiosk cannot read customers (their notes), and garbage frames close only the
//! connection that sent them.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

use aisle_core::Store;
use aisle_core::api::{EnrolledDevice, FetchedCustomer};
use aisle_core::model::{ApiError, CustomerSummary, ErrorCode};
use aisle_core::protocol::{ClientFrame, DocChanges, DocHeads, ServerFrame};
use aisle_tablet::{relay_client, sync_client};
use aisle_tests::{Api, Relay, refusal, reply};
use futures_util::{SinkExt, StreamExt};
use std::path::Path;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

type Socket = aisle_tests::SyncSocket;

/// Enrols a device and returns its token.
async fn token(
    relay: &Relay,
    relay_dir: &Path,
    dir: &Path,
    (store, role, name): (&str, &str, &str),
) -> String {
    let db = Store::open(dir.join(format!("{name}.sqlite3"))).unwrap();
    aisle_tests::enrol_device(relay, relay_dir, (store, role, name), db.actor()).await
}

async fn connect(
    relay: &Relay,
    token: &str,
) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
    relay.sync_socket(token).await
}

/// Sends Hello and reads frames until the backlog is done.
async fn hello(socket: &mut Socket) {
    socket
        .send(Message::Binary(
            ClientFrame::Hello {
                cursor: 0,
                feed: String::new(),
            }
            .encode()
            .into(),
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

/// Sends Hello from the start of the feed and returns the documents of the whole backlog.
async fn backlog_docs(socket: &mut Socket) -> Vec<String> {
    socket
        .send(Message::Binary(
            ClientFrame::Hello {
                cursor: 0,
                feed: String::new(),
            }
            .encode()
            .into(),
        ))
        .await
        .unwrap();
    let mut docs = Vec::new();
    loop {
        match next(socket).await {
            Some(ServerFrame::Feed { items, done, .. }) => {
                docs.extend(items.into_iter().map(|i| i.doc));
                if done {
                    return docs;
                }
            }
            Some(_) => {}
            None => panic!("closed during the backlog"),
        }
    }
}

/// Pulls one document from `heads` and returns the relay's answer for it.
async fn pulled(socket: &mut Socket, doc: &str, heads: Vec<[u8; 32]>) -> DocChanges {
    let pull = ClientFrame::Pull {
        docs: vec![DocHeads {
            doc: doc.to_string(),
            heads,
        }],
    };
    socket
        .send(Message::Binary(pull.encode().into()))
        .await
        .unwrap();
    loop {
        match next(socket).await {
            Some(ServerFrame::Changes { mut docs, .. }) if !docs.is_empty() => {
                return docs.remove(0);
            }
            // A customer pulled from no heads comes whole.
            Some(ServerFrame::CustomerSnapshots { mut docs }) if !docs.is_empty() => {
                let snapshot = docs.remove(0);
                return DocChanges {
                    doc: snapshot.doc,
                    heads: snapshot.heads,
                    changes: snapshot.bytes,
                };
            }
            Some(_) => {}
            None => panic!("closed before answering the pull"),
        }
    }
}

/// Reads until the relay closes, returning the error it gave.
async fn closed_with(socket: &mut Socket) -> ApiError {
    let mut reason = None;
    while let Some(frame) = next(socket).await {
        if let ServerFrame::Error { code, message } = frame {
            reason = Some(ApiError { code, message });
        }
    }
    reason.expect("the relay said why it closed the connection")
}

/// The device the relay enrolled under `name`, as the admin API lists it.
async fn device(admin: &Api, name: &str) -> EnrolledDevice {
    let devices: Vec<EnrolledDevice> = reply(admin.get("/v1/admin/devices")).await.unwrap();
    devices.into_iter().find(|d| d.name == name).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_devices_are_refused_at_once() {
    let (dir, relay_dir, relay) = aisle_tests::demo_relay(20);
    let token = token(
        &relay,
        &relay_dir,
        dir.path(),
        ("LDN-CG", "associate", "t1"),
    )
    .await;
    let mut socket = connect(&relay, &token).await.unwrap();
    hello(&mut socket).await;

    // Revoke through the admin API: the open connection closes with a reason.
    let admin = Api::admin(&relay, &relay_dir).unwrap();
    let t1 = device(&admin, "t1").await;
    assert!(!t1.revoked);
    let started = std::time::Instant::now();
    reply::<()>(admin.post(&format!("/v1/admin/devices/{}/revoke", t1.id)))
        .await
        .unwrap();
    assert_eq!(closed_with(&mut socket).await.code, ErrorCode::Revoked);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "closed at once, took {:?}",
        started.elapsed()
    );
    assert!(device(&admin, "t1").await.revoked);
    // New connections and HTTP calls with the token are refused.
    match connect(&relay, &token).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 401);
        }
        other => panic!("a revoked device connected: {other:?}"),
    }
    let device_api = Api::new(&relay, &token);
    let lookup = refusal(device_api.get("/v1/customers/search?q=a"))
        .await
        .unwrap();
    assert_eq!((lookup.status, lookup.code()), (401, ErrorCode::Revoked));
    // The admin API itself wants the admin token.
    let forged = refusal(device_api.get("/v1/admin/devices")).await.unwrap();
    assert_eq!(
        (forged.status, forged.code()),
        (401, ErrorCode::Unauthorized)
    );

    // Revoking from the admin command (another process) closes connections too.
    let token2 = self::token(
        &relay,
        &relay_dir,
        dir.path(),
        ("LDN-CG", "associate", "t2"),
    )
    .await;
    let mut socket = connect(&relay, &token2).await.unwrap();
    hello(&mut socket).await;
    let t2 = device(&admin, "t2").await;
    let out = aisle_tests::admin_command(&relay_dir)
        .unwrap()
        .args(["admin", "revoke", &t2.id])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(closed_with(&mut socket).await.code, ErrorCode::Revoked);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_and_roles_are_kept_apart() {
    let (dir, relay_dir, relay) = aisle_tests::demo_relay(30);
    let a = token(&relay, &relay_dir, dir.path(), ("LDN-CG", "associate", "a")).await;

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
    let closed = closed_with(&mut socket).await;
    assert_eq!(closed.code, ErrorCode::Forbidden);
    assert!(closed.message.contains("inventory/MAN-AR"), "{closed}");

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
    let closed = closed_with(&mut socket).await;
    assert_eq!(closed.code, ErrorCode::Forbidden);
    assert!(
        closed.message.contains("write inventory/MAN-AR"),
        "{closed}"
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
    let closed = closed_with(&mut socket).await;
    assert_eq!(closed.code, ErrorCode::Forbidden);
    assert!(closed.message.contains("write catalog"), "{closed}");

    // A kiosk receives no customers in its backlog and cannot ask for one.
    let kiosk = token(&relay, &relay_dir, dir.path(), ("LDN-CG", "kiosk", "k")).await;
    let mut socket = connect(&relay, &kiosk).await.unwrap();
    let mut docs = backlog_docs(&mut socket).await;
    // The catalog scope only: the catalog, the published recommendations and the loyalty
    // keys (the kiosk verifies codes with them).
    docs.sort();
    assert_eq!(docs, ["catalog", "loyalty", "recommendations"]);
    let lookup = refusal(Api::new(&relay, &kiosk).get("/v1/customers/search?q=a"))
        .await
        .unwrap();
    assert_eq!((lookup.status, lookup.code()), (403, ErrorCode::Forbidden));
    let found: Vec<CustomerSummary> = reply(Api::new(&relay, &a).get("/v1/customers/search?q=a"))
        .await
        .unwrap();
    let customer = found[0].id.clone();
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
    let closed = closed_with(&mut socket).await;
    assert_eq!(closed.code, ErrorCode::Forbidden);
    assert!(closed.message.contains("read customer/"), "{closed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_frames_close_only_their_connection() {
    let (dir, relay_dir, relay) = aisle_tests::demo_relay(10);
    let token = token(&relay, &relay_dir, dir.path(), ("LDN-CG", "associate", "g")).await;
    let mut bystander = connect(&relay, &token).await.unwrap();
    hello(&mut bystander).await;

    let hello_frame = ClientFrame::Hello {
        cursor: 0,
        feed: String::new(),
    }
    .encode();
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
        assert_eq!(reason.code, ErrorCode::InvalidInput, "{bytes:?} → {reason}");
    }
    // Text frames and a missing Hello are refused as well.
    let mut socket = connect(&relay, &token).await.unwrap();
    socket.send(Message::Text("hello?".into())).await.unwrap();
    let reason = closed_with(&mut socket).await;
    assert_eq!(reason.code, ErrorCode::InvalidInput, "{reason}");
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
    // Refused on its own: the connection stays up for the device's other documents.
    let refusal = loop {
        match next(&mut socket).await {
            Some(ServerFrame::Refused { mut docs }) => break docs.remove(0),
            Some(_) => {}
            None => panic!("the relay closed instead of refusing the document"),
        }
    };
    assert_eq!(refusal.doc, "inventory/LDN-CG");
    assert_eq!(refusal.code, ErrorCode::InvalidInput, "{refusal:?}");
    assert!(refusal.message.contains("do not load"), "{refusal:?}");

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
    let health = relay
        .http()
        .get(relay.url("/healthz"))
        .send()
        .await
        .unwrap();
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
        ("LDN-CG", "associate", "assoc"),
    )
    .await;
    let manager = token(
        &relay,
        &relay_dir,
        data.path(),
        ("LDN-CG", "manager", "boss"),
    )
    .await;
    let kiosk = token(
        &relay,
        &relay_dir,
        data.path(),
        ("LDN-CG", "kiosk", "kiosk"),
    )
    .await;
    let other = token(
        &relay,
        &relay_dir,
        data.path(),
        ("MAN-AR", "manager", "leeds"),
    )
    .await;
    let product = aisle_relay::domain::demo::DemoData::generate(
        aisle_relay::domain::demo::DemoConfig::new(20, 0),
    )
    .products[0]
        .sku
        .clone();

    let config = |token: &str| sync_client::SyncConfig::new(relay.address(), token);
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
    let path = format!("/v1/stock/{product}");
    let by_kiosk = refusal(Api::new(&relay, &kiosk).get(&path)).await.unwrap();
    assert_eq!(by_kiosk.code(), ErrorCode::Forbidden);

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
    let by_associate = refusal(Api::new(&relay, &associate).get("/v1/store/devices"))
        .await
        .unwrap();
    assert_eq!(by_associate.code(), ErrorCode::Forbidden);
    let leeds = relay_client::store_devices(&config(&other)).await.unwrap();
    assert_eq!(leeds.len(), 1);
    drop(session);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_naming_one_document_many_times_is_answered_once() {
    let (dir, relay_dir, relay) = aisle_tests::demo_relay(20);
    let token = token(&relay, &relay_dir, dir.path(), ("LDN-CG", "associate", "p")).await;
    let mut socket = connect(&relay, &token).await.unwrap();
    hello(&mut socket).await;
    let pull = ClientFrame::Pull {
        docs: (0..500)
            .map(|_| DocHeads {
                doc: "catalog".into(),
                heads: vec![],
            })
            .collect(),
    };
    socket
        .send(Message::Binary(pull.encode().into()))
        .await
        .unwrap();
    let mut answered = 0;
    loop {
        // Whatever else the answer holds comes within a second of its first part.
        let wait = Duration::from_secs(if answered == 0 { 10 } else { 1 });
        match tokio::time::timeout(wait, next(&mut socket)).await {
            Ok(Some(ServerFrame::Changes { docs, cursor: None })) => {
                answered += docs.iter().filter(|d| d.doc == "catalog").count();
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    assert_eq!(answered, 1, "the catalog was sent {answered} times");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_device_may_hold_only_a_few_sync_connections() {
    let (dir, relay_dir, relay) = aisle_tests::demo_relay(10);
    let token = token(&relay, &relay_dir, dir.path(), ("LDN-CG", "associate", "s")).await;
    let mut open = Vec::new();
    for _ in 0..4 {
        open.push(connect(&relay, &token).await.unwrap());
    }
    match connect(&relay, &token).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 503);
        }
        other => panic!(
            "a fifth connection was not refused: {:?}",
            other.map(|_| ())
        ),
    }
    // Closing one makes room again.
    drop(open.pop());
    let started = std::time::Instant::now();
    while connect(&relay, &token).await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no room after a close"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_stores_customers_are_fetched_by_identification_only_and_not_too_often() {
    let (dir, relay_dir, relay) = aisle_tests::demo_relay(40);
    let a = token(&relay, &relay_dir, dir.path(), ("LDN-CG", "associate", "a")).await;
    let b = token(&relay, &relay_dir, dir.path(), ("LDN-CG", "associate", "b")).await;
    let (tablet_a, tablet_b) = (Api::new(&relay, &a), Api::new(&relay, &b));
    let walk_in = aisle_tests::demo_customer(40, |c| c.home_store.as_str() != "LDN-CG");

    // Search answers with the tablet's own store's customers only.
    for q in ["a", "e", "o", walk_in.customer.name.as_str()] {
        let found: Vec<CustomerSummary> =
            reply(tablet_a.get("/v1/customers/search").query(&[("q", q)]))
                .await
                .unwrap();
        assert!(
            found.iter().all(|c| c.home_store.as_str() == "LDN-CG"),
            "search for {q:?} answered other stores' customers"
        );
    }

    // By loyalty number (the walk-in's card): fetched.
    let loyalty = walk_in.customer.loyalty_id.as_str().to_string();
    let fetched: FetchedCustomer = reply(
        tablet_a
            .get("/v1/customers/lookup")
            .query(&[("loyalty", &loyalty)]),
    )
    .await
    .unwrap();
    let id = fetched.doc.trim_start_matches("customer/").to_string();
    // Once fetched, by id too; a tablet that never identified them may not enumerate ids.
    reply::<FetchedCustomer>(tablet_a.get("/v1/customers/lookup").query(&[("id", &id)]))
        .await
        .unwrap();
    let by_id = refusal(tablet_b.get("/v1/customers/lookup").query(&[("id", &id)]))
        .await
        .unwrap();
    assert_eq!((by_id.status, by_id.code()), (403, ErrorCode::Forbidden));
    // By the signed code on their phone: fetched.
    let customer = aisle_core::model::CustomerId::parse(id.clone()).unwrap();
    let code = aisle_tests::loyalty_token(&relay, &relay_dir, &customer)
        .await
        .unwrap();
    let by_code: FetchedCustomer = reply(
        tablet_b
            .get("/v1/customers/lookup")
            .query(&[("token", &code)]),
    )
    .await
    .unwrap();
    assert_eq!(by_code.doc, fetched.doc);
    let forged = format!("{}x", &code[..code.len() - 1]);
    let forged = refusal(
        tablet_b
            .get("/v1/customers/lookup")
            .query(&[("token", &forged)]),
    )
    .await
    .unwrap();
    assert_eq!(forged.code(), ErrorCode::InvalidInput, "{forged:?}");

    // Walking through loyalty numbers is slowed: after a burst, 429.
    let limited = aisle_tests::first_rate_limited(40, None, |serial| {
        let number = aisle_core::model::LoyaltyId::from_serial(500_000 + serial);
        tablet_b
            .get("/v1/customers/lookup")
            .query(&[("loyalty", number.as_str())])
    })
    .await;
    let limited = limited.expect("40 lookups in a row were all answered");
    assert!(limited <= 20, "limited only after {limited} lookups");
}

/// A modified app naming a changefeed of its own in `Hello` (as after a restore) gets the whole
/// feed again, and still only of its own scopes; a feed name that is not one closes the
/// connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_feed_name_gets_the_device_only_its_own_scopes_again() {
    let (dir, relay_dir, relay) = aisle_tests::demo_relay(30);
    let a = token(&relay, &relay_dir, dir.path(), ("LDN-CG", "associate", "a")).await;
    let mut socket = connect(&relay, &a).await.unwrap();
    let forged = ClientFrame::Hello {
        cursor: i64::MAX / 2,
        feed: "a-feed-of-my-own".into(),
    };
    socket
        .send(Message::Binary(forged.encode().into()))
        .await
        .unwrap();
    let mut listed = Vec::new();
    let mut relay_feed = None;
    loop {
        match next(&mut socket).await {
            Some(ServerFrame::Welcome { feed, .. }) => relay_feed = Some(feed),
            Some(ServerFrame::Feed { items, done, .. }) => {
                listed.extend(items.into_iter().map(|i| i.doc));
                if done {
                    break;
                }
            }
            Some(_) => {}
            None => panic!("closed during the backlog"),
        }
    }
    assert_ne!(relay_feed.as_deref(), Some("a-feed-of-my-own"));
    assert!(listed.iter().any(|d| d == "inventory/LDN-CG"), "{listed:?}");
    assert!(listed.iter().any(|d| d.starts_with("customer/")));
    let store = Store::open(aisle_tests::relay_documents(&relay_dir)).unwrap();
    for doc in &listed {
        assert!(
            !doc.starts_with("inventory/") || doc == "inventory/LDN-CG",
            "another store's inventory listed: {doc}"
        );
        if let Some(id) = doc.strip_prefix("customer/") {
            let customer = aisle_core::model::CustomerId::parse(id).unwrap();
            assert_eq!(
                store
                    .customer(&customer)
                    .unwrap()
                    .identity
                    .home_store
                    .as_str(),
                "LDN-CG",
                "another store's customer listed: {doc}"
            );
        }
    }

    // A feed name that is not one (too long) closes the connection as a bad frame.
    let mut socket = connect(&relay, &a).await.unwrap();
    let bad = ClientFrame::Hello {
        cursor: 0,
        feed: "x".repeat(10_000),
    };
    socket
        .send(Message::Binary(bad.encode().into()))
        .await
        .unwrap();
    assert_eq!(closed_with(&mut socket).await.code, ErrorCode::InvalidInput);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_customer_document_that_does_not_fit_its_schema_is_refused() {
    use aisle_core::automerge::{AutoCommit, ROOT, transaction::Transactable};
    use aisle_core::protocol::{heads_from_wire, heads_to_wire};

    let (dir, relay_dir, relay) = aisle_tests::demo_relay(10);
    let token = token(&relay, &relay_dir, dir.path(), ("LDN-CG", "associate", "s")).await;
    // The device's own actor: the relay takes only changes the device made itself.
    let actor = Store::open(dir.path().join("s.sqlite3"))
        .unwrap()
        .actor()
        .clone();
    let mut socket = connect(&relay, &token).await.unwrap();
    let customer = backlog_docs(&mut socket)
        .await
        .into_iter()
        .find(|doc| doc.starts_with("customer/"))
        .expect("the store has customers");
    let stored = pulled(&mut socket, &customer, vec![]).await;

    // A modified app writes a field the projections never read with the wrong type: the
    // notes become a string.
    let mut doc = AutoCommit::load(&stored.changes).unwrap().with_actor(actor);
    doc.put(ROOT, "notes", "scribbled over").unwrap();
    let changes = doc.save_after(&heads_from_wire(&stored.heads));
    let push = ClientFrame::Push {
        docs: vec![DocChanges {
            doc: customer.clone(),
            heads: heads_to_wire(&doc.get_heads()),
            changes,
        }],
    };
    socket
        .send(Message::Binary(push.encode().into()))
        .await
        .unwrap();
    let refusal = loop {
        match next(&mut socket).await {
            Some(ServerFrame::Refused { mut docs }) => break docs.remove(0),
            Some(ServerFrame::Ack { docs }) if !docs.is_empty() => {
                panic!("the relay took a customer whose notes are a string")
            }
            Some(_) => {}
            None => panic!("the relay closed instead of refusing the document"),
        }
    };
    assert_eq!(refusal.doc, customer);
    assert_eq!(refusal.code, ErrorCode::InvalidInput, "{refusal:?}");
    assert!(
        refusal
            .message
            .contains("do not make a customer document this relay reads"),
        "{refusal:?}"
    );

    // The relay still holds the document as it was.
    let now = pulled(&mut socket, &customer, stored.heads.clone()).await;
    assert_eq!(now.heads, stored.heads);
    assert!(now.changes.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_that_holds_none_of_a_customer_gets_it_whole_with_its_fields() {
    use aisle_core::automerge::AutoCommit;
    use aisle_core::protocol::heads_from_wire;
    use aisle_core::store::snapshots;

    let (dir, relay_dir, relay) = aisle_tests::demo_relay(10);
    let token = token(&relay, &relay_dir, dir.path(), ("LDN-CG", "associate", "w")).await;
    let mut socket = connect(&relay, &token).await.unwrap();
    let customer = backlog_docs(&mut socket)
        .await
        .into_iter()
        .find(|doc| doc.starts_with("customer/"))
        .expect("the store has customers");
    let pull = |heads: Vec<[u8; 32]>| ClientFrame::Pull {
        docs: vec![DocHeads {
            doc: customer.clone(),
            heads,
        }],
    };
    socket
        .send(Message::Binary(pull(vec![]).encode().into()))
        .await
        .unwrap();
    let snapshot = loop {
        match next(&mut socket).await {
            Some(ServerFrame::CustomerSnapshots { mut docs }) => break docs.remove(0),
            Some(ServerFrame::Changes { docs, .. }) if !docs.is_empty() => {
                panic!("a customer pulled from no heads came as changes")
            }
            Some(_) => {}
            None => panic!("closed before answering the pull"),
        }
    };
    assert_eq!(snapshot.doc, customer);
    let mut doc = AutoCommit::load(&snapshot.bytes).unwrap();
    assert_eq!(doc.get_heads(), heads_from_wire(&snapshot.heads));
    let fields = snapshots::decode_indexed(&snapshot.indexed).expect("fields this build reads");
    assert_eq!(format!("customer/{}", fields.id), customer);

    // From heads it has, it gets what it lacks as changes: here nothing.
    let again = pulled(&mut socket, &customer, snapshot.heads.clone()).await;
    assert!(again.changes.is_empty());
    assert_eq!(again.heads, snapshot.heads);
}
