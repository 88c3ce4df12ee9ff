//! What the relay refuses of a device's push, as a modified app holding a valid token would
//! send it: identifiers another customer holds, a loyalty number or web shop id changed, and a
//! document whose content names another document. Each refusal applies nothing of the push.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

use aisle_core::doc::{CustomerDoc, DocId, hydrate_doc};
use aisle_core::model::{CustomerId, Identifier, LoyaltyId};
use aisle_core::{Result, Store};
use aisle_relay::domain::RelayDocs;
use aisle_relay::domain::push::DevicePush;
use common::*;

/// Edits a customer document directly, the way a modified app could: no operation's checks.
fn tamper(store: &mut Store, id: &CustomerId, edit: impl FnOnce(&mut CustomerDoc)) {
    let mut write = store
        .begin_write(&DocId::Customer(id.clone()), false)
        .unwrap();
    let mut customer: CustomerDoc = autosurgeon::hydrate(&write.doc).unwrap();
    edit(&mut customer);
    autosurgeon::reconcile(&mut write.doc, &customer).unwrap();
    store.commit_writes(vec![write]).unwrap();
}

/// Pushes what the tablet has of `doc` beyond the relay's heads, as the device `tablet`.
fn push(relay: &mut RelayDocs, tablet: &mut Store, doc: &DocId) -> Result<()> {
    let since = relay.doc_heads(doc).unwrap();
    let (_, changes) = tablet.changes_since(doc, &since).unwrap().unwrap();
    let author = tablet.actor().clone();
    relay
        .apply_changes(
            vec![(doc.clone(), changes)],
            &DevicePush { author: &author },
        )
        .map(|_| ())
}

struct World {
    _dir: tempfile::TempDir,
    relay: RelayDocs,
    attacker: CustomerId,
    victim: CustomerId,
    victim_email: String,
    tablet: aisle_tablet::Tablet,
}

fn world(seed: u64) -> World {
    let dir = tempfile::tempdir().unwrap();
    let (mut relay, data) = demo_relay(&dir.path().join("relay.sqlite3"), seed, 40);
    let with_email: Vec<_> = data
        .customers()
        .filter(|c| c.customer.email.is_some())
        .take(2)
        .collect();
    let id_of = |relay: &RelayDocs, loyalty: &LoyaltyId| {
        relay
            .identify(&Identifier::Loyalty(loyalty.clone()))
            .unwrap()
    };
    let attacker = id_of(&relay, &with_email[0].customer.loyalty_id);
    let victim = id_of(&relay, &with_email[1].customer.loyalty_id);
    let tablet = replica_of(
        &mut relay,
        &dir.path().join("tablet.sqlite3"),
        seed + 1,
        &[DocId::Customer(attacker.clone())],
    );
    World {
        _dir: dir,
        relay,
        attacker,
        victim,
        victim_email: with_email[1].customer.email.clone().unwrap(),
        tablet,
    }
}

/// What of the victim an attacker would copy.
struct Victim {
    email: String,
    loyalty: LoyaltyId,
}

#[test]
fn a_device_may_not_take_another_customers_identifier_or_change_a_loyalty_number() {
    type Tamper = fn(&mut CustomerDoc, &Victim);
    let cases: [(&str, Tamper, &str); 4] = [
        (
            "the victim's email",
            |c, v| c.identity.email = Some(v.email.clone()),
            "the email of another customer",
        ),
        (
            "the victim's loyalty number",
            |c, v| c.identity.loyalty_id = v.loyalty.clone(),
            "the loyalty number",
        ),
        (
            "a new loyalty number",
            |c, _| c.identity.loyalty_id = LoyaltyId::from_serial(9_999_999),
            "the loyalty number",
        ),
        (
            "a web shop id",
            |c, _| c.shop_customer_id = Some("gid-123".into()),
            "web shop",
        ),
    ];
    for (i, (what, edit, reason)) in cases.into_iter().enumerate() {
        let mut w = world(100 + 10 * i as u64);
        let doc = DocId::Customer(w.attacker.clone());
        let heads_before = w.relay.doc_heads(&doc).unwrap();
        let victim = Victim {
            email: w.victim_email.clone(),
            loyalty: w.relay.customer(&w.victim).unwrap().identity.loyalty_id,
        };
        tamper(&mut w.tablet, &w.attacker, |c| edit(c, &victim));
        let refused = push(&mut w.relay, &mut w.tablet, &doc).expect_err(what);
        assert!(refused.to_string().contains(reason), "{what}: {refused}");
        // Nothing of it landed: the victim's identifiers still find the victim.
        assert_eq!(w.relay.doc_heads(&doc).unwrap(), heads_before, "{what}");
        for identifier in [
            Identifier::Email(victim.email.clone()),
            Identifier::Loyalty(victim.loyalty.clone()),
        ] {
            assert_eq!(w.relay.identify(&identifier).unwrap(), w.victim, "{what}");
        }
        assert_eq!(w.relay.check_projections().unwrap(), Vec::<String>::new());
    }
}

#[test]
fn a_device_may_give_its_customer_an_identifier_nobody_holds() {
    let mut w = world(200);
    let doc = DocId::Customer(w.attacker.clone());
    tamper(&mut w.tablet, &w.attacker, |c| {
        c.identity.email = Some("new.address@example.com".into());
    });
    push(&mut w.relay, &mut w.tablet, &doc).unwrap();
    assert_eq!(
        w.relay
            .identify(&Identifier::Email("new.address@example.com".into()))
            .unwrap(),
        w.attacker
    );
}

#[test]
fn a_document_whose_content_names_another_customer_is_refused() {
    let mut w = world(300);
    // A new document, customer/<fresh id>, whose content is the victim's with the attacker's
    // name: projections following the content would overwrite the victim's rows.
    let victim_doc = DocId::Customer(w.victim.clone());
    let stored = w.relay.load_doc(&victim_doc).unwrap().unwrap();
    let mut forged: CustomerDoc = hydrate_doc(&stored, &victim_doc).unwrap();
    forged.identity.name = "Mallory".into();
    // Identifiers of its own, so the identifier rules have nothing to refuse.
    forged.identity.loyalty_id = LoyaltyId::from_serial(9_999_998);
    forged.identity.email = None;
    forged.identity.phone = None;
    forged.nfc.clear();
    let fresh = DocId::Customer(CustomerId::parse("00000000-0000-4000-8000-00000000beef").unwrap());
    let mut doc = aisle_core::automerge::AutoCommit::new().with_actor(w.tablet.actor().clone());
    autosurgeon::reconcile(&mut doc, &forged).unwrap();
    let author = w.tablet.actor().clone();
    let refused = w
        .relay
        .apply_changes(
            vec![(fresh.clone(), doc.save())],
            &DevicePush { author: &author },
        )
        .unwrap_err();
    assert!(
        refused.to_string().contains("its content names"),
        "{refused}"
    );
    assert!(!w.relay.has_doc(&fresh).unwrap());
    let victim = w.relay.customer(&w.victim).unwrap();
    assert_ne!(victim.identity.name, "Mallory");
    assert_eq!(
        w.relay
            .identify(&Identifier::Loyalty(victim.identity.loyalty_id))
            .unwrap(),
        w.victim
    );
}
