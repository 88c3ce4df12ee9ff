//! A tablet without a window, for cross-process sync tests: a real store file and a real sync
//! client, driven by commands on stdin. Each change is reported on stdout only after it
//! committed locally (an "acknowledged" change), so a test can kill it at any moment and know
//! what must survive.
//!
//! Usage: tablet_sim <db> <relay-url> <token> <store-id>, with `AISLE_RELAY_CA` the fingerprint
//! of the relay's certificate authority, as the app takes it.
//! Commands: note <customer> <text> | view <customer> <product> | sell <variant> <customer|-> |
//! hold <variant> <customer> | offline | online | status | quit

use std::io::{BufRead, Write};
use std::sync::{Arc, Mutex};

use aisle_core::model::{AssociateId, CustomerId, ProductSku, StoreId, VariantSku};
use aisle_tablet::Tablet;
use aisle_tablet::checkout::{HoldRequest, SaleRequest};
use aisle_tablet::sync_client::{SyncClient, SyncConfig};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [db, relay, token, store_id] = args.as_slice() else {
        anyhow::bail!("usage: tablet_sim <db> <relay-url> <token> <store-id>");
    };
    let store_id = StoreId::parse(store_id.as_str())?;
    let associate = AssociateId::parse("sim.tablet")?;
    let store = Arc::new(Mutex::new(Tablet::open(db)?));
    let ca = std::env::var("AISLE_RELAY_CA")
        .ok()
        .map(|ca| aisle_core::enrolment::CertFingerprint::parse(&ca))
        .transpose()?;
    let mut config = SyncConfig::new(
        aisle_tablet::relay_tls::RelayAddress::pinned(relay.clone(), ca),
        token.clone(),
    );
    config.max_backoff_ms = 1_000;
    let runtime = tokio::runtime::Runtime::new()?;
    let _guard = runtime.enter();
    let mut client = Some(SyncClient::start(store.clone(), config.clone()));
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready")?;
    out.flush()?;
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let words: Vec<&str> = line.splitn(3, ' ').collect();
        let result: anyhow::Result<String> = (|| {
            let mut s = store
                .lock()
                .map_err(|_| anyhow::anyhow!("store lock poisoned"))?;
            Ok(match words.as_slice() {
                ["note", customer, text] => {
                    let id = s.add_note(
                        &CustomerId::parse(*customer)?,
                        text,
                        &associate,
                        Some(&store_id),
                    )?;
                    format!("ack note {id} {text}")
                }
                ["view", customer, product] => {
                    s.record_view(
                        &CustomerId::parse(*customer)?,
                        &ProductSku::parse(*product)?,
                        None,
                    )?;
                    format!("ack view {customer} {product}")
                }
                ["sell", variant, customer] => {
                    let receipt = s.sell(&SaleRequest {
                        store: store_id.clone(),
                        lines: vec![(VariantSku::parse(*variant)?, 1)],
                        customer: (*customer != "-")
                            .then(|| CustomerId::parse(*customer))
                            .transpose()?,
                        associate: associate.clone(),
                        holds: vec![],
                        cart: None,
                    })?;
                    format!("ack sale {} {variant}", receipt.sale_id)
                }
                ["hold", variant, customer] => {
                    let hold = s.place_hold(&HoldRequest {
                        store: store_id.clone(),
                        variant: VariantSku::parse(*variant)?,
                        quantity: 1,
                        customer: CustomerId::parse(*customer)?,
                        associate: associate.clone(),
                        hours: 24,
                    })?;
                    format!("ack hold {hold}")
                }
                ["status"] => {
                    let status = client.as_ref().map(|c| c.status().borrow().clone());
                    format!("status {}", serde_json::to_string(&status)?)
                }
                ["offline"] => {
                    drop(s);
                    if let Some(c) = client.take() {
                        runtime.block_on(c.shutdown());
                    }
                    "ok offline".into()
                }
                ["online"] => {
                    drop(s);
                    if client.is_none() {
                        client = Some(SyncClient::start(store.clone(), config.clone()));
                    }
                    "ok online".into()
                }
                ["quit"] => return Ok("bye".into()),
                _ => anyhow::bail!("unknown command: {line}"),
            })
        })();
        match result {
            Ok(reply) => {
                writeln!(out, "{reply}")?;
                if let Some(c) = &client {
                    c.nudge();
                }
                if reply == "bye" {
                    break;
                }
            }
            Err(e) => writeln!(out, "err {e}")?,
        }
        out.flush()?;
    }
    if let Some(c) = client.take() {
        runtime.block_on(c.shutdown());
    }
    Ok(())
}
