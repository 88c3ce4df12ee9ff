//! Core operations: the API the app and the relay call. Each one validates its input, changes
//! documents and commits them with their projections, or changes nothing.

mod catalog;
mod customers;
mod floor;
mod insight;
mod inventory;
mod kiosk;
mod loyalty;
mod search;
mod stats;

pub use customers::check_purchase;
pub use inventory::{HoldRequest, SaleRequest, distance_km};
pub use loyalty::LoyaltyKeyInfo;
