//! Customers: `customer_id,loyalty_number,name,email,phone,home_store,tier,joined,
//! consent_in_store,consent_email,consent_sms`. `customer_id` is the retailer's own number
//! for the customer: the document's id is derived from it, so the same customer imported
//! twice is one profile, and a later file updates their name, contact details, store, tier
//! and consent where it differs. The loyalty number cannot change by import (cards and
//! codes already carry it). Consent left blank is left as it is.

use super::rows::{self, Row};
use super::{ImportError, ImportFile, ImportProgress, PROGRESS_EVERY};
use crate::domain::RelayDocs;
use aisle_core::Store;
use aisle_core::api::ImportSummary;
use aisle_core::customer_records::CustomerImport;
use aisle_core::doc::{CustomerDoc, DocId, hydrate_doc};
use aisle_core::model::{
    ConsentPurpose, ConsentRecord, ConsentSource, CustomerId, LoyaltyId, Millis, NewCustomer,
    StoreId, Tier,
};
use aisle_core::validate::{self, MAX_SHORT_TEXT_CHARS};
use sha2::{Digest, Sha256};
use std::borrow::BorrowMut;
use std::collections::BTreeMap;

const COLUMNS: &[&str] = &[
    "customer_id",
    "loyalty_number",
    "name",
    "email",
    "phone",
    "home_store",
    "tier",
    "joined",
    "consent_in_store",
    "consent_email",
    "consent_sms",
];

const CONSENT_COLUMNS: [(&str, ConsentPurpose); 3] = [
    ("consent_in_store", ConsentPurpose::InStorePersonalisation),
    ("consent_email", ConsentPurpose::MarketingEmail),
    ("consent_sms", ConsentPurpose::MarketingSms),
];

/// Longest retailer customer number taken.
const MAX_RETAILER_ID_CHARS: usize = 64;

/// The document id of the retailer's customer `retailer_id`: the same number always names
/// the same profile, on every relay, without a table mapping one to the other.
pub fn customer_id_for(retailer_id: &str) -> CustomerId {
    let digest = Sha256::digest(format!("aisle-import:customer:{retailer_id}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    let id = uuid::Builder::from_custom_bytes(bytes)
        .into_uuid()
        .to_string();
    CustomerId::parse(id).unwrap_or_else(|_| unreachable!("a UUID is a valid customer id"))
}

/// A record as read, before it is compared with what the relay holds.
struct Record {
    line: usize,
    id: CustomerId,
    new: NewCustomer,
    joined_at: Option<Millis>,
    /// Only the columns the file filled in.
    consent: Vec<(ConsentPurpose, bool)>,
}

fn record_of(row: &Row, country_code: &str) -> Result<Record, String> {
    let retailer_id = row.required("customer_id")?;
    if retailer_id.chars().count() > MAX_RETAILER_ID_CHARS {
        return Err(format!(
            "customer_id is longer than {MAX_RETAILER_ID_CHARS} characters"
        ));
    }
    let loyalty_id =
        LoyaltyId::parse(row.required("loyalty_number")?).map_err(|e| e.to_string())?;
    let name = validate::check_text("name", row.required("name")?, MAX_SHORT_TEXT_CHARS)
        .map_err(|e| e.to_string())?;
    let email = row
        .get("email")
        .map(validate::normalize_email)
        .transpose()
        .map_err(|e| e.to_string())?;
    let phone = row
        .get("phone")
        .map(|p| validate::normalize_phone(p, country_code))
        .transpose()
        .map_err(|e| e.to_string())?;
    let home_store = StoreId::parse(row.required("home_store")?).map_err(|e| e.to_string())?;
    let tier = match row.get("tier").map(str::to_ascii_lowercase).as_deref() {
        None | Some("member") => Tier::Member,
        Some("silver") => Tier::Silver,
        Some("gold") => Tier::Gold,
        Some(other) => return Err(format!("tier {other:?} is not member, silver or gold")),
    };
    let joined_at = row.get("joined").map(day_start_millis).transpose()?;
    let mut consent = Vec::new();
    for (column, purpose) in CONSENT_COLUMNS {
        if let Some(granted) = row.flag(column)? {
            consent.push((purpose, granted));
        }
    }
    Ok(Record {
        line: row.line,
        id: customer_id_for(retailer_id),
        new: NewCustomer {
            loyalty_id,
            name,
            email,
            phone,
            home_store,
            tier,
            consent: BTreeMap::new(),
        },
        joined_at,
        consent,
    })
}

/// `YYYY-MM-DD` as the start of that day (UTC), in milliseconds since the epoch.
fn day_start_millis(text: &str) -> Result<Millis, String> {
    let bad = || format!("joined is not a date as YYYY-MM-DD: {text:?}");
    let mut parts = text.splitn(3, '-');
    let (Some(y), Some(m), Some(d)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let year: i32 = y.parse().map_err(|_| bad())?;
    let month: u8 = m.parse().map_err(|_| bad())?;
    let day: u8 = d.parse().map_err(|_| bad())?;
    let month = time::Month::try_from(month).map_err(|_| bad())?;
    let date = time::Date::from_calendar_date(year, month, day).map_err(|_| bad())?;
    // The Julian day of 1970-01-01.
    const UNIX_EPOCH_JULIAN_DAY: i64 = 2_440_588;
    Ok((i64::from(date.to_julian_day()) - UNIX_EPOCH_JULIAN_DAY) * 86_400_000)
}

pub(super) fn import<S: BorrowMut<Store>>(
    docs: &mut RelayDocs<S>,
    file: &ImportFile,
    progress: &mut dyn FnMut(ImportProgress),
) -> Result<ImportSummary, ImportError> {
    let (rows, mut errors) = rows::read(&file.text, file.format, &file.rename, COLUMNS)?;
    let country_code = docs.default_country_code.clone();
    let known_stores: Vec<StoreId> = docs.stores()?.into_iter().map(|s| s.id).collect();
    // Each identifier once in the file: line it is on, by kind and value.
    let mut seen: BTreeMap<(&'static str, String), usize> = BTreeMap::new();
    let mut records = Vec::with_capacity(rows.len());
    let total = rows.len();
    for (i, row) in rows.iter().enumerate() {
        if i % PROGRESS_EVERY == 0 {
            progress(ImportProgress {
                stage: "checking",
                done: i,
                total,
            });
        }
        let record = match record_of(row, &country_code) {
            Ok(record) => record,
            Err(reason) => {
                errors.add(row.line, reason);
                continue;
            }
        };
        if !known_stores.contains(&record.new.home_store) {
            errors.add(
                row.line,
                format!("home_store {} is not in the catalog", record.new.home_store),
            );
            continue;
        }
        let mut clash = None;
        for (kind, value) in identifiers(&record) {
            if let Some(first) = seen.insert((kind, value.clone()), row.line) {
                clash = Some(format!("{kind} {value} is also on line {first}"));
            }
        }
        if let Some(reason) = clash {
            errors.add(row.line, reason);
            continue;
        }
        records.push(record);
    }
    // The records that read go on to be checked against the customers here, so one
    // refusal names every bad line.
    let now = docs.now();
    let mut summary = ImportSummary {
        records: rows.len(),
        ..ImportSummary::default()
    };
    let mut new = Vec::new();
    let mut updates = Vec::new();
    for record in records {
        let doc_id = DocId::Customer(record.id.clone());
        // An identifier finds one customer: one another customer holds is refused.
        for (kind, value) in identifiers(&record) {
            if let Some(holder) = docs.lookup_identifier(kind, &value)?
                && holder != record.id
            {
                errors.add(
                    record.line,
                    format!("{kind} {value} belongs to another customer"),
                );
            }
        }
        if !docs.has_doc(&doc_id)? {
            let mut import = CustomerImport::new(record.new, record.joined_at.unwrap_or(now));
            import.id = Some(record.id);
            for (purpose, granted) in record.consent {
                import.customer.consent.insert(
                    purpose,
                    ConsentRecord {
                        granted,
                        at: now,
                        source: ConsentSource::Import,
                    },
                );
            }
            new.push(import);
            continue;
        }
        let mut write = docs.begin_write(&doc_id, false)?;
        let mut customer: CustomerDoc = hydrate_doc(&write.doc, &doc_id)?;
        if customer.identity.loyalty_id != record.new.loyalty_id {
            errors.add(
                record.line,
                format!(
                    "the customer's loyalty number is {} here: an import does not change it",
                    customer.identity.loyalty_id
                ),
            );
            continue;
        }
        if customer.merged_into.is_some() {
            errors.add(
                record.line,
                "the customer was merged into another profile".to_string(),
            );
            continue;
        }
        let before = customer.clone();
        let identity = &mut customer.identity;
        identity.name = record.new.name;
        identity.email = record.new.email;
        identity.phone = record.new.phone;
        identity.home_store = record.new.home_store;
        identity.tier = record.new.tier;
        if let Some(joined_at) = record.joined_at {
            identity.joined_at = joined_at;
        }
        for (purpose, granted) in record.consent {
            let key = purpose.as_key().to_string();
            if customer.consent.get(&key).map(|c| c.granted) != Some(granted) {
                customer.consent.insert(
                    key,
                    ConsentRecord {
                        granted,
                        at: now,
                        source: ConsentSource::Import,
                    },
                );
            }
        }
        if customer == before {
            summary.unchanged += 1;
            continue;
        }
        autosurgeon::reconcile(&mut write.doc, &customer).map_err(aisle_core::CoreError::from)?;
        summary.updated += 1;
        updates.push(write);
    }
    if !errors.is_empty() {
        return Err(errors.into());
    }
    summary.created = new.len();
    if !new.is_empty() || !updates.is_empty() {
        let updated = updates.len();
        let writing = new.len() + updated;
        docs.import_customers_updating(new, updates, |written| {
            if written % PROGRESS_EVERY == 0 {
                progress(ImportProgress {
                    stage: "writing",
                    done: updated + written,
                    total: writing,
                });
            }
        })?;
    }
    Ok(summary)
}

fn identifiers(record: &Record) -> Vec<(&'static str, String)> {
    let mut out = vec![("loyalty", record.new.loyalty_id.as_str().to_string())];
    out.extend(record.new.email.clone().map(|e| ("email", e)));
    out.extend(record.new.phone.clone().map(|p| ("phone", p)));
    out
}
