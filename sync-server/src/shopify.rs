//! Shopify webhooks mapped to Aisle's web shop events, stock events and catalog rows.
//!
//! Shopify signs each webhook with `X-Shopify-Hmac-Sha256` (base64 HMAC-SHA256 of the body,
//! keyed with the app's secret) and retries with the same `X-Shopify-Webhook-Id`, which
//! becomes the event id: a retry is applied once. Only the fields Aisle uses are read; the
//! rest of Shopify's payload is ignored.
//!
//! A Shopify location is a store when the relay is told so (`--shopify-location ID=STORE`):
//! an order placed at one (a POS order) is a store sale, and its inventory levels are the
//! store's stock. Products become rows of the products import, so they are checked as a
//! retailer's own file is; their variants' inventory item ids are kept in the catalog, which
//! is how a stock level (naming only the item) finds its variant.

use aisle_core::api::{
    Event, EventCustomer, EventKind, EventLine, StockSystemLevel, StoreSaleLine,
};
use aisle_core::model::{Millis, ProductSku, StoreId, VariantSku};
use serde::Deserialize;
use std::collections::BTreeMap;

/// What the relay was told about the shop.
#[derive(Clone, Copy, Debug)]
pub struct ShopSettings<'a> {
    /// The home store of customers Shopify creates.
    pub home_store: Option<&'a str>,
    /// Shopify location id → the store it is.
    pub locations: &'a BTreeMap<String, StoreId>,
    /// Decimals of the tenant's currency, for prices.
    pub currency_digits: u32,
}

static NO_LOCATIONS: BTreeMap<String, StoreId> = BTreeMap::new();

impl Default for ShopSettings<'_> {
    fn default() -> Self {
        Self {
            home_store: None,
            locations: &NO_LOCATIONS,
            currency_digits: 2,
        }
    }
}

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
    /// The unit price charged, as Shopify writes amounts ("19.99").
    #[serde(default)]
    price: Option<String>,
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
    /// Where an order was processed: a POS order's till, sometimes a web order's warehouse.
    #[serde(default)]
    location_id: Option<u64>,
    /// `pos` for an order rung up at Shopify POS.
    #[serde(default)]
    source_name: Option<String>,
    #[serde(default)]
    created_at: Option<String>,
}

/// `inventory_levels/update`.
#[derive(Debug, Deserialize)]
struct InventoryLevel {
    inventory_item_id: u64,
    location_id: u64,
    /// Absent or null when Shopify does not track the item's stock.
    #[serde(default)]
    available: Option<i64>,
    updated_at: String,
}

#[derive(Debug, Deserialize)]
struct ShopProductOption {
    name: String,
    position: usize,
}

#[derive(Debug, Deserialize)]
struct ShopVariant {
    #[serde(default)]
    sku: Option<String>,
    price: String,
    #[serde(default)]
    barcode: Option<String>,
    #[serde(default)]
    option1: Option<String>,
    #[serde(default)]
    option2: Option<String>,
    #[serde(default)]
    option3: Option<String>,
    #[serde(default)]
    inventory_item_id: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct ShopImage {
    src: String,
}

/// `products/create` and `products/update`.
#[derive(Debug, Deserialize)]
pub struct ShopProduct {
    id: u64,
    title: String,
    #[serde(default)]
    vendor: String,
    #[serde(default)]
    product_type: String,
    /// "active", "archived" or "draft".
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    options: Vec<ShopProductOption>,
    #[serde(default)]
    variants: Vec<ShopVariant>,
    #[serde(default)]
    image: Option<ShopImage>,
}

impl ShopProduct {
    /// Its variants' SKUs, for the relay to find the product they already belong to.
    pub fn skus(&self) -> Vec<VariantSku> {
        self.variants
            .iter()
            .filter_map(|v| v.sku.as_deref().and_then(|s| VariantSku::parse(s).ok()))
            .collect()
    }

    /// The product as rows of the products import (JSON lines), keyed by `sku`: the product
    /// its variants already belong to, or one named after Shopify's id. The import checks
    /// them as it checks a retailer's file.
    pub fn import_rows(&self, sku: Option<&ProductSku>, digits: u32) -> Result<String, String> {
        let sku = match sku {
            Some(sku) => sku.to_string(),
            None => format!("SHOPIFY-{}", self.id),
        };
        let option = |names: &[&str]| {
            self.options
                .iter()
                .find(|o| names.iter().any(|n| o.name.eq_ignore_ascii_case(n)))
                .map(|o| o.position)
        };
        let size = option(&["size"]);
        let colour = option(&["colour", "color"]);
        let value = |v: &ShopVariant, position: Option<usize>, default: &str| {
            match position {
                Some(1) => v.option1.clone(),
                Some(2) => v.option2.clone(),
                Some(3) => v.option3.clone(),
                _ => None,
            }
            .unwrap_or_else(|| default.to_string())
        };
        let first = self.variants.first().ok_or("the product has no variants")?;
        let mut rows = String::new();
        for v in &self.variants {
            let Some(variant_sku) = v.sku.as_deref().filter(|s| !s.is_empty()) else {
                return Err("a variant has no SKU".into());
            };
            let mut row = serde_json::Map::new();
            let mut put = |k: &str, v: String| {
                row.insert(k.to_string(), serde_json::Value::String(v));
            };
            put("product_sku", sku.clone());
            put("name", self.title.clone());
            put("brand", self.vendor.clone());
            put("category", self.product_type.to_ascii_lowercase());
            // One price per product in Aisle: the first variant's.
            put("price", shop_amount(&first.price, digits));
            if let Some(image) = &self.image {
                put("image_url", image.src.clone());
            }
            let archived = self.status.as_deref() == Some("archived");
            put("discontinued", if archived { "yes" } else { "no" }.into());
            put("variant_sku", variant_sku.to_string());
            put("size", value(v, size, "One size"));
            put("colour", value(v, colour, "As shown"));
            put("ean", v.barcode.clone().unwrap_or_default());
            if let Some(item) = v.inventory_item_id {
                put("shop_inventory_item_id", item.to_string());
            }
            rows.push_str(&serde_json::Value::Object(row).to_string());
            rows.push('\n');
        }
        Ok(rows)
    }
}

/// A Shopify amount as the tenant's currency writes it: Shopify writes "2100.00" for yen,
/// which have no decimals, so zeros past the currency's decimals are dropped (anything else
/// past them is left for the import to refuse).
fn shop_amount(text: &str, digits: u32) -> String {
    let text = text.trim();
    // Not digits (the import refuses it, naming it): nothing here to cut at a byte.
    let Some((whole, fraction)) = text.split_once('.').filter(|_| text.is_ascii()) else {
        return text.to_string();
    };
    let keep = usize::try_from(digits)
        .unwrap_or(usize::MAX)
        .min(fraction.len());
    let (kept, rest) = fraction.split_at(keep);
    if !rest.bytes().all(|b| b == b'0') {
        return text.to_string();
    }
    if kept.is_empty() {
        whole.to_string()
    } else {
        format!("{whole}.{kept}")
    }
}

/// Shopify's time ("2026-11-30T10:00:00-05:00") as Unix milliseconds.
fn millis(text: &str) -> Result<Millis, String> {
    let at = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("{text:?} is not a time: {e}"))?;
    Millis::try_from(at.unix_timestamp_nanos() / 1_000_000)
        .map_err(|_| format!("{text:?} is out of range"))
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
    /// A product, for the products import once the relay has found which product of the
    /// catalog its variants belong to.
    Product(Box<ShopProduct>),
    /// An inventory item's level at a store, for the relay to find the item's variant.
    Level {
        id: String,
        item: String,
        store: StoreId,
        on_hand: i64,
        as_of: Millis,
    },
    /// Nothing to apply, and why (Shopify still gets a 200, so it does not retry).
    Ignored(&'static str),
}

impl Mapped {
    /// The stock level event of an item found to be `variant`.
    pub fn level_event(
        id: String,
        variant: VariantSku,
        store: StoreId,
        on_hand: i64,
        as_of: Millis,
    ) -> Event {
        Event {
            id,
            customer: EventCustomer::default(),
            kind: EventKind::StockLevel {
                store,
                as_of,
                levels: vec![StockSystemLevel { variant, on_hand }],
            },
        }
    }
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

/// A POS order's lines as a store sale's, at the prices the till charged.
fn sale_lines(
    items: &[LineItem],
    digits: u32,
) -> Result<(Vec<StoreSaleLine>, Vec<String>), String> {
    let (lines, skipped) = lines(items);
    let mut priced = Vec::with_capacity(lines.len());
    for line in lines {
        let price = items
            .iter()
            .find(|i| i.sku.as_deref() == Some(line.variant.as_str()))
            .and_then(|i| i.price.as_deref())
            .map(|p| aisle_core::model::parse_amount(&shop_amount(p, digits), digits))
            .transpose()
            .map_err(|e| format!("price of {}: {e}", line.variant))?;
        priced.push(StoreSaleLine {
            variant: line.variant,
            quantity: line.quantity,
            unit_price_minor: price,
        });
    }
    Ok((priced, skipped))
}

/// Maps one webhook. `webhook_id` is Shopify's id for the delivery (the same on retries).
pub fn map(
    topic: &str,
    webhook_id: &str,
    body: &[u8],
    shop: ShopSettings<'_>,
) -> Result<Mapped, String> {
    let home_store = shop.home_store;
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
            let store = order
                .location_id
                .and_then(|l| shop.locations.get(&l.to_string()));
            let pos = order.source_name.as_deref() == Some("pos");
            if pos && store.is_none() {
                let location = order.location_id.map_or("none".into(), |l| l.to_string());
                return Err(format!(
                    "a POS order at location {location}, which is not a store here (start the relay with --shopify-location {location}=STORE)"
                ));
            }
            // Rung up at POS at a location that is a store: the store's sale. Any other
            // order is a web purchase, wherever Shopify fulfils it from (a web order can name
            // the store that ships or holds it for collection).
            if let Some(store) = store.filter(|_| pos) {
                let (lines, skipped) = sale_lines(&order.line_items, shop.currency_digits)?;
                if lines.is_empty() {
                    return Ok(Mapped::Ignored("no line item Aisle can apply"));
                }
                let at = order.created_at.as_deref().map(millis).transpose()?;
                return Ok(Mapped::Event {
                    event: Box::new(Event {
                        id,
                        customer,
                        kind: EventKind::StoreSale {
                            store: store.clone(),
                            sale_id: format!("shopify-{order_id}"),
                            lines,
                            at,
                        },
                    }),
                    skipped,
                });
            }
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
        "inventory_levels/update" => {
            let level: InventoryLevel = serde_json::from_slice(body)
                .map_err(|e| format!("not a Shopify {topic} payload: {e}"))?;
            let Some(available) = level.available else {
                return Ok(Mapped::Ignored("the item's stock is not tracked"));
            };
            let Some(store) = shop.locations.get(&level.location_id.to_string()) else {
                return Ok(Mapped::Ignored("the location is not one of the stores"));
            };
            // Shopify's "available" goes below zero when it oversold; a count cannot, nor
            // go past what a store holds of one variant.
            return Ok(Mapped::Level {
                id,
                item: level.inventory_item_id.to_string(),
                store: store.clone(),
                on_hand: available.clamp(0, aisle_core::validate::MAX_STOCK_ADJUSTMENT),
                as_of: millis(&level.updated_at)?,
            });
        }
        "products/create" | "products/update" => {
            let product: ShopProduct = serde_json::from_slice(body)
                .map_err(|e| format!("not a Shopify {topic} payload: {e}"))?;
            return Ok(Mapped::Product(Box::new(product)));
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
        assert!(map("themes/publish", "1", b"{}", ShopSettings::default()).is_err());
        assert!(map("orders/create", "1", b"not json", ShopSettings::default()).is_err());
    }

    #[test]
    fn line_items_without_a_sku_are_left_out_not_refused() {
        // A tip alone: nothing to apply, answered 2xx so Shopify does not retry.
        assert!(matches!(
            map(
                "orders/create",
                "1",
                br#"{"id": 5, "line_items": [{"quantity": 1}]}"#,
                ShopSettings::default()
            ),
            Ok(Mapped::Ignored(_))
        ));
        let body = br#"{"id": 6, "email": "a@b.co", "line_items": [
            {"sku": "TEE-01-M", "quantity": 2}, {"sku": "", "quantity": 1}, {"quantity": 1}]}"#;
        let Ok(Mapped::Event { event, skipped }) =
            map("orders/create", "2", body, ShopSettings::default())
        else {
            panic!("the order maps");
        };
        let EventKind::OrderPlaced { lines, .. } = event.kind else {
            panic!("an order");
        };
        assert_eq!(lines.len(), 1);
        assert_eq!(skipped.len(), 2, "{skipped:?}");
    }

    #[test]
    fn shopify_amounts_are_read_in_the_currencys_decimals() {
        assert_eq!(shop_amount("2100.00", 0), "2100");
        assert_eq!(shop_amount("19.99", 2), "19.99");
        assert_eq!(shop_amount("19.5", 2), "19.5");
        assert_eq!(
            shop_amount("19.99", 0),
            "19.99",
            "left for the import to refuse"
        );
        assert_eq!(shop_amount("1.é", 1), "1.é", "not cut inside a character");
    }

    #[test]
    fn only_an_order_rung_up_at_pos_in_a_store_is_the_stores_sale() {
        let locations: BTreeMap<String, StoreId> =
            [("7".to_string(), StoreId::parse("LDN-CG").unwrap())].into();
        let shop = ShopSettings {
            locations: &locations,
            ..ShopSettings::default()
        };
        let order = |location: u64, source: &str| {
            format!(
                r#"{{"id": 9, "email": "a@b.co", "location_id": {location}, "source_name": "{source}",
                   "line_items": [{{"sku": "TEE-01-M", "quantity": 1, "price": "12.00"}}]}}"#
            )
        };
        let kind = |body: String| match map("orders/create", "1", body.as_bytes(), shop) {
            Ok(Mapped::Event { event, .. }) => Ok(event.kind.name()),
            Ok(_) => Ok("other"),
            Err(e) => Err(e),
        };
        assert_eq!(kind(order(7, "pos")), Ok("store_sale"));
        assert_eq!(kind(order(8, "web")), Ok("order_placed"));
        assert_eq!(
            kind(order(7, "web")),
            Ok("order_placed"),
            "a web order the store fulfils"
        );
        assert!(kind(order(8, "pos")).unwrap_err().contains("not a store"));
    }

    #[test]
    fn a_completed_checkout_waits_for_its_order() {
        let body = br#"{"id": 9, "email": "a@b.co", "completed_at": "2026-11-26T10:00:00Z", "line_items": []}"#;
        assert!(matches!(
            map("checkouts/update", "1", body, ShopSettings::default()),
            Ok(Mapped::Ignored(_))
        ));
    }
}
