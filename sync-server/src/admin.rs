//! `aisle-relay admin …`: store and device administration straight on the data directory.
//! A running relay notices revocations made here within two seconds.

use crate::audit::Act;
use crate::domain::import::{self, ImportError, ImportFile};
use aisle_core::api::{AuditAction, ImportFormat, ImportKind, ImportSummary};
use aisle_core::model::{Role, StoreId, StoreInfo};
use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng;

use crate::config::{AdminCommand, Config};
use crate::hub::Hub;
use crate::storage::RelayStorage;

/// The admin API token: configured, or generated once into `<data-dir>/admin-token`.
/// Locks the data directory for as long as the returned file lives: the relay while it
/// serves, or an admin command that must not run beside it. A running relay keeps its own
/// copy of the documents, so a key rotated or withdrawn underneath it would not reach devices,
/// and its next change would rebuild the key table from the stale copy. `instead` names the
/// HTTP endpoint that does the same on the running relay.
pub fn hold_data_dir(config: &Config, instead: Option<&str>) -> anyhow::Result<std::fs::File> {
    let path = config.data_dir.join("relay.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => match instead {
            Some(endpoint) => bail!(
                "a relay is serving {}: use {endpoint} on it (admin token), or stop it first",
                config.data_dir.display()
            ),
            None => bail!(
                "another relay is already serving {}",
                config.data_dir.display()
            ),
        },
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("locking {}", path.display()))
        }
    }
}

pub fn admin_token(config: &Config) -> anyhow::Result<String> {
    match &config.admin_token {
        Some(token) => Ok(token.clone()),
        None => secret(config, "admin-token", "AISLE_RELAY_ADMIN_TOKEN"),
    }
}

/// The secret web shop events are signed with (HMAC-SHA256 over the body): configured, or
/// generated once into `<data-dir>/ingest-secret`.
pub fn ingest_secret(config: &Config) -> anyhow::Result<String> {
    secret(config, "ingest-secret", "AISLE_RELAY_INGEST_SECRET")
}

/// The Shopify app's webhook secret: `AISLE_RELAY_SHOPIFY_SECRET`, or
/// `<data-dir>/shopify-secret` (generated once; paste it into the Shopify app, or replace it
/// with the app's secret).
pub fn shopify_secret(config: &Config) -> anyhow::Result<String> {
    secret(config, "shopify-secret", "AISLE_RELAY_SHOPIFY_SECRET")
}

/// The secret sales sent to the till are signed with: `AISLE_RELAY_TILL_SECRET`, or
/// `<data-dir>/till-secret` (generated once; give it to whoever runs the till's endpoint).
pub fn till_secret(config: &Config) -> anyhow::Result<String> {
    secret(config, "till-secret", "AISLE_RELAY_TILL_SECRET")
}

/// A secret from `env`, else `<data-dir>/<file>`, generated there (owner-only) the first time.
fn secret(config: &Config, file: &str, env: &str) -> anyhow::Result<String> {
    if let Ok(secret) = std::env::var(env) {
        return Ok(secret);
    }
    std::fs::create_dir_all(&config.secrets_dir)?;
    let path = config.secrets_dir.join(file);
    if let Ok(secret) = std::fs::read_to_string(&path) {
        return Ok(secret.trim().to_string());
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill(&mut bytes);
    let secret = URL_SAFE_NO_PAD.encode(bytes);
    std::fs::write(&path, &secret).with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(secret)
}

/// Who the audit trail says did what the command line did.
const CLI: &str = "admin-cli";

pub fn run(config: &Config, command: AdminCommand) -> anyhow::Result<()> {
    // A restore copies the files in before anything opens (and so creates) the databases,
    // holding the data directory through the renaming of the changefeed below.
    let mut _held = None;
    if let AdminCommand::Restore { folder } = &command {
        std::fs::create_dir_all(&config.data_dir)?;
        _held = Some(hold_data_dir(config, None)?);
        crate::backup::restore(config, folder)?;
        println!(
            "restored {} into {}",
            folder.display(),
            config.data_dir.display()
        );
    }
    std::fs::create_dir_all(&config.data_dir)?;
    // Nobody listens to this process's hub: a running relay notices changes made here on its
    // own (revocations within two seconds; key changes refuse to run beside it).
    // On a shared database, the command keeps a working copy of its own beside the relay's.
    let working_copy = config.data_dir.join("admin-copy");
    if config.database.is_some() {
        std::fs::create_dir_all(&working_copy)?;
    }
    let storage = crate::storage::open(config, &working_copy, Hub::new())?;
    let storage: &dyn RelayStorage = storage.as_ref();
    match command {
        AdminCommand::Enrol {
            store,
            role,
            name,
            quiet,
            ticket,
        } => {
            let store = StoreId::parse(store)?;
            let known = storage.stores()?.into_iter().any(|s| s.id == store);
            if !known {
                bail!("no store {store} in the catalog (create it first)");
            }
            let role = Role::parse(&role).context("unknown role")?;
            let code = storage.create_code(&store, role, &name)?;
            storage.record(
                &Act::new(CLI, AuditAction::EnrolmentCodeCreated, &name)
                    .in_store(&store)
                    .detail(role.as_str()),
            )?;
            if quiet {
                println!("{code}");
                return Ok(());
            }
            let ticket_of = enrolment_ticket(config, code)?;
            if ticket {
                println!("{}", ticket_of.to_uri());
                return Ok(());
            }
            let qr = qrcode::QrCode::new(ticket_of.to_uri().as_bytes())?
                .render::<qrcode::render::unicode::Dense1x2>()
                .quiet_zone(true)
                .build();
            println!("{qr}");
            println!(
                "Enrolment code for {name} ({} in {store}): {}",
                role.as_str(),
                ticket_of.code
            );
            println!("Relay: {}", ticket_of.relay_url);
            if let Some(ca) = ticket_of.ca {
                println!("Certificate fingerprint (SHA-256): {ca}");
            }
            println!(
                "It works once, within 24 hours. Scan the QR code in the tablet's Settings, or enter the relay, code and fingerprint there."
            );
        }
        AdminCommand::Revoke { device } => {
            if storage.revoke_device(&device)? {
                storage.record(&Act::new(CLI, AuditAction::DeviceRevoked, &device))?;
                println!("revoked {device}");
            } else {
                bail!("no active device {device}");
            }
        }
        AdminCommand::Wipe { device, reason } => {
            // Already revoked is fine: the loss is recorded, and the tablet still wipes itself
            // when it next calls.
            let known = storage.devices()?.into_iter().any(|d| d.id == device);
            if !known {
                bail!("no device {device}");
            }
            storage.revoke_device(&device)?;
            storage.record(&Act::new(CLI, AuditAction::DeviceWiped, &device).detail(&reason))?;
            println!(
                "{device} revoked and recorded as {reason}: it deletes its customer data the next time it reaches the relay"
            );
        }
        AdminCommand::Backup { folder } => {
            let wrote = crate::backup::backup(config, &folder)?;
            println!("backed up into {}: {}", folder.display(), wrote.join(", "));
        }
        AdminCommand::Restored | AdminCommand::Restore { .. } => {
            let feed = storage.rename_feed()?;
            storage.record(
                &crate::audit::Act::new(CLI, aisle_core::api::AuditAction::AdminCall, "changefeed")
                    .detail(format!(
                        "restored from a backup; the changefeed is now {feed}"
                    )),
            )?;
            println!(
                "the changefeed is now {feed}: tablets follow it from its start when they next connect (restart every relay on a shared database)"
            );
        }
        AdminCommand::Compact { max_docs } => {
            let compacted = storage.compact(max_docs)?;
            println!("compacted {compacted} documents");
        }
        AdminCommand::Devices => {
            for d in storage.devices()? {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    d.id,
                    d.store,
                    d.role.as_str(),
                    if d.revoked { "revoked" } else { "active" },
                    d.name
                );
            }
        }
        AdminCommand::Audit { store, limit } => {
            let store = store.map(StoreId::parse).transpose()?;
            for e in storage.audit(store.as_ref(), limit)? {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    e.seq,
                    e.at,
                    e.actor,
                    e.store.as_deref().unwrap_or("-"),
                    e.action.as_str(),
                    e.subject,
                    e.detail
                );
            }
        }
        AdminCommand::LoyaltyToken {
            customer,
            valid_days,
            svg,
            png,
        } => {
            let id = match aisle_core::model::LoyaltyId::parse(customer.as_str()) {
                Ok(loyalty) => storage
                    .identify(&aisle_core::model::Identifier::Loyalty(loyalty))
                    .context("no customer with that loyalty number")?,
                _ => aisle_core::model::CustomerId::parse(customer)?,
            };
            let token = crate::loyalty::issue(&config.secrets_dir, storage, &id, valid_days)?;
            if let Some(path) = svg {
                std::fs::write(&path, crate::loyalty::qr_svg(&token)?)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            if let Some(path) = png {
                std::fs::write(&path, crate::loyalty::qr_png(&token, 8)?)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            println!("{token}");
        }
        AdminCommand::RevokeLoyaltyToken { token, reason } => {
            let _held = hold_data_dir(config, Some("POST /v1/loyalty/revoke"))?;
            let id = storage.revoke_loyalty_token(&token, &reason)?;
            storage
                .record(&Act::new(CLI, AuditAction::LoyaltyTokenRevoked, &id).detail(&reason))?;
            println!("revoked loyalty token {id}");
        }
        AdminCommand::RotateLoyaltyKey => {
            let _held = hold_data_dir(config, Some("POST /v1/loyalty/keys/rotate"))?;
            let id = crate::loyalty::rotate(&config.secrets_dir, storage)?;
            storage.record(&Act::new(CLI, AuditAction::LoyaltyKeyRotated, &id))?;
            println!("loyalty tokens are now signed with key {id}");
        }
        AdminCommand::WithdrawLoyaltyKey { key } => {
            let _held = hold_data_dir(config, Some("POST /v1/loyalty/keys/{id}/withdraw"))?;
            let current = crate::loyalty::withdraw(&config.secrets_dir, storage, &key)?;
            storage.record(
                &Act::new(CLI, AuditAction::LoyaltyKeyWithdrawn, &key)
                    .detail(format!("now signing with {current}")),
            )?;
            println!(
                "loyalty key {key} withdrawn: its codes are refused; tokens are now signed with key {current}"
            );
        }
        AdminCommand::Import {
            kind,
            file,
            format,
            map,
        } => {
            // Tablets connected to a running relay on its own files would not hear of what
            // this process writes until they reconnect; on a shared database every relay
            // follows the feed, this process's writes included.
            let _held = match config.database {
                None => Some(hold_data_dir(
                    config,
                    Some("POST /v1/admin/imports/{kind}"),
                )?),
                Some(_) => None,
            };
            let kind = ImportKind::parse(&kind).context("unknown kind of import")?;
            let format = match format.as_deref() {
                Some("jsonl") => ImportFormat::Jsonl,
                Some(_) => ImportFormat::Csv,
                None => import::format_of(&file),
            };
            let rename = import::rows::parse_mapping(&map.join(","))
                .map_err(|e| anyhow::anyhow!("--map: {e}"))?;
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {} (it must be UTF-8 text)", file.display()))?;
            let file_name = file.display().to_string();
            let started = std::time::Instant::now();
            let bar = indicatif::ProgressBar::new(0).with_style(
                indicatif::ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} ({eta})")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            // A catalog imported before the relay first started learns the currency first.
            storage.publish_locale(&config.locale)?;
            let imported = storage.import(
                &ImportFile {
                    kind,
                    format,
                    rename,
                    text,
                },
                &mut |p| {
                    bar.set_message(p.stage);
                    bar.set_length(p.total as u64);
                    bar.set_position(p.done as u64);
                },
            );
            bar.finish_and_clear();
            let summary = match imported {
                Ok(summary) => summary,
                Err(ImportError::Rejected(rejected)) => {
                    for e in &rejected.errors {
                        eprintln!("{file_name}:{}: {}", e.line, e.reason);
                    }
                    if rejected.bad_records > rejected.errors.len() {
                        eprintln!(
                            "… and {} more",
                            rejected.bad_records - rejected.errors.len()
                        );
                    }
                    bail!(
                        "{} bad record(s) in {file_name}: nothing was imported",
                        rejected.bad_records
                    );
                }
                Err(ImportError::Store(e)) => return Err(e.into()),
            };
            let detail = summary_line(&summary);
            storage
                .record(&Act::new(CLI, AuditAction::DataImported, kind.as_str()).detail(&detail))?;
            println!(
                "imported {} from {file_name} in {:.1} s: {detail}",
                kind.as_str(),
                started.elapsed().as_secs_f64()
            );
        }
        AdminCommand::CreateStore {
            id,
            name,
            city,
            latitude,
            longitude,
        } => {
            let id = StoreId::parse(id)?;
            storage.create_store(StoreInfo {
                id: id.clone(),
                name,
                city,
                latitude,
                longitude,
            })?;
            println!("created store {id}");
        }
    }
    Ok(())
}

/// The ticket for a new code: the relay's public address, and the fingerprint tablets pin
/// when it serves TLS.
fn enrolment_ticket(
    config: &Config,
    code: String,
) -> anyhow::Result<aisle_core::enrolment::EnrolmentTicket> {
    let ca = config
        .tls_files()?
        .map(|files| files.trust_fingerprint())
        .transpose()?;
    Ok(aisle_core::enrolment::EnrolmentTicket {
        relay_url: config.public_url(config.listen),
        code,
        ca,
    })
}

/// What an import did, in words (the command line's answer and the audit trail's detail).
pub fn summary_line(summary: &ImportSummary) -> String {
    format!(
        "{} record(s): {} new, {} updated, {} unchanged",
        summary.records, summary.created, summary.updated, summary.unchanged
    )
}
