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
/// Units of an earlier sale here that the customer brings back for a new sale's: an exchange.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ExchangeOf {
    pub sale: String,
    pub variant: VariantSku,
    pub quantity: u32,
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
        self.sell_in_exchange(request, None)
    }

    /// An exchange as one linked record: the units brought back are returned (stock up,
    /// refunded at the earlier sale's price) and the new sale names that return, in one
    /// change, so no replica ever holds one without the other. The new sale is the earlier
    /// sale's customer's.
    pub fn exchange(
        &mut self,
        request: &SaleRequest,
        returned: &ExchangeOf,
    ) -> Result<SaleReceipt> {
        self.sell_in_exchange(request, Some(returned))
    }

    /// One unit of an earlier sale here exchanged for one of `instead` (another size, say),
    /// for that sale's customer.
    pub fn exchange_one(
        &mut self,
        store: &StoreId,
        sale: &str,
        back: &VariantSku,
        instead: &VariantSku,
        by: &AssociateId,
    ) -> Result<SaleReceipt> {
        let id = DocId::Inventory(store.clone());
        let original = self
            .with_doc(&id, |doc| InventoryDoc::new(doc, store).sale(sale))?
            .transpose()?
            .flatten()
            .ok_or_else(|| CoreError::not_found("sale in this store", sale))?;
        self.exchange(
            &SaleRequest {
                store: store.clone(),
                lines: vec![(instead.clone(), 1)],
                customer: original.customer,
                associate: by.clone(),
                holds: Vec::new(),
                cart: None,
            },
            &ExchangeOf {
                sale: sale.to_string(),
                variant: back.clone(),
                quantity: 1,
            },
        )
    }

    fn sell_in_exchange(
        &mut self,
        request: &SaleRequest,
        exchange: Option<&ExchangeOf>,
    ) -> Result<SaleReceipt> {
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
        let returned = match exchange {
            Some(exchange) => Some(self.exchange_return(request, exchange)?),
            None => None,
        };

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
        if let Some((return_id, movement)) = &returned {
            inventory.increment(&movement.variant, movement.delta)?;
            inventory.put_adjustment(return_id, movement)?;
        }
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
                exchange_for: returned.as_ref().map(|(id, _)| id.clone()),
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
            refund_minor: returned.and_then(|(_, m)| m.refund_minor).unwrap_or(0),
        })
    }

    /// The return an exchange records, checked as a return is: units the earlier sale sold
    /// and has not had back, of that sale's customer.
    fn exchange_return(
        &mut self,
        request: &SaleRequest,
        exchange: &ExchangeOf,
    ) -> Result<(String, aisle_core::doc::Adjustment)> {
        let id = DocId::Inventory(request.store.clone());
        let store = request.store.clone();
        let sale = self
            .with_doc(&id, |doc| {
                InventoryDoc::new(doc, &store).sale(&exchange.sale)
            })?
            .transpose()?
            .flatten()
            .ok_or_else(|| CoreError::not_found("sale in this store", &exchange.sale))?;
        if sale.customer != request.customer {
            return Err(CoreError::invalid(
                "customer",
                "an exchange is for the customer of the sale it exchanges",
            ));
        }
        let sold: i64 = sale
            .lines
            .iter()
            .filter(|l| l.variant == exchange.variant)
            .map(|l| i64::from(l.quantity))
            .sum();
        let units = i64::from(exchange.quantity);
        let returnable =
            sold - self.returned_of(&request.store, &exchange.sale, &exchange.variant)?;
        if units == 0 || units > returnable {
            return Err(CoreError::invalid(
                "quantity",
                &format!(
                    "{units} of {} brought back where the sale has {returnable} left to return",
                    exchange.variant
                ),
            ));
        }
        let mut movement = self.movement(
            &exchange.variant,
            units,
            "Exchanged at the counter",
            &request.associate,
            aisle_core::model::MovementKind::Return,
        )?;
        movement.sale = Some(exchange.sale.clone());
        movement.refund_minor = Some(sale.refund_for(&exchange.variant, units));
        movement
            .check_shape(&request.store)
            .map_err(|reason| CoreError::invalid("exchange", &reason))?;
        Ok((self.ids.new_id(), movement))
    }
}
