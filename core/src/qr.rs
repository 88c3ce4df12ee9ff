//! QR codes in camera frames and photos, decoded with rqrr (pure Rust, so the same code runs
//! in the tablet app and in the UI's WebAssembly for live camera frames).

/// QR codes found in a greyscale frame (`width` × `height`, one byte per pixel, row-major):
/// the text of each, in the order found. A frame with none gives an empty list.
pub fn decode_qr(width: usize, height: usize, luma: &[u8]) -> Vec<String> {
    if width == 0 || height == 0 || luma.len() < width * height {
        return Vec::new();
    }
    let mut image =
        rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| luma[y * width + x]);
    image
        .detect_grids()
        .into_iter()
        .filter_map(|grid| grid.decode().ok().map(|(_, text)| text))
        .collect()
}
