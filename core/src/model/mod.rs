//! The serializable domain model: what the UI renders and what crosses the Tauri boundary.
//! Compiles for `wasm32` without the `store` feature; with it, the plain records also map
//! to Automerge through `autosurgeon`.

mod catalog;
pub mod commands;
mod customer;
mod error;
mod floor;
mod ids;
mod inventory;
mod money;
mod stats;
mod sync;
mod words;

pub use catalog::*;
pub use customer::*;
pub use error::*;
pub use floor::*;
pub use ids::*;
pub use inventory::*;
pub use money::*;
pub use stats::*;
pub use sync::*;
pub use words::ago;

/// Milliseconds since the Unix epoch, UTC. Every timestamp in Aisle uses it.
pub type Millis = i64;
