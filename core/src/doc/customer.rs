//! The customer document.
//!
//! Aggregated counts (views, affinities) are kept per writer: each device's Automerge actor owns
//! its own sub-map and only ever writes there, and readers sum across writers. Two tablets that
//! both record the first view of a product while offline would otherwise create the same map key
//! concurrently, and Automerge would keep only one of the two objects.

use autosurgeon::{Hydrate, Reconcile};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::model::{
    Affinity, Cart, CartStatus, Channel, ConsentPurpose, ConsentRecord, CustomerId,
    CustomerProfile, Entry, Identity, MergedProfile, Millis, NfcLink, Note, ProductSku,
    ProductViews, Purchase, SizePreference, StoreId, VariantSku, Visit, WishlistItem,
};

#[derive(Clone, Debug, Default, PartialEq, Reconcile, Hydrate)]
pub struct ViewTally {
    pub count: i64,
    pub last_seen: Millis,
    pub sizes: BTreeMap<String, i64>,
}

#[derive(Clone, Debug, Default, PartialEq, Reconcile, Hydrate)]
pub struct AffinityTally {
    pub colours: BTreeMap<String, i64>,
    pub styles: BTreeMap<String, i64>,
}

#[derive(Clone, Debug, PartialEq, Reconcile, Hydrate)]
pub struct CustomerDoc {
    pub schema: u64,
    pub id: CustomerId,
    pub identity: Identity,
    /// By card UID.
    pub nfc: BTreeMap<String, NfcLink>,
    /// By [`ConsentPurpose::key`].
    pub consent: BTreeMap<String, ConsentRecord>,
    /// By category key.
    pub sizes: BTreeMap<String, SizePreference>,
    /// Writer (actor hex) → product sku → tally.
    pub views: BTreeMap<String, BTreeMap<String, ViewTally>>,
    /// Writer (actor hex) → tallies.
    pub affinity: BTreeMap<String, AffinityTally>,
    /// By cart id; the online cart is [`crate::model::ONLINE_CART`].
    pub carts: BTreeMap<String, Cart>,
    /// By product sku.
    pub wishlist: BTreeMap<String, WishlistItem>,
    pub purchases: BTreeMap<String, Purchase>,
    pub visits: BTreeMap<String, Visit>,
    pub notes: BTreeMap<String, Note>,
    /// The web shop's id for this customer.
    pub shop_customer_id: Option<String>,
    /// Set when this profile was merged into another: that one is the customer now.
    pub merged_into: Option<CustomerId>,
    /// Profiles merged into this one, by their customer id.
    #[autosurgeon(missing = "BTreeMap::new")]
    pub merged_from: BTreeMap<String, MergedProfile>,
    /// Each merged profile's heads when it was last folded in, so a re-fold copies only what
    /// changed there since.
    #[autosurgeon(missing = "BTreeMap::new")]
    pub folded_heads: BTreeMap<String, Vec<String>>,
}

/// The parts of a customer document its projection rows come from. Hydrating only these
/// skips the per-writer tallies, notes, consent and prices, most of a document: a tablet's
/// first sync projects every customer of its store, and this was most of its time. That the
/// whole document fits its schema is checked where documents come in from outside (the
/// relay's push check), not on every projection.
#[derive(Clone, Debug, PartialEq, Hydrate, Serialize, Deserialize)]
pub struct IndexedCustomer {
    pub schema: u64,
    pub id: CustomerId,
    pub identity: Identity,
    pub nfc: BTreeMap<String, NfcLink>,
    pub carts: BTreeMap<String, IndexedCart>,
    pub purchases: BTreeMap<String, IndexedPurchase>,
    pub visits: BTreeMap<String, Visit>,
    pub shop_customer_id: Option<String>,
    pub merged_into: Option<CustomerId>,
    #[autosurgeon(missing = "BTreeMap::new")]
    pub merged_from: BTreeMap<String, MergedProfile>,
}

/// What of a customer document identifies the customer or records a merge, hydrated without
/// the rest: the fields the relay guards when a device pushes (only the relay merges; only
/// the shop sets its id; an identifier finds one customer).
#[derive(Clone, Debug, PartialEq, Hydrate)]
pub struct CustomerGuards {
    pub identity: Identity,
    pub nfc: BTreeMap<String, NfcLink>,
    pub shop_customer_id: Option<String>,
    pub merged_into: Option<CustomerId>,
    #[autosurgeon(missing = "BTreeMap::new")]
    pub merged_from: BTreeMap<String, MergedProfile>,
    #[autosurgeon(missing = "BTreeMap::new")]
    pub folded_heads: BTreeMap<String, Vec<String>>,
}

impl From<CustomerDoc> for CustomerGuards {
    fn from(customer: CustomerDoc) -> Self {
        Self {
            identity: customer.identity,
            nfc: customer.nfc,
            shop_customer_id: customer.shop_customer_id,
            merged_into: customer.merged_into,
            merged_from: customer.merged_from,
            folded_heads: customer.folded_heads,
        }
    }
}

/// A cart as its line rows need it.
#[derive(Clone, Debug, PartialEq, Hydrate, Serialize, Deserialize)]
pub struct IndexedCart {
    pub channel: Channel,
    pub store: Option<StoreId>,
    pub status: CartStatus,
    pub updated_at: Millis,
    pub lines: BTreeMap<String, IndexedLine>,
}

/// A purchase as its line rows need it.
#[derive(Clone, Debug, PartialEq, Hydrate, Serialize, Deserialize)]
pub struct IndexedPurchase {
    pub at: Millis,
    pub store: Option<StoreId>,
    pub lines: Vec<IndexedLine>,
}

/// A cart or purchase line without its price.
#[derive(Clone, Debug, PartialEq, Hydrate, Serialize, Deserialize)]
pub struct IndexedLine {
    pub variant: VariantSku,
    pub product: ProductSku,
    pub quantity: u32,
}

impl IndexedCustomer {
    pub fn last_visit_at(&self) -> Option<Millis> {
        self.visits.values().map(|v| v.at).max()
    }
}

impl From<&CustomerDoc> for IndexedCustomer {
    fn from(customer: &CustomerDoc) -> Self {
        let line = |variant: &VariantSku, product: &ProductSku, quantity: u32| IndexedLine {
            variant: variant.clone(),
            product: product.clone(),
            quantity,
        };
        Self {
            schema: customer.schema,
            id: customer.id.clone(),
            identity: customer.identity.clone(),
            nfc: customer.nfc.clone(),
            carts: customer
                .carts
                .iter()
                .map(|(id, cart)| {
                    let lines = cart
                        .lines
                        .iter()
                        .map(|(id, l)| (id.clone(), line(&l.variant, &l.product, l.quantity)))
                        .collect();
                    let indexed = IndexedCart {
                        channel: cart.channel,
                        store: cart.store.clone(),
                        status: cart.status,
                        updated_at: cart.updated_at,
                        lines,
                    };
                    (id.clone(), indexed)
                })
                .collect(),
            purchases: customer
                .purchases
                .iter()
                .map(|(id, p)| {
                    let indexed = IndexedPurchase {
                        at: p.at,
                        store: p.store.clone(),
                        lines: p
                            .lines
                            .iter()
                            .map(|l| line(&l.variant, &l.product, l.quantity))
                            .collect(),
                    };
                    (id.clone(), indexed)
                })
                .collect(),
            visits: customer.visits.clone(),
            shop_customer_id: customer.shop_customer_id.clone(),
            merged_into: customer.merged_into.clone(),
            merged_from: customer.merged_from.clone(),
        }
    }
}

impl CustomerDoc {
    pub fn new(id: CustomerId, identity: Identity) -> Self {
        Self {
            schema: super::SCHEMA_VERSION,
            id,
            identity,
            nfc: BTreeMap::new(),
            consent: BTreeMap::new(),
            sizes: BTreeMap::new(),
            views: BTreeMap::new(),
            affinity: BTreeMap::new(),
            carts: BTreeMap::new(),
            wishlist: BTreeMap::new(),
            purchases: BTreeMap::new(),
            visits: BTreeMap::new(),
            notes: BTreeMap::new(),
            shop_customer_id: None,
            merged_into: None,
            merged_from: BTreeMap::new(),
            folded_heads: BTreeMap::new(),
        }
    }

    /// Adds one view of `product` (optionally of a size) to `writer`'s tally.
    pub fn tally_view(
        &mut self,
        writer: &str,
        product: &ProductSku,
        size: Option<&str>,
        at: Millis,
    ) {
        let tally = self
            .views
            .entry(writer.to_string())
            .or_default()
            .entry(product.to_string())
            .or_default();
        tally.count += 1;
        tally.last_seen = tally.last_seen.max(at);
        if let Some(size) = size {
            *tally.sizes.entry(size.to_string()).or_default() += 1;
        }
    }

    pub fn tally_affinity(&mut self, writer: &str, colour: Option<&str>, style: Option<&str>) {
        let tally = self.affinity.entry(writer.to_string()).or_default();
        if let Some(colour) = colour {
            *tally.colours.entry(colour.to_string()).or_default() += 1;
        }
        if let Some(style) = style {
            *tally.styles.entry(style.to_string()).or_default() += 1;
        }
    }

    pub fn last_visit_at(&self) -> Option<Millis> {
        self.visits.values().map(|v| v.at).max()
    }

    /// The view the UI gets: tallies summed across writers, lists sorted for reading.
    pub fn to_profile(&self) -> CustomerProfile {
        let mut views: BTreeMap<&str, ViewTally> = BTreeMap::new();
        for per_writer in self.views.values() {
            for (product, tally) in per_writer {
                let sum = views.entry(product).or_default();
                sum.count += tally.count;
                sum.last_seen = sum.last_seen.max(tally.last_seen);
                for (size, n) in &tally.sizes {
                    *sum.sizes.entry(size.clone()).or_default() += n;
                }
            }
        }
        let mut views: Vec<ProductViews> = views
            .into_iter()
            .filter_map(|(product, tally)| {
                let product = ProductSku::parse(product).ok()?;
                let mut sizes: Vec<(String, i64)> = tally.sizes.into_iter().collect();
                sizes.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                Some(ProductViews {
                    product,
                    count: tally.count,
                    last_seen: tally.last_seen,
                    sizes,
                })
            })
            .collect();
        views.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then_with(|| b.last_seen.cmp(&a.last_seen))
        });

        let mut colours: BTreeMap<&str, i64> = BTreeMap::new();
        let mut styles: BTreeMap<&str, i64> = BTreeMap::new();
        for tally in self.affinity.values() {
            for (c, n) in &tally.colours {
                *colours.entry(c).or_default() += n;
            }
            for (s, n) in &tally.styles {
                *styles.entry(s).or_default() += n;
            }
        }

        CustomerProfile {
            id: self.id.clone(),
            identity: self.identity.clone(),
            nfc_cards: self.nfc.values().cloned().collect(),
            consent: self
                .consent
                .iter()
                .filter_map(|(k, v)| Some((ConsentPurpose::from_key(k)?, v.clone())))
                .collect(),
            sizes: self.sizes.clone(),
            colour_affinity: ranked(colours),
            style_affinity: ranked(styles),
            views,
            carts: entries(&self.carts, |c| -c.updated_at),
            wishlist: {
                let mut items: Vec<WishlistItem> = self.wishlist.values().cloned().collect();
                items.sort_by_key(|item| std::cmp::Reverse(item.added_at));
                items
            },
            purchases: entries(&self.purchases, |p| -p.at),
            visits: entries(&self.visits, |v| -v.at),
            notes: entries(&self.notes, |n| -n.at),
            shop_customer_id: self.shop_customer_id.clone(),
            merged_from: {
                let mut merged: Vec<MergedProfile> = self.merged_from.values().cloned().collect();
                merged.sort_by_key(|m| std::cmp::Reverse(m.merged_at));
                merged
            },
        }
    }
}

fn ranked(scores: BTreeMap<&str, i64>) -> Vec<Affinity> {
    let mut out: Vec<Affinity> = scores
        .into_iter()
        .filter(|(_, score)| *score > 0)
        .map(|(name, score)| Affinity {
            name: name.to_string(),
            score,
        })
        .collect();
    out.sort_by(|a, b| b.score.cmp(&a.score).then_with(|| a.name.cmp(&b.name)));
    out
}

fn entries<T: Clone>(map: &BTreeMap<String, T>, order: impl Fn(&T) -> i64) -> Vec<Entry<T>> {
    let mut out: Vec<Entry<T>> = map
        .iter()
        .map(|(id, item)| Entry {
            id: id.clone(),
            item: item.clone(),
        })
        .collect();
    out.sort_by(|a, b| {
        order(&a.item)
            .cmp(&order(&b.item))
            .then_with(|| a.id.cmp(&b.id))
    });
    out
}
