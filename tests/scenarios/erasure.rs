//! A customer's right of access (their data exported, by the admin or their store's manager
//! only) and to erasure, over a real relay: the document leaves the relay and every
//! tablet's store and projections, live for a connected tablet and on reconnect for one that
//! was offline; offline edits to the erased customer do not bring it back.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

use aisle_core::DocId;
use aisle_core::api::{CustomerExport, CustomerLookup, Erased};
use aisle_core::model::{
    AssociateId, CustomerId, ErrorCode, Identifier, LoyaltyId, StoreId, VariantSku,
};
use aisle_tablet::checkout::SaleRequest;
use aisle_tests::{Api, Tablet, refusal, reply};
use std::time::{Duration, Instant};

/// Checks on a tablet's store for an erased customer.
trait Purged {
    fn holds(&self, customer: &CustomerId, loyalty: &str) -> bool;
    async fn wait_purged(&self, customer: &CustomerId, loyalty: &str) -> Duration;
}

impl Purged for Tablet {
    fn holds(&self, customer: &CustomerId, loyalty: &str) -> bool {
        let store = self.store.lock().unwrap();
        let doc = store.has_doc(&DocId::Customer(customer.clone())).unwrap();
        let found = store
            .identify(&Identifier::Loyalty(LoyaltyId::parse(loyalty).unwrap()))
            .is_ok();
        let searchable = store
            .search_customers(loyalty, 5)
            .unwrap()
            .iter()
            .any(|c| &c.id == customer);
        assert_eq!(doc, found, "document and identifier index agree");
        assert_eq!(doc, searchable, "document and search agree");
        doc
    }

    async fn wait_purged(&self, customer: &CustomerId, loyalty: &str) -> Duration {
        let started = Instant::now();
        while self.holds(customer, loyalty) {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the erased customer is still on the tablet"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        started.elapsed()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn erased_customers_leave_every_tablet_and_stay_gone() {
    let (dir, relay_dir, relay) = aisle_tests::demo_relay(40);
    let online = Tablet::enrol(&relay, &relay_dir, dir.path(), "online", "associate").await;
    let mut offline = Tablet::enrol(&relay, &relay_dir, dir.path(), "offline", "associate").await;
    let manager = Tablet::enrol(&relay, &relay_dir, dir.path(), "manager", "manager").await;

    let (customer, loyalty) = {
        let store = online.store.lock().unwrap();
        let DocId::Customer(id) = store.doc_ids("customer").unwrap().remove(0) else {
            unreachable!()
        };
        let loyalty = store.customer(&id).unwrap().identity.loyalty_id.to_string();
        (id, loyalty)
    };
    assert!(online.holds(&customer, &loyalty) && offline.holds(&customer, &loyalty));

    // First the customer asks for their data: a note and a sale of theirs are in it.
    let (note, sale) = online.with(|t| {
        let here = StoreId::parse("LDN-CG").unwrap();
        let variant: String = t
            .conn()
            .query_row(
                "SELECT variant_sku FROM stock WHERE store_id = 'LDN-CG' AND on_hand > 0 LIMIT 1",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let associate = AssociateId::parse("sam.k").unwrap();
        let note = t
            .add_note(
                &customer,
                "Wants the navy parka in M",
                &associate,
                Some(&here),
            )
            .unwrap();
        let sale = t
            .sell(&SaleRequest {
                store: here,
                lines: vec![(VariantSku::parse(variant).unwrap(), 1)],
                customer: Some(customer.clone()),
                associate,
                holds: vec![],
                cart: None,
            })
            .unwrap();
        (note, sale.sale_id)
    });
    online.nudge();
    online.wait_synced().await;
    let export = format!("/v1/customers/{customer}/export");
    let refused = refusal(Api::new(&relay, &online.config.token).get(&export))
        .await
        .unwrap();
    assert_eq!(
        (refused.status, refused.code()),
        (403, ErrorCode::Forbidden)
    );
    // A manager, but of another store: refused too.
    let elsewhere = Tablet::enrol_in_store(
        relay.address(),
        &relay_dir,
        dir.path(),
        "elsewhere",
        "manager",
        "MAN-AR",
    )
    .await;
    let refused = refusal(Api::new(&relay, &elsewhere.config.token).get(&export))
        .await
        .unwrap();
    assert_eq!(
        (refused.status, refused.code()),
        (403, ErrorCode::Forbidden)
    );
    let has_both = |data: &CustomerExport| {
        data.profiles[0].id == customer
            && data.profiles[0].notes.iter().any(|n| n.id == note)
            && data
                .sales
                .iter()
                .any(|s| s.id == sale && s.sale.customer.as_ref() == Some(&customer))
    };
    for caller in [
        Api::new(&relay, &manager.config.token),
        Api::admin(&relay, &relay_dir).unwrap(),
    ] {
        // The tablet's push may still be on its way.
        let started = Instant::now();
        loop {
            let data: CustomerExport = reply(caller.get(&export)).await.unwrap();
            if has_both(&data) {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the export lacks the note or the sale: {data:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    // The offline tablet writes a note it cannot send yet.
    offline.stop().await;
    offline
        .store
        .lock()
        .unwrap()
        .add_note(
            &customer,
            "Written offline before the erasure",
            &AssociateId::parse("sam.k").unwrap(),
            None,
        )
        .unwrap();

    // Only the admin or a manager of the customer's store may erase.
    let erase = format!("/v1/customers/{customer}/erase");
    let associate = Api::new(&relay, &online.config.token);
    let by_manager = Api::new(&relay, &manager.config.token);
    let refused = refusal(associate.post(&erase)).await.unwrap();
    assert_eq!(
        (refused.status, refused.code()),
        (403, ErrorCode::Forbidden)
    );
    let erased: Erased = reply(by_manager.post(&erase)).await.unwrap();
    assert_eq!(
        erased,
        Erased {
            erased: DocId::Customer(customer.clone()).to_string(),
            also_erased: Vec::new(),
        }
    );

    let latency = online.wait_purged(&customer, &loyalty).await;
    eprintln!("erasure reached the connected tablet in {latency:?}");
    manager.wait_purged(&customer, &loyalty).await;
    let by_loyalty = CustomerLookup {
        loyalty: Some(loyalty.clone()),
        ..CustomerLookup::default()
    };
    let lookup = refusal(associate.get("/v1/customers/lookup").query(&by_loyalty))
        .await
        .unwrap();
    assert_eq!((lookup.status, lookup.code()), (404, ErrorCode::NotFound));

    // The offline tablet reconnects: it purges, and its offline note does not revive it.
    offline.start();
    offline.wait_purged(&customer, &loyalty).await;
    offline.wait_synced().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let lookup = refusal(associate.get("/v1/customers/lookup").query(&by_loyalty))
        .await
        .unwrap();
    assert_eq!(
        lookup.code(),
        ErrorCode::NotFound,
        "the offline note must not bring it back"
    );
    assert!(!online.holds(&customer, &loyalty));

    // Nothing is left to export.
    let gone = refusal(by_manager.get(&export)).await.unwrap();
    assert_eq!((gone.status, gone.code()), (404, ErrorCode::NotFound));

    // Erasing again: not found.
    let again = refusal(by_manager.post(&erase)).await.unwrap();
    assert_eq!((again.status, again.code()), (404, ErrorCode::NotFound));
}
