//! Scanned text as a loyalty code: classified, then checked against a real key. Anything but
//! a code this key signed is refused, never a panic, and never accepted.
#![no_main]

use aisle_core::loyalty::{self, PublishedKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = aisle_core::scan::classify(text);
    let _ = loyalty::peek(text);
    // A real key whose private half this target never uses: whatever the fuzzer builds must
    // not verify.
    let public = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32])
        .verifying_key()
        .to_bytes();
    let key_of = |_: &str| -> Option<PublishedKey> {
        Some(PublishedKey {
            public,
            withdrawn_at: None,
        })
    };
    let verified = loyalty::verify(text, 1_780_000_000_000, key_of, |_, _| None);
    assert!(
        verified.is_err(),
        "a code verified without its key's signature: {text:?}"
    );
});
