//! Typed calls to the app's commands.

use aisle_core::model::{ApiError, CustomerProfile, CustomerSummary, Role, StoreStats, SyncStatus};
use serde::{Deserialize, Serialize};

use crate::tauri::invoke;

#[derive(Serialize)]
struct NoArgs {}

/// How this tablet is known to its relay.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Enrolment {
    pub relay_url: String,
    pub device: String,
    pub store: String,
    pub role: Role,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct AppInfo {
    pub enrolment: Option<Enrolment>,
    pub home_store_name: Option<String>,
    pub version: String,
}

pub async fn app_info() -> Result<AppInfo, ApiError> {
    invoke("app_info", &NoArgs {}).await
}

pub async fn store_stats() -> Result<StoreStats, ApiError> {
    invoke("store_stats", &NoArgs {}).await
}

#[derive(Serialize)]
struct Query<'a> {
    query: &'a str,
}

pub async fn search_customers(query: &str) -> Result<Vec<CustomerSummary>, ApiError> {
    invoke("search_customers", &Query { query }).await
}

#[derive(Serialize)]
struct Id<'a> {
    id: &'a str,
}

pub async fn customer_profile(id: &str) -> Result<CustomerProfile, ApiError> {
    invoke("customer_profile", &Id { id }).await
}

pub async fn sync_status() -> Result<Option<SyncStatus>, ApiError> {
    invoke("sync_status", &NoArgs {}).await
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EnrolArgs<'a> {
    relay_url: &'a str,
    code: &'a str,
}

pub async fn enrol(relay_url: &str, code: &str) -> Result<Enrolment, ApiError> {
    invoke("enrol", &EnrolArgs { relay_url, code }).await
}

/// Words for an error an associate can act on, by its code.
pub fn describe(error: &ApiError) -> String {
    use aisle_core::model::ErrorCode::*;
    let hint = match error.code {
        NotFound => "Not found.",
        InvalidInput => "Please check what was entered.",
        StorageFull => "The tablet is out of storage space.",
        Busy => "The tablet is busy; try again in a moment.",
        Storage | Corrupt | Internal => "Something went wrong on this tablet.",
    };
    format!("{hint} {}", error.message)
}
