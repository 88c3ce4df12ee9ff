//! Imports of a retailer's files, straight on the relay's document store (a real SQLite file):
//! every rejection path names the line and why, and leaves every document as it was; the
//! same file twice writes nothing; a later file changes what differs. The walk through the
//! command line and the API, with a tablet, is `tests/scenarios/onboarding.rs`.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

use aisle_core::DocId;
use aisle_core::api::{ImportFormat, ImportKind, ImportSummary};
use aisle_core::automerge::ChangeHash;
use aisle_core::model::{Identifier, LoyaltyId, ProductSku, StoreId};
use aisle_relay::domain::RelayDocs;
use aisle_relay::domain::import::{ImportError, ImportFile, customer_id_for};
use std::collections::BTreeMap;
use std::path::Path;

fn sample(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../assets/onboarding")
            .join(name),
    )
    .unwrap()
}

fn file(kind: ImportKind, text: &str) -> ImportFile {
    ImportFile {
        kind,
        format: ImportFormat::Csv,
        rename: BTreeMap::new(),
        text: text.to_string(),
    }
}

/// A relay holding the sample retailer's stores, products, stock and customers.
fn onboarded(dir: &Path) -> RelayDocs {
    let mut docs = RelayDocs::open(dir.join("relay.sqlite3")).unwrap();
    for (kind, name) in [
        (ImportKind::Stores, "stores.csv"),
        (ImportKind::Products, "products.csv"),
        (ImportKind::Stock, "stock.csv"),
        (ImportKind::Customers, "customers.csv"),
    ] {
        docs.import(&file(kind, &sample(name))).unwrap();
    }
    docs
}

/// Every document's heads: what "nothing was written" compares.
fn all_heads(docs: &RelayDocs) -> BTreeMap<String, Vec<ChangeHash>> {
    let mut out = BTreeMap::new();
    for kind in ["catalog", "inventory", "customer"] {
        for doc in docs.doc_ids(kind).unwrap() {
            out.insert(doc.to_string(), docs.doc_heads(&doc).unwrap());
        }
    }
    out
}

/// Imports `text`, which must be refused with exactly these lines, each reason containing
/// its text, and nothing written.
fn refused(docs: &mut RelayDocs, kind: ImportKind, text: &str, expected: &[(usize, &str)]) {
    let before = all_heads(docs);
    let Err(ImportError::Rejected(rejected)) = docs.import(&file(kind, text)) else {
        panic!("{kind:?} import was not refused: {text}");
    };
    let got: Vec<(usize, &str)> = rejected
        .errors
        .iter()
        .map(|e| (e.line, e.reason.as_str()))
        .collect();
    assert_eq!(got.len(), expected.len(), "{got:?}");
    for ((line, reason), (want_line, want)) in got.iter().zip(expected) {
        assert_eq!(line, want_line, "{got:?}");
        assert!(
            reason.contains(want),
            "line {line}: {reason:?} lacks {want:?}"
        );
    }
    assert_eq!(rejected.bad_records, expected.len());
    assert_eq!(all_heads(docs), before, "a refused import wrote something");
}

#[test]
fn the_same_files_again_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut docs = onboarded(dir.path());
    let before = all_heads(&docs);
    for (kind, name, records) in [
        (ImportKind::Stores, "stores.csv", 2),
        (ImportKind::Products, "products.csv", 4),
        (ImportKind::Stock, "stock.csv", 14),
        (ImportKind::Customers, "customers.csv", 4),
    ] {
        let summary = docs.import(&file(kind, &sample(name))).unwrap();
        assert_eq!(
            (summary.created, summary.updated, summary.unchanged),
            (0, 0, records)
        );
    }
    assert_eq!(all_heads(&docs), before);
    assert_eq!(docs.check_projections().unwrap(), Vec::<String>::new());
}

#[test]
fn a_later_file_changes_what_differs_under_the_retailers_own_column_names() {
    let dir = tempfile::tempdir().unwrap();
    let mut docs = onboarded(dir.path());
    let mut erp = file(ImportKind::Products, &sample("products-erp-prices.csv"));
    erp.rename = aisle_relay::domain::import::rows::parse_mapping(
        "Article=product_sku,Description=name,Brand=brand,Group=category,Style=style,\
         Retail price=price,Option=variant_sku,Size=size,Colour=colour,Barcode=ean",
    )
    .unwrap();
    let summary = docs.import(&erp).unwrap();
    assert_eq!(
        summary,
        ImportSummary {
            records: 4,
            created: 0,
            updated: 1,
            unchanged: 0
        }
    );
    let tee = ProductSku::parse("HP-TEE-07").unwrap();
    assert_eq!(docs.product(&tee).unwrap().price_cents, 2200);
    // The new variant starts at zero in both stores; the others kept their counts.
    for (store, white_s) in [("BRS-CB", 12), ("BTH-SG", 0)] {
        let grid = docs
            .stock_for_product(&StoreId::parse(store).unwrap(), &tee)
            .unwrap();
        let level = |v: &str| {
            grid.levels
                .iter()
                .find(|l| l.variant.as_str() == v)
                .map(|l| l.on_hand)
        };
        assert_eq!(level("HP-TEE-07-BLACK-L"), Some(0), "{store}");
        assert_eq!(level("HP-TEE-07-WHITE-S"), Some(white_s), "{store}");
    }

    // A count of 1 where 5 are held: an adjustment of -4, after which the count is 1.
    let summary = docs
        .import(&file(
            ImportKind::Stock,
            "store_id,variant_sku,on_hand\nBRS-CB,HP-PARKA-01-NAVY-M,1\n",
        ))
        .unwrap();
    assert_eq!((summary.updated, summary.unchanged), (1, 0));
    let parka = docs
        .stock_for_product(
            &StoreId::parse("BRS-CB").unwrap(),
            &ProductSku::parse("HP-PARKA-01").unwrap(),
        )
        .unwrap();
    let navy_m = parka
        .levels
        .iter()
        .find(|l| l.variant.as_str() == "HP-PARKA-01-NAVY-M")
        .unwrap();
    assert_eq!(navy_m.on_hand, 1);

    // Customers as JSON lines: a new email and tier, a new customer.
    let mut update = file(ImportKind::Customers, &sample("customers-update.jsonl"));
    update.format = ImportFormat::Jsonl;
    let summary = docs.import(&update).unwrap();
    assert_eq!((summary.created, summary.updated), (1, 1));
    let tobias = docs
        .identify(&Identifier::Loyalty(
            LoyaltyId::parse("AL700000029").unwrap(),
        ))
        .unwrap();
    assert_eq!(tobias, customer_id_for("C-10002"));
    let profile = docs.customer(&tobias).unwrap();
    assert_eq!(
        profile.identity.email.as_deref(),
        Some("t.reyes@example.net")
    );
    assert!(
        docs.has_doc(&DocId::Customer(customer_id_for("C-10005")))
            .unwrap()
    );
    assert_eq!(docs.check_projections().unwrap(), Vec::<String>::new());
}

#[test]
fn bad_records_are_named_by_line_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut docs = onboarded(dir.path());
    let header = "product_sku,name,brand,category,style,price,image_url,complements,variant_sku,size,colour,ean";
    refused(
        &mut docs,
        ImportKind::Products,
        &format!(
            "{header}\n\
             HP-NEW-01,New,HP,tops,,10.00,,,HP-NEW-01-RED-S,S,red,5060000000139\n\
             HP-NEW-01,Renamed,HP,tops,,10.00,,,HP-NEW-01-RED-M,M,red,5060000000146\n\
             HP-NEW-02,Two,HP,hats,,10.00,,,HP-NEW-02-RED-S,S,red,5060000000153\n\
             HP-NEW-03,Three,HP,tops,,12,50,,,HP-NEW-03-RED-S,S,red,5060000000160\n\
             HP-NEW-04,Four,HP,tops,,9.999,,,HP-NEW-04-RED-S,S,red,5060000000177\n\
             HP-NEW-05,Five,HP,tops,,5.00,,,HP-NEW-01-RED-S,S,red,5060000000184\n\
             HP-NEW-06,Six,HP,tops,,5.00,,,HP-NEW-06-RED-S,S,red,5060000000139\n"
        ),
        &[
            (3, "differ from line 2"),
            (4, "category \"hats\""),
            (5, "not a CSV record"),
            (6, "at most 2 decimals"),
            (7, "variant HP-NEW-01-RED-S is also on line 2"),
            (8, "EAN 5060000000139 is also variant HP-NEW-01-RED-S's"),
        ],
    );
    refused(
        &mut docs,
        ImportKind::Products,
        &format!(
            "{header}\n\
             HP-NEW-07,Seven,HP,tops,,5.00,,HP-GONE-99,HP-NEW-07-RED-S,S,red,5060000000191\n\
             HP-NEW-08,Eight,HP,tops,,5.00,,,HP-NEW-08-RED-S,S,red,5060000000016\n\
             HP-NEW-09,Nine,HP,tops,,5.00,,,HP-NEW-09-RED-S,S,red,123\n"
        ),
        &[
            (
                2,
                "complement HP-GONE-99 is neither in the file nor in the catalog",
            ),
            (3, "EAN 5060000000016 belongs to variant HP-PARKA-01-NAVY-S"),
            (4, "ean is not an EAN-13"),
        ],
    );
    refused(
        &mut docs,
        ImportKind::Products,
        "sku,name\nA,B\n",
        &[(1, "unknown column sku (")],
    );
    let header = "customer_id,loyalty_number,name,email,phone,home_store";
    refused(
        &mut docs,
        ImportKind::Customers,
        &format!(
            "{header}\n\
             C-2,AL700000060,Ada,ada@example.org,,BRS-CB\n\
             C-3,AL700000078,Bo,ada@example.org,,BRS-CB\n\
             C-4,AL700000061,Cy,,,BRS-CB\n\
             C-5,AL700000086,Di,,,LDS-XX\n\
             C-6,AL700000094,Ed,imogen.hart@example.org,,BRS-CB\n\
             C-10001,AL700000102,Imogen Hart,,,BRS-CB\n\
             C-7,AL700000110,,,,BRS-CB\n"
        ),
        &[
            (3, "email ada@example.org is also on line 2"),
            (4, "check digit"),
            (5, "home_store LDS-XX is not in the catalog"),
            (
                6,
                "email imogen.hart@example.org belongs to another customer",
            ),
            (7, "loyalty number is AL700000011 here"),
            (8, "name is missing"),
        ],
    );
    // The same two in a file with nothing else wrong.
    refused(
        &mut docs,
        ImportKind::Customers,
        &format!(
            "{header}\n\
             C-6,AL700000094,Ed,imogen.hart@example.org,,BRS-CB\n\
             C-10001,AL700000102,Imogen Hart,,,BRS-CB\n"
        ),
        &[
            (
                2,
                "email imogen.hart@example.org belongs to another customer",
            ),
            (3, "loyalty number is AL700000011 here"),
        ],
    );
    refused(
        &mut docs,
        ImportKind::Stock,
        "store_id,variant_sku,on_hand\nBRS-CB,HP-TEE-07-WHITE-S,ten\n",
        &[(2, "on_hand is not a whole number")],
    );
    let mut json = file(ImportKind::Stores, "{\"store_id\": \"X-1\"}\n[1,2]\n");
    json.format = ImportFormat::Jsonl;
    let before = all_heads(&docs);
    let Err(ImportError::Rejected(rejected)) = docs.import(&json) else {
        panic!("refused");
    };
    let lines: Vec<usize> = rejected.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, [1, 2], "{rejected:?}");
    assert_eq!(all_heads(&docs), before);
}

#[test]
fn prices_are_read_in_the_tenants_currency_with_its_decimals() {
    let dir = tempfile::tempdir().unwrap();
    let mut docs = RelayDocs::open(dir.path().join("relay.sqlite3")).unwrap();
    docs.import(&file(ImportKind::Stores, &sample("stores.csv")))
        .unwrap();
    let yen = aisle_core::model::TenantLocale::new("jpy", "ja-JP").unwrap();
    assert!(docs.publish_locale(&yen).unwrap());
    assert!(!docs.publish_locale(&yen).unwrap(), "published once");
    assert_eq!(docs.locale().unwrap(), yen);
    let header = "product_sku,name,brand,category,style,price,image_url,complements,variant_sku,size,colour,ean\n";
    // Yen have no decimals: 12.50 is not a price in yen.
    refused(
        &mut docs,
        ImportKind::Products,
        &format!("{header}JP-TEE-01,Tee,HP,tops,,12.50,,,JP-TEE-01-RED-S,S,red,5060000000191\n"),
        &[(2, "no decimals")],
    );
    docs.import(&file(
        ImportKind::Products,
        &format!("{header}JP-TEE-01,Tee,HP,tops,,2900,,,JP-TEE-01-RED-S,S,red,5060000000191\n"),
    ))
    .unwrap();
    let tee = docs
        .product(&ProductSku::parse("JP-TEE-01").unwrap())
        .unwrap();
    assert_eq!(tee.price_cents, 2900);
    // Once priced in yen, the catalog is not read as pounds.
    let refused = docs
        .publish_locale(&aisle_core::model::TenantLocale::default())
        .unwrap_err();
    assert!(
        refused.to_string().contains("prices are in JPY"),
        "{refused}"
    );
}
