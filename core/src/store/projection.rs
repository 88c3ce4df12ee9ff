//! Projection rows: the plain tables that lookups, search and lists read, derived from the
//! documents and written in the same transaction as the document change.

use automerge::{AutoCommit, Prop};
use rusqlite::{OptionalExtension, Transaction, params};
use std::collections::{BTreeMap, BTreeSet};

use super::{DocWrite, Store};
use crate::clock::IdGen;
use crate::doc::{self, Adjustment, CatalogDoc, CustomerDoc, DocId, IndexedCustomer, InventoryDoc};
use crate::error::Result;
use crate::model::{CustomerId, Hold, HoldEnd, Millis, Sale, StoreId, scope};

/// How long a device keeps the purchase lines made in a store as rows: the sales velocity
/// of its stock alerts looks back this far, and nothing else on a device reads them.
pub const DEVICE_PURCHASE_LINE_DAYS: i64 = 56;

/// Which purchase lines a store keeps as rows (`customer_lines`); cart lines are all kept.
/// Most of a customer's history is old purchases (18 lines a customer in the demo data, over
/// two years), and a device writing all of them made its first sync a third slower.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PurchaseLines {
    /// Every purchase: the relay counts all baskets for recommendations.
    All,
    /// Purchases made in a store at or after this time: a device, which reads only its own
    /// store's recent sales. A row it skips is one its reads would filter out anyway, at any
    /// later time; the documents still hold the whole history.
    InStoreSince(Millis),
}

impl PurchaseLines {
    /// What a store keeps: all when it serves peers ([`Store::serve_peers`]).
    pub fn kept_by(serves_peers: bool, now: Millis) -> Self {
        if serves_peers {
            Self::All
        } else {
            Self::InStoreSince(now - DEVICE_PURCHASE_LINE_DAYS * 86_400_000)
        }
    }

    fn keeps(self, purchase: &crate::doc::IndexedPurchase) -> bool {
        match self {
            Self::All => true,
            Self::InStoreSince(since) => purchase.store.is_some() && purchase.at >= since,
        }
    }
}

/// Updates the projections of one written document.
/// `serves_peers`: also keep a customer's fields for peers ([`super::snapshots`]), and every
/// purchase line ([`PurchaseLines`]).
pub fn project(
    tx: &Transaction<'_>,
    write: &mut DocWrite,
    ids: &IdGen,
    now: Millis,
    serves_peers: bool,
) -> Result<()> {
    match &write.id {
        DocId::Customer(id) => {
            let customer = match write.indexed.take() {
                Some((heads, customer)) if heads == write.doc.get_heads() => customer,
                _ => doc::hydrate_doc(&write.doc, &write.id)?,
            };
            doc::check_schema(customer.schema, &write.id)?;
            // Projections follow the content: a document naming another customer would
            // overwrite that customer's rows (their loyalty number would open this one).
            if customer.id != *id {
                return Err(names_another(&write.id, customer.id.as_str()));
            }
            project_customer(tx, &customer, PurchaseLines::kept_by(serves_peers, now))?;
            if serves_peers {
                super::snapshots::keep(tx, &write.id, &write.doc.get_heads(), &customer)?;
            }
            Ok(())
        }
        DocId::Catalog => {
            let catalog: CatalogDoc = doc::hydrate_doc(&write.doc, &write.id)?;
            doc::check_schema(catalog.schema, &write.id)?;
            project_catalog(tx, &catalog)
        }
        DocId::Recommendations => {
            let recommendations: doc::RecommendationsDoc = doc::hydrate_doc(&write.doc, &write.id)?;
            doc::check_schema(recommendations.schema, &write.id)?;
            project_recommendations(tx, &recommendations)
        }
        DocId::Loyalty => {
            let loyalty: doc::LoyaltyDoc = doc::hydrate_doc(&write.doc, &write.id)?;
            doc::check_schema(loyalty.schema, &write.id)?;
            project_loyalty(tx, &loyalty)
        }
        DocId::Inventory(store) => {
            let store = store.clone();
            let touched = if write.heads_before.is_empty() {
                None
            } else {
                let after = write.doc.get_heads();
                touched_records(&mut write.doc, &write.heads_before, &after)
            };
            project_inventory(tx, &store, &mut write.doc, touched.as_ref(), ids, now)
        }
    }
}

/// Variants and holds changed between two versions of an inventory document; `None` when a
/// whole top-level map was replaced and everything must be re-read.
pub struct Touched {
    variants: BTreeSet<String>,
    holds: BTreeSet<String>,
    sales: BTreeSet<String>,
    adjustments: BTreeSet<String>,
}

fn touched_records(
    doc: &mut AutoCommit,
    before: &[automerge::ChangeHash],
    after: &[automerge::ChangeHash],
) -> Option<Touched> {
    let mut touched = Touched {
        variants: BTreeSet::new(),
        holds: BTreeSet::new(),
        sales: BTreeSet::new(),
        adjustments: BTreeSet::new(),
    };
    for patch in doc.diff(before, after) {
        let action_key = doc::patch_map_key(&patch.action).map(str::to_string);
        let (top, record) = match patch.path.as_slice() {
            // A root-level field changed: (re)created maps mean re-reading everything.
            [] => match action_key.as_deref() {
                Some(
                    doc::inventory_keys::ON_HAND
                    | doc::inventory_keys::HOLDS
                    | doc::inventory_keys::SALES
                    | doc::inventory_keys::ADJUSTMENTS,
                ) => return None,
                _ => continue,
            },
            [(_, Prop::Map(top))] => (top.clone(), action_key),
            [(_, Prop::Map(top)), (_, Prop::Map(record)), ..] => {
                (top.clone(), Some(record.clone()))
            }
            _ => continue,
        };
        let Some(record) = record else { continue };
        match top.as_str() {
            doc::inventory_keys::ON_HAND => {
                touched.variants.insert(record);
            }
            doc::inventory_keys::HOLDS => {
                touched.holds.insert(record);
            }
            doc::inventory_keys::SALES => {
                touched.sales.insert(record);
            }
            doc::inventory_keys::ADJUSTMENTS => {
                touched.adjustments.insert(record);
            }
            _ => {}
        }
    }
    Some(touched)
}

pub fn project_customer(
    tx: &Transaction<'_>,
    customer: &IndexedCustomer,
    lines: PurchaseLines,
) -> Result<()> {
    let id = customer.id.as_str();
    let identity = &customer.identity;
    if let Some(survivor) = &customer.merged_into {
        return project_merged(tx, customer, survivor);
    }
    // Cached statements: a first sync runs these for every customer of the store.
    tx.prepare_cached("DELETE FROM customer_merges WHERE customer_id = ?1")?
        .execute([id])?;
    let rowid: i64 = tx
        .prepare_cached(
            "INSERT INTO customers (customer_id, loyalty_id, name, email, phone, home_store, tier,
                                    last_visit_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (customer_id) DO UPDATE SET loyalty_id = excluded.loyalty_id,
                 name = excluded.name, email = excluded.email, phone = excluded.phone,
                 home_store = excluded.home_store, tier = excluded.tier,
                 last_visit_at = excluded.last_visit_at
             RETURNING rowid",
        )?
        .query_row(
            params![
                id,
                identity.loyalty_id.as_str(),
                identity.name,
                identity.email,
                identity.phone,
                identity.home_store.as_str(),
                tier_key(identity.tier),
                customer.last_visit_at(),
            ],
            |r| r.get(0),
        )?;
    tx.prepare_cached("DELETE FROM customer_search WHERE rowid = ?1")?
        .execute([rowid])?;
    tx.prepare_cached(
        "INSERT INTO customer_search (rowid, name, email, phone) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        rowid,
        identity.name,
        identity.email.as_deref().unwrap_or(""),
        identity
            .phone
            .as_deref()
            .map(phone_search_text)
            .unwrap_or_default(),
    ])?;
    tx.prepare_cached("DELETE FROM customer_identifiers WHERE customer_id = ?1")?
        .execute([id])?;
    index_identifiers(tx, customer, &customer.id)?;
    // A merged duplicate's identifiers find this customer: the old loyalty card still works.
    for merged in customer.merged_from.values() {
        index_identity(
            tx,
            &merged.loyalty_id,
            [&merged.email, &merged.phone, &merged.shop_customer_id],
            &customer.id,
        )?;
    }
    project_visits(tx, customer)?;
    project_lines(tx, customer, lines)
}

/// Indexes a customer document's identifiers (loyalty, email, phone, shop id, cards) as
/// finding `target`: itself, or the survivor it was merged into.
fn index_identifiers(
    tx: &Transaction<'_>,
    customer: &IndexedCustomer,
    target: &CustomerId,
) -> Result<()> {
    let identity = &customer.identity;
    index_identity(
        tx,
        &identity.loyalty_id,
        [&identity.email, &identity.phone, &customer.shop_customer_id],
        target,
    )?;
    let mut insert = tx.prepare_cached(
        "INSERT OR REPLACE INTO customer_identifiers (kind, value, customer_id) VALUES (?1, ?2, ?3)",
    )?;
    for uid in customer.nfc.keys() {
        insert.execute(params!["nfc", uid, target.as_str()])?;
    }
    Ok(())
}

/// Indexes a loyalty id and optional email, phone and shop id as finding `target`.
fn index_identity(
    tx: &Transaction<'_>,
    loyalty: &crate::model::LoyaltyId,
    [email, phone, shop]: [&Option<String>; 3],
    target: &CustomerId,
) -> Result<()> {
    let mut insert = tx.prepare_cached(
        "INSERT OR REPLACE INTO customer_identifiers (kind, value, customer_id) VALUES (?1, ?2, ?3)",
    )?;
    insert.execute(params!["loyalty", loyalty.as_str(), target.as_str()])?;
    for (kind, value) in [("email", email), ("phone", phone), ("shop", shop)] {
        if let Some(value) = value {
            insert.execute(params![kind, value, target.as_str()])?;
        }
    }
    Ok(())
}

/// A profile merged into another: it leaves search and lists, its identifiers find the
/// survivor, and its id redirects there.
fn project_merged(
    tx: &Transaction<'_>,
    customer: &IndexedCustomer,
    survivor: &CustomerId,
) -> Result<()> {
    let id = customer.id.as_str();
    unproject(tx, &DocId::Customer(customer.id.clone()))?;
    index_identifiers(tx, customer, survivor)?;
    let merged_at = customer
        .merged_from
        .values()
        .map(|m| m.merged_at)
        .max()
        .unwrap_or(0);
    tx.prepare_cached("INSERT OR REPLACE INTO customer_merges (customer_id, merged_into, home_store, merged_at)
         VALUES (?1, ?2, ?3, ?4)")?.execute(params![
            id,
            survivor.as_str(),
            customer.identity.home_store.as_str(),
            merged_at
        ],
    )?;
    Ok(())
}

/// Purchase and cart lines as rows: baskets for recommendations, open carts for stock alerts.
fn project_lines(
    tx: &Transaction<'_>,
    customer: &IndexedCustomer,
    kept: PurchaseLines,
) -> Result<()> {
    let id = customer.id.as_str();
    tx.prepare_cached("DELETE FROM customer_lines WHERE customer_id = ?1")?
        .execute([id])?;
    let mut insert = tx.prepare_cached(
        "INSERT OR REPLACE INTO customer_lines (customer_id, basket_id, line, kind, open, store_id,
                                                product_sku, variant_sku, quantity, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    for (purchase_id, purchase) in customer.purchases.iter().filter(|(_, p)| kept.keeps(p)) {
        for (i, line) in purchase.lines.iter().enumerate() {
            insert.execute(params![
                id,
                format!("purchase:{purchase_id}"),
                i.to_string(),
                "purchase",
                false,
                purchase.store.as_ref().map(|s| s.as_str()),
                line.product.as_str(),
                line.variant.as_str(),
                line.quantity,
                purchase.at,
            ])?;
        }
    }
    for (cart_id, cart) in &customer.carts {
        // Demand is the online cart and carts built in store; an earlier online cart kept from
        // a merged profile is history.
        let open = cart.status != crate::model::CartStatus::Converted
            && (cart_id == crate::model::ONLINE_CART
                || cart.channel == crate::model::Channel::Store);
        for (line_id, line) in &cart.lines {
            insert.execute(params![
                id,
                format!("cart:{cart_id}"),
                line_id,
                "cart",
                open,
                cart.store.as_ref().map(|s| s.as_str()),
                line.product.as_str(),
                line.variant.as_str(),
                line.quantity,
                cart.updated_at,
            ])?;
        }
    }
    Ok(())
}

fn project_visits(tx: &Transaction<'_>, customer: &IndexedCustomer) -> Result<()> {
    let id = customer.id.as_str();
    tx.prepare_cached("DELETE FROM visits WHERE customer_id = ?1")?
        .execute([id])?;
    let mut insert = tx.prepare_cached(
        "INSERT OR REPLACE INTO visits (visit_id, customer_id, store_id, at, source)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for (visit_id, visit) in &customer.visits {
        insert.execute(params![
            visit_id,
            id,
            visit.store.as_str(),
            visit.at,
            visit_source_key(visit.source)
        ])?;
    }
    Ok(())
}

pub fn visit_source_key(source: crate::model::VisitSource) -> &'static str {
    use crate::model::VisitSource::*;
    match source {
        Kiosk => "kiosk",
        Associate => "associate",
        NfcTap => "nfc_tap",
        Import => "import",
    }
}

/// Movements are never changed once recorded (the relay refuses it), so this only ever
/// inserts; it replaces so that re-reading a document is harmless.
fn upsert_movement(
    tx: &Transaction<'_>,
    store: &StoreId,
    id: &str,
    adjustment: &Adjustment,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT OR REPLACE INTO stock_movements (movement_id, store_id, variant_sku, kind, delta,
             counted, transfer_id, other_store, note, associate_id, at, sale_id, refund_minor)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?
    .execute(params![
        id,
        store.as_str(),
        adjustment.variant.as_str(),
        adjustment.kind().as_str(),
        adjustment.delta,
        adjustment.counted,
        adjustment.transfer,
        adjustment.other_store.as_ref().map(|s| s.as_str()),
        adjustment.reason,
        adjustment.by.as_str(),
        adjustment.at,
        adjustment.sale,
        adjustment.refund_minor,
    ])?;
    Ok(())
}

fn upsert_sale(tx: &Transaction<'_>, store: &StoreId, sale_id: &str, sale: &Sale) -> Result<()> {
    let units: i64 = sale.lines.iter().map(|l| i64::from(l.quantity)).sum();
    let total = sale.total_minor();
    tx.prepare_cached(
        "INSERT OR REPLACE INTO sales (sale_id, store_id, customer_id, associate_id, at, units,
                                      total_cents, from_online_cart)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        sale_id,
        store.as_str(),
        sale.customer.as_ref().map(|c| c.as_str()),
        sale.associate.as_str(),
        sale.at,
        units,
        total,
        sale.from_online_cart.unwrap_or(false),
    ])?;
    tx.prepare_cached("DELETE FROM sale_lines WHERE sale_id = ?1")?.execute([sale_id])?;
    let mut line_insert = tx.prepare_cached(
        "INSERT INTO sale_lines (sale_id, line, store_id, variant_sku, quantity, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for (i, line) in sale.lines.iter().enumerate() {
        line_insert.execute(params![
            sale_id,
            i64::try_from(i).unwrap_or(i64::MAX),
            store.as_str(),
            line.variant.as_str(),
            line.quantity,
            sale.at
        ])?;
    }
    Ok(())
}

/// Rows added since schema version 1 (visits, sales, customer lines, merges) for a document
/// stored before them. A migration does not know what the store serves: it keeps every line.
pub fn project_records(tx: &Transaction<'_>, id: &DocId, doc: &mut AutoCommit) -> Result<()> {
    match id {
        DocId::Customer(_) => {
            let customer: IndexedCustomer = doc::hydrate_doc(doc, id)?;
            project_customer(tx, &customer, PurchaseLines::All)
        }
        DocId::Inventory(store) => {
            let inventory = InventoryDoc::new(doc, store);
            for (sale_id, sale) in inventory.sales()? {
                upsert_sale(tx, store, &sale_id, &sale)?;
            }
            for (id, adjustment) in inventory.adjustments()? {
                upsert_movement(tx, store, &id, &adjustment)?;
            }
            Ok(())
        }
        DocId::Catalog => {
            let catalog: CatalogDoc = doc::hydrate_doc(doc, id)?;
            project_catalog(tx, &catalog)
        }
        DocId::Recommendations => {
            let recommendations: doc::RecommendationsDoc = doc::hydrate_doc(doc, id)?;
            project_recommendations(tx, &recommendations)
        }
        DocId::Loyalty => {
            let loyalty: doc::LoyaltyDoc = doc::hydrate_doc(doc, id)?;
            project_loyalty(tx, &loyalty)
        }
    }
}

fn project_loyalty(tx: &Transaction<'_>, loyalty: &doc::LoyaltyDoc) -> Result<()> {
    tx.execute_batch("DELETE FROM loyalty_keys; DELETE FROM revoked_tokens;")?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO loyalty_keys (key_id, public_hex, created_at, retired_at, withdrawn_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for (id, key) in &loyalty.keys {
        insert.execute(params![
            id,
            key.public,
            key.created_at,
            key.retired_at,
            key.withdrawn_at
        ])?;
    }
    let mut insert = tx.prepare_cached(
        "INSERT INTO revoked_tokens (token_id, customer_id, at) VALUES (?1, ?2, ?3)",
    )?;
    for (key, revocation) in &loyalty.revoked {
        let token_id = key.split_once('/').map_or(key.as_str(), |(id, _)| id);
        insert.execute(params![
            token_id,
            revocation.customer.as_str(),
            revocation.at
        ])?;
    }
    Ok(())
}

fn project_recommendations(
    tx: &Transaction<'_>,
    recommendations: &doc::RecommendationsDoc,
) -> Result<()> {
    tx.prepare_cached("DELETE FROM related_products")?.execute([])?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO related_products (product_sku, rank, related_sku, score, together)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for (product, related) in &recommendations.related {
        for (rank, entry) in related.iter().enumerate() {
            insert.execute(params![
                product,
                i64::try_from(rank).unwrap_or(i64::MAX),
                entry.product,
                entry.score_permille as f64 / 1000.0,
                entry.together,
            ])?;
        }
    }
    Ok(())
}

pub fn tier_key(tier: crate::model::Tier) -> &'static str {
    match tier {
        crate::model::Tier::Member => "member",
        crate::model::Tier::Silver => "silver",
        crate::model::Tier::Gold => "gold",
    }
}

/// Phone digits as associates type them: international (`447700900123`) and national
/// (`07700900123`) forms, so a prefix search works either way.
fn phone_search_text(e164: &str) -> String {
    let digits: String = e164.chars().filter(char::is_ascii_digit).collect();
    // Common calling codes of the chain's markets; others are searchable internationally.
    const CODES: [&str; 10] = ["44", "46", "47", "45", "49", "33", "31", "353", "358", "1"];
    match CODES.iter().find(|cc| digits.starts_with(**cc)) {
        Some(cc) => format!("{digits} 0{}", &digits[cc.len()..]),
        None => digits,
    }
}

fn project_catalog(tx: &Transaction<'_>, catalog: &CatalogDoc) -> Result<()> {
    tx.execute_batch(
        "DELETE FROM products; DELETE FROM variants; DELETE FROM stores;
         DELETE FROM discontinued_products; DELETE FROM shop_items;",
    )?;
    // The tenant's currency and locale, read by every screen showing an amount or a date.
    match &catalog.locale {
        Some(tenant) => {
            let json = serde_json::to_vec(tenant)
                .map_err(|e| crate::error::CoreError::Internal(e.to_string()))?;
            tx.prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES ('locale', ?1)")?
                .execute([json])?;
        }
        None => {
            tx.prepare_cached("DELETE FROM meta WHERE key = 'locale'")?
                .execute([])?;
        }
    }
    let mut product = tx.prepare_cached(
        "INSERT INTO products (sku, name, brand, category, style, price_cents, image)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    let mut variant = tx.prepare_cached(
        "INSERT OR REPLACE INTO variants (variant_sku, product_sku, colour, size, ean, size_order, colour_order)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    let mut discontinued =
        tx.prepare_cached("INSERT OR REPLACE INTO discontinued_products (sku) VALUES (?1)")?;
    let mut shop_item =
        tx.prepare_cached("INSERT OR REPLACE INTO shop_items (item_id, variant_sku) VALUES (?1, ?2)")?;
    for p in catalog.products.values() {
        if p.discontinued == Some(true) {
            discontinued.execute([p.sku.as_str()])?;
        }
        product.execute(params![
            p.sku.as_str(),
            p.name,
            p.brand,
            p.category.as_key(),
            p.style,
            p.price_cents,
            p.image
        ])?;
        for v in &p.variants {
            let size_order = p
                .sizes
                .iter()
                .position(|s| *s == v.size)
                .unwrap_or(usize::MAX);
            let colour_order = p
                .colours
                .iter()
                .position(|c| *c == v.colour)
                .unwrap_or(usize::MAX);
            if let Some(item) = &v.shop_item {
                shop_item.execute(params![item, v.sku.as_str()])?;
            }
            variant.execute(params![
                v.sku.as_str(),
                p.sku.as_str(),
                v.colour,
                v.size,
                v.ean,
                i64::try_from(size_order).unwrap_or(i64::MAX),
                i64::try_from(colour_order).unwrap_or(i64::MAX),
            ])?;
        }
    }
    let mut store = tx.prepare_cached(
        "INSERT INTO stores (store_id, name, city, latitude, longitude) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for s in catalog.stores.values() {
        store.execute(params![
            s.id.as_str(),
            s.name,
            s.city,
            s.latitude,
            s.longitude
        ])?;
    }
    Ok(())
}

fn project_inventory(
    tx: &Transaction<'_>,
    store: &StoreId,
    doc: &mut AutoCommit,
    touched: Option<&Touched>,
    ids: &IdGen,
    now: Millis,
) -> Result<()> {
    let inventory = InventoryDoc::new(doc, store);
    doc::check_schema(inventory.schema()?, &inventory.id)?;
    let named = inventory.store()?;
    if named != store.as_str() {
        return Err(names_another(&inventory.id, &named));
    }
    let levels: Vec<(String, i64)> = match touched {
        None => {
            tx.prepare_cached("DELETE FROM stock WHERE store_id = ?1")?.execute([store.as_str()])?;
            inventory.all_on_hand()?
        }
        Some(t) => t
            .variants
            .iter()
            .map(|v| Ok((v.clone(), inventory.on_hand(v)?.unwrap_or(0))))
            .collect::<Result<_>>()?,
    };
    let mut upsert = tx.prepare_cached(
        "INSERT INTO stock (store_id, variant_sku, on_hand) VALUES (?1, ?2, ?3)
         ON CONFLICT (store_id, variant_sku) DO UPDATE SET on_hand = excluded.on_hand",
    )?;
    let adjustments: Vec<(String, Adjustment)> = match touched {
        None => {
            tx.prepare_cached("DELETE FROM stock_movements WHERE store_id = ?1")?
                .execute([store.as_str()])?;
            inventory.adjustments()?.into_iter().collect()
        }
        Some(t) => t
            .adjustments
            .iter()
            .filter_map(|id| {
                inventory
                    .adjustment(id)
                    .transpose()
                    .map(|a| a.map(|a| (id.clone(), a)))
            })
            .collect::<Result<_>>()?,
    };
    for (id, adjustment) in &adjustments {
        upsert_movement(tx, store, id, adjustment)?;
    }
    // Who corrected stock, by variant: an adjustment that brings an oversold variant back to
    // zero or above closes its conflict on every replica, credited to whoever made it.
    let adjusters: BTreeMap<String, (Millis, String)> = {
        let mut latest = BTreeMap::new();
        for (_, adjustment) in adjustments
            .iter()
            .filter(|(_, a)| a.resolves_oversell == Some(true))
        {
            let entry = latest
                .entry(adjustment.variant.to_string())
                .or_insert((adjustment.at, adjustment.by.to_string()));
            if adjustment.at > entry.0 {
                *entry = (adjustment.at, adjustment.by.to_string());
            }
        }
        latest
    };
    for (variant, on_hand) in &levels {
        upsert.execute(params![store.as_str(), variant, on_hand])?;
        if *on_hand < 0 {
            record_oversell(tx, store, variant, *on_hand, ids, now)?;
        } else if let Some((_, by)) = adjusters.get(variant) {
            tx.prepare_cached("UPDATE conflicts SET resolved_at = ?3, resolved_by = ?4
                 WHERE store_id = ?1 AND variant_sku = ?2 AND resolved_at IS NULL")?.execute(params![store.as_str(), variant, now, by],
            )?;
        }
    }

    let sales: Vec<(String, Sale)> = match touched {
        None => {
            tx.prepare_cached("DELETE FROM sales WHERE store_id = ?1")?.execute([store.as_str()])?;
            tx.prepare_cached("DELETE FROM sale_lines WHERE store_id = ?1")?.execute([store.as_str()],
            )?;
            inventory.sales()?.into_iter().collect()
        }
        Some(t) => t
            .sales
            .iter()
            .filter_map(|id| {
                inventory
                    .sale(id)
                    .transpose()
                    .map(|s| s.map(|s| (id.clone(), s)))
            })
            .collect::<Result<_>>()?,
    };
    for (sale_id, sale) in &sales {
        upsert_sale(tx, store, sale_id, sale)?;
    }

    let holds: Vec<(String, Option<Hold>)> = match touched {
        None => {
            tx.prepare_cached("DELETE FROM holds WHERE store_id = ?1")?.execute([store.as_str()])?;
            inventory
                .holds()?
                .into_iter()
                .map(|(id, h)| (id, Some(h)))
                .collect()
        }
        Some(t) => t
            .holds
            .iter()
            .map(|id| Ok((id.clone(), inventory.hold(id)?)))
            .collect::<Result<_>>()?,
    };
    for (hold_id, hold) in holds {
        match hold {
            Some(hold) => upsert_hold(tx, store, &hold_id, &hold)?,
            None => {
                tx.prepare_cached("DELETE FROM holds WHERE hold_id = ?1")?.execute([&hold_id])?;
            }
        }
    }
    Ok(())
}

fn upsert_hold(tx: &Transaction<'_>, store: &StoreId, hold_id: &str, hold: &Hold) -> Result<()> {
    tx.prepare_cached("INSERT INTO holds (hold_id, store_id, variant_sku, customer_id, associate_id, quantity,
                            placed_at, expires_at, ended_at, ended_how)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (hold_id) DO UPDATE SET quantity = excluded.quantity,
             expires_at = excluded.expires_at, ended_at = excluded.ended_at,
             ended_how = excluded.ended_how")?.execute(params![
            hold_id,
            store.as_str(),
            hold.variant.as_str(),
            hold.customer.as_str(),
            hold.associate.as_str(),
            hold.quantity,
            hold.placed_at,
            hold.expires_at,
            hold.ended.as_ref().map(|e| e.at),
            hold.ended.as_ref().map(|e| match e.how {
                HoldEnd::Released => "released",
                HoldEnd::Sold => "sold",
            }),
        ],
    )?;
    Ok(())
}

/// Opens an oversell conflict for a variant below zero, or deepens the open one.
fn record_oversell(
    tx: &Transaction<'_>,
    store: &StoreId,
    variant: &str,
    on_hand: i64,
    ids: &IdGen,
    now: Millis,
) -> Result<()> {
    tx.prepare_cached("INSERT INTO conflicts (conflict_id, store_id, variant_sku, on_hand, detected_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (store_id, variant_sku) WHERE resolved_at IS NULL
         DO UPDATE SET on_hand = MIN(on_hand, excluded.on_hand)")?.execute(params![ids.new_id(), store.as_str(), variant, on_hand, now],
    )?;
    Ok(())
}

/// Which devices receive a document: `catalog`, `inventory:<store>` or `customers:<home store>`.
pub fn scope_of(tx: &Transaction<'_>, id: &DocId) -> Result<String> {
    Ok(match id {
        DocId::Catalog | DocId::Recommendations | DocId::Loyalty => scope::CATALOG.to_string(),
        DocId::Inventory(store) => scope::inventory(store),
        DocId::Customer(customer) => {
            // A merged profile still reaches its store's tablets, so they learn of the merge.
            let home: Option<String> = tx
                .query_row(
                    "SELECT home_store FROM customers WHERE customer_id = ?1
                     UNION ALL SELECT home_store FROM customer_merges WHERE customer_id = ?1",
                    [customer.as_str()],
                    |r| r.get(0),
                )
                .optional()?;
            scope::customers(&home.unwrap_or_default())
        }
    })
}

/// What search knows of a customer, as projected: its summary and its phone's searchable
/// digits. `None` for a customer with no profile here (merged into another, or never seen).
/// A shared database's search index is written from this, so both index the same words.
pub fn customer_search_row(
    tx: &rusqlite::Connection,
    customer: &CustomerId,
) -> Result<Option<(crate::model::CustomerSummary, String)>> {
    let row = tx
        .query_row(
            "SELECT c.customer_id, c.name, c.loyalty_id, c.email, c.phone, c.home_store, c.tier,
                    s.phone
             FROM customers c JOIN customer_search s ON s.rowid = c.rowid
             WHERE c.customer_id = ?1",
            [customer.as_str()],
            |r| {
                Ok((
                    crate::ops::search::row_to_summary(r)?,
                    r.get::<_, String>(7)?,
                ))
            },
        )
        .optional()?;
    match row {
        Some((summary, phone_words)) => Ok(Some((summary?, phone_words))),
        None => Ok(None),
    }
}

/// A document whose content says it is another document.
fn names_another(id: &DocId, named: &str) -> crate::error::CoreError {
    crate::error::CoreError::Corrupt {
        doc: id.to_string(),
        reason: format!("its content names {named}, not this document"),
    }
}

/// Removes every projection row of a document.
pub fn unproject(tx: &Transaction<'_>, id: &DocId) -> Result<()> {
    match id {
        DocId::Customer(customer) => {
            let rowid: Option<i64> = tx
                .query_row(
                    "SELECT rowid FROM customers WHERE customer_id = ?1",
                    [customer.as_str()],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(rowid) = rowid {
                tx.prepare_cached("DELETE FROM customer_search WHERE rowid = ?1")?.execute([rowid])?;
            }
            tx.prepare_cached("DELETE FROM customer_identifiers WHERE customer_id = ?1")?.execute([customer.as_str()],
            )?;
            tx.prepare_cached("DELETE FROM customers WHERE customer_id = ?1")?.execute([customer.as_str()],
            )?;
            tx.prepare_cached("DELETE FROM visits WHERE customer_id = ?1")?.execute([customer.as_str()],
            )?;
            tx.prepare_cached("DELETE FROM customer_lines WHERE customer_id = ?1")?.execute([customer.as_str()],
            )?;
            tx.prepare_cached("DELETE FROM customer_merges WHERE customer_id = ?1")?.execute([customer.as_str()],
            )?;
            tx.prepare_cached("DELETE FROM customer_index WHERE doc_id = ?1")?
                .execute([id.to_string()])?;
        }
        DocId::Inventory(store) => {
            tx.prepare_cached("DELETE FROM stock WHERE store_id = ?1")?.execute([store.as_str()])?;
            tx.prepare_cached("DELETE FROM holds WHERE store_id = ?1")?.execute([store.as_str()])?;
            tx.prepare_cached("DELETE FROM stock_movements WHERE store_id = ?1")?
                .execute([store.as_str()])?;
            tx.prepare_cached("DELETE FROM sales WHERE store_id = ?1")?.execute([store.as_str()])?;
            tx.prepare_cached("DELETE FROM sale_lines WHERE store_id = ?1")?.execute([store.as_str()],
            )?;
        }
        DocId::Catalog => {
            tx.execute_batch(
                "DELETE FROM products; DELETE FROM variants; DELETE FROM stores;
                 DELETE FROM discontinued_products; DELETE FROM shop_items;",
            )?;
        }
        DocId::Recommendations => {
            tx.prepare_cached("DELETE FROM related_products")?.execute([])?;
        }
        DocId::Loyalty => {
            tx.execute_batch("DELETE FROM loyalty_keys; DELETE FROM revoked_tokens;")?;
        }
    }
    Ok(())
}

/// Compares every projection row with what the documents say; returns the differences.
pub fn check_all(store: &mut Store) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    let customer_ids = store.doc_ids("customer")?;
    for id in &customer_ids {
        let DocId::Customer(customer_id) = id else {
            continue;
        };
        let Some(doc) = store.load_doc(id)? else {
            continue;
        };
        let customer: CustomerDoc = doc::hydrate_doc(&doc, id)?;
        if let Some(survivor) = &customer.merged_into {
            let redirect: Option<String> = store
                .conn()
                .query_row(
                    "SELECT merged_into FROM customer_merges WHERE customer_id = ?1",
                    [customer_id.as_str()],
                    |r| r.get(0),
                )
                .optional()?;
            if redirect.as_deref() != Some(survivor.as_str()) {
                problems.push(format!("{id}: merged into {survivor} but no redirect row"));
            }
            continue;
        }
        let row: Option<(String, String, i64)> = store
            .conn()
            .query_row(
                "SELECT name, loyalty_id, rowid FROM customers WHERE customer_id = ?1",
                [customer_id.as_str()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((name, loyalty, rowid)) = row else {
            problems.push(format!("{id}: no customers row"));
            continue;
        };
        if name != customer.identity.name || loyalty != customer.identity.loyalty_id.as_str() {
            problems.push(format!("{id}: customers row differs from the document"));
        }
        let indexed: Option<String> = store
            .conn()
            .query_row(
                "SELECT name FROM customer_search WHERE rowid = ?1",
                [rowid],
                |r| r.get(0),
            )
            .optional()?;
        if indexed.as_deref() != Some(customer.identity.name.as_str()) {
            problems.push(format!("{id}: search index differs from the document"));
        }
        let by_loyalty: Option<String> = store
            .conn()
            .query_row(
                "SELECT customer_id FROM customer_identifiers WHERE kind = 'loyalty' AND value = ?1",
                [customer.identity.loyalty_id.as_str()],
                |r| r.get(0),
            )
            .optional()?;
        if by_loyalty.as_deref() != Some(customer_id.as_str()) {
            problems.push(format!("{id}: loyalty id does not resolve to it"));
        }
        let visits: i64 = store.conn().query_row(
            "SELECT COUNT(*) FROM visits WHERE customer_id = ?1",
            [customer_id.as_str()],
            |r| r.get(0),
        )?;
        if usize::try_from(visits).ok() != Some(customer.visits.len()) {
            problems.push(format!(
                "{id}: {visits} visit rows for {} visits",
                customer.visits.len()
            ));
        }
    }
    // A merged duplicate has a redirect row instead of a customers row.
    let rows: i64 = store.conn().query_row(
        "SELECT (SELECT COUNT(*) FROM customers) + (SELECT COUNT(*) FROM customer_merges)",
        [],
        |r| r.get(0),
    )?;
    if usize::try_from(rows).unwrap_or(usize::MAX) != customer_ids.len() {
        problems.push(format!(
            "{rows} customers rows for {} customer documents",
            customer_ids.len()
        ));
    }

    for id in store.doc_ids("inventory")? {
        let DocId::Inventory(store_id) = &id else {
            continue;
        };
        let Some(mut doc) = store.load_doc(&id)? else {
            continue;
        };
        let inventory = InventoryDoc::new(&mut doc, store_id);
        let levels = inventory.all_on_hand()?;
        let holds = inventory.holds()?;
        let sales = inventory.sales()?;
        let sale_rows: i64 = store.conn().query_row(
            "SELECT COUNT(*) FROM sales WHERE store_id = ?1",
            [store_id.as_str()],
            |r| r.get(0),
        )?;
        if usize::try_from(sale_rows).ok() != Some(sales.len()) {
            problems.push(format!(
                "{id}: {sale_rows} sale rows for {} sales",
                sales.len()
            ));
        }
        for (variant, on_hand) in &levels {
            let row: Option<i64> = store
                .conn()
                .query_row(
                    "SELECT on_hand FROM stock WHERE store_id = ?1 AND variant_sku = ?2",
                    params![store_id.as_str(), variant],
                    |r| r.get(0),
                )
                .optional()?;
            if row != Some(*on_hand) {
                problems.push(format!(
                    "{id}: stock of {variant} is {row:?} in the table, {on_hand} in the document"
                ));
            }
        }
        for (hold_id, hold) in &holds {
            let row: Option<(i64, Option<i64>)> = store
                .conn()
                .query_row(
                    "SELECT quantity, ended_at FROM holds WHERE hold_id = ?1",
                    [hold_id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            if row != Some((i64::from(hold.quantity), hold.ended.as_ref().map(|e| e.at))) {
                problems.push(format!("{id}: hold {hold_id} differs from the document"));
            }
        }
    }
    Ok(problems)
}
