//! Sync state as the UI shows it, and device roles.

use serde::{Deserialize, Serialize};

use super::Millis;

/// What a device is allowed to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Role {
    Associate,
    Kiosk,
    Manager,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Associate => "associate",
            Self::Kiosk => "kiosk",
            Self::Manager => "manager",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "associate" => Some(Self::Associate),
            "kiosk" => Some(Self::Kiosk),
            "manager" => Some(Self::Manager),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Connection {
    Offline,
    Connecting,
    Online,
    /// The relay refused the token (revoked): the tablet must be enrolled again.
    Refused,
    /// The tablet refused the relay: its certificate is not the one enrolled (or not trusted),
    /// or its address is plain HTTP beyond this machine. `reason` says which.
    Untrusted,
}

/// What the UI shows about sync.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncStatus {
    pub connection: Connection,
    /// Since when the connection is in this state.
    pub since: Millis,
    /// Why the tablet is offline, if it is.
    pub reason: Option<String>,
    /// Documents with changes the relay does not have durably yet.
    pub pending: u64,
    /// While catching up after connecting: documents done of those to check; `(0, 0)` from
    /// connecting until the relay's first feed page says how many there are.
    pub catch_up: Option<(u64, u64)>,
    /// When the relay last acknowledged or delivered something.
    pub last_synced_at: Option<Millis>,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// This tablet's changes the relay would not take: each stays here, unsynced, and the
    /// rest syncs.
    #[serde(default)]
    pub refused: Vec<PushRefusal>,
    /// When the relay removed this tablet from its store (revoked, reported lost) and it
    /// deleted the customer data it held.
    #[serde(default)]
    pub removed_at: Option<Millis>,
}

/// A document whose changes the relay refused, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushRefusal {
    pub doc: String,
    pub message: String,
    pub at: Millis,
}

/// A tablet of the manager's store as the relay sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceHealth {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub revoked: bool,
    /// Connected to the relay right now.
    pub online: bool,
    /// When it last connected, pushed changes, or disconnected.
    pub last_seen_at: Option<Millis>,
}

/// Changefeed scopes: which devices receive a document. The relay's access rules and the
/// store's changefeed both name scopes through these, so the two cannot drift apart.
pub mod scope {
    use crate::model::StoreId;

    /// The catalog, recommendations and loyalty keys: every device.
    pub const CATALOG: &str = "catalog";

    /// A store's inventory document: that store's tablets.
    pub fn inventory(store: &StoreId) -> String {
        format!("inventory:{store}")
    }

    /// Customers whose home store this is: that store's tablets. (An empty store id is the
    /// scope of a customer whose home store is not known yet.)
    pub fn customers(store: &str) -> String {
        format!("customers:{store}")
    }
}
