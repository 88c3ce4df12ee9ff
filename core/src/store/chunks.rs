//! Document persistence: a snapshot chunk followed by incremental change chunks, compacted into
//! one snapshot when the increments outgrow it.

use automerge::{ActorId, AutoCommit, ChangeHash};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::{DocWrite, Pending};
use crate::doc::DocId;
use crate::error::{CoreError, Result};
use crate::model::Millis;

/// Compact once this many incremental chunks pile up ...
const COMPACT_AFTER_CHUNKS: i64 = 64;
/// ... or once increments are larger than the snapshot and this many bytes.
const COMPACT_AFTER_BYTES: i64 = 32 * 1024;

pub fn encode_heads(heads: &[ChangeHash]) -> Vec<u8> {
    heads.iter().flat_map(|h| h.0).collect()
}

pub fn decode_heads(bytes: &[u8], id: &DocId) -> Result<Vec<ChangeHash>> {
    if !bytes.len().is_multiple_of(32) {
        return Err(CoreError::Corrupt {
            doc: id.to_string(),
            reason: "stored heads are not a whole number of hashes".into(),
        });
    }
    Ok(bytes
        .chunks_exact(32)
        .map(|c| {
            let mut h = [0u8; 32];
            h.copy_from_slice(c);
            ChangeHash(h)
        })
        .collect())
}

/// Loads a document: its chunks, then any pending changes still waiting for dependencies.
/// Returns the document and the heads of what is in its chunks, which is what a later
/// `save_after` must start from: a pending change that applies now is not in the chunks yet.
pub fn load(
    conn: &Connection,
    id: &DocId,
    actor: &ActorId,
) -> Result<Option<(AutoCommit, Vec<ChangeHash>)>> {
    let mut stmt =
        conn.prepare_cached("SELECT data FROM doc_chunks WHERE doc_id = ?1 ORDER BY seq")?;
    let mut rows = stmt.query([id.to_string()])?;
    let mut bytes = Vec::new();
    let mut any = false;
    while let Some(row) = rows.next()? {
        let data = row.get_ref(0)?.as_blob().map_err(rusqlite::Error::from)?;
        bytes.extend_from_slice(data);
        any = true;
    }
    let mut doc = if any {
        AutoCommit::load(&bytes).map_err(|e| CoreError::Corrupt {
            doc: id.to_string(),
            reason: e.to_string(),
        })?
    } else {
        AutoCommit::new()
    }
    .with_actor(actor.clone());
    let stored_heads = doc.get_heads();
    let mut stmt =
        conn.prepare_cached("SELECT data FROM doc_pending WHERE doc_id = ?1 ORDER BY id")?;
    let mut rows = stmt.query([id.to_string()])?;
    let mut any_pending = false;
    while let Some(row) = rows.next()? {
        any_pending = true;
        let data = row.get_ref(0)?.as_blob().map_err(rusqlite::Error::from)?;
        // Pending chunks were parsed when they arrived; one that no longer loads is only a
        // missed optimisation, the next sync session sends its changes again.
        if let Err(e) = doc.load_incremental(data) {
            tracing::warn!(doc = %id, error = %e, "dropping an unreadable pending change");
        }
    }
    if !any && !any_pending {
        return Ok(None);
    }
    Ok(Some((doc, stored_heads)))
}

/// Most bytes of pending changes kept per document; beyond it they are dropped and the next
/// sync session sends them again.
const MAX_PENDING_BYTES: usize = 16 * 1024 * 1024;

/// Records received chunks that could not apply yet, or clears them once they all have.
pub fn update_pending(tx: &Transaction<'_>, id: &DocId, pending: &Pending) -> Result<()> {
    let doc_id = id.to_string();
    match pending {
        Pending::Unchanged => {}
        Pending::Clear => {
            tx.prepare_cached("DELETE FROM doc_pending WHERE doc_id = ?1")?.execute([&doc_id])?;
        }
        Pending::Add(chunks) => {
            let stored: i64 = tx.prepare_cached("SELECT COALESCE(SUM(LENGTH(data)), 0) FROM doc_pending WHERE doc_id = ?1")?.query_row([&doc_id],
                |r| r.get(0),
            )?;
            let adding: usize = chunks.iter().map(Vec::len).sum();
            if usize::try_from(stored)
                .unwrap_or(usize::MAX)
                .saturating_add(adding)
                > MAX_PENDING_BYTES
            {
                tx.prepare_cached("DELETE FROM doc_pending WHERE doc_id = ?1")?.execute([&doc_id])?;
                return Ok(());
            }
            let mut insert =
                tx.prepare_cached("INSERT INTO doc_pending (doc_id, data) VALUES (?1, ?2)")?;
            for chunk in chunks {
                insert.execute(params![doc_id, chunk])?;
            }
        }
    }
    Ok(())
}

struct DocRow {
    snapshot_bytes: i64,
    incremental_bytes: i64,
    incremental_chunks: i64,
    next_seq: i64,
}

/// Appends the write's new changes as a chunk (the whole document for a new one) and updates
/// its `docs` row; compacts when due. Returns the new changes, for peers that had
/// `heads_before`.
pub fn append(tx: &Transaction<'_>, write: &mut DocWrite, now: Millis) -> Result<Vec<u8>> {
    let doc_id = write.id.to_string();
    let row = tx
        .query_row(
            "SELECT snapshot_bytes, incremental_bytes, incremental_chunks, next_seq
             FROM docs WHERE doc_id = ?1",
            [&doc_id],
            |r| {
                Ok(DocRow {
                    snapshot_bytes: r.get(0)?,
                    incremental_bytes: r.get(1)?,
                    incremental_chunks: r.get(2)?,
                    next_seq: r.get(3)?,
                })
            },
        )
        .optional()?;
    let Some(row) = row else {
        if let Some(bytes) = write.as_received.take() {
            store_as_received(tx, &write.id, &bytes, &write.doc.get_heads(), now)?;
            return Ok(bytes);
        }
        return replace_with_snapshot(tx, &write.id, &mut write.doc, now);
    };
    let chunk = write.doc.save_after(&write.heads_before);
    if chunk.is_empty() {
        return Ok(chunk);
    }
    let chunk_len = i64::try_from(chunk.len()).unwrap_or(i64::MAX);
    let incremental_bytes = row.incremental_bytes + chunk_len;
    let incremental_chunks = row.incremental_chunks + 1;
    if incremental_chunks >= COMPACT_AFTER_CHUNKS
        || (incremental_bytes > row.snapshot_bytes && incremental_bytes > COMPACT_AFTER_BYTES)
    {
        replace_with_snapshot(tx, &write.id, &mut write.doc, now)?;
        return Ok(chunk);
    }
    let heads = encode_heads(&write.doc.get_heads());
    tx.prepare_cached("INSERT INTO doc_chunks (doc_id, seq, data, heads) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![doc_id, row.next_seq, chunk, heads])?;
    tx.prepare_cached("UPDATE docs SET heads = ?2, incremental_bytes = ?3, incremental_chunks = ?4,
                next_seq = ?5, updated_at = ?6
         WHERE doc_id = ?1")?.execute(params![
            doc_id,
            heads,
            incremental_bytes,
            incremental_chunks,
            row.next_seq + 1,
            now
        ],
    )?;
    Ok(chunk)
}

/// Writes the whole document as one snapshot chunk, replacing any earlier chunks. Returns the
/// snapshot.
pub fn replace_with_snapshot(
    tx: &Transaction<'_>,
    id: &DocId,
    doc: &mut AutoCommit,
    now: Millis,
) -> Result<Vec<u8>> {
    let doc_id = id.to_string();
    let snapshot = doc.save();
    let heads = encode_heads(&doc.get_heads());
    let next_seq: i64 = tx
        .query_row(
            "SELECT next_seq FROM docs WHERE doc_id = ?1",
            [&doc_id],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(0);
    tx.prepare_cached("INSERT INTO docs (doc_id, kind, heads, snapshot_bytes, incremental_bytes,
                           incremental_chunks, next_seq, updated_at)
         VALUES (?1, ?2, ?3, ?4, 0, 0, ?5, ?6)
         ON CONFLICT (doc_id) DO UPDATE SET heads = excluded.heads,
             snapshot_bytes = excluded.snapshot_bytes, incremental_bytes = 0,
             incremental_chunks = 0, next_seq = excluded.next_seq,
             updated_at = excluded.updated_at")?.execute(params![
            doc_id,
            id.kind(),
            heads,
            i64::try_from(snapshot.len()).unwrap_or(i64::MAX),
            next_seq + 1,
            now
        ],
    )?;
    tx.prepare_cached("DELETE FROM doc_chunks WHERE doc_id = ?1")?.execute([&doc_id])?;
    tx.prepare_cached("INSERT INTO doc_chunks (doc_id, seq, data, heads) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![doc_id, next_seq, snapshot, heads])?;
    Ok(snapshot)
}

/// Stores a new document as the bytes it arrived in (already compressed and loadable).
pub(crate) fn store_as_received(
    tx: &Transaction<'_>,
    id: &DocId,
    bytes: &[u8],
    heads: &[ChangeHash],
    now: Millis,
) -> Result<()> {
    let doc_id = id.to_string();
    let heads = encode_heads(heads);
    tx.prepare_cached("INSERT INTO docs (doc_id, kind, heads, snapshot_bytes, incremental_bytes,
                           incremental_chunks, next_seq, updated_at)
         VALUES (?1, ?2, ?3, ?4, 0, 0, 1, ?5)")?.execute(params![
            doc_id,
            id.kind(),
            heads,
            i64::try_from(bytes.len()).unwrap_or(i64::MAX),
            now
        ],
    )?;
    tx.prepare_cached("INSERT INTO doc_chunks (doc_id, seq, data, heads) VALUES (?1, 0, ?2, ?3)")?
        .execute(params![doc_id, bytes, heads])?;
    Ok(())
}

/// The stored bytes of a document (its chunks, concatenated; loadable as is) and its heads,
/// without loading it into Automerge.
pub fn stored_bytes(conn: &Connection, id: &DocId) -> Result<Option<(Vec<u8>, Vec<ChangeHash>)>> {
    let heads: Option<Vec<u8>> = conn
        .query_row(
            "SELECT heads FROM docs WHERE doc_id = ?1",
            [id.to_string()],
            |r| r.get(0),
        )
        .optional()?;
    let Some(heads) = heads else {
        return Ok(None);
    };
    let mut stmt =
        conn.prepare_cached("SELECT data FROM doc_chunks WHERE doc_id = ?1 ORDER BY seq")?;
    let mut rows = stmt.query([id.to_string()])?;
    let mut bytes = Vec::new();
    while let Some(row) = rows.next()? {
        bytes.extend_from_slice(row.get_ref(0)?.as_blob().map_err(rusqlite::Error::from)?);
    }
    Ok(Some((bytes, decode_heads(&heads, id)?)))
}

/// What a peer whose heads are `have` lacks of a document, as stored: the chunks after the one
/// that left the document at exactly `have`, concatenated (loadable as they are), without
/// loading the document. `None` if no chunk did (the peer is elsewhere in the history, the
/// chunks since were compacted, or they were written before chunks kept their heads): the
/// caller loads the document and asks it.
pub fn stored_after(
    conn: &Connection,
    id: &DocId,
    have: &[ChangeHash],
) -> Result<Option<Vec<u8>>> {
    let mut want = have.to_vec();
    want.sort_unstable();
    want.dedup();
    let mut stmt = conn
        .prepare_cached("SELECT heads, data FROM doc_chunks WHERE doc_id = ?1 ORDER BY seq")?;
    let mut rows = stmt.query([id.to_string()])?;
    let mut after: Option<Vec<u8>> = None;
    while let Some(row) = rows.next()? {
        if let Some(bytes) = &mut after {
            bytes.extend_from_slice(row.get_ref(1)?.as_blob().map_err(rusqlite::Error::from)?);
            continue;
        }
        let Some(heads) = row.get_ref(0)?.as_blob_or_null().map_err(rusqlite::Error::from)? else {
            continue;
        };
        let mut heads = decode_heads(heads, id)?;
        heads.sort_unstable();
        if heads == want {
            after = Some(Vec::new());
        }
    }
    Ok(after)
}
