//! Loyalty token keys and QR codes on the relay. Private keys stay in
//! `<data-dir>/loyalty-keys/<id>.key` (hex, owner-only); their public halves and revoked tokens
//! go out to every device in the `loyalty` document.

use aisle_core::model::CustomerId;
use anyhow::{Context, bail};
use ed25519_dalek::SigningKey;
use rand::Rng;
use std::path::{Path, PathBuf};

use crate::storage::LoyaltyKeys;

fn key_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("loyalty-keys")
}

fn key_path(data_dir: &Path, id: &str) -> PathBuf {
    key_dir(data_dir).join(format!("{id}.key"))
}

fn read_key(data_dir: &Path, id: &str) -> anyhow::Result<SigningKey> {
    let path = key_path(data_dir, id);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading the loyalty key {}", path.display()))?;
    let bytes: [u8; 32] = hex::decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .with_context(|| format!("{} is not a loyalty key", path.display()))?;
    Ok(SigningKey::from_bytes(&bytes))
}

/// Makes a new signing key, stores it, and publishes it as the current one; older keys retire
/// (their tokens still verify). Returns the new key's id.
pub fn rotate(data_dir: &Path, store: &dyn LoyaltyKeys) -> anyhow::Result<String> {
    let next = store
        .loyalty_keys()?
        .iter()
        .filter_map(|k| k.id.strip_prefix('k')?.parse::<u32>().ok())
        .max()
        .unwrap_or(0)
        + 1;
    let id = format!("k{next}");
    let mut secret = [0u8; 32];
    rand::rng().fill(&mut secret);
    let key = SigningKey::from_bytes(&secret);
    std::fs::create_dir_all(key_dir(data_dir))?;
    let path = key_path(data_dir, &id);
    std::fs::write(&path, hex::encode(secret))
        .with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    // The file is written first: a crash between the two leaves an unused file, never a
    // published key the relay cannot sign with.
    store.add_loyalty_key(&id, &key)?;
    Ok(id)
}

/// The current signing key, made on first use.
pub fn current(data_dir: &Path, store: &dyn LoyaltyKeys) -> anyhow::Result<(String, SigningKey)> {
    let active = store
        .loyalty_keys()?
        .into_iter()
        .find(|k| k.retired_at.is_none());
    let id = match active {
        Some(key) => key.id,
        None => rotate(data_dir, store)?,
    };
    let key = read_key(data_dir, &id)?;
    Ok((id, key))
}

/// Withdraws a leaked key: a new current key first if it was the current one, so the relay
/// always has one to sign with, then the withdrawal (devices refuse every token naming it), then
/// its private file goes, so it never signs again here. Returns the current key's id.
pub fn withdraw(data_dir: &Path, store: &dyn LoyaltyKeys, key_id: &str) -> anyhow::Result<String> {
    let keys = store.loyalty_keys()?;
    let Some(key) = keys.iter().find(|k| k.id == key_id) else {
        bail!("there is no loyalty key {key_id}");
    };
    if key.retired_at.is_none() {
        rotate(data_dir, store)?;
    }
    store.withdraw_loyalty_key(key_id)?;
    match std::fs::remove_file(key_path(data_dir, key_id)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).context("removing the withdrawn key's file");
        }
        _ => {}
    }
    Ok(current(data_dir, store)?.0)
}

/// Signs a token for a customer with the current key.
pub fn issue(
    data_dir: &Path,
    store: &dyn LoyaltyKeys,
    customer: &CustomerId,
    valid_days: Option<u32>,
) -> anyhow::Result<String> {
    let (id, key) = current(data_dir, store)?;
    Ok(store.issue_loyalty_token(&id, &key, customer, valid_days)?)
}

/// The token as a QR code: SVG text.
pub fn qr_svg(token: &str) -> anyhow::Result<String> {
    let code = qrcode::QrCode::with_error_correction_level(token.as_bytes(), qrcode::EcLevel::M)?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(240, 240)
        .quiet_zone(true)
        .build())
}

/// The token as a QR code: PNG bytes, `module_px` pixels per module.
pub fn qr_png(token: &str, module_px: u32) -> anyhow::Result<Vec<u8>> {
    if !(1..=40).contains(&module_px) {
        bail!("module size is 1 to 40 pixels");
    }
    let code = qrcode::QrCode::with_error_correction_level(token.as_bytes(), qrcode::EcLevel::M)?;
    let image = code
        .render::<image::Luma<u8>>()
        .module_dimensions(module_px, module_px)
        .quiet_zone(true)
        .build();
    let mut png = Vec::new();
    image.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)?;
    Ok(png)
}
