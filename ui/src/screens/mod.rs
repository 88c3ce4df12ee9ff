//! One module per screen, named after what the associate sees.

mod customer;
mod floor;
mod kiosk;
mod manager;
mod product_image;
pub mod scan;
mod settings;
mod stock;
mod stock_movements;
mod sync;

pub use customer::CustomersScreen;
pub use floor::FloorScreen;
pub use kiosk::KioskScreen;
pub use manager::ManagerScreen;
pub use settings::SettingsScreen;
pub use stock::StockScreen;
pub use sync::{CatchUpBar, SyncIndicator};
