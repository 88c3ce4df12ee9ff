//! The shared database: connections, versioned migrations, and changefeed positions.

use anyhow::Context;
use r2d2_postgres::PostgresConnectionManager;
use std::path::Path;
use std::time::Duration;

pub type Manager = PostgresConnectionManager<Tls>;
pub type Pool = r2d2::Pool<Manager>;
pub type Client = postgres::Client;

/// Migrations in order; the database records how many ran (`schema_migrations`).
const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("migrations/0001_shared_truth.sql")),
    (2, include_str!("migrations/0002_customer_search.sql")),
    (3, include_str!("migrations/0003_compaction.sql")),
    (4, include_str!("migrations/0004_till_outbox.sql")),
];

/// Any advisory lock key of Aisle's; this one serialises migrations between relays starting
/// at once.
const MIGRATION_LOCK: i64 = 0x4149_534c_0001;

/// Connections one relay keeps for request handling; the changefeed follower and the job
/// leader hold one more each.
const POOL_SIZE: u32 = 8;

/// How long a request waits for a connection (also when the database is down) before it
/// fails as busy and the device retries.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(5);

/// Transaction positions in the changefeed: the writing transaction's id, shifted left by
/// this many bits, plus the write's place in its transaction. 2^20 documents fit in one
/// transaction; ids reach 2^43 (thousands of years of a busy database).
pub const POSITION_BITS: u32 = 20;
pub const MAX_WRITES_PER_TRANSACTION: i64 = (1 << POSITION_BITS) - 1;

/// SQL for the position of write number `$n` of the current transaction.
pub const POSITION_SQL: &str = "(pg_current_xact_id()::text::bigint << 20)";

/// SQL for the commit horizon (every position below it belongs to a transaction that ended),
/// and how long the oldest transaction holding it back has been open, in ms.
pub const HORIZON_SQL: &str =
    "SELECT (pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 20),
    COALESCE((SELECT EXTRACT(EPOCH FROM max(clock_timestamp() - xact_start)) * 1000
              FROM pg_stat_activity WHERE backend_xid IS NOT NULL), 0)::bigint";

/// Where the shared database is and how its server is verified: `sslmode` in the URL says
/// whether TLS is used (`disable`, `prefer`, the default, or `require`); when it is, the
/// server's certificate must verify, with its name, up to the `--database-ca` certificates
/// or else the system's authorities. A server offering TLS with a certificate that does not
/// verify is refused, also under `prefer`.
#[derive(Clone)]
pub struct Database {
    config: postgres::Config,
    tls: Tls,
}

pub type Tls = tokio_postgres_rustls::MakeRustlsConnect;

impl Database {
    pub fn new(url: &str, ca: Option<&Path>) -> anyhow::Result<Self> {
        let mut config: postgres::Config = url
            .parse()
            .with_context(|| "the database URL is not a PostgreSQL connection string")?;
        // A statement stuck behind a lock or a black-holed network fails (the device retries)
        // rather than holding the working copy's lock for ever.
        config
            .application_name("aisle-relay")
            .connect_timeout(CHECKOUT_TIMEOUT)
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(10))
            .options("-c statement_timeout=30s");
        Ok(Self {
            config,
            tls: tls(ca)?,
        })
    }

    /// A pool for request handling. It connects once now, so a wrong URL fails at start.
    pub fn pool(&self) -> anyhow::Result<Pool> {
        let manager = PostgresConnectionManager::new(self.config.clone(), self.tls.clone());
        let pool = r2d2::Pool::builder()
            .max_size(POOL_SIZE)
            .min_idle(Some(1))
            .connection_timeout(CHECKOUT_TIMEOUT)
            // A broken connection shows on use (and is then dropped); testing each checkout
            // would cost a round trip per request.
            .test_on_check_out(false)
            .build(manager)
            .with_context(|| "connecting to the database")?;
        Ok(pool)
    }

    /// A connection of its own, for a job that holds it (the follower's LISTEN, the leader
    /// lock).
    pub fn connect(&self) -> anyhow::Result<Client> {
        self.config
            .connect(self.tls.clone())
            .with_context(|| "connecting to the database")
    }
}

/// The TLS client for the database: ring, the relay's only crypto provider.
fn tls(ca: Option<&Path>) -> anyhow::Result<Tls> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let config = match ca {
        Some(path) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(path)
                .with_context(|| format!("reading the database CA {}", path.display()))?
            {
                let cert = cert.with_context(|| {
                    format!("a certificate in {} does not parse", path.display())
                })?;
                roots.add(cert)?;
            }
            anyhow::ensure!(!roots.is_empty(), "{} holds no certificate", path.display());
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        None => {
            let verifier = rustls_platform_verifier::Verifier::new(provider)?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(std::sync::Arc::new(verifier))
                .with_no_client_auth()
        }
    };
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// Brings the schema up to this build's version; several relays may start at once.
/// Returns how many migrations ran.
pub fn migrate(client: &mut Client) -> anyhow::Result<usize> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    INTEGER PRIMARY KEY,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         )",
    )?;
    let ran: i32 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            &[],
        )?
        .get(0);
    let known = MIGRATIONS.last().map_or(0, |(v, _)| *v);
    anyhow::ensure!(
        ran <= known,
        "the database schema is at version {ran}, newer than this relay's ({known}); update the relay"
    );
    let mut count = 0;
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > ran) {
        tx.batch_execute(sql)
            .with_context(|| format!("running migration {version}"))?;
        tx.execute(
            "INSERT INTO schema_migrations (version) VALUES ($1)",
            &[version],
        )?;
        count += 1;
    }
    tx.commit()?;
    Ok(count)
}

/// Whether the schema is at this build's version (what readiness asks).
pub fn schema_is_current(client: &mut Client) -> anyhow::Result<bool> {
    let known = MIGRATIONS.last().map_or(0, |(v, _)| *v);
    let ran: Option<i32> = client
        .query_one("SELECT MAX(version) FROM schema_migrations", &[])?
        .get(0);
    Ok(ran == Some(known))
}

/// The commit horizon now, and the age of the oldest transaction holding it (ms).
pub fn horizon(client: &mut Client) -> anyhow::Result<(i64, i64)> {
    let row = client.query_one(HORIZON_SQL, &[])?;
    Ok((row.get(0), row.get(1)))
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A database error as the core's error type: all of them are transient for a device (the
/// database is down or busy), and the device retries.
pub fn storage_error(e: impl std::fmt::Display) -> aisle_core::CoreError {
    aisle_core::CoreError::Internal(format!("database: {e}"))
}

/// The changefeed's identity: the name [`migrate`] gave it (renamed after a restore from a
/// backup), and the server's current timeline (from the name of the WAL file being written:
/// a promotion or a point-in-time recovery moves it on at once, unlike the last checkpoint's,
/// and any role may read it). A cursor or a working copy of another identity is of another
/// history.
pub fn feed_identity(client: &mut Client) -> anyhow::Result<String> {
    let row = client.query_one(
        "SELECT (SELECT value FROM meta WHERE key = 'feed_id'),
                substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)",
        &[],
    )?;
    let (name, timeline): (String, String) = (row.get(0), row.get(1));
    Ok(format!("{name}/{timeline}"))
}

/// Refuses a database whose changefeed positions are ahead of its transaction ids: restored
/// with `pg_dump` into another server, whose ids start again from low numbers, so nothing it
/// holds would ever be below the horizon. A physical backup or point-in-time recovery keeps
/// the ids, and is what docs/deploy.md asks for.
pub fn check_positions(client: &mut Client) -> anyhow::Result<()> {
    let ahead: bool = client
        .query_one(
            "SELECT COALESCE(GREATEST((SELECT MAX(pos) FROM feed), (SELECT MAX(pos) FROM erasures)), 0) >> 20
                 >= pg_snapshot_xmax(pg_current_snapshot())::text::bigint",
            &[],
        )?
        .get(0);
    anyhow::ensure!(
        !ahead,
        "the changefeed's positions are ahead of this database server's transaction ids: it was restored from a logical dump (pg_dump) into another server, which the relay cannot follow; restore a physical backup instead (docs/deploy.md)"
    );
    Ok(())
}
