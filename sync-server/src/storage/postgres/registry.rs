//! The device registry and the audit trail in the shared database: a device enrolled
//! through one relay authenticates at every other, and a revocation through one reaches all.
//! The rules are the embedded registry's (`crate::registry`); only the SQL differs.

use aisle_core::api::{AuditAction, AuditEntry};
use aisle_core::model::StoreId;
use aisle_core::protocol::Role;
use anyhow::Context;

use super::database::{Pool, now_ms};
use crate::audit::Act;
use crate::registry::{
    ACTOR_TAKEN, CODE_LIFETIME_MS, DEVICE_COLUMNS, Device, DeviceRow, EnrolError, check_actor,
    check_code, device_from_row, hash, new_code, new_credentials, normalise_code,
};

/// The database's clock, in ms since the epoch.
const DATABASE_NOW_MS: &str = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::bigint";

pub struct PgRegistry {
    pool: Pool,
}

fn device_row(row: &postgres::Row) -> DeviceRow {
    (
        row.get(0),
        row.get(1),
        row.get(2),
        row.get(3),
        row.get(4),
        row.get(5),
        row.get(6),
        row.get(7),
    )
}

impl PgRegistry {
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }

    fn client(&self) -> anyhow::Result<r2d2::PooledConnection<super::database::Manager>> {
        self.pool.get().context("no database connection")
    }

    pub fn record(&self, act: &Act) -> anyhow::Result<()> {
        self.client()?.execute(
            "INSERT INTO audit (at, actor, store, action, subject, detail)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &now_ms(),
                &act.actor,
                &act.store,
                &act.action.as_str(),
                &act.subject,
                &act.detail,
            ],
        )?;
        Ok(())
    }

    pub fn audit(&self, store: Option<&StoreId>, limit: usize) -> anyhow::Result<Vec<AuditEntry>> {
        let rows = self.client()?.query(
            "SELECT seq, at, actor, store, action, subject, detail FROM (
               SELECT * FROM audit WHERE $1::text IS NULL OR store = $1
               ORDER BY seq DESC LIMIT $2
             ) newest ORDER BY seq",
            &[
                &store.map(StoreId::as_str),
                &i64::try_from(limit).unwrap_or(i64::MAX),
            ],
        )?;
        Ok(rows
            .iter()
            .map(|r| AuditEntry {
                seq: r.get(0),
                at: r.get(1),
                actor: r.get(2),
                store: r.get(3),
                // Written from `AuditAction::as_str`, which is its serde name.
                action: serde_json::from_value(serde_json::Value::String(r.get(4)))
                    .unwrap_or(AuditAction::AdminCall),
                subject: r.get(5),
                detail: r.get(6),
            })
            .collect())
    }

    pub fn create_code(
        &self,
        tenant: &str,
        store: &StoreId,
        role: Role,
        name: &str,
    ) -> anyhow::Result<String> {
        let code = new_code();
        self.client()?.execute(
            "INSERT INTO enrolment_codes (code_hash, tenant, store_id, role, name, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &hash(&code),
                &tenant,
                &store.as_str(),
                &role.as_str(),
                &name,
                &(now_ms() + CODE_LIFETIME_MS),
            ],
        )?;
        Ok(code)
    }

    pub fn enrol(&self, code: &str, actor: &[u8]) -> Result<(Device, String), EnrolError> {
        check_actor(actor)?;
        let code_hash = hash(&normalise_code(code));
        let mut client = self.client()?;
        let mut tx = client.transaction().map_err(anyhow::Error::from)?;
        // FOR UPDATE: two relays spending the same code at once enrol one device.
        let row = tx
            .query_opt(
                "SELECT tenant, store_id, role, name, expires_at, used_at FROM enrolment_codes
                 WHERE code_hash = $1 FOR UPDATE",
                &[&code_hash],
            )
            .map_err(anyhow::Error::from)?;
        let Some(row) = row else {
            return Err(EnrolError::Refused("unknown enrolment code"));
        };
        let (tenant, store, role, name): (String, String, String, String) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        check_code(row.get(5), row.get(4))?;
        let taken = tx
            .query_opt(
                "SELECT 1 FROM devices WHERE tenant = $1 AND actor = $2",
                &[&tenant, &actor],
            )
            .map_err(anyhow::Error::from)?
            .is_some();
        if taken {
            return Err(ACTOR_TAKEN);
        }
        let (device_id, token) = new_credentials();
        let now = now_ms();
        tx.execute(
            "UPDATE enrolment_codes SET used_at = $2 WHERE code_hash = $1",
            &[&code_hash, &now],
        )
        .map_err(anyhow::Error::from)?;
        // Two relays enrolling the same actor at once: the unique index lets one through.
        if let Err(e) = tx.execute(
            "INSERT INTO devices (device_id, name, tenant, store_id, role, token_hash, actor, enrolled_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[&device_id, &name, &tenant, &store, &role, &hash(&token), &actor, &now],
        ) {
            if e.code() == Some(&postgres::error::SqlState::UNIQUE_VIOLATION) {
                return Err(ACTOR_TAKEN);
            }
            return Err(EnrolError::Storage(e.into()));
        }
        tx.commit().map_err(anyhow::Error::from)?;
        drop(client);
        let device = self
            .device(&device_id)?
            .context("device vanished after enrolment")?;
        Ok((device, token))
    }

    pub fn authenticate(&self, token: &str) -> anyhow::Result<Option<Device>> {
        let row = self.client()?.query_opt(
            &format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE token_hash = $1"),
            &[&hash(token)],
        )?;
        row.map(|r| device_from_row(device_row(&r))).transpose()
    }

    pub fn device(&self, id: &str) -> anyhow::Result<Option<Device>> {
        let row = self.client()?.query_opt(
            &format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE device_id = $1"),
            &[&id],
        )?;
        row.map(|r| device_from_row(device_row(&r))).transpose()
    }

    pub fn devices(&self) -> anyhow::Result<Vec<Device>> {
        let rows = self.client()?.query(
            &format!("SELECT {DEVICE_COLUMNS} FROM devices ORDER BY enrolled_at"),
            &[],
        )?;
        rows.iter()
            .map(|r| device_from_row(device_row(r)))
            .collect()
    }

    /// Stamped with the database's clock: every relay's revocation watcher compares with
    /// it, so relays with clocks apart cannot hide a revocation from each other.
    pub fn revoke(&self, id: &str) -> anyhow::Result<bool> {
        let changed = self.client()?.execute(
            &format!(
                "UPDATE devices SET revoked_at = {DATABASE_NOW_MS} WHERE device_id = $1 AND revoked_at IS NULL"
            ),
            &[&id],
        )?;
        Ok(changed > 0)
    }

    /// The database's clock, in ms since the epoch.
    pub fn now(&self) -> anyhow::Result<i64> {
        Ok(self
            .client()?
            .query_one(&format!("SELECT {DATABASE_NOW_MS}"), &[])?
            .get(0))
    }

    pub fn revoked_since(&self, since: i64) -> anyhow::Result<Vec<(String, i64)>> {
        let rows = self.client()?.query(
            "SELECT device_id, revoked_at FROM devices WHERE revoked_at >= $1 ORDER BY revoked_at",
            &[&since],
        )?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    pub fn is_revoked(&self, id: &str) -> anyhow::Result<bool> {
        let row = self.client()?.query_opt(
            "SELECT revoked_at FROM devices WHERE device_id = $1",
            &[&id],
        )?;
        Ok(!matches!(
            row.map(|r| r.get::<_, Option<i64>>(0)),
            Some(None)
        ))
    }

    pub fn touch(&self, id: &str) -> anyhow::Result<()> {
        self.client()?.execute(
            "UPDATE devices SET last_seen_at = $2 WHERE device_id = $1",
            &[&id, &now_ms()],
        )?;
        Ok(())
    }
}
