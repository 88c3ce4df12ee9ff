//! Aisle's core: the domain model shared with the UI, and (with the `store` feature) the
//! Automerge documents, the SQLite store, core operations and demo data.
//!
//! Data flows one way: the app or relay calls [`Store`] operations, which change Automerge
//! documents and commit the new change chunk and its projection rows in one SQLite transaction.

pub mod api;
#[cfg(feature = "store")]
pub mod customer_records;
pub mod model;

#[cfg(feature = "store")]
pub mod clock;
#[cfg(feature = "store")]
pub mod doc;
#[cfg(feature = "store")]
mod error;
#[cfg(feature = "store")]
pub mod loyalty;
#[cfg(feature = "store")]
pub mod ops;
#[cfg(feature = "store")]
pub mod protocol;
#[cfg(feature = "qr")]
pub mod qr;
#[cfg(feature = "store")]
pub mod recommend;
#[cfg(feature = "store")]
pub mod replicate;
#[cfg(feature = "store")]
pub mod scan;
#[cfg(feature = "store")]
pub mod store;
pub mod validate;

/// The Automerge version the documents use, for crates that handle heads and actors.
#[cfg(feature = "store")]
pub use automerge;
#[cfg(feature = "store")]
pub use clock::{Clock, IdGen};
#[cfg(feature = "store")]
pub use doc::DocId;
#[cfg(feature = "store")]
pub use error::{CoreError, Result};
#[cfg(feature = "store")]
pub use ops::LoyaltyKeyInfo;
#[cfg(feature = "store")]
pub use store::{CommitHook, DocChange, RoleSchema, Store, StoreOptions};
