//! What the relay checks of the changes a device pushes, before it stores any of them: well
//! formed chunks, every change by the pushing device itself, no merge recorded (only the relay
//! merges), no loyalty number or web shop id changed, and no identifier another customer
//! holds; and a whole customer document must fit its schema, every field of it (the
//! projections read only the fields they index). A store's stock moves only as the sales and
//! (a manager's) adjustments recorded with it say, and recorded ones never change. That a document's content names the
//! document itself is checked by the projection, on every replica. Which documents the device may write at all is checked before, by
//! `acl::can_write` in the sync session.

use aisle_core::automerge::{self, ActorId, AutoCommit};
use aisle_core::doc::{
    Adjustment, CustomerDoc, CustomerGuards, DocId, IndexedCustomer, InventoryDoc, hydrate_doc,
};
use aisle_core::model::{CustomerId, MergedProfile, Role, Sale, StoreId};
use aisle_core::replicate::{ChangeCheck, Loading};
use aisle_core::validate::MAX_STOCK_ADJUSTMENT;
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
    Inventory(StockBefore),
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
            DocId::Inventory(store) => {
                if loading.heads_before.is_empty() {
                    return Err(refused(
                        doc,
                        "create a store's inventory, which only the relay does",
                    ));
                }
                Before::Inventory(StockBefore::read(loading.content, store)?)
            }
            _ => Before::Other,
        })
    }

    fn after(&self, before: Self::Before, loading: &mut Loading<'_>) -> Result<()> {
        let Loading {
            store,
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
            (Before::Inventory(before), DocId::Inventory(store)) => {
                // Changes waiting for others are checked once they apply.
                if !content.get_missing_deps(&[]).is_empty() {
                    return Ok(());
                }
                return check_stock(self.role, doc, store, &before, content);
            }
            _ => return Ok(()),
        };
        let after = match Guarded::pushed(content, doc) {
            Ok((after, indexed)) => {
                **projection = Some((content.get_heads(), indexed));
                after
            }
            // Changes waiting for others are checked once they apply.
            Err(_) if !content.get_missing_deps(&[]).is_empty() => return Ok(()),
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
            if let Some(holder) = store.lookup_identifier(kind, value)?
                && holder != *id
                && store.current_id(&holder)? != *id
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

/// A store's stock as it was before a push: what the push's changes are checked against.
pub struct StockBefore {
    on_hand: BTreeMap<String, i64>,
    sales: BTreeMap<String, Sale>,
    adjustments: BTreeMap<String, Adjustment>,
}

impl StockBefore {
    fn read(doc: &mut AutoCommit, store: &StoreId) -> Result<Self> {
        let inventory = InventoryDoc::new(doc, store);
        Ok(Self {
            on_hand: inventory.all_on_hand()?.into_iter().collect(),
            sales: inventory.sales()?,
            adjustments: inventory.adjustments()?,
        })
    }
}

/// Stock moves only as the records beside it say: every unit a counter moves is a line of a
/// sale recorded in the same push, or (a manager's) adjustment; recorded sales and
/// adjustments are never changed or removed; counters are neither created nor removed (the
/// relay creates them, from imports). A modified app holding a valid token could otherwise
/// give its store stock, or take some away, with nothing on record.
fn check_stock(
    role: Role,
    doc: &DocId,
    store: &StoreId,
    before: &StockBefore,
    content: &mut AutoCommit,
) -> Result<()> {
    let after = StockBefore::read(content, store).map_err(|e| {
        refused(
            doc,
            &format!("do not make an inventory this relay reads: {e}"),
        )
    })?;
    for (id, sale) in &before.sales {
        if after.sales.get(id) != Some(sale) {
            return Err(refused(
                doc,
                &format!("change or remove the recorded sale {id}"),
            ));
        }
    }
    for (id, adjustment) in &before.adjustments {
        if after.adjustments.get(id) != Some(adjustment) {
            return Err(refused(
                doc,
                &format!("change or remove the stock adjustment {id}"),
            ));
        }
    }
    let mut explained: BTreeMap<&str, i64> = BTreeMap::new();
    for (id, sale) in after
        .sales
        .iter()
        .filter(|(id, _)| !before.sales.contains_key(*id))
    {
        if sale.lines.is_empty() {
            return Err(refused(doc, &format!("record the sale {id} with no lines")));
        }
        for line in &sale.lines {
            // The price is the tablet's (a price changed while it was offline still sells at
            // the old one); only one below nothing, or an empty line, is no sale.
            if line.quantity == 0 || line.unit_price_cents < 0 {
                return Err(refused(
                    doc,
                    &format!(
                        "record the sale {id} with a line of {} at {}",
                        line.quantity, line.unit_price_cents
                    ),
                ));
            }
            *explained.entry(line.variant.as_str()).or_default() -= i64::from(line.quantity);
        }
    }
    for (id, adjustment) in after
        .adjustments
        .iter()
        .filter(|(id, _)| !before.adjustments.contains_key(*id))
    {
        if role != Role::Manager {
            return Err(refused(
                doc,
                "record a stock adjustment (a delivery, damage or a count), which only a manager's tablet may",
            ));
        }
        if adjustment.delta == 0 || adjustment.delta.abs() > MAX_STOCK_ADJUSTMENT {
            return Err(refused(
                doc,
                &format!("record the stock adjustment {id} of {}", adjustment.delta),
            ));
        }
        *explained.entry(adjustment.variant.as_str()).or_default() += adjustment.delta;
    }
    for variant in after.on_hand.keys() {
        if !before.on_hand.contains_key(variant) {
            return Err(refused(
                doc,
                &format!("create stock of {variant}, which only the relay does"),
            ));
        }
    }
    for (variant, was) in &before.on_hand {
        let Some(now) = after.on_hand.get(variant) else {
            return Err(refused(
                doc,
                &format!("remove the stock counter of {variant}"),
            ));
        };
        let moved = now - was;
        let recorded = explained.remove(variant.as_str()).unwrap_or(0);
        if moved != recorded {
            return Err(refused(
                doc,
                &format!(
                    "move the stock of {variant} by {moved} where the sales and adjustments recorded say {recorded}"
                ),
            ));
        }
    }
    if let Some((variant, _)) = explained.into_iter().next() {
        return Err(refused(
            doc,
            &format!("record sales or adjustments of {variant}, which this store does not stock"),
        ));
    }
    Ok(())
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
