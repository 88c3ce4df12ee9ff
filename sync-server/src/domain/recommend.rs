//! Recommendation counting on the relay: what is bought together, counted over every basket
//! (each purchase and cart of every customer, and anonymous till sales), published as the
//! read-only `recommendations` document; and the offline evaluation the benchmarks run.

use super::RelayDocs;
use aisle_core::Result;
use aisle_core::Store;
use aisle_core::doc::{self, DocId, RecommendationsDoc, RelatedEntry};
use aisle_core::model::ProductSku;
use aisle_core::recommend::{self, Related, RelatedTable};
use std::borrow::BorrowMut;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Related products kept per product.
pub const TOP_RELATED: usize = 10;
/// Fewer shared baskets than this is noise.
pub const MIN_TOGETHER: u32 = 2;

/// What the relay published.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishedRecommendations {
    pub baskets: usize,
    pub products: usize,
    /// Whether the document changed (a recount with the same result writes nothing).
    pub changed: bool,
}

/// Counts co-occurrence over `baskets` (each the distinct products of one purchase or cart).
pub fn co_occurrence<'a>(
    baskets: impl IntoIterator<Item = &'a BTreeSet<ProductSku>>,
) -> RelatedTable {
    let mut single: HashMap<&ProductSku, u32> = HashMap::new();
    let mut pairs: HashMap<(&ProductSku, &ProductSku), u32> = HashMap::new();
    for basket in baskets {
        for a in basket {
            *single.entry(a).or_default() += 1;
            for b in basket
                .range::<ProductSku, _>((std::ops::Bound::Excluded(a), std::ops::Bound::Unbounded))
            {
                *pairs.entry((a, b)).or_default() += 1;
            }
        }
    }
    let mut table: BTreeMap<ProductSku, Vec<Related>> = BTreeMap::new();
    for ((a, b), together) in pairs {
        if together < MIN_TOGETHER {
            continue;
        }
        let score = f64::from(together) / (f64::from(single[a]) * f64::from(single[b])).sqrt();
        for (from, to) in [(a, b), (b, a)] {
            table.entry(from.clone()).or_default().push(Related {
                product: to.clone(),
                score,
                together,
            });
        }
    }
    for related in table.values_mut() {
        related.sort_by(|x, y| {
            y.score
                .total_cmp(&x.score)
                .then_with(|| y.together.cmp(&x.together))
                .then_with(|| x.product.cmp(&y.product))
        });
        related.truncate(TOP_RELATED);
    }
    table
}
/// Products by how many baskets hold them, most first: the baseline to beat.
pub fn popularity<'a>(
    baskets: impl IntoIterator<Item = &'a BTreeSet<ProductSku>>,
) -> Vec<ProductSku> {
    let mut counts: BTreeMap<&ProductSku, u32> = BTreeMap::new();
    for basket in baskets {
        for product in basket {
            *counts.entry(product).or_default() += 1;
        }
    }
    let mut ranked: Vec<(&ProductSku, u32)> = counts.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    ranked.into_iter().map(|(p, _)| p.clone()).collect()
}
/// Hit rate at `k` of co-occurrence and of popularity on held-out baskets.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    pub train_baskets: usize,
    pub test_cases: usize,
    pub k: usize,
    pub co_occurrence_hit_rate: f64,
    pub popularity_hit_rate: f64,
    /// Test cases where co-occurrence had fewer than `k` candidates (padded with popular ones).
    pub padded: usize,
}
/// Leave-one-out over the test baskets with two or more products: hide each product in turn,
/// recommend `k` from the rest, count a hit when the hidden product is among them. Both
/// methods skip what is already in the basket; co-occurrence is padded with popular products
/// when it has fewer than `k` candidates, as the tablet would show them.
pub fn evaluate(
    train: &[BTreeSet<ProductSku>],
    test: &[BTreeSet<ProductSku>],
    k: usize,
) -> Evaluation {
    let table = co_occurrence(train);
    let popular = popularity(train);
    let mut cases = 0usize;
    let mut co_hits = 0usize;
    let mut pop_hits = 0usize;
    let mut padded = 0usize;
    for basket in test.iter().filter(|b| b.len() >= 2) {
        for hidden in basket {
            let rest: Vec<(ProductSku, f64)> = basket
                .iter()
                .filter(|p| *p != hidden)
                .map(|p| (p.clone(), 1.0))
                .collect();
            let mut picks: Vec<ProductSku> = recommend::recommend(&table, &rest, k)
                .into_iter()
                .map(|(p, _, _)| p)
                .collect();
            if picks.len() < k {
                padded += 1;
                for p in &popular {
                    if picks.len() == k {
                        break;
                    }
                    if !picks.contains(p) && !rest.iter().any(|(r, _)| r == p) {
                        picks.push(p.clone());
                    }
                }
            }
            let baseline = popular
                .iter()
                .filter(|p| !rest.iter().any(|(r, _)| r == *p))
                .take(k);
            cases += 1;
            co_hits += usize::from(picks.contains(hidden));
            pop_hits += usize::from(baseline.into_iter().any(|p| p == hidden));
        }
    }
    let rate = |hits: usize| {
        if cases == 0 {
            0.0
        } else {
            hits as f64 / cases as f64
        }
    };
    Evaluation {
        train_baskets: train.len(),
        test_cases: cases,
        k,
        co_occurrence_hit_rate: rate(co_hits),
        popularity_hit_rate: rate(pop_hits),
        padded,
    }
}

impl<S: BorrowMut<Store>> RelayDocs<S> {
    /// Every basket this store knows: each purchase and cart of a customer, and each sale
    /// without a customer, as its set of products.
    pub fn baskets(&self) -> Result<Vec<BTreeSet<ProductSku>>> {
        let mut baskets: BTreeMap<(String, String), BTreeSet<ProductSku>> = BTreeMap::new();
        let mut stmt = self.conn().prepare(
            "SELECT customer_id, basket_id, product_sku FROM customer_lines
             UNION ALL
             SELECT '', l.sale_id, v.product_sku FROM sale_lines l
               JOIN sales s ON s.sale_id = l.sale_id AND s.customer_id IS NULL
               JOIN variants v ON v.variant_sku = l.variant_sku",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let product = ProductSku::parse(r.get::<_, String>(2)?)?;
            baskets
                .entry((r.get(0)?, r.get(1)?))
                .or_default()
                .insert(product);
        }
        Ok(baskets.into_values().collect())
    }

    /// Counts co-occurrence over all baskets and publishes the related-products document
    /// (relay). Devices receive it like the catalog and cannot write it.
    pub fn publish_recommendations(&mut self) -> Result<PublishedRecommendations> {
        let baskets = self.baskets()?;
        let table = co_occurrence(&baskets);
        let related: BTreeMap<String, Vec<RelatedEntry>> = table
            .iter()
            .map(|(product, related)| {
                let entries = related
                    .iter()
                    .map(|r| RelatedEntry {
                        product: r.product.to_string(),
                        score_permille: (r.score * 1000.0).round() as i64,
                        together: i64::from(r.together),
                    })
                    .collect();
                (product.to_string(), entries)
            })
            .collect();
        let id = DocId::Recommendations;
        let mut write = self.begin_write(&id, true)?;
        let existing: Option<RecommendationsDoc> = if write.heads_before.is_empty() {
            None
        } else {
            Some(doc::hydrate_doc(&write.doc, &id)?)
        };
        if existing
            .as_ref()
            .is_some_and(|e| e.related == related && e.baskets == baskets.len() as i64)
        {
            return Ok(PublishedRecommendations {
                baskets: baskets.len(),
                products: related.len(),
                changed: false,
            });
        }
        let products = related.len();
        let published = RecommendationsDoc {
            schema: doc::SCHEMA_VERSION,
            computed_at: self.now(),
            baskets: baskets.len() as i64,
            related,
        };
        autosurgeon::reconcile(&mut write.doc, &published)?;
        self.commit_writes(vec![write])?;
        Ok(PublishedRecommendations {
            baskets: baskets.len(),
            products,
            changed: true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aisle_core::recommend::recommend;

    fn sku(s: &str) -> ProductSku {
        ProductSku::parse(s).unwrap()
    }

    fn basket(items: &[&str]) -> BTreeSet<ProductSku> {
        items.iter().map(|s| sku(s)).collect()
    }

    #[test]
    fn pairs_bought_together_rank_above_best_sellers() {
        let mut baskets = vec![basket(&["SHOE", "SOCK"]); 4];
        // The tee is in every other basket too: popular, but not related to shoes in particular.
        baskets.extend(vec![basket(&["TEE", "CAP"]); 6]);
        baskets.push(basket(&["SHOE", "TEE"]));
        baskets.push(basket(&["SHOE", "TEE"]));
        let table = co_occurrence(&baskets);
        let for_shoe: Vec<&str> = table[&sku("SHOE")]
            .iter()
            .map(|r| r.product.as_str())
            .collect();
        assert_eq!(for_shoe, ["SOCK", "TEE"]);
        assert_eq!(popularity(&baskets)[0], sku("TEE"));
        let picks = recommend(&table, &[(sku("SHOE"), 1.0)], 5);
        assert_eq!(picks[0].0, sku("SOCK"));
        assert_eq!(picks[0].2, sku("SHOE"));
    }

    #[test]
    fn a_single_shared_basket_is_noise() {
        let table = co_occurrence(&[basket(&["A", "B"])]);
        assert!(table.is_empty());
    }

    #[test]
    fn evaluation_counts_hits_on_held_out_baskets() {
        let train = vec![basket(&["SHOE", "SOCK"]); 5];
        let test = vec![basket(&["SHOE", "SOCK"])];
        let e = evaluate(&train, &test, 1);
        assert_eq!(e.test_cases, 2);
        assert!((e.co_occurrence_hit_rate - 1.0).abs() < 1e-9);
    }
}
