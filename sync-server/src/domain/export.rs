//! A person's data taken out for a subject access request: every profile that is theirs (the
//! one asked for and the duplicates merged into it), and the holds and sales in any store's
//! inventory that name one of them.

use super::RelayDocs;
use aisle_core::api::{CustomerExport, ExportedHold, ExportedSale};
use aisle_core::doc::{CustomerDoc, DocId, InventoryDoc, hydrate_doc};
use aisle_core::model::CustomerId;
use aisle_core::{CoreError, Result, Store};
use std::borrow::BorrowMut;

impl<S: BorrowMut<Store>> RelayDocs<S> {
    /// Everything held about the person `customer` is (or was merged into).
    pub fn export_person(&mut self, customer: &CustomerId) -> Result<CustomerExport> {
        let ids = self.same_person(customer)?;
        let mut profiles = Vec::with_capacity(ids.len());
        for id in &ids {
            let doc_id = DocId::Customer(id.clone());
            let Some(doc) = self.load_doc(&doc_id)? else {
                continue;
            };
            profiles.push(hydrate_doc::<CustomerDoc>(&doc, &doc_id)?.to_profile());
        }
        if profiles.is_empty() {
            return Err(CoreError::not_found("customer", customer));
        }
        let mut holds = Vec::new();
        let mut sales = Vec::new();
        for store in self.stores()? {
            let inventory = DocId::Inventory(store.id.clone());
            let found = self.with_doc(&inventory, |doc| -> Result<_> {
                let records = InventoryDoc::new(doc, &store.id);
                Ok((records.holds()?, records.sales()?))
            })?;
            let Some(found) = found else { continue };
            let (store_holds, store_sales) = found?;
            holds.extend(
                store_holds
                    .into_iter()
                    .filter(|(_, h)| ids.contains(&h.customer))
                    .map(|(id, hold)| ExportedHold {
                        id,
                        store: store.id.clone(),
                        hold,
                    }),
            );
            sales.extend(
                store_sales
                    .into_iter()
                    .filter(|(_, s)| s.customer.as_ref().is_some_and(|c| ids.contains(c)))
                    .map(|(id, sale)| ExportedSale {
                        id,
                        store: store.id.clone(),
                        sale,
                    }),
            );
        }
        Ok(CustomerExport {
            exported_at: self.now(),
            profiles,
            holds,
            sales,
        })
    }
}
