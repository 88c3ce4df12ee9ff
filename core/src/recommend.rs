//! Item-to-item recommendations from co-occurrence: products that appear in the same baskets
//! (purchases and carts) across the chain. The relay counts them on a schedule and publishes
//! the top related products of each product as a read-only document; the tablet re-ranks them
//! for the customer in front of the associate and keeps what is on the shelf in their size.
//!
//! The score is cosine similarity over basket occurrence, `n(a,b) / sqrt(n(a) * n(b))`, which
//! keeps best sellers from being related to everything.

use std::collections::BTreeMap;

use crate::model::ProductSku;

/// One related product and how strongly.
#[derive(Clone, Debug, PartialEq)]
pub struct Related {
    pub product: ProductSku,
    pub score: f64,
    /// Baskets holding both.
    pub together: u32,
}

/// Related products per product, best first.
pub type RelatedTable = BTreeMap<ProductSku, Vec<Related>>;

/// Candidates for someone who has `seeds`, best first: related scores summed over the seeds,
/// excluding the seeds themselves.
pub fn recommend(
    table: &RelatedTable,
    seeds: &[(ProductSku, f64)],
    k: usize,
) -> Vec<(ProductSku, f64, ProductSku)> {
    let mut scores: BTreeMap<&ProductSku, (f64, &ProductSku, f64)> = BTreeMap::new();
    for (seed, weight) in seeds {
        for related in table.get(seed).into_iter().flatten() {
            if seeds.iter().any(|(s, _)| s == &related.product) {
                continue;
            }
            let contribution = related.score * weight;
            let entry = scores.entry(&related.product).or_insert((0.0, seed, 0.0));
            entry.0 += contribution;
            // Remember the seed that contributed most: "goes with the ...".
            if contribution > entry.2 {
                entry.1 = seed;
                entry.2 = contribution;
            }
        }
    }
    let mut ranked: Vec<(ProductSku, f64, ProductSku)> = scores
        .into_iter()
        .map(|(product, (score, because, _))| (product.clone(), score, because.clone()))
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    ranked.truncate(k);
    ranked
}
