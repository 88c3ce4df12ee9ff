//! The chain's catalog, stores and stock as the relay writes and reads them: imports (products,
//! stores, a store's inventory) and stock across every store for tablets asking "who has it".

use super::RelayDocs;
use aisle_core::Store;
use aisle_core::doc::InventoryDoc;
use aisle_core::doc::{CatalogDoc, DocId, SCHEMA_VERSION};
use aisle_core::model::StoreStock;
use aisle_core::model::{Product, ProductSku, StoreId, StoreInfo, TenantLocale};
use aisle_core::ops::distance_km;
use aisle_core::validate::MAX_STOCK_ADJUSTMENT;
use aisle_core::validate::{self, MAX_SHORT_TEXT_CHARS};
use aisle_core::{CoreError, Result};
use std::borrow::BorrowMut;
use std::collections::BTreeMap;

impl<S: BorrowMut<Store>> RelayDocs<S> {
    /// Replaces the catalog document's products and stores (relay side; tablets receive it by
    /// sync). Every product is checked first; one bad record rejects the whole import.
    pub fn import_catalog(&mut self, products: Vec<Product>, stores: Vec<StoreInfo>) -> Result<()> {
        for (i, product) in products.iter().enumerate() {
            check_product(product).map_err(|e| CoreError::Import {
                record: i,
                reason: format!("product {}: {e}", product.sku),
            })?;
        }
        for (i, store) in stores.iter().enumerate() {
            validate::check_text("store name", &store.name, MAX_SHORT_TEXT_CHARS).map_err(|e| {
                CoreError::Import {
                    record: i,
                    reason: format!("store {}: {e}", store.id),
                }
            })?;
        }
        let catalog = CatalogDoc {
            schema: SCHEMA_VERSION,
            products: products
                .into_iter()
                .map(|p| (p.sku.to_string(), p))
                .collect(),
            stores: stores.into_iter().map(|s| (s.id.to_string(), s)).collect(),
            // Published by the relay as it starts (`publish_locale`).
            locale: None,
        };
        let mut write = self.begin_write(&DocId::Catalog, true)?;
        autosurgeon::reconcile(&mut write.doc, &catalog)?;
        self.commit_writes(vec![write])
    }

    /// Publishes the tenant's currency and locale in the catalog, for every tablet; `false`
    /// when there is no catalog yet, or it says so already. A catalog priced in another
    /// currency is refused: its prices would be read in the wrong unit.
    pub fn publish_locale(&mut self, tenant: &TenantLocale) -> Result<bool> {
        if !self.has_doc(&DocId::Catalog)? {
            return Ok(false);
        }
        // Published already (every start and every import asks): the projection says so
        // without reading the whole catalog.
        let projected: Option<TenantLocale> = self
            .meta("locale")?
            .and_then(|json| serde_json::from_slice(&json).ok());
        if projected.as_ref() == Some(tenant) {
            return Ok(false);
        }
        let mut write = self.begin_write(&DocId::Catalog, false)?;
        let mut catalog: CatalogDoc = aisle_core::doc::hydrate_doc(&write.doc, &DocId::Catalog)?;
        let priced_in = catalog
            .locale
            .as_ref()
            .map_or("GBP", |t| t.currency.as_str());
        if priced_in != tenant.currency && !catalog.products.is_empty() {
            return Err(CoreError::invalid(
                "currency",
                &format!(
                    "the catalog's prices are in {priced_in}, not {}: start the relay with --currency {priced_in}, or import the products again in {} into a new relay",
                    tenant.currency, tenant.currency
                ),
            ));
        }
        if catalog.locale.as_ref() == Some(tenant) {
            return Ok(false);
        }
        catalog.locale = Some(tenant.clone());
        autosurgeon::reconcile(&mut write.doc, &catalog)?;
        self.commit_writes(vec![write])?;
        Ok(true)
    }

    /// Adds or updates one store in the catalog document (relay side).
    pub fn add_store(&mut self, store: StoreInfo) -> Result<()> {
        validate::check_text("store name", &store.name, MAX_SHORT_TEXT_CHARS)?;
        validate::check_text("city", &store.city, MAX_SHORT_TEXT_CHARS)?;
        if !(-90.0..=90.0).contains(&store.latitude) || !(-180.0..=180.0).contains(&store.longitude)
        {
            return Err(CoreError::invalid(
                "location",
                "is not a latitude and longitude",
            ));
        }
        let mut write = self.begin_write(&DocId::Catalog, false)?;
        let mut catalog: CatalogDoc = aisle_core::doc::hydrate_doc(&write.doc, &DocId::Catalog)?;
        catalog.stores.insert(store.id.to_string(), store);
        autosurgeon::reconcile(&mut write.doc, &catalog)?;
        self.commit_writes(vec![write])
    }

    /// Adds a store to the catalog and, unless it has one, an inventory with every variant at
    /// zero (what `aisle-relay admin create-store` and the admin API do).
    pub fn create_store(&mut self, store: StoreInfo) -> Result<()> {
        let id = store.id.clone();
        self.add_store(store)?;
        if !self.has_doc(&DocId::Inventory(id.clone()))? {
            let variants: BTreeMap<String, i64> = self
                .catalog_variants()?
                .into_keys()
                .map(|v| (v, 0))
                .collect();
            self.import_inventory(&id, variants)?;
        }
        Ok(())
    }

    /// Those of `variants` the catalog does not have.
    pub fn unknown_variants(
        &self,
        variants: &[aisle_core::model::VariantSku],
    ) -> Result<Vec<aisle_core::model::VariantSku>> {
        let mut unknown = Vec::new();
        for variant in variants {
            match self.variant_product(variant) {
                Ok(_) => {}
                Err(CoreError::NotFound { .. }) => unknown.push(variant.clone()),
                Err(e) => return Err(e),
            }
        }
        Ok(unknown)
    }

    /// The variant whose stock the web shop calls `item` (a Shopify inventory item).
    pub fn shop_item_variant(&self, item: &str) -> Result<Option<aisle_core::model::VariantSku>> {
        use rusqlite::OptionalExtension;
        let sku: Option<String> = self
            .conn()
            .prepare_cached("SELECT variant_sku FROM shop_items WHERE item_id = ?1")?
            .query_row([item], |r| r.get(0))
            .optional()?;
        Ok(sku.map(aisle_core::model::VariantSku::parse).transpose()?)
    }

    /// The products that `variants` (those in the catalog) belong to.
    pub fn products_of(
        &self,
        variants: &[aisle_core::model::VariantSku],
    ) -> Result<std::collections::BTreeSet<aisle_core::model::ProductSku>> {
        let mut products = std::collections::BTreeSet::new();
        for variant in variants {
            match self.variant_product(variant) {
                Ok((product, _)) => {
                    products.insert(product);
                }
                Err(CoreError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(products)
    }

    /// Creates a store's inventory document with one counter per variant (relay side).
    pub fn import_inventory(
        &mut self,
        store: &StoreId,
        stock: BTreeMap<String, i64>,
    ) -> Result<()> {
        self.require_store(store)?;
        let variants = self.catalog_variants()?;
        for (i, (variant, on_hand)) in stock.iter().enumerate() {
            if !variants.contains_key(variant) {
                return Err(CoreError::Import {
                    record: i,
                    reason: format!("variant {variant} is not in the catalog"),
                });
            }
            if !(0..=MAX_STOCK_ADJUSTMENT).contains(on_hand) {
                return Err(CoreError::Import {
                    record: i,
                    reason: format!(
                        "stock of {variant} must be between 0 and {MAX_STOCK_ADJUSTMENT}"
                    ),
                });
            }
        }
        let id = DocId::Inventory(store.clone());
        let mut write = self.begin_write(&id, true)?;
        if !write.heads_before.is_empty() {
            return Err(CoreError::invalid(
                "store",
                "already has an inventory document",
            ));
        }
        InventoryDoc::new(&mut write.doc, store).initialise(store, &stock)?;
        self.commit_writes(vec![write])
    }

    /// Units available (on hand minus active holds) of each of a product's variants in every
    /// store held here, nearest to `here` first. The relay answers tablets' "who has it" with
    /// this.
    pub fn stock_by_store(&self, here: &StoreId, product: &ProductSku) -> Result<Vec<StoreStock>> {
        self.product(product)?;
        let stores = self.stores()?;
        let origin = stores
            .iter()
            .find(|s| s.id == *here)
            .ok_or_else(|| CoreError::not_found("store", here))?;
        let mut out = Vec::new();
        for store in &stores {
            let grid = self.stock_for_product(&store.id, product)?;
            out.push(StoreStock {
                store: store.id.clone(),
                store_name: store.name.clone(),
                distance_km: distance_km(
                    origin.latitude,
                    origin.longitude,
                    store.latitude,
                    store.longitude,
                ),
                available: grid
                    .levels
                    .iter()
                    .map(|l| (l.variant.to_string(), l.available()))
                    .collect(),
            });
        }
        out.sort_by(|a, b| a.distance_km.total_cmp(&b.distance_km));
        Ok(out)
    }
}

/// What every product must be: named, priced, with variants of its own sizes and colours.
pub(crate) fn check_product(product: &Product) -> Result<()> {
    validate::check_text("name", &product.name, MAX_SHORT_TEXT_CHARS)?;
    validate::check_text("brand", &product.brand, MAX_SHORT_TEXT_CHARS)?;
    // A price the relay would refuse on a sale line must not be sellable on a tablet.
    if !(0..=validate::MAX_UNIT_PRICE_MINOR).contains(&product.price_cents) {
        return Err(CoreError::invalid(
            "price_cents",
            &format!("must be between 0 and {}", validate::MAX_UNIT_PRICE_MINOR),
        ));
    }
    if product.variants.is_empty() {
        return Err(CoreError::invalid(
            "variants",
            "a product needs at least one variant",
        ));
    }
    for variant in &product.variants {
        if !product.sizes.contains(&variant.size) || !product.colours.contains(&variant.colour) {
            return Err(CoreError::invalid(
                "variants",
                &format!(
                    "{} has a size or colour the product does not list",
                    variant.sku
                ),
            ));
        }
        if variant.ean.len() != 13 || !variant.ean.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CoreError::invalid("ean", "must be 13 digits"));
        }
    }
    Ok(())
}
