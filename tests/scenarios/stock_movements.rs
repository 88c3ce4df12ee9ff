//! Stock movements between two stores' manager tablets through a real relay: a transfer sent
//! from Covent Garden arrives in Manchester's list of what is on its way, is received short
//! (two of three), and cannot be received beyond what was sent; a count, a delivery and
//! damage move the relay's stock as the records say, and the movements are listed.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

use aisle_core::model::{AssociateId, MovementKind, ProductSku, StoreId, VariantSku};
use aisle_tablet::relay_client;
use aisle_tablet::stock::MovementLine;
use aisle_tests::Tablet;

/// Units available of `variant` in `store`, as the relay counts them.
async fn at_relay(t: &Tablet, product: &ProductSku, store: &StoreId, variant: &VariantSku) -> i64 {
    let stores = relay_client::stock_by_store(&t.config, product)
        .await
        .unwrap();
    stores
        .iter()
        .find(|s| s.store == *store)
        .and_then(|s| s.available.get(variant.as_str()).copied())
        .unwrap()
}

/// What the relay answers, asked again until `done` holds: on a shared database the relay's
/// own reads follow its working copy, a moment behind the acknowledgement.
async fn relay_says<T: std::fmt::Debug, F: std::future::Future<Output = T>>(
    what: &str,
    mut ask: impl FnMut() -> F,
    done: impl Fn(&T) -> bool,
) -> T {
    let started = std::time::Instant::now();
    loop {
        let answer = ask().await;
        if done(&answer) {
            return answer;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "timed out waiting for {what}: {answer:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_is_received_as_sent_and_counts_deliveries_and_damage_move_the_relays_stock() {
    let (dir, relay_dir, relay) = aisle_tests::demo_relay(40);
    let covent_garden = StoreId::parse("LDN-CG").unwrap();
    let manchester = StoreId::parse("MAN-AR").unwrap();
    let mut sender = Tablet::enrol(&relay, &relay_dir, dir.path(), "cg", "manager").await;
    let mut receiver = Tablet::enrol_in_store(
        relay.address(),
        &relay_dir,
        dir.path(),
        "man",
        "manager",
        manchester.as_str(),
    )
    .await;
    let by = AssociateId::parse("jo.manager").unwrap();
    // An associate's tablet, modified or not, may not read the store's till deliveries.
    let associate = Tablet::enrol(&relay, &relay_dir, dir.path(), "assoc", "associate").await;
    let refused = relay_client::till_status(&associate.config)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("manager"), "{refused}");

    // A variant both stores stock, with units to send.
    let (product, variant) = sender.with(|t| {
        for product in t.search_products("a", 30).unwrap() {
            let grid = t.stock_for_product(&covent_garden, &product.sku).unwrap();
            if let Some(level) = grid.levels.iter().find(|l| l.on_hand > 5) {
                return (product.sku, level.variant.clone());
            }
        }
        panic!("no stocked variant")
    });
    let sent_from = at_relay(&sender, &product, &covent_garden, &variant).await;
    let received_at = at_relay(&sender, &product, &manchester, &variant).await;

    // Sent: three units leave Covent Garden.
    let transfer = sender.with(|t| {
        t.send_transfer(
            &covent_garden,
            &manchester,
            &[MovementLine {
                variant: variant.clone(),
                quantity: 3,
            }],
            "Cage 4",
            &by,
        )
        .unwrap()
    });
    // Not to itself, nor to a store that does not exist.
    let to_self = sender.with(|t| {
        t.send_transfer(
            &covent_garden,
            &covent_garden,
            &[MovementLine {
                variant: variant.clone(),
                quantity: 1,
            }],
            "",
            &by,
        )
    });
    assert!(to_self.is_err());
    sender.nudge();
    sender.wait_synced().await;
    relay_says(
        "three units gone from Covent Garden",
        || at_relay(&sender, &product, &covent_garden, &variant),
        |n| *n == sent_from - 3,
    )
    .await;

    // On its way to Manchester, as its manager's tablet is told.
    let incoming = relay_says(
        "the transfer on its way",
        || async {
            relay_client::incoming_transfers(&receiver.config)
                .await
                .unwrap()
        },
        |t| !t.is_empty(),
    )
    .await;
    assert_eq!(incoming.len(), 1, "{incoming:?}");
    let on_its_way = incoming[0].clone();
    assert_eq!(on_its_way.transfer, transfer);
    assert_eq!(on_its_way.from_store, covent_garden);
    assert_eq!(on_its_way.lines.len(), 1);
    assert_eq!(
        (on_its_way.lines[0].sent, on_its_way.lines[0].received),
        (3, 0)
    );
    // Covent Garden has nothing on its way to it.
    assert!(
        relay_client::incoming_transfers(&sender.config)
            .await
            .unwrap()
            .is_empty()
    );

    // Two of three arrive; the third may still come, but no more than that.
    let line = |quantity| MovementLine {
        variant: variant.clone(),
        quantity,
    };
    receiver.with(|t| {
        t.receive_transfer(&manchester, &on_its_way, &[line(2)], &by)
            .unwrap()
    });
    let too_many = receiver.with(|t| t.receive_transfer(&manchester, &on_its_way, &[line(2)], &by));
    assert!(
        too_many
            .unwrap_err()
            .to_string()
            .contains("1 are on their way"),
    );
    receiver.nudge();
    receiver.wait_synced().await;
    relay_says(
        "two units in Manchester",
        || at_relay(&receiver, &product, &manchester, &variant),
        |n| *n == received_at + 2,
    )
    .await;
    let incoming = relay_says(
        "two of three received",
        || async {
            relay_client::incoming_transfers(&receiver.config)
                .await
                .unwrap()
        },
        |t| t.first().is_some_and(|t| t.lines[0].received == 2),
    )
    .await;
    assert_eq!(
        (incoming[0].lines[0].sent, incoming[0].lines[0].received),
        (3, 2)
    );
    // The last unit: the transfer is complete and leaves the list.
    receiver.with(|t| {
        t.receive_transfer(&manchester, &incoming[0], &[line(1)], &by)
            .unwrap()
    });
    receiver.nudge();
    receiver.wait_synced().await;
    relay_says(
        "the transfer complete",
        || async {
            relay_client::incoming_transfers(&receiver.config)
                .await
                .unwrap()
        },
        Vec::is_empty,
    )
    .await;

    // A count sets the level; a delivery and damage move it; each is listed.
    let counted = sender.with(|t| {
        t.count_stock(
            &covent_garden,
            &[(variant.clone(), 10)],
            "Monday count",
            &by,
        )
        .unwrap()
    });
    assert_eq!(counted, [10]);
    sender.with(|t| {
        t.receive_delivery(&covent_garden, &[line(4)], "DN-20931", &by)
            .unwrap();
        t.record_damage(&covent_garden, &[line(1)], "torn seam", &by)
            .unwrap();
        // Nothing, or less than nothing, is no delivery.
        assert!(
            t.receive_delivery(&covent_garden, &[line(0)], "", &by)
                .is_err()
        );
        assert!(
            t.record_damage(&covent_garden, &[line(-2)], "", &by)
                .is_err()
        );
    });
    sender.nudge();
    sender.wait_synced().await;
    let held = sender.with(|t| {
        t.stock_for_product(&covent_garden, &product)
            .unwrap()
            .levels
            .iter()
            .find(|l| l.variant == variant)
            .unwrap()
            .held
    });
    relay_says(
        "the count, delivery and damage at the relay",
        || at_relay(&sender, &product, &covent_garden, &variant),
        |n| *n == (13 - held).max(0),
    )
    .await;
    let kinds: Vec<MovementKind> = sender.with(|t| {
        t.product_movements(&covent_garden, &product)
            .unwrap()
            .into_iter()
            .filter(|m| m.variant == variant)
            .map(|m| m.kind)
            .collect()
    });
    for kind in [
        MovementKind::TransferOut,
        MovementKind::Count,
        MovementKind::Delivery,
        MovementKind::Damage,
    ] {
        assert!(kinds.contains(&kind), "{kind:?} in {kinds:?}");
    }
    // Manchester's tablet lists what it received, against which transfer.
    let received: Vec<(i64, Option<String>)> = receiver.with(|t| {
        t.product_movements(&manchester, &product)
            .unwrap()
            .into_iter()
            .filter(|m| m.kind == MovementKind::TransferIn)
            .map(|m| (m.delta, m.transfer))
            .collect()
    });
    assert_eq!(received.len(), 2);
    assert!(
        received
            .iter()
            .all(|(_, t)| t.as_deref() == Some(transfer.as_str()))
    );
    sender.stop().await;
    receiver.stop().await;
}
