//! Core operations: the API the app and the relay call. Each one validates its input, changes
//! documents and commits them with their projections, or changes nothing.

mod catalog;
mod customers;
mod floor;
mod insight;
mod inventory;
mod kiosk;
mod loyalty;
mod merge;
mod search;
mod stats;

pub(crate) use customers::check_purchase;
pub use insight::PublishedRecommendations;
pub use inventory::{HoldRequest, SaleRequest};
pub use loyalty::LoyaltyKeyInfo;
