//! The chain's catalog and stores, written by the relay from imports; read-only on tablets.

use serde::{Deserialize, Serialize};

use super::{ProductSku, StoreId, VariantSku};

#[cfg(feature = "store")]
use autosurgeon::{Hydrate, Reconcile};

/// Product category. Sizes are preferred per category (a customer is an M in tops and a 42
/// in footwear).
#[cfg_attr(feature = "store", derive(Reconcile, Hydrate))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Tops,
    Knitwear,
    Shirts,
    Jeans,
    Trousers,
    Dresses,
    Outerwear,
    Footwear,
    Accessories,
}

impl Category {
    pub const ALL: [Category; 9] = [
        Self::Tops,
        Self::Knitwear,
        Self::Shirts,
        Self::Jeans,
        Self::Trousers,
        Self::Dresses,
        Self::Outerwear,
        Self::Footwear,
        Self::Accessories,
    ];

    pub fn as_key(self) -> &'static str {
        match self {
            Self::Tops => "tops",
            Self::Knitwear => "knitwear",
            Self::Shirts => "shirts",
            Self::Jeans => "jeans",
            Self::Trousers => "trousers",
            Self::Dresses => "dresses",
            Self::Outerwear => "outerwear",
            Self::Footwear => "footwear",
            Self::Accessories => "accessories",
        }
    }

    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_key() == key)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Tops => "Tops",
            Self::Knitwear => "Knitwear",
            Self::Shirts => "Shirts",
            Self::Jeans => "Jeans",
            Self::Trousers => "Trousers",
            Self::Dresses => "Dresses",
            Self::Outerwear => "Outerwear",
            Self::Footwear => "Footwear",
            Self::Accessories => "Accessories",
        }
    }
}

/// A sellable variant of a product.
#[cfg_attr(feature = "store", derive(Reconcile, Hydrate))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Variant {
    pub sku: VariantSku,
    pub colour: String,
    pub size: String,
    /// The EAN-13 printed on the tag.
    pub ean: String,
}

/// A product (style) with its variants by size and colour.
#[cfg_attr(feature = "store", derive(Reconcile, Hydrate))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Product {
    pub sku: ProductSku,
    pub name: String,
    pub brand: String,
    pub category: Category,
    /// A style family used for affinity ("classic", "street", "outdoor", ...).
    pub style: String,
    pub price_cents: i64,
    pub colours: Vec<String>,
    /// In display order (XS before S), not alphabetical.
    pub sizes: Vec<String>,
    /// Path under the demo assets, e.g. `products/footwear.svg`.
    pub image: String,
    /// Products that go with this one (socks with trainers).
    pub complements: Vec<ProductSku>,
    pub variants: Vec<Variant>,
}

/// A store of the chain.
#[cfg_attr(feature = "store", derive(Reconcile, Hydrate))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoreInfo {
    pub id: StoreId,
    pub name: String,
    pub city: String,
    pub latitude: f64,
    pub longitude: f64,
}

/// A product as listed in search results and grids.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductSummary {
    pub sku: ProductSku,
    pub name: String,
    pub brand: String,
    pub category: Category,
    pub price_cents: i64,
    pub image: String,
}
