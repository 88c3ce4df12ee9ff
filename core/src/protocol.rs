//! The relay sync protocol: binary WebSocket frames, each a 2-byte big-endian protocol version
//! followed by a postcard-encoded message. One connection per device carries every document.
//!
//! A session: the device says `Hello` with its changefeed cursor and the feed it belongs to;
//! the relay answers `Welcome` (with its feed's identity),
//! then `Feed` pages listing documents in the device's scopes that changed since the cursor,
//! with their heads. The device `Pull`s those it is behind on, giving its own heads, and gets
//! `Changes`; it `Push`es its own unsent changes and gets an `Ack` once the relay has them
//! durably. Afterwards the relay sends `Changes` live as other devices' changes arrive. A
//! receiver that finds missing dependencies asks again with its heads (`Pull` / `NeedFrom`).
//!
//! Every frame is parsed with limits and validated before anything is done with it.

use automerge::ChangeHash;
use serde::{Deserialize, Serialize};

use crate::doc::DocId;
use crate::error::{CoreError, Result};
use crate::model::ErrorCode;
pub use crate::model::Role;

/// 2: `Hello` and `Welcome` name the changefeed, so a cursor of another feed (a relay restored
/// from a backup, a database failed over) is not taken as a place in this one.
/// 3: `CustomerSnapshots`, whole customers with the fields their projection reads.
pub const PROTOCOL_VERSION: u16 = 3;

/// Longest changefeed identity either side takes.
pub const MAX_FEED_ID_CHARS: usize = 128;
/// Largest frame either side accepts.
pub const MAX_FRAME_BYTES: usize = 8 * 1024 * 1024;
/// Most documents named in one frame.
pub const MAX_DOCS_PER_FRAME: usize = 500;
/// Most heads given for one document (concurrent branches; real documents have a few).
pub const MAX_HEADS: usize = 256;

/// WebSocket close codes the relay ends a session with: 1007 bad data, 1008 policy (a document
/// the device may not touch), 1013 try again later, 1001 the relay is restarting, 4001 this
/// device was revoked (enrol again; reconnecting will not help).
pub const CLOSE_BAD_FRAME: u16 = 1007;
pub const CLOSE_FORBIDDEN: u16 = 1008;
pub const CLOSE_RETRY: u16 = 1013;
pub const CLOSE_GOING_AWAY: u16 = 1001;
pub const CLOSE_REVOKED: u16 = 4001;

pub type Heads = Vec<[u8; 32]>;

pub fn heads_to_wire(heads: &[ChangeHash]) -> Heads {
    heads.iter().map(|h| h.0).collect()
}

pub fn heads_from_wire(heads: &[[u8; 32]]) -> Vec<ChangeHash> {
    heads.iter().map(|h| ChangeHash(*h)).collect()
}

/// A document's changes after some heads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocChanges {
    pub doc: String,
    /// The sender's heads once these changes are applied.
    pub heads: Heads,
    pub changes: Vec<u8>,
}

/// A whole customer document, answering a `Pull` from no heads: the relay's stored bytes and
/// heads, with the fields the customer's projection reads at those heads
/// (`aisle_core::store::snapshots`), so the tablet stores it without loading it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocSnapshot {
    pub doc: String,
    pub heads: Heads,
    pub bytes: Vec<u8>,
    pub indexed: Vec<u8>,
}

/// A document and heads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocHeads {
    pub doc: String,
    pub heads: Heads,
}

/// A pushed document the relay would not take, and why. The rest of the push stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocRefusal {
    pub doc: String,
    /// The heads the device pushed: a later change of the document is a new push.
    pub heads: Heads,
    pub code: ErrorCode,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientFrame {
    /// First frame of a session: where the device is in the changefeed, and which changefeed
    /// that cursor is of (as the relay named it in its last `Welcome`; empty before the first).
    Hello { cursor: i64, feed: String },
    /// Changes the relay lacks; `heads` are the device's heads, which the relay acknowledges.
    Push { docs: Vec<DocChanges> },
    /// Asks for what the relay has beyond `heads` (the device's heads) of each document.
    Pull { docs: Vec<DocHeads> },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedItem {
    pub doc: String,
    pub heads: Heads,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServerFrame {
    Welcome {
        device: String,
        store: String,
        role: Role,
        /// The relay's changefeed: the device keeps it with its cursor. A `Hello` naming
        /// another feed gets the whole feed again, starting below the device's cursor.
        feed: String,
    },
    /// Documents changed after the device's cursor; `cursor` is where this page ends and
    /// `done` marks the last page of the backlog.
    Feed {
        items: Vec<FeedItem>,
        cursor: i64,
        /// Documents still to come after this page.
        remaining: u64,
        done: bool,
    },
    /// Changes for the device: answers to `Pull`, and live changes (with the changefeed
    /// position they bring the device to).
    Changes {
        docs: Vec<DocChanges>,
        cursor: Option<i64>,
    },
    /// The relay has these heads durably.
    Ack { docs: Vec<DocHeads> },
    /// The relay could not apply a push for lack of earlier changes: send everything after
    /// these (the relay's) heads.
    NeedFrom { docs: Vec<DocHeads> },
    /// The device may no longer hold this document (erased, or out of its scope).
    Gone { doc: String },
    /// The relay is closing the connection for this reason.
    Error { code: ErrorCode, message: String },
    /// Pushed documents the relay refused (each on its own: the others of the push were
    /// applied and acknowledged).
    Refused { docs: Vec<DocRefusal> },
    /// Answers to `Pull` for customers the device has none of (a first sync), in place of
    /// `Changes` for them.
    CustomerSnapshots { docs: Vec<DocSnapshot> },
}

fn encode<T: Serialize>(message: &T) -> Vec<u8> {
    let mut out = PROTOCOL_VERSION.to_be_bytes().to_vec();
    // Serialising these plain enums into a Vec cannot fail.
    out.extend(postcard::to_allocvec(message).unwrap_or_default());
    out
}

fn decode<T: for<'de> Deserialize<'de>>(frame: &[u8]) -> Result<T> {
    let bad = |reason: &str| CoreError::invalid("frame", reason);
    if frame.len() > MAX_FRAME_BYTES {
        return Err(bad("is larger than the limit"));
    }
    let Some((version, body)) = frame.split_first_chunk::<2>() else {
        return Err(bad("is too short"));
    };
    let version = u16::from_be_bytes(*version);
    if version != PROTOCOL_VERSION {
        return Err(bad(&format!(
            "uses protocol version {version}; this side speaks {PROTOCOL_VERSION}"
        )));
    }
    let (message, rest) =
        postcard::take_from_bytes(body).map_err(|e| bad(&format!("does not decode: {e}")))?;
    if !rest.is_empty() {
        return Err(bad("has trailing bytes"));
    }
    Ok(message)
}

fn check_docs(n: usize) -> Result<()> {
    if n > MAX_DOCS_PER_FRAME {
        return Err(CoreError::invalid(
            "frame",
            &format!("names more than {MAX_DOCS_PER_FRAME} documents"),
        ));
    }
    Ok(())
}

fn check_doc(doc: &str, heads: &Heads) -> Result<DocId> {
    if heads.len() > MAX_HEADS {
        return Err(CoreError::invalid("frame", "gives too many heads"));
    }
    doc.parse()
}

/// What names a document, with heads, in a frame.
trait Named {
    fn named(&self) -> (&str, &Heads);
}

macro_rules! named {
    ($($frame_part:ty),*) => {
        $(impl Named for $frame_part {
            fn named(&self) -> (&str, &Heads) {
                (&self.doc, &self.heads)
            }
        })*
    };
}
named!(DocChanges, DocHeads, FeedItem, DocRefusal, DocSnapshot);

/// A frame's documents: not too many, each a valid id with not too many heads.
fn check_named<T: Named>(docs: &[T]) -> Result<()> {
    check_docs(docs.len())?;
    for d in docs {
        let (doc, heads) = d.named();
        check_doc(doc, heads)?;
    }
    Ok(())
}

fn check_feed_id(feed: &str) -> Result<()> {
    if feed.chars().count() > MAX_FEED_ID_CHARS || feed.chars().any(char::is_control) {
        return Err(CoreError::invalid("feed", "is not a changefeed identity"));
    }
    Ok(())
}

impl ClientFrame {
    pub fn encode(&self) -> Vec<u8> {
        encode(self)
    }

    /// Parses and validates a frame from a device.
    pub fn decode(frame: &[u8]) -> Result<Self> {
        let message: Self = decode(frame)?;
        match &message {
            Self::Hello { cursor, .. } if *cursor < 0 => {
                return Err(CoreError::invalid("frame", "cursor is negative"));
            }
            Self::Hello { feed, .. } => check_feed_id(feed)?,
            Self::Push { docs } => check_named(docs)?,
            Self::Pull { docs } => check_named(docs)?,
        }
        Ok(message)
    }
}

impl ServerFrame {
    pub fn encode(&self) -> Vec<u8> {
        encode(self)
    }

    /// Parses and validates a frame from the relay.
    pub fn decode(frame: &[u8]) -> Result<Self> {
        let message: Self = decode(frame)?;
        match &message {
            Self::Feed { items, .. } => check_named(items)?,
            Self::Changes { docs, .. } => check_named(docs)?,
            Self::Ack { docs } | Self::NeedFrom { docs } => check_named(docs)?,
            Self::Refused { docs } => check_named(docs)?,
            Self::CustomerSnapshots { docs } => {
                check_named(docs)?;
                for d in docs {
                    if !matches!(d.doc.parse::<DocId>()?, DocId::Customer(_)) {
                        return Err(CoreError::invalid("frame", "snapshots a non-customer"));
                    }
                }
            }
            Self::Gone { doc } => {
                doc.parse::<DocId>()?;
            }
            Self::Welcome { feed, .. } => check_feed_id(feed)?,
            Self::Error { .. } => {}
        }
        Ok(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn frames_round_trip() {
        let frames = [
            ClientFrame::Hello {
                cursor: 42,
                feed: "f1".into(),
            },
            ClientFrame::Push {
                docs: vec![DocChanges {
                    doc: "catalog".into(),
                    heads: vec![[7; 32]],
                    changes: vec![1, 2, 3],
                }],
            },
            ClientFrame::Pull { docs: vec![] },
        ];
        for frame in frames {
            assert_eq!(ClientFrame::decode(&frame.encode()).unwrap(), frame);
        }
    }

    #[test]
    fn customer_snapshots_carry_customers_only() {
        let snapshot = |doc: &str| DocSnapshot {
            doc: doc.into(),
            heads: vec![[3; 32]],
            bytes: vec![0x85, 0x6f, 0x4a, 0x83],
            indexed: vec![1],
        };
        let frame = ServerFrame::CustomerSnapshots {
            docs: vec![snapshot("customer/abc-123")],
        };
        assert_eq!(ServerFrame::decode(&frame.encode()).unwrap(), frame);
        let catalog = ServerFrame::CustomerSnapshots {
            docs: vec![snapshot("customer/abc-123"), snapshot("catalog")],
        };
        let refused = ServerFrame::decode(&catalog.encode()).unwrap_err();
        assert!(refused.to_string().contains("non-customer"), "{refused}");
    }

    #[test]
    fn bad_frames_are_rejected_with_reasons() {
        let good = ClientFrame::Hello {
            cursor: 1,
            feed: String::new(),
        }
        .encode();
        let mut wrong_version = good.clone();
        wrong_version[1] = 9;
        assert!(
            ClientFrame::decode(&wrong_version)
                .unwrap_err()
                .to_string()
                .contains("version")
        );
        assert!(ClientFrame::decode(&[0]).is_err());
        assert!(ClientFrame::decode(&good[..good.len() - 1]).is_err());
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(
            ClientFrame::decode(&trailing)
                .unwrap_err()
                .to_string()
                .contains("trailing")
        );
        let bad_doc = ClientFrame::Pull {
            docs: vec![DocHeads {
                doc: "nonsense/../x".into(),
                heads: vec![],
            }],
        };
        assert!(ClientFrame::decode(&bad_doc.encode()).is_err());
        let too_many = ClientFrame::Pull {
            docs: (0..=MAX_DOCS_PER_FRAME)
                .map(|_| DocHeads {
                    doc: "catalog".into(),
                    heads: vec![],
                })
                .collect(),
        };
        assert!(ClientFrame::decode(&too_many.encode()).is_err());
        assert!(
            ClientFrame::decode(
                &ClientFrame::Hello {
                    cursor: -1,
                    feed: String::new()
                }
                .encode()
            )
            .is_err()
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 10_000, failure_persistence: None, ..ProptestConfig::default() })]

        /// Garbage and truncated frames never panic either parser.
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = ClientFrame::decode(&bytes);
            let _ = ServerFrame::decode(&bytes);
            let mut versioned = PROTOCOL_VERSION.to_be_bytes().to_vec();
            versioned.extend(&bytes);
            let _ = ClientFrame::decode(&versioned);
            let _ = ServerFrame::decode(&versioned);
        }

        #[test]
        fn truncations_of_valid_frames_are_errors(cut in 0usize..200) {
            let frame = ClientFrame::Push {
                docs: vec![DocChanges { doc: "inventory/LDN-CG".into(), heads: vec![[1; 32], [2; 32]], changes: vec![9; 100] }],
            }
            .encode();
            if cut < frame.len() {
                prop_assert!(ClientFrame::decode(&frame[..cut]).is_err());
            }
        }
    }
}
