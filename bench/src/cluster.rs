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
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

use crate::ours::{
    enrol, enrolment_code, events_to_tablet, has_customers, raw_device, raw_device_at,
};

/// Latencies on the writer's relay and on the others: (p50, p99) medians over runs, in s.
pub struct ClusterFanOut {
    pub same_relay: (f64, f64),
    pub other_relays: Option<(f64, f64)>,
}

/// A PostgreSQL of the benchmark's own and relays on one database of it; the first seeds the
/// demo retailer.
struct BenchCluster {
    relays: Vec<Relay>,
    admin_token: String,
    secrets: PathBuf,
    postgres: Postgres,
    _dir: tempfile::TempDir,
}

impl BenchCluster {
    fn start(relays: usize, customers: usize) -> anyhow::Result<Self> {
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
        Ok(Self {
            relays: cluster,
            admin_token,
            secrets,
            postgres,
            _dir: dir,
        })
    }

    /// A device token of the store, enrolled through relay `i`.
    async fn device_token(&self, i: usize, n: usize) -> anyhow::Result<String> {
        let relay = &self.relays[i];
        let code = enrolment_code(relay, &self.admin_token, &format!("device {n}")).await?;
        let enrolled: Enrolment = reply(relay.http().post(relay.url("/v1/enrol")).json(
            &EnrolRequest {
                code,
                actor: format!("{:032x}", n + 1),
            },
        ))
        .await?;
        Ok(enrolled.token)
    }
}

pub async fn fan_out(
    relays: usize,
    devices: usize,
    runs: usize,
    customers: usize,
) -> anyhow::Result<ClusterFanOut> {
    let bench = BenchCluster::start(relays, customers)?;
    let (cluster, admin_token) = (&bench.relays, &bench.admin_token);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, String, Instant)>();
    let mut starts = vec![(0, String::new()); relays];
    for i in 0..devices {
        let relay = &cluster[i % relays];
        let token = bench.device_token(i % relays, i).await?;
        let (mut socket, end) = raw_device(relay, &token, starts[i % relays].clone()).await?;
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
    let mut writer = enrol(&cluster[0], admin_token, "writer").await?;
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
    drop(bench);
    Ok(ClusterFanOut {
        same_relay: medians(&same),
        other_relays: (!other.is_empty()).then(|| medians(&other)),
    })
}

/// A web shop event posted to one relay, seen on a tablet connected to another (through the
/// shared changefeed): each event's latency.
pub async fn event_latency(events: usize, customers: usize) -> anyhow::Result<Vec<Duration>> {
    let bench = BenchCluster::start(2, customers)?;
    let secret = aisle_tests::ingest_secret(&bench.secrets)?;
    let mut tablet = enrol(&bench.relays[1], &bench.admin_token, "tablet on B").await?;
    tablet.start();
    tablet
        .wait_synced(Duration::from_secs(120), has_customers)
        .await?;
    events_to_tablet(&bench.relays[0], &secret, &tablet, events).await
}

/// A fresh tablet's first sync of its store from a relay on PostgreSQL (the relay seeds
/// `customers` demo customers first, as the SQLite fixture does): the time for each run, and
/// the documents in the tablet's scope.
pub async fn first_sync(customers: usize, runs: usize) -> anyhow::Result<(Vec<f64>, usize)> {
    let bench = BenchCluster::start(1, customers)?;
    let in_scope: usize = bench
        .postgres
        .sql_in(
            "chain",
            "SELECT COUNT(*) FROM feed WHERE scope IN ('catalog', 'inventory:LDN-CG', 'customers:LDN-CG')",
        )?
        .trim()
        .parse()?;
    let mut times = Vec::new();
    // A relay that has just written 25,000 customers is still following them in the shared
    // changefeed for a while, and a tablet enrolled then gets many of them as live changes
    // (measured: 24 s instead of 9 s). The measurement is of a relay at rest.
    followed_everything(&bench.relays[0]).await?;
    for run in 0..runs {
        let mut tablet = enrol(
            &bench.relays[0],
            &bench.admin_token,
            &format!("fresh {run}"),
        )
        .await?;
        let started = Instant::now();
        tablet.start();
        tablet.wait_holding(in_scope).await?;
        times.push(started.elapsed().as_secs_f64());
    }
    Ok((times, in_scope))
}

/// Waits until the relay has followed the shared changefeed up to its horizon: its
/// `aisle_relay_changefeed_lag_transactions` gauge reads at most 1 (what it reads at rest:
/// the horizon is one past the newest transaction) twice in a row.
async fn followed_everything(relay: &Relay) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut at_rest = 0;
    while at_rest < 2 {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(300),
            "the relay did not follow its changefeed within 5 minutes"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
        let text = relay
            .http()
            .get(relay.url("/metrics"))
            .send()
            .await?
            .text()
            .await?;
        let lag = text
            .lines()
            .find(|l| l.starts_with("aisle_relay_changefeed_lag_transactions"))
            .and_then(|l| l.split_whitespace().last())
            .and_then(|v| v.parse::<f64>().ok());
        at_rest = if lag.is_some_and(|l| l <= 1.0) {
            at_rest + 1
        } else {
            0
        };
    }
    Ok(())
}

/// What a reconnect storm took: the devices whose relay was killed, and the time from the kill
/// until the last of them was connected to another relay and through its backlog.
pub struct Storm {
    pub devices: usize,
    pub cut_off: usize,
    pub took: Duration,
}

/// `devices` protocol-level devices connected through a load balancer to `relays` relays;
/// one relay is killed (SIGKILL) and its devices reconnect through the balancer, each from its
/// cursor, while a tablet writes to 50 customers.
pub async fn reconnect_storm(
    relays: usize,
    devices: usize,
    customers: usize,
) -> anyhow::Result<Storm> {
    let mut bench = BenchCluster::start(relays, customers)?;
    let balancer =
        aisle_tests::balancer::Balancer::start(bench.relays.iter().map(|r| r.addr).collect())
            .await?;
    let address = aisle_tests::RelayAddress::pinned(balancer.url(), bench.relays[0].trust);
    // Per device: (connection number, when it was through its backlog), and whether it lost
    // a connection.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, usize, Instant)>();
    let mut tasks = Vec::new();
    for i in 0..devices {
        let token = bench.device_token(i % relays, i).await?;
        let (address, tx) = (address.clone(), tx.clone());
        let (socket, start) = raw_device_at(&address, &token, (0, String::new())).await?;
        let _ = tx.send((i, 0, Instant::now()));
        tasks.push(tokio::spawn(async move {
            let (mut socket, mut start) = (socket, start);
            for connection in 1.. {
                // Read until the relay goes away, then connect again through the balancer.
                while let Some(Ok(_)) = socket.next().await {}
                loop {
                    match raw_device_at(&address, &token, start.clone()).await {
                        Ok((again, end)) => {
                            (socket, start) = (again, end);
                            let _ = tx.send((i, connection, Instant::now()));
                            break;
                        }
                        Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                    }
                }
            }
        }));
    }
    for _ in 0..devices {
        rx.recv().await;
    }
    let mut writer = enrol(&bench.relays[0], &bench.admin_token, "writer").await?;
    writer.start();
    writer
        .wait_synced(Duration::from_secs(120), has_customers)
        .await?;
    let victim = bench.relays.len() - 1;
    let killed_at = Instant::now();
    bench.relays.remove(victim).kill9()?;
    let associate = AssociateId::parse("bench")?;
    let customers = writer.lock().doc_ids("customer")?;
    for doc in customers.iter().take(50) {
        if let DocId::Customer(id) = doc {
            writer
                .lock()
                .add_note(id, "During the storm", &associate, None)?;
        }
    }
    if let Some(c) = &writer.client {
        c.nudge();
    }
    // Devices of the killed relay: every `victim`-th, as the balancer dealt them.
    let cut_off = (0..devices).filter(|i| i % relays == victim).count();
    let mut back = std::collections::HashSet::new();
    let mut last = killed_at;
    while back.len() < cut_off {
        match tokio::time::timeout(Duration::from_secs(120), rx.recv()).await {
            Ok(Some((device, connection, at))) if connection > 0 => {
                back.insert(device);
                last = last.max(at);
            }
            Ok(Some(_)) => {}
            _ => bail!("only {} of {cut_off} devices came back", back.len()),
        }
    }
    for task in tasks {
        task.abort();
    }
    drop(writer);
    Ok(Storm {
        devices,
        cut_off,
        took: last.duration_since(killed_at),
    })
}
