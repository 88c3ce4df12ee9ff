//! What the relay checks of the changes a device pushes, before it stores any of them: well
//! formed chunks, every change by the pushing device itself, no merge recorded (only the relay
//! merges), no loyalty number or web shop id changed, and no identifier another customer
//! holds; and a whole customer document must fit its schema, every field of it (the
//! projections read only the fields they index). A store's stock moves only as the sales and
//! (a manager's) adjustments recorded with it say, and recorded ones never change. That a document's content names the
//! document itself is checked by the projection, on every replica. Which documents the device may write at all is checked before, by
//! `acl::can_write` in the sync session.

use aisle_core::automerge::{self, ActorId, AutoCommit, ChangeHash, PatchAction, Prop, ReadDoc};
use aisle_core::doc::{
    CustomerDoc, CustomerGuards, DocId, IndexedCustomer, InventoryDoc, hydrate_doc, inventory_keys,
};
use aisle_core::model::{
    CustomerId, MergedProfile, MovementKind, OUTSIDE_SALE_PREFIX, OUTSIDE_TILL, Role, STOCK_SYSTEM,
    StoreId, VariantSku,
};

use super::import::IMPORT_ASSOCIATE;
use aisle_core::replicate::{ChangeCheck, Loading};
use aisle_core::store::Store;
use aisle_core::validate::{MAX_LINE_QUANTITY, MAX_UNIT_PRICE_MINOR};
use aisle_core::{CoreError, Result};
use std::collections::{BTreeMap, BTreeSet};

/// A push by one device, whose Automerge actor is `author`, in `role`.
pub struct DevicePush<'a> {
    pub author: &'a ActorId,
    pub role: Role,
}

/// What a push's check reads of a document before the changes load.
pub enum Before {
    Customer(Guarded),
    /// Read off the changes themselves, after they load.
    Inventory,
    Other,
}

/// Who a profile was merged into, what was folded into it, and at which heads.
type MergeFields = (
    Option<CustomerId>,
    BTreeMap<String, MergedProfile>,
    BTreeMap<String, Vec<String>>,
);

/// What of a customer document only the relay may change, or a device may add only when no
/// other customer holds it.
#[derive(Debug, Default, PartialEq)]
pub struct Guarded {
    /// Who it was merged into and what was folded in: a device that could set these would
    /// fold one customer into another (their notes and purchases with them) without being a
    /// manager of both.
    merge: MergeFields,
    /// `None` for a document new here: a device signing a customer up gives the number.
    loyalty: Option<String>,
    /// The web shop's id: only web shop events set it.
    shop: Option<String>,
    /// Everything that finds the customer: loyalty number, email, phone, cards.
    identifiers: BTreeSet<(&'static str, String)>,
}

impl From<CustomerGuards> for Guarded {
    fn from(fields: CustomerGuards) -> Self {
        let identity = &fields.identity;
        let mut identifiers =
            BTreeSet::from([("loyalty", identity.loyalty_id.as_str().to_string())]);
        identifiers.extend(identity.email.clone().map(|e| ("email", e)));
        identifiers.extend(identity.phone.clone().map(|p| ("phone", p)));
        identifiers.extend(fields.nfc.keys().map(|uid| ("nfc", uid.clone())));
        Self {
            loyalty: Some(identity.loyalty_id.as_str().to_string()),
            merge: (fields.merged_into, fields.merged_from, fields.folded_heads),
            shop: fields.shop_customer_id,
            identifiers,
        }
    }
}

impl Guarded {
    /// Of the document as stored. An error when the content is not a customer document
    /// (empty when new here, or partial while changes wait for others).
    fn stored(doc: &AutoCommit, id: &DocId) -> Result<Self> {
        // The stored document was checked whole when it came in: only these are read of it.
        hydrate_doc::<CustomerGuards>(doc, id).map(Self::from)
    }

    /// Of the document with a push's changes loaded, which must fit the schema whole; with
    /// the projection read off the same hydration.
    fn pushed(doc: &AutoCommit, id: &DocId) -> Result<(Self, IndexedCustomer)> {
        let customer = hydrate_doc::<CustomerDoc>(doc, id)?;
        let indexed = IndexedCustomer::from(&customer);
        Ok((CustomerGuards::from(customer).into(), indexed))
    }
}

fn refused(doc: &DocId, what: &str) -> CoreError {
    CoreError::invalid("changes", &format!("for {doc} {what}"))
}

impl ChangeCheck for DevicePush<'_> {
    /// What only the relay changes of a customer, or a store's stock and its records, as
    /// stored.
    type Before = Before;

    fn bytes(&self, doc: &DocId, changes: &[u8]) -> Result<()> {
        check_chunks(doc, changes)
    }

    fn before(&self, loading: &mut Loading<'_>) -> Result<Self::Before> {
        // Compared by value afterwards: a tablet writing to a profile made before the merge
        // fields existed adds them empty, which changes nothing. A document new here may only
        // start unmerged, with no web shop id.
        let doc = loading.doc;
        Ok(match doc {
            DocId::Customer(_) => {
                Before::Customer(Guarded::stored(loading.content, doc).unwrap_or_default())
            }
            DocId::Inventory(_) => {
                if loading.heads_before.is_empty() {
                    return Err(refused(
                        doc,
                        "create a store's inventory, which only the relay does",
                    ));
                }
                Before::Inventory
            }
            _ => Before::Other,
        })
    }

    fn after(&self, before: Self::Before, loading: &mut Loading<'_>) -> Result<()> {
        let Loading {
            store: known,
            doc,
            content,
            heads_before,
            projection,
        } = loading;
        let foreign = content
            .get_changes(heads_before)
            .iter()
            .any(|c| c.actor_id() != self.author);
        if foreign {
            return Err(refused(doc, "include changes by another device"));
        }
        let (before, id) = match (before, *doc) {
            (Before::Customer(before), DocId::Customer(id)) => (before, id),
            // What applied is checked, whether or not more of the push waits for changes the
            // relay lacks: what waits is checked with the push that lets it apply.
            (Before::Inventory, DocId::Inventory(store)) => {
                return check_stock(known, self.role, doc, store, heads_before, content);
            }
            _ => return Ok(()),
        };
        let after = match Guarded::pushed(content, doc) {
            Ok((after, indexed)) => {
                **projection = Some((content.get_heads(), indexed));
                after
            }
            // Nothing applied yet (all of it waits for changes the relay lacks): it is checked
            // with the push that lets it apply. Anything that did apply must read.
            Err(_) if content.get_heads() == **heads_before => return Ok(()),
            Err(e) => {
                return Err(refused(
                    doc,
                    &format!("do not make a customer document this relay reads: {e}"),
                ));
            }
        };
        if after.merge != before.merge {
            return Err(refused(doc, "record a merge, which only the relay makes"));
        }
        if before.loyalty.is_some() && after.loyalty != before.loyalty {
            return Err(refused(
                doc,
                "change the loyalty number, which only the relay changes",
            ));
        }
        if after.shop != before.shop {
            return Err(refused(
                doc,
                "set the web shop's customer id, which only the shop sets",
            ));
        }
        // An identifier finds one customer: taking another's would make their card, code or
        // email open this profile (and web shop events merge their history into it).
        for (kind, value) in after.identifiers.difference(&before.identifiers) {
            if let Some(holder) = known.lookup_identifier(kind, value)?
                && holder != *id
                && known.current_id(&holder)? != *id
            {
                return Err(refused(
                    doc,
                    &format!("give it the {kind} of another customer"),
                ));
            }
        }
        Ok(())
    }
}

/// How far ahead of the relay's clock a tablet may date a sale or movement: a day, for a
/// tablet whose clock is wrong (a refused push holds back every later sale of that tablet),
/// not a record dated years ahead. A count dated ahead is no truth for the stock system's
/// levels until the relay's clock reaches it (`stock_events.rs`).
const MAX_AHEAD_MS: i64 = 24 * 60 * 60 * 1000;

/// Stock moves only as the records beside it say: every unit a counter moves is a line of a
/// sale recorded in the same push, or (a manager's) adjustment; recorded sales and
/// adjustments are never changed or removed; counters are neither created nor removed (the
/// relay creates them, from imports), nor is anything at the document's top level. A modified
/// app holding a valid token could otherwise give its store stock, or take some away, with
/// nothing on record. Read off the patches between the stored heads and the pushed ones, so
/// the check costs what the push changed, not the store's whole history of sales.
fn check_stock(
    known: &Store,
    role: Role,
    doc: &DocId,
    store: &StoreId,
    heads_before: &[ChangeHash],
    content: &mut AutoCommit,
) -> Result<()> {
    let heads_after = content.get_heads();
    let patches = content.diff(heads_before, &heads_after);
    let mut moved: BTreeMap<String, i64> = BTreeMap::new();
    let mut new_sales = BTreeSet::new();
    let mut new_adjustments = BTreeSet::new();
    let mut holds = BTreeSet::new();
    for patch in patches {
        let key = aisle_core::doc::patch_map_key(&patch.action).map(str::to_string);
        match patch.path.as_slice() {
            [] => {
                return Err(refused(
                    doc,
                    &format!(
                        "change the inventory's {}, which only the relay writes",
                        key.as_deref().unwrap_or("fields")
                    ),
                ));
            }
            [(_, Prop::Map(top))] if top == inventory_keys::ON_HAND => match patch.action {
                PatchAction::Increment {
                    prop: Prop::Map(variant),
                    value,
                } => {
                    let total = moved.entry(variant).or_default();
                    *total = total
                        .checked_add(value)
                        .ok_or_else(|| refused(doc, "move stock by more than a counter holds"))?;
                }
                _ => {
                    return Err(refused(
                        doc,
                        &format!(
                            "create, replace or remove the stock counter of {}, which only the relay does",
                            key.as_deref().unwrap_or("a variant")
                        ),
                    ));
                }
            },
            // Holds set items aside: they change what is available, never what is on hand.
            [(_, Prop::Map(top)), rest @ ..] if top == inventory_keys::HOLDS => match rest {
                [] => holds.extend(key),
                [(_, Prop::Map(hold)), ..] => {
                    holds.insert(hold.clone());
                }
                _ => return Err(refused(doc, "change the inventory's holds")),
            },
            [(_, Prop::Map(top)), rest @ ..]
                if top == inventory_keys::SALES || top == inventory_keys::ADJUSTMENTS =>
            {
                let record = match rest {
                    [] => key,
                    [(_, Prop::Map(record)), ..] => Some(record.clone()),
                    _ => None,
                };
                let Some(record) = record else {
                    return Err(refused(doc, &format!("change the inventory's {top}")));
                };
                let (map, is_sale) = if top == inventory_keys::SALES {
                    (&mut new_sales, true)
                } else {
                    (&mut new_adjustments, false)
                };
                if !map.contains(&record) {
                    if recorded_before(content, top, &record, heads_before)? {
                        return Err(refused(
                            doc,
                            &format!(
                                "change or remove the recorded {} {record}",
                                if is_sale { "sale" } else { "stock adjustment" }
                            ),
                        ));
                    }
                    map.insert(record);
                }
            }
            _ => return Err(refused(doc, "change what an inventory does not hold")),
        }
    }
    // One id, one record: the till outbox and the projection key sales and movements by id
    // alone, so an id used again (here, in another store, or for a sale and its own return)
    // would stand for two records and one of them would never reach the till.
    if let Some(id) = new_sales.intersection(&new_adjustments).next() {
        return Err(refused(
            doc,
            &format!("record the sale {id} and a stock movement under one id"),
        ));
    }
    for id in new_sales.iter().chain(&new_adjustments) {
        if known.record_id_taken(id)? {
            return Err(refused(
                doc,
                &format!("record {id}, an id a recorded sale or stock movement already has"),
            ));
        }
    }
    let inventory = InventoryDoc::new(content, store);
    for id in &holds {
        // A hold ends by being marked released or sold, never by disappearing.
        let Some(hold) = inventory
            .hold(id)
            .map_err(|e| refused(doc, &format!("record a hold this relay does not read: {e}")))?
        else {
            return Err(refused(doc, &format!("remove the hold {id}")));
        };
        if !(1..=MAX_LINE_QUANTITY).contains(&hold.quantity)
            || hold.expires_at < hold.placed_at
            || inventory.on_hand(hold.variant.as_str())?.is_none()
        {
            return Err(refused(
                doc,
                &format!(
                    "hold {} of {} (1 to {MAX_LINE_QUANTITY} of a variant this store stocks, ending after it starts)",
                    hold.quantity, hold.variant
                ),
            ));
        }
    }
    let mut explained: BTreeMap<String, i64> = BTreeMap::new();
    // Units received in this push, per transfer, sending store and variant.
    let mut received: BTreeMap<(String, StoreId, VariantSku), i64> = BTreeMap::new();
    // Units returned in this push, per sale and variant.
    let mut returned: BTreeMap<(String, VariantSku), i64> = BTreeMap::new();
    // Returns that new sales exchange: one sale each.
    let mut exchanged = BTreeSet::new();
    for id in &new_sales {
        let Some(sale) = inventory
            .sale(id)
            .map_err(|e| refused(doc, &format!("record a sale this relay does not read: {e}")))?
        else {
            return Err(refused(doc, &format!("remove the sale {id}")));
        };
        if sale.lines.is_empty() {
            return Err(refused(doc, &format!("record the sale {id} with no lines")));
        }
        // What the retailer's own systems record is the relay's to write: a sale by the
        // outside till is never sent to the till, and a `till-` key would make the till's
        // own sale of that id count as already had.
        if sale.associate.as_str() == OUTSIDE_TILL || id.starts_with(OUTSIDE_SALE_PREFIX) {
            return Err(refused(
                doc,
                &format!("record the sale {id} as one rung up at an outside till"),
            ));
        }
        if sale.at > known.now() + MAX_AHEAD_MS {
            return Err(refused(
                doc,
                &format!("record the sale {id} dated ahead of now"),
            ));
        }
        if let Some(return_id) = &sale.exchange_for {
            // An exchange comes with its return, in the same change, for the customer of the
            // sale it exchanges; the return itself is checked with the movements below.
            let back = new_adjustments
                .contains(return_id)
                .then(|| inventory.adjustment(return_id))
                .transpose()
                .map_err(|e| {
                    refused(
                        doc,
                        &format!("exchange a return this relay does not read: {e}"),
                    )
                })?
                .flatten()
                .filter(|a| a.kind() == MovementKind::Return);
            let Some(back) = back else {
                return Err(refused(
                    doc,
                    &format!(
                        "record the exchange {id} without its return {return_id} in the same change"
                    ),
                ));
            };
            if !exchanged.insert(return_id.clone()) {
                return Err(refused(
                    doc,
                    &format!("exchange the return {return_id} for two sales"),
                ));
            }
            let original = match &back.sale {
                Some(original) => inventory.sale(original).map_err(|e| {
                    refused(
                        doc,
                        &format!("exchange a sale this relay does not read: {e}"),
                    )
                })?,
                None => None,
            };
            if original.is_none_or(|o| o.customer != sale.customer) {
                return Err(refused(
                    doc,
                    &format!(
                        "record the exchange {id} for someone other than the customer of its sale"
                    ),
                ));
            }
        }
        for line in &sale.lines {
            // The price is the tablet's (a price changed while it was offline still sells at
            // the old one); one below nothing or past any price, or a quantity no line holds,
            // is no sale (and totals that overflow are no money).
            if !(1..=MAX_LINE_QUANTITY).contains(&line.quantity)
                || !(0..=MAX_UNIT_PRICE_MINOR).contains(&line.unit_price_cents)
            {
                return Err(refused(
                    doc,
                    &format!(
                        "record the sale {id} with a line of {} at {} (1 to {MAX_LINE_QUANTITY} at 0 to {MAX_UNIT_PRICE_MINOR})",
                        line.quantity, line.unit_price_cents
                    ),
                ));
            }
            *explained.entry(line.variant.to_string()).or_default() -= i64::from(line.quantity);
        }
    }
    for id in &new_adjustments {
        let Some(adjustment) = inventory.adjustment(id).map_err(|e| {
            refused(
                doc,
                &format!("record an adjustment this relay does not read: {e}"),
            )
        })?
        else {
            return Err(refused(doc, &format!("remove the stock adjustment {id}")));
        };
        if [STOCK_SYSTEM, IMPORT_ASSOCIATE].contains(&adjustment.by.as_str()) {
            return Err(refused(
                doc,
                &format!("record the stock movement {id} as the retailer's own systems"),
            ));
        }
        // A stock level applies every movement dated after it: one dated ahead would count
        // in every level for as long as it stays ahead.
        if adjustment.at > known.now() + MAX_AHEAD_MS {
            return Err(refused(
                doc,
                &format!("record the stock movement {id} dated ahead of now"),
            ));
        }
        // A return is bounded by its sale (checked below), so any staff tablet may take one;
        // every other movement is a manager's.
        if role != Role::Manager && adjustment.kind() != MovementKind::Return {
            return Err(refused(
                doc,
                "record a stock movement (a delivery, damage, a transfer or a count), which only a manager's tablet may",
            ));
        }
        adjustment
            .check_shape(store)
            .map_err(|reason| refused(doc, &format!("record the stock movement {id}: {reason}")))?;
        if let (MovementKind::Return, Some(sale_id)) = (adjustment.kind(), &adjustment.sale) {
            let sale = inventory.sale(sale_id).map_err(|e| {
                refused(
                    doc,
                    &format!("return against a sale this relay does not read: {e}"),
                )
            })?;
            let sold: i64 = sale.as_ref().map_or(0, |sale| {
                sale.lines
                    .iter()
                    .filter(|l| l.variant == adjustment.variant)
                    .map(|l| i64::from(l.quantity))
                    .sum()
            });
            // Money, field by field: the refund is the units at the sale's own price.
            let due = sale.as_ref().map_or(0, |sale| {
                sale.refund_for(&adjustment.variant, adjustment.delta)
            });
            if adjustment.refund_minor != Some(due) {
                return Err(refused(
                    doc,
                    &format!(
                        "refund {:?} for the return {id}, where the sale's price makes it {due}",
                        adjustment.refund_minor
                    ),
                ));
            }
            let returning = returned
                .entry((sale_id.clone(), adjustment.variant.clone()))
                .or_default();
            *returning += adjustment.delta;
            let before = known.returned_of(store, sale_id, &adjustment.variant)?;
            if before + *returning > sold {
                return Err(refused(
                    doc,
                    &format!(
                        "return {} of {} against the sale {sale_id}, which sold {sold} ({before} returned before)",
                        *returning, adjustment.variant
                    ),
                ));
            }
        }
        match (
            adjustment.kind(),
            &adjustment.other_store,
            &adjustment.transfer,
        ) {
            (MovementKind::TransferOut, Some(to), _)
                if !known.stores()?.iter().any(|s| s.id == *to) =>
            {
                return Err(refused(
                    doc,
                    &format!("send the transfer {id} to {to}, which is no store"),
                ));
            }
            (MovementKind::TransferIn, Some(from), Some(transfer)) => {
                let received = received
                    .entry((transfer.clone(), from.clone(), adjustment.variant.clone()))
                    .or_default();
                *received += adjustment.delta;
                let (sent, before) =
                    known.transfer_balance(transfer, from, store, &adjustment.variant)?;
                if before + *received > sent {
                    return Err(refused(
                        doc,
                        &format!(
                            "receive {} of {} in transfer {transfer} from {from}, which sent {sent} ({before} received before)",
                            *received, adjustment.variant
                        ),
                    ));
                }
            }
            _ => {}
        }
        *explained.entry(adjustment.variant.to_string()).or_default() += adjustment.delta;
    }
    let variants: BTreeSet<&String> = moved.keys().chain(explained.keys()).collect();
    for variant in variants {
        let (by, recorded) = (
            moved.get(variant).copied().unwrap_or(0),
            explained.get(variant).copied().unwrap_or(0),
        );
        if by != recorded {
            return Err(refused(
                doc,
                &format!(
                    "move the stock of {variant} by {by} where the sales and adjustments recorded say {recorded}"
                ),
            ));
        }
        if recorded != 0 && inventory.on_hand(variant)?.is_none() {
            return Err(refused(
                doc,
                &format!(
                    "record sales or adjustments of {variant}, which this store does not stock"
                ),
            ));
        }
    }
    Ok(())
}

/// Whether `record` was in the inventory's `top` map at the stored heads.
fn recorded_before(
    content: &AutoCommit,
    top: &str,
    record: &str,
    heads_before: &[ChangeHash],
) -> Result<bool> {
    let Some((_, map)) = content.get_at(automerge::ROOT, top, heads_before)? else {
        return Ok(false);
    };
    Ok(content.get_at(&map, record, heads_before)?.is_some())
}

/// Refuses bytes that are not entirely well-formed Automerge chunks with valid checksums.
/// Automerge's incremental load skips a bad tail with only a log line; from an untrusted peer
/// that must be an error instead.
fn check_chunks(doc: &DocId, bytes: &[u8]) -> Result<()> {
    if bytes.is_empty() {
        return Ok(());
    }
    let loaded = automerge::Automerge::load_with_options(
        bytes,
        automerge::LoadOptions::new()
            .on_partial_load(automerge::OnPartialLoad::Error)
            .verification_mode(automerge::VerificationMode::DontCheck),
    );
    match loaded {
        // Changes that build on ones only the target document has parse fine on their own.
        Ok(_) | Err(automerge::AutomergeError::MissingDeps) => Ok(()),
        Err(e) => Err(CoreError::invalid(
            "changes",
            &format!("for {doc} do not load: {e}"),
        )),
    }
}
