//! Scenario tests of the local store: import, lookups, operations, merges and bad input.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

use aisle_core::model::{
    AssociateId, CartStatus, Channel, ConsentPurpose, ConsentSource, ErrorCode, Identifier,
    LoyaltyId, NewCustomer, NfcUid, ProductSku, StockAlertReason, StoreId, Tier, VariantSku,
    VisitSource,
};
use aisle_core::{Clock, CoreError, DocId, IdGen, StoreOptions};
use aisle_relay::domain::RelayDocs;
use aisle_relay::domain::demo::{DemoConfig, DemoData};
use aisle_tablet::Tablet;
use aisle_tablet::checkout::{HoldRequest, SaleRequest};
use common::*;
use std::collections::BTreeMap;

fn store_id(s: &str) -> StoreId {
    StoreId::parse(s).unwrap()
}

fn associate() -> AssociateId {
    AssociateId::parse("sam.k.ldn-cg").unwrap()
}

#[test]
fn demo_import_builds_every_projection() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, data) = demo_store(&dir.path().join("s.sqlite3"), 1, 300);
    let stats = store.stats().unwrap();
    assert_eq!(stats.customers, 300);
    assert_eq!(stats.stores, 5);
    assert_eq!(stats.products as usize, data.products.len());
    assert!(stats.units_on_hand > 0);
    assert_eq!(stats.documents, 300 + 5 + 1);
    assert_eq!(store.check_projections().unwrap(), Vec::<String>::new());

    // Every demo customer is found by loyalty id, email and phone, and opens.
    for i in [0, 17, 299] {
        let record = data.customer(i);
        let by_loyalty = store
            .identify(&Identifier::Loyalty(record.customer.loyalty_id.clone()))
            .unwrap();
        assert_eq!(Some(&by_loyalty), record.id.as_ref());
        let email = record.customer.email.clone().unwrap();
        assert_eq!(
            store
                .identify(&Identifier::Email(email.to_uppercase()))
                .unwrap(),
            by_loyalty
        );
        let profile = store.customer(&by_loyalty).unwrap();
        assert_eq!(profile.identity.name, record.customer.name);
        assert_eq!(profile.purchases.len(), record.purchases.len());
        assert_eq!(profile.notes.len(), record.notes.len());
    }
}

#[test]
fn search_as_you_type_finds_by_name_email_and_phone() {
    let dir = tempfile::tempdir().unwrap();
    let (store, data) = demo_store(&dir.path().join("s.sqlite3"), 2, 200);
    let record = data.customer(42);
    let name = &record.customer.name;
    let (first, last) = name.split_once(' ').unwrap();
    let prefix = format!("{} {}", &first[..3], &last[..2]);
    let hits = store.search_customers(&prefix, 50).unwrap();
    assert!(hits.iter().any(|h| &h.name == name), "{prefix} → {hits:?}");

    let phone = record.customer.phone.clone().unwrap(); // +4477xxxxxxxx
    let national = format!("0{}", &phone[3..9]);
    let hits = store.search_customers(&national, 50).unwrap();
    assert!(
        hits.iter().any(|h| &h.name == name),
        "{national} → {hits:?}"
    );

    let email = record.customer.email.clone().unwrap();
    let hits = store
        .search_customers(&email[..email.find('@').unwrap()], 50)
        .unwrap();
    assert!(hits.iter().any(|h| &h.name == name));

    let hits = store
        .search_customers(record.customer.loyalty_id.as_str(), 50)
        .unwrap();
    assert_eq!(hits.len(), 1);
    assert!(store.search_customers("\"*) OR ((", 10).unwrap().is_empty());
    assert!(store.search_customers("", 10).unwrap().is_empty());
}

#[test]
fn associate_operations_show_up_in_the_profile() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, data) = demo_store(&dir.path().join("s.sqlite3"), 3, 20);
    let here = store_id("LDN-CG");
    let customer = data.customer(3).id.unwrap();
    let product = &data.products[10];
    let variant = product.variants[0].sku.clone();

    store
        .record_view(&customer, &product.sku, Some(&product.sizes[0]))
        .unwrap();
    store.record_view(&customer, &product.sku, None).unwrap();
    let (cart, line) = store
        .add_cart_line(&customer, None, &here, &variant, 2)
        .unwrap();
    store
        .set_cart_line_quantity(&customer, &cart, &line, 3)
        .unwrap();
    let note = store
        .add_note(
            &customer,
            "  Wants the navy one  ",
            &associate(),
            Some(&here),
        )
        .unwrap();
    store
        .add_to_wishlist(&customer, &product.sku, Channel::Store)
        .unwrap();
    store
        .record_visit(&customer, &here, VisitSource::Associate)
        .unwrap();
    store
        .set_consent(
            &customer,
            ConsentPurpose::MarketingSms,
            true,
            ConsentSource::Associate,
        )
        .unwrap();
    let uid = NfcUid::parse("04AABBCCDDEEFF").unwrap();
    store
        .link_nfc_card(&customer, &uid, Some(&associate()))
        .unwrap();

    let profile = store.customer(&customer).unwrap();
    let views = profile
        .views
        .iter()
        .find(|v| v.product == product.sku)
        .unwrap();
    assert!(views.count >= 2);
    let cart_entry = profile.carts.iter().find(|c| c.id == cart).unwrap();
    assert_eq!(cart_entry.item.lines[&line].quantity, 3);
    assert_eq!(cart_entry.item.status, CartStatus::Open);
    assert!(
        profile
            .notes
            .iter()
            .any(|n| n.id == note && n.item.text == "Wants the navy one")
    );
    assert!(profile.wishlist.iter().any(|w| w.product == product.sku));
    assert!(profile.has_consent(ConsentPurpose::MarketingSms));
    assert_eq!(store.identify(&Identifier::Nfc(uid)).unwrap(), customer);

    store.remove_cart_line(&customer, &cart, &line).unwrap();
    let profile = store.customer(&customer).unwrap();
    assert!(
        profile
            .carts
            .iter()
            .find(|c| c.id == cart)
            .unwrap()
            .item
            .lines
            .is_empty()
    );
    assert_eq!(store.check_projections().unwrap(), Vec::<String>::new());
}

#[test]
fn holds_and_sales_move_stock_and_record_the_purchase() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, data) = demo_store(&dir.path().join("s.sqlite3"), 4, 10);
    let here = store_id("LDN-CG");
    let customer = data.customer(1).id.unwrap();
    let (variant, stocked) = data.stock[&here]
        .iter()
        .find(|(_, n)| **n >= 3)
        .map(|(v, n)| (VariantSku::parse(v.clone()).unwrap(), *n))
        .unwrap();

    let hold = store
        .place_hold(&HoldRequest {
            store: here.clone(),
            variant: variant.clone(),
            quantity: 2,
            customer: customer.clone(),
            associate: associate(),
            hours: 24,
        })
        .unwrap();
    assert_eq!(store.available(&here, &variant).unwrap(), stocked - 2);
    let too_many = store.place_hold(&HoldRequest {
        store: here.clone(),
        variant: variant.clone(),
        quantity: u32::try_from(stocked).unwrap(),
        customer: customer.clone(),
        associate: associate(),
        hours: 24,
    });
    assert_eq!(too_many.unwrap_err().code(), ErrorCode::InvalidInput);

    let receipt = store
        .sell(&SaleRequest {
            store: here.clone(),
            lines: vec![(variant.clone(), 2)],
            customer: Some(customer.clone()),
            associate: associate(),
            holds: vec![hold.clone()],
            cart: None,
        })
        .unwrap();
    assert!(receipt.oversold.is_empty());
    assert_eq!(store.on_hand(&here, &variant).unwrap(), stocked - 2);
    assert_eq!(store.available(&here, &variant).unwrap(), stocked - 2);
    assert!(store.holds(&here, true).unwrap().is_empty());
    let profile = store.customer(&customer).unwrap();
    let purchase = profile
        .purchases
        .iter()
        .find(|p| p.id == receipt.sale_id)
        .unwrap();
    assert_eq!(purchase.item.total_cents, receipt.total_cents);

    // The stock grid shows the same numbers.
    let (product, _) = variant.as_str().rsplit_once('-').unwrap();
    let product = ProductSku::parse(product.rsplit_once('-').unwrap().0).unwrap();
    let grid = store.stock_for_product(&here, &product).unwrap();
    let level = grid.levels.iter().find(|l| l.variant == variant).unwrap();
    assert_eq!(level.on_hand, stocked - 2);
    assert_eq!(grid.nearby.len(), 4);
    assert!(
        grid.nearby
            .windows(2)
            .all(|w| w[0].distance_km <= w[1].distance_km)
    );

    let after = store
        .adjust_stock(&here, &variant, 5, "delivery", &associate())
        .unwrap();
    assert_eq!(after, stocked + 3);
    assert_eq!(store.check_projections().unwrap(), Vec::<String>::new());
}

#[test]
fn an_expired_hold_no_longer_counts() {
    let dir = tempfile::tempdir().unwrap();
    // A clock of the test's own: clones share it, so moving it moves the store's "now".
    let clock = Clock::manual(NOW);
    let mut store = Tablet::open_with(
        dir.path().join("s.sqlite3"),
        StoreOptions {
            clock: clock.clone(),
            ids: IdGen::seeded(12),
            ..StoreOptions::default()
        },
    )
    .unwrap();
    let data = DemoData::generate(DemoConfig::new(10, NOW));
    data.import(&mut store, |_| {}).unwrap();
    let here = store_id("LDN-CG");
    let customer = data.customer(2).id.unwrap();
    // At most 99, the most one hold may ask for.
    let (variant, stocked) = data.stock[&here]
        .iter()
        .find(|(_, n)| (3..=99).contains(*n))
        .map(|(v, n)| (VariantSku::parse(v.clone()).unwrap(), *n))
        .unwrap();
    let (product, _) = variant.as_str().rsplit_once('-').unwrap();
    let product = ProductSku::parse(product.rsplit_once('-').unwrap().0).unwrap();
    let held_in_grid = |store: &Tablet| {
        let grid = store.stock_for_product(&here, &product).unwrap();
        grid.levels
            .iter()
            .find(|l| l.variant == variant)
            .unwrap()
            .held
    };
    let active = |store: &Tablet| -> Vec<String> {
        store
            .holds(&here, true)
            .unwrap()
            .into_iter()
            .map(|h| h.id)
            .collect()
    };

    let hold = store
        .place_hold(&HoldRequest {
            store: here.clone(),
            variant: variant.clone(),
            quantity: 2,
            customer: customer.clone(),
            associate: associate(),
            hours: 2,
        })
        .unwrap();
    let two_hours = 2 * 3_600_000;
    assert_eq!(store.available(&here, &variant).unwrap(), stocked - 2);
    assert_eq!(active(&store), vec![hold.clone()]);

    // A millisecond before it expires, the hold still counts.
    clock.advance(two_hours - 1);
    assert_eq!(store.available(&here, &variant).unwrap(), stocked - 2);
    assert_eq!(active(&store), vec![hold.clone()]);
    assert_eq!(held_in_grid(&store), 2);

    // Past its expiry it counts nowhere, though it stays in the history.
    clock.advance(2);
    assert_eq!(store.available(&here, &variant).unwrap(), stocked);
    assert!(
        active(&store).is_empty(),
        "an expired hold is listed as active"
    );
    assert_eq!(held_in_grid(&store), 0);
    let all = store.holds(&here, false).unwrap();
    let expired = all.iter().find(|h| h.id == hold).unwrap();
    assert_eq!(expired.hold.expires_at, NOW + two_hours);
    assert!(expired.hold.ended.is_none());
    // Every unit can be put aside again.
    store
        .place_hold(&HoldRequest {
            store: here.clone(),
            variant: variant.clone(),
            quantity: u32::try_from(stocked).unwrap(),
            customer,
            associate: associate(),
            hours: 1,
        })
        .unwrap();
    assert_eq!(store.available(&here, &variant).unwrap(), 0);
    assert_eq!(store.check_projections().unwrap(), Vec::<String>::new());
}

#[test]
fn two_tablets_selling_the_last_unit_merge_into_an_oversell_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let (mut a, data) = demo_store(&dir.path().join("a.sqlite3"), 5, 5);
    let here = store_id("MAN-AR");
    let inventory = DocId::Inventory(here.clone());
    let mut b = replica_of(
        &mut a,
        &dir.path().join("b.sqlite3"),
        6,
        &[DocId::Catalog, inventory.clone()],
    );

    let variant = data.stock[&here]
        .iter()
        .find(|(_, n)| **n == 1)
        .map(|(v, _)| VariantSku::parse(v.clone()).unwrap());
    let variant = match variant {
        Some(v) => v,
        None => {
            // Make one variant have exactly one unit, on both tablets.
            let (v, n) = data.stock[&here].iter().find(|(_, n)| **n > 1).unwrap();
            let v = VariantSku::parse(v.clone()).unwrap();
            a.adjust_stock(&here, &v, 1 - n, "recount", &associate())
                .unwrap();
            sync_doc(&mut a, &mut b, &inventory);
            v
        }
    };
    assert_eq!(b.on_hand(&here, &variant).unwrap(), 1);

    for tablet in [&mut a, &mut b] {
        let receipt = tablet
            .sell(&SaleRequest {
                store: here.clone(),
                lines: vec![(variant.clone(), 1)],
                customer: None,
                associate: associate(),
                holds: vec![],
                cart: None,
            })
            .unwrap();
        assert!(receipt.oversold.is_empty(), "each tablet saw one unit");
        assert!(tablet.conflicts().unwrap().is_empty());
    }
    sync_doc(&mut a, &mut b, &inventory);
    for tablet in [&a, &b] {
        assert_eq!(
            tablet.on_hand(&here, &variant).unwrap(),
            -1,
            "never clamped"
        );
        let conflicts = tablet.conflicts().unwrap();
        assert_eq!(conflicts.len(), 1);
        assert_eq!(conflicts[0].variant, variant);
        assert_eq!(conflicts[0].on_hand, -1);
        assert_eq!(conflicts[0].resolved_at, None);
    }
    // The manager recounts on tablet A: the correction syncs and closes the conflict on B
    // too, credited to the manager.
    let manager = AssociateId::parse("mo.manager").unwrap();
    let conflict = a.conflicts().unwrap()[0].id.clone();
    assert_eq!(a.resolve_oversell(&conflict, 0, &manager).unwrap(), 0);
    assert_eq!(a.stats().unwrap().open_conflicts, 0);
    assert!(matches!(
        a.resolve_oversell(&conflict, 0, &manager),
        Err(CoreError::NotFound { .. })
    ));
    sync_doc(&mut a, &mut b, &inventory);
    for tablet in [&mut a, &mut b] {
        assert_eq!(tablet.on_hand(&here, &variant).unwrap(), 0);
        let conflicts = tablet.conflicts().unwrap();
        assert_eq!(conflicts.len(), 1);
        assert!(conflicts[0].resolved_at.is_some());
        assert_eq!(conflicts[0].resolved_by.as_ref(), Some(&manager));
        assert_eq!(tablet.check_projections().unwrap(), Vec::<String>::new());
    }
}

#[test]
fn floor_overview_and_kpis_follow_visits_holds_and_sales() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, data) = demo_store(&dir.path().join("s.sqlite3"), 9, 20);
    let here = store_id("MAN-AR");
    let now = store.now();
    let day = 86_400_000;
    let day_start = now - now % day;
    let customer = store
        .identify(&Identifier::Loyalty(
            data.customer(3).customer.loyalty_id.clone(),
        ))
        .unwrap();
    let before = store
        .floor_overview(&here, day_start, day_start + day)
        .unwrap();
    assert!(before.checked_in.iter().all(|c| c.customer.id != customer));

    store
        .record_visit(&customer, &here, VisitSource::Kiosk)
        .unwrap();
    let (variant, _) = data.stock[&here].iter().find(|(_, n)| **n > 2).unwrap();
    let variant = VariantSku::parse(variant.clone()).unwrap();
    store
        .set_online_cart(
            &customer,
            vec![("web-1".into(), variant.clone(), 1)],
            CartStatus::Abandoned,
            Channel::Web,
        )
        .unwrap();
    let hold = store
        .place_hold(&HoldRequest {
            store: here.clone(),
            variant: variant.clone(),
            quantity: 1,
            customer: customer.clone(),
            associate: associate(),
            hours: 2,
        })
        .unwrap();

    let overview = store
        .floor_overview(&here, day_start, now + 3 * 3_600_000)
        .unwrap();
    assert_eq!(overview.checked_in[0].customer.id, customer);
    assert_eq!(overview.checked_in[0].source, VisitSource::Kiosk);
    let line = overview
        .holds_expiring
        .iter()
        .find(|h| h.hold.id == hold)
        .expect("a two-hour hold expires today");
    assert_eq!(line.customer_name, data.customer(3).customer.name);
    assert!(
        overview.stock_alerts.iter().all(|a| a.variant != variant),
        "plenty left and not selling yet, so not running out"
    );

    let receipt = store
        .sell(&SaleRequest {
            store: here.clone(),
            lines: vec![(variant.clone(), 1)],
            customer: Some(customer.clone()),
            associate: associate(),
            holds: vec![hold],
            cart: None,
        })
        .unwrap();
    // A second sale of something else is not a conversion.
    store
        .sell(&SaleRequest {
            store: here.clone(),
            lines: vec![(variant.clone(), 1)],
            customer: None,
            associate: AssociateId::parse("jo.b").unwrap(),
            holds: vec![],
            cart: None,
        })
        .unwrap();
    let profile = store.customer(&customer).unwrap();
    assert_eq!(profile.online_cart().unwrap().status, CartStatus::Converted);
    // Two sold today after weeks of none: about 0.19 a day (half-life a week), so one left
    // lasts about five days and is on the Floor's one-week list.
    let left = store.on_hand(&here, &variant).unwrap();
    store
        .adjust_stock(&here, &variant, 1 - left, "recount", &associate())
        .unwrap();
    let overview = store
        .floor_overview(&here, day_start, day_start + day)
        .unwrap();
    let running_out = overview
        .stock_alerts
        .iter()
        .find(|a| a.variant == variant)
        .expect("the variant sold today is running out");
    assert_eq!(running_out.reason, StockAlertReason::RunningOut);
    assert_eq!(running_out.available, 1);
    assert!(
        (running_out.per_day - 0.189).abs() < 0.01,
        "{running_out:?}"
    );
    let cover = running_out.days_of_cover.unwrap();
    assert!((5.0..6.0).contains(&cover), "{cover}");
    // With three left it lasts about sixteen days: off the week's list, on a month's.
    store
        .adjust_stock(&here, &variant, 2, "delivery", &associate())
        .unwrap();
    let (week, _) = store.stock_alerts(&here, 7, 100).unwrap();
    assert!(week.iter().all(|a| a.variant != variant));
    let (month, _) = store.stock_alerts(&here, 30, 100).unwrap();
    assert!(month.iter().any(|a| a.variant == variant));
    // No more are coming once it is discontinued: running out is no longer news.
    let product = store.variant_product(&variant).unwrap().0;
    discontinue(
        &mut store,
        data.products.iter().find(|p| p.sku == product).unwrap(),
    );
    let (month, _) = store.stock_alerts(&here, 30, 100).unwrap();
    assert!(month.iter().all(|a| a.variant != variant));

    // Out of stock while a customer of this store has it in their cart: first on the list.
    let wanting = (0..20)
        .map(|i| data.customer(i))
        .find(|c| {
            c.customer.home_store == here
                && c.customer.loyalty_id != data.customer(3).customer.loyalty_id
        })
        .expect("another customer of this store");
    let wanting = store
        .identify(&Identifier::Loyalty(wanting.customer.loyalty_id.clone()))
        .unwrap();
    store
        .set_online_cart(
            &wanting,
            vec![("web-9".into(), variant.clone(), 2)],
            CartStatus::Abandoned,
            Channel::Web,
        )
        .unwrap();
    store
        .adjust_stock(&here, &variant, -3, "damaged", &associate())
        .unwrap();
    let overview = store
        .floor_overview(&here, day_start, day_start + day)
        .unwrap();
    let first = &overview.stock_alerts[0];
    assert_eq!(first.variant, variant);
    assert_eq!(first.reason, StockAlertReason::OutWithDemand);
    assert_eq!((first.available, first.in_carts), (0, 2));

    let kpis = store.store_kpis(&here, day_start - day, 2).unwrap();
    assert_eq!(kpis.days.len(), 2);
    let today = &kpis.days[1];
    assert!(today.check_ins >= 1);
    assert_eq!(
        today.assisted, 1,
        "one customer served, however many actions"
    );
    assert_eq!(today.sales, 2);
    assert_eq!(today.online_carts_converted, 1);
    assert_eq!(kpis.by_associate.len(), 2);
    let sam = kpis
        .by_associate
        .iter()
        .find(|a| a.associate == associate())
        .unwrap();
    assert_eq!((sam.sales, sam.revenue_cents), (1, receipt.total_cents));
    assert!(store.store_kpis(&here, day_start, 0).is_err());
    assert!(store.floor_overview(&here, day_start, day_start).is_err());

    // Products are found by name and by the barcode on the tag.
    let product = &data.products[0];
    let word = product.name.split(' ').next().unwrap();
    assert!(
        store
            .search_products(word, 20)
            .unwrap()
            .iter()
            .any(|p| p.name.contains(word))
    );
    let by_ean = store.search_products(&product.variants[0].ean, 5).unwrap();
    assert_eq!(by_ean[0].sku, product.sku);
    assert!(store.search_products("%_\\", 5).unwrap().is_empty());
    assert_eq!(store.check_projections().unwrap(), Vec::<String>::new());
}

#[test]
fn concurrent_customer_edits_merge_with_nothing_lost() {
    let dir = tempfile::tempdir().unwrap();
    let (mut a, data) = demo_store(&dir.path().join("a.sqlite3"), 7, 3);
    let customer = data.customer(0).id.unwrap();
    let doc = DocId::Customer(customer.clone());
    let mut b = replica_of(
        &mut a,
        &dir.path().join("b.sqlite3"),
        8,
        &[DocId::Catalog, doc.clone()],
    );
    let here = store_id("LDN-CG");
    let product = &data.products[0];
    let variant = &product.variants[0].sku;

    let before = a.customer(&customer).unwrap();
    let views_before = before
        .views
        .iter()
        .find(|v| v.product == product.sku)
        .map_or(0, |v| v.count);
    let (cart, shared_line) = a.add_cart_line(&customer, None, &here, variant, 1).unwrap();
    sync_doc(&mut a, &mut b, &doc);

    // Offline on both: notes, views of the same new product, lines added to the same cart,
    // one side removes the shared line while the other changes its quantity.
    let note_a = a
        .add_note(&customer, "note from A", &associate(), None)
        .unwrap();
    let note_b = b
        .add_note(&customer, "note from B", &associate(), None)
        .unwrap();
    a.record_view(&customer, &product.sku, None).unwrap();
    b.record_view(&customer, &product.sku, None).unwrap();
    b.record_view(&customer, &product.sku, None).unwrap();
    let (_, line_a) = a
        .add_cart_line(&customer, Some(&cart), &here, variant, 1)
        .unwrap();
    let (_, line_b) = b
        .add_cart_line(&customer, Some(&cart), &here, variant, 1)
        .unwrap();
    a.remove_cart_line(&customer, &cart, &shared_line).unwrap();
    b.set_cart_line_quantity(&customer, &cart, &shared_line, 5)
        .unwrap();

    sync_doc(&mut a, &mut b, &doc);
    let pa = a.customer(&customer).unwrap();
    let pb = b.customer(&customer).unwrap();
    assert_eq!(pa, pb);
    assert!(pa.notes.iter().any(|n| n.id == note_a));
    assert!(pa.notes.iter().any(|n| n.id == note_b));
    let views = pa.views.iter().find(|v| v.product == product.sku).unwrap();
    assert_eq!(views.count, views_before + 3);
    let lines = &pa.carts.iter().find(|c| c.id == cart).unwrap().item.lines;
    assert!(lines.contains_key(&line_a) && lines.contains_key(&line_b));
    assert!(
        !lines.contains_key(&shared_line),
        "a removed line stays removed"
    );
}

#[test]
fn bad_input_gets_a_typed_error_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, data) = demo_store(&dir.path().join("s.sqlite3"), 9, 5);
    let customer = data.customer(0).id.unwrap();
    let here = store_id("LDN-CG");
    let docs_before = store.stats().unwrap();
    let profile_before = store.customer(&customer).unwrap();

    let unknown = aisle_core::model::CustomerId::parse("no-such-customer").unwrap();
    assert_eq!(
        store.customer(&unknown).unwrap_err().code(),
        ErrorCode::NotFound
    );
    assert_eq!(
        store
            .add_note(&unknown, "hi", &associate(), None)
            .unwrap_err()
            .code(),
        ErrorCode::NotFound
    );
    for text in ["", "   ", &"x".repeat(2001), "bell\u{7}"] {
        let err = store
            .add_note(&customer, text, &associate(), None)
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidInput, "{text:?}");
    }
    let variant = data.products[0].variants[0].sku.clone();
    assert!(matches!(
        store.add_cart_line(&customer, None, &here, &variant, 0),
        Err(CoreError::Invalid(_))
    ));
    assert!(matches!(
        store.add_cart_line(&customer, Some("no-such-cart"), &here, &variant, 1),
        Err(CoreError::NotFound { .. })
    ));
    let ghost = VariantSku::parse("NOPE-1").unwrap();
    assert_eq!(
        store
            .adjust_stock(&here, &ghost, 1, "x", &associate())
            .unwrap_err()
            .code(),
        ErrorCode::NotFound
    );
    assert_eq!(
        store
            .adjust_stock(&here, &variant, 0, "x", &associate())
            .unwrap_err()
            .code(),
        ErrorCode::InvalidInput
    );
    assert!(store.search_customers(&"a".repeat(10_000), 10).is_ok());

    // Duplicate identifiers are refused.
    let dup = NewCustomer {
        loyalty_id: data.customer(1).customer.loyalty_id,
        name: "Someone Else".into(),
        email: None,
        phone: None,
        home_store: here.clone(),
        tier: Tier::Member,
        consent: BTreeMap::new(),
    };
    assert_eq!(
        store.create_customer(dup).unwrap_err().code(),
        ErrorCode::InvalidInput
    );

    // A malformed record at the end of an import leaves nothing of the import behind.
    let mut records: Vec<_> = (100..110).map(|i| data.customer(i)).collect();
    records[9].customer.email = Some("not-an-email".into());
    let err = store.import_customers(records, |_| {}).unwrap_err();
    assert!(matches!(err, CoreError::Import { record: 9, .. }), "{err}");

    assert_eq!(store.stats().unwrap(), docs_before);
    assert_eq!(store.customer(&customer).unwrap(), profile_before);
    assert_eq!(store.check_projections().unwrap(), Vec::<String>::new());
}

#[test]
fn a_new_customer_can_be_created_and_found() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, _) = demo_store(&dir.path().join("s.sqlite3"), 10, 0);
    let loyalty = LoyaltyId::from_serial(9_999_999);
    let id = store
        .create_customer(NewCustomer {
            loyalty_id: loyalty.clone(),
            name: "Ada Lovelace".into(),
            email: Some("Ada@Example.org".into()),
            phone: Some("07700 900461".into()),
            home_store: store_id("EDI-PS"),
            tier: Tier::Gold,
            consent: BTreeMap::new(),
        })
        .unwrap();
    assert_eq!(store.identify(&Identifier::Loyalty(loyalty)).unwrap(), id);
    assert_eq!(
        store
            .identify(&Identifier::Phone("+44 7700 900461".into()))
            .unwrap(),
        id
    );
    let profile = store.customer(&id).unwrap();
    assert_eq!(profile.identity.email.as_deref(), Some("ada@example.org"));
    assert_eq!(store.search_customers("ada lov", 5).unwrap()[0].id, id);
}

#[test]
fn documents_survive_compaction_and_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite3");
    let (mut store, data) = demo_store(&path, 11, 3);
    let customer = data.customer(2).id.unwrap();
    // Enough changes to trigger automatic compaction at least once.
    for i in 0..150 {
        store
            .add_note(&customer, &format!("note {i}"), &associate(), None)
            .unwrap();
    }
    let profile = store.customer(&customer).unwrap();
    assert!(store.compact_all().unwrap() >= 3);
    drop(store);
    let store = store_at(&path, 12);
    assert_eq!(store.customer(&customer).unwrap(), profile);
    assert_eq!(profile.notes.len(), data.customer(2).notes.len() + 150);
}

#[test]
fn a_peer_left_at_a_chunks_heads_gets_the_later_chunks_without_the_document_loading() {
    use aisle_core::replicate::Unchecked;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite3");
    let (mut store, data) = demo_store(&path, 11, 3);
    let customer = data.customer(1).id.unwrap();
    let doc = DocId::Customer(customer.clone());
    let mut replica = replica_of(
        &mut store,
        &dir.path().join("r.sqlite3"),
        12,
        std::slice::from_ref(&doc),
    );
    // What a build before chunks kept their heads left: the migration gives the last chunk
    // of each document the document's heads, which is all it can know without loading it.
    drop(store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("ALTER TABLE doc_chunks DROP COLUMN heads; PRAGMA user_version = 4;")
        .unwrap();
    drop(conn);
    let mut store = store_at(&path, 13);
    let left_at = store.doc_heads(&doc).unwrap();
    for i in 0..3 {
        store
            .add_note(&customer, &format!("note {i}"), &associate(), None)
            .unwrap();
    }
    // The first chunk no longer loads: only an answer from the later chunks as stored works.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "UPDATE doc_chunks SET data = x'00' WHERE doc_id = ?1
         AND seq = (SELECT MIN(seq) FROM doc_chunks WHERE doc_id = ?1)",
        [doc.to_string()],
    )
    .unwrap();
    drop(conn);
    let (heads, changes) = store.changes_since(&doc, &left_at).unwrap().unwrap();
    assert_eq!(heads, store.doc_heads(&doc).unwrap());
    replica
        .apply_changes(vec![(doc.clone(), changes)], &Unchecked)
        .unwrap();
    assert_eq!(replica.doc_heads(&doc).unwrap(), heads);
    assert_eq!(
        replica.customer(&customer).unwrap().notes.len(),
        data.customer(1).notes.len() + 3
    );
    // Heads no chunk ended at are answered by loading the document, which now fails.
    let mut first_note = left_at.clone();
    first_note.push(aisle_core::automerge::ChangeHash([7; 32]));
    assert!(matches!(
        store.changes_since(&doc, &first_note),
        Err(CoreError::Corrupt { .. })
    ));
}

#[test]
fn a_version_1_database_gains_visit_sale_and_basket_rows_on_opening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite3");
    let here = store_id("MAN-AR");
    let (customer, day_start) = {
        let (mut store, data) = demo_store(&path, 11, 10);
        let customer = store
            .identify(&Identifier::Loyalty(
                data.customer(1).customer.loyalty_id.clone(),
            ))
            .unwrap();
        store
            .record_visit(&customer, &here, VisitSource::NfcTap)
            .unwrap();
        let (variant, _) = data.stock[&here].iter().find(|(_, n)| **n > 0).unwrap();
        store
            .sell(&SaleRequest {
                store: here.clone(),
                lines: vec![(VariantSku::parse(variant.clone()).unwrap(), 1)],
                customer: Some(customer.clone()),
                associate: associate(),
                holds: vec![],
                cart: None,
            })
            .unwrap();
        let now = store.now();
        (customer, now - now % 86_400_000)
    };
    // What a build from before visits and sales were rows left behind.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "DROP TABLE visits; DROP TABLE sales; DROP TABLE sale_lines; DROP TABLE ingested_events;
         DROP TABLE erasures; DROP TABLE customer_lines; DROP TABLE customer_merges;
         DROP TABLE related_products; DROP TABLE loyalty_keys; DROP TABLE revoked_tokens;
         DROP TABLE kiosk_queue; DELETE FROM meta WHERE key LIKE 'schema:%';
         PRAGMA user_version = 1;",
    )
    .unwrap();
    drop(conn);

    let mut store = common::store_at(&path, 12);
    let overview = store
        .floor_overview(&here, day_start, day_start + 86_400_000)
        .unwrap();
    assert!(
        overview
            .checked_in
            .iter()
            .any(|c| c.customer.id == customer)
    );
    let kpis = store.store_kpis(&here, day_start, 1).unwrap();
    assert_eq!(kpis.days[0].sales, 1);
    assert!(
        !RelayDocs::new(&mut *store)
            .expect("a relay store")
            .baskets()
            .unwrap()
            .is_empty(),
        "purchase lines are rows again"
    );
    assert_eq!(store.check_projections().unwrap(), Vec::<String>::new());
}

fn tables(path: &std::path::Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

#[test]
fn each_role_has_only_its_own_tables() {
    let dir = tempfile::tempdir().unwrap();
    let tablet_db = dir.path().join("tablet.sqlite3");
    let relay_db = dir.path().join("relay.sqlite3");
    drop(Tablet::open(&tablet_db).unwrap());
    drop(RelayDocs::open(&relay_db).unwrap());
    let (tablet, relay) = (tables(&tablet_db), tables(&relay_db));
    for relay_only in ["feed", "device_docs", "ingested_events", "erasures"] {
        assert!(
            relay.iter().any(|t| t == relay_only),
            "relay lacks {relay_only}"
        );
        assert!(
            !tablet.iter().any(|t| t == relay_only),
            "tablet has {relay_only}"
        );
    }
    assert!(tablet.iter().any(|t| t == "kiosk_queue"));
    assert!(
        !relay.iter().any(|t| t == "kiosk_queue"),
        "relay has kiosk_queue"
    );
    // Both share the documents and their projections.
    for shared in ["docs", "doc_chunks", "customers", "stock", "peer_heads"] {
        assert!(tablet.iter().any(|t| t == shared) && relay.iter().any(|t| t == shared));
    }
}

#[test]
fn a_role_schema_newer_than_the_build_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tablet.sqlite3");
    drop(Tablet::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "UPDATE meta SET value = CAST('9' AS BLOB) WHERE key = 'schema:tablet'",
        [],
    )
    .unwrap();
    drop(conn);
    let refused = Tablet::open(&path).unwrap_err();
    assert!(
        refused.to_string().contains("newer than this build"),
        "{refused}"
    );
}

/// The rows a customer's projection writes, in a stable order, for comparing two stores.
fn customer_rows(store: &aisle_core::Store) -> Vec<String> {
    customer_rows_with_lines_since(store, i64::MIN)
}

/// [`customer_rows`] with only the purchase lines a device keeps: in a store, at or after
/// `since` (a relay keeps all of them).
fn customer_rows_with_lines_since(store: &aisle_core::Store, since: i64) -> Vec<String> {
    let mut rows = Vec::new();
    for sql in [
        "SELECT customer_id || '|' || loyalty_id || '|' || name || '|' || COALESCE(email, '') || '|'
                || home_store || '|' || tier || '|' || COALESCE(last_visit_at, '')
         FROM customers ORDER BY customer_id",
        "SELECT kind || '|' || value || '|' || customer_id FROM customer_identifiers
         ORDER BY kind, value",
        "SELECT visit_id || '|' || customer_id || '|' || at FROM visits ORDER BY visit_id",
        "SELECT customer_id || '|' || basket_id || '|' || line || '|' || open || '|'
                || variant_sku || '|' || quantity
         FROM customer_lines WHERE kind = 'cart' OR (store_id IS NOT NULL AND at >= ?1)
         ORDER BY customer_id, basket_id, line",
        "SELECT c.customer_id || '|' || s.name || '|' || s.phone
         FROM customers c JOIN customer_search s ON s.rowid = c.rowid ORDER BY c.customer_id",
    ] {
        let mut stmt = store.conn().prepare(sql).unwrap();
        let bound = if stmt.parameter_count() == 1 {
            vec![since]
        } else {
            vec![]
        };
        let found = stmt
            .query_map(rusqlite::params_from_iter(bound), |r| r.get::<_, String>(0))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        rows.extend(found);
    }
    rows
}

#[test]
fn a_first_sync_batch_loads_on_several_threads_and_projects_as_one_by_one() {
    use aisle_core::replicate::{Incoming, Unchecked};

    let dir = tempfile::tempdir().unwrap();
    let (mut source, _) = demo_store(&dir.path().join("source.sqlite3"), 1, 300);
    let customers = source.doc_ids("customer").unwrap();
    let incoming: Vec<Incoming> = customers
        .iter()
        .map(|doc| {
            let (heads, changes) = source.changes_since(doc, &[]).unwrap().unwrap();
            Incoming::changes(doc.clone(), changes, heads)
        })
        .collect();

    // 300 new customers in one batch: well past the parallel threshold.
    let mut batched = store_at(&dir.path().join("batched.sqlite3"), 2);
    let applied = batched
        .apply_from_peer(Some("relay"), incoming.clone(), &Unchecked, None)
        .unwrap();
    assert_eq!(applied.len(), 300);
    assert!(
        applied
            .iter()
            .all(|a| !a.missing_deps && !a.ahead_of_sender)
    );
    // The same documents one at a time, the path every live change takes.
    let mut one_by_one = store_at(&dir.path().join("one_by_one.sqlite3"), 3);
    for item in incoming.iter().cloned() {
        one_by_one
            .apply_from_peer(Some("relay"), vec![item], &Unchecked, None)
            .unwrap();
    }
    assert_eq!(batched.check_projections().unwrap(), Vec::<String>::new());
    let rows = customer_rows(&batched);
    assert!(rows.len() > 1_000, "{} rows", rows.len());
    assert_eq!(rows, customer_rows(&one_by_one));
    assert_eq!(customer_rows(&source), rows);
    for doc in &customers {
        assert_eq!(
            batched.doc_heads(doc).unwrap(),
            source.doc_heads(doc).unwrap()
        );
        assert_eq!(
            batched.peer_heads("relay", doc).unwrap(),
            source.doc_heads(doc).unwrap()
        );
    }
    let DocId::Customer(id) = &customers[17] else {
        panic!("not a customer")
    };
    assert_eq!(batched.customer(id).unwrap(), source.customer(id).unwrap());

    // One document in a large batch that does not load fails the batch, and nothing of it
    // is written.
    let mut bad = incoming;
    bad[150].changes = vec![0x85, 0x6f, 0x4a, 0x83, 1, 2, 3];
    let mut refused = store_at(&dir.path().join("refused.sqlite3"), 4);
    refused
        .apply_from_peer(Some("relay"), bad, &Unchecked, None)
        .unwrap_err();
    assert!(refused.doc_ids("customer").unwrap().is_empty());
    assert!(customer_rows(&refused).is_empty());
}

#[test]
fn customers_sent_with_their_fields_are_stored_without_loading_and_project_the_same() {
    use aisle_core::model::VisitSource;
    use aisle_core::replicate::{Incoming, Unchecked};
    use aisle_core::store::snapshots;

    let dir = tempfile::tempdir().unwrap();
    // A store that serves peers keeps each customer's fields: imported ones, and ones that
    // changed since (a visit goes through the ordinary commit).
    let mut relay = store_at(&dir.path().join("relay.sqlite3"), 1);
    relay.serve_peers();
    DemoData::generate(DemoConfig::new(120, NOW))
        .import(&mut relay, |_| {})
        .unwrap();
    let customers = relay.doc_ids("customer").unwrap();
    let DocId::Customer(visited) = &customers[3] else {
        panic!("not a customer")
    };
    let home = relay.customer(visited).unwrap().identity.home_store;
    relay
        .record_visit(visited, &home, VisitSource::Associate)
        .unwrap();
    let sent: Vec<Incoming> = customers
        .iter()
        .map(|doc| {
            let s = relay.customer_snapshot(doc).unwrap().expect("fields kept");
            assert_eq!(s.heads, relay.doc_heads(doc).unwrap());
            let mut item = Incoming::changes(s.doc, s.bytes, s.heads);
            item.indexed = snapshots::decode_indexed(&s.indexed);
            assert!(item.indexed.is_some());
            item
        })
        .collect();

    let mut tablet = store_at(&dir.path().join("tablet.sqlite3"), 2);
    let applied = tablet
        .apply_from_peer(Some("relay"), sent.clone(), &Unchecked, None)
        .unwrap();
    assert_eq!(applied.len(), customers.len());
    // The tablet keeps the purchase lines its stock alerts read; the relay keeps all of them.
    let since = NOW - aisle_core::store::projection::DEVICE_PURCHASE_LINE_DAYS * 86_400_000;
    assert_eq!(
        customer_rows(&tablet),
        customer_rows_with_lines_since(&relay, since)
    );
    let purchase_lines = |store: &aisle_core::Store| -> i64 {
        store
            .conn()
            .query_row(
                "SELECT count(*) FROM customer_lines WHERE kind = 'purchase'",
                [],
                |r| r.get(0),
            )
            .unwrap()
    };
    assert!(purchase_lines(&tablet) > 0);
    assert!(purchase_lines(&relay) > 5 * purchase_lines(&tablet));
    assert_eq!(tablet.check_projections().unwrap(), Vec::<String>::new());
    for doc in &customers {
        assert_eq!(
            tablet.doc_heads(doc).unwrap(),
            relay.doc_heads(doc).unwrap()
        );
        assert_eq!(
            tablet.peer_heads("relay", doc).unwrap(),
            relay.doc_heads(doc).unwrap()
        );
    }
    // Stored as they came, they load as the relay's documents.
    assert_eq!(
        tablet.customer(visited).unwrap(),
        relay.customer(visited).unwrap()
    );
    // A tablet keeps no fields for others.
    let kept: i64 = tablet
        .conn()
        .query_row("SELECT count(*) FROM customer_index", [], |r| r.get(0))
        .unwrap();
    assert_eq!(kept, 0);

    // Fields naming another customer, or bytes that are no document, are not taken as they
    // come: the document is loaded and read, and what does not load fails the batch.
    let mut lying = sent.clone();
    lying[0].indexed = lying[1].indexed.clone();
    let mut careful = store_at(&dir.path().join("careful.sqlite3"), 3);
    careful
        .apply_from_peer(Some("relay"), lying, &Unchecked, None)
        .unwrap();
    assert_eq!(
        customer_rows(&careful),
        customer_rows_with_lines_since(&relay, since)
    );
    let mut garbage = sent.clone();
    garbage[5].changes = vec![1, 2, 3, 4, 5];
    let mut refused = store_at(&dir.path().join("refused.sqlite3"), 4);
    refused
        .apply_from_peer(Some("relay"), garbage, &Unchecked, None)
        .unwrap_err();
    assert!(refused.doc_ids("customer").unwrap().is_empty());

    // A tablet that already holds a customer merges the snapshot into its own edits.
    let mut holding = store_at(&dir.path().join("holding.sqlite3"), 5);
    let (heads, changes) = relay.changes_since(&customers[3], &[]).unwrap().unwrap();
    holding
        .apply_changes(vec![(customers[3].clone(), changes)], &Unchecked)
        .unwrap();
    let associate = aisle_core::model::AssociateId::parse("kim.a").unwrap();
    holding
        .add_note(visited, "Asked for the boots in 38.", &associate, None)
        .unwrap();
    let applied = holding
        .apply_from_peer(Some("relay"), vec![sent[3].clone()], &Unchecked, None)
        .unwrap();
    assert!(applied[0].ahead_of_sender);
    assert_ne!(holding.doc_heads(&customers[3]).unwrap(), heads);
    let merged = holding.customer(visited).unwrap();
    assert_eq!(
        merged.notes.len(),
        relay.customer(visited).unwrap().notes.len() + 1
    );
    assert_eq!(merged.visits, relay.customer(visited).unwrap().visits);

    // Fields not at the document's heads are not sent; erasing a customer erases its fields.
    relay
        .conn()
        .execute(
            "UPDATE customer_index SET heads = x'00' WHERE doc_id = ?1",
            [customers[7].to_string()],
        )
        .unwrap();
    assert!(relay.customer_snapshot(&customers[7]).unwrap().is_none());
    relay.drop_doc(&customers[8]).unwrap();
    assert!(relay.customer_snapshot(&customers[8]).unwrap().is_none());
    let left: i64 = relay
        .conn()
        .query_row(
            "SELECT count(*) FROM customer_index WHERE doc_id = ?1",
            [customers[8].to_string()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(left, 0);
}
