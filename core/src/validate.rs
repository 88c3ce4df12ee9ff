//! Limits and checks for every field that comes from outside: people typing, imports, scans.
//! A failed check names the field and the reason, so the UI can say what to fix.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest free text an associate may type in a note.
pub const MAX_NOTE_CHARS: usize = 2_000;
/// Longest name, email or other short text field.
pub const MAX_SHORT_TEXT_CHARS: usize = 200;
/// Largest quantity on one cart line, hold or sale line.
pub const MAX_LINE_QUANTITY: u32 = 99;
/// Highest unit price, in the currency's minor units: above any garment in any currency (a
/// billion pounds; a billion rupiah, with its two decimals), and low enough that no sale's
/// total, nor the KPIs' sums of many, can overflow.
pub const MAX_UNIT_PRICE_MINOR: i64 = 100_000_000_000;
/// Largest single stock adjustment (a delivery of a whole pallet is still below this).
pub const MAX_STOCK_ADJUSTMENT: i64 = 10_000;
/// Most lines in one cart or sale.
pub const MAX_LINES: usize = 100;
/// Longest search query that is looked at.
pub const MAX_QUERY_CHARS: usize = 100;

/// A field that failed validation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

impl FieldError {
    pub fn new(field: &str, reason: &str) -> Self {
        Self {
            field: field.to_string(),
            reason: reason.to_string(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

impl std::error::Error for FieldError {}

/// An identifier-like token: 1..=max characters of ASCII letters, digits, `-`, `_` or `.`.
pub fn check_token(field: &str, text: &str, max: usize) -> Result<(), FieldError> {
    if text.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if text.len() > max {
        return Err(FieldError::new(
            field,
            &format!("must be at most {max} characters"),
        ));
    }
    if !text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(FieldError::new(
            field,
            "may only contain letters, digits, '-', '_' and '.'",
        ));
    }
    Ok(())
}

/// Human text: trimmed, not empty, at most `max` characters, no control characters except
/// line breaks. Returns the trimmed text.
pub fn check_text(field: &str, text: &str, max: usize) -> Result<String, FieldError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if trimmed.chars().count() > max {
        return Err(FieldError::new(
            field,
            &format!("must be at most {max} characters"),
        ));
    }
    if trimmed
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(trimmed.to_string())
}

/// As [`check_text`], but empty is allowed (a note nobody needed to write).
pub fn check_optional_text(field: &str, text: &str, max: usize) -> Result<String, FieldError> {
    if text.trim().is_empty() {
        return Ok(String::new());
    }
    check_text(field, text, max)
}

/// Lower-cases and trims an email address and checks its basic shape.
pub fn normalize_email(text: &str) -> Result<String, FieldError> {
    let email = text.trim().to_lowercase();
    let invalid = |reason| Err(FieldError::new("email", reason));
    if email.len() > MAX_SHORT_TEXT_CHARS {
        return invalid("is too long");
    }
    let Some((local, domain)) = email.split_once('@') else {
        return invalid("must contain @");
    };
    if local.is_empty() || domain.len() < 3 || !domain.contains('.') || domain.contains('@') {
        return invalid("is not an email address");
    }
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return invalid("must not contain spaces");
    }
    Ok(email)
}

/// Normalises a phone number to E.164 (`+` and 8–15 digits). Numbers without a country code
/// take `default_country_code` and lose their trunk `0`.
pub fn normalize_phone(text: &str, default_country_code: &str) -> Result<String, FieldError> {
    let trimmed = text.trim();
    let international = trimmed.starts_with('+') || trimmed.starts_with("00");
    if trimmed
        .chars()
        .any(|c| !(c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')' | '.')))
    {
        return Err(FieldError::new(
            "phone",
            "may only contain digits, spaces and + - ( ) .",
        ));
    }
    let digits: String = trimmed.chars().filter(char::is_ascii_digit).collect();
    let full = if international {
        digits.strip_prefix("00").unwrap_or(&digits).to_string()
    } else {
        format!("{default_country_code}{}", digits.trim_start_matches('0'))
    };
    if !(8..=15).contains(&full.len()) {
        return Err(FieldError::new("phone", "must have 8 to 15 digits"));
    }
    Ok(format!("+{full}"))
}

/// A product barcode as printed on a tag: EAN-13, or UPC-A (12 digits, read as EAN-13 with a
/// leading zero), with a correct check digit. Returns the 13 digits.
pub fn normalize_gtin(text: &str) -> Option<String> {
    let text = text.trim();
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = match text.len() {
        13 => text.to_string(),
        12 => format!("0{text}"),
        _ => return None,
    };
    let (body, check) = digits.split_at(12);
    (gtin_check_digit(body) == check.as_bytes()[0] - b'0').then_some(digits)
}

/// The EAN-13 check digit of 12 digits.
pub fn gtin_check_digit(body: &str) -> u8 {
    let sum: u32 = body
        .bytes()
        .enumerate()
        .map(|(i, b)| u32::from(b.wrapping_sub(b'0')) * if i % 2 == 0 { 1 } else { 3 })
        .sum();
    u8::try_from((10 - sum % 10) % 10).unwrap_or(0)
}

/// A quantity on a line: 1..=MAX_LINE_QUANTITY.
pub fn check_quantity(quantity: u32) -> Result<(), FieldError> {
    if quantity == 0 || quantity > MAX_LINE_QUANTITY {
        return Err(FieldError::new(
            "quantity",
            &format!("must be between 1 and {MAX_LINE_QUANTITY}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_trimmed_and_bounded() {
        assert_eq!(check_text("note", "  hi \n", 10).unwrap(), "hi");
        assert!(check_text("note", "   ", 10).is_err());
        assert!(check_text("note", &"x".repeat(11), 10).is_err());
        assert!(check_text("note", "bell\u{7}", 10).is_err());
        assert_eq!(check_text("note", "two\nlines", 20).unwrap(), "two\nlines");
    }

    #[test]
    fn emails_normalise() {
        assert_eq!(
            normalize_email(" Anna.Berg@Example.COM ").unwrap(),
            "anna.berg@example.com"
        );
        assert!(normalize_email("anna").is_err());
        assert!(normalize_email("anna@x").is_err());
        assert!(normalize_email("an na@example.com").is_err());
    }

    #[test]
    fn phones_normalise_to_e164() {
        assert_eq!(
            normalize_phone("07700 900123", "44").unwrap(),
            "+447700900123"
        );
        assert_eq!(
            normalize_phone("+44 7700 900123", "1").unwrap(),
            "+447700900123"
        );
        assert_eq!(
            normalize_phone("0044 7700 900123", "1").unwrap(),
            "+447700900123"
        );
        assert!(normalize_phone("12", "44").is_err());
        assert!(normalize_phone("call me", "44").is_err());
    }

    #[test]
    fn quantities_are_bounded() {
        assert!(check_quantity(1).is_ok());
        assert!(check_quantity(0).is_err());
        assert!(check_quantity(MAX_LINE_QUANTITY + 1).is_err());
    }
}
