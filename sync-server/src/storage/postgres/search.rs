//! Customer search on the shared database: PostgreSQL full-text search for what a tablet's
//! FTS5 finds (every typed word a prefix of a word of the name, email or phone), and
//! `pg_trgm` similarity for near spellings of a name. The rows are written with the
//! customer's chunk ([`super::write_through::write_customer_search`]).

use aisle_core::model::{CustomerId, CustomerSummary, LoyaltyId, StoreId, Tier};
use aisle_core::ops::MAX_SEARCH_RESULTS;
use aisle_core::validate::MAX_QUERY_CHARS;
use aisle_core::{DocId, Result};

use super::database::{Pool, storage_error};
use super::write_through::write_customer_search;
use crate::domain::RelayDocs;

/// Customers of `store` matching `query`, best first: an exact loyalty number, then prefix
/// matches by rank, then names spelled alike.
pub fn search(
    pool: &Pool,
    store: &StoreId,
    query: &str,
    limit: usize,
) -> Result<Vec<CustomerSummary>> {
    let limit = limit.clamp(1, MAX_SEARCH_RESULTS) as i64;
    let query: String = query.chars().take(MAX_QUERY_CHARS).collect();
    let Some(words) = prefix_query(&query) else {
        return Ok(Vec::new());
    };
    let loyalty = LoyaltyId::parse(query.trim()).ok().map(|l| l.to_string());
    let rows = pool
        .get()
        .map_err(storage_error)?
        .query(
            "WITH q AS (SELECT to_tsquery('simple', aisle_fold($1)) AS words,
                               aisle_fold($2) AS text)
             SELECT customer_id, name, loyalty_id, email, phone, home_store, tier
             FROM customer_search c, q
             WHERE c.home_store = $3
               AND (c.loyalty_id = $4 OR c.words @@ q.words OR q.text <% c.folded_name)
             ORDER BY c.loyalty_id = $4 IS TRUE DESC, c.words @@ q.words DESC,
                      ts_rank(c.words, q.words) DESC, word_similarity(q.text, c.folded_name) DESC,
                      c.name
             LIMIT $5",
            &[&words, &query.trim(), &store.as_str(), &loyalty, &limit],
        )
        .map_err(storage_error)?;
    rows.iter()
        .map(|r| {
            Ok(CustomerSummary {
                id: CustomerId::parse(r.get::<_, String>(0))?,
                name: r.get(1),
                loyalty_id: LoyaltyId::parse(r.get::<_, String>(2))?,
                email: r.get(3),
                phone: r.get(4),
                home_store: StoreId::parse(r.get::<_, String>(5))?,
                tier: match r.get::<_, &str>(6) {
                    "gold" => Tier::Gold,
                    "silver" => Tier::Silver,
                    _ => Tier::Member,
                },
            })
        })
        .collect()
}

/// Typed text as a `tsquery`: every word must match as a prefix. Only letters and digits are
/// kept, so no input can make the query fail to parse.
fn prefix_query(text: &str) -> Option<String> {
    let terms: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .take(8)
        .map(|t| format!("{}:*", t.to_lowercase()))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" & "))
}

/// How many customers are written per statement while filling.
const FILL_BATCH: usize = 1_000;

/// Fills the shared search from the working copy once, for a database whose customers were
/// written before it had a search (the migration marks it unfilled). Any relay may do it, more
/// than one at once: a row never replaces one of a newer document version.
pub fn fill_once(pool: &Pool, copy: &mut RelayDocs) -> anyhow::Result<()> {
    let mut client = pool.get()?;
    let filled: Option<String> = client
        .query_opt(
            "SELECT value FROM meta WHERE key = 'customer_search_filled'",
            &[],
        )?
        .map(|r| r.get(0));
    if filled.as_deref() != Some("no") {
        return Ok(());
    }
    let docs: Vec<(DocId, i64)> = {
        let mut stmt = copy.conn().prepare(
            "SELECT doc_id, version FROM shared_versions WHERE doc_id LIKE 'customer/%'",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        let mut docs = Vec::new();
        for row in rows {
            let (doc, version) = row?;
            docs.push((doc.parse()?, version));
        }
        docs
    };
    for part in docs.chunks(FILL_BATCH) {
        let mut tx = client.transaction()?;
        let part: Vec<(&DocId, i64)> = part.iter().map(|(d, v)| (d, *v)).collect();
        write_customer_search(&mut tx, copy.conn(), &part)?;
        tx.commit()?;
    }
    client.execute(
        "UPDATE meta SET value = 'yes' WHERE key = 'customer_search_filled'",
        &[],
    )?;
    tracing::info!(customers = docs.len(), "filled the shared customer search");
    Ok(())
}
