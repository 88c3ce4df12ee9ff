//! The audit trail: security-relevant acts (enrolments, revocations, failed authentication,
//! erasures, merges, loyalty key changes, admin calls) in an append-only table of the device
//! registry's database. Triggers refuse any update or delete, so an entry, once written, stays
//! as it was. `aisle-relay admin audit` prints it; `GET /v1/admin/audit` serves it, and a
//! manager's tablet reads its own store's part at `GET /v1/store/audit`.

use aisle_core::api::{AuditAction, AuditEntry};
use rusqlite::{Connection, params};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS audit (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    at      INTEGER NOT NULL,
    actor   TEXT NOT NULL,
    store   TEXT,
    action  TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_by_store ON audit(store, seq);
CREATE TRIGGER IF NOT EXISTS audit_is_append_only_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_is_append_only_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
";

/// An act to record, before it has its sequence number and time.
#[derive(Clone, Debug)]
pub struct Act {
    pub actor: String,
    pub store: Option<String>,
    pub action: AuditAction,
    pub subject: String,
    pub detail: String,
}

impl Act {
    pub fn new(actor: impl Into<String>, action: AuditAction, subject: impl Into<String>) -> Self {
        Self {
            actor: actor.into(),
            store: None,
            action,
            subject: subject.into(),
            detail: String::new(),
        }
    }

    pub fn in_store(mut self, store: impl ToString) -> Self {
        self.store = Some(store.to_string());
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }
}

pub fn append(conn: &Connection, act: &Act, at: i64) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO audit (at, actor, store, action, subject, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            at,
            act.actor,
            act.store,
            act.action.as_str(),
            act.subject,
            act.detail
        ],
    )?;
    Ok(())
}

/// The newest `limit` entries (of one store when given), oldest first.
pub fn entries(
    conn: &Connection,
    store: Option<&str>,
    limit: usize,
) -> rusqlite::Result<Vec<AuditEntry>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, at, actor, store, action, subject, detail FROM (
           SELECT * FROM audit WHERE ?1 IS NULL OR store = ?1 ORDER BY seq DESC LIMIT ?2
         ) ORDER BY seq",
    )?;
    let rows = stmt.query_map(
        params![store, i64::try_from(limit).unwrap_or(i64::MAX)],
        |r| {
            let action: String = r.get(4)?;
            Ok(AuditEntry {
                seq: r.get(0)?,
                at: r.get(1)?,
                actor: r.get(2)?,
                store: r.get(3)?,
                // Written from `AuditAction::as_str`, which is its serde name.
                action: serde_json::from_value(serde_json::Value::String(action))
                    .unwrap_or(AuditAction::AdminCall),
                subject: r.get(5)?,
                detail: r.get(6)?,
            })
        },
    )?;
    rows.collect()
}

/// Failed authentications, counted so that a flood of forged tokens writes one entry a
/// minute, not one per request.
pub struct FailedAuth {
    window: Duration,
    state: Mutex<(Option<Instant>, u64)>,
}

impl Default for FailedAuth {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(60),
            state: Mutex::new((None, 0)),
        }
    }
}

impl FailedAuth {
    /// Counts one failure; returns how many to record now (this one included), or `None` while
    /// the minute since the last entry is not over.
    pub fn count(&self) -> Option<u64> {
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.1 += 1;
        match state.0 {
            Some(last) if now.duration_since(last) < self.window => None,
            _ => {
                let n = std::mem::take(&mut state.1);
                state.0 = Some(now);
                Some(n)
            }
        }
    }
}
