//! A virtual NTAG215 loyalty card for the vpcd virtual reader (Debian's `vsmartcard-vpcd`): it
//! connects to the reader driver inside `pcscd`, which then sees a card presented, and answers
//! what a PC/SC contactless reader would pass on: the UID (`FF CA 00 00 00`) and Read Binary of
//! its pages (`FF B0 00 <page> 10`). The card is removed when the program exits.
//!
//! `virtual_card --uid 04A1B2C3D4E5F6 [--text 'AL1.…'] [--port 35963]`

use aisle_tablet::nfc::text_record_area;
use std::io::{Read, Write};
use std::net::TcpStream;

/// PC/SC Part 3 ATR of a contactless storage card (MIFARE Ultralight / NTAG family).
const ATR: [u8; 20] = [
    0x3B, 0x8F, 0x80, 0x01, 0x80, 0x4F, 0x0C, 0xA0, 0x00, 0x00, 0x03, 0x06, 0x03, 0x00, 0x03, 0x00,
    0x00, 0x00, 0x00, 0x68,
];
/// NTAG215: 135 pages of 4 bytes.
const PAGES: usize = 135;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() -> anyhow::Result<()> {
    let uid = hex::decode(arg("--uid").unwrap_or_else(|| "04A1B2C3D4E5F6".into()))?;
    let port: u16 = arg("--port").map_or(Ok(35963), |p| p.parse())?;
    let mut memory = vec![0u8; PAGES * 4];
    memory[..uid.len().min(8)].copy_from_slice(&uid[..uid.len().min(8)]);
    // Capability container: NDEF, version 1.0, 496 bytes of data, read/write.
    memory[12..16].copy_from_slice(&[0xE1, 0x10, 0x3E, 0x00]);
    if let Some(text) = arg("--text") {
        let area = text_record_area(&text);
        anyhow::ensure!(
            area.len() <= memory.len() - 16,
            "the text does not fit the card"
        );
        memory[16..16 + area.len()].copy_from_slice(&area);
    }

    let mut reader = TcpStream::connect(("127.0.0.1", port))?;
    println!("card presented");
    std::io::stdout().flush()?;
    loop {
        let mut len = [0u8; 2];
        if reader.read_exact(&mut len).is_err() {
            return Ok(());
        }
        let mut message = vec![0u8; usize::from(u16::from_be_bytes(len))];
        reader.read_exact(&mut message)?;
        let answer: Option<Vec<u8>> = match message.as_slice() {
            // Power off, power on, reset: no answer.
            [0x00] | [0x01] | [0x02] => None,
            [0x04] => Some(ATR.to_vec()),
            [0xFF, 0xCA, 0x00, 0x00, _] => Some([uid.as_slice(), &[0x90, 0x00]].concat()),
            [0xFF, 0xB0, 0x00, page, n] => {
                let start = usize::from(*page) * 4;
                let end = start + usize::from(*n);
                if end <= memory.len() {
                    Some([&memory[start..end], &[0x90, 0x00][..]].concat())
                } else {
                    Some(vec![0x6B, 0x00])
                }
            }
            _ => Some(vec![0x6D, 0x00]),
        };
        if let Some(answer) = answer {
            let len = u16::try_from(answer.len())?.to_be_bytes();
            reader.write_all(&[&len[..], &answer].concat())?;
        }
    }
}
