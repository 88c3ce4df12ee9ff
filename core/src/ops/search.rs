//! Search as you type over customers (an FTS5 prefix query on name, email and phone) and over
//! products, never a scan of documents.

use rusqlite::params;

use crate::error::{CoreError, Result};
use crate::model::{
    CustomerId, CustomerSummary, LoyaltyId, ProductSku, ProductSummary, StoreId, Tier,
};
use crate::store::Store;
use crate::validate::MAX_QUERY_CHARS;

/// Most results one search returns.
pub const MAX_SEARCH_RESULTS: usize = 50;

impl Store {
    /// Products by name, brand or SKU prefix, or by a scanned EAN-13 barcode.
    pub fn search_products(&self, query: &str, limit: usize) -> Result<Vec<ProductSummary>> {
        let query = query.trim();
        if query.is_empty() {
            return Ok(Vec::new());
        }
        if query.chars().count() > 100 {
            return Err(CoreError::invalid("query", "is longer than 100 characters"));
        }
        let skus: Vec<String> = if query.len() == 13 && query.bytes().all(|b| b.is_ascii_digit()) {
            let mut stmt = self
                .conn()
                .prepare_cached("SELECT product_sku FROM variants WHERE ean = ?1")?;
            stmt.query_map([query], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?
        } else {
            let escaped = query
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            let words = format!("%{escaped}%");
            let prefix = format!("{escaped}%");
            let mut stmt = self.conn().prepare_cached(
                "SELECT sku FROM products
                 WHERE name LIKE ?1 ESCAPE '\\' OR brand LIKE ?1 ESCAPE '\\'
                    OR sku LIKE ?2 ESCAPE '\\'
                 ORDER BY (name LIKE ?2 ESCAPE '\\') DESC, name LIMIT ?3",
            )?;
            stmt.query_map(
                params![words, prefix, i64::try_from(limit).unwrap_or(i64::MAX)],
                |r| r.get(0),
            )?
            .collect::<rusqlite::Result<_>>()?
        };
        skus.into_iter()
            .take(limit)
            .map(|sku| self.product(&ProductSku::parse(sku)?))
            .collect()
    }

    /// Customers whose name, email or phone start with every word typed, best match first.
    /// An exact loyalty number finds its customer directly.
    pub fn search_customers(&self, query: &str, limit: usize) -> Result<Vec<CustomerSummary>> {
        self.search_customers_of(None, query, limit)
    }

    /// [`Store::search_customers`], among one store's customers only when `store` is given
    /// (the relay answering a tablet: its own store's, never the whole chain's).
    pub fn search_customers_of(
        &self,
        store: Option<&crate::model::StoreId>,
        query: &str,
        limit: usize,
    ) -> Result<Vec<CustomerSummary>> {
        let limit = limit.clamp(1, MAX_SEARCH_RESULTS);
        let query: String = query.chars().take(MAX_QUERY_CHARS).collect();
        let in_store = |c: &CustomerSummary| store.is_none_or(|s| c.home_store == *s);
        if let Ok(loyalty) = LoyaltyId::parse(&query)
            && let Ok(id) = self.identify(&crate::model::Identifier::Loyalty(loyalty))
        {
            return Ok(self.summary(&id)?.into_iter().filter(in_store).collect());
        }
        let Some(fts) = fts_prefix_query(&query) else {
            return Ok(Vec::new());
        };
        let mut stmt = self.conn().prepare_cached(
            "SELECT c.customer_id, c.name, c.loyalty_id, c.email, c.phone, c.home_store, c.tier
             FROM customer_search
             JOIN customers c ON c.rowid = customer_search.rowid
             WHERE customer_search MATCH ?1 AND (?3 IS NULL OR c.home_store = ?3)
             ORDER BY rank
             LIMIT ?2",
        )?;
        let rows = stmt.query_map(
            rusqlite::params![
                fts,
                i64::try_from(limit).unwrap_or(50),
                store.map(|s| s.as_str())
            ],
            row_to_summary,
        )?;
        rows.map(|r| r?).collect()
    }

    pub fn summary(&self, id: &CustomerId) -> Result<Option<CustomerSummary>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT customer_id, name, loyalty_id, email, phone, home_store, tier
             FROM customers WHERE customer_id = ?1",
        )?;
        let mut rows = stmt.query_map([id.as_str()], row_to_summary)?;
        rows.next().transpose()?.transpose()
    }
}

type SummaryRow = Result<CustomerSummary>;

/// A customer summary from the first seven columns of a `customers` row (in the order of
/// [`Store::summary`]'s query).
pub(crate) fn row_to_summary(r: &rusqlite::Row<'_>) -> rusqlite::Result<SummaryRow> {
    let id: String = r.get(0)?;
    let name: String = r.get(1)?;
    let loyalty: String = r.get(2)?;
    let email: Option<String> = r.get(3)?;
    let phone: Option<String> = r.get(4)?;
    let home_store: String = r.get(5)?;
    let tier: String = r.get(6)?;
    Ok((|| {
        Ok(CustomerSummary {
            id: CustomerId::parse(id)?,
            name,
            loyalty_id: LoyaltyId::parse(loyalty)?,
            email,
            phone,
            home_store: StoreId::parse(home_store)?,
            tier: match tier.as_str() {
                "gold" => Tier::Gold,
                "silver" => Tier::Silver,
                _ => Tier::Member,
            },
        })
    })())
}

/// Turns typed text into an FTS5 query: every word must match as a prefix. Characters FTS5
/// would read as syntax are dropped, so no input can make the query fail.
fn fts_prefix_query(text: &str) -> Option<String> {
    let terms: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .take(8)
        .map(|t| format!("\"{}\"*", t.to_lowercase()))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" AND "))
}

#[cfg(test)]
mod tests {
    use super::fts_prefix_query;

    #[test]
    fn queries_are_sanitised() {
        assert_eq!(
            fts_prefix_query("Anna B").as_deref(),
            Some("\"anna\"* AND \"b\"*")
        );
        assert_eq!(fts_prefix_query("\"*) OR (").as_deref(), Some("\"or\"*"));
        assert_eq!(fts_prefix_query("  -- "), None);
        assert_eq!(
            fts_prefix_query("anna.berg@ex").as_deref(),
            Some("\"anna\"* AND \"berg\"* AND \"ex\"*")
        );
    }
}
