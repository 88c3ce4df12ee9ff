//! A relay's document store with the demo catalog and a few customers, made once per fuzzing
//! process and shared by its runs.

use aisle_relay::domain::RelayDocs;
use aisle_relay::domain::demo::{DemoConfig, DemoData};

pub struct DemoRelay {
    pub relay: RelayDocs,
    /// On tmpfs when there is one: every applied run commits, and fsyncs there cost nothing.
    _dir: tempfile::TempDir,
}

pub fn demo_relay() -> DemoRelay {
    let dir = tempfile::tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .expect("a temporary folder");
    let mut relay = RelayDocs::open(dir.path().join("relay.sqlite3")).expect("a store");
    DemoData::generate(DemoConfig::new(5, 1_780_000_000_000))
        .import(&mut relay, |_| {})
        .expect("demo data");
    DemoRelay { relay, _dir: dir }
}
