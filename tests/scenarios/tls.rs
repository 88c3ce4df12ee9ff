//! TLS between tablets and a real relay process: a tablet refuses a relay whose certificate is
//! not the one it was enrolled with (and says why), plain HTTP goes nowhere but loopback
//! unless allowed, the relay will not serve plain HTTP beyond loopback unless told, a renewed
//! certificate is served without a restart, and behind a trusted proxy the client's address
//! is the one the proxy names.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

use aisle_core::enrolment::CertFingerprint;
use aisle_core::model::{Connection, SyncStatus};
use aisle_relay::tls::{TlsFiles, generate};
use aisle_tablet::relay_client;
use aisle_tablet::sync_client::{SyncClient, SyncConfig, SyncError};
use aisle_tests::{Api, Relay, RelayAddress, enrolment_code};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

async fn status_becomes(
    client: &SyncClient,
    what: &str,
    wanted: impl Fn(&SyncStatus) -> bool,
) -> SyncStatus {
    let mut status = client.status();
    let waited = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if wanted(&status.borrow_and_update()) {
                return;
            }
            if status.changed().await.is_err() {
                return;
            }
        }
    })
    .await;
    let now = status.borrow().clone();
    assert!(waited.is_ok() && wanted(&now), "{what}: {now:?}");
    now
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tablet_refuses_a_relay_whose_certificate_is_not_the_enrolled_one() {
    let (dir, relay_dir, relay) = aisle_tests::demo_relay(20);
    let mut tablet =
        aisle_tests::Tablet::enrol(&relay, &relay_dir, dir.path(), "tablet", "associate").await;
    let enrolled = relay.trust.unwrap();
    tablet.stop().await;

    // The relay's address now answers with another certificate authority's certificate (a
    // machine in the middle, or a relay rebuilt without its certificate).
    let addr = relay.addr;
    relay.kill9().unwrap();
    let impostor_dir = dir.path().join("impostor");
    let impostor = Relay::start_on(&impostor_dir, addr, &["--demo", "--demo-customers", "20"])
        .expect("a relay with another CA starts on the same address");
    assert_ne!(impostor.trust, Some(enrolled));

    // A change made meanwhile stays on the tablet: nothing is sent to the impostor.
    let customer = match tablet.with(|s| s.doc_ids("customer")).unwrap()[0].clone() {
        aisle_core::DocId::Customer(id) => id,
        other => panic!("not a customer: {other:?}"),
    };
    let associate = aisle_core::model::AssociateId::parse("sam.k").unwrap();
    tablet
        .with(|s| s.add_note(&customer, "prefers linen", &associate, None))
        .unwrap();
    tablet.start();
    let client = tablet.client.as_ref().unwrap();
    let refused = status_becomes(client, "the tablet refuses the impostor", |s| {
        s.connection == Connection::Untrusted
    })
    .await;
    let reason = refused.reason.unwrap_or_default();
    assert!(
        reason.contains(
            "signed neither by an authority this tablet trusts nor by the one it was enrolled with"
        ),
        "{reason}"
    );
    assert_eq!(refused.pending, 1, "the note waits on the tablet");
    assert!(refused.last_synced_at.is_none());

    // Enrolling against it with the fingerprint from a ticket of the real relay fails the
    // same way, and so does trusting the system's authorities alone.
    let code = enrolment_code(&impostor_dir, "LDN-CG", "associate", "new").unwrap();
    let actor = aisle_core::automerge::ActorId::random();
    for address in [
        RelayAddress::pinned(impostor.url(""), Some(enrolled)),
        RelayAddress::new(impostor.url("")),
    ] {
        match relay_client::enrol(&address, &code, &actor).await {
            Err(SyncError::Untrusted(reason)) => {
                assert!(reason.contains("signed neither"), "{reason}")
            }
            other => panic!("enrolled with an untrusted relay: {other:?}"),
        }
    }
    // The code is still unused: the request never reached the impostor.
    relay_client::enrol(&impostor.address(), &code, &actor)
        .await
        .expect("the code works for a tablet that trusts this relay");
}

/// This machine's address on its network (not loopback), if it has one.
fn network_address() -> Option<IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    // No packet is sent: connecting a UDP socket only picks the route.
    socket.connect("192.0.2.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_beyond_loopback_is_refused_unless_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let relay_dir = dir.path().join("relay");

    // The relay itself will not serve plain HTTP on the network unless told.
    let refused = std::process::Command::new(aisle_tests::relay_binary().unwrap())
        .args(["--listen", "0.0.0.0:0", "--data-dir"])
        .arg(&relay_dir)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("refusing to serve plain HTTP"), "{stderr}");

    // Told (a TLS-terminating proxy in front), it does, on every address.
    let relay = Relay::start_on(
        &relay_dir,
        "0.0.0.0:0".parse().unwrap(),
        &["--plaintext", "--demo", "--demo-customers", "20"],
    )
    .unwrap();
    assert!(relay.trust.is_none());
    let ip = network_address().unwrap_or(IpAddr::from([192, 0, 2, 2]));
    let remote = format!("http://{}", SocketAddr::new(ip, relay.addr.port()));
    let code = enrolment_code(&relay_dir, "LDN-CG", "associate", "lab").unwrap();
    let store = aisle_tablet::Tablet::open(dir.path().join("lab.sqlite3")).unwrap();

    // A tablet refuses to send its token or anything else there, before connecting.
    match relay_client::enrol(&RelayAddress::new(&remote), &code, store.actor()).await {
        Err(SyncError::Insecure(reason)) => {
            assert!(reason.contains("refusing plain http://"), "{reason}")
        }
        other => panic!("enrolled over plain HTTP: {other:?}"),
    }
    let enrolled = relay_client::enrol(&relay.address(), &code, store.actor())
        .await
        .expect("plain HTTP to loopback is allowed");
    let store = Arc::new(Mutex::new(store));
    let client = SyncClient::start(
        store.clone(),
        SyncConfig::new(RelayAddress::new(&remote), &enrolled.token),
    );
    let status = status_becomes(&client, "the sync client refuses plain HTTP", |s| {
        s.connection == Connection::Untrusted
    })
    .await;
    assert!(
        status
            .reason
            .unwrap_or_default()
            .contains("refusing plain http://"),
        "the reason is shown"
    );
    client.shutdown().await;
    let admin = Api::admin(&relay, &relay_dir).unwrap();
    let health: aisle_core::api::Health = aisle_tests::reply(admin.get("/healthz")).await.unwrap();
    assert_eq!(health.details.unwrap().connected_devices, 0);

    // Allowed explicitly, the same address syncs: the refusal above was the policy, not the
    // network. (Only where this machine has a network address to reach itself by.)
    if network_address().is_some() {
        let allowed = RelayAddress {
            allow_plaintext: true,
            ..RelayAddress::new(&remote)
        };
        let client = SyncClient::start(store, SyncConfig::new(allowed, &enrolled.token));
        status_becomes(&client, "the allowed plain connection syncs", |s| {
            s.connection == Connection::Online && s.last_synced_at.is_some()
        })
        .await;
        client.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_certificate_is_served_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let names = ["localhost".to_string(), "127.0.0.1".to_string()];
    let files = TlsFiles {
        cert: dir.path().join("relay.pem"),
        key: dir.path().join("relay.key"),
    };
    let (first_chain, first_key) = generate(&names).unwrap();
    std::fs::write(&files.cert, &first_chain).unwrap();
    std::fs::write(&files.key, &first_key).unwrap();
    let first = files.trust_fingerprint().unwrap();
    let relay = Relay::start(
        &dir.path().join("relay"),
        &[
            "--tls-cert",
            files.cert.to_str().unwrap(),
            "--tls-key",
            files.key.to_str().unwrap(),
        ],
    )
    .unwrap();
    assert_eq!(relay.trust, Some(first), "the relay names the CA it serves");

    // The renewal comes from another CA (the IT team moved to a new one).
    let (second_chain, second_key) = generate(&names).unwrap();
    let second = trust_of(&second_chain);
    let up_with = |ca: CertFingerprint| {
        let address = RelayAddress::pinned(relay.url(""), Some(ca));
        async move {
            address
                .http(Duration::from_secs(5))
                .unwrap()
                .get(address.endpoint("/healthz").unwrap())
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        }
    };
    assert!(up_with(first).await);
    assert!(!up_with(second).await);

    // Key first, then the chain, as a renewal script might: in between the files do not
    // match, and the relay keeps serving the old certificate.
    std::fs::write(&files.key, &second_key).unwrap();
    tokio::time::sleep(aisle_relay::tls::RELOAD_CHECK_EVERY * 2).await;
    assert!(up_with(first).await, "a half-written renewal is not served");
    std::fs::write(&files.cert, &second_chain).unwrap();
    let started = std::time::Instant::now();
    while !up_with(second).await {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the renewed certificate was not served"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(!up_with(first).await, "the old certificate is gone");
}

/// What a tablet would pin for a chain: the fingerprint of its last certificate.
fn trust_of(chain: &str) -> CertFingerprint {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chain.pem");
    std::fs::write(&path, chain).unwrap();
    TlsFiles {
        cert: path.clone(),
        key: path,
    }
    .trust_fingerprint()
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_the_client_address_comes_from_x_forwarded_for() {
    let dir = tempfile::tempdir().unwrap();
    let relay_dir = dir.path().join("relay");
    // The test is the proxy: it connects from loopback and says whom it forwards.
    let relay = Relay::start(&relay_dir, &["--plaintext", "--trusted-proxy", "127.0.0.1"]).unwrap();
    let guess = |from: &'static str| {
        let relay = &relay;
        move |i: u32| {
            relay
                .http()
                .post(relay.url("/v1/enrol"))
                .header("x-forwarded-for", format!("198.51.100.7, {from}"))
                .json(&aisle_core::api::EnrolRequest {
                    code: format!("GUESS-{i:05}"),
                    actor: "0a0b".into(),
                })
        }
    };
    // One client guessing codes is slowed after ten, by its own address...
    let limited = aisle_tests::first_rate_limited(12, Some(400), guess("203.0.113.1")).await;
    assert_eq!(limited, Some(10));
    // ...and another behind the same proxy is not (the left-most entry, the client's own
    // claim, is not believed: both claimed 198.51.100.7).
    let other = aisle_tests::first_rate_limited(5, Some(400), guess("203.0.113.2")).await;
    assert_eq!(other, None);
    let admin = Api::admin(&relay, &relay_dir).unwrap();
    let trail: Vec<aisle_core::api::AuditEntry> = aisle_tests::reply(admin.get("/v1/admin/audit"))
        .await
        .unwrap();
    assert!(
        trail.iter().any(|e| e.actor.contains("203.0.113.1")),
        "the audit trail names the client, not the proxy"
    );
    drop(relay);

    // Not a trusted proxy: the header is ignored, everyone is the peer.
    let relay = Relay::start(&dir.path().join("direct"), &[]).unwrap();
    let relay_ref = &relay;
    let spoofed = |i: u32| {
        relay_ref
            .http()
            .post(relay_ref.url("/v1/enrol"))
            .header("x-forwarded-for", format!("203.0.113.{i}"))
            .json(&aisle_core::api::EnrolRequest {
                code: format!("GUESS-{i:05}"),
                actor: "0a0b".into(),
            })
    };
    assert_eq!(
        aisle_tests::first_rate_limited(12, Some(400), spoofed).await,
        Some(10),
        "a made-up X-Forwarded-For does not buy a fresh allowance"
    );
}
