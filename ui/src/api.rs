//! Typed calls to the app's commands.

use aisle_core::model::{ApiError, CustomerProfile, CustomerSummary, StoreStats};
use serde::{Deserialize, Serialize};

use crate::tauri::invoke;

#[derive(Serialize)]
struct NoArgs {}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct LoadingProgress {
    pub stage: String,
    pub done: usize,
    pub total: usize,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct AppInfo {
    pub home_store: String,
    pub home_store_name: Option<String>,
    pub version: String,
    pub loading: Option<LoadingProgress>,
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
