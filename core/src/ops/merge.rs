//! Merging duplicate customer profiles: the same person found twice (a web sign-up and a
//! loyalty member, say). The survivor takes in the duplicate's whole history; the duplicate
//! keeps its content, is marked as merged, and its id and identifiers open the survivor on
//! every replica.
//!
//! Folding is idempotent, so the relay folds again whenever a tablet that had not yet heard of
//! the merge pushes a late change (a note written offline) to the duplicate: nothing is lost
//! and nothing is counted twice.

use std::collections::BTreeMap;

use crate::doc::{self, CustomerDoc, DocId};
use crate::error::{CoreError, Result};
use crate::model::{Cart, CustomerId, MergedProfile, ONLINE_CART, Tier};
use crate::store::Store;

impl Store {
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
        if let Some(other) = &folded.merged_into
            && other != &survivor
        {
            return Err(CoreError::invalid(
                "merge",
                &format!("{duplicate} is already merged into {other}"),
            ));
        }
        let now = self.now();
        fold(&mut kept, &folded, now);
        folded.merged_into = Some(survivor.clone());
        autosurgeon::reconcile(&mut keep.doc, &kept)?;
        autosurgeon::reconcile(&mut gone.doc, &folded)?;
        self.commit_writes(vec![keep, gone])
    }

    /// Every profile of this person: the customer `id` stands for now, then each profile merged
    /// into it (directly or through another). Erasure erases them all.
    pub fn same_person(&self, id: &CustomerId) -> Result<Vec<CustomerId>> {
        let survivor = self.current_id(id)?;
        let mut stmt = self.conn().prepare_cached(
            "WITH RECURSIVE merged(id) AS (
                 SELECT customer_id FROM customer_merges WHERE merged_into = ?1
                 UNION SELECT m.customer_id FROM customer_merges m JOIN merged ON m.merged_into = merged.id)
             SELECT id FROM merged ORDER BY id",
        )?;
        let mut out = vec![survivor.clone()];
        for id in stmt.query_map([survivor.as_str()], |r| r.get::<_, String>(0))? {
            out.push(CustomerId::parse(id?)?);
        }
        Ok(out)
    }

    /// Folds a merged duplicate into its survivor again, after a late change reached it.
    /// Returns whether `id` is a merged duplicate.
    pub fn carry_merged(&mut self, id: &CustomerId) -> Result<bool> {
        let doc_id = DocId::Customer(id.clone());
        let Some(doc) = self.load_doc(&doc_id)? else {
            return Ok(false);
        };
        let customer: CustomerDoc = doc::hydrate_doc(&doc, &doc_id)?;
        let Some(survivor) = customer.merged_into else {
            return Ok(false);
        };
        self.merge_customers(&survivor, id)?;
        Ok(true)
    }
}

/// Adds everything `other` holds to `into`. Keys that only merges write (per-writer tallies
/// under the duplicate's id) are overwritten with the duplicate's current values, so folding
/// twice counts nothing twice.
fn fold(into: &mut CustomerDoc, other: &CustomerDoc, now: i64) {
    let tag = other.id.as_str();
    for (writer, tallies) in &other.views {
        into.views
            .insert(format!("{tag}:{writer}"), tallies.clone());
    }
    for (writer, tallies) in &other.affinity {
        into.affinity
            .insert(format!("{tag}:{writer}"), tallies.clone());
    }

    for (cart_id, cart) in &other.carts {
        if cart_id == ONLINE_CART {
            fold_online_cart(into, tag, cart);
        } else {
            insert_distinct(&mut into.carts, cart_id, tag, cart);
        }
    }
    for (product, item) in &other.wishlist {
        into.wishlist
            .entry(product.clone())
            .or_insert_with(|| item.clone());
    }
    for (id, purchase) in &other.purchases {
        insert_distinct(&mut into.purchases, id, tag, purchase);
    }
    for (id, visit) in &other.visits {
        insert_distinct(&mut into.visits, id, tag, visit);
    }
    for (id, note) in &other.notes {
        insert_distinct(&mut into.notes, id, tag, note);
    }
    for (uid, link) in &other.nfc {
        into.nfc.entry(uid.clone()).or_insert_with(|| link.clone());
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

/// Inserts `value` under `key`, or under `key@tag` when the survivor already has a different
/// record with that key (imported ids are only unique within one profile).
fn insert_distinct<T: Clone + PartialEq>(
    map: &mut BTreeMap<String, T>,
    key: &str,
    tag: &str,
    value: &T,
) {
    match map.get(key) {
        None => {
            map.insert(key.to_string(), value.clone());
        }
        Some(existing) if existing == value => {}
        Some(_) => {
            map.insert(format!("{key}@{tag}"), value.clone());
        }
    }
}

/// The newer of the two online carts is the online cart; the older is kept as history.
fn fold_online_cart(into: &mut CustomerDoc, tag: &str, cart: &Cart) {
    let earlier_key = format!("online@{tag}");
    match into.carts.get(ONLINE_CART) {
        None => {
            into.carts.insert(ONLINE_CART.to_string(), cart.clone());
        }
        Some(current) if current == cart => {}
        Some(current) if current.updated_at < cart.updated_at => {
            let earlier = current.clone();
            into.carts.insert(ONLINE_CART.to_string(), cart.clone());
            into.carts.insert(earlier_key, earlier);
        }
        Some(_) => {
            into.carts.insert(earlier_key, cart.clone());
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
