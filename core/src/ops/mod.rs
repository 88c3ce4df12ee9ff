//! Core operations: the API the app and the relay call. Each one validates its input, changes
//! documents and commits them with their projections, or changes nothing.

mod catalog;
mod customers;
mod inventory;
mod kiosk;
mod loyalty;
pub(crate) mod search;
mod stats;

pub use customers::{check_purchase, learn_sizes};
pub use inventory::distance_km;
pub use loyalty::LoyaltyKeyInfo;
pub use search::MAX_SEARCH_RESULTS;
