//! One module per screen, named after what the associate sees.

mod floor;
mod placeholder;

pub use floor::FloorScreen;
pub use placeholder::{CustomersScreen, ManagerScreen, SettingsScreen, StockScreen};
