//! Shopify webhook bodies for every topic the relay maps: mapped to events or refused with a
//! reason, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

const TOPICS: [&str; 5] = [
    "orders/create",
    "checkouts/create",
    "checkouts/update",
    "customers/create",
    "customers/update",
];

fuzz_target!(|input: (u8, &[u8])| {
    let (topic, body) = input;
    let topic = TOPICS[usize::from(topic) % TOPICS.len()];
    let _ = aisle_relay::shopify::map(topic, "fuzz", body, Some("LDN-CG"));
});
