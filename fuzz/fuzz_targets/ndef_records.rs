//! An NFC card's NDEF area as a reader returns it: the TLV and the first text or URI record
//! are found or not, never a panic. (The TLV may say the message runs past what was read:
//! the reader then reads more.)
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|area: &[u8]| {
    let _ = aisle_tablet::nfc::ndef_tlv(area);
    let _ = aisle_tablet::nfc::first_text_record(area);
});
