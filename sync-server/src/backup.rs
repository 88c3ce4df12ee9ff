//! `aisle-relay admin backup` and `admin restore`: a relay on its embedded SQLite files,
//! copied while it serves, and brought back into an empty data directory.
//!
//! Each database is copied with SQLite's `VACUUM INTO`, which reads one consistent snapshot
//! while the relay goes on writing (the documents and the device registry are two files, each
//! consistent in itself). The keys that make the relay itself go with them: its TLS
//! certificate authority (tablets trust the relay by its fingerprint), its loyalty signing
//! keys (printed codes keep verifying) and its secrets. A restore names the changefeed anew,
//! as `admin restored` does, so every tablet follows it from the start and pushes back what
//! it wrote after the backup. A relay on a shared PostgreSQL database is backed up with the
//! database's own tools (docs/deploy.md).

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use std::path::Path;

use crate::config::Config;

/// The databases of a relay on its own files.
const DATABASES: [&str; 2] = ["relay.sqlite3", "devices.sqlite3"];
/// Folders of keys in the data directory.
const KEY_FOLDERS: [&str; 2] = ["tls", "loyalty-keys"];
/// Secret files, in the secrets directory.
const SECRETS: [&str; 3] = ["admin-token", "ingest-secret", "shopify-secret"];
/// What marks a folder as a backup, and says when it was taken.
const MANIFEST: &str = "aisle-backup.json";

#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    /// Milliseconds since the epoch.
    taken_at: i64,
    relay_version: String,
}

fn shared_database(config: &Config) -> anyhow::Result<()> {
    if config.database.is_some() {
        bail!(
            "this relay keeps its data in a shared PostgreSQL database: back that up with \
             pg_basebackup or point-in-time recovery, then run `admin restored` (docs/deploy.md)"
        );
    }
    Ok(())
}

/// Copies the relay's data into `dest` (new or empty) while it serves. Returns what it wrote.
pub fn backup(config: &Config, dest: &Path) -> anyhow::Result<Vec<String>> {
    shared_database(config)?;
    if dest.exists() && std::fs::read_dir(dest)?.next().is_some() {
        bail!("{} is not empty: back up into a new folder", dest.display());
    }
    std::fs::create_dir_all(dest).with_context(|| format!("creating {}", dest.display()))?;
    let mut wrote = Vec::new();
    for name in DATABASES {
        let source = config.data_dir.join(name);
        if !source.exists() {
            continue;
        }
        let conn = rusqlite::Connection::open_with_flags(
            &source,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .with_context(|| format!("opening {}", source.display()))?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        let target = dest.join(name);
        let target_text = target
            .to_str()
            .context("the backup folder's path is not UTF-8")?;
        conn.execute("VACUUM INTO ?1", [target_text])
            .with_context(|| format!("copying {} into {}", source.display(), target.display()))?;
        wrote.push(name.to_string());
    }
    if wrote.is_empty() {
        bail!("{} holds no relay data", config.data_dir.display());
    }
    for name in KEY_FOLDERS {
        let source = config.data_dir.join(name);
        if source.is_dir() {
            copy_folder(&source, &dest.join(name))?;
            wrote.push(format!("{name}/"));
        }
    }
    let secrets = dest.join("secrets");
    for name in SECRETS {
        let source = config.secrets_dir.join(name);
        if source.is_file() {
            std::fs::create_dir_all(&secrets)?;
            copy_private(&source, &secrets.join(name))?;
            wrote.push(format!("secrets/{name}"));
        }
    }
    let manifest = Manifest {
        taken_at: i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_millis(),
        )?,
        relay_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    std::fs::write(dest.join(MANIFEST), serde_json::to_vec_pretty(&manifest)?)?;
    Ok(wrote)
}

/// Copies a backup into the relay's data directory, which must hold no relay data yet. The
/// caller holds the data directory's lock, and names the changefeed anew afterwards.
pub fn restore(config: &Config, from: &Path) -> anyhow::Result<()> {
    shared_database(config)?;
    if !from.join(MANIFEST).is_file() {
        bail!(
            "{} is not an Aisle backup (no {MANIFEST}; make one with `admin backup`)",
            from.display()
        );
    }
    if let Some(held) = DATABASES
        .iter()
        .find(|name| config.data_dir.join(name).exists())
    {
        bail!(
            "{} already holds a relay's data ({held}): restore into an empty data directory, \
             with the current one moved aside",
            config.data_dir.display()
        );
    }
    std::fs::create_dir_all(&config.data_dir)?;
    for name in DATABASES {
        let source = from.join(name);
        if source.is_file() {
            copy_private(&source, &config.data_dir.join(name))?;
        }
    }
    for name in KEY_FOLDERS {
        let source = from.join(name);
        if source.is_dir() {
            copy_folder(&source, &config.data_dir.join(name))?;
        }
    }
    for name in SECRETS {
        let source = from.join("secrets").join(name);
        if source.is_file() {
            std::fs::create_dir_all(&config.secrets_dir)?;
            copy_private(&source, &config.secrets_dir.join(name))?;
        }
    }
    Ok(())
}

/// Copies a file readable by its owner only: databases, keys and secrets.
fn copy_private(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::copy(from, to)
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

fn copy_folder(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_folder(&entry.path(), &target)?;
        } else {
            copy_private(&entry.path(), &target)?;
        }
    }
    Ok(())
}
