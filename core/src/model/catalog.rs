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
    /// The web shop's id for the variant's stock (a Shopify inventory item), which its stock
    /// updates name instead of the SKU. Absent on catalogs written before it.
    #[serde(default)]
    pub shop_item: Option<String>,
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
    /// No longer bought in: still found, shown and sold from the shelf, never suggested.
    /// Absent on catalogs written before it.
    #[serde(default)]
    pub discontinued: Option<bool>,
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
    /// No longer bought in (see [`Product::discontinued`]).
    #[serde(default)]
    pub discontinued: bool,
}

/// Where a product's image comes from, read off its `image`: one of the category outlines
/// the app ships with (`products/<category>.svg`), a file in the relay's images folder, or an
/// address the relay fetches. Tablets get the last two from the relay and keep them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageSource<'a> {
    Outline(&'a str),
    RelayFile(&'a str),
    Address(&'a str),
}

impl<'a> ImageSource<'a> {
    pub fn of(image: &'a str) -> Self {
        if image.starts_with("https://") || image.starts_with("http://") {
            Self::Address(image)
        } else if image.starts_with("products/") && image.ends_with(".svg") {
            Self::Outline(image)
        } else {
            Self::RelayFile(image)
        }
    }

    /// The app's own outline of `category`, shown while no image is kept.
    pub fn outline_of(category: Category) -> String {
        format!("products/{}.svg", category.as_key())
    }
}

/// Most bytes of one product image the relay serves and a tablet keeps.
pub const MAX_IMAGE_BYTES: usize = 5 * 1024 * 1024;

/// The media type of an image's bytes, for the kinds a product image may be; `None` for
/// anything else (which is neither served nor kept).
pub fn image_media_type(bytes: &[u8]) -> Option<&'static str> {
    let head = &bytes[..bytes.len().min(512)];
    if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        Some("image/webp")
    } else if String::from_utf8_lossy(head).contains("<svg") {
        Some("image/svg+xml")
    } else {
        None
    }
}

#[cfg(test)]
mod image_tests {
    use super::*;

    #[test]
    fn image_sources_and_media_types_are_told_apart() {
        assert_eq!(
            ImageSource::of("products/tops.svg"),
            ImageSource::Outline("products/tops.svg")
        );
        assert_eq!(
            ImageSource::of("tees/navy.jpg"),
            ImageSource::RelayFile("tees/navy.jpg")
        );
        assert!(matches!(
            ImageSource::of("https://cdn.example/a.png"),
            ImageSource::Address(_)
        ));
        assert_eq!(
            image_media_type(b"\x89PNG\r\n\x1a\n...."),
            Some("image/png")
        );
        assert_eq!(
            image_media_type(&[0xFF, 0xD8, 0xFF, 0xE0]),
            Some("image/jpeg")
        );
        assert_eq!(image_media_type(b"<html>not an image</html>"), None);
    }
}
