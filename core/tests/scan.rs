//! Real QR codes, rendered the way the relay prints them, then photographed badly: rotated,
//! shrunk, blurred, washed out, placed in a larger frame. Each must decode to the token, and
//! the token must verify.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

use aisle_core::loyalty;
use aisle_core::model::CustomerId;
use aisle_core::scan::decode_qr;
use ed25519_dalek::SigningKey;
use image::{GrayImage, Luma};
use imageproc::geometric_transformations::{Interpolation, rotate_about_center};

const NOW: i64 = 1_780_000_000_000;

fn token() -> String {
    let key = SigningKey::from_bytes(&[7; 32]);
    let claims = loyalty::claims_for(
        "k1",
        0x5eed,
        CustomerId::parse("9a1c3f0e-5b7d-4e2a-8c61-2f4b9d0e7a13").unwrap(),
        NOW,
        Some(730),
    );
    loyalty::sign(&key, &claims)
}

/// The code as the relay renders it for print (medium error correction, quiet zone).
fn printed(token: &str, module_px: u32) -> GrayImage {
    qrcode::QrCode::with_error_correction_level(token.as_bytes(), qrcode::EcLevel::M)
        .unwrap()
        .render::<Luma<u8>>()
        .module_dimensions(module_px, module_px)
        .quiet_zone(true)
        .build()
}

/// `code` placed in a larger frame with a mottled background, as a camera sees a phone.
fn in_frame(code: &GrayImage, width: u32, height: u32) -> GrayImage {
    let mut frame = GrayImage::from_fn(width, height, |x, y| {
        Luma([120 + ((x * 31 + y * 17) % 60) as u8])
    });
    let x = i64::from(width.saturating_sub(code.width()) / 3);
    let y = i64::from(height.saturating_sub(code.height()) / 2);
    image::imageops::overlay(&mut frame, code, x, y);
    frame
}

fn decodes(image: &GrayImage) -> Vec<String> {
    decode_qr(
        image.width() as usize,
        image.height() as usize,
        image.as_raw(),
    )
}

fn assert_reads(what: &str, image: &GrayImage, token: &str) {
    let found = decodes(image);
    assert_eq!(found, vec![token.to_string()], "{what}");
    let public = SigningKey::from_bytes(&[7; 32]).verifying_key().to_bytes();
    loyalty::verify(
        &found[0],
        NOW,
        |_| {
            Some(loyalty::PublishedKey {
                public,
                withdrawn_at: None,
            })
        },
        |_, _| None,
    )
    .unwrap();
}

#[test]
fn printed_codes_decode_however_they_are_photographed() {
    let token = token();
    let clean = printed(&token, 6);
    assert_reads("clean", &clean, &token);
    assert_reads("in a 640x480 frame", &in_frame(&clean, 640, 480), &token);

    for degrees in [8.0f32, 25.0, 45.0, 90.0, 160.0] {
        let framed = in_frame(&printed(&token, 5), 640, 480);
        let rotated = rotate_about_center(
            &framed,
            degrees.to_radians(),
            Interpolation::Bilinear,
            Luma([140]),
        );
        assert_reads(&format!("rotated {degrees}°"), &rotated, &token);
    }

    // Shrunk to about 2 pixels a module, as from across a counter.
    let big = printed(&token, 8);
    let small = image::imageops::resize(
        &big,
        big.width() / 4,
        big.height() / 4,
        image::imageops::FilterType::Triangle,
    );
    assert_reads("scaled down", &in_frame(&small, 640, 480), &token);

    let blurred = image::imageops::blur(&in_frame(&printed(&token, 6), 640, 480), 1.5);
    assert_reads("blurred", &blurred, &token);

    // A dim phone screen under shop lights: 60 grey levels between dark and light.
    let mut washed = in_frame(&printed(&token, 6), 640, 480);
    for pixel in washed.pixels_mut() {
        pixel.0[0] = 100 + (u16::from(pixel.0[0]) * 60 / 255) as u8;
    }
    assert_reads("low contrast", &washed, &token);

    // All at once, in a 1280x720 frame.
    let everything = image::imageops::blur(
        &rotate_about_center(
            &in_frame(&printed(&token, 4), 1280, 720),
            12f32.to_radians(),
            Interpolation::Bilinear,
            Luma([140]),
        ),
        1.0,
    );
    assert_reads("rotated, blurred, 1280x720", &everything, &token);
}

#[test]
fn frames_without_a_code_or_with_a_damaged_one_find_nothing_readable() {
    let empty = in_frame(&GrayImage::new(1, 1), 640, 480);
    assert!(decodes(&empty).is_empty());
    // Half the code covered: nothing, or at worst not our token (never a wrong customer).
    let token = token();
    let mut covered = printed(&token, 6);
    let (w, h) = (covered.width(), covered.height());
    for y in 0..h / 2 {
        for x in 0..w {
            covered.put_pixel(x, y, Luma([255]));
        }
    }
    assert!(decodes(&in_frame(&covered, 640, 480)).is_empty());
}
