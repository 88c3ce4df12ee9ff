//! Product images kept on the tablet for a shift offline: fetched from the relay once each
//! (and again when the catalog names another image), kept under the tablet's data folder
//! by a hash of the image's name, and shown from there. Products without one show their
//! category's outline, which the app ships with.

use aisle_core::model::{ImageSource, MAX_IMAGE_BYTES, ProductSku, image_media_type};
use base64::Engine;
use sha2::Digest;
use std::path::{Path, PathBuf};

use crate::Tablet;
use crate::relay_client;
use crate::sync_client::{SyncConfig, SyncError};

/// What one round of fetching did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImagesFetched {
    pub fetched: usize,
    /// The relay has none to give for these (yet): asked again next round.
    pub unavailable: usize,
    pub already_kept: usize,
}

/// The tablet's kept images, in `<data dir>/images/`.
#[derive(Clone, Debug)]
pub struct ImageCache {
    dir: PathBuf,
}

impl ImageCache {
    /// Beside the tablet's database.
    pub fn beside(db_path: &Path) -> Self {
        let dir = db_path
            .parent()
            .map_or_else(|| PathBuf::from("images"), |p| p.join("images"));
        Self { dir }
    }

    fn path(&self, image: &str) -> PathBuf {
        self.dir
            .join(hex::encode(sha2::Sha256::digest(image.as_bytes())))
    }

    pub fn is_kept(&self, image: &str) -> bool {
        self.path(image).is_file()
    }

    /// The kept image as a `data:` address for an `<img>`, or `None` if it is not kept (or
    /// is not an image).
    pub fn data_url(&self, image: &str) -> Option<String> {
        let bytes = std::fs::read(self.path(image)).ok()?;
        let media_type = image_media_type(&bytes)?;
        let encoded = base64::engine::general_purpose::STANDARD.encode(&bytes);
        Some(format!("data:{media_type};base64,{encoded}"))
    }

    /// Written whole or not at all, so a killed app never leaves half an image to show.
    fn keep(&self, image: &str, bytes: &[u8]) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let mut partial = tempfile::NamedTempFile::new_in(&self.dir)?;
        std::io::Write::write_all(&mut partial, bytes)?;
        partial
            .persist(self.path(image))
            .map(|_| ())
            .map_err(|e| e.error)
    }

    /// Fetches from the relay every product image of `wanted` not kept yet. Stops at the
    /// first failure to reach the relay (offline: the next round tries again).
    pub async fn fetch_missing(
        &self,
        config: &SyncConfig,
        wanted: Vec<(ProductSku, String)>,
    ) -> Result<ImagesFetched, SyncError> {
        let mut report = ImagesFetched::default();
        for (product, image) in wanted {
            if self.is_kept(&image) {
                report.already_kept += 1;
                continue;
            }
            match relay_client::product_image(config, &product).await? {
                Some(bytes)
                    if bytes.len() <= MAX_IMAGE_BYTES && image_media_type(&bytes).is_some() =>
                {
                    let cache = self.clone();
                    let name = image.clone();
                    tokio::task::spawn_blocking(move || cache.keep(&name, &bytes))
                        .await
                        .map_err(|e| SyncError::Protocol(e.to_string()))?
                        .map_err(|e| SyncError::Protocol(format!("keeping an image: {e}")))?;
                    report.fetched += 1;
                }
                Some(_) | None => report.unavailable += 1,
            }
        }
        Ok(report)
    }
}

impl Tablet {
    /// Products whose image the relay serves (not a category outline), with that image.
    pub fn product_images(&self) -> aisle_core::Result<Vec<(ProductSku, String)>> {
        let mut stmt = self
            .conn()
            .prepare_cached("SELECT sku, image FROM products ORDER BY sku")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (sku, image) = row?;
            if !matches!(ImageSource::of(&image), ImageSource::Outline(_)) {
                out.push((ProductSku::parse(sku)?, image));
            }
        }
        Ok(out)
    }
}
