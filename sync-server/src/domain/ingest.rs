//! Web shop events ingested by the relay: what shoppers did online, turned into changes to
//! their customer documents, which then sync to the store's tablets like any other change.
//!
//! A batch is validated whole before anything is written: an unknown product, a customer who
//! cannot be resolved, or a malformed field anywhere rejects the batch with the event's index
//! and nothing changes. Each event then commits with its id in the same transaction, so a
//! replayed or retried event is counted once, even across a crash mid-batch.

use super::RelayDocs;
use aisle_core::Store;
use aisle_core::api::{
    Event, EventBatch, EventCustomer, EventKind, EventLine, IngestOutcome, MAX_EVENTS,
};
use aisle_core::model::{
    CartStatus, Channel, ConsentPurpose, ConsentRecord, ConsentSource, CustomerId, Identifier,
    LoyaltyId, NewCustomer, Purchase, PurchaseLine, Tier, VariantSku,
};
use aisle_core::validate;
use aisle_core::{CoreError, Result};
use std::borrow::BorrowMut;

/// A batch refused before anything was written.
#[derive(Debug, thiserror::Error)]
#[error("event {index} ({id}): {reason}")]
pub struct Rejected {
    pub index: usize,
    pub id: String,
    pub reason: String,
}

/// The author of notes written from chat hand-offs.
const CHAT_AUTHOR: &str = "web-chat";
const CHAT_PREFIX: &str = "Web chat: ";

/// Loyalty numbers the relay hands out start here, above those printed on store cards.
const FIRST_ALLOCATED_SERIAL: u32 = 90_000_000;
const ALLOCATED_KEY: &str = "loyalty:next-serial";

impl<S: BorrowMut<Store>> RelayDocs<S> {
    /// A loyalty number no customer has, for a customer the web shop created: the next of the
    /// relay's range (one derived from the shop's own ids would collide).
    fn allocate_loyalty_id(&mut self) -> Result<LoyaltyId> {
        let mut serial = self
            .meta(ALLOCATED_KEY)?
            .and_then(|b| <[u8; 4]>::try_from(b.as_slice()).ok())
            .map_or(FIRST_ALLOCATED_SERIAL, u32::from_be_bytes);
        loop {
            let candidate = LoyaltyId::from_serial(serial);
            serial = serial.checked_add(1).ok_or_else(|| {
                CoreError::Internal("the relay's loyalty numbers are used up".into())
            })?;
            if self
                .identify(&Identifier::Loyalty(candidate.clone()))
                .is_err()
            {
                self.set_meta(ALLOCATED_KEY, &serial.to_be_bytes())?;
                return Ok(candidate);
            }
        }
    }

    /// Applies a batch of web shop events. Validates all of them first; an invalid event
    /// rejects the whole batch.
    pub fn ingest(
        &mut self,
        batch: &EventBatch,
    ) -> std::result::Result<IngestOutcome, IngestError> {
        if batch.events.is_empty() || batch.events.len() > MAX_EVENTS {
            return Err(IngestError::Rejected(Rejected {
                index: 0,
                id: String::new(),
                reason: format!("a batch holds 1 to {MAX_EVENTS} events"),
            }));
        }
        let mut seen_in_batch = std::collections::HashSet::new();
        let mut created_in_batch: Vec<&EventCustomer> = Vec::new();
        let mut plan = Vec::with_capacity(batch.events.len());
        for (index, event) in batch.events.iter().enumerate() {
            let reject = |reason: String| {
                IngestError::Rejected(Rejected {
                    index,
                    id: event.id.clone(),
                    reason,
                })
            };
            validate::check_token("id", &event.id, 128).map_err(|e| reject(e.to_string()))?;
            let duplicate =
                !seen_in_batch.insert(event.id.as_str()) || self.event_seen(&event.id)?;
            let (customer, same_person) = self
                .check_event(event, &created_in_batch)
                .map_err(|e| reject(e.to_string()))?;
            if customer.is_none() && !event.kind.is_stock() {
                // A customer this batch creates: later events may name them.
                created_in_batch.push(&event.customer);
            }
            plan.push((event, customer, same_person, duplicate));
        }

        let mut outcome = IngestOutcome::default();
        for (event, customer, same_person, duplicate) in plan {
            if duplicate {
                outcome.duplicates += 1;
                continue;
            }
            // Merges commit on their own, before the event: a retry after a crash between
            // the two finds the profiles already one, and folding again changes nothing.
            // An earlier event of this batch may have merged either side already.
            let customer = customer.map(|c| self.current_id(&c)).transpose()?;
            if let Some(survivor) = &customer {
                for other in &same_person {
                    let other = self.current_id(other)?;
                    if &other != survivor {
                        self.merge_customers(survivor, &other)?;
                        outcome.merged += 1;
                    }
                }
            }
            self.mark_next_commit(&event.id);
            let applied = if event.kind.is_stock() {
                self.apply_stock_event(event, customer, &mut outcome)
                    .map(|()| false)
            } else {
                self.apply_event(event, customer)
            };
            self.clear_marks();
            if applied? {
                outcome.created += 1;
            }
            outcome.accepted += 1;
        }
        Ok(outcome)
    }

    fn event_seen(&self, id: &str) -> Result<bool> {
        Ok(self
            .conn()
            .prepare_cached("SELECT 1 FROM ingested_events WHERE event_id = ?1")?
            .exists([id])?)
    }

    /// The profiles an event's identifiers resolve to, strongest identifier first, without
    /// repeats: the first is the customer, any others are the same person found twice.
    fn resolve(&self, who: &EventCustomer) -> Result<Vec<CustomerId>> {
        let mut identifiers = Vec::new();
        if let Some(loyalty) = &who.loyalty_id {
            identifiers.push(Identifier::Loyalty(LoyaltyId::parse(loyalty)?));
        }
        if let Some(shop) = &who.shop_customer_id {
            identifiers.push(Identifier::Shop(validate::check_text(
                "shop_customer_id",
                shop,
                64,
            )?));
        }
        if let Some(email) = &who.email {
            identifiers.push(Identifier::Email(email.clone()));
        }
        if let Some(phone) = &who.phone {
            identifiers.push(Identifier::Phone(phone.clone()));
        }
        if identifiers.is_empty() {
            return Err(CoreError::invalid(
                "customer",
                "give a loyalty_id, shop_customer_id, email or phone",
            ));
        }
        let mut found: Vec<CustomerId> = Vec::new();
        for identifier in &identifiers {
            match self.identify(identifier) {
                Ok(id) if !found.contains(&id) => found.push(id),
                Ok(_) | Err(CoreError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(found)
    }

    /// Checks an event against the catalog and the customers without writing anything.
    fn check_event(
        &self,
        event: &Event,
        created_in_batch: &[&EventCustomer],
    ) -> Result<(Option<CustomerId>, Vec<CustomerId>)> {
        if event.kind.is_stock() {
            self.check_stock_event(&event.kind)?;
            // A store sale may name its customer; one not found leaves the sale theirs to
            // nobody, since the stock moved all the same.
            let customer = match &event.kind {
                EventKind::StoreSale { .. } if event.customer != EventCustomer::default() => {
                    self.resolve(&event.customer)?.into_iter().next()
                }
                _ => None,
            };
            return Ok((customer, Vec::new()));
        }
        let mut found = self.resolve(&event.customer)?.into_iter();
        let customer = found.next();
        // Profiles are merged only on the shop's word about an account (`customer_upserted`)
        // or when two strong identifiers (loyalty card, shop account) disagree. An email or
        // phone typed at checkout is not verified: a stranger's email on an order must not
        // hand them someone else's profile.
        let same_person: Vec<CustomerId> =
            if matches!(event.kind, EventKind::CustomerUpserted { .. })
                || (event.customer.loyalty_id.is_some()
                    && event.customer.shop_customer_id.is_some())
            {
                found.collect()
            } else {
                Vec::new()
            };
        let lines_ok = |lines: &[EventLine]| -> Result<()> {
            if lines.len() > validate::MAX_LINES {
                return Err(CoreError::invalid("lines", "too many lines"));
            }
            for line in lines {
                validate::check_quantity(line.quantity)?;
                self.variant_product(&line.variant)?;
            }
            Ok(())
        };
        match &event.kind {
            EventKind::ProductViewed { product, size } => {
                let info = self.product_info(product)?;
                if let Some(size) = size
                    && !info.sizes.iter().any(|s| s == size)
                {
                    return Err(CoreError::invalid("size", "is not a size of this product"));
                }
            }
            EventKind::WishlistAdded { product } | EventKind::WishlistRemoved { product } => {
                self.product(product)?;
            }
            EventKind::CartUpdated { lines } => lines_ok(lines)?,
            EventKind::CheckoutAbandoned { lines } => lines_ok(lines.as_deref().unwrap_or(&[]))?,
            EventKind::OrderPlaced { order_id, lines } => {
                validate::check_token("order_id", order_id, 64)?;
                if lines.is_empty() {
                    return Err(CoreError::invalid(
                        "lines",
                        "an order has at least one line",
                    ));
                }
                lines_ok(lines)?;
            }
            EventKind::ChatHandoff { summary } => {
                // Room for the note's "Web chat: " prefix within a note's length.
                validate::check_text(
                    "summary",
                    summary,
                    validate::MAX_NOTE_CHARS - CHAT_PREFIX.chars().count(),
                )?;
            }
            EventKind::CustomerUpserted {
                name,
                home_store,
                new_loyalty_id,
                ..
            } => {
                validate::check_text("name", name, 200)?;
                self.require_store(home_store)?;
                // Without a number, a new customer gets one the relay allocates.
                if customer.is_none()
                    && let Some(loyalty) = event
                        .customer
                        .loyalty_id
                        .as_ref()
                        .or(new_loyalty_id.as_ref())
                {
                    let loyalty = LoyaltyId::parse(loyalty)?;
                    if self.identify(&Identifier::Loyalty(loyalty)).is_ok() {
                        return Err(CoreError::invalid(
                            "new_loyalty_id",
                            "belongs to another customer",
                        ));
                    }
                }
                return Ok((customer, same_person));
            }
            // Checked above, by check_stock_event.
            EventKind::StockAdjusted { .. }
            | EventKind::StoreSale { .. }
            | EventKind::StockLevel { .. } => {}
        }
        match customer {
            Some(customer) => Ok((Some(customer), same_person)),
            // Resolved when applied, after the event that creates them.
            None if created_in_batch
                .iter()
                .any(|c| same_identifier(c, &event.customer)) =>
            {
                Ok((None, same_person))
            }
            None => Err(CoreError::not_found("customer for event", &event.id)),
        }
    }

    /// Applies one checked event. Returns whether it created a customer.
    fn apply_event(&mut self, event: &Event, customer: Option<CustomerId>) -> Result<bool> {
        let lines = |lines: &[EventLine]| -> Vec<(String, VariantSku, u32)> {
            lines
                .iter()
                .enumerate()
                .map(|(i, l)| (format!("web-{i}"), l.variant.clone(), l.quantity))
                .collect()
        };
        let id = match (&event.kind, customer) {
            (EventKind::CustomerUpserted { .. }, None) => None,
            (_, Some(id)) => Some(id),
            // Created earlier in this batch.
            (_, None) => Some(
                self.resolve(&event.customer)?
                    .into_iter()
                    .next()
                    .ok_or_else(|| CoreError::not_found("customer for event", &event.id))?,
            ),
        };
        match (&event.kind, id) {
            (EventKind::ProductViewed { product, size }, Some(id)) => {
                self.record_view(&id, product, size.as_deref())?;
            }
            (EventKind::CartUpdated { lines: l }, Some(id)) => {
                self.set_online_cart(&id, lines(l), CartStatus::Open, Channel::Web)?;
            }
            (EventKind::CheckoutAbandoned { lines: l }, Some(id)) => {
                let current = match l {
                    Some(l) => lines(l),
                    None => self
                        .customer(&id)?
                        .online_cart()
                        .map(|c| {
                            c.lines
                                .iter()
                                .map(|(k, l)| (k.clone(), l.variant.clone(), l.quantity))
                                .collect()
                        })
                        .unwrap_or_default(),
                };
                self.set_online_cart(&id, current, CartStatus::Abandoned, Channel::Web)?;
            }
            (EventKind::WishlistAdded { product }, Some(id)) => {
                self.add_to_wishlist(&id, product, Channel::Web)?;
            }
            (EventKind::WishlistRemoved { product }, Some(id)) => {
                match self.remove_from_wishlist(&id, product) {
                    // Already gone is what the sender wanted; the event id is still recorded.
                    Err(CoreError::NotFound { .. }) => self.record_event_only()?,
                    other => other?,
                }
            }
            (EventKind::OrderPlaced { order_id, lines: l }, Some(id)) => {
                let mut purchase_lines = Vec::with_capacity(l.len());
                for line in l {
                    let (product, price) = self.variant_product(&line.variant)?;
                    purchase_lines.push(PurchaseLine {
                        variant: line.variant.clone(),
                        product,
                        quantity: line.quantity,
                        unit_price_cents: price,
                    });
                }
                let total_cents = purchase_lines
                    .iter()
                    .map(|l| l.unit_price_cents * i64::from(l.quantity))
                    .sum();
                let at = self.now();
                self.record_purchase(
                    &id,
                    order_id,
                    Purchase {
                        at,
                        channel: Channel::Web,
                        store: None,
                        associate: None,
                        lines: purchase_lines,
                        total_cents,
                    },
                )?;
            }
            (EventKind::ChatHandoff { summary }, Some(id)) => {
                let author = aisle_core::model::AssociateId::parse(CHAT_AUTHOR)?;
                self.add_note(&id, &format!("{CHAT_PREFIX}{summary}"), &author, None)?;
            }
            (
                EventKind::CustomerUpserted {
                    name,
                    home_store,
                    new_loyalty_id,
                    in_store_personalisation,
                    marketing_email,
                },
                id,
            ) => {
                let now = self.now();
                let consent = |granted: bool| ConsentRecord {
                    granted,
                    at: now,
                    source: ConsentSource::Web,
                };
                // Two upserts of one new customer in a batch: the second finds the first's.
                let id = match id {
                    Some(id) => Some(id),
                    None => self.resolve(&event.customer)?.into_iter().next(),
                };
                match id {
                    Some(id) => {
                        let shop = event
                            .customer
                            .shop_customer_id
                            .as_deref()
                            .map(|s| validate::check_text("shop_customer_id", s, 64))
                            .transpose()?;
                        // Shop id and consents in one change, so the event's id commits with
                        // all of it or none.
                        self.update_customer(&id, |c| {
                            if let Some(shop) = shop {
                                c.shop_customer_id = Some(shop);
                            }
                            for (purpose, value) in [
                                (
                                    ConsentPurpose::InStorePersonalisation,
                                    in_store_personalisation,
                                ),
                                (ConsentPurpose::MarketingEmail, marketing_email),
                            ] {
                                if let Some(granted) = value {
                                    c.consent
                                        .insert(purpose.as_key().to_string(), consent(*granted));
                                }
                            }
                            Ok(())
                        })?;
                        // Nothing changed still records the event id.
                        self.record_event_only()?;
                    }
                    None => {
                        let mut consents = std::collections::BTreeMap::new();
                        if let Some(g) = in_store_personalisation {
                            consents.insert(ConsentPurpose::InStorePersonalisation, consent(*g));
                        }
                        if let Some(g) = marketing_email {
                            consents.insert(ConsentPurpose::MarketingEmail, consent(*g));
                        }
                        let loyalty = match event
                            .customer
                            .loyalty_id
                            .as_deref()
                            .or(new_loyalty_id.as_deref())
                        {
                            Some(given) => LoyaltyId::parse(given)?,
                            None => self.allocate_loyalty_id()?,
                        };
                        let mut record = aisle_core::customer_records::CustomerImport::new(
                            NewCustomer {
                                loyalty_id: loyalty,
                                name: name.clone(),
                                email: event.customer.email.clone(),
                                phone: event.customer.phone.clone(),
                                home_store: home_store.clone(),
                                tier: Tier::Member,
                                consent: consents,
                            },
                            now,
                        );
                        record.shop_customer_id = event.customer.shop_customer_id.clone();
                        self.create_customer_with(record)?;
                        return Ok(true);
                    }
                }
            }
            (
                EventKind::StockAdjusted { .. }
                | EventKind::StoreSale { .. }
                | EventKind::StockLevel { .. },
                _,
            ) => {
                return Err(CoreError::Internal(
                    "stock events are applied by apply_stock_event".into(),
                ));
            }
            (_, None) => return Err(CoreError::not_found("customer for event", &event.id)),
        }
        Ok(false)
    }
}

/// Whether two events' customers share an identifier (emails compared normalised).
fn same_identifier(a: &EventCustomer, b: &EventCustomer) -> bool {
    let email = |c: &EventCustomer| {
        c.email
            .as_deref()
            .and_then(|e| validate::normalize_email(e).ok())
    };
    let same = |x: &Option<String>, y: &Option<String>| x.is_some() && x == y;
    same(&a.loyalty_id, &b.loyalty_id)
        || same(&a.shop_customer_id, &b.shop_customer_id)
        || same(&email(a), &email(b))
        || same(&a.phone, &b.phone)
}

/// Why a batch was not applied.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The batch is wrong: nothing was written.
    #[error(transparent)]
    Rejected(Rejected),
    /// The store failed while applying: events before this one are in, this one is not, and a
    /// retry of the batch applies the rest once.
    #[error(transparent)]
    Store(#[from] CoreError),
}

impl From<rusqlite::Error> for IngestError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Store(e.into())
    }
}
