//! Enrolled devices and one-time enrolment codes, in the relay's own SQLite file.
//!
//! A device enrols once with a short code an admin created; it gets a random bearer token,
//! stored here only as a SHA-256 hash, bound to a tenant, a store and a role. Revoking a
//! device refuses its token at once.

use aisle_core::model::StoreId;
use aisle_core::protocol::Role;
use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng;
use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};
use std::path::Path;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS devices (
    device_id   TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    tenant      TEXT NOT NULL,
    store_id    TEXT NOT NULL,
    role        TEXT NOT NULL,
    token_hash  BLOB NOT NULL UNIQUE,
    actor       BLOB NOT NULL,
    enrolled_at INTEGER NOT NULL,
    revoked_at  INTEGER,
    last_seen_at INTEGER
);
CREATE TABLE IF NOT EXISTS enrolment_codes (
    code_hash  BLOB PRIMARY KEY,
    tenant     TEXT NOT NULL,
    store_id   TEXT NOT NULL,
    role       TEXT NOT NULL,
    name       TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);
";

/// How long an enrolment code stays valid.
pub const CODE_LIFETIME_MS: i64 = 24 * 3_600_000;

/// An enrolled device, as every request is checked against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    pub id: String,
    pub name: String,
    pub tenant: String,
    pub store: StoreId,
    pub role: Role,
    /// The device's Automerge actor: the only author its pushes may carry.
    pub actor: Vec<u8>,
    pub revoked: bool,
    pub last_seen_at: Option<i64>,
}

/// Why a device could not enrol.
#[derive(Debug, thiserror::Error)]
pub enum EnrolError {
    /// The code (or the device's actor id) is not acceptable: the device's fault.
    #[error("{0}")]
    Refused(&'static str),
    #[error(transparent)]
    Storage(#[from] anyhow::Error),
}

impl From<rusqlite::Error> for EnrolError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Storage(e.into())
    }
}

pub struct Registry {
    conn: Connection,
}

pub(crate) fn hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Crockford base32 without look-alikes: easy to read off a screen and type on a tablet.
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTVWXYZ23456789";

pub(crate) fn new_code() -> String {
    let mut rng = rand::rng();
    (0..10)
        .map(|i| {
            let c = CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())] as char;
            if i == 5 {
                format!("-{c}")
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Codes are typed by people: ignore case, spaces and dashes.
pub(crate) fn normalise_code(code: &str) -> String {
    let mut out: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if out.len() == 10 {
        out.insert(5, '-');
    }
    out
}

/// id, name, tenant, store, role, actor, revoked_at, last_seen_at.
pub(crate) type DeviceRow = (
    String,
    String,
    String,
    String,
    String,
    Vec<u8>,
    Option<i64>,
    Option<i64>,
);

fn row_to_device(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeviceRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
    ))
}

pub(crate) fn device_from_row(row: DeviceRow) -> anyhow::Result<Device> {
    let (id, name, tenant, store, role, actor, revoked_at, last_seen_at) = row;
    Ok(Device {
        id,
        name,
        tenant,
        store: StoreId::parse(store)?,
        role: Role::parse(&role).context("unknown role in the registry")?,
        actor,
        revoked: revoked_at.is_some(),
        last_seen_at,
    })
}

/// A device's Automerge actor id, as it enrols with it.
pub(crate) fn check_actor(actor: &[u8]) -> Result<(), EnrolError> {
    if actor.is_empty() || actor.len() > 32 {
        return Err(EnrolError::Refused(
            "the device's actor id is missing or too long",
        ));
    }
    Ok(())
}

/// Whether a code found in the registry may still be spent.
pub(crate) fn check_code(used_at: Option<i64>, expires_at: i64) -> Result<(), EnrolError> {
    if used_at.is_some() {
        return Err(EnrolError::Refused("this enrolment code was already used"));
    }
    if expires_at < now_ms() {
        return Err(EnrolError::Refused("this enrolment code has expired"));
    }
    Ok(())
}

/// Changes are checked by author: a second device with the same actor could write changes
/// that pass as the first's (and the first's next change would be refused as a duplicate).
/// Two tablets restored from one backup would share one; revoked devices keep theirs. The
/// code stays unused, so the tablet can try again with a new actor.
pub(crate) const ACTOR_TAKEN: EnrolError = EnrolError::Refused(
    "another device already writes as this tablet's actor id (restored from a backup of another tablet?); reset the tablet's data and enrol again",
);

/// A new device's id and bearer token.
pub(crate) fn new_credentials() -> (String, String) {
    let mut secret = [0u8; 32];
    rand::rng().fill(&mut secret);
    let token = URL_SAFE_NO_PAD.encode(secret);
    let mut id_bytes = [0u8; 8];
    rand::rng().fill(&mut id_bytes);
    let device_id = format!("dev-{}", URL_SAFE_NO_PAD.encode(id_bytes).to_lowercase());
    (device_id, token)
}

pub(crate) const DEVICE_COLUMNS: &str =
    "device_id, name, tenant, store_id, role, actor, revoked_at, last_seen_at";

impl Registry {
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let conn = Connection::open(path)
            .with_context(|| format!("opening device registry {}", path.display()))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;",
        )?;
        conn.execute_batch(SCHEMA)?;
        conn.execute_batch(crate::audit::SCHEMA)?;
        Ok(Self { conn })
    }

    /// Appends an entry to the audit trail.
    pub fn record(&self, act: &crate::audit::Act) -> anyhow::Result<()> {
        Ok(crate::audit::append(&self.conn, act, now_ms())?)
    }

    /// The newest `limit` audit entries, of one store when given, oldest first.
    pub fn audit(
        &self,
        store: Option<&StoreId>,
        limit: usize,
    ) -> anyhow::Result<Vec<aisle_core::api::AuditEntry>> {
        Ok(crate::audit::entries(
            &self.conn,
            store.map(StoreId::as_str),
            limit,
        )?)
    }

    /// Creates a one-time enrolment code for a device of `store` with `role`.
    pub fn create_code(
        &self,
        tenant: &str,
        store: &StoreId,
        role: Role,
        name: &str,
    ) -> anyhow::Result<String> {
        let code = new_code();
        self.conn.execute(
            "INSERT INTO enrolment_codes (code_hash, tenant, store_id, role, name, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                hash(&code),
                tenant,
                store.as_str(),
                role.as_str(),
                name,
                now_ms() + CODE_LIFETIME_MS
            ],
        )?;
        Ok(code)
    }

    /// Redeems a code: the device is registered and its bearer token returned. A code works
    /// once, and not after it expires.
    pub fn enrol(&mut self, code: &str, actor: &[u8]) -> Result<(Device, String), EnrolError> {
        check_actor(actor)?;
        let code_hash = hash(&normalise_code(code));
        let tx = self.conn.transaction().map_err(anyhow::Error::from)?;
        let row: Option<(String, String, String, String, i64, Option<i64>)> = tx
            .query_row(
                "SELECT tenant, store_id, role, name, expires_at, used_at FROM enrolment_codes
                 WHERE code_hash = ?1",
                [&code_hash],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                },
            )
            .optional()?;
        let Some((tenant, store, role, name, expires_at, used_at)) = row else {
            return Err(EnrolError::Refused("unknown enrolment code"));
        };
        check_code(used_at, expires_at)?;
        let taken = tx
            .prepare_cached("SELECT 1 FROM devices WHERE tenant = ?1 AND actor = ?2")?
            .exists(params![tenant, actor])?;
        if taken {
            return Err(ACTOR_TAKEN);
        }
        let (device_id, token) = new_credentials();
        tx.execute(
            "UPDATE enrolment_codes SET used_at = ?2 WHERE code_hash = ?1",
            params![code_hash, now_ms()],
        )?;
        tx.execute(
            "INSERT INTO devices (device_id, name, tenant, store_id, role, token_hash, actor, enrolled_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![device_id, name, tenant, store, role, hash(&token), actor, now_ms()],
        )?;
        tx.commit()?;
        let device = self
            .device(&device_id)?
            .context("device vanished after enrolment")?;
        Ok((device, token))
    }

    /// The device a bearer token belongs to, if any (revoked devices included, marked).
    pub fn authenticate(&self, token: &str) -> anyhow::Result<Option<Device>> {
        let row = self
            .conn
            .query_row(
                &format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE token_hash = ?1"),
                [hash(token)],
                row_to_device,
            )
            .optional()?;
        row.map(device_from_row).transpose()
    }

    pub fn device(&self, id: &str) -> anyhow::Result<Option<Device>> {
        let row = self
            .conn
            .query_row(
                &format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE device_id = ?1"),
                [id],
                row_to_device,
            )
            .optional()?;
        row.map(device_from_row).transpose()
    }

    pub fn devices(&self) -> anyhow::Result<Vec<Device>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {DEVICE_COLUMNS} FROM devices ORDER BY enrolled_at"
        ))?;
        let rows = stmt.query_map([], row_to_device)?;
        rows.map(|r| device_from_row(r?)).collect()
    }

    /// Revokes a device; returns whether it existed and was not revoked yet.
    pub fn revoke(&self, id: &str) -> anyhow::Result<bool> {
        let changed = self.conn.execute(
            "UPDATE devices SET revoked_at = ?2 WHERE device_id = ?1 AND revoked_at IS NULL",
            params![id, now_ms()],
        )?;
        Ok(changed > 0)
    }

    /// Devices revoked at or after `since` (milliseconds), with when.
    pub fn revoked_since(&self, since: i64) -> anyhow::Result<Vec<(String, i64)>> {
        let mut stmt = self.conn.prepare(
            "SELECT device_id, revoked_at FROM devices WHERE revoked_at >= ?1 ORDER BY revoked_at",
        )?;
        let revoked = stmt
            .query_map([since], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(revoked)
    }

    pub fn is_revoked(&self, id: &str) -> anyhow::Result<bool> {
        let revoked: Option<Option<i64>> = self
            .conn
            .query_row(
                "SELECT revoked_at FROM devices WHERE device_id = ?1",
                [id],
                |r| r.get(0),
            )
            .optional()?;
        Ok(!matches!(revoked, Some(None)))
    }

    pub fn touch(&self, id: &str) -> anyhow::Result<()> {
        self.conn.execute(
            "UPDATE devices SET last_seen_at = ?2 WHERE device_id = ?1",
            params![id, now_ms()],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry() -> (tempfile::TempDir, Registry) {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::open(&dir.path().join("devices.sqlite3")).unwrap();
        (dir, registry)
    }

    #[test]
    fn codes_enrol_once_and_tokens_authenticate() {
        let (_dir, mut registry) = registry();
        let store = StoreId::parse("LDN-CG").unwrap();
        let code = registry
            .create_code("demo", &store, Role::Associate, "Tablet 1")
            .unwrap();
        let typed = code.to_lowercase().replace('-', " ");
        let (device, token) = registry.enrol(&typed, &[1; 16]).unwrap();
        assert_eq!(device.store, store);
        assert_eq!(device.role, Role::Associate);
        assert_eq!(
            registry.authenticate(&token).unwrap().unwrap().id,
            device.id
        );
        assert!(registry.authenticate("forged").unwrap().is_none());
        assert!(
            registry
                .enrol(&code, &[2; 16])
                .unwrap_err()
                .to_string()
                .contains("already used")
        );
        assert!(registry.enrol("NOPE-NOPE", &[2; 16]).is_err());
        // A second device may not take an actor id a device already has, revoked or not.
        let second = registry
            .create_code("demo", &store, Role::Associate, "Tablet 2")
            .unwrap();
        let refused = registry.enrol(&second, &[1; 16]).unwrap_err();
        assert!(refused.to_string().contains("actor id"), "{refused}");
        registry.enrol(&second, &[3; 16]).unwrap();
        assert!(registry.revoke(&device.id).unwrap());
        assert!(registry.authenticate(&token).unwrap().unwrap().revoked);
        assert!(registry.is_revoked(&device.id).unwrap());
        assert!(registry.is_revoked("unknown").unwrap());
    }
}
