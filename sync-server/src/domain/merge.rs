//! Merging duplicate customer profiles: the same person found twice (a web sign-up and a
//! loyalty member, say). The survivor takes in the duplicate's whole history; the duplicate
//! keeps its content, is marked as merged, and its id and identifiers open the survivor on
//! every replica.
//!
//! The relay folds again whenever a tablet that had not yet heard of the merge pushes a late
//! change (a note written offline, a cart sold) to the duplicate. The survivor remembers the
//! duplicate's heads at the last fold, and a re-fold copies only the records the duplicate
//! changed since: its new and changed records replace their copies, its removals remove them,
//! and the survivor's own edits to everything else stand. Nothing is lost or counted twice.

use rusqlite::OptionalExtension;
use std::collections::{BTreeMap, BTreeSet};

use super::RelayDocs;
use aisle_core::Store;
use aisle_core::doc::{self, CustomerDoc, DocId};
use aisle_core::model::{Cart, CustomerId, MergedProfile, ONLINE_CART, Tier};
use aisle_core::{CoreError, Result};
use std::borrow::BorrowMut;

impl<S: BorrowMut<Store>> RelayDocs<S> {
    /// Merges `duplicate` into `survivor`. Calling it again (or after more changes reached the
    /// duplicate) folds in only what is new.
    pub fn merge_customers(&mut self, survivor: &CustomerId, duplicate: &CustomerId) -> Result<()> {
        let survivor = self.current_id(survivor)?;
        if &survivor == duplicate {
            return Err(CoreError::invalid(
                "merge",
                "a customer cannot merge into itself",
            ));
        }
        let survivor_id = DocId::Customer(survivor.clone());
        let duplicate_id = DocId::Customer(duplicate.clone());
        let mut keep = self.begin_write(&survivor_id, false)?;
        let mut gone = self.begin_write(&duplicate_id, false)?;
        let mut kept: CustomerDoc = doc::hydrate_doc(&keep.doc, &survivor_id)?;
        let mut folded: CustomerDoc = doc::hydrate_doc(&gone.doc, &duplicate_id)?;
        doc::check_schema(kept.schema, &survivor_id)?;
        doc::check_schema(folded.schema, &duplicate_id)?;
        // Merged before into a profile that was itself merged since: the chain ends at the
        // same survivor, so this is a re-fold. Anyone else is a different person.
        if let Some(other) = &folded.merged_into
            && self.current_id(other)? != survivor
        {
            return Err(CoreError::invalid(
                "merge",
                &format!("{duplicate} is already merged into {other}"),
            ));
        }
        let now = self.now();
        let heads_now = gone.doc.get_heads();
        let since: Option<Vec<aisle_core::automerge::ChangeHash>> = kept
            .folded_heads
            .get(duplicate.as_str())
            .map(|hex| {
                hex.iter()
                    .filter_map(|h| h.parse().ok())
                    .collect::<Vec<aisle_core::automerge::ChangeHash>>()
            })
            // Heads this copy of the duplicate does not have: fold it all again.
            .filter(|heads| {
                heads
                    .iter()
                    .all(|h| gone.doc.get_change_by_hash(h).is_some())
            });
        let touched = match since {
            Some(before) if before == heads_now => Some(Touched::default()),
            Some(before) => Some(touched_records(&mut gone.doc, &before, &heads_now)),
            None => None,
        };
        fold(&mut kept, &folded, touched.as_ref(), now);
        kept.folded_heads.insert(
            duplicate.to_string(),
            heads_now.iter().map(ToString::to_string).collect(),
        );
        folded.merged_into = Some(survivor.clone());
        autosurgeon::reconcile(&mut keep.doc, &kept)?;
        autosurgeon::reconcile(&mut gone.doc, &folded)?;
        self.commit_writes(vec![keep, gone])
    }

    /// Folds a merged duplicate into its survivor again, after a late change reached it.
    /// Returns whether `id` is a merged duplicate.
    /// The relay calls it for every customer document a device pushes, so the common case
    /// (not merged) is one indexed lookup, not a document load.
    pub fn carry_merged(&mut self, id: &CustomerId) -> Result<bool> {
        let survivor: Option<String> = self
            .conn()
            .prepare_cached("SELECT merged_into FROM customer_merges WHERE customer_id = ?1")?
            .query_row([id.as_str()], |r| r.get(0))
            .optional()?;
        let Some(survivor) = survivor else {
            return Ok(false);
        };
        self.merge_customers(&CustomerId::parse(survivor)?, id)?;
        Ok(true)
    }
}

/// Records of the duplicate changed between two of its versions, by top-level field; `None`
/// for a field means all of it (the field itself was replaced).
#[derive(Debug, Default)]
struct Touched(BTreeMap<String, Option<BTreeSet<String>>>);

impl Touched {
    /// Whether record `key` of `field` changed (everything does on a first fold).
    fn has(touched: Option<&Self>, field: &str, key: &str) -> bool {
        match touched {
            None => true,
            Some(t) => {
                t.0.get(field)
                    .is_some_and(|keys| keys.as_ref().is_none_or(|k| k.contains(key)))
            }
        }
    }

    /// Keys of `field` that changed, whether or not the duplicate still has them.
    fn keys<'a>(touched: Option<&'a Self>, field: &str) -> Vec<&'a str> {
        touched
            .and_then(|t| t.0.get(field))
            .and_then(|keys| keys.as_ref())
            .map(|keys| keys.iter().map(String::as_str).collect())
            .unwrap_or_default()
    }
}

fn touched_records(
    doc: &mut aisle_core::automerge::AutoCommit,
    before: &[aisle_core::automerge::ChangeHash],
    after: &[aisle_core::automerge::ChangeHash],
) -> Touched {
    use aisle_core::automerge::Prop;
    let mut touched = Touched::default();
    for patch in doc.diff(before, after) {
        let action_key = aisle_core::doc::patch_map_key(&patch.action).map(str::to_string);
        match patch.path.as_slice() {
            [] => {
                if let Some(field) = action_key {
                    touched.0.insert(field, None);
                }
            }
            [(_, Prop::Map(field))] => {
                if let Some(record) = action_key {
                    let entry = touched
                        .0
                        .entry(field.clone())
                        .or_insert(Some(BTreeSet::new()));
                    if let Some(keys) = entry {
                        keys.insert(record);
                    }
                }
            }
            [(_, Prop::Map(field)), (_, Prop::Map(record)), ..] => {
                let entry = touched
                    .0
                    .entry(field.clone())
                    .or_insert(Some(BTreeSet::new()));
                if let Some(keys) = entry {
                    keys.insert(record.clone());
                }
            }
            _ => {}
        }
    }
    touched
}

/// Copies what the duplicate `other` holds, or (with `touched`) what it changed since the last
/// fold, into `into`. Tallies go under keys only merges write (`<duplicate>:<writer>`).
fn fold(into: &mut CustomerDoc, other: &CustomerDoc, touched: Option<&Touched>, now: i64) {
    let tag = other.id.as_str();
    for (writer, tallies) in &other.views {
        if Touched::has(touched, "views", writer) {
            into.views
                .insert(format!("{tag}:{writer}"), tallies.clone());
        }
    }
    for (writer, tallies) in &other.affinity {
        if Touched::has(touched, "affinity", writer) {
            into.affinity
                .insert(format!("{tag}:{writer}"), tallies.clone());
        }
    }

    for (cart_id, cart) in &other.carts {
        if !Touched::has(touched, "carts", cart_id) {
            continue;
        }
        if cart_id == ONLINE_CART {
            fold_online_cart(into, tag, cart);
        } else {
            fold_record(&mut into.carts, cart_id, tag, cart, touched.is_some());
        }
    }
    for (product, item) in &other.wishlist {
        if Touched::has(touched, "wishlist", product) {
            into.wishlist.insert(product.clone(), item.clone());
        }
    }
    for (id, purchase) in &other.purchases {
        if Touched::has(touched, "purchases", id) {
            fold_record(&mut into.purchases, id, tag, purchase, touched.is_some());
        }
    }
    for (id, visit) in &other.visits {
        if Touched::has(touched, "visits", id) {
            fold_record(&mut into.visits, id, tag, visit, touched.is_some());
        }
    }
    for (id, note) in &other.notes {
        if Touched::has(touched, "notes", id) {
            fold_record(&mut into.notes, id, tag, note, touched.is_some());
        }
    }
    for (uid, link) in &other.nfc {
        if Touched::has(touched, "nfc", uid) {
            into.nfc.insert(uid.clone(), link.clone());
        }
    }
    // Removed from the duplicate since the last fold: removed from its copy here too.
    for key in Touched::keys(touched, "wishlist") {
        if !other.wishlist.contains_key(key) {
            into.wishlist.remove(key);
        }
    }
    for key in Touched::keys(touched, "nfc") {
        if !other.nfc.contains_key(key) {
            into.nfc.remove(key);
        }
    }
    for key in Touched::keys(touched, "carts") {
        if key != ONLINE_CART && !other.carts.contains_key(key) {
            let tagged = format!("{key}@{tag}");
            if into.carts.remove(&tagged).is_none() {
                into.carts.remove(key);
            }
        }
    }
    for (purpose, record) in &other.consent {
        let newer = into.consent.get(purpose).is_none_or(|r| r.at < record.at);
        if newer {
            into.consent.insert(purpose.clone(), record.clone());
        }
    }
    for (category, size) in &other.sizes {
        let newer = into
            .sizes
            .get(category)
            .is_none_or(|s| s.updated_at < size.updated_at);
        if newer {
            into.sizes.insert(category.clone(), size.clone());
        }
    }

    let identity = &mut into.identity;
    if identity.email.is_none() {
        identity.email.clone_from(&other.identity.email);
    }
    if identity.phone.is_none() {
        identity.phone.clone_from(&other.identity.phone);
    }
    identity.tier = higher_tier(identity.tier, other.identity.tier);
    identity.joined_at = identity.joined_at.min(other.identity.joined_at);
    if into.shop_customer_id.is_none() {
        into.shop_customer_id.clone_from(&other.shop_customer_id);
    }

    let merged_at = into.merged_from.get(tag).map_or(now, |m| m.merged_at);
    into.merged_from.insert(
        tag.to_string(),
        MergedProfile {
            customer: other.id.clone(),
            loyalty_id: other.identity.loyalty_id.clone(),
            name: other.identity.name.clone(),
            email: other.identity.email.clone(),
            phone: other.identity.phone.clone(),
            shop_customer_id: other.shop_customer_id.clone(),
            merged_at,
        },
    );
    // Profiles merged into the duplicate earlier still find the survivor.
    for (id, merged) in &other.merged_from {
        into.merged_from
            .entry(id.clone())
            .or_insert_with(|| merged.clone());
    }
}

/// Puts one of the duplicate's records into the survivor. First fold: under its own key, or
/// `key@duplicate` when the survivor has a different record there (imported ids are unique
/// within one profile only). Re-fold: replaces the copy wherever the first fold put it.
fn fold_record<T: Clone + PartialEq>(
    map: &mut BTreeMap<String, T>,
    key: &str,
    tag: &str,
    value: &T,
    refold: bool,
) {
    let tagged = format!("{key}@{tag}");
    if let Some(copy) = map.get_mut(&tagged) {
        *copy = value.clone();
        return;
    }
    match map.get(key) {
        Some(existing) if !refold && existing != value => {
            map.insert(tagged, value.clone());
        }
        _ => {
            map.insert(key.to_string(), value.clone());
        }
    }
}

/// The newer of the two online carts is the online cart. The duplicate's own cart, updated
/// since the last fold, replaces its copy; a survivor's cart it displaces is kept as history
/// under a key of its own that nothing overwrites.
fn fold_online_cart(into: &mut CustomerDoc, tag: &str, cart: &Cart) {
    let aside = format!("online@{tag}");
    let same_cart = |c: &Cart| c.created_at == cart.created_at && c.channel == cart.channel;
    match into.carts.get(ONLINE_CART) {
        None => {
            into.carts.insert(ONLINE_CART.to_string(), cart.clone());
            into.carts.remove(&aside);
        }
        Some(current) if same_cart(current) => {
            into.carts.insert(ONLINE_CART.to_string(), cart.clone());
        }
        Some(current) if current.updated_at < cart.updated_at => {
            let earlier = current.clone();
            into.carts
                .entry(format!("online@{}", earlier.created_at))
                .or_insert(earlier);
            into.carts.insert(ONLINE_CART.to_string(), cart.clone());
            into.carts.remove(&aside);
        }
        Some(_) => {
            into.carts.insert(aside, cart.clone());
        }
    }
}

fn higher_tier(a: Tier, b: Tier) -> Tier {
    let rank = |t: Tier| match t {
        Tier::Member => 0,
        Tier::Silver => 1,
        Tier::Gold => 2,
    };
    if rank(b) > rank(a) { b } else { a }
}
