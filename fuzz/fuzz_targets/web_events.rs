//! Bodies posted to the events API: parsed as the relay parses them, then ingested into a real
//! store; a batch is applied or refused with a reason, never a panic.
#![no_main]

use aisle_core::api::EventBatch;
use aisle_relay::domain::RelayDocs;
use aisle_relay::domain::demo::{DemoConfig, DemoData};
use libfuzzer_sys::fuzz_target;
use std::sync::{Mutex, OnceLock};

fn relay() -> &'static Mutex<(tempfile::TempDir, RelayDocs)> {
    static RELAY: OnceLock<Mutex<(tempfile::TempDir, RelayDocs)>> = OnceLock::new();
    RELAY.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let mut relay = RelayDocs::open(dir.path().join("relay.sqlite3")).expect("a store");
        DemoData::generate(DemoConfig::new(5, 1_780_000_000_000))
            .import(&mut relay, |_| {})
            .expect("demo data");
        Mutex::new((dir, relay))
    })
}

fuzz_target!(|body: &[u8]| {
    let Ok(batch) = serde_json::from_slice::<EventBatch>(body) else {
        return;
    };
    let mut relay = relay().lock().unwrap_or_else(|e| e.into_inner());
    let _ = relay.1.ingest(&batch);
});
