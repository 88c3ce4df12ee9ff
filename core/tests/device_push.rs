//! What the relay refuses of a device's push, as a modified app holding a valid token would
//! send it: identifiers another customer holds, a loyalty number or web shop id changed, a
//! document whose content names another document, and stock that moves by more than the
//! sales and (a manager's) adjustments recorded with it. Each refusal applies nothing of the
//! push.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

use aisle_core::doc::{Adjustment, CustomerDoc, DocId, InventoryDoc, hydrate_doc};
use aisle_core::model::{
    AssociateId, CustomerId, Hold, Identifier, LoyaltyId, MovementKind, Role, Sale, SaleLine,
    StoreId, VariantSku,
};
use aisle_core::{Result, Store};
use aisle_relay::domain::RelayDocs;
use aisle_relay::domain::push::DevicePush;
use aisle_tablet::checkout::SaleRequest;
use aisle_tablet::stock::MovementLine;
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

/// Pushes what the tablet has of `doc` beyond the relay's heads, as the associate's device
/// `tablet`.
fn push(relay: &mut RelayDocs, tablet: &mut Store, doc: &DocId) -> Result<()> {
    push_as(relay, tablet, doc, Role::Associate)
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
            &DevicePush {
                author: &author,
                role: Role::Associate,
            },
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

/// A manager's or an associate's tablet holding the catalog and LDN-CG's stock, a variant in
/// stock there, and the relay.
struct StockWorld {
    _dir: tempfile::TempDir,
    relay: RelayDocs,
    tablet: aisle_tablet::Tablet,
    store: StoreId,
    variant: VariantSku,
}

fn stock_world(seed: u64) -> StockWorld {
    let dir = tempfile::tempdir().unwrap();
    let (mut relay, data) = demo_relay(&dir.path().join("relay.sqlite3"), seed, 10);
    let store = StoreId::parse("LDN-CG").unwrap();
    let (variant, _) = data.stock[&store].iter().find(|(_, n)| **n > 2).unwrap();
    let tablet = replica_of(
        &mut relay,
        &dir.path().join("tablet.sqlite3"),
        seed + 1,
        &[DocId::Catalog, DocId::Inventory(store.clone())],
    );
    StockWorld {
        _dir: dir,
        relay,
        tablet,
        variant: VariantSku::parse(variant.clone()).unwrap(),
        store,
    }
}

/// [`push`] from a device in `role`.
fn push_as(relay: &mut RelayDocs, tablet: &mut Store, doc: &DocId, role: Role) -> Result<()> {
    let since = relay.doc_heads(doc).unwrap();
    let (_, changes) = tablet.changes_since(doc, &since).unwrap().unwrap();
    let author = tablet.actor().clone();
    relay
        .apply_changes(
            vec![(doc.clone(), changes)],
            &DevicePush {
                author: &author,
                role,
            },
        )
        .map(|_| ())
}

/// Edits the inventory document directly, the way a modified app could.
fn tamper_stock(store: &mut Store, id: &StoreId, edit: impl FnOnce(&mut InventoryDoc<'_>)) {
    let mut write = store
        .begin_write(&DocId::Inventory(id.clone()), false)
        .unwrap();
    edit(&mut InventoryDoc::new(&mut write.doc, id));
    store.commit_writes(vec![write]).unwrap();
}

fn on_hand(relay: &RelayDocs, store: &StoreId, variant: &VariantSku) -> i64 {
    relay.on_hand(store, variant).unwrap()
}

#[test]
fn stock_moves_only_by_recorded_sales_and_a_managers_adjustments() {
    let associate = AssociateId::parse("sam.k").unwrap();
    // A sale recorded on an associate's tablet: its line explains the unit gone.
    let mut w = stock_world(400);
    let doc = DocId::Inventory(w.store.clone());
    let before = on_hand(&w.relay, &w.store, &w.variant);
    w.tablet
        .sell(&SaleRequest {
            store: w.store.clone(),
            lines: vec![(w.variant.clone(), 2)],
            customer: None,
            associate: associate.clone(),
            holds: vec![],
            cart: None,
        })
        .unwrap();
    push_as(&mut w.relay, &mut w.tablet, &doc, Role::Associate).unwrap();
    assert_eq!(on_hand(&w.relay, &w.store, &w.variant), before - 2);

    // A delivery booked on an associate's tablet is refused; on a manager's it stands.
    let mut w = stock_world(410);
    let before = on_hand(&w.relay, &w.store, &w.variant);
    let heads = w.relay.doc_heads(&doc).unwrap();
    w.tablet
        .adjust_stock(&w.store, &w.variant, 5, "delivery", &associate)
        .unwrap();
    let refused = push_as(&mut w.relay, &mut w.tablet, &doc, Role::Associate).unwrap_err();
    assert!(
        refused.to_string().contains("only a manager's tablet may"),
        "{refused}"
    );
    assert_eq!(w.relay.doc_heads(&doc).unwrap(), heads);
    push_as(&mut w.relay, &mut w.tablet, &doc, Role::Manager).unwrap();
    assert_eq!(on_hand(&w.relay, &w.store, &w.variant), before + 5);

    // What a modified app could write instead, each refused with nothing applied, even from
    // a manager's tablet.
    type Tamper = fn(&mut InventoryDoc<'_>, &VariantSku);
    let cases: [(&str, Tamper, &str); 12] = [
        (
            "a delivery as the retailer's stock system",
            |inv, v| {
                inv.increment(v, 1).unwrap();
                let mut booked = forged_movement(MovementKind::Delivery, v, 1, None, None, None);
                booked.by = AssociateId::parse("stock-system").unwrap();
                inv.put_adjustment("forged-system", &booked).unwrap();
            },
            "as the retailer's own systems",
        ),
        (
            "a sale as the outside till, never sent to the till",
            |inv, v| {
                inv.increment(v, -1).unwrap();
                let mut sale = inv.sales().unwrap().into_values().next().unwrap();
                sale.associate = AssociateId::parse("outside-till").unwrap();
                inv.put_sale("forged-outside", &sale).unwrap();
            },
            "rung up at an outside till",
        ),
        (
            "a sale under a till sale's key, so the till's own counts as had",
            |inv, v| {
                inv.increment(v, -1).unwrap();
                let sale = inv.sales().unwrap().into_values().next().unwrap();
                inv.put_sale("till-T-9", &sale).unwrap();
            },
            "rung up at an outside till",
        ),
        (
            "a delivery dated a year ahead",
            |inv, v| {
                inv.increment(v, 1).unwrap();
                let mut ahead = forged_movement(MovementKind::Delivery, v, 1, None, None, None);
                ahead.at = 4_102_444_800_000;
                inv.put_adjustment("forged-ahead", &ahead).unwrap();
            },
            "dated ahead of now",
        ),
        (
            "a delivery under the id of the recorded sale, one record in the till outbox",
            |inv, v| {
                inv.increment(v, 1).unwrap();
                let (sale_id, _) = inv.sales().unwrap().into_iter().next().unwrap();
                let delivery = forged_movement(MovementKind::Delivery, v, 1, None, None, None);
                inv.put_adjustment(&sale_id, &delivery).unwrap();
            },
            "an id a recorded sale or stock movement already has",
        ),
        (
            "a sale and a delivery under one id",
            |inv, v| {
                let mut sale = inv.sales().unwrap().into_values().next().unwrap();
                sale.lines.truncate(1);
                sale.lines[0].variant = v.clone();
                sale.lines[0].quantity = 1;
                inv.put_sale("forged-twin", &sale).unwrap();
                let delivery = forged_movement(MovementKind::Delivery, v, 1, None, None, None);
                inv.put_adjustment("forged-twin", &delivery).unwrap();
            },
            "record the sale forged-twin and a stock movement under one id",
        ),
        (
            "a sale line priced past any price",
            |inv, v| {
                inv.increment(v, -1).unwrap();
                let mut sale = inv.sales().unwrap().into_values().next().unwrap();
                sale.lines.truncate(1);
                sale.lines[0].variant = v.clone();
                sale.lines[0].quantity = 1;
                sale.lines[0].unit_price_cents = i64::MAX;
                inv.put_sale("forged-price", &sale).unwrap();
            },
            "(1 to 99 at 0 to 100000000000)",
        ),
        (
            "stock with nothing on record",
            |inv, v| {
                inv.increment(v, 10).unwrap();
            },
            "where the sales and adjustments recorded say 0",
        ),
        (
            "a sale that takes more than it records",
            |inv, v| {
                inv.increment(v, -3).unwrap();
                inv.put_sale(
                    "forged-sale",
                    &Sale {
                        lines: vec![SaleLine {
                            variant: v.clone(),
                            quantity: 1,
                            unit_price_cents: 100,
                        }],
                        customer: None,
                        associate: AssociateId::parse("mallory").unwrap(),
                        at: 0,
                        holds: vec![],
                        from_online_cart: None,
                        exchange_for: None,
                    },
                )
                .unwrap();
            },
            "by -3 where the sales and adjustments recorded say -1",
        ),
        (
            "a counter for a variant the store does not carry",
            |inv, _| {
                inv.stock_variant("TOP-9999-GOLD-XL", 50).unwrap();
            },
            "the stock counter of TOP-9999-GOLD-XL, which only the relay",
        ),
        (
            "a hold of a thousand",
            |inv, v| {
                inv.put_hold(
                    "forged-hold",
                    &Hold {
                        variant: v.clone(),
                        quantity: 1_000,
                        customer: CustomerId::parse("someone").unwrap(),
                        associate: AssociateId::parse("mallory").unwrap(),
                        placed_at: 0,
                        expires_at: 1,
                        ended: None,
                    },
                )
                .unwrap();
            },
            "hold 1000 of",
        ),
        (
            "a recorded sale rewritten",
            |inv, _| {
                let (id, mut sale) = inv.sales().unwrap().into_iter().next().unwrap();
                sale.lines[0].quantity += 1;
                inv.put_sale(&id, &sale).unwrap();
            },
            "change or remove the recorded sale",
        ),
    ];
    for (i, (what, edit, reason)) in cases.into_iter().enumerate() {
        let mut w = stock_world(420 + 10 * i as u64);
        // One sale on record first, for the case that rewrites it.
        w.tablet
            .sell(&SaleRequest {
                store: w.store.clone(),
                lines: vec![(w.variant.clone(), 1)],
                customer: None,
                associate: associate.clone(),
                holds: vec![],
                cart: None,
            })
            .unwrap();
        push_as(&mut w.relay, &mut w.tablet, &doc, Role::Manager).unwrap();
        let heads = w.relay.doc_heads(&doc).unwrap();
        let variant = w.variant.clone();
        tamper_stock(&mut w.tablet, &w.store, |inv| edit(inv, &variant));
        let refused = push_as(&mut w.relay, &mut w.tablet, &doc, Role::Manager).expect_err(what);
        assert!(refused.to_string().contains(reason), "{what}: {refused}");
        assert_eq!(w.relay.doc_heads(&doc).unwrap(), heads, "{what}");
    }
}

#[test]
fn a_push_whose_tail_waits_for_missing_changes_is_still_checked_for_what_applied() {
    // Stock given with nothing on record, then two more changes, of which only the last is
    // sent: it waits for the one left out, and the first must be refused all the same.
    let mut w = stock_world(480);
    let doc = DocId::Inventory(w.store.clone());
    let heads = w.relay.doc_heads(&doc).unwrap();
    let variant = w.variant.clone();
    tamper_stock(&mut w.tablet, &w.store, |inv| {
        inv.increment(&variant, 1_000).unwrap();
    });
    for i in 0..2 {
        tamper_stock(&mut w.tablet, &w.store, |inv| {
            let hold = Hold {
                variant: variant.clone(),
                quantity: 1,
                customer: CustomerId::parse("someone").unwrap(),
                associate: AssociateId::parse("sam.k").unwrap(),
                placed_at: 0,
                expires_at: 1,
                ended: None,
            };
            inv.put_hold(&format!("hold-{i}"), &hold).unwrap();
        });
    }
    let mut stored = w.tablet.load_doc(&doc).unwrap().unwrap();
    let changes = stored.get_changes(&heads);
    assert_eq!(changes.len(), 3);
    let mut bytes = changes[0].raw_bytes().to_vec();
    bytes.extend_from_slice(changes[2].raw_bytes());
    let author = w.tablet.actor().clone();
    let refused = w
        .relay
        .apply_changes(
            vec![(doc.clone(), bytes)],
            &DevicePush {
                author: &author,
                role: Role::Manager,
            },
        )
        .unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("by 1000 where the sales and adjustments recorded say 0"),
        "{refused}"
    );
    assert_eq!(w.relay.doc_heads(&doc).unwrap(), heads);
}

/// A movement as a modified app could write it: any kind, any fields.
fn forged_movement(
    kind: MovementKind,
    variant: &VariantSku,
    delta: i64,
    other: Option<&str>,
    transfer: Option<&str>,
    counted: Option<i64>,
) -> Adjustment {
    Adjustment {
        variant: variant.clone(),
        delta,
        reason: String::new(),
        by: AssociateId::parse("mallory").unwrap(),
        at: 0,
        resolves_oversell: None,
        kind: Some(kind),
        transfer: transfer.map(str::to_string),
        other_store: other.map(|s| StoreId::parse(s).unwrap()),
        counted,
        sale: None,
        refund_minor: None,
    }
}

#[test]
fn each_movement_kind_is_checked_and_a_transfer_is_received_only_as_it_was_sent() {
    // The shapes a manager's modified app could write, each refused with nothing applied.
    type Case = (
        &'static str,
        MovementKind,
        i64,
        Option<&'static str>,
        Option<&'static str>,
        Option<i64>,
        &'static str,
    );
    let cases: [Case; 7] = [
        (
            "a delivery taking stock away",
            MovementKind::Delivery,
            -4,
            None,
            None,
            None,
            "a delivery of -4",
        ),
        (
            "damage adding stock",
            MovementKind::Damage,
            4,
            None,
            None,
            None,
            "a damage of 4",
        ),
        (
            "a negative count",
            MovementKind::Count,
            -9,
            None,
            None,
            Some(-1),
            "a count of Some(-1)",
        ),
        (
            "a transfer to itself",
            MovementKind::TransferOut,
            -1,
            Some("LDN-CG"),
            Some("TR-1"),
            None,
            "to or from the store itself",
        ),
        (
            "a transfer to no store",
            MovementKind::TransferOut,
            -1,
            Some("NOWHERE"),
            Some("TR-1"),
            None,
            "which is no store",
        ),
        (
            "a transfer received that was never sent",
            MovementKind::TransferIn,
            5,
            Some("MAN-AR"),
            Some("TR-404"),
            None,
            "which sent 0",
        ),
        (
            "a transfer with no reference",
            MovementKind::TransferOut,
            -1,
            Some("MAN-AR"),
            None,
            None,
            "with no transfer or store",
        ),
    ];
    for (i, (what, kind, delta, other, transfer, counted, reason)) in cases.into_iter().enumerate()
    {
        let mut w = stock_world(600 + 10 * i as u64);
        let doc = DocId::Inventory(w.store.clone());
        let heads = w.relay.doc_heads(&doc).unwrap();
        let variant = w.variant.clone();
        tamper_stock(&mut w.tablet, &w.store, |inv| {
            if delta != 0 {
                inv.increment(&variant, delta).unwrap();
            }
            inv.put_adjustment(
                "forged-movement",
                &forged_movement(kind, &variant, delta, other, transfer, counted),
            )
            .unwrap();
        });
        let refused = push_as(&mut w.relay, &mut w.tablet, &doc, Role::Manager).expect_err(what);
        assert!(refused.to_string().contains(reason), "{what}: {refused}");
        assert_eq!(w.relay.doc_heads(&doc).unwrap(), heads, "{what}");
    }

    // A transfer sent by one store's manager, received by the other's: the relay holds both
    // stores' inventories, as a chain's relay does.
    let mut w = stock_world(700);
    let manchester = StoreId::parse("MAN-AR").unwrap();
    let by = AssociateId::parse("jo").unwrap();
    let line = |quantity| MovementLine {
        variant: w.variant.clone(),
        quantity,
    };
    let transfer = w
        .tablet
        .send_transfer(&w.store, &manchester, &[line(3)], "", &by)
        .unwrap();
    let sent_doc = DocId::Inventory(w.store.clone());
    push_as(&mut w.relay, &mut w.tablet, &sent_doc, Role::Manager).unwrap();
    let incoming = w.relay.incoming_transfers(&manchester).unwrap();
    assert_eq!(incoming.len(), 1);
    assert_eq!(incoming[0].transfer, transfer);
    assert_eq!(incoming[0].lines[0].sent, 3);

    let dir = tempfile::tempdir().unwrap();
    let mut receiver = replica_of(
        &mut w.relay,
        &dir.path().join("man.sqlite3"),
        701,
        &[DocId::Catalog, DocId::Inventory(manchester.clone())],
    );
    let doc = DocId::Inventory(manchester.clone());
    let before = on_hand(&w.relay, &manchester, &w.variant);
    // Two of three, on the tablet's own check and the relay's.
    receiver
        .receive_transfer(&manchester, &incoming[0], &[line(2)], &by)
        .unwrap();
    push_as(&mut w.relay, &mut receiver, &doc, Role::Manager).unwrap();
    assert_eq!(on_hand(&w.relay, &manchester, &w.variant), before + 2);
    // A modified app receiving two more of what has one left: refused.
    let heads = w.relay.doc_heads(&doc).unwrap();
    let variant = w.variant.clone();
    tamper_stock(&mut receiver, &manchester, |inv| {
        inv.increment(&variant, 2).unwrap();
        inv.put_adjustment(
            "forged-receipt",
            &forged_movement(
                MovementKind::TransferIn,
                &variant,
                2,
                Some("LDN-CG"),
                Some(&transfer),
                None,
            ),
        )
        .unwrap();
    });
    let refused = push_as(&mut w.relay, &mut receiver, &doc, Role::Manager).unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("which sent 3 (2 received before)"),
        "{refused}"
    );
    assert_eq!(w.relay.doc_heads(&doc).unwrap(), heads);
    // And an associate's tablet may not receive at all.
    let mut w2 = stock_world(710);
    let t = w2
        .tablet
        .send_transfer(
            &w2.store,
            &manchester,
            &[MovementLine {
                variant: w2.variant.clone(),
                quantity: 1,
            }],
            "",
            &by,
        )
        .unwrap();
    let refused = push_as(
        &mut w2.relay,
        &mut w2.tablet,
        &DocId::Inventory(w2.store.clone()),
        Role::Associate,
    )
    .unwrap_err();
    assert!(
        refused.to_string().contains("only a manager's tablet may"),
        "{t}: {refused}"
    );
}

#[test]
fn a_return_is_taken_from_any_staff_tablet_only_as_its_sale_allows() {
    let mut w = stock_world(800);
    let doc = DocId::Inventory(w.store.clone());
    let by = AssociateId::parse("sam.k").unwrap();
    let receipt = w
        .tablet
        .sell(&SaleRequest {
            store: w.store.clone(),
            lines: vec![(w.variant.clone(), 2)],
            customer: None,
            associate: by.clone(),
            holds: vec![],
            cart: None,
        })
        .unwrap();
    push_as(&mut w.relay, &mut w.tablet, &doc, Role::Associate).unwrap();
    let before = on_hand(&w.relay, &w.store, &w.variant);
    let one = |quantity| MovementLine {
        variant: w.variant.clone(),
        quantity,
    };
    // One of two back, from an associate's tablet: stock and the refund as the sale says.
    w.tablet
        .record_return(&w.store, &receipt.sale_id, &[one(1)], "", &by)
        .unwrap();
    push_as(&mut w.relay, &mut w.tablet, &doc, Role::Associate).unwrap();
    assert_eq!(on_hand(&w.relay, &w.store, &w.variant), before + 1);
    // Two more than the one left: the tablet says no.
    let refused = w
        .tablet
        .record_return(&w.store, &receipt.sale_id, &[one(2)], "", &by)
        .unwrap_err();
    assert!(
        refused.to_string().contains("1 left to return"),
        "{refused}"
    );
    let sale = w.tablet.sales(&w.store).unwrap()[&receipt.sale_id].clone();
    let price = sale.lines[0].unit_price_cents;

    // A modified app: more back than sold, a refund above the price, a sale that is not.
    type Forge = (&'static str, i64, i64, &'static str, &'static str);
    let cases: [Forge; 3] = [
        (
            "more back than sold",
            2,
            2,
            "",
            "which sold 2 (1 returned before)",
        ),
        (
            "a refund above the price",
            1,
            1_000_000,
            "",
            "where the sale's price makes it",
        ),
        ("a sale that is not", 1, 0, "no-such-sale", "which sold 0"),
    ];
    for (what, units, refund, sale_id, reason) in cases {
        let heads = w.relay.doc_heads(&doc).unwrap();
        let mut tablet = replica_of(
            &mut w.relay,
            &w._dir
                .path()
                .join(format!("forger-{}.sqlite3", units + refund)),
            801 + refund as u64,
            &[DocId::Catalog, DocId::Inventory(w.store.clone())],
        );
        let variant = w.variant.clone();
        let sale_id = if sale_id.is_empty() {
            receipt.sale_id.clone()
        } else {
            sale_id.to_string()
        };
        let refund = if refund == 0 {
            0
        } else if refund == 1_000_000 {
            price * 100
        } else {
            price * units
        };
        tamper_stock(&mut tablet, &w.store, |inv| {
            inv.increment(&variant, units).unwrap();
            let mut forged =
                forged_movement(MovementKind::Return, &variant, units, None, None, None);
            forged.sale = Some(sale_id.clone());
            forged.refund_minor = Some(refund);
            inv.put_adjustment("forged-return", &forged).unwrap();
        });
        let refused = push_as(&mut w.relay, &mut tablet, &doc, Role::Associate).expect_err(what);
        assert!(refused.to_string().contains(reason), "{what}: {refused}");
        assert_eq!(w.relay.doc_heads(&doc).unwrap(), heads, "{what}");
    }
}

#[test]
fn an_exchange_is_taken_only_with_its_return_for_the_sales_customer() {
    let mut w = stock_world(900);
    let doc = DocId::Inventory(w.store.clone());
    let by = AssociateId::parse("sam.k").unwrap();
    let product = w.tablet.variant_product(&w.variant).unwrap().0;
    let other = w
        .tablet
        .stock_for_product(&w.store, &product)
        .unwrap()
        .levels
        .into_iter()
        .find(|l| l.variant != w.variant && l.on_hand > 1)
        .map(|l| l.variant)
        .expect("another size to exchange for");
    let receipt = w
        .tablet
        .sell(&SaleRequest {
            store: w.store.clone(),
            lines: vec![(w.variant.clone(), 2)],
            customer: None,
            associate: by.clone(),
            holds: vec![],
            cart: None,
        })
        .unwrap();
    push_as(&mut w.relay, &mut w.tablet, &doc, Role::Associate).unwrap();
    let (back_before, out_before) = (
        on_hand(&w.relay, &w.store, &w.variant),
        on_hand(&w.relay, &w.store, &other),
    );

    // One of the two swapped for the other size: one record, taken whole.
    let exchange = w
        .tablet
        .exchange_one(&w.store, &receipt.sale_id, &w.variant, &other, &by)
        .unwrap();
    assert!(exchange.refund_minor > 0);
    push_as(&mut w.relay, &mut w.tablet, &doc, Role::Associate).unwrap();
    assert_eq!(on_hand(&w.relay, &w.store, &w.variant), back_before + 1);
    assert_eq!(on_hand(&w.relay, &w.store, &other), out_before - 1);
    let sales = w.relay.sales(&w.store).unwrap();
    let return_id = sales[&exchange.sale_id].exchange_for.clone().unwrap();
    let returned = w.tablet.stock_movements(&w.store, &product, 50).unwrap();
    assert!(
        returned
            .iter()
            .any(|m| m.id == return_id && m.sale.as_deref() == Some(receipt.sale_id.as_str())),
        "{returned:?}"
    );

    // A modified app: an exchange naming an earlier return, two sales for one return, and
    // an exchange for someone else.
    let price = sales[&receipt.sale_id].lines[0].unit_price_cents;
    let sale_of = |exchange_for: &str, customer: Option<CustomerId>| Sale {
        lines: vec![SaleLine {
            variant: other.clone(),
            quantity: 1,
            unit_price_cents: price,
        }],
        customer,
        associate: AssociateId::parse("mallory").unwrap(),
        at: 0,
        holds: vec![],
        from_online_cart: None,
        exchange_for: Some(exchange_for.to_string()),
    };
    let stranger = CustomerId::parse("someone-else").unwrap();
    type Forge<'a> = (&'static str, Vec<(&'a str, Sale)>, bool, &'static str);
    let cases: Vec<Forge<'_>> = vec![
        (
            "an earlier return",
            vec![("forged-ex", sale_of(&return_id, None))],
            false,
            "without its return",
        ),
        (
            "two sales for one return",
            vec![
                ("forged-ex-1", sale_of("forged-back", None)),
                ("forged-ex-2", sale_of("forged-back", None)),
            ],
            true,
            "for two sales",
        ),
        (
            "someone else",
            vec![("forged-ex", sale_of("forged-back", Some(stranger.clone())))],
            true,
            "someone other than the customer",
        ),
    ];
    for (i, (what, forged_sales, with_return, reason)) in cases.into_iter().enumerate() {
        let heads = w.relay.doc_heads(&doc).unwrap();
        let mut tablet = replica_of(
            &mut w.relay,
            &w._dir.path().join(format!("exchanger-{i}.sqlite3")),
            901 + i as u64,
            &[DocId::Catalog, DocId::Inventory(w.store.clone())],
        );
        let (variant, sale_id) = (w.variant.clone(), receipt.sale_id.clone());
        let out = other.clone();
        tamper_stock(&mut tablet, &w.store, |inv| {
            if with_return {
                inv.increment(&variant, 1).unwrap();
                let mut back = forged_movement(MovementKind::Return, &variant, 1, None, None, None);
                back.sale = Some(sale_id.clone());
                back.refund_minor = Some(price);
                inv.put_adjustment("forged-back", &back).unwrap();
            }
            for (id, sale) in &forged_sales {
                inv.increment(&out, -1).unwrap();
                inv.put_sale(id, sale).unwrap();
            }
        });
        let refused = push_as(&mut w.relay, &mut tablet, &doc, Role::Associate).expect_err(what);
        assert!(refused.to_string().contains(reason), "{what}: {refused}");
        assert_eq!(w.relay.doc_heads(&doc).unwrap(), heads, "{what}");
    }
}

/// The stock system's level of the world's variant as of `as_of`, through the events API;
/// how many levels it found stale.
fn stock_system_level(w: &mut StockWorld, id: &str, as_of: i64, on_hand: i64) -> usize {
    use aisle_core::api::{Event, EventBatch, EventCustomer, EventKind, StockSystemLevel};
    w.relay
        .ingest(&EventBatch {
            events: vec![Event {
                id: id.into(),
                customer: EventCustomer::default(),
                kind: EventKind::StockLevel {
                    store: w.store.clone(),
                    as_of,
                    levels: vec![StockSystemLevel {
                        variant: w.variant.clone(),
                        on_hand,
                    }],
                },
            }],
        })
        .unwrap()
        .stale_levels
}

/// A manager's count dated a little ahead (a tablet's fast clock, within what the relay takes)
/// is no truth until the relay's clock reaches it: the stock system's level taken meanwhile
/// is not stale, and reconciles to what it says rather than on top of the count.
#[test]
fn a_count_dated_ahead_leaves_the_stock_systems_level_in_force() {
    let mut w = stock_world(900);
    let doc = DocId::Inventory(w.store.clone());
    let before = on_hand(&w.relay, &w.store, &w.variant);
    let variant = w.variant.clone();
    tamper_stock(&mut w.tablet, &w.store, |inv| {
        inv.increment(&variant, -before).unwrap();
        let mut count =
            forged_movement(MovementKind::Count, &variant, -before, None, None, Some(0));
        count.at = NOW + 10 * 60 * 1000;
        inv.put_adjustment("count-ahead", &count).unwrap();
    });
    push_as(&mut w.relay, &mut w.tablet, &doc, Role::Manager).unwrap();
    assert_eq!(on_hand(&w.relay, &w.store, &w.variant), 0);
    assert_eq!(
        stock_system_level(&mut w, "level-after-count", NOW + 1, 6),
        0
    );
    assert_eq!(on_hand(&w.relay, &w.store, &w.variant), 6);
}

/// Two levels of one instant (Shopify dates them to the second): the one delivered later is
/// the stock system's later word and stands; one older than both is stale.
#[test]
fn of_two_stock_system_levels_at_one_instant_the_later_delivered_stands() {
    let mut w = stock_world(910);
    assert_eq!(stock_system_level(&mut w, "level-a", NOW + 1_000, 6), 0);
    assert_eq!(stock_system_level(&mut w, "level-b", NOW + 1_000, 4), 0);
    assert_eq!(stock_system_level(&mut w, "level-older", NOW + 999, 9), 1);
    assert_eq!(on_hand(&w.relay, &w.store, &w.variant), 4);
}
