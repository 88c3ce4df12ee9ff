//! The tenant's money and locale. Amounts are integers of the currency's minor unit
//! everywhere (pence, cents; yen have none), never floats; how many digits a currency has
//! after the point is ISO 4217's, from `iso_currency`.

use serde::{Deserialize, Serialize};

use crate::validate::FieldError;

#[cfg(feature = "store")]
use autosurgeon::{Hydrate, Reconcile};

/// The currency prices are in and the locale numbers and dates are shown in: the relay's
/// configuration, published in the catalog so every tablet shows the same.
#[cfg_attr(feature = "store", derive(Reconcile, Hydrate))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TenantLocale {
    /// ISO 4217, upper case: `GBP`, `EUR`, `USD`, `JPY`.
    pub currency: String,
    /// A BCP 47 language tag: `en-GB`, `de-DE`, `ja-JP`.
    pub locale: String,
}

impl Default for TenantLocale {
    fn default() -> Self {
        Self {
            currency: "GBP".into(),
            locale: "en-GB".into(),
        }
    }
}

impl TenantLocale {
    /// A tenant from configuration: a currency ISO 4217 knows and a locale tag of sane shape.
    pub fn new(currency: &str, locale: &str) -> Result<Self, FieldError> {
        Ok(Self {
            currency: check_currency(currency)?,
            locale: check_locale(locale)?,
        })
    }

    /// Digits after the point in this tenant's prices.
    pub fn digits(&self) -> u32 {
        currency_digits(&self.currency).unwrap_or(2)
    }
}

/// Digits of the minor unit of an ISO 4217 currency (2 for GBP, 0 for JPY, 3 for KWD);
/// `None` for a code ISO 4217 does not have, or one without a minor unit defined (gold).
pub fn currency_digits(code: &str) -> Option<u32> {
    iso_currency::Currency::from_code(code)
        .and_then(|c| c.exponent())
        .map(u32::from)
}

/// An ISO 4217 code with a minor unit, upper-cased.
pub fn check_currency(code: &str) -> Result<String, FieldError> {
    let code = code.trim().to_ascii_uppercase();
    match currency_digits(&code) {
        Some(_) => Ok(code),
        None => Err(FieldError::new(
            "currency",
            &format!("{code:?} is not an ISO 4217 currency such as GBP, EUR, USD or JPY"),
        )),
    }
}

/// A BCP 47 tag's shape: subtags of 1 to 8 letters or digits joined by `-`, starting with a
/// 2- or 3-letter language (`en`, `en-GB`, `zh-Hant-TW`). Whether the platform knows it is
/// the platform's: an unknown one falls back to its default.
pub fn check_locale(tag: &str) -> Result<String, FieldError> {
    let tag = tag.trim();
    let mut parts = tag.split('-');
    let language_ok = parts
        .next()
        .is_some_and(|l| (2..=3).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_alphabetic()));
    let rest_ok =
        parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()));
    if language_ok && rest_ok && tag.len() <= 35 {
        Ok(tag.to_string())
    } else {
        Err(FieldError::new(
            "locale",
            &format!("{tag:?} is not a language tag such as en-GB, de-DE or ja-JP"),
        ))
    }
}

/// An amount as a person types it in a file, "12.50" or "1200", in minor units of a
/// currency with `digits` after the point: at most that many, none for a currency without.
pub fn parse_amount(text: &str, digits: u32) -> Result<i64, String> {
    let bad = || match digits {
        0 => format!("{text:?} is not a whole amount (this currency has no decimals)"),
        n => format!("{text:?} is not an amount with at most {n} decimals"),
    };
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits_usize = usize::try_from(digits).unwrap_or(usize::MAX);
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || fraction.len() > digits_usize
        || (text.contains('.') && digits == 0)
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let scale = 10i64.checked_pow(digits).ok_or_else(bad)?;
    let whole: i64 = whole.parse().map_err(|_| bad())?;
    let minor: i64 = if fraction.is_empty() {
        0
    } else {
        format!("{fraction:0<digits_usize$}")
            .parse()
            .map_err(|_| bad())?
    };
    whole
        .checked_mul(scale)
        .and_then(|w| w.checked_add(minor))
        .ok_or_else(bad)
}

/// An amount in major units with the currency's decimals and no symbol: "58.99", "-0.05",
/// "1200" (spreadsheets, files).
pub fn decimal(minor: i64, digits: u32) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let minor = minor.unsigned_abs();
    if digits == 0 {
        return format!("{sign}{minor}");
    }
    let scale = 10u64.saturating_pow(digits);
    let width = usize::try_from(digits).unwrap_or(2);
    format!("{sign}{}.{:0width$}", minor / scale, minor % scale)
}

/// An amount with the currency's symbol, as text outside a browser (the briefing's
/// suggestions, logs): "£58.99", "¥1200", "€12.50". The screens format with the platform's
/// locale rules instead (`Intl.NumberFormat`).
pub fn money_in(minor: i64, currency: &str) -> String {
    let digits = currency_digits(currency).unwrap_or(2);
    let symbol = iso_currency::Currency::from_code(currency)
        .map(|c| c.symbol().symbol)
        .unwrap_or_else(|| format!("{currency} "));
    let amount = decimal(minor, digits);
    match amount.strip_prefix('-') {
        Some(positive) => format!("-{symbol}{positive}"),
        None => format!("{symbol}{amount}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currencies_have_their_iso_minor_units() {
        assert_eq!(currency_digits("GBP"), Some(2));
        assert_eq!(currency_digits("EUR"), Some(2));
        assert_eq!(currency_digits("USD"), Some(2));
        assert_eq!(currency_digits("JPY"), Some(0));
        assert_eq!(currency_digits("KWD"), Some(3));
        assert_eq!(currency_digits("XYZ"), None);
        assert_eq!(check_currency(" jpy ").unwrap(), "JPY");
        assert!(check_currency("POUNDS").is_err());
    }

    #[test]
    fn amounts_parse_to_minor_units_of_the_currency() {
        assert_eq!(parse_amount("49.99", 2), Ok(4999));
        assert_eq!(parse_amount("49.9", 2), Ok(4990));
        assert_eq!(parse_amount("12", 2), Ok(1200));
        assert_eq!(parse_amount("1200", 0), Ok(1200));
        assert_eq!(parse_amount("1.250", 3), Ok(1250));
        for (bad, digits) in [
            ("12.5", 0),
            ("12.", 0),
            ("1.234", 2),
            ("-1", 2),
            ("1,50", 2),
            ("", 2),
            (".5", 2),
        ] {
            assert!(parse_amount(bad, digits).is_err(), "{bad:?} with {digits}");
        }
        assert!(parse_amount("99999999999999999999", 2).is_err());
    }

    #[test]
    fn money_reads_with_the_currencys_symbol_and_digits() {
        assert_eq!(money_in(5899, "GBP"), "£58.99");
        assert_eq!(money_in(-5, "GBP"), "-£0.05");
        assert_eq!(money_in(1200, "JPY"), "¥1200");
        assert_eq!(money_in(1250, "EUR"), "€12.50");
        assert_eq!(decimal(-1205, 2), "-12.05");
        assert_eq!(decimal(1200, 0), "1200");
        assert!(money_in(1250, "KWD").ends_with("1.250"));
    }

    #[test]
    fn locales_are_language_tags() {
        for ok in ["en-GB", "de-DE", "ja-JP", "zh-Hant-TW", "fr"] {
            assert!(check_locale(ok).is_ok(), "{ok}");
        }
        for bad in ["", "english", "en_GB", "en-", "e1-GB"] {
            assert!(check_locale(bad).is_err(), "{bad}");
        }
    }
}
