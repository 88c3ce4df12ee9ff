//! NFC loyalty cards on desktop tablets, through PC/SC (pcsc-lite's `pcscd` on Linux, WinSCard
//! on Windows). A reader loop on its own thread watches every reader, reads a card's UID
//! (`FF CA 00 00 00`) and the NDEF message of an NTAG21x card (PC/SC Read Binary, four pages at
//! a time) when it is tapped, and reports [`NfcEvent`]s. It survives readers being unplugged
//! and plugged in, and `pcscd` stopping and starting: it re-establishes its context and carries
//! on.
//!
//! The NDEF parsing here covers what a loyalty card carries, a Text or URI record, and is
//! bounded by the card's own length fields; it is small enough that a dependency would not
//! make it safer.

use pcsc::{Context, Error as PcscError, Protocols, ReaderState, Scope, ShareMode, State};
use serde::{Deserialize, Serialize};
use std::ffi::CString;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aisle_core::model::NfcUid;

/// What the reader loop reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NfcEvent {
    ReaderAttached {
        reader: String,
    },
    ReaderDetached {
        reader: String,
    },
    /// A card was presented: its UID, and the text of its first Text or URI record if any.
    Tap {
        reader: String,
        uid: NfcUid,
        text: Option<String>,
    },
    /// A card was presented but could not be read (moved away too soon, not a card we know).
    Unreadable {
        reader: String,
        reason: String,
    },
    /// The PC/SC service is not available (no `pcscd`); the loop keeps trying.
    ServiceUnavailable {
        reason: String,
    },
}

/// The running reader loop; dropping it stops the thread.
pub struct NfcReaders {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for NfcReaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NfcReaders").finish_non_exhaustive()
    }
}

impl NfcReaders {
    /// Starts watching readers; `emit` is called on the loop's thread.
    pub fn start(emit: impl Fn(NfcEvent) + Send + 'static) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("nfc-readers".into())
            .spawn(move || run(&flag, &emit))?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for NfcReaders {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// How long one wait for a change lasts: also how soon a stop is noticed.
const POLL: Duration = Duration::from_millis(250);
/// Pause before trying the service again after it went away.
const RETRY: Duration = Duration::from_millis(500);

fn run(stop: &AtomicBool, emit: &dyn Fn(NfcEvent)) {
    let mut last_service_error = None;
    while !stop.load(Ordering::Relaxed) {
        match Context::establish(Scope::User) {
            Ok(context) => {
                last_service_error = None;
                watch(&context, stop, emit);
            }
            Err(e) => {
                // Said once, not every half second.
                let reason = e.to_string();
                if last_service_error.as_ref() != Some(&reason) {
                    emit(NfcEvent::ServiceUnavailable {
                        reason: reason.clone(),
                    });
                    last_service_error = Some(reason);
                }
            }
        }
        std::thread::sleep(RETRY);
    }
}

/// Watches readers until the context fails (service gone) or `stop` is set.
fn watch(context: &Context, stop: &AtomicBool, emit: &dyn Fn(NfcEvent)) {
    let mut states = vec![ReaderState::new(pcsc::PNP_NOTIFICATION(), State::UNAWARE)];
    let mut names_buf = vec![0u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        // Readers gone: dropped from the watch list.
        states.retain(|rs| {
            let gone = rs.name() != pcsc::PNP_NOTIFICATION()
                && rs.event_state().intersects(State::UNKNOWN | State::IGNORE);
            if gone {
                emit(NfcEvent::ReaderDetached {
                    reader: rs.name().to_string_lossy().into_owned(),
                });
            }
            !gone
        });
        // Readers new: added.
        match context.list_readers(&mut names_buf) {
            Ok(names) => {
                for name in names {
                    if !states.iter().any(|rs| rs.name() == name) {
                        emit(NfcEvent::ReaderAttached {
                            reader: name.to_string_lossy().into_owned(),
                        });
                        states.push(ReaderState::new(CString::from(name), State::UNAWARE));
                    }
                }
            }
            Err(PcscError::NoReadersAvailable) => {}
            Err(_) => return,
        }
        for rs in &mut states {
            rs.sync_current_state();
        }
        match context.get_status_change(POLL, &mut states) {
            Ok(()) => {}
            Err(PcscError::Timeout) => continue,
            // The reader list changed under us: look again.
            Err(PcscError::UnknownReader | PcscError::ReaderUnavailable) => continue,
            Err(_) => return,
        }
        for rs in &states {
            if rs.name() == pcsc::PNP_NOTIFICATION() {
                continue;
            }
            let was_present = rs.current_state().contains(State::PRESENT);
            let present = rs.event_state().contains(State::PRESENT)
                && !rs.event_state().contains(State::MUTE);
            if present && !was_present {
                let reader = rs.name().to_string_lossy().into_owned();
                emit(match read_card(context, rs.name()) {
                    Ok((uid, text)) => NfcEvent::Tap { reader, uid, text },
                    Err(reason) => NfcEvent::Unreadable { reader, reason },
                });
            }
        }
    }
}

/// Reads the UID and, from an NTAG21x, the NDEF message's first Text or URI record.
fn read_card(
    context: &Context,
    reader: &std::ffi::CStr,
) -> Result<(NfcUid, Option<String>), String> {
    let card = context
        .connect(reader, ShareMode::Shared, Protocols::ANY)
        .map_err(|e| format!("cannot connect to the card: {e}"))?;
    let mut buf = [0u8; 258];
    let uid = transmit(&card, &[0xFF, 0xCA, 0x00, 0x00, 0x00], &mut buf)?;
    let uid = NfcUid::from_bytes(&uid).map_err(|e| format!("card UID: {e}"))?;
    // The NDEF area starts at page 4; the length is in its TLV. Cards without NDEF (a plain
    // MIFARE card) identify by UID alone.
    let text = read_ndef_area(&card, &mut buf)
        .ok()
        .and_then(|area| first_text_record(&area));
    Ok((uid, text))
}

fn transmit(card: &pcsc::Card, apdu: &[u8], buf: &mut [u8]) -> Result<Vec<u8>, String> {
    let response = card
        .transmit(apdu, buf)
        .map_err(|e| format!("the card stopped answering: {e}"))?;
    match response {
        [data @ .., 0x90, 0x00] => Ok(data.to_vec()),
        [.., sw1, sw2] => Err(format!("the card refused: {sw1:02X} {sw2:02X}")),
        _ => Err("the card gave a short answer".into()),
    }
}

/// Pages from 4 on, read until the NDEF TLV's end (at most 224 pages: NTAG216's user memory).
fn read_ndef_area(card: &pcsc::Card, buf: &mut [u8]) -> Result<Vec<u8>, String> {
    let mut area = Vec::new();
    let mut page: u8 = 4;
    while page < 4 + 224 {
        let chunk = transmit(card, &[0xFF, 0xB0, 0x00, page, 0x10], buf)?;
        if chunk.is_empty() {
            break;
        }
        area.extend_from_slice(&chunk);
        if let Some(end) = ndef_tlv(&area).map(|(start, len)| start + len)
            && area.len() >= end
        {
            break;
        }
        page = page.saturating_add(4);
    }
    Ok(area)
}

/// (offset, length) of the NDEF message inside a Type 2 tag's data area.
pub fn ndef_tlv(area: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while i < area.len() {
        match area[i] {
            0x00 => i += 1,
            0xFE => return None,
            tag => {
                let (len, header) = match *area.get(i + 1)? {
                    0xFF => (
                        usize::from(u16::from_be_bytes([*area.get(i + 2)?, *area.get(i + 3)?])),
                        4,
                    ),
                    n => (usize::from(n), 2),
                };
                if tag == 0x03 {
                    return Some((i + header, len));
                }
                i += header + len;
            }
        }
    }
    None
}

/// URI identifier codes (NFC Forum URI RTD) a loyalty card would use.
const URI_PREFIXES: [&str; 5] = ["", "http://www.", "https://www.", "http://", "https://"];

/// The first Text or URI record of the NDEF message in a Type 2 tag's data area.
pub fn first_text_record(area: &[u8]) -> Option<String> {
    let (start, len) = ndef_tlv(area)?;
    let message = area.get(start..start.checked_add(len)?)?;
    let mut i = 0;
    while i < message.len() {
        let header = message[i];
        let short = header & 0x10 != 0;
        let has_id = header & 0x08 != 0;
        let tnf = header & 0x07;
        let type_len = usize::from(*message.get(i + 1)?);
        let mut at = i + 2;
        let payload_len = if short {
            let n = usize::from(*message.get(at)?);
            at += 1;
            n
        } else {
            let n = u32::from_be_bytes(message.get(at..at + 4)?.try_into().ok()?);
            at += 4;
            usize::try_from(n).ok()?
        };
        let id_len = if has_id {
            let n = usize::from(*message.get(at)?);
            at += 1;
            n
        } else {
            0
        };
        let kind = message.get(at..at.checked_add(type_len)?)?;
        at += type_len + id_len;
        let payload = message.get(at..at.checked_add(payload_len)?)?;
        if tnf == 0x01 {
            match kind {
                b"T" => {
                    let lang = usize::from(*payload.first()? & 0x3F);
                    return String::from_utf8(payload.get(1 + lang..)?.to_vec()).ok();
                }
                b"U" => {
                    let prefix = URI_PREFIXES
                        .get(usize::from(*payload.first()?))
                        .copied()
                        .unwrap_or("");
                    let rest = std::str::from_utf8(payload.get(1..)?).ok()?;
                    return Some(format!("{prefix}{rest}"));
                }
                _ => {}
            }
        }
        if header & 0x40 != 0 {
            break;
        }
        i = at + payload_len;
    }
    None
}

/// A Type 2 tag's data area holding one NDEF Text record: what Aisle writes on a loyalty card
/// (and what the test card serves).
pub fn text_record_area(text: &str) -> Vec<u8> {
    let mut payload = vec![0x02, b'e', b'n'];
    payload.extend_from_slice(text.as_bytes());
    let mut message = Vec::new();
    if payload.len() < 256 {
        message.extend_from_slice(&[0xD1, 0x01, payload.len() as u8, b'T']);
    } else {
        message.extend_from_slice(&[0xC1, 0x01]);
        message.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        message.push(b'T');
    }
    message.extend_from_slice(&payload);
    let mut area = Vec::new();
    if message.len() < 0xFF {
        area.extend_from_slice(&[0x03, message.len() as u8]);
    } else {
        area.push(0x03);
        area.push(0xFF);
        area.extend_from_slice(&(message.len() as u16).to_be_bytes());
    }
    area.extend_from_slice(&message);
    area.push(0xFE);
    area
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_uri_records_read_back() {
        let token = "AL1.".to_string() + &"x".repeat(300);
        assert_eq!(
            first_text_record(&text_record_area(&token)).as_deref(),
            Some(token.as_str())
        );
        // A URI record with the https:// abbreviation, after a lock-control TLV.
        let mut area = vec![0x01, 0x03, 0xA0, 0x0C, 0x34];
        let uri = b"shop.example/l/AL1.abc";
        area.extend_from_slice(&[
            0x03,
            (uri.len() + 5) as u8,
            0xD1,
            0x01,
            (uri.len() + 1) as u8,
            b'U',
            0x04,
        ]);
        area.extend_from_slice(uri);
        area.push(0xFE);
        assert_eq!(
            first_text_record(&area).as_deref(),
            Some("https://shop.example/l/AL1.abc")
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(10_000))]
        #[test]
        fn any_card_memory_parses_or_gives_nothing(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
            let _ = first_text_record(&bytes);
        }
    }
}
