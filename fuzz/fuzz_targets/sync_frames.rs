//! The sync frame decoders, as the relay and the tablet run them on every frame received:
//! any bytes give a frame or an error, never a panic, and a frame decoded re-encodes to
//! itself.
#![no_main]

use aisle_core::protocol::{ClientFrame, ServerFrame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(frame) = ClientFrame::decode(bytes) {
        assert_eq!(ClientFrame::decode(&frame.encode()).ok(), Some(frame));
    }
    if let Ok(frame) = ServerFrame::decode(bytes) {
        assert_eq!(ServerFrame::decode(&frame.encode()).ok(), Some(frame));
    }
});
