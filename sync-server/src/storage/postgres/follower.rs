//! Follows the shared changefeed: one thread per relay, on a connection of its own that
//! listens for the payload-free `aisle_feed` notification and otherwise polls.
//!
//! Each round reads the commit horizon (the oldest transaction still running), then the feed
//! and erasure entries between its position and the horizon, in position order. What another
//! relay wrote is brought into the working copy; every entry, this relay's own writes
//! included, goes to the hub for the relay's devices; then the position moves on. Nothing
//! below the horizon can still appear, so no device is sent past a change it has not had.

use aisle_core::replicate::Unchecked;
use aisle_core::{DocChange, DocId, Result};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::Inner;
use super::database::{self, Client, Pool, now_ms, storage_error};
use super::write_through::{self, SharedWriteState};
use crate::domain::RelayDocs;
use crate::domain::changefeed::Committed;

/// How long the follower waits for a notification before it looks anyway (a notification is
/// lost when its connection drops).
const POLL: Duration = Duration::from_millis(250);

/// Entries read per round.
const PAGE: i64 = 500;

/// Readiness fails when the follower has not read the horizon for this long.
pub const STALE_AFTER_MS: i64 = 10_000;

/// Where the working copy is along the feed of `feed_id`; `None` if it follows another feed
/// (or none yet).
pub fn position(copy: &RelayDocs, feed_id: &str) -> Result<Option<i64>> {
    use rusqlite::OptionalExtension;
    let row: Option<(String, i64)> = copy
        .conn()
        .query_row(
            "SELECT feed_id, pos FROM shared_feed WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    Ok(row.and_then(|(id, pos)| (id == feed_id).then_some(pos)))
}

pub fn set_position(copy: &RelayDocs, feed_id: &str, pos: i64) -> Result<()> {
    copy.conn().execute(
        "INSERT INTO shared_feed (id, feed_id, pos) VALUES (1, ?1, ?2)
         ON CONFLICT (id) DO UPDATE SET feed_id = excluded.feed_id, pos = excluded.pos",
        rusqlite::params![feed_id, pos],
    )?;
    Ok(())
}

/// Changes of documents in the database after the versions the copy has: per document, the
/// new version and the chunks' bytes.
pub type Fetched = Vec<(DocId, i64, Vec<u8>)>;

/// Per fetched document, the device all its fetched chunks came from, if one did: the only
/// device that need not be sent them.
type Origins = HashMap<String, Option<String>>;

/// Reads, in one query, the chunks of each `(document, version held)` after that version
/// (after compaction, the snapshot that folded it and what followed).
pub fn fetch_changes(pool: &Pool, wanted: &[(String, i64)]) -> Result<Fetched> {
    let mut client = pool.get().map_err(storage_error)?;
    Ok(fetch_with(&mut client, wanted)?.0)
}

/// Per `(document, version held)`, every chunk after it (a later write than the feed row's
/// included: the change is then sent at the earlier position, which is safe, since the
/// device holds it before its cursor passes the later one).
fn fetch_with(client: &mut Client, wanted: &[(String, i64)]) -> Result<(Fetched, Origins)> {
    let mut origins = Origins::new();
    if wanted.is_empty() {
        return Ok((Vec::new(), origins));
    }
    let ids: Vec<&str> = wanted.iter().map(|(d, _)| d.as_str()).collect();
    let have: Vec<i64> = wanted.iter().map(|(_, v)| *v).collect();
    let rows = client
        .query(
            "SELECT c.doc_id, c.version, c.bytes, c.origin
             FROM unnest($1::text[], $2::bigint[]) AS w(doc_id, have)
             JOIN doc_chunks c ON c.doc_id = w.doc_id AND c.version > w.have
             ORDER BY c.doc_id, c.version",
            &[&ids, &have],
        )
        .map_err(storage_error)?;
    let mut fetched: Fetched = Vec::new();
    for row in rows {
        let doc: String = row.get(0);
        let version: i64 = row.get(1);
        let bytes: Vec<u8> = row.get(2);
        let origin: Option<String> = row.get(3);
        match origins.get_mut(&doc) {
            Some(all_from) if *all_from != origin => *all_from = None,
            Some(_) => {}
            None => {
                origins.insert(doc.clone(), origin);
            }
        }
        match fetched.last_mut() {
            Some((last, v, all)) if last.to_string() == doc => {
                *v = version;
                all.extend(bytes);
            }
            _ => fetched.push((doc.parse()?, version, bytes)),
        }
    }
    Ok((fetched, origins))
}

/// Brings fetched changes into the working copy in one transaction, recording the versions;
/// returns each document's change as devices receive it.
pub fn apply_fetched(
    copy: &mut RelayDocs,
    writes: &SharedWriteState,
    fetched: Fetched,
) -> Result<Vec<DocChange>> {
    if fetched.is_empty() {
        return Ok(Vec::new());
    }
    let versions = fetched.iter().map(|(d, v, _)| (d.clone(), *v)).collect();
    let batch: Vec<(DocId, Vec<u8>)> = fetched
        .iter()
        .map(|(d, _, bytes)| (d.clone(), bytes.clone()))
        .collect();
    write_through::lock(writes).replay = Some(versions);
    let applied = copy.apply_changes(batch, &Unchecked);
    // Not left for the next write if the apply failed before committing.
    write_through::lock(writes).replay = None;
    let applied = applied?;
    Ok(applied
        .into_iter()
        .zip(fetched)
        .map(|(applied, (doc, _, changes))| DocChange {
            doc,
            heads: applied.heads,
            heads_before: Vec::new(),
            changes,
        })
        .collect())
}

/// The version of a document the copy holds and the version its devices were sent.
fn copy_versions_of(conn: &rusqlite::Connection, doc: &str) -> Result<(i64, i64)> {
    use rusqlite::OptionalExtension;
    Ok(conn
        .query_row(
            "SELECT version, published FROM shared_versions WHERE doc_id = ?1",
            [doc],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
        .unwrap_or((0, 0)))
}

/// Removes an erased document from the working copy.
pub fn forget(copy: &mut RelayDocs, doc: &DocId) -> Result<()> {
    if copy.has_doc(doc)? {
        copy.forget_doc(doc, |tx| {
            tx.execute(
                "DELETE FROM shared_versions WHERE doc_id = ?1",
                [doc.to_string()],
            )?;
            Ok(())
        })?;
    }
    Ok(())
}

pub fn spawn(
    database: database::Database,
    feed_id: String,
    inner: Arc<Inner>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<std::thread::JoinHandle<()>> {
    Ok(std::thread::Builder::new()
        .name("changefeed-follower".into())
        .spawn(move || follow(&database, &feed_id, &inner, &stop))?)
}

/// How often a following relay checks that the database is still the one it started on.
const IDENTITY_CHECK_EVERY: Duration = Duration::from_secs(10);

fn follow(database: &database::Database, feed_id: &str, inner: &Inner, stop: &AtomicBool) {
    let mut backoff = Duration::from_millis(100);
    while !stop.load(Ordering::Acquire) {
        let mut client = match database.connect().and_then(|mut c| {
            c.batch_execute("LISTEN aisle_feed")?;
            Ok(c)
        }) {
            Ok(client) => client,
            Err(e) => {
                failed(&mut backoff, "cannot connect", &format!("{e:#}"));
                continue;
            }
        };
        let mut checked = std::time::Instant::now() - IDENTITY_CHECK_EVERY;
        let mut more = true;
        while !stop.load(Ordering::Acquire) {
            if checked.elapsed() >= IDENTITY_CHECK_EVERY {
                match database::feed_identity(&mut client) {
                    Ok(identity) if identity != feed_id => {
                        tracing::error!(
                            was = feed_id,
                            now = identity,
                            "the database was restored or failed over; this relay's working copy is of another history: restart the relay"
                        );
                        inner.identity_changed.store(true, Ordering::Release);
                        return;
                    }
                    Ok(_) => checked = std::time::Instant::now(),
                    Err(e) => {
                        failed(
                            &mut backoff,
                            "reading the feed's identity",
                            &format!("{e:#}"),
                        );
                        break;
                    }
                }
            }
            if !more {
                wait_for_notification(&mut client);
            }
            match round(&mut client, feed_id, inner) {
                Ok(full_page) => {
                    more = full_page;
                    backoff = Duration::from_millis(100);
                }
                Err(e) => {
                    failed(&mut backoff, "a round failed", &e);
                    break;
                }
            }
        }
    }
}

/// Every failure waits, growing to 5 s: a database down, or a round that keeps failing (a disk
/// full under the working copy), must not become a loop of reconnects.
fn failed(backoff: &mut Duration, what: &str, e: &dyn std::fmt::Display) {
    tracing::warn!("changefeed follower: {what}: {e}; trying again in {backoff:?}");
    std::thread::sleep(*backoff);
    *backoff = (*backoff * 2).min(Duration::from_secs(5));
}

/// Waits up to [`POLL`] for a notification, then takes every one already received: any
/// number of commits wake one round.
fn wait_for_notification(client: &mut Client) {
    use postgres::fallible_iterator::FallibleIterator;
    let mut notifications = client.notifications();
    let _ = notifications.timeout_iter(POLL).next();
    let mut queued = notifications.iter();
    while let Ok(Some(_)) = queued.next() {}
}

/// One round; whether it read a full page (more may be waiting).
pub(super) fn round(client: &mut Client, feed_id: &str, inner: &Inner) -> Result<bool> {
    let (horizon, oldest) = database::horizon(client).map_err(storage_error)?;
    inner.horizon.store(horizon, Ordering::Release);
    inner.oldest_transaction_ms.store(oldest, Ordering::Release);
    let from = inner.followed.load(Ordering::Acquire);
    if horizon <= from + 1 {
        inner.horizon_read_at.store(now_ms(), Ordering::Release);
        return Ok(false);
    }
    let rows = client
        .query(
            "SELECT doc_id, pos, scope, version, false FROM feed
               WHERE pos > $1 AND pos < $2
             UNION ALL
             SELECT doc_id, pos, scope, 0, true FROM erasures
               WHERE pos > $1 AND pos < $2
             ORDER BY 2 LIMIT $3",
            &[&from, &horizon, &PAGE],
        )
        .map_err(storage_error)?;
    let full_page = rows.len() as i64 == PAGE;
    let until = match rows.last() {
        Some(last) if full_page => last.get::<_, i64>(1),
        _ => horizon - 1,
    };

    let mut copy = inner.copy();
    // What this relay's devices have not been sent, and of it what the copy lacks.
    let mut wanted = Vec::new();
    let mut copy_versions = HashMap::new();
    for row in rows.iter().filter(|r| !r.get::<_, bool>(4)) {
        let doc: String = row.get(0);
        let (version, published) = copy_versions_of(copy.conn(), &doc)?;
        if published < row.get::<_, i64>(3) {
            wanted.push((doc.clone(), published));
        }
        copy_versions.insert(doc, version);
    }
    let (fetched, mut origins) = fetch_with(client, &wanted)?;
    let lacking: Fetched = fetched
        .iter()
        .filter(|(doc, version, _)| {
            copy_versions
                .get(&doc.to_string())
                .is_some_and(|v| v < version)
        })
        .cloned()
        .collect();
    apply_fetched(&mut copy, &inner.writes, lacking)?;
    let mut changes = HashMap::new();
    for (doc, version, bytes) in fetched {
        let key = doc.to_string();
        copy.conn().execute(
            "UPDATE shared_versions SET published = ?2 WHERE doc_id = ?1",
            rusqlite::params![key, version],
        )?;
        let heads = copy.doc_heads(&doc)?;
        changes.insert(
            key,
            DocChange {
                doc,
                heads,
                heads_before: Vec::new(),
                changes: bytes,
            },
        );
    }
    let mut erased = Vec::new();
    let mut publish = Vec::new();
    for row in &rows {
        let doc: String = row.get(0);
        let pos: i64 = row.get(1);
        let scope: String = row.get(2);
        if row.get::<_, bool>(4) {
            let id: DocId = doc.parse()?;
            forget(&mut copy, &id)?;
            erased.push((doc, scope));
        } else if let Some(change) = changes.remove(&doc) {
            let origin = origins.remove(&doc).flatten();
            publish.push((
                origin,
                Committed {
                    change,
                    seq: pos,
                    scope,
                },
            ));
        }
    }
    // Where devices may read up to moves first: a session subscribing between the two would
    // otherwise miss these both live and in its backlog.
    set_position(&copy, feed_id, until)?;
    inner.followed.store(until, Ordering::Release);
    drop(copy);
    for (origin, commit) in publish {
        inner.hub.publish(origin.as_deref(), vec![commit]);
    }
    for (doc, scope) in erased {
        inner.hub.erase(&doc, &scope);
    }
    // Readiness goes by completed rounds: a follower that reads the horizon but cannot apply
    // what is below it is not following.
    inner.horizon_read_at.store(now_ms(), Ordering::Release);
    Ok(full_page)
}
