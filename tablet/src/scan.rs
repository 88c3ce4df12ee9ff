//! What scanned text opens on the tablet: a verified loyalty code or number opens the customer
//! (fetched from the relay if another store's), a barcode the product's stock.

use aisle_core::model::{ScanTarget, VariantSku};
use aisle_core::{CoreError, Result};

use aisle_core::scan::{Scanned, classify};

use crate::Tablet;

impl Tablet {
    /// What a scan opens: a customer (token verified offline, or loyalty number) or a product.
    pub fn resolve_scan(&self, text: &str) -> Result<ScanTarget> {
        match classify(text)? {
            Scanned::Token(token) => Ok(ScanTarget::Customer {
                id: self.identify_token(&token)?,
            }),
            Scanned::Loyalty(loyalty) => Ok(ScanTarget::Customer {
                id: self.identify(&aisle_core::model::Identifier::Loyalty(loyalty))?,
            }),
            Scanned::Barcode(gtin) => {
                let (variant, product): (String, String) = self
                    .conn()
                    .query_row(
                        "SELECT variant_sku, product_sku FROM variants WHERE ean = ?1",
                        [&gtin],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .map_err(|e| match e {
                        rusqlite::Error::QueryReturnedNoRows => {
                            CoreError::not_found("product with barcode", &gtin)
                        }
                        other => other.into(),
                    })?;
                Ok(ScanTarget::Product {
                    sku: aisle_core::model::ProductSku::parse(product)?,
                    variant: Some(VariantSku::parse(variant)?),
                })
            }
        }
    }
}
