//! One module per screen, named after what the associate sees.

mod floor;
mod placeholder;
mod sync;

pub use floor::FloorScreen;
pub use placeholder::{CustomersScreen, ManagerScreen, StockScreen};
pub use sync::{CatchUpBar, SyncIndicator};

mod settings;
pub use settings::SettingsScreen;
