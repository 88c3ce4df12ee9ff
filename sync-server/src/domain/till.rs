//! The till outbox over the relay's own store: which sales are due a delivery, what each
//! attempt found, and what the manager sees. Sales are queued by a trigger on the sales
//! projection (`till_schema.sql`), in the transaction that stores them; the delivery itself
//! is `crate::till`.

use aisle_core::api::{TillDelivery, TillSale, TillSaleLine};
use aisle_core::doc::{DocId, InventoryDoc};
use aisle_core::model::StoreId;
use aisle_core::{CoreError, Result};
use rusqlite::{OptionalExtension, params};
use std::borrow::BorrowMut;

use super::RelayDocs;

/// A sale waiting for the till.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedSale {
    /// The sale's id, or a return's movement id.
    pub sale_id: String,
    /// `sale` or `return`.
    pub event: String,
    pub store: StoreId,
    pub attempts: u32,
}

/// A sale queued in a working copy, on its way to the shared outbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopiedSale {
    pub sale_id: String,
    pub event: String,
    pub store: String,
    pub queued_at: i64,
    pub history: bool,
}

/// What one delivery attempt found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TillAttempt {
    /// Acknowledged (2xx), with the till's reference if it gave one.
    Delivered { reference: Option<String> },
    /// Not acknowledged: tried again at `retry_at`.
    Failed { error: String, retry_at: i64 },
}

impl<S: BorrowMut<Store>> RelayDocs<S> {
    /// Marks every sale queued so far as history, not the till's (the demo retailer's past,
    /// seeded into an empty relay).
    pub fn till_mark_history(&self) -> Result<usize> {
        Ok(self.conn().execute(
            "UPDATE till_outbox SET history = 1 WHERE delivered_at IS NULL",
            [],
        )?)
    }

    /// Sales due an attempt at `now`, the longest waiting first.
    pub fn till_due(&self, now: i64, limit: usize) -> Result<Vec<QueuedSale>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT sale_id, store_id, attempts, event FROM till_outbox
             WHERE delivered_at IS NULL AND history = 0 AND next_attempt_at <= ?1
             ORDER BY next_attempt_at, queued_at LIMIT ?2",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt.query_map(params![now, limit], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, u32>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?;
        rows.map(|row| {
            let (sale_id, store, attempts, event) = row?;
            Ok(QueuedSale {
                sale_id,
                event,
                store: StoreId::parse(store)?,
                attempts,
            })
        })
        .collect()
    }

    /// Records an attempt; a sale delivered stays delivered (a late retry's answer is moot).
    pub fn till_attempted(&self, sale_id: &str, at: i64, attempt: &TillAttempt) -> Result<()> {
        match attempt {
            TillAttempt::Delivered { reference } => self.conn().execute(
                "UPDATE till_outbox SET attempts = attempts + 1, delivered_at = ?2,
                        till_reference = ?3, last_error = NULL
                 WHERE sale_id = ?1 AND delivered_at IS NULL",
                params![sale_id, at, reference],
            )?,
            TillAttempt::Failed { error, retry_at } => self.conn().execute(
                "UPDATE till_outbox SET attempts = attempts + 1, last_error = ?2,
                        next_attempt_at = ?3
                 WHERE sale_id = ?1 AND delivered_at IS NULL",
                params![sale_id, error, retry_at],
            )?,
        };
        Ok(())
    }

    /// A store's latest sales with their delivery, newest first, and how many wait.
    pub fn till_deliveries(
        &self,
        store: &StoreId,
        limit: usize,
    ) -> Result<(u64, Vec<TillDelivery>)> {
        let waiting: i64 = self.conn().query_row(
            "SELECT COUNT(*) FROM till_outbox
             WHERE store_id = ?1 AND delivered_at IS NULL AND history = 0",
            [store.as_str()],
            |r| r.get(0),
        )?;
        let mut stmt = self.conn().prepare_cached(
            "SELECT o.sale_id, COALESCE(s.at, m.at, o.queued_at),
                    COALESCE(s.total_cents, -m.refund_minor, 0),
                    o.queued_at, o.attempts, o.delivered_at, o.till_reference, o.last_error,
                    o.next_attempt_at, o.event
             FROM till_outbox o
             LEFT JOIN sales s ON o.event = 'sale' AND s.sale_id = o.sale_id
             LEFT JOIN stock_movements m ON o.event = 'return' AND m.movement_id = o.sale_id
             WHERE o.store_id = ?1 AND o.history = 0
             ORDER BY o.queued_at DESC LIMIT ?2",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt.query_map(params![store.as_str(), limit], |r| {
            let delivered_at: Option<i64> = r.get(5)?;
            Ok(TillDelivery {
                sale_id: r.get(0)?,
                event: r.get(9)?,
                recorded_at: r.get(1)?,
                total_minor: r.get(2)?,
                queued_at: r.get(3)?,
                attempts: r.get(4)?,
                delivered_at,
                reference: r.get(6)?,
                last_error: if delivered_at.is_some() {
                    None
                } else {
                    r.get(7)?
                },
                next_attempt_at: if delivered_at.is_some() {
                    None
                } else {
                    Some(r.get(8)?)
                },
            })
        })?;
        let deliveries = rows.collect::<rusqlite::Result<_>>()?;
        Ok((u64::try_from(waiting).unwrap_or(0), deliveries))
    }

    /// Takes up to `limit` sales queued here (a working copy's), for the shared outbox.
    pub fn till_take_copied(&self, limit: usize) -> Result<Vec<CopiedSale>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut stmt = self.conn().prepare_cached(
            "DELETE FROM till_outbox WHERE sale_id IN
                 (SELECT sale_id FROM till_outbox ORDER BY queued_at LIMIT ?1)
             RETURNING sale_id, store_id, queued_at, history, event",
        )?;
        let rows = stmt.query_map([limit], |r| {
            Ok(CopiedSale {
                sale_id: r.get(0)?,
                store: r.get(1)?,
                queued_at: r.get(2)?,
                history: r.get(3)?,
                event: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The message the till is sent for a sale or a return, read off the store's inventory.
    pub fn till_message(&mut self, sale: &QueuedSale, currency: &str) -> Result<TillSale> {
        if sale.event == "return" {
            return self.till_return_message(sale, currency);
        }
        let id = DocId::Inventory(sale.store.clone());
        let store = sale.store.clone();
        let found = self
            .with_doc(&id, |doc| {
                InventoryDoc::new(doc, &store).sale(&sale.sale_id)
            })?
            .transpose()?
            .flatten()
            .ok_or_else(|| CoreError::not_found("sale", &sale.sale_id))?;
        let total_minor = found.total_minor();
        // An exchange names the sale it exchanges, read off its return.
        let refers_to = match &found.exchange_for {
            Some(return_id) => self
                .with_doc(&id, |doc| {
                    InventoryDoc::new(doc, &store).adjustment(return_id)
                })?
                .transpose()?
                .flatten()
                .and_then(|back| back.sale),
            None => None,
        };
        Ok(TillSale {
            event: if found.exchange_for.is_some() {
                "exchange"
            } else {
                "sale"
            }
            .into(),
            sale_id: sale.sale_id.clone(),
            refers_to,
            exchange_of: found.exchange_for.clone(),
            store: sale.store.clone(),
            recorded_at: found.at,
            associate: found.associate.to_string(),
            customer: found.customer,
            currency: currency.to_string(),
            lines: found
                .lines
                .iter()
                .map(|l| TillSaleLine {
                    variant: l.variant.clone(),
                    quantity: l.quantity,
                    unit_price_minor: l.unit_price_cents,
                })
                .collect(),
            total_minor,
            from_online_cart: found.from_online_cart.unwrap_or(false),
        })
    }

    /// A return: the units back, refunded at the sale's price, naming the sale.
    fn till_return_message(&mut self, queued: &QueuedSale, currency: &str) -> Result<TillSale> {
        let id = DocId::Inventory(queued.store.clone());
        let store = queued.store.clone();
        let movement = self
            .with_doc(&id, |doc| {
                InventoryDoc::new(doc, &store).adjustment(&queued.sale_id)
            })?
            .transpose()?
            .flatten()
            .ok_or_else(|| CoreError::not_found("return", &queued.sale_id))?;
        let refund = movement.refund_minor.unwrap_or(0);
        let units = u32::try_from(movement.delta).unwrap_or(0);
        Ok(TillSale {
            event: "return".into(),
            sale_id: queued.sale_id.clone(),
            refers_to: movement.sale.clone(),
            exchange_of: None,
            store: queued.store.clone(),
            recorded_at: movement.at,
            associate: movement.by.to_string(),
            customer: None,
            currency: currency.to_string(),
            lines: vec![TillSaleLine {
                variant: movement.variant.clone(),
                quantity: units,
                unit_price_minor: if units == 0 {
                    0
                } else {
                    refund / i64::from(units)
                },
            }],
            total_minor: -refund,
            from_online_cart: false,
        })
    }

    /// Whether a sale is queued at all (tests, and the outbox's own checks).
    pub fn till_queued(&self, sale_id: &str) -> Result<bool> {
        Ok(self
            .conn()
            .query_row(
                "SELECT 1 FROM till_outbox WHERE sale_id = ?1",
                [sale_id],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }
}

use aisle_core::Store;
