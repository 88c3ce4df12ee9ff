//! Product images for the tablets: a file in `<data-dir>/images/`, or fetched once from the
//! configured `--images-url` (for a path) or the product's own address, and kept in
//! `<data-dir>/images/.fetched/` so the store keeps its images when the retailer's CDN is
//! away. Only a product's own image is served: a device cannot make the relay fetch an
//! address of its choosing.

use aisle_core::model::{ImageSource, MAX_IMAGE_BYTES, image_media_type};
use sha2::Digest;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What the relay answers for an image.
#[derive(Debug)]
pub enum Image {
    Found {
        media_type: &'static str,
        bytes: Vec<u8>,
    },
    /// The app ships it (a category outline).
    Outline,
    /// Not in the folder, and nowhere to fetch it from, or the fetch failed (and why).
    Missing(String),
}

pub struct ProductImages {
    dir: PathBuf,
    base_url: Option<String>,
    http: reqwest::Client,
}

impl ProductImages {
    pub fn new(data_dir: &Path, base_url: Option<String>) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(crate::till::tls_config()?)
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()?;
        Ok(Self {
            dir: data_dir.join("images"),
            base_url: base_url.map(|b| b.trim_end_matches('/').to_string()),
            http,
        })
    }

    fn fetched_path(&self, address: &str) -> PathBuf {
        let key = hex::encode(sha2::Sha256::digest(address.as_bytes()));
        self.dir.join(".fetched").join(key)
    }

    /// The image `image` (a product's `image` field) names.
    pub async fn get(&self, image: &str) -> Image {
        let address = match ImageSource::of(image) {
            ImageSource::Outline(_) => return Image::Outline,
            ImageSource::RelayFile(path) => {
                // The import refuses `..`; a catalog from elsewhere is checked again here.
                if path
                    .split('/')
                    .any(|p| p == ".." || p.is_empty() || p.starts_with('.'))
                {
                    return Image::Missing(format!("{path:?} is not a path in the images folder"));
                }
                if let Some(found) = read(&self.dir.join(path)).await {
                    return found;
                }
                match &self.base_url {
                    Some(base) => format!("{base}/{path}"),
                    None => {
                        return Image::Missing(format!(
                            "{path} is not in the images folder (and no --images-url is set)"
                        ));
                    }
                }
            }
            ImageSource::Address(address) => address.to_string(),
        };
        let kept = self.fetched_path(&address);
        if let Some(found) = read(&kept).await {
            return found;
        }
        match self.fetch(&address).await {
            Ok((media_type, bytes)) => {
                if let Err(e) = keep(&kept, &bytes).await {
                    tracing::warn!(error = %e, %address, "cannot keep a fetched image");
                }
                Image::Found { media_type, bytes }
            }
            Err(reason) => Image::Missing(reason),
        }
    }

    async fn fetch(&self, address: &str) -> Result<(&'static str, Vec<u8>), String> {
        let mut response = self
            .http
            .get(address)
            .send()
            .await
            .map_err(|e| format!("fetching {address}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("fetching {address}: {}", response.status()));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("fetching {address}: {e}"))?
        {
            bytes.extend_from_slice(&chunk);
            if bytes.len() > MAX_IMAGE_BYTES {
                return Err(format!("{address} is over {MAX_IMAGE_BYTES} bytes"));
            }
        }
        let media_type = image_media_type(&bytes)
            .ok_or_else(|| format!("{address} is not a PNG, JPEG, GIF, WebP or SVG image"))?;
        Ok((media_type, bytes))
    }
}

/// Reads a kept or placed image off the disk, on a blocking thread.
async fn read(path: &Path) -> Option<Image> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || read_now(&path))
        .await
        .ok()
        .flatten()
}

fn read_now(path: &Path) -> Option<Image> {
    let bytes = std::fs::read(path).ok()?;
    if bytes.len() > MAX_IMAGE_BYTES {
        return Some(Image::Missing(format!(
            "{} is over {MAX_IMAGE_BYTES} bytes",
            path.display()
        )));
    }
    Some(match image_media_type(&bytes) {
        Some(media_type) => Image::Found { media_type, bytes },
        None => Image::Missing(format!(
            "{} is not a PNG, JPEG, GIF, WebP or SVG image",
            path.display()
        )),
    })
}

/// Written whole or not at all: a half-written file would be served as an image. Each
/// writer has its own partial file, so two tablets asking at once cannot interleave.
async fn keep(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let path = path.to_path_buf();
    let bytes = bytes.to_vec();
    tokio::task::spawn_blocking(move || {
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let mut partial = tempfile::NamedTempFile::new_in(dir)?;
        std::io::Write::write_all(&mut partial, &bytes)?;
        partial.persist(&path).map(|_| ()).map_err(|e| e.error)
    })
    .await
    .map_err(std::io::Error::other)?
}
