//! New customer profiles from a record with its history: a customer created on a tablet or by
//! the relay, and each record of a bulk import. A record is validated against the catalog and
//! against identifiers other customers already hold before its document is written.

use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};

use crate::doc::CustomerDoc;
use crate::error::{CoreError, Result};
use crate::model::{
    Cart, CartLine, CartStatus, Channel, CustomerId, Identity, Millis, NewCustomer, NfcLink,
    NfcUid, Note, ONLINE_CART, ProductSku, Purchase, PurchaseLine, SizePreference, StoreId,
    VariantSku, Visit, WishlistItem,
};
use crate::store::{DocWrite, Store};
use crate::validate::{self, MAX_LINES, MAX_NOTE_CHARS, MAX_SHORT_TEXT_CHARS};

/// Most history entries of one kind a record may carry.
pub const MAX_HISTORY_ENTRIES: usize = 2_000;

/// Views of one product, already aggregated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewImport {
    pub product: ProductSku,
    pub count: i64,
    pub last_seen: Millis,
    #[serde(default)]
    pub sizes: BTreeMap<String, i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartLineImport {
    pub line_id: String,
    pub variant: VariantSku,
    pub quantity: u32,
    pub added_at: Millis,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnlineCartImport {
    pub channel: Channel,
    pub status: CartStatus,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub lines: Vec<CartLineImport>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurchaseImport {
    pub id: String,
    pub at: Millis,
    pub channel: Channel,
    pub store: Option<StoreId>,
    pub lines: Vec<(VariantSku, u32)>,
}

/// One customer and their history, as imported.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CustomerImport {
    /// The customer's id if the source has one (a CRM export, the demo data); new otherwise.
    #[serde(default)]
    pub id: Option<CustomerId>,
    #[serde(flatten)]
    pub customer: NewCustomer,
    pub joined_at: Millis,
    #[serde(default)]
    pub nfc_uids: Vec<NfcUid>,
    /// Category key → size.
    #[serde(default)]
    pub sizes: BTreeMap<String, String>,
    #[serde(default)]
    pub views: Vec<ViewImport>,
    #[serde(default)]
    pub colour_affinity: BTreeMap<String, i64>,
    #[serde(default)]
    pub online_cart: Option<OnlineCartImport>,
    #[serde(default)]
    pub wishlist: Vec<(ProductSku, Millis)>,
    #[serde(default)]
    pub purchases: Vec<PurchaseImport>,
    #[serde(default)]
    pub visits: Vec<Visit>,
    #[serde(default)]
    pub notes: Vec<Note>,
    /// The web shop's id for the customer.
    #[serde(default)]
    pub shop_customer_id: Option<String>,
}

impl CustomerImport {
    /// A record with no history: what an associate enters for a new customer.
    pub fn new(customer: NewCustomer, joined_at: Millis) -> Self {
        Self {
            id: None,
            customer,
            joined_at,
            nfc_uids: Vec::new(),
            sizes: BTreeMap::new(),
            views: Vec::new(),
            colour_affinity: BTreeMap::new(),
            online_cart: None,
            wishlist: Vec::new(),
            purchases: Vec::new(),
            visits: Vec::new(),
            notes: Vec::new(),
            shop_customer_id: None,
        }
    }
}

struct VariantFacts {
    product: ProductSku,
    price_cents: i64,
}

struct ProductFacts {
    style: String,
    sizes: HashSet<String>,
}

/// The catalog facts validation needs, read once so an import of 50,000 records does not
/// query per line.
pub struct CatalogIndex {
    variants: HashMap<String, VariantFacts>,
    products: HashMap<String, ProductFacts>,
    categories: HashSet<&'static str>,
    stores: HashSet<String>,
}

impl CatalogIndex {
    pub fn load(conn: &Connection) -> Result<Self> {
        let mut variants = HashMap::new();
        let mut stmt = conn.prepare(
            "SELECT v.variant_sku, v.product_sku, p.price_cents FROM variants v
             JOIN products p ON p.sku = v.product_sku",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            variants.insert(
                r.get::<_, String>(0)?,
                VariantFacts {
                    product: ProductSku::parse(r.get::<_, String>(1)?)?,
                    price_cents: r.get(2)?,
                },
            );
        }
        let mut products: HashMap<String, ProductFacts> = HashMap::new();
        let mut stmt = conn.prepare(
            "SELECT p.sku, p.style, v.size FROM products p JOIN variants v ON v.product_sku = p.sku",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let facts = products
                .entry(r.get::<_, String>(0)?)
                .or_insert_with(|| ProductFacts {
                    style: String::new(),
                    sizes: HashSet::new(),
                });
            facts.style = r.get(1)?;
            facts.sizes.insert(r.get(2)?);
        }
        let mut stmt = conn.prepare("SELECT store_id FROM stores")?;
        let stores = stmt
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<HashSet<String>>>()?;
        Ok(Self {
            variants,
            products,
            categories: crate::model::Category::ALL
                .iter()
                .map(|c| c.as_key())
                .collect(),
            stores,
        })
    }

    fn variant(&self, variant: &VariantSku) -> Result<&VariantFacts> {
        self.variants
            .get(variant.as_str())
            .ok_or_else(|| CoreError::not_found("variant", variant))
    }

    fn product(&self, product: &ProductSku) -> Result<&ProductFacts> {
        self.products
            .get(product.as_str())
            .ok_or_else(|| CoreError::not_found("product", product))
    }

    fn store(&self, store: &StoreId) -> Result<()> {
        if self.stores.contains(store.as_str()) {
            Ok(())
        } else {
            Err(CoreError::not_found("store", store))
        }
    }
}

/// Identifiers already in use, with the records of this import added as they pass.
pub struct TakenIdentifiers(HashSet<(String, String)>);

impl TakenIdentifiers {
    pub fn load(conn: &Connection) -> Result<Self> {
        let mut stmt = conn.prepare("SELECT kind, value FROM customer_identifiers")?;
        let set = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<HashSet<_>>>()?;
        Ok(Self(set))
    }

    fn claim(&mut self, kind: &str, value: &str) -> Result<()> {
        if !self.0.insert((kind.to_string(), value.to_string())) {
            return Err(CoreError::invalid(
                kind,
                "already belongs to another customer",
            ));
        }
        Ok(())
    }
}

fn check_count(field: &str, n: usize, max: usize) -> Result<()> {
    if n > max {
        return Err(CoreError::invalid(
            field,
            &format!("has more than {max} entries"),
        ));
    }
    Ok(())
}

/// Validates one record and builds its document. `writer` owns the imported tallies.
pub fn build_customer(
    id: CustomerId,
    record: CustomerImport,
    catalog: &CatalogIndex,
    taken: &mut TakenIdentifiers,
    default_country_code: &str,
    writer: &str,
) -> Result<CustomerDoc> {
    let CustomerImport {
        id: _,
        customer: new,
        joined_at,
        nfc_uids,
        sizes,
        views,
        colour_affinity,
        online_cart,
        wishlist,
        purchases,
        visits,
        notes,
        shop_customer_id,
    } = record;
    let name = validate::check_text("name", &new.name, MAX_SHORT_TEXT_CHARS)?;
    let email = new
        .email
        .as_deref()
        .map(validate::normalize_email)
        .transpose()?;
    let phone = new
        .phone
        .as_deref()
        .map(|p| validate::normalize_phone(p, default_country_code))
        .transpose()?;
    catalog.store(&new.home_store)?;
    for (field, n) in [
        ("nfc_uids", nfc_uids.len()),
        ("views", views.len()),
        ("wishlist", wishlist.len()),
        ("purchases", purchases.len()),
        ("visits", visits.len()),
        ("notes", notes.len()),
        ("colour_affinity", colour_affinity.len()),
        ("sizes", sizes.len()),
    ] {
        check_count(field, n, MAX_HISTORY_ENTRIES)?;
    }

    taken.claim("loyalty", new.loyalty_id.as_str())?;
    if let Some(email) = &email {
        taken.claim("email", email)?;
    }
    if let Some(phone) = &phone {
        taken.claim("phone", phone)?;
    }
    let shop_customer_id = shop_customer_id
        .map(|s| validate::check_text("shop_customer_id", &s, 64))
        .transpose()?;
    if let Some(shop) = &shop_customer_id {
        taken.claim("shop", shop)?;
    }
    let mut doc = CustomerDoc::new(
        id,
        Identity {
            loyalty_id: new.loyalty_id,
            name,
            email,
            phone,
            home_store: new.home_store,
            tier: new.tier,
            joined_at,
        },
    );
    doc.shop_customer_id = shop_customer_id;
    doc.consent = new
        .consent
        .into_iter()
        .map(|(purpose, record)| (purpose.as_key().to_string(), record))
        .collect();
    for uid in nfc_uids {
        taken.claim("nfc", uid.as_str())?;
        doc.nfc.insert(
            uid.to_string(),
            NfcLink {
                uid,
                linked_at: joined_at,
                linked_by: None,
            },
        );
    }
    for (category, size) in sizes {
        if !catalog.categories.contains(category.as_str()) {
            return Err(CoreError::invalid(
                "sizes",
                &format!("unknown category {category}"),
            ));
        }
        let size = validate::check_text("size", &size, 16)?;
        doc.sizes.insert(
            category,
            SizePreference {
                size,
                updated_at: joined_at,
            },
        );
    }
    for view in views {
        let facts = catalog.product(&view.product)?;
        if view.count < 1 || view.sizes.values().any(|n| *n < 1) {
            return Err(CoreError::invalid("views", "counts must be positive"));
        }
        if let Some(size) = view.sizes.keys().find(|s| !facts.sizes.contains(*s)) {
            return Err(CoreError::invalid(
                "views",
                &format!("{size} is not a size of {}", view.product),
            ));
        }
        let tally = doc
            .views
            .entry(writer.to_string())
            .or_default()
            .entry(view.product.to_string())
            .or_default();
        tally.count += view.count;
        tally.last_seen = tally.last_seen.max(view.last_seen);
        for (size, n) in view.sizes {
            *tally.sizes.entry(size).or_default() += n;
        }
        let style = facts.style.clone();
        *doc.affinity
            .entry(writer.to_string())
            .or_default()
            .styles
            .entry(style)
            .or_default() += view.count;
    }
    if !colour_affinity.is_empty() {
        let tally = doc.affinity.entry(writer.to_string()).or_default();
        for (colour, n) in colour_affinity {
            validate::check_text("colour", &colour, 32)?;
            *tally.colours.entry(colour).or_default() += n.max(0);
        }
    }
    if let Some(cart) = online_cart {
        check_count("online_cart", cart.lines.len(), MAX_LINES)?;
        let mut lines = BTreeMap::new();
        for line in cart.lines {
            validate::check_token("line_id", &line.line_id, 64)?;
            validate::check_quantity(line.quantity)?;
            let facts = catalog.variant(&line.variant)?;
            lines.insert(
                line.line_id,
                CartLine {
                    variant: line.variant,
                    product: facts.product.clone(),
                    quantity: line.quantity,
                    unit_price_cents: facts.price_cents,
                    added_at: line.added_at,
                },
            );
        }
        doc.carts.insert(
            ONLINE_CART.to_string(),
            Cart {
                channel: cart.channel,
                store: None,
                status: cart.status,
                created_at: cart.created_at,
                updated_at: cart.updated_at,
                lines,
            },
        );
    }
    for (product, added_at) in wishlist {
        catalog.product(&product)?;
        doc.wishlist.insert(
            product.to_string(),
            WishlistItem {
                product,
                added_at,
                channel: Channel::Web,
            },
        );
    }
    for purchase in purchases {
        validate::check_token("purchase id", &purchase.id, 64)?;
        if let Some(store) = &purchase.store {
            catalog.store(store)?;
        }
        let mut lines = Vec::with_capacity(purchase.lines.len());
        for (variant, quantity) in purchase.lines {
            let facts = catalog.variant(&variant)?;
            lines.push(PurchaseLine {
                product: facts.product.clone(),
                variant,
                quantity,
                unit_price_cents: facts.price_cents,
            });
        }
        let purchase_record = Purchase {
            at: purchase.at,
            channel: purchase.channel,
            store: purchase.store,
            associate: None,
            total_cents: lines
                .iter()
                .map(|l| l.unit_price_cents * i64::from(l.quantity))
                .sum(),
            lines,
        };
        crate::ops::check_purchase(&purchase_record)?;
        doc.purchases.insert(purchase.id, purchase_record);
    }
    for (i, visit) in visits.into_iter().enumerate() {
        catalog.store(&visit.store)?;
        doc.visits.insert(format!("import-{i}"), visit);
    }
    for (i, mut note) in notes.into_iter().enumerate() {
        note.text = validate::check_text("note", &note.text, MAX_NOTE_CHARS)?;
        doc.notes.insert(format!("import-{i}"), note);
    }
    Ok(doc)
}

impl Store {
    /// Imports customers in one transaction. `progress` is called with the number of records
    /// written so far. Returns the new customers' ids in record order.
    pub fn import_customers(
        &mut self,
        records: impl IntoIterator<Item = CustomerImport>,
        progress: impl FnMut(usize),
    ) -> Result<Vec<CustomerId>> {
        self.import_customers_updating(records, Vec::new(), progress)
    }

    /// [`Store::import_customers`], also committing `updates` (edits of customers already
    /// here) in the same transaction.
    pub fn import_customers_updating(
        &mut self,
        records: impl IntoIterator<Item = CustomerImport>,
        updates: Vec<DocWrite>,
        mut progress: impl FnMut(usize),
    ) -> Result<Vec<CustomerId>> {
        let catalog = CatalogIndex::load(self.conn())?;
        let mut taken = TakenIdentifiers::load(self.conn())?;
        let country_code = self.default_country_code.clone();
        let writer = self.writer().to_string();
        let mut ids = Vec::new();
        self.write_new_customers(updates, |id_gen, sink| {
            for (i, record) in records.into_iter().enumerate() {
                let id = match &record.id {
                    Some(id) => id.clone(),
                    None => CustomerId::parse(id_gen.new_id())?,
                };
                let doc = build_customer(
                    id.clone(),
                    record,
                    &catalog,
                    &mut taken,
                    &country_code,
                    &writer,
                )
                .map_err(|e| CoreError::Import {
                    record: i,
                    reason: e.to_string(),
                })?;
                sink(doc)?;
                ids.push(id);
                progress(i + 1);
            }
            Ok(())
        })?;
        Ok(ids)
    }

    /// Creates one customer with no history. The loyalty id, email and phone must be free.
    pub fn create_customer(&mut self, new: NewCustomer) -> Result<CustomerId> {
        self.create_customer_with(CustomerImport::new(new, self.now()))
    }

    /// Creates one customer from a full record (a web sign-up with the shop's id).
    pub fn create_customer_with(&mut self, record: CustomerImport) -> Result<CustomerId> {
        let mut ids = self
            .import_customers([record], |_| {})
            .map_err(|e| match e {
                CoreError::Import { reason, .. } => CoreError::invalid("customer", &reason),
                other => other,
            })?;
        ids.pop()
            .ok_or_else(|| CoreError::Internal("import returned no id".into()))
    }
}
