//! Aisle's core: the domain model shared with the UI, and (with the `store` feature) the
//! Automerge documents, the SQLite store, core operations and demo data.
//!
//! Data flows one way: the app or relay calls [`Store`] operations, which change Automerge
//! documents and commit the new change chunk and its projection rows in one SQLite transaction.

pub mod api;
pub mod model;
#[cfg(feature = "qr")]
pub mod qr;
pub mod validate;

/// Items of the `store` feature: everything but the model, the HTTP bodies and validation,
/// which the UI compiles to wasm without SQLite or Automerge.
macro_rules! with_store {
    ($($item:item)*) => { $(#[cfg(feature = "store")] $item)* };
}

with_store! {
    pub mod clock;
    pub mod customer_records;
    pub mod doc;
    pub mod enrolment;
    mod error;
    pub mod loyalty;
    pub mod ops;
    pub mod protocol;
    pub mod recommend;
    pub mod replicate;
    pub mod scan;
    pub mod store;

    /// The Automerge version the documents use, for crates that handle heads and actors.
    pub use automerge;
    pub use clock::{Clock, IdGen};
    pub use doc::DocId;
    pub use error::{CoreError, Result};
    pub use ops::LoyaltyKeyInfo;
    pub use store::{CommitHook, DocChange, RoleSchema, Store, StoreOptions};
}
