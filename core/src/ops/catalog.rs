//! Catalog operations: import (relay side) and the lookups other operations need.

use rusqlite::{OptionalExtension, params};
use std::collections::BTreeMap;

use crate::error::{CoreError, Result};
use crate::model::{Category, ProductSku, ProductSummary, StoreId, StoreInfo, TenantLocale, VariantSku};
use crate::store::Store;

/// What other operations need to know about a product.
pub struct ProductInfo {
    pub style: String,
    pub sizes: Vec<String>,
}

impl Store {
    /// The tenant's currency and locale as the catalog publishes them; pounds and en-GB for a
    /// catalog from before they were published (or none yet).
    pub fn locale(&self) -> Result<TenantLocale> {
        Ok(self
            .meta("locale")?
            .and_then(|json| serde_json::from_slice(&json).ok())
            .unwrap_or_default())
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

    pub fn require_store(&self, store: &StoreId) -> Result<()> {
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
                "SELECT name, brand, category, price_cents, image,
                   EXISTS (SELECT 1 FROM discontinued_products d WHERE d.sku = products.sku)
                 FROM products WHERE sku = ?1",
                [sku.as_str()],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, bool>(5)?,
                    ))
                },
            )
            .optional()?
            .map(|(name, brand, category, price_cents, image, discontinued)| {
                Ok(ProductSummary {
                    sku: sku.clone(),
                    name,
                    brand,
                    category: parse_category(&category)?,
                    price_cents,
                    image,
                    discontinued,
                })
            })
            .unwrap_or_else(|| Err(CoreError::not_found("product", sku)))
    }

    pub fn product_info(&self, sku: &ProductSku) -> Result<ProductInfo> {
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
    pub fn variant_product(&self, variant: &VariantSku) -> Result<(ProductSku, i64)> {
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

    pub fn variant_colour(&self, variant: &VariantSku) -> Result<String> {
        Ok(self.variant_size_pref(variant)?.2)
    }

    /// (category key, size, colour) of a variant: what a purchase teaches about preferences.
    pub fn variant_size_pref(&self, variant: &VariantSku) -> Result<(String, String, String)> {
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

pub fn parse_category(key: &str) -> Result<Category> {
    Category::from_key(key).ok_or_else(|| CoreError::Corrupt {
        doc: "catalog".into(),
        reason: format!("unknown category {key}"),
    })
}
