//! (e) Several relays on one PostgreSQL database (the shared backend): one change, written
//! through the first relay, fanned out to protocol-level devices spread evenly over the relays.
//! Latency is reported for the devices on the writer's relay and for those on the others (the
//! change reaches them through the shared changefeed, not a relay-to-relay mesh).

use aisle_core::DocId;
use aisle_core::api::{EnrolRequest, Enrolment};
use aisle_core::model::AssociateId;
use aisle_core::protocol::ServerFrame;
use aisle_tests::postgres::Postgres;
use aisle_tests::{Relay, join_cluster, reply};
use anyhow::bail;
use futures_util::StreamExt;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

use crate::ours::{enrol, enrolment_code, has_customers, raw_device};

/// Latencies on the writer's relay and on the others: (p50, p99) medians over runs, in s.
pub struct ClusterFanOut {
    pub same_relay: (f64, f64),
    pub other_relays: Option<(f64, f64)>,
}

pub async fn fan_out(
    relays: usize,
    devices: usize,
    runs: usize,
    customers: usize,
) -> anyhow::Result<ClusterFanOut> {
    let dir = tempfile::tempdir()?;
    let postgres = Postgres::start()?;
    let url = postgres.database("chain")?;
    let secrets = dir.path().join("secrets");
    let mut cluster = Vec::new();
    for i in 0..relays {
        let data_dir = dir.path().join(format!("relay-{i}"));
        join_cluster(&data_dir, &url, &secrets)?;
        let customers = customers.to_string();
        let args: Vec<&str> = if i == 0 {
            vec!["--demo", "--demo-customers", &customers]
        } else {
            Vec::new()
        };
        cluster.push(Relay::start(&data_dir, &args)?);
    }
    let admin_token = std::fs::read_to_string(secrets.join("admin-token"))?
        .trim()
        .to_string();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, String, Instant)>();
    let mut starts = vec![(0, String::new()); relays];
    for i in 0..devices {
        let relay = &cluster[i % relays];
        let code = enrolment_code(&cluster[0], &admin_token, &format!("device {i}")).await?;
        let enrolled: Enrolment = reply(relay.http().post(relay.url("/v1/enrol")).json(
            &EnrolRequest {
                code,
                actor: format!("{:032x}", i + 1),
            },
        ))
        .await?;
        let (mut socket, end) =
            raw_device(relay, &enrolled.token, starts[i % relays].clone()).await?;
        starts[i % relays] = end;
        let (tx, on) = (tx.clone(), i % relays);
        tokio::spawn(async move {
            while let Some(Ok(message)) = socket.next().await {
                if let Message::Binary(bytes) = message
                    && let Ok(ServerFrame::Changes { docs, .. }) = ServerFrame::decode(&bytes)
                {
                    let at = Instant::now();
                    for d in docs {
                        let _ = tx.send((on, d.doc, at));
                    }
                }
            }
        });
    }
    let mut writer = enrol(&cluster[0], &admin_token, "writer").await?;
    writer.start();
    writer
        .wait_synced(Duration::from_secs(120), has_customers)
        .await?;
    let associate = AssociateId::parse("bench")?;
    let customers = writer.lock().doc_ids("customer")?;
    let (mut same, mut other) = (Vec::new(), Vec::new());
    for run in 0..runs.max(3) {
        let doc = customers[run % customers.len()].clone();
        let DocId::Customer(id) = &doc else { continue };
        while rx.try_recv().is_ok() {}
        let sent = Instant::now();
        writer
            .lock()
            .add_note(id, "Fan-out probe", &associate, None)?;
        if let Some(c) = &writer.client {
            c.nudge();
        }
        let target = doc.to_string();
        let (mut here, mut there) = (Vec::new(), Vec::new());
        while here.len() + there.len() < devices {
            match tokio::time::timeout(Duration::from_secs(30), rx.recv()).await {
                Ok(Some((on, d, at))) if d == target => {
                    let latency = at.duration_since(sent);
                    if on == 0 {
                        here.push(latency);
                    } else {
                        there.push(latency);
                    }
                }
                Ok(Some(_)) => {}
                _ => bail!(
                    "only {} of {devices} devices received the change",
                    here.len() + there.len()
                ),
            }
        }
        for (latencies, into) in [(&mut here, &mut same), (&mut there, &mut other)] {
            if latencies.is_empty() {
                continue;
            }
            latencies.sort();
            into.push((
                crate::percentile(latencies, 0.50).as_secs_f64(),
                crate::percentile(latencies, 0.99).as_secs_f64(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let medians = |v: &[(f64, f64)]| {
        (
            crate::median(v.iter().map(|p| p.0).collect()),
            crate::median(v.iter().map(|p| p.1).collect()),
        )
    };
    drop(writer);
    drop(cluster);
    drop(postgres);
    Ok(ClusterFanOut {
        same_relay: medians(&same),
        other_relays: (!other.is_empty()).then(|| medians(&other)),
    })
}
