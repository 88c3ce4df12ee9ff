//! What a scan is: a signed loyalty token (QR code, NFC card), a printed loyalty number, or a
//! product barcode from a tag. Text comes from a camera frame, an image file, a keyboard-wedge
//! scanner typing into the search field, or an NFC card's NDEF record; all of it is routed
//! here, so every input is checked the same way.

use crate::error::{CoreError, Result};
use crate::loyalty::TOKEN_PREFIX;
use crate::model::LoyaltyId;
use crate::store::Store;
use crate::validate;

/// Longest scan text considered (a wedge scanner pasting a whole page is not a scan).
const MAX_SCAN_CHARS: usize = 1_000;

/// A scan's text, classified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scanned {
    /// `AL1.…`, also when inside a URL (`https://…/l/AL1.…` on an NFC card or a printed code).
    Token(String),
    Loyalty(LoyaltyId),
    /// EAN-13 (UPC-A widened to 13 digits), check digit verified.
    Barcode(String),
}

/// Classifies scan text. Unknown text is an error that says what a scan can be.
pub fn classify(text: &str) -> Result<Scanned> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > MAX_SCAN_CHARS {
        return Err(not_a_scan());
    }
    if let Some(at) = text.find(TOKEN_PREFIX) {
        let token: String = text[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
            .collect();
        return Ok(Scanned::Token(token));
    }
    if let Ok(loyalty) = LoyaltyId::parse(text) {
        return Ok(Scanned::Loyalty(loyalty));
    }
    if let Some(gtin) = validate::normalize_gtin(text) {
        return Ok(Scanned::Barcode(gtin));
    }
    if text.len() >= 12 && text.len() <= 13 && text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CoreError::invalid(
            "barcode",
            "the check digit is wrong: scan the tag again",
        ));
    }
    Err(not_a_scan())
}

fn not_a_scan() -> CoreError {
    CoreError::invalid(
        "scan",
        "not a loyalty code, loyalty number or product barcode",
    )
}

impl Store {}

pub use crate::qr::decode_qr;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_are_told_apart() {
        assert!(matches!(classify("AL1.abc_-9"), Ok(Scanned::Token(t)) if t == "AL1.abc_-9"));
        assert!(matches!(
            classify("https://shop.example/l/AL1.xyz?utm=nfc"),
            Ok(Scanned::Token(t)) if t == "AL1.xyz"
        ));
        let loyalty = LoyaltyId::from_serial(223);
        assert_eq!(
            classify(&format!(" {loyalty}\\n")).ok(),
            None,
            "a literal backslash is not a scan"
        );
        assert_eq!(
            classify(&format!(" {loyalty}\n")).unwrap(),
            Scanned::Loyalty(loyalty)
        );
        assert_eq!(
            classify("5012345678900").unwrap(),
            Scanned::Barcode("5012345678900".into())
        );
        // UPC-A 036000291452 is EAN-13 0036000291452.
        assert_eq!(
            classify("036000291452").unwrap(),
            Scanned::Barcode("0036000291452".into())
        );
        let wrong_check = classify("5012345678901").unwrap_err().to_string();
        assert!(wrong_check.contains("check digit"), "{wrong_check}");
        for junk in ["", "   ", "hello", "12345", &"9".repeat(2_000)] {
            assert!(classify(junk).is_err(), "{junk:?}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(10_000))]
        #[test]
        fn any_text_classifies_or_errs_without_panicking(text in "\\PC{0,200}") {
            let _ = classify(&text);
        }

        #[test]
        fn any_frame_decodes_or_finds_nothing(
            w in 1usize..40,
            pixels in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..1600),
        ) {
            let _ = decode_qr(w, pixels.len() / w, &pixels);
        }
    }
}
