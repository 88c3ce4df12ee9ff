//! One module per screen, named after what the associate sees.

mod customer;
mod floor;
mod manager;
mod settings;
mod stock;
mod sync;

pub use customer::CustomersScreen;
pub use floor::FloorScreen;
pub use manager::ManagerScreen;
pub use settings::SettingsScreen;
pub use stock::StockScreen;
pub use sync::{CatchUpBar, SyncIndicator};
