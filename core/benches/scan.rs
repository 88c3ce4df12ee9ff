//! QR decode time per camera frame: a loyalty token's code in a 640×480 and a 1280×720
//! greyscale frame, as the scanner screen decodes them (target < 50 ms per frame).

use criterion::{Criterion, criterion_group, criterion_main};
use image::{GrayImage, Luma};

/// A frame of `width` × `height` with the code drawn at a third of the frame's height, off
/// centre, on a mottled background.
fn frame(width: u32, height: u32) -> GrayImage {
    let token = "AL1.AQJrMYqbvGEBS0-KLhwdT16aUQ1qHz4rfMuT94RpAZtG7AIaBBACEUbkDDPdEksT3bQpV8lZdVfT6WnAjM9VpWf1S2ZbxnGDjKqQzvxw_4xeK3RwHc6WQ1lS7Ld1LmeVXU0A";
    let code = qrcode::QrCode::with_error_correction_level(token.as_bytes(), qrcode::EcLevel::M)
        .expect("the token fits a QR code");
    let side = height / 3;
    let rendered = code
        .render::<Luma<u8>>()
        .min_dimensions(side, side)
        .quiet_zone(true)
        .build();
    let mut out = GrayImage::from_fn(width, height, |x, y| {
        Luma([150 + ((x * 7 + y * 13) % 40) as u8])
    });
    image::imageops::overlay(
        &mut out,
        &rendered,
        i64::from(width / 5),
        i64::from(height / 4),
    );
    out
}

fn decode(c: &mut Criterion) {
    for (width, height) in [(640, 480), (1280, 720)] {
        let frame = frame(width, height);
        assert_eq!(
            aisle_core::scan::decode_qr(width as usize, height as usize, frame.as_raw()).len(),
            1,
            "the benchmark frame must hold one readable code"
        );
        c.bench_function(&format!("decode QR in a {width}x{height} frame"), |b| {
            b.iter(|| aisle_core::scan::decode_qr(width as usize, height as usize, frame.as_raw()))
        });
    }
}

criterion_group!(benches, decode);
criterion_main!(benches);
