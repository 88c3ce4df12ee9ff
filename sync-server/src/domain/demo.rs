//! The demo data set: a fashion retailer with five UK stores, ~600 products in sizes and
//! colours, and customers with believable browsing, carts, wishlists, purchases, visits and
//! notes. Generated from a seed, so every machine (relay, tablet, test) gets the same data;
//! customers are generated one at a time, so 50,000 of them need no more memory than one.

use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet};

use super::RelayDocs;
use aisle_core::Result;
use aisle_core::Store;
use aisle_core::customer_records::{
    CartLineImport, CustomerImport, OnlineCartImport, PurchaseImport, ViewImport,
};
use aisle_core::model::{
    AssociateId, CartStatus, Category, Channel, ConsentPurpose, ConsentRecord, ConsentSource,
    CustomerId, LoyaltyId, Millis, NewCustomer, NfcUid, Note, Product, ProductSku, StoreId,
    StoreInfo, Tier, Variant, VariantSku, Visit, VisitSource,
};

const DAY: Millis = 86_400_000;
const HOUR: Millis = 3_600_000;

/// What to generate.
#[derive(Clone, Debug)]
pub struct DemoConfig {
    pub seed: u64,
    pub customers: usize,
    /// "Now" for the data: carts are hours or days old relative to it.
    pub now: Millis,
}

impl DemoConfig {
    pub fn new(customers: usize, now: Millis) -> Self {
        Self {
            seed: 42,
            customers,
            now,
        }
    }
}

/// The generated chain: stores, catalog and opening stock; customers come from
/// [`DemoData::customer`].
#[derive(Clone, Debug)]
pub struct DemoData {
    pub config: DemoConfig,
    pub stores: Vec<StoreInfo>,
    pub products: Vec<Product>,
    pub stock: BTreeMap<StoreId, BTreeMap<String, i64>>,
    /// Associates per store, as they sign notes.
    pub associates: BTreeMap<StoreId, Vec<AssociateId>>,
}

/// Where the demo import is, for a progress bar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DemoProgress {
    pub stage: &'static str,
    pub done: usize,
    pub total: usize,
}

struct CategorySpec {
    category: Category,
    code: &'static str,
    kinds: &'static [&'static str],
    sizes: &'static [&'static str],
    price: (i64, i64),
    complements: &'static [Category],
}

const LETTER_SIZES: &[&str] = &["XS", "S", "M", "L", "XL", "XXL"];
const WAIST_SIZES: &[&str] = &["28", "30", "32", "34", "36", "38"];

const CATEGORIES: &[CategorySpec] = &[
    CategorySpec {
        category: Category::Tops,
        code: "TOP",
        kinds: &["Tee", "Tank", "Polo", "Long-Sleeve Tee", "Rugby Top"],
        sizes: LETTER_SIZES,
        price: (1500, 4500),
        complements: &[Category::Jeans, Category::Trousers],
    },
    CategorySpec {
        category: Category::Knitwear,
        code: "KNT",
        kinds: &[
            "Crew Jumper",
            "Cardigan",
            "Roll Neck",
            "Hoodie",
            "Zip Sweatshirt",
        ],
        sizes: LETTER_SIZES,
        price: (4500, 12000),
        complements: &[Category::Shirts, Category::Jeans],
    },
    CategorySpec {
        category: Category::Shirts,
        code: "SHT",
        kinds: &[
            "Oxford Shirt",
            "Linen Shirt",
            "Flannel Shirt",
            "Denim Shirt",
            "Overshirt",
        ],
        sizes: &["S", "M", "L", "XL", "XXL"],
        price: (3500, 8000),
        complements: &[Category::Trousers, Category::Knitwear],
    },
    CategorySpec {
        category: Category::Jeans,
        code: "JNS",
        kinds: &[
            "Slim Jeans",
            "Straight Jeans",
            "Relaxed Jeans",
            "Tapered Jeans",
            "Bootcut Jeans",
        ],
        sizes: WAIST_SIZES,
        price: (5000, 11000),
        complements: &[Category::Accessories, Category::Tops],
    },
    CategorySpec {
        category: Category::Trousers,
        code: "TRS",
        kinds: &[
            "Chinos",
            "Wide-Leg Trousers",
            "Cargo Trousers",
            "Tailored Trousers",
            "Joggers",
        ],
        sizes: WAIST_SIZES,
        price: (4500, 9500),
        complements: &[Category::Shirts, Category::Footwear],
    },
    CategorySpec {
        category: Category::Dresses,
        code: "DRS",
        kinds: &[
            "Wrap Dress",
            "Slip Dress",
            "Shirt Dress",
            "Midi Dress",
            "Knit Dress",
        ],
        sizes: &["6", "8", "10", "12", "14", "16", "18"],
        price: (5500, 14000),
        complements: &[Category::Accessories, Category::Footwear],
    },
    CategorySpec {
        category: Category::Outerwear,
        code: "OUT",
        kinds: &[
            "Parka",
            "Trench Coat",
            "Puffer Jacket",
            "Rain Jacket",
            "Wool Overcoat",
        ],
        sizes: LETTER_SIZES,
        price: (9000, 26000),
        complements: &[Category::Accessories, Category::Knitwear],
    },
    CategorySpec {
        category: Category::Footwear,
        code: "FTW",
        kinds: &[
            "Trail Runner",
            "Court Trainer",
            "Chelsea Boot",
            "Loafer",
            "Hiking Boot",
        ],
        sizes: &[
            "36", "37", "38", "39", "40", "41", "42", "43", "44", "45", "46",
        ],
        price: (6000, 16000),
        complements: &[Category::Accessories, Category::Trousers],
    },
    CategorySpec {
        category: Category::Accessories,
        code: "ACC",
        kinds: &[
            "Merino Socks",
            "Wool Scarf",
            "Leather Belt",
            "Canvas Tote",
            "Beanie",
        ],
        sizes: &["One Size"],
        price: (1000, 6000),
        complements: &[Category::Outerwear, Category::Footwear],
    },
];

const MODIFIERS: &[&str] = &[
    "Harbour",
    "Alder",
    "Nordic",
    "Coastline",
    "Ember",
    "Fell",
    "Linden",
    "Summit",
    "Meridian",
    "Tideline",
    "Birch",
    "Granite",
    "Heron",
    "Juniper",
    "Kestrel",
    "Larch",
    "Moor",
    "Oakley",
    "Pier",
    "Quarry",
    "Rowan",
    "Sable",
];
const STYLES: &[&str] = &["classic", "street", "outdoor", "minimal", "sport"];
const COLOURS: &[&str] = &[
    "Black",
    "White",
    "Navy",
    "Grey Marl",
    "Olive",
    "Camel",
    "Burgundy",
    "Sky Blue",
    "Ecru",
    "Forest Green",
    "Rust",
    "Charcoal",
    "Stone",
    "Indigo",
    "Blush",
];
const BRANDS: &[&str] = &[
    "Harbour & Hart",
    "Harbour & Hart",
    "Northvale",
    "Tidewell",
    "Fellside",
    "Arc Studio",
];

const FIRST_NAMES: &[&str] = &[
    "Olivia", "Amelia", "Isla", "Ava", "Mia", "Sophia", "Grace", "Lily", "Freya", "Emily", "Aisha",
    "Priya", "Zara", "Chloe", "Ella", "Hannah", "Nadia", "Sofia", "Leah", "Maya", "Oliver",
    "George", "Noah", "Arthur", "Harry", "Leo", "Jack", "Charlie", "Oscar", "Jacob", "Mohammed",
    "Arjun", "Kwame", "Tomasz", "Luca", "Finn", "Ethan", "Samuel", "Rory", "Callum", "Imogen",
    "Ruby", "Evie", "Poppy", "Alice", "Jasmine", "Ines", "Yasmin", "Megan", "Niamh", "Daniel",
    "Thomas", "James", "William", "Henry", "Alfie", "Joshua", "Ravi", "Kofi", "Mateo",
];
const LAST_NAMES: &[&str] = &[
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Johnson",
    "Davies",
    "Patel",
    "Robinson",
    "Wright",
    "Thompson",
    "Evans",
    "Walker",
    "White",
    "Roberts",
    "Green",
    "Hall",
    "Wood",
    "Jackson",
    "Clarke",
    "Khan",
    "Ahmed",
    "Singh",
    "Murphy",
    "O'Brien",
    "Campbell",
    "Stewart",
    "MacDonald",
    "Kowalski",
    "Nowak",
    "Rossi",
    "Okafor",
    "Mensah",
    "Begum",
    "Ali",
    "Hughes",
    "Edwards",
    "Lewis",
    "Harris",
    "Martin",
    "Cooper",
    "King",
    "Lee",
    "Chen",
    "Wong",
    "Nguyen",
    "Fernandes",
    "Silva",
    "Baker",
    "Hill",
    "Moore",
    "Clark",
    "Morgan",
    "Bell",
    "Murray",
    "Reid",
    "Graham",
    "Kelly",
    "Byrne",
];
const EMAIL_DOMAINS: &[&str] = &[
    "gmail.com",
    "outlook.com",
    "icloud.com",
    "yahoo.co.uk",
    "proton.me",
    "btinternet.com",
];
const NOTE_TEMPLATES: &[&str] = &[
    "Prefers a slim fit; sizes down in knitwear.",
    "Looking for an outfit for a wedding in June.",
    "Asked to be told when the {product} is back in {colour}.",
    "Returns often on trousers: check the inside leg before buying.",
    "Buys gifts for her partner around Christmas (size L tops).",
    "Doesn't like wool against the skin; suggest merino or cotton.",
    "Training for a half marathon: interested in running gear.",
    "Regular on Saturdays, likes to be greeted by name.",
    "Collects the {product} in every new colour.",
    "Wants sustainable fabrics where possible.",
];
const ASSOCIATE_NAMES: &[&str] = &[
    "sam.k", "priya.m", "tom.h", "ana.r", "lee.w", "jo.b", "femi.a", "kate.s",
];

/// The chain's five stores.
fn stores() -> Vec<StoreInfo> {
    let store = |id: &str, name: &str, city: &str, latitude: f64, longitude: f64| StoreInfo {
        id: StoreId::parse(id).unwrap_or_else(|_| unreachable!("store ids above are valid")),
        name: name.to_string(),
        city: city.to_string(),
        latitude,
        longitude,
    };
    vec![
        store("LDN-CG", "Covent Garden", "London", 51.5117, -0.1240),
        store(
            "MAN-AR",
            "Manchester Arndale",
            "Manchester",
            53.4831,
            -2.2391,
        ),
        store("EDI-PS", "Princes Street", "Edinburgh", 55.9519, -3.1967),
        store("BRS-CC", "Cabot Circus", "Bristol", 51.4584, -2.5852),
        store("LDS-TR", "Trinity Leeds", "Leeds", 53.7963, -1.5449),
    ]
}

fn code_of(text: &str) -> String {
    let code: String = text
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_uppercase();
    if code == "ONESIZE" { "OS".into() } else { code }
}

/// An EAN-13 with a valid check digit, from a running number.
fn ean13(serial: u64) -> String {
    let body = format!("50{:010}", serial % 10_000_000_000);
    format!("{body}{}", aisle_core::validate::gtin_check_digit(&body))
}

fn parse<T, E: std::fmt::Debug>(r: std::result::Result<T, E>) -> T {
    // Ids built here come from the fixed tables above; a failure is a bug in this module.
    r.unwrap_or_else(|e| unreachable!("demo data builds valid ids: {e:?}"))
}

impl DemoData {
    pub fn generate(config: DemoConfig) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let stores = stores();
        let mut products = Vec::new();
        let mut ean_serial = 0u64;
        for spec in CATEGORIES {
            let mut names: Vec<(String, &str)> = MODIFIERS
                .iter()
                .flat_map(|m| spec.kinds.iter().map(move |k| (format!("{m} {k}"), *k)))
                .collect();
            names.shuffle(&mut rng);
            for (n, (name, kind)) in names.into_iter().take(67).enumerate() {
                let sku = parse(ProductSku::parse(format!("{}-{:04}", spec.code, n + 1)));
                let colour_count = rng.random_range(2..=4);
                let mut colours: Vec<String> = COLOURS
                    .choose_multiple(&mut rng, colour_count)
                    .map(|c| c.to_string())
                    .collect();
                colours.sort_by_key(|c| COLOURS.iter().position(|x| x == c));
                let sizes: Vec<String> = match kind {
                    "Merino Socks" | "Leather Belt" => vec!["S".into(), "M".into(), "L".into()],
                    _ => spec.sizes.iter().map(|s| s.to_string()).collect(),
                };
                let mut variants = Vec::new();
                for colour in &colours {
                    for size in &sizes {
                        ean_serial += 1;
                        variants.push(Variant {
                            sku: parse(VariantSku::parse(format!(
                                "{sku}-{}-{}",
                                code_of(colour),
                                code_of(size)
                            ))),
                            colour: colour.clone(),
                            size: size.clone(),
                            ean: ean13(ean_serial),
                            shop_item: None,
                        });
                    }
                }
                let price = rng.random_range(spec.price.0 / 100..=spec.price.1 / 100) * 100 - 1;
                products.push(Product {
                    sku,
                    name,
                    brand: BRANDS
                        .choose(&mut rng)
                        .copied()
                        .unwrap_or("Harbour & Hart")
                        .to_string(),
                    category: spec.category,
                    style: STYLES
                        .choose(&mut rng)
                        .copied()
                        .unwrap_or("classic")
                        .to_string(),
                    price_cents: price,
                    colours,
                    sizes,
                    image: format!("products/{}.svg", spec.category.as_key()),
                    complements: Vec::new(),
                    variants,
                    discontinued: None,
                });
            }
        }
        // Complements: a few products from the categories that go with each one.
        let by_category: BTreeMap<Category, Vec<ProductSku>> =
            products.iter().fold(BTreeMap::new(), |mut m, p| {
                m.entry(p.category)
                    .or_insert_with(Vec::new)
                    .push(p.sku.clone());
                m
            });
        for product in &mut products {
            let spec = CATEGORIES
                .iter()
                .find(|s| s.category == product.category)
                .unwrap_or(&CATEGORIES[0]);
            for category in spec.complements {
                if let Some(pool) = by_category.get(category)
                    && let Some(pick) = pool.choose(&mut rng)
                {
                    product.complements.push(pick.clone());
                }
            }
        }

        let mut stock = BTreeMap::new();
        for (i, store) in stores.iter().enumerate() {
            let scale = if i == 0 { 1.6 } else { 1.0 };
            let mut levels = BTreeMap::new();
            for product in &products {
                let middle = product.sizes.len() as f64 / 2.0;
                for variant in &product.variants {
                    let pos = product
                        .sizes
                        .iter()
                        .position(|s| *s == variant.size)
                        .unwrap_or(0) as f64;
                    let centrality =
                        1.0 - ((pos + 0.5 - middle).abs() / middle.max(1.0)).min(1.0) * 0.7;
                    let on_hand = if rng.random_bool(0.09) {
                        0
                    } else {
                        (rng.random_range(1.0f64..9.0) * centrality * scale).round() as i64
                    };
                    levels.insert(variant.sku.to_string(), on_hand);
                }
            }
            stock.insert(store.id.clone(), levels);
        }
        let associates = stores
            .iter()
            .map(|s| {
                let names = ASSOCIATE_NAMES
                    .iter()
                    .map(|n| {
                        parse(AssociateId::parse(format!(
                            "{n}.{}",
                            s.id.as_str().to_ascii_lowercase()
                        )))
                    })
                    .collect();
                (s.id.clone(), names)
            })
            .collect();
        Self {
            config,
            stores,
            products,
            stock,
            associates,
        }
    }

    /// The demo customer number `index`; the same index always gives the same customer.
    pub fn customer(&self, index: usize) -> CustomerImport {
        let mut rng = ChaCha8Rng::seed_from_u64(
            self.config.seed ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        let now = self.config.now;
        let first = FIRST_NAMES.choose(&mut rng).copied().unwrap_or("Alex");
        let last = LAST_NAMES.choose(&mut rng).copied().unwrap_or("Smith");
        let name = format!("{first} {last}");
        let email_local: String = format!("{first}.{last}")
            .to_lowercase()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '.')
            .collect();
        let domain = EMAIL_DOMAINS
            .choose(&mut rng)
            .copied()
            .unwrap_or("gmail.com");
        let store_weights = [40u32, 20, 15, 13, 12];
        let home = {
            let mut pick = rng.random_range(0..store_weights.iter().sum::<u32>());
            let mut chosen = 0;
            for (i, w) in store_weights.iter().enumerate() {
                if pick < *w {
                    chosen = i;
                    break;
                }
                pick -= w;
            }
            &self.stores[chosen]
        };
        let tier = match rng.random_range(0..100) {
            0..70 => Tier::Member,
            70..92 => Tier::Silver,
            _ => Tier::Gold,
        };
        let joined_at = now - rng.random_range(30..1500) * DAY;
        let mut consent = BTreeMap::new();
        for (purpose, p) in [
            (ConsentPurpose::InStorePersonalisation, 0.85),
            (ConsentPurpose::MarketingEmail, 0.6),
            (ConsentPurpose::MarketingSms, 0.25),
        ] {
            consent.insert(
                purpose,
                ConsentRecord {
                    granted: rng.random_bool(p),
                    at: joined_at,
                    source: if rng.random_bool(0.7) {
                        ConsentSource::Web
                    } else {
                        ConsentSource::Kiosk
                    },
                },
            );
        }

        // A shopper's taste: favourite categories, colours, and the size they wear in each.
        let category_count = rng.random_range(2..=4);
        let favourite_categories: Vec<&CategorySpec> = CATEGORIES
            .choose_multiple(&mut rng, category_count)
            .collect();
        let favourite_colours: Vec<&str> = COLOURS.choose_multiple(&mut rng, 2).copied().collect();
        let size_for = |spec: &CategorySpec, rng: &mut ChaCha8Rng| -> String {
            let n = spec.sizes.len();
            let centre = n as f64 / 2.0;
            let pick = (centre + rng.random_range(-1.5..1.5)).clamp(0.0, (n - 1) as f64) as usize;
            spec.sizes[pick].to_string()
        };
        let sizes: BTreeMap<Category, String> = favourite_categories
            .iter()
            .map(|spec| (spec.category, size_for(spec, &mut rng)))
            .collect();
        let products_in = |category: Category| -> Vec<&Product> {
            self.products
                .iter()
                .filter(|p| p.category == category)
                .collect()
        };
        let variant_for = |product: &Product, rng: &mut ChaCha8Rng| -> VariantSku {
            let size = sizes
                .get(&product.category)
                .filter(|s| product.sizes.contains(s))
                .cloned()
                .unwrap_or_else(|| product.sizes.choose(rng).cloned().unwrap_or_default());
            let colour = favourite_colours
                .iter()
                .find(|c| product.colours.iter().any(|pc| pc == *c))
                .map(|c| c.to_string())
                .unwrap_or_else(|| product.colours.choose(rng).cloned().unwrap_or_default());
            product
                .variants
                .iter()
                .find(|v| v.size == size && v.colour == colour)
                .or_else(|| product.variants.first())
                .map(|v| v.sku.clone())
                .unwrap_or_else(|| unreachable!("every demo product has variants"))
        };

        let mut viewed: Vec<&Product> = Vec::new();
        let view_count = if rng.random_bool(0.85) {
            rng.random_range(1..30)
        } else {
            0
        };
        for _ in 0..view_count {
            let spec = if rng.random_bool(0.8) {
                favourite_categories
                    .choose(&mut rng)
                    .copied()
                    .unwrap_or(&CATEGORIES[0])
            } else {
                CATEGORIES.choose(&mut rng).unwrap_or(&CATEGORIES[0])
            };
            if let Some(p) = products_in(spec.category).choose(&mut rng)
                && !viewed.iter().any(|v| v.sku == p.sku)
            {
                viewed.push(p);
            }
        }
        let views: Vec<ViewImport> = viewed
            .iter()
            .map(|p| {
                let count = rng.random_range(1..9);
                let mut view_sizes = BTreeMap::new();
                let own = sizes
                    .get(&p.category)
                    .filter(|s| p.sizes.contains(s))
                    .cloned();
                for _ in 0..rng.random_range(0..=count) {
                    let size = match &own {
                        Some(s) if rng.random_bool(0.8) => s.clone(),
                        _ => p.sizes.choose(&mut rng).cloned().unwrap_or_default(),
                    };
                    *view_sizes.entry(size).or_insert(0) += 1;
                }
                ViewImport {
                    product: p.sku.clone(),
                    count,
                    last_seen: now - rng.random_range(HOUR..60 * DAY),
                    sizes: view_sizes,
                }
            })
            .collect();

        let online_cart = (!viewed.is_empty() && rng.random_bool(0.3)).then(|| {
            let updated_at = now - rng.random_range(HOUR..21 * DAY);
            let n = rng.random_range(1..=viewed.len().min(4));
            let lines = viewed
                .choose_multiple(&mut rng, n)
                .copied()
                .collect::<Vec<_>>()
                .into_iter()
                .enumerate()
                .map(|(i, p)| CartLineImport {
                    line_id: format!("web-{index}-{i}"),
                    variant: variant_for(p, &mut rng),
                    quantity: if rng.random_bool(0.9) { 1 } else { 2 },
                    added_at: updated_at - rng.random_range(0..2 * DAY),
                })
                .collect();
            OnlineCartImport {
                channel: if rng.random_bool(0.6) {
                    Channel::Web
                } else {
                    Channel::App
                },
                status: CartStatus::Abandoned,
                created_at: updated_at - 2 * DAY,
                updated_at,
                lines,
            }
        });

        let wishlist = if rng.random_bool(0.4) {
            let mut picks: BTreeSet<ProductSku> = BTreeSet::new();
            for _ in 0..rng.random_range(1..=6) {
                let spec = favourite_categories
                    .choose(&mut rng)
                    .copied()
                    .unwrap_or(&CATEGORIES[0]);
                if let Some(p) = products_in(spec.category).choose(&mut rng) {
                    picks.insert(p.sku.clone());
                }
            }
            picks
                .into_iter()
                .map(|sku| (sku, now - rng.random_range(DAY..120 * DAY)))
                .collect()
        } else {
            Vec::new()
        };

        // Things that go together are bought together (boots with socks, a jumper with the
        // jeans): a separate stream, so adding them leaves the rest of the customer unchanged.
        let mut basket_rng = ChaCha8Rng::seed_from_u64(
            self.config.seed ^ (index as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03),
        );
        let purchases = (0..rng.random_range(0..=12))
            .map(|n| {
                let online = rng.random_bool(0.45);
                let mut lines = (0..rng.random_range(1..=3))
                    .filter_map(|_| {
                        let spec = favourite_categories.choose(&mut rng).copied()?;
                        let product = products_in(spec.category).choose(&mut rng).copied()?;
                        Some((product, variant_for(product, &mut rng)))
                    })
                    .collect::<Vec<_>>();
                let anchors: Vec<&Product> = lines.iter().map(|(p, _)| *p).collect();
                for anchor in anchors {
                    if !basket_rng.random_bool(0.5) {
                        continue;
                    }
                    let Some(sku) = anchor.complements.choose(&mut basket_rng) else {
                        continue;
                    };
                    if let Some(companion) = self.products.iter().find(|p| &p.sku == sku)
                        && !lines.iter().any(|(p, _)| p.sku == companion.sku)
                    {
                        lines.push((companion, variant_for(companion, &mut basket_rng)));
                    }
                }
                let lines = lines
                    .into_iter()
                    .map(|(_, variant)| (variant, 1))
                    .collect::<Vec<_>>();
                PurchaseImport {
                    id: format!("order-{index}-{n}"),
                    at: now - rng.random_range(DAY..720 * DAY),
                    channel: if online { Channel::Web } else { Channel::Store },
                    store: (!online).then(|| home.id.clone()),
                    lines,
                }
            })
            .filter(|p| !p.lines.is_empty())
            .collect();

        let visits = (0..rng.random_range(0..=10))
            .map(|_| Visit {
                store: if rng.random_bool(0.85) {
                    home.id.clone()
                } else {
                    self.stores
                        .choose(&mut rng)
                        .map(|s| s.id.clone())
                        .unwrap_or_else(|| home.id.clone())
                },
                at: now - rng.random_range(DAY..180 * DAY),
                source: if rng.random_bool(0.5) {
                    VisitSource::Kiosk
                } else {
                    VisitSource::Associate
                },
            })
            .collect();

        let notes = if rng.random_bool(0.25) {
            let staff = self.associates.get(&home.id).cloned().unwrap_or_default();
            (0..rng.random_range(1..=3))
                .filter_map(|_| {
                    let template = NOTE_TEMPLATES.choose(&mut rng)?;
                    let product = viewed
                        .choose(&mut rng)
                        .map_or("Harbour Tee", |p| p.name.as_str());
                    let colour = favourite_colours.first().copied().unwrap_or("Navy");
                    Some(Note {
                        text: template
                            .replace("{product}", product)
                            .replace("{colour}", colour),
                        author: staff.choose(&mut rng)?.clone(),
                        store: Some(home.id.clone()),
                        at: now - rng.random_range(DAY..300 * DAY),
                    })
                })
                .collect()
        } else {
            Vec::new()
        };

        let serial = u32::try_from(index)
            .unwrap_or(u32::MAX)
            .wrapping_add(100_000);
        let nfc_uids = if rng.random_bool(0.2) {
            let b = (index as u64).to_be_bytes();
            vec![parse(NfcUid::from_bytes(&[
                0x04, 0xA1, b[3], b[4], b[5], b[6], b[7],
            ]))]
        } else {
            Vec::new()
        };
        let recorded_sizes = if rng.random_bool(0.5) {
            sizes
                .iter()
                .map(|(c, s)| (c.as_key().to_string(), s.clone()))
                .collect()
        } else {
            BTreeMap::new()
        };
        let colour_affinity = favourite_colours
            .iter()
            .map(|c| (c.to_string(), rng.random_range(1..6)))
            .collect();

        let id_bytes: [u8; 16] = rng.random();
        CustomerImport {
            id: Some(parse(CustomerId::parse(
                uuid::Builder::from_random_bytes(id_bytes)
                    .into_uuid()
                    .to_string(),
            ))),
            customer: NewCustomer {
                loyalty_id: LoyaltyId::from_serial(serial),
                name,
                email: Some(format!("{email_local}{index}@{domain}")),
                phone: Some(format!("+4477{:08}", index % 100_000_000)),
                home_store: home.id.clone(),
                tier,
                consent,
            },
            joined_at,
            nfc_uids,
            sizes: recorded_sizes,
            views,
            colour_affinity,
            online_cart,
            wishlist,
            purchases,
            visits,
            notes,
            shop_customer_id: None,
        }
    }

    /// Every purchase and online cart of every demo customer as its set of products, with the
    /// customer's index: the baskets recommendations are counted and evaluated on.
    pub fn baskets(&self) -> Vec<(usize, BTreeSet<ProductSku>)> {
        let product_of: BTreeMap<&VariantSku, &ProductSku> = self
            .products
            .iter()
            .flat_map(|p| p.variants.iter().map(move |v| (&v.sku, &p.sku)))
            .collect();
        let mut out = Vec::new();
        for (index, record) in self.customers().enumerate() {
            let to_basket = |variants: Vec<&VariantSku>| -> BTreeSet<ProductSku> {
                variants
                    .into_iter()
                    .filter_map(|v| product_of.get(v).map(|p| (*p).clone()))
                    .collect()
            };
            for purchase in &record.purchases {
                out.push((
                    index,
                    to_basket(purchase.lines.iter().map(|(v, _)| v).collect()),
                ));
            }
            if let Some(cart) = &record.online_cart {
                out.push((
                    index,
                    to_basket(cart.lines.iter().map(|l| &l.variant).collect()),
                ));
            }
        }
        out
    }

    /// Every customer, generated lazily.
    pub fn customers(&self) -> impl Iterator<Item = CustomerImport> + '_ {
        (0..self.config.customers).map(|i| self.customer(i))
    }

    /// Imports the whole data set into an empty store (the relay's, or a tablet's in tests and
    /// benchmarks): catalog, each store's stock, then the customers in one transaction.
    pub fn import(&self, store: &mut Store, mut progress: impl FnMut(DemoProgress)) -> Result<()> {
        let mut store = RelayDocs::new(store)?;
        progress(DemoProgress {
            stage: "catalog",
            done: 0,
            total: 1,
        });
        store.import_catalog(self.products.clone(), self.stores.clone())?;
        progress(DemoProgress {
            stage: "catalog",
            done: 1,
            total: 1,
        });
        let total = self.stock.len();
        for (i, (store_id, levels)) in self.stock.iter().enumerate() {
            store.import_inventory(store_id, levels.clone())?;
            progress(DemoProgress {
                stage: "inventory",
                done: i + 1,
                total,
            });
        }
        let total = self.config.customers;
        store.import_customers(self.customers(), |done| {
            if done % 250 == 0 || done == total {
                progress(DemoProgress {
                    stage: "customers",
                    done,
                    total,
                });
            }
        })?;
        Ok(())
    }
}

/// Imports the demo data if the store is empty; returns whether it did.
pub fn seed_if_empty(
    store: &mut Store,
    config: DemoConfig,
    progress: impl FnMut(DemoProgress),
) -> Result<bool> {
    if store.has_doc(&aisle_core::DocId::Catalog)? {
        return Ok(false);
    }
    DemoData::generate(config).import(store, progress)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic() {
        let a = DemoData::generate(DemoConfig::new(20, 1_700_000_000_000));
        let b = DemoData::generate(DemoConfig::new(20, 1_700_000_000_000));
        assert_eq!(a.products, b.products);
        assert_eq!(a.stock, b.stock);
        assert_eq!(a.customer(7), b.customer(7));
        assert_ne!(a.customer(7), a.customer(8));
    }

    #[test]
    fn catalog_has_the_promised_shape() {
        let data = DemoData::generate(DemoConfig::new(0, 1_700_000_000_000));
        assert_eq!(data.stores.len(), 5);
        assert!(
            (550..=650).contains(&data.products.len()),
            "{}",
            data.products.len()
        );
        let eans: BTreeSet<&str> = data
            .products
            .iter()
            .flat_map(|p| p.variants.iter().map(|v| v.ean.as_str()))
            .collect();
        let variants: usize = data.products.iter().map(|p| p.variants.len()).sum();
        assert_eq!(eans.len(), variants, "EANs are unique");
    }

    #[test]
    fn ean_check_digits_are_valid() {
        // 5012345678900 is a known-valid EAN-13.
        let ean = ean13(0);
        assert_eq!(ean.len(), 13);
        let digits: Vec<u32> = ean.bytes().map(|b| u32::from(b - b'0')).collect();
        let sum: u32 = digits
            .iter()
            .enumerate()
            .map(|(i, d)| d * if i % 2 == 0 { 1 } else { 3 })
            .sum();
        assert_eq!(sum % 10, 0);
    }
}
