//! Every commit of a relay's working copy is first a commit to the shared database, inside
//! the working copy's own transaction: the documents' rows are locked in one fixed order (by
//! id, so two relays writing the same documents queue instead of deadlocking), their versions
//! are compared with the copy's, and only then are the new changes, the changefeed entries and
//! the ingest ledger written. A copy that is behind gets [`Stale`] and the write runs again
//! on the caught-up copy; nothing written elsewhere is overwritten or lost.
//!
//! The shared commit comes first: if the working copy then fails to commit, the follower
//! brings the change back from the database, as it does another relay's.

use aisle_core::store::projection;
use aisle_core::{CommitHook, CoreError, DocChange, DocId, Result};
use rusqlite::{OptionalExtension, Transaction, params};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::database::{MAX_WRITES_PER_TRANSACTION, POSITION_SQL, Pool, now_ms, storage_error};
use crate::domain::changefeed::SharedFeedLog;

/// The working copy's own tables: which version of each shared document it holds, and how
/// far along the shared changefeed it is.
pub const COPY_SCHEMA: aisle_core::RoleSchema = aisle_core::RoleSchema {
    role: "shared-copy",
    migrations: &["
        CREATE TABLE shared_versions (
            doc_id    TEXT PRIMARY KEY,
            version   INTEGER NOT NULL,
            -- The version this relay's devices were sent, by the follower.
            published INTEGER NOT NULL DEFAULT 0
        ) WITHOUT ROWID;
        CREATE TABLE shared_feed (
            id      INTEGER PRIMARY KEY CHECK (id = 1),
            feed_id TEXT NOT NULL,
            pos     INTEGER NOT NULL
        );
    "],
};

/// What a write found when it came to commit: documents written elsewhere since the copy
/// loaded them, and web shop events another relay applied first.
#[derive(Debug, Default)]
pub struct Stale {
    pub docs: Vec<DocId>,
    pub events: Vec<String>,
}

impl Stale {
    pub fn is_empty(&self) -> bool {
        self.docs.is_empty() && self.events.is_empty()
    }
}

/// What the working copy's writers, its hook and the follower share.
#[derive(Default)]
pub struct WriteState {
    /// The device whose push is being written (its change is not echoed back to it).
    pub origin: Option<String>,
    /// Set by the follower while it applies what the database has: record these versions,
    /// write nothing to the database.
    pub replay: Option<Vec<(DocId, i64)>>,
    pub stale: Stale,
}

pub type SharedWriteState = Arc<Mutex<WriteState>>;

pub fn lock(state: &SharedWriteState) -> MutexGuard<'_, WriteState> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

pub struct WriteThrough {
    pub pool: Pool,
    pub state: SharedWriteState,
    /// The relay's feed log: the event ids a commit records come from it.
    pub log: SharedFeedLog,
}

/// The version of a document the working copy holds (0 if none).
pub fn copy_version(tx: &rusqlite::Connection, doc: &str) -> Result<i64> {
    Ok(tx
        .query_row(
            "SELECT version FROM shared_versions WHERE doc_id = ?1",
            [doc],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(0))
}

fn set_copy_version(tx: &Transaction<'_>, doc: &str, version: i64) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO shared_versions (doc_id, version) VALUES (?1, ?2)
         ON CONFLICT (doc_id) DO UPDATE SET version = excluded.version",
    )?
    .execute(params![doc, version])?;
    Ok(())
}

/// Writes the shared search rows of the customers among `docs` (at their new versions) from
/// the projection the working copy just made in this transaction; a customer without a
/// profile any more (merged into another) leaves search.
pub fn write_customer_search(
    shared: &mut impl postgres::GenericClient,
    tx: &rusqlite::Connection,
    docs: &[(&DocId, i64)],
) -> Result<()> {
    let mut rows = CustomerSearchRows::default();
    let mut gone: Vec<String> = Vec::new();
    for (doc, version) in docs {
        let DocId::Customer(customer) = doc else {
            continue;
        };
        match projection::customer_search_row(tx, customer)? {
            Some((summary, phone_words)) => rows.push(doc, *version, summary, phone_words),
            None => gone.push(doc.to_string()),
        }
    }
    if !rows.doc_ids.is_empty() {
        shared
            .execute(
                "INSERT INTO customer_search (doc_id, version, customer_id, name, loyalty_id,
                     email, phone, phone_words, home_store, tier)
                 SELECT t.* FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[],
                     $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[])
                     AS t(doc_id)
                 -- A document erased since (a fill from a copy behind the erasure) is skipped.
                 WHERE EXISTS (SELECT 1 FROM docs WHERE docs.doc_id = t.doc_id)
                 ON CONFLICT (doc_id) DO UPDATE SET
                     version = excluded.version, customer_id = excluded.customer_id,
                     name = excluded.name, loyalty_id = excluded.loyalty_id,
                     email = excluded.email, phone = excluded.phone,
                     phone_words = excluded.phone_words, home_store = excluded.home_store,
                     tier = excluded.tier
                 WHERE customer_search.version <= excluded.version",
                &[
                    &rows.doc_ids,
                    &rows.versions,
                    &rows.customer_ids,
                    &rows.names,
                    &rows.loyalty_ids,
                    &rows.emails,
                    &rows.phones,
                    &rows.phone_words,
                    &rows.home_stores,
                    &rows.tiers,
                ],
            )
            .map_err(storage_error)?;
    }
    if !gone.is_empty() {
        shared
            .execute(
                "DELETE FROM customer_search WHERE doc_id = ANY($1)",
                &[&gone],
            )
            .map_err(storage_error)?;
    }
    Ok(())
}

/// Search rows as columns, for one `unnest` insert.
#[derive(Default)]
struct CustomerSearchRows {
    doc_ids: Vec<String>,
    versions: Vec<i64>,
    customer_ids: Vec<String>,
    names: Vec<String>,
    loyalty_ids: Vec<String>,
    emails: Vec<Option<String>>,
    phones: Vec<Option<String>>,
    phone_words: Vec<String>,
    home_stores: Vec<String>,
    tiers: Vec<&'static str>,
}

impl CustomerSearchRows {
    fn push(
        &mut self,
        doc: &DocId,
        version: i64,
        summary: aisle_core::model::CustomerSummary,
        phone_words: String,
    ) {
        self.doc_ids.push(doc.to_string());
        self.versions.push(version);
        self.customer_ids.push(summary.id.to_string());
        self.names.push(summary.name);
        self.loyalty_ids.push(summary.loyalty_id.to_string());
        self.emails.push(summary.email);
        self.phones.push(summary.phone);
        self.phone_words.push(phone_words);
        self.home_stores.push(summary.home_store.to_string());
        self.tiers.push(projection::tier_key(summary.tier));
    }
}

impl CommitHook for WriteThrough {
    fn in_transaction(&mut self, tx: &Transaction<'_>, changed: &[DocChange]) -> Result<()> {
        let mut state = lock(&self.state);
        if let Some(versions) = state.replay.take() {
            for (doc, version) in versions {
                set_copy_version(tx, &doc.to_string(), version)?;
            }
            return Ok(());
        }
        let events = std::mem::take(
            &mut self
                .log
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .event_marks,
        );
        if changed.is_empty() && events.is_empty() {
            return Ok(());
        }
        if changed.len() as i64 > MAX_WRITES_PER_TRANSACTION {
            return Err(CoreError::Internal(format!(
                "{} documents in one write; the changefeed takes at most {MAX_WRITES_PER_TRANSACTION}",
                changed.len()
            )));
        }
        let origin = state.origin.clone();
        let mut client = self.pool.get().map_err(storage_error)?;
        let mut shared = client.transaction().map_err(storage_error)?;

        let ids: Vec<String> = changed.iter().map(|c| c.doc.to_string()).collect();
        let kinds: Vec<&str> = changed.iter().map(|c| c.doc.kind()).collect();
        let mut scopes = Vec::with_capacity(changed.len());
        for change in changed {
            scopes.push(projection::scope_of(tx, &change.doc)?);
        }
        // New documents get their row first; then every row is locked, in id order.
        shared
            .execute(
                "INSERT INTO docs (doc_id, kind, scope)
                 SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) ORDER BY 1
                 ON CONFLICT (doc_id) DO NOTHING",
                &[&ids, &kinds, &scopes],
            )
            .map_err(storage_error)?;
        let locked = shared
            .query(
                "SELECT doc_id, version FROM docs WHERE doc_id = ANY($1)
                 ORDER BY doc_id FOR UPDATE",
                &[&ids],
            )
            .map_err(storage_error)?;
        let mut versions: HashMap<String, i64> =
            locked.iter().map(|r| (r.get(0), r.get(1))).collect();
        let erased = shared
            .query(
                "SELECT doc_id FROM erasures WHERE doc_id = ANY($1)",
                &[&ids],
            )
            .map_err(storage_error)?;
        if let Some(row) = erased.first() {
            let doc: String = row.get(0);
            let doc: DocId = doc.parse()?;
            return Err(aisle_core::store::not_found(&doc));
        }
        for change in changed {
            let id = change.doc.to_string();
            let shared_version = versions.get(&id).copied().unwrap_or(0);
            if copy_version(tx, &id)? != shared_version {
                state.stale.docs.push(change.doc.clone());
            }
        }

        let now = now_ms();
        let mut chunk_versions = Vec::with_capacity(changed.len());
        for change in changed {
            let version = versions.entry(change.doc.to_string()).or_insert(0);
            *version += 1;
            chunk_versions.push(*version);
        }
        let chunks: Vec<&[u8]> = changed.iter().map(|c| c.changes.as_slice()).collect();
        let heads: Vec<Vec<u8>> = changed
            .iter()
            .map(|c| aisle_core::store::chunks::encode_heads(&c.heads))
            .collect();
        if state.stale.docs.is_empty() && !changed.is_empty() {
            shared
                .execute(
                    "INSERT INTO doc_chunks (doc_id, version, bytes, written_at, origin)
                     SELECT d, v, b, $4, $5
                     FROM unnest($1::text[], $2::bigint[], $3::bytea[]) AS t(d, v, b)",
                    &[&ids, &chunk_versions, &chunks, &now, &origin],
                )
                .map_err(storage_error)?;
            // A document written twice in one commit keeps its last write's row.
            let mut last: HashMap<&str, usize> = HashMap::new();
            for (i, id) in ids.iter().enumerate() {
                last.insert(id, i);
            }
            let mut rows: Vec<usize> = last.into_values().collect();
            rows.sort_unstable();
            let row_ids: Vec<&str> = rows.iter().map(|&i| ids[i].as_str()).collect();
            let row_scopes: Vec<&str> = rows.iter().map(|&i| scopes[i].as_str()).collect();
            let row_versions: Vec<i64> = rows.iter().map(|&i| chunk_versions[i]).collect();
            let row_heads: Vec<&[u8]> = rows.iter().map(|&i| heads[i].as_slice()).collect();
            // The write's place in its transaction: the low bits of its feed position.
            let row_places: Vec<i64> = rows.iter().map(|&i| i as i64).collect();
            shared
                .execute(
                    "UPDATE docs SET version = t.v, heads = t.h, scope = t.s
                     FROM unnest($1::text[], $2::bigint[], $3::bytea[], $4::text[]) AS t(d, v, h, s)
                     WHERE docs.doc_id = t.d",
                    &[&row_ids, &row_versions, &row_heads, &row_scopes],
                )
                .map_err(storage_error)?;
            shared
                .execute(
                    &format!(
                        "INSERT INTO feed (doc_id, pos, scope, version)
                         SELECT d, {POSITION_SQL} + p, s, v
                         FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[]) AS t(d, p, s, v)
                         ON CONFLICT (doc_id) DO UPDATE
                         SET pos = excluded.pos, scope = excluded.scope, version = excluded.version"
                    ),
                    &[&row_ids, &row_places, &row_scopes, &row_versions],
                )
                .map_err(storage_error)?;
            for &i in &rows {
                set_copy_version(tx, &ids[i], chunk_versions[i])?;
            }
            let customers: Vec<(&DocId, i64)> = rows
                .iter()
                .map(|&i| (&changed[i].doc, chunk_versions[i]))
                .collect();
            write_customer_search(&mut shared, tx, &customers)?;
        }
        for event in &events {
            let inserted = shared
                .execute(
                    "INSERT INTO ingested_events (event_id, received_at) VALUES ($1, $2)
                     ON CONFLICT (event_id) DO NOTHING",
                    &[event, &now],
                )
                .map_err(storage_error)?;
            if inserted == 0 {
                state.stale.events.push(event.clone());
            }
            tx.execute(
                "INSERT OR IGNORE INTO ingested_events (event_id, received_at) VALUES (?1, ?2)",
                params![event, now],
            )?;
        }
        if !state.stale.is_empty() {
            // Dropping the shared transaction rolls it back; the working copy's follows.
            return Err(CoreError::Busy);
        }
        if !changed.is_empty() {
            // Payload-free: followers read the feed themselves, and identical notifications
            // of one transaction are sent once.
            shared
                .batch_execute("NOTIFY aisle_feed")
                .map_err(storage_error)?;
        }
        shared.commit().map_err(storage_error)?;
        Ok(())
    }

    // The follower fans out what committed, this relay's writes included, in feed order.
    fn committed(&mut self) {}
}
