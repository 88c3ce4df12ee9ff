//! Who may read and write which document. Checked for every document named in every frame.
//!
//! - The catalog is server-owned: every device reads it, none writes it.
//! - A store's inventory: associates and managers of that store only.
//! - Customers: associates and managers, for customers of their store or ones they fetched on
//!   demand. Kiosks never receive customer documents (those hold notes); their check-ins go
//!   through the relay's API.

use aisle_core::DocId;
use aisle_core::model::{Role, scope};

use crate::registry::Device;

/// The changefeed scopes a device receives.
pub fn scopes(device: &Device) -> Vec<String> {
    match device.role {
        Role::Kiosk => vec![scope::CATALOG.to_string()],
        Role::Associate | Role::Manager => vec![
            scope::CATALOG.to_string(),
            scope::inventory(&device.store),
            scope::customers(device.store.as_str()),
        ],
    }
}

/// What the relay knows about a document when deciding.
pub struct DocFacts {
    /// Its changefeed scope (None if the relay does not have it).
    pub scope: Option<String>,
    /// The device fetched it on demand.
    pub granted: bool,
}

pub fn can_read(device: &Device, doc: &DocId, facts: &DocFacts) -> bool {
    match (doc, device.role) {
        (DocId::Catalog | DocId::Recommendations | DocId::Loyalty, _) => true,
        (_, Role::Kiosk) => false,
        (DocId::Inventory(store), _) => *store == device.store,
        (DocId::Customer(_), _) => {
            facts.granted
                || facts.scope.as_deref() == Some(scope::customers(device.store.as_str()).as_str())
        }
    }
}

pub fn can_write(device: &Device, doc: &DocId, facts: &DocFacts) -> bool {
    match (doc, device.role) {
        (DocId::Catalog | DocId::Recommendations | DocId::Loyalty, _) | (_, Role::Kiosk) => false,
        (DocId::Inventory(store), _) => *store == device.store,
        // A customer the relay does not have yet is being created on this device.
        (DocId::Customer(_), _) => facts.scope.is_none() || can_read(device, doc, facts),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aisle_core::model::{CustomerId, StoreId};

    fn device(role: Role, store: &str) -> Device {
        Device {
            id: "d".into(),
            name: "t".into(),
            tenant: "demo".into(),
            store: StoreId::parse(store).unwrap(),
            role,
            actor: vec![1],
            revoked: false,
            last_seen_at: None,
        }
    }

    fn facts(scope: Option<&str>, granted: bool) -> DocFacts {
        DocFacts {
            scope: scope.map(str::to_string),
            granted,
        }
    }

    #[test]
    fn store_boundaries_hold() {
        let a = device(Role::Associate, "LDN-CG");
        let inv_b = DocId::Inventory(StoreId::parse("MAN-AR").unwrap());
        let inv_a = DocId::Inventory(StoreId::parse("LDN-CG").unwrap());
        let none = facts(None, false);
        assert!(!can_read(&a, &inv_b, &none) && !can_write(&a, &inv_b, &none));
        assert!(can_read(&a, &inv_a, &none) && can_write(&a, &inv_a, &none));
        assert!(can_read(&a, &DocId::Catalog, &none) && !can_write(&a, &DocId::Catalog, &none));
        let customer = DocId::Customer(CustomerId::parse("c1").unwrap());
        assert!(can_read(
            &a,
            &customer,
            &facts(Some("customers:LDN-CG"), false)
        ));
        assert!(!can_read(
            &a,
            &customer,
            &facts(Some("customers:MAN-AR"), false)
        ));
        assert!(can_read(
            &a,
            &customer,
            &facts(Some("customers:MAN-AR"), true)
        ));
        assert!(!can_write(
            &a,
            &customer,
            &facts(Some("customers:MAN-AR"), false)
        ));
    }

    #[test]
    fn kiosks_see_no_customers_or_stock() {
        let k = device(Role::Kiosk, "LDN-CG");
        let customer = DocId::Customer(CustomerId::parse("c1").unwrap());
        let here = facts(Some("customers:LDN-CG"), true);
        assert!(!can_read(&k, &customer, &here) && !can_write(&k, &customer, &here));
        let inv = DocId::Inventory(StoreId::parse("LDN-CG").unwrap());
        assert!(!can_read(&k, &inv, &here));
        assert_eq!(scopes(&k), vec!["catalog".to_string()]);
    }
}
