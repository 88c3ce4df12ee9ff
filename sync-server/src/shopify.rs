//! Shopify webhooks mapped to Aisle's web shop events.
//!
//! Shopify signs each webhook with `X-Shopify-Hmac-Sha256` (base64 HMAC-SHA256 of the body,
//! keyed with the app's secret) and retries with the same `X-Shopify-Webhook-Id`, which
//! becomes the event id: a retry is applied once. Only the fields Aisle uses are read; the
//! rest of Shopify's payload is ignored.

use aisle_core::api::{Event, EventCustomer, EventKind, EventLine};
use aisle_core::model::{StoreId, VariantSku};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
struct Customer {
    #[serde(default)]
    id: Option<u64>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
    #[serde(default)]
    email_marketing_consent: Option<MarketingConsent>,
}

#[derive(Debug, Deserialize)]
struct MarketingConsent {
    state: String,
}

#[derive(Debug, Deserialize)]
struct LineItem {
    #[serde(default)]
    sku: Option<String>,
    quantity: u32,
}

/// The parts of an order, checkout or cart payload Aisle reads.
#[derive(Debug, Deserialize)]
struct Basket {
    #[serde(default)]
    id: Option<serde_json::Value>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    customer: Option<Customer>,
    #[serde(default)]
    line_items: Vec<LineItem>,
    #[serde(default)]
    completed_at: Option<String>,
}

/// What a webhook turns into.
pub enum Mapped {
    /// The event, and line items left out of it (no SKU, or one Aisle cannot read): Shopify
    /// retries anything but a 2xx for ever, so what can be applied is, and the rest is
    /// recorded for an admin.
    Event {
        event: Box<Event>,
        skipped: Vec<String>,
    },
    /// Nothing to apply, and why (Shopify still gets a 200, so it does not retry).
    Ignored(&'static str),
}

fn who(email: Option<String>, phone: Option<String>, customer: Option<&Customer>) -> EventCustomer {
    EventCustomer {
        loyalty_id: None,
        email: email.or_else(|| customer.and_then(|c| c.email.clone())),
        phone: phone.or_else(|| customer.and_then(|c| c.phone.clone())),
        shop_customer_id: customer
            .and_then(|c| c.id)
            .map(|id| format!("shopify:{id}")),
    }
}

/// The line items Aisle can apply, and a description of each it cannot (a tip, a custom item
/// or a gift card has no SKU).
fn lines(items: &[LineItem]) -> (Vec<EventLine>, Vec<String>) {
    let mut lines = Vec::new();
    let mut skipped = Vec::new();
    for item in items {
        match item.sku.as_deref().filter(|s| !s.is_empty()) {
            None => skipped.push("a line item without a SKU".to_string()),
            Some(sku) => match VariantSku::parse(sku) {
                Ok(variant) => lines.push(EventLine {
                    variant,
                    quantity: item.quantity,
                }),
                Err(e) => skipped.push(format!("SKU {sku:?}: {e}")),
            },
        }
    }
    (lines, skipped)
}

/// Maps one webhook. `webhook_id` is Shopify's id for the delivery (the same on retries).
pub fn map(
    topic: &str,
    webhook_id: &str,
    body: &[u8],
    home_store: Option<&str>,
) -> Result<Mapped, String> {
    let id = format!("shopify-{webhook_id}");
    let parse = |body: &[u8]| -> Result<Basket, String> {
        serde_json::from_slice(body).map_err(|e| format!("not a Shopify {topic} payload: {e}"))
    };
    let mapped = match topic {
        "orders/create" => {
            let order = parse(body)?;
            let order_id = order
                .id
                .as_ref()
                .map(|v| v.to_string().trim_matches('"').to_string())
                .ok_or("the order has no id")?;
            let customer = who(order.email, order.phone, order.customer.as_ref());
            let (lines, skipped) = lines(&order.line_items);
            if lines.is_empty() {
                return Ok(Mapped::Ignored("no line item Aisle can apply"));
            }
            return Ok(Mapped::Event {
                event: Box::new(Event {
                    id,
                    customer,
                    kind: EventKind::OrderPlaced {
                        order_id: format!("shopify-{order_id}"),
                        lines,
                    },
                }),
                skipped,
            });
        }
        "checkouts/create" | "checkouts/update" | "carts/update" => {
            let basket = parse(body)?;
            if basket.completed_at.is_some() {
                return Ok(Mapped::Ignored("completed checkout: the order follows"));
            }
            let customer = who(basket.email, basket.phone, basket.customer.as_ref());
            if customer.email.is_none() && customer.phone.is_none() {
                return Ok(Mapped::Ignored(
                    "no email or phone: the shopper is not known yet",
                ));
            }
            let (lines, skipped) = lines(&basket.line_items);
            let kind = if topic == "checkouts/update" {
                // A checkout updated and not completed: left at checkout.
                EventKind::CheckoutAbandoned { lines: Some(lines) }
            } else {
                EventKind::CartUpdated { lines }
            };
            (customer, kind, skipped)
        }
        "customers/create" => {
            let c: Customer = serde_json::from_slice(body)
                .map_err(|e| format!("not a Shopify customers/create payload: {e}"))?;
            let name = [c.first_name.as_deref(), c.last_name.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            let home_store = home_store.ok_or(
                "no home store for customers from Shopify: start the relay with --shopify-home-store",
            )?;
            if c.id.is_none() {
                return Err("the customer has no id".into());
            }
            let customer = EventCustomer {
                loyalty_id: None,
                email: c.email.clone(),
                phone: c.phone.clone(),
                shop_customer_id: c.id.map(|id| format!("shopify:{id}")),
            };
            let marketing_email = c
                .email_marketing_consent
                .as_ref()
                .map(|m| m.state == "subscribed");
            // Resolves by email or phone; only a customer unknown by both is created, with a
            // loyalty number the relay allocates (one derived from Shopify's id would collide).

            (
                customer,
                EventKind::CustomerUpserted {
                    name: if name.is_empty() {
                        "Shopify customer".into()
                    } else {
                        name
                    },
                    home_store: StoreId::parse(home_store).map_err(|e| e.to_string())?,
                    new_loyalty_id: None,
                    in_store_personalisation: None,
                    marketing_email,
                },
                Vec::new(),
            )
        }
        other => return Err(format!("unsupported Shopify topic {other}")),
    };
    let (customer, kind, skipped) = mapped;
    Ok(Mapped::Event {
        event: Box::new(Event { id, customer, kind }),
        skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_topics_and_bad_payloads_are_refused() {
        assert!(map("products/create", "1", b"{}", None).is_err());
        assert!(map("orders/create", "1", b"not json", None).is_err());
    }

    #[test]
    fn line_items_without_a_sku_are_left_out_not_refused() {
        // A tip alone: nothing to apply, answered 2xx so Shopify does not retry.
        assert!(matches!(
            map(
                "orders/create",
                "1",
                br#"{"id": 5, "line_items": [{"quantity": 1}]}"#,
                None
            ),
            Ok(Mapped::Ignored(_))
        ));
        let body = br#"{"id": 6, "email": "a@b.co", "line_items": [
            {"sku": "TEE-01-M", "quantity": 2}, {"sku": "", "quantity": 1}, {"quantity": 1}]}"#;
        let Ok(Mapped::Event { event, skipped }) = map("orders/create", "2", body, None) else {
            panic!("the order maps");
        };
        let EventKind::OrderPlaced { lines, .. } = event.kind else {
            panic!("an order");
        };
        assert_eq!(lines.len(), 1);
        assert_eq!(skipped.len(), 2, "{skipped:?}");
    }

    #[test]
    fn a_completed_checkout_waits_for_its_order() {
        let body = br#"{"id": 9, "email": "a@b.co", "completed_at": "2026-11-26T10:00:00Z", "line_items": []}"#;
        assert!(matches!(
            map("checkouts/update", "1", body, None),
            Ok(Mapped::Ignored(_))
        ));
    }
}
