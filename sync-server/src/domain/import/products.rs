//! Products, one row per variant: `product_sku,name,brand,category,style,price,image_url,
//! complements,discontinued,variant_sku,size,colour,ean,shop_inventory_item_id`. A product's
//! own fields repeat on each of its rows and must agree; its sizes and colours are listed in
//! the order the rows give them. A variant new to the catalog starts at zero stock in every
//! store. `discontinued` and `shop_inventory_item_id` left empty keep what the catalog says.

use super::rows::{self, Row};
use super::{ImportError, ImportFile, open_catalog};
use crate::domain::RelayDocs;
use aisle_core::Store;
use aisle_core::api::ImportSummary;
use aisle_core::doc::{DocId, InventoryDoc};
use aisle_core::model::{Category, Product, ProductSku, Variant, VariantSku};
use aisle_core::validate::MAX_SHORT_TEXT_CHARS;
use std::borrow::BorrowMut;
use std::collections::{BTreeMap, BTreeSet};

const COLUMNS: &[&str] = &[
    "product_sku",
    "name",
    "brand",
    "category",
    "style",
    "price",
    "image_url",
    "complements",
    "discontinued",
    "variant_sku",
    "size",
    "colour",
    "ean",
    "shop_inventory_item_id",
];

/// Longest image address taken.
const MAX_IMAGE_CHARS: usize = 500;

/// What a product row says of the product itself (the same on each of its rows).
#[derive(Clone, Debug, PartialEq)]
struct ProductFields {
    name: String,
    brand: String,
    category: Category,
    style: String,
    price_cents: i64,
    image: Option<String>,
    complements: Vec<String>,
    discontinued: Option<bool>,
}

fn fields_of(row: &Row, digits: u32) -> Result<(ProductSku, ProductFields, Variant), String> {
    let sku = ProductSku::parse(row.required("product_sku")?).map_err(|e| e.to_string())?;
    let category_text = row.required("category")?.to_ascii_lowercase();
    let category = Category::from_key(&category_text).ok_or_else(|| {
        format!(
            "category {category_text:?} is not one of {}",
            Category::ALL.map(Category::as_key).join(", ")
        )
    })?;
    let image = row.get("image_url").map(str::to_string);
    if let Some(image) = &image
        && (image.chars().count() > MAX_IMAGE_CHARS
            || image.contains("..")
            || image.chars().any(char::is_whitespace))
    {
        return Err("image_url is not an address or a path under the images folder".into());
    }
    let fields = ProductFields {
        name: row.required("name")?.to_string(),
        brand: row.required("brand")?.to_string(),
        category,
        style: row.get("style").unwrap_or("").to_string(),
        price_cents: row.money("price", digits)?,
        image,
        complements: row.list("complements"),
        discontinued: row.flag("discontinued")?,
    };
    let variant = Variant {
        sku: VariantSku::parse(row.required("variant_sku")?).map_err(|e| e.to_string())?,
        size: short(row.required("size")?, "size")?,
        colour: short(row.required("colour")?, "colour")?,
        // What a scan reads off the tag must find the variant: the check digit is checked,
        // and a 12-digit UPC-A is kept as its EAN-13.
        ean: aisle_core::validate::normalize_gtin(row.required("ean")?).ok_or_else(|| {
            "ean is not an EAN-13 (or UPC-A) barcode with its check digit".to_string()
        })?,
        shop_item: row
            .get("shop_inventory_item_id")
            .map(|id| {
                aisle_core::validate::check_token("shop_inventory_item_id", id, 64)
                    .map(|()| id.to_string())
                    .map_err(|e| e.to_string())
            })
            .transpose()?,
    };
    Ok((sku, fields, variant))
}

fn short(text: &str, field: &str) -> Result<String, String> {
    aisle_core::validate::check_text(field, text, MAX_SHORT_TEXT_CHARS).map_err(|e| e.to_string())
}

/// A product being gathered from its rows.
struct Gathered {
    line: usize,
    fields: ProductFields,
    variants: Vec<Variant>,
}

pub(super) fn import<S: BorrowMut<Store>>(
    docs: &mut RelayDocs<S>,
    file: &ImportFile,
) -> Result<ImportSummary, ImportError> {
    let (rows, mut errors) = rows::read(&file.text, file.format, &file.rename, COLUMNS)?;
    // Prices in the tenant's currency, with as many decimals as it has (none for yen).
    let digits = docs.locale().map_err(ImportError::Store)?.digits();
    let mut products: BTreeMap<String, Gathered> = BTreeMap::new();
    let mut order = Vec::new();
    let mut variant_lines: BTreeMap<String, usize> = BTreeMap::new();
    let mut ean_lines: BTreeMap<String, (usize, String)> = BTreeMap::new();
    for row in &rows {
        let (sku, fields, variant) = match fields_of(row, digits) {
            Ok(parsed) => parsed,
            Err(reason) => {
                errors.add(row.line, reason);
                continue;
            }
        };
        if let Some(first) = variant_lines.insert(variant.sku.to_string(), row.line) {
            errors.add(
                row.line,
                format!("variant {} is also on line {first}", variant.sku),
            );
            continue;
        }
        if let Some((first, other)) =
            ean_lines.insert(variant.ean.clone(), (row.line, variant.sku.to_string()))
        {
            errors.add(
                row.line,
                format!(
                    "EAN {} is also variant {other}'s, on line {first}",
                    variant.ean
                ),
            );
            continue;
        }
        match products.get_mut(sku.as_str()) {
            Some(product) if product.fields != fields => errors.add(
                row.line,
                format!(
                    "product {sku}'s name, brand, category, style, price, image, complements or discontinued differ from line {}",
                    product.line
                ),
            ),
            Some(product) => product.variants.push(variant),
            None => {
                order.push(sku.clone());
                products.insert(
                    sku.to_string(),
                    Gathered {
                        line: row.line,
                        fields,
                        variants: vec![variant],
                    },
                );
            }
        }
    }
    // The rows that read go on to be checked against the catalog, so one refusal names
    // every bad line.
    let in_file: BTreeSet<String> = products.keys().cloned().collect();
    let (mut write, mut catalog) = open_catalog(docs)?;
    // An EAN finds one variant: one the catalog gives another variant is refused.
    let mut catalog_eans: BTreeMap<String, String> = BTreeMap::new();
    // So is a web shop item id: it names one variant's stock.
    let mut shop_items: BTreeMap<String, String> = BTreeMap::new();
    for product in catalog.products.values() {
        for v in &product.variants {
            catalog_eans.insert(v.ean.clone(), v.sku.to_string());
            if let Some(item) = &v.shop_item {
                shop_items.insert(item.clone(), v.sku.to_string());
            }
        }
    }
    let mut built = Vec::with_capacity(order.len());
    for sku in order {
        let Some(gathered) = products.remove(sku.as_str()) else {
            continue;
        };
        let mut sizes: Vec<String> = Vec::new();
        let mut colours: Vec<String> = Vec::new();
        for v in &gathered.variants {
            if !sizes.contains(&v.size) {
                sizes.push(v.size.clone());
            }
            if !colours.contains(&v.colour) {
                colours.push(v.colour.clone());
            }
            if let Some(other) = catalog_eans.get(&v.ean)
                && *other != v.sku.to_string()
            {
                errors.add(
                    gathered.line,
                    format!("EAN {} belongs to variant {other} in the catalog", v.ean),
                );
            }
        }
        let mut complements = Vec::new();
        for c in &gathered.fields.complements {
            match ProductSku::parse(c.as_str()) {
                Ok(c) if c == sku => {
                    errors.add(
                        gathered.line,
                        format!("product {sku} lists itself as a complement"),
                    );
                }
                Ok(c)
                    if catalog.products.contains_key(c.as_str())
                        || in_file.contains(c.as_str()) =>
                {
                    complements.push(c);
                }
                Ok(c) => errors.add(
                    gathered.line,
                    format!("complement {c} is neither in the file nor in the catalog"),
                ),
                Err(e) => errors.add(gathered.line, format!("complement {c:?}: {e}")),
            }
        }
        let image = gathered.fields.image.clone().unwrap_or_else(|| {
            catalog
                .products
                .get(sku.as_str())
                .map(|p| p.image.clone())
                .unwrap_or_else(|| format!("products/{}.svg", gathered.fields.category.as_key()))
        });
        let here = catalog.products.get(sku.as_str());
        // Left empty, the web shop's item id of a variant and whether the product is
        // discontinued stay as the catalog has them.
        let mut variants = gathered.variants;
        for v in &mut variants {
            if v.shop_item.is_none() {
                v.shop_item = here
                    .and_then(|p| p.variants.iter().find(|old| old.sku == v.sku))
                    .and_then(|old| old.shop_item.clone());
            }
            if let Some(item) = &v.shop_item
                && let Some(other) = shop_items.insert(item.clone(), v.sku.to_string())
                && other != v.sku.to_string()
            {
                errors.add(
                    gathered.line,
                    format!("shop inventory item {item} is also variant {other}'s"),
                );
            }
        }
        let discontinued = gathered
            .fields
            .discontinued
            .or_else(|| here.and_then(|p| p.discontinued));
        let product = Product {
            sku: sku.clone(),
            name: gathered.fields.name.clone(),
            brand: gathered.fields.brand.clone(),
            category: gathered.fields.category,
            style: gathered.fields.style.clone(),
            price_cents: gathered.fields.price_cents,
            colours,
            sizes,
            image,
            complements,
            variants,
            discontinued,
        };
        if let Err(e) = crate::domain::catalog::check_product(&product) {
            errors.add(gathered.line, format!("product {sku}: {e}"));
        }
        built.push(product);
    }
    if !errors.is_empty() {
        return Err(errors.into());
    }
    let mut summary = ImportSummary {
        records: rows.len(),
        ..ImportSummary::default()
    };
    let mut new_variants = BTreeSet::new();
    for product in built {
        match catalog.products.get(product.sku.as_str()) {
            Some(here) if *here == product => {
                summary.unchanged += 1;
                continue;
            }
            Some(here) => {
                summary.updated += 1;
                let known: BTreeSet<&VariantSku> = here.variants.iter().map(|v| &v.sku).collect();
                new_variants.extend(
                    product
                        .variants
                        .iter()
                        .filter(|v| !known.contains(&v.sku))
                        .map(|v| v.sku.to_string()),
                );
            }
            None => {
                summary.created += 1;
                new_variants.extend(product.variants.iter().map(|v| v.sku.to_string()));
            }
        }
        catalog.products.insert(product.sku.to_string(), product);
    }
    if summary.created + summary.updated == 0 {
        return Ok(summary);
    }
    autosurgeon::reconcile(&mut write.doc, &catalog).map_err(aisle_core::CoreError::from)?;
    let mut writes = vec![write];
    if !new_variants.is_empty() {
        for store in catalog.stores.values() {
            let id = DocId::Inventory(store.id.clone());
            if !docs.has_doc(&id)? {
                continue;
            }
            let mut inventory = docs.begin_write(&id, false)?;
            let mut doc = InventoryDoc::new(&mut inventory.doc, &store.id);
            for variant in &new_variants {
                doc.stock_variant(variant, 0)?;
            }
            writes.push(inventory);
        }
    }
    docs.commit_writes(writes)?;
    Ok(summary)
}
