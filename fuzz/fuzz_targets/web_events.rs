//! Bodies posted to the events API: parsed as the relay parses them, then ingested into a real
//! store; a batch is applied or refused with a reason, never a panic.
#![no_main]

use aisle_core::api::EventBatch;
use libfuzzer_sys::fuzz_target;
use std::sync::{Mutex, OnceLock};

#[path = "demo_relay.rs"]
mod demo_relay;

fn relay() -> &'static Mutex<demo_relay::DemoRelay> {
    static RELAY: OnceLock<Mutex<demo_relay::DemoRelay>> = OnceLock::new();
    RELAY.get_or_init(|| Mutex::new(demo_relay::demo_relay()))
}

fuzz_target!(|body: &[u8]| {
    let Ok(batch) = serde_json::from_slice::<EventBatch>(body) else {
        return;
    };
    let mut relay = relay().lock().unwrap_or_else(|e| e.into_inner());
    let _ = relay.relay.ingest(&batch);
});
