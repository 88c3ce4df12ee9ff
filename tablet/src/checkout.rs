//! The in-store sale and holds: putting items aside for a customer, releasing them, and
//! recording a sale for the till (stock goes down, the online cart counts as converted).

use aisle_core::doc::{DocId, InventoryDoc};
use aisle_core::model::{
    AssociateId, CartStatus, Channel, CustomerId, Hold, HoldEnd, HoldEnded, ProductSku, Purchase,
    PurchaseLine, Sale, SaleLine, SaleReceipt, StoreId, VariantSku,
};
use aisle_core::validate::{self, MAX_LINES};
use aisle_core::{CoreError, Result};
use serde::{Deserialize, Serialize};

use crate::Tablet;

/// Longest a hold may last: a week.
const MAX_HOLD_HOURS: u32 = 24 * 7;

/// Put items aside for a customer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HoldRequest {
    pub store: StoreId,
    pub variant: VariantSku,
    pub quantity: u32,
    pub customer: CustomerId,
    pub associate: AssociateId,
    pub hours: u32,
}
/// Record a sale on the tablet (handed to the till).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SaleRequest {
    pub store: StoreId,
    pub lines: Vec<(VariantSku, u32)>,
    pub customer: Option<CustomerId>,
    pub associate: AssociateId,
    /// Holds this sale fulfils.
    #[serde(default)]
    pub holds: Vec<String>,
    /// The customer's in-store cart this sale checks out; it is marked converted.
    #[serde(default)]
    pub cart: Option<String>,
}

impl Tablet {
    /// Puts items aside for a customer. Refused when fewer are available than asked for.
    pub fn place_hold(&mut self, request: &HoldRequest) -> Result<String> {
        validate::check_quantity(request.quantity)?;
        if request.hours == 0 || request.hours > MAX_HOLD_HOURS {
            return Err(CoreError::invalid(
                "hours",
                &format!("must be between 1 and {MAX_HOLD_HOURS}"),
            ));
        }
        if !self.has_doc(&DocId::Customer(request.customer.clone()))? {
            return Err(CoreError::not_found("customer", &request.customer));
        }
        let available = self.available(&request.store, &request.variant)?;
        if available < i64::from(request.quantity) {
            return Err(CoreError::invalid(
                "quantity",
                &format!("only {available} available to hold"),
            ));
        }
        let hold_id = self.ids.new_id();
        let now = self.now();
        let hold = Hold {
            variant: request.variant.clone(),
            quantity: request.quantity,
            customer: request.customer.clone(),
            associate: request.associate.clone(),
            placed_at: now,
            expires_at: now + i64::from(request.hours) * 3_600_000,
            ended: None,
        };
        let mut write = self.begin_write(&DocId::Inventory(request.store.clone()), false)?;
        InventoryDoc::new(&mut write.doc, &request.store).put_hold(&hold_id, &hold)?;
        self.commit_writes(vec![write])?;
        Ok(hold_id)
    }

    pub fn release_hold(&mut self, store: &StoreId, hold_id: &str, by: &AssociateId) -> Result<()> {
        let now = self.now();
        let mut write = self.begin_write(&DocId::Inventory(store.clone()), false)?;
        let mut inventory = InventoryDoc::new(&mut write.doc, store);
        let mut hold = inventory
            .hold(hold_id)?
            .ok_or_else(|| CoreError::not_found("hold", hold_id))?;
        if hold.ended.is_some() {
            return Err(CoreError::invalid("hold", "has already ended"));
        }
        hold.ended = Some(HoldEnded {
            how: HoldEnd::Released,
            at: now,
            by: by.clone(),
        });
        inventory.put_hold(hold_id, &hold)?;
        self.commit_writes(vec![write])
    }

    /// Records a sale: stock goes down, fulfilled holds end, and the customer (if known) gets
    /// the purchase, all in one transaction. A sale is never refused for lack of recorded
    /// stock (the item is in the customer's hand); going below zero is reported instead.
    pub fn sell(&mut self, request: &SaleRequest) -> Result<SaleReceipt> {
        if request.lines.is_empty() || request.lines.len() > MAX_LINES {
            return Err(CoreError::invalid(
                "lines",
                &format!("a sale needs 1 to {MAX_LINES} lines"),
            ));
        }
        if request.cart.is_some() && request.customer.is_none() {
            return Err(CoreError::invalid("cart", "a cart belongs to a customer"));
        }
        let mut lines = Vec::with_capacity(request.lines.len());
        let mut purchase_lines = Vec::with_capacity(request.lines.len());
        let mut preferences = Vec::new();
        for (variant, quantity) in &request.lines {
            validate::check_quantity(*quantity)?;
            let (product, price) = self.variant_product(variant)?;
            preferences.push(self.variant_size_pref(variant)?);
            lines.push(SaleLine {
                variant: variant.clone(),
                quantity: *quantity,
                unit_price_cents: price,
            });
            purchase_lines.push(PurchaseLine {
                variant: variant.clone(),
                product,
                quantity: *quantity,
                unit_price_cents: price,
            });
        }
        let total_cents = lines
            .iter()
            .map(|l| l.unit_price_cents * i64::from(l.quantity))
            .sum();
        let sale_id = self.ids.new_id();
        let at = self.now();

        // The customer's document first: whether the sale converts their online cart is
        // recorded on the sale, so every replica counts it the same way.
        let mut customer_write = None;
        let mut from_online_cart = false;
        if let Some(customer_id) = &request.customer {
            let doc_id = DocId::Customer(customer_id.clone());
            let write = self.begin_write(&doc_id, false)?;
            let mut customer: aisle_core::doc::CustomerDoc =
                aisle_core::doc::hydrate_doc(&write.doc, &doc_id)?;
            aisle_core::doc::check_schema(customer.schema, &doc_id)?;
            if let Some(cart_id) = &request.cart {
                let cart = customer
                    .carts
                    .get_mut(cart_id)
                    .ok_or_else(|| CoreError::not_found("cart", cart_id))?;
                cart.status = CartStatus::Converted;
                cart.updated_at = at;
            }
            if let Some(cart) = customer.carts.get_mut(aisle_core::model::ONLINE_CART) {
                let sold: std::collections::BTreeSet<&ProductSku> =
                    purchase_lines.iter().map(|l| &l.product).collect();
                if cart.status != CartStatus::Converted
                    && cart.lines.values().any(|l| sold.contains(&l.product))
                {
                    cart.status = CartStatus::Converted;
                    cart.updated_at = at;
                    from_online_cart = true;
                }
            }
            aisle_core::ops::learn_sizes(&mut customer, &preferences, at);
            for (_, _, colour) in &preferences {
                customer.tally_affinity(self.writer(), Some(colour), None);
            }
            customer.purchases.insert(
                sale_id.clone(),
                Purchase {
                    at,
                    channel: Channel::Store,
                    store: Some(request.store.clone()),
                    associate: Some(request.associate.clone()),
                    lines: purchase_lines,
                    total_cents,
                },
            );
            customer_write = Some((write, customer));
        }

        let mut inventory_write =
            self.begin_write(&DocId::Inventory(request.store.clone()), false)?;
        let mut inventory = InventoryDoc::new(&mut inventory_write.doc, &request.store);
        let mut oversold = Vec::new();
        for line in &lines {
            if inventory.increment(&line.variant, -i64::from(line.quantity))? < 0 {
                oversold.push(line.variant.clone());
            }
        }
        for hold_id in &request.holds {
            let mut hold = inventory
                .hold(hold_id)?
                .ok_or_else(|| CoreError::not_found("hold", hold_id))?;
            if hold.ended.is_none() {
                hold.ended = Some(HoldEnded {
                    how: HoldEnd::Sold,
                    at,
                    by: request.associate.clone(),
                });
                inventory.put_hold(hold_id, &hold)?;
            }
        }
        inventory.put_sale(
            &sale_id,
            &Sale {
                lines,
                customer: request.customer.clone(),
                associate: request.associate.clone(),
                at,
                holds: request.holds.clone(),
                from_online_cart: request.customer.is_some().then_some(from_online_cart),
            },
        )?;
        let mut writes = vec![inventory_write];
        if let Some((mut write, customer)) = customer_write {
            autosurgeon::reconcile(&mut write.doc, &customer)?;
            writes.push(write);
        }
        self.commit_writes(writes)?;
        Ok(SaleReceipt {
            sale_id,
            total_cents,
            oversold,
        })
    }
}
