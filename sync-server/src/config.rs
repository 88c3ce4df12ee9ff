//! Relay configuration: defaults that work locally, a TOML file, environment variables and
//! flags, later ones overriding earlier ones.

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};

use crate::tls::TlsFiles;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "aisle-relay",
    version,
    about = "Aisle relay: sync, ingest and admin API"
)]
pub struct Cli {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub serve: ServeArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Args)]
pub struct Common {
    /// TOML configuration file.
    #[arg(long, global = true, env = "AISLE_RELAY_CONFIG")]
    pub config: Option<PathBuf>,
    /// Directory for the relay's SQLite databases.
    #[arg(long, global = true, env = "AISLE_RELAY_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// A PostgreSQL database shared by several relays (`postgres://user@host/db`) instead of
    /// the embedded SQLite files; the data directory then holds only this relay's working copy
    /// and secrets.
    #[arg(long, global = true, env = "AISLE_RELAY_DATABASE")]
    pub database: Option<String>,
    /// PEM certificates the shared database's server certificate must verify up to (its
    /// private CA), instead of the system's authorities; TLS itself is `sslmode` in the URL.
    #[arg(long, global = true, env = "AISLE_RELAY_DATABASE_CA")]
    pub database_ca: Option<PathBuf>,
    /// Where the relay's secrets live (admin token, web shop secrets, loyalty signing keys,
    /// its own certificate authority): the data directory unless given. Relays sharing a
    /// database must share these too, e.g. as one mounted secret.
    #[arg(long, global = true, env = "AISLE_RELAY_SECRETS_DIR")]
    pub secrets_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the sync endpoint and HTTP API (the default).
    Serve,
    /// Manage stores and devices (works on the data directory, also while the relay runs).
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Bring the shared PostgreSQL database's schema up to this build (relays also do it as
    /// they start), then exit.
    Migrate,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, global = true, env = "AISLE_RELAY_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Load the demo retailer into an empty database.
    #[arg(long, global = true, env = "AISLE_RELAY_DEMO")]
    pub demo: bool,
    /// Number of demo customers.
    #[arg(long, global = true, env = "AISLE_DEMO_CUSTOMERS")]
    pub demo_customers: Option<usize>,
    /// Home store of customers first seen through Shopify's `customers/create`.
    #[arg(long, global = true, env = "AISLE_RELAY_SHOPIFY_HOME_STORE")]
    pub shopify_home_store: Option<String>,
    /// The shop's `*.myshopify.com` domain: webhooks naming another shop
    /// (`X-Shopify-Shop-Domain`) are refused.
    #[arg(long, global = true, env = "AISLE_RELAY_SHOPIFY_SHOP_DOMAIN")]
    pub shopify_shop_domain: Option<String>,
    /// A Shopify location that is one of the stores, as `LOCATION_ID=STORE_ID` (repeat for
    /// each): its POS orders are the store's sales and its inventory levels the store's stock.
    #[arg(long = "shopify-location", global = true, value_parser = shopify_location)]
    pub shopify_locations: Vec<(String, aisle_core::model::StoreId)>,
    /// Where product images given as paths are fetched from when they are not in
    /// `<data-dir>/images/` (e.g. the retailer's CDN); each is fetched once and kept.
    #[arg(long, global = true, env = "AISLE_RELAY_IMAGES_URL")]
    pub images_url: Option<String>,
    /// Seconds between recounts of the related-products recommendations (also run at start).
    #[arg(long, global = true, env = "AISLE_RELAY_RECOMMEND_EVERY")]
    pub recommend_every: Option<u64>,
    /// The relay's certificate chain, PEM, server certificate first (read again when the file
    /// changes). With `--tls-key`, the relay serves HTTPS and WSS.
    #[arg(
        long,
        global = true,
        env = "AISLE_RELAY_TLS_CERT",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,
    /// The private key of the certificate, PEM.
    #[arg(
        long,
        global = true,
        env = "AISLE_RELAY_TLS_KEY",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
    /// Serve HTTPS with a certificate authority and certificate of the relay's own, made in
    /// `<data-dir>/tls/` on first start (the demo does this unless given certificate files).
    #[arg(long, global = true, env = "AISLE_RELAY_TLS_SELF_SIGNED")]
    pub tls_self_signed: bool,
    /// Serve plain HTTP: behind a TLS-terminating proxy, or for a test on loopback. Needed to
    /// serve plain HTTP on an address other than loopback.
    #[arg(long, global = true, env = "AISLE_RELAY_PLAINTEXT", conflicts_with_all = ["tls_cert", "tls_self_signed"])]
    pub plaintext: bool,
    /// The address tablets reach the relay at, written into enrolment codes (default: the
    /// listening address).
    #[arg(long, global = true, env = "AISLE_RELAY_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// A TLS-terminating proxy in front of the relay: from these addresses only, the client's
    /// address is read from `X-Forwarded-For` (for limits and the audit trail).
    #[arg(
        long,
        global = true,
        env = "AISLE_RELAY_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxy: Vec<IpAddr>,
    /// The retailer's till or order system: every sale recorded on a tablet is POSTed there,
    /// signed with the till secret, until it answers 2xx (see docs/till.md).
    #[arg(long, global = true, env = "AISLE_RELAY_TILL_URL")]
    pub till_url: Option<url::Url>,
    /// Seconds the till has to answer one delivery before it counts as failed.
    #[arg(long, global = true, env = "AISLE_RELAY_TILL_TIMEOUT")]
    pub till_timeout: Option<f64>,
    /// Seconds before the first retry of a failed delivery; each retry waits twice as long,
    /// up to 15 minutes.
    #[arg(long, global = true, env = "AISLE_RELAY_TILL_RETRY")]
    pub till_retry: Option<f64>,
    /// The tenant's currency (ISO 4217: GBP, EUR, USD, JPY, …): prices in imports are read
    /// in it, screens show it, sales go to the till in it. Fixed once products are imported.
    #[arg(long, global = true, env = "AISLE_RELAY_CURRENCY")]
    pub currency: Option<String>,
    /// The locale screens show numbers and dates in (a language tag: en-GB, de-DE, ja-JP).
    #[arg(long, global = true, env = "AISLE_RELAY_LOCALE")]
    pub locale: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a one-time enrolment code for a device, printed with the QR code of its ticket
    /// (the relay's address, the code, and the fingerprint tablets trust the relay by).
    Enrol {
        #[arg(long)]
        store: String,
        #[arg(long, value_parser = ["associate", "kiosk", "manager"], default_value = "associate")]
        role: String,
        #[arg(long)]
        name: String,
        /// Print only the code (for scripts).
        #[arg(long, conflicts_with = "ticket")]
        quiet: bool,
        /// Print only the ticket (`aisle://enrol?…`), for scripts that enrol a tablet.
        #[arg(long)]
        ticket: bool,
    },
    /// Revoke a device: its token stops working at once, and the tablet deletes its customer
    /// data when it next reaches the relay.
    Revoke { device: String },
    /// A device lost or stolen: revoked as above, and recorded as lost in the audit trail.
    Wipe {
        device: String,
        #[arg(long, default_value = "reported lost")]
        reason: String,
    },
    /// Run after restoring the relay's data (or its shared database) from a backup: names
    /// its changefeed anew, so every tablet follows it from the start instead of from a
    /// cursor the backup has not reached, and sends back what the backup lacks.
    Restored,
    /// Copy the relay's data (its databases, TLS certificate authority, loyalty keys and
    /// secrets) into a new folder while it serves, each database a consistent snapshot. On a
    /// shared PostgreSQL database, use the database's own backups instead.
    Backup { folder: PathBuf },
    /// Bring a backup into this (empty) data directory, then name the changefeed anew as
    /// `restored` does: tablets follow it from the start and give back what they wrote since
    /// the backup. Run it with the relay stopped.
    Restore { folder: PathBuf },
    /// Fold the change chunks of documents that gathered many into one snapshot each (on a
    /// shared database; the relay leading the chain's jobs also does it on its schedule).
    Compact {
        /// At most this many documents.
        #[arg(long, default_value_t = 10_000)]
        max_docs: usize,
    },
    /// List enrolled devices.
    Devices,
    /// Print the audit trail: enrolments, revocations, failed authentication, erasures,
    /// merges, loyalty key changes, admin calls.
    Audit {
        /// Only entries about this store.
        #[arg(long)]
        store: Option<String>,
        /// The newest this many entries.
        #[arg(long, default_value_t = 200)]
        limit: usize,
    },
    /// Sign a loyalty token for a customer (by id or loyalty number) and write its QR code.
    LoyaltyToken {
        #[arg(long)]
        customer: String,
        /// Days until it expires; without, it does not.
        #[arg(long)]
        valid_days: Option<u32>,
        /// Write the QR code as SVG here.
        #[arg(long)]
        svg: Option<PathBuf>,
        /// Write the QR code as PNG here.
        #[arg(long)]
        png: Option<PathBuf>,
    },
    /// Revoke a loyalty token (a lost card): devices refuse it once they have synced.
    RevokeLoyaltyToken {
        #[arg(long)]
        token: String,
        #[arg(long, default_value = "reported lost")]
        reason: String,
    },
    /// Start signing loyalty tokens with a new key; tokens of older keys still verify.
    RotateLoyaltyKey,
    /// Withdraw a leaked loyalty key: every token it signed is refused once devices have
    /// synced (customers need new codes). A new key signs from then on.
    WithdrawLoyaltyKey {
        #[arg(long)]
        key: String,
    },
    /// Import a retailer's file of stores, products, stock or customers (CSV with a header
    /// row, or JSON lines). The whole file is checked first: a bad record is reported with
    /// its line and nothing is written. Importing the same file again changes nothing.
    Import {
        #[arg(value_parser = ["stores", "products", "stock", "customers"])]
        kind: String,
        file: PathBuf,
        /// `csv` or `jsonl`; by default from the file's extension (`.jsonl`, `.ndjson`).
        #[arg(long, value_parser = ["csv", "jsonl"])]
        format: Option<String>,
        /// The file's name for a column, as `theirs=ours` (repeatable).
        #[arg(long = "map")]
        map: Vec<String>,
    },
    /// Add a store to the catalog with an empty inventory.
    CreateStore {
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        city: String,
        #[arg(long)]
        latitude: f64,
        #[arg(long)]
        longitude: f64,
    },
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    database: Option<String>,
    database_ca: Option<PathBuf>,
    secrets_dir: Option<PathBuf>,
    demo: Option<bool>,
    demo_customers: Option<usize>,
    tenant: Option<String>,
    admin_token: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    tls_self_signed: Option<bool>,
    plaintext: Option<bool>,
    public_url: Option<String>,
    #[serde(default)]
    trusted_proxies: Vec<IpAddr>,
    till_url: Option<String>,
    till_timeout: Option<f64>,
    till_retry: Option<f64>,
    currency: Option<String>,
    locale: Option<String>,
}

/// Where sales go, and how patiently.
#[derive(Debug, Clone)]
pub struct TillConfig {
    pub url: url::Url,
    pub timeout: std::time::Duration,
    pub first_retry: std::time::Duration,
}

/// How the relay talks to its clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// Plain HTTP, on loopback only unless `plaintext_beyond_loopback` (a proxy does TLS).
    Plain,
    Tls(TlsFiles),
    /// TLS with a certificate authority of the relay's own, in `<data-dir>/tls/`.
    SelfSigned,
}

/// The settings the relay runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// The shared PostgreSQL database; `None` for the embedded SQLite files.
    pub database: Option<String>,
    /// The certificates the database's server is verified by (`None`: the system's).
    pub database_ca: Option<PathBuf>,
    pub secrets_dir: PathBuf,
    pub demo: bool,
    pub demo_customers: usize,
    pub tenant: String,
    /// From the config file or `AISLE_RELAY_ADMIN_TOKEN`; otherwise generated into
    /// `<data-dir>/admin-token` on first start.
    pub admin_token: Option<String>,
    pub shopify_home_store: Option<String>,
    pub shopify_shop_domain: Option<String>,
    pub shopify_locations: std::collections::BTreeMap<String, aisle_core::model::StoreId>,
    pub images_url: Option<String>,
    pub recommend_every: std::time::Duration,
    pub transport: Transport,
    /// Plain HTTP on an address other than loopback was asked for explicitly.
    pub plaintext_beyond_loopback: bool,
    pub public_url: Option<String>,
    pub trusted_proxies: Vec<IpAddr>,
    /// `None`: sales wait in the outbox until a till is configured.
    pub till: Option<TillConfig>,
    /// The currency and locale published to every tablet.
    pub locale: aisle_core::model::TenantLocale,
}

/// Seconds from the command line or file as a duration, within sense.
fn seconds(value: Option<f64>, default: f64, name: &str) -> anyhow::Result<std::time::Duration> {
    let value = value.unwrap_or(default);
    anyhow::ensure!(
        value.is_finite() && (0.01..=3_600.0).contains(&value),
        "{name} must be between 0.01 and 3600 seconds, not {value}"
    );
    Ok(std::time::Duration::from_secs_f64(value))
}

impl Config {
    pub fn load(common: &Common, serve: &ServeArgs) -> anyhow::Result<Self> {
        let file = match &common.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading config file {}", path.display()))?;
                toml::from_str::<FileConfig>(&text)
                    .with_context(|| format!("parsing config file {}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let transport = transport(serve, &file)?;
        let data_dir = common
            .data_dir
            .clone()
            .or(file.data_dir.clone())
            .unwrap_or_else(|| PathBuf::from("relay-data"));
        Ok(Self {
            listen: serve
                .listen
                .or(file.listen)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8787))),
            secrets_dir: common
                .secrets_dir
                .clone()
                .or(file.secrets_dir)
                .unwrap_or_else(|| data_dir.clone()),
            data_dir,
            database: common.database.clone().or(file.database),
            database_ca: common.database_ca.clone().or(file.database_ca),
            demo: serve.demo || file.demo.unwrap_or(false),
            demo_customers: serve
                .demo_customers
                .or(file.demo_customers)
                .unwrap_or(10_000),
            tenant: file.tenant.unwrap_or_else(|| "demo".into()),
            admin_token: std::env::var("AISLE_RELAY_ADMIN_TOKEN")
                .ok()
                .or(file.admin_token),
            shopify_home_store: serve.shopify_home_store.clone(),
            shopify_shop_domain: serve.shopify_shop_domain.clone(),
            shopify_locations: serve.shopify_locations.iter().cloned().collect(),
            images_url: serve.images_url.clone(),
            recommend_every: std::time::Duration::from_secs(
                serve.recommend_every.unwrap_or(3_600).max(1),
            ),
            transport,
            plaintext_beyond_loopback: serve.plaintext || file.plaintext.unwrap_or(false),
            public_url: serve.public_url.clone().or(file.public_url),
            trusted_proxies: if serve.trusted_proxy.is_empty() {
                file.trusted_proxies
            } else {
                serve.trusted_proxy.clone()
            },
            till: match serve
                .till_url
                .clone()
                .map(Ok)
                .or(file.till_url.as_deref().map(url::Url::parse))
            {
                Some(url) => {
                    let url = url.context("the till URL in the config file does not parse")?;
                    anyhow::ensure!(
                        matches!(url.scheme(), "http" | "https"),
                        "the till URL must be http:// or https://, not {url}"
                    );
                    Some(TillConfig {
                        url,
                        timeout: seconds(
                            serve.till_timeout.or(file.till_timeout),
                            10.0,
                            "--till-timeout",
                        )?,
                        first_retry: seconds(
                            serve.till_retry.or(file.till_retry),
                            5.0,
                            "--till-retry",
                        )?,
                    })
                }
                None => None,
            },
            locale: aisle_core::model::TenantLocale::new(
                serve
                    .currency
                    .as_deref()
                    .or(file.currency.as_deref())
                    .unwrap_or("GBP"),
                serve
                    .locale
                    .as_deref()
                    .or(file.locale.as_deref())
                    .unwrap_or("en-GB"),
            )
            .map_err(|e| anyhow::anyhow!("--{e}"))?,
        })
    }

    /// A relay on a free loopback port over `data_dir`, serving plain HTTP, with nothing
    /// optional: what in-process tests start from.
    pub fn local(data_dir: PathBuf) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            secrets_dir: data_dir.clone(),
            data_dir,
            database: None,
            database_ca: None,
            demo: false,
            demo_customers: 0,
            tenant: "demo".into(),
            admin_token: None,
            shopify_home_store: None,
            shopify_shop_domain: None,
            shopify_locations: Default::default(),
            images_url: None,
            recommend_every: std::time::Duration::from_secs(3_600),
            transport: Transport::Plain,
            plaintext_beyond_loopback: false,
            public_url: None,
            trusted_proxies: Vec::new(),
            till: None,
            locale: aisle_core::model::TenantLocale::default(),
        }
    }

    /// The certificate files to serve, made first for [`Transport::SelfSigned`]; `None` for
    /// plain HTTP, which is refused beyond loopback unless asked for.
    pub fn tls_files(&self) -> anyhow::Result<Option<TlsFiles>> {
        match &self.transport {
            Transport::Plain => {
                if !self.listen.ip().is_loopback() && !self.plaintext_beyond_loopback {
                    anyhow::bail!(
                        "refusing to serve plain HTTP on {}: customer data and device tokens would cross the network readable. \
                         Give --tls-cert and --tls-key (or --tls-self-signed), or --plaintext when a TLS-terminating proxy is in front",
                        self.listen
                    );
                }
                Ok(None)
            }
            Transport::Tls(files) => Ok(Some(files.clone())),
            Transport::SelfSigned => {
                TlsFiles::self_signed(&self.secrets_dir, &self.certificate_names()).map(Some)
            }
        }
    }

    /// What a self-made certificate is valid for: loopback, the listening address, and the
    /// host of the public address.
    fn certificate_names(&self) -> Vec<String> {
        let mut names = vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
        if !self.listen.ip().is_unspecified() {
            names.push(self.listen.ip().to_string());
        }
        if let Some(host) = self
            .public_url
            .as_deref()
            .and_then(|u| url::Url::parse(u).ok())
            .and_then(|u| u.host_str().map(|h| h.trim_matches(['[', ']']).to_string()))
        {
            names.push(host);
        }
        names.sort();
        names.dedup();
        names
    }

    /// Where tablets reach the relay: `--public-url`, or the listening address (`localhost`
    /// for an unspecified one), with the scheme the transport serves.
    pub fn public_url(&self, listening: SocketAddr) -> String {
        if let Some(url) = &self.public_url {
            return url.trim_end_matches('/').to_string();
        }
        let scheme = match self.transport {
            Transport::Plain => "http",
            Transport::Tls(_) | Transport::SelfSigned => "https",
        };
        if listening.ip().is_unspecified() {
            format!("{scheme}://localhost:{}", listening.port())
        } else {
            format!("{scheme}://{listening}")
        }
    }
}

/// Flags (and their environment variables) first, then the file: a `--plaintext` given to a
/// relay whose file names certificates serves plain HTTP, as asked.
fn transport(serve: &ServeArgs, file: &FileConfig) -> anyhow::Result<Transport> {
    if let (Some(cert), Some(key)) = (&serve.tls_cert, &serve.tls_key) {
        return Ok(Transport::Tls(TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
        }));
    }
    if serve.plaintext {
        return Ok(Transport::Plain);
    }
    if serve.tls_self_signed {
        return Ok(Transport::SelfSigned);
    }
    Ok(match (&file.tls_cert, &file.tls_key) {
        (Some(cert), Some(key)) => Transport::Tls(TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
        }),
        (None, None) if file.plaintext.unwrap_or(false) => Transport::Plain,
        // The demo runs on TLS out of the box, unless plain HTTP is asked for.
        (None, None)
            if file.tls_self_signed.unwrap_or(false)
                || serve.demo
                || file.demo.unwrap_or(false) =>
        {
            Transport::SelfSigned
        }
        (None, None) => Transport::Plain,
        _ => anyhow::bail!("the config file needs both tls_cert and tls_key, or neither"),
    })
}

/// `--shopify-location 24826418=LDN-CG`.
fn shopify_location(text: &str) -> Result<(String, aisle_core::model::StoreId), String> {
    let (location, store) = text
        .split_once('=')
        .ok_or("give LOCATION_ID=STORE_ID, e.g. 24826418=LDN-CG")?;
    if location.is_empty() || !location.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "{location:?} is not a Shopify location id (digits)"
        ));
    }
    let store = aisle_core::model::StoreId::parse(store).map_err(|e| e.to_string())?;
    Ok((location.to_string(), store))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shopify_location_is_its_digits_and_a_store() {
        let (location, store) = shopify_location("24826418=LDN-CG").unwrap();
        assert_eq!((location.as_str(), store.as_str()), ("24826418", "LDN-CG"));
        for bad in [
            "24826418",
            "gid://shopify/Location/1=LDN-CG",
            "=LDN-CG",
            "1=not a store",
        ] {
            assert!(shopify_location(bad).is_err(), "{bad}");
        }
    }

    fn transport_of(flags: &[&str], file: &str) -> anyhow::Result<Transport> {
        let cli = Cli::try_parse_from(std::iter::once("aisle-relay").chain(flags.iter().copied()))?;
        let file: FileConfig = toml::from_str(file)?;
        transport(&cli.serve, &file)
    }

    #[test]
    fn flags_decide_the_transport_over_the_file() -> anyhow::Result<()> {
        let file_tls = "tls_cert = \"/etc/aisle/chain.pem\"\ntls_key = \"/etc/aisle/key.pem\"\n";
        assert!(matches!(transport_of(&[], file_tls)?, Transport::Tls(_)));
        // Behind a proxy now: the flag wins over the file's certificates.
        assert_eq!(transport_of(&["--plaintext"], file_tls)?, Transport::Plain);
        assert_eq!(
            transport_of(&["--tls-self-signed"], file_tls)?,
            Transport::SelfSigned
        );
        assert_eq!(transport_of(&["--demo"], "")?, Transport::SelfSigned);
        assert_eq!(
            transport_of(&["--demo", "--plaintext"], "")?,
            Transport::Plain
        );
        assert_eq!(
            transport_of(&[], "demo = true\nplaintext = true\n")?,
            Transport::Plain
        );
        assert_eq!(transport_of(&[], "")?, Transport::Plain);
        assert!(transport_of(&[], "tls_cert = \"/x.pem\"\n").is_err());
        Ok(())
    }
}
