//! Catalog operations: import (relay side) and the lookups other operations need.

use rusqlite::{OptionalExtension, params};
use std::collections::BTreeMap;

use crate::doc::{CatalogDoc, DocId, SCHEMA_VERSION};
use crate::error::{CoreError, Result};
use crate::model::{Category, Product, ProductSku, ProductSummary, StoreId, StoreInfo, VariantSku};
use crate::store::Store;
use crate::validate::{self, MAX_SHORT_TEXT_CHARS};

/// What other operations need to know about a product.
pub(crate) struct ProductInfo {
    pub style: String,
    pub sizes: Vec<String>,
}

impl Store {
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
        };
        let mut write = self.begin_write(&DocId::Catalog, true)?;
        autosurgeon::reconcile(&mut write.doc, &catalog)?;
        self.commit_writes(vec![write])
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
        let mut catalog: CatalogDoc = crate::doc::hydrate_doc(&write.doc, &DocId::Catalog)?;
        catalog.stores.insert(store.id.to_string(), store);
        autosurgeon::reconcile(&mut write.doc, &catalog)?;
        self.commit_writes(vec![write])
    }

    pub fn stores(&self) -> Result<Vec<StoreInfo>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT store_id, name, city, latitude, longitude FROM stores ORDER BY name",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
            ))
        })?;
        rows.map(|row| {
            let (id, name, city, latitude, longitude) = row?;
            Ok(StoreInfo {
                id: StoreId::parse(id)?,
                name,
                city,
                latitude,
                longitude,
            })
        })
        .collect()
    }

    pub(crate) fn require_store(&self, store: &StoreId) -> Result<()> {
        let known = self
            .conn()
            .query_row(
                "SELECT 1 FROM stores WHERE store_id = ?1",
                [store.as_str()],
                |_| Ok(()),
            )
            .optional()?;
        known.ok_or_else(|| CoreError::not_found("store", store))
    }

    pub fn product(&self, sku: &ProductSku) -> Result<ProductSummary> {
        self.conn()
            .query_row(
                "SELECT name, brand, category, price_cents, image FROM products WHERE sku = ?1",
                [sku.as_str()],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, String>(4)?,
                    ))
                },
            )
            .optional()?
            .map(|(name, brand, category, price_cents, image)| {
                Ok(ProductSummary {
                    sku: sku.clone(),
                    name,
                    brand,
                    category: parse_category(&category)?,
                    price_cents,
                    image,
                })
            })
            .unwrap_or_else(|| Err(CoreError::not_found("product", sku)))
    }

    pub(crate) fn product_info(&self, sku: &ProductSku) -> Result<ProductInfo> {
        let style: String = self
            .conn()
            .query_row(
                "SELECT style FROM products WHERE sku = ?1",
                [sku.as_str()],
                |r| r.get(0),
            )
            .optional()?
            .ok_or_else(|| CoreError::not_found("product", sku))?;
        let mut stmt = self.conn().prepare_cached(
            "SELECT size FROM variants WHERE product_sku = ?1 GROUP BY size ORDER BY MIN(size_order)",
        )?;
        let sizes = stmt
            .query_map([sku.as_str()], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(ProductInfo { style, sizes })
    }

    /// The product and current price of a variant.
    pub(crate) fn variant_product(&self, variant: &VariantSku) -> Result<(ProductSku, i64)> {
        let (product, price): (String, i64) = self
            .conn()
            .query_row(
                "SELECT v.product_sku, p.price_cents FROM variants v
                 JOIN products p ON p.sku = v.product_sku WHERE v.variant_sku = ?1",
                [variant.as_str()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?
            .ok_or_else(|| CoreError::not_found("variant", variant))?;
        Ok((ProductSku::parse(product)?, price))
    }

    pub(crate) fn variant_colour(&self, variant: &VariantSku) -> Result<String> {
        Ok(self.variant_size_pref(variant)?.2)
    }

    /// (category key, size, colour) of a variant: what a purchase teaches about preferences.
    pub(crate) fn variant_size_pref(
        &self,
        variant: &VariantSku,
    ) -> Result<(String, String, String)> {
        self.conn()
            .query_row(
                "SELECT p.category, v.size, v.colour FROM variants v
                 JOIN products p ON p.sku = v.product_sku WHERE v.variant_sku = ?1",
                params![variant.as_str()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?
            .ok_or_else(|| CoreError::not_found("variant", variant))
    }

    /// Every product's variants, for building inventory (relay side).
    pub fn catalog_variants(&self) -> Result<BTreeMap<String, ProductSku>> {
        let mut stmt = self
            .conn()
            .prepare_cached("SELECT variant_sku, product_sku FROM variants")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        rows.map(|row| {
            let (variant, product) = row?;
            Ok((variant, ProductSku::parse(product)?))
        })
        .collect()
    }
}

pub(crate) fn parse_category(key: &str) -> Result<Category> {
    Category::from_key(key).ok_or_else(|| CoreError::Corrupt {
        doc: "catalog".into(),
        reason: format!("unknown category {key}"),
    })
}

fn check_product(product: &Product) -> Result<()> {
    validate::check_text("name", &product.name, MAX_SHORT_TEXT_CHARS)?;
    validate::check_text("brand", &product.brand, MAX_SHORT_TEXT_CHARS)?;
    if product.price_cents < 0 {
        return Err(CoreError::invalid("price_cents", "must not be negative"));
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
