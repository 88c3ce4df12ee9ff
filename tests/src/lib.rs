//! Harness for cross-process tests: build and start workspace binaries (the relay, the crash
//! writer), read the address a relay listens on, stop processes hard or gracefully, and call
//! the relay's HTTP API with the bodies `aisle_core::api` declares.

use aisle_core::api::{BatchRejection, EventBatch, IngestOutcome, IssueTokenRequest, IssuedToken};
use aisle_core::enrolment::CertFingerprint;
use aisle_core::model::{ApiError, ErrorCode};
pub use aisle_tablet::relay_tls::RelayAddress;
use anyhow::{Context, bail};
pub use nix::sys::signal::Signal;
use nix::unistd::Pid;
use serde::de::DeserializeOwned;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub mod balancer;
pub mod postgres;

/// The workspace's `target/<profile>` directory this test binary was built into.
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    // Test binaries live in target/<profile>/deps/, other binaries in target/<profile>/.
    let dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.parent().map(Path::to_path_buf).unwrap_or(dir)
    } else {
        dir
    }
}

/// Builds a workspace binary (a no-op when it is up to date) and returns its path.
pub fn workspace_binary(package: &str, bin: &str) -> anyhow::Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--quiet", "-p", package, "--bin", bin]);
    if !cfg!(debug_assertions) {
        cmd.arg("--release");
    }
    let status = cmd.status().context("running cargo build")?;
    if !status.success() {
        bail!("cargo build -p {package} --bin {bin} failed");
    }
    let path = target_dir().join(bin);
    if !path.exists() {
        bail!("{} was not built", path.display());
    }
    Ok(path)
}

/// Reads a child's stdout lines on a thread, so a test can wait for a line with a timeout.
pub struct Lines(mpsc::Receiver<String>);

impl Lines {
    pub fn new(stdout: ChildStdout) -> Self {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self(rx)
    }

    pub fn next(&self, timeout: Duration) -> Option<String> {
        self.0.recv_timeout(timeout).ok()
    }

    /// Everything the child printed before its stdout closed.
    pub fn drain(&self) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(line) = self.0.recv_timeout(Duration::from_secs(5)) {
            out.push(line);
        }
        out
    }
}

/// Sends `signal` to a child process.
pub fn signal(child: &Child, signal: Signal) -> anyhow::Result<()> {
    nix::sys::signal::kill(pid_of(child)?, signal).context("sending a signal")
}

/// Kills a child's whole process group (the child must lead one: `process_group(0)`).
pub fn kill_group(child: &Child) -> anyhow::Result<()> {
    nix::sys::signal::killpg(pid_of(child)?, Signal::SIGKILL).context("killing a process group")
}

fn pid_of(child: &Child) -> anyhow::Result<Pid> {
    Ok(Pid::from_raw(
        i32::try_from(child.id()).context("pid out of range")?,
    ))
}

/// The relay binary: `AISLE_RELAY_BIN` when set (`cargo xtask test` builds the workspace once
/// and points here), otherwise built now.
pub fn relay_binary() -> anyhow::Result<PathBuf> {
    match std::env::var_os("AISLE_RELAY_BIN") {
        Some(path) => Ok(PathBuf::from(path)),
        None => workspace_binary("aisle-relay", "aisle-relay"),
    }
}

/// With `AISLE_TEST_POSTGRES` set to a PostgreSQL server's URL (`cargo xtask test` starts one
/// for its second pass), every relay a test starts keeps its truth in a database of that server
/// named after its data directory, instead of the embedded SQLite files: the flags for it.
pub fn database_args(data_dir: &Path) -> anyhow::Result<Vec<String>> {
    let chosen = data_dir.join(DATABASE_MARKER);
    let url = match std::fs::read_to_string(&chosen) {
        Ok(url) => url.trim().to_string(),
        Err(_) => {
            let Some(server) = std::env::var("AISLE_TEST_POSTGRES").ok() else {
                return Ok(Vec::new());
            };
            let name = format!("aisle_{}", uuid_like());
            postgres::create_database(&server, &name)?;
            let url = format!("{}/{name}", server.trim_end_matches('/'));
            use_database(data_dir, &url)?;
            url
        }
    };
    let mut args = vec!["--database".into(), url];
    if let Ok(secrets) = std::fs::read_to_string(data_dir.join(SECRETS_MARKER)) {
        args.extend(["--secrets-dir".into(), secrets.trim().to_string()]);
    }
    // The CA a database serving TLS is verified by, for every process of this relay.
    if let Ok(ca) = std::fs::read_to_string(data_dir.join(DATABASE_CA_MARKER)) {
        args.extend(["--database-ca".into(), ca.trim().to_string()]);
    }
    Ok(args)
}

const SECRETS_MARKER: &str = "test-secrets-dir";

/// Where a relay's data directory names the CA file of its database's server (tests of TLS
/// to PostgreSQL).
pub const DATABASE_CA_MARKER: &str = "test-database-ca";

/// Makes the relay of `data_dir` one of several on the database at `url`, sharing their
/// secrets (signing keys, web shop secrets, certificate authority) in `secrets`.
pub fn join_cluster(data_dir: &Path, url: &str, secrets: &Path) -> anyhow::Result<()> {
    use_database(data_dir, url)?;
    std::fs::write(
        data_dir.join(SECRETS_MARKER),
        secrets.to_string_lossy().as_bytes(),
    )?;
    Ok(())
}

/// The shared database the relay of `data_dir` uses in this run, if any (for relays started
/// in the test's own process, from their `Config`).
pub fn test_database(data_dir: &Path) -> anyhow::Result<Option<String>> {
    let args = database_args(data_dir)?;
    Ok(args.get(1).cloned())
}

/// Where a data directory's relay keeps its truth, for the harness ([`database_args`]).
const DATABASE_MARKER: &str = "test-database-url";

/// Makes the relay of `data_dir` (and its admin commands) use the database at `url`.
pub fn use_database(data_dir: &Path, url: &str) -> anyhow::Result<()> {
    std::fs::create_dir_all(data_dir)?;
    std::fs::write(data_dir.join(DATABASE_MARKER), url)?;
    Ok(())
}

/// Bytes as lowercase hex (for SQL literals).
pub fn hex_encode(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// Hex as bytes; panics on bad hex (test input).
pub fn hex_decode(text: &str) -> Vec<u8> {
    hex::decode(text.trim()).unwrap_or_else(|e| panic!("not hex: {e}"))
}

fn uuid_like() -> String {
    use rand::Rng;
    let bytes: [u8; 8] = rand::rng().random();
    hex::encode(bytes)
}

/// Copies a relay's data directory: files with their permissions (the loyalty keys are
/// owner-only), folders recursively, and symlinks as symlinks.
pub fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copy_dir(&source, &target)?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&source)?, &target)
                .with_context(|| format!("linking {}", target.display()))?;
        } else {
            // `fs::copy` carries the permission bits over.
            std::fs::copy(&source, &target)
                .with_context(|| format!("copying {}", source.display()))?;
        }
    }
    // Last, so a read-only folder is still writable while it is being filled.
    std::fs::set_permissions(to, std::fs::metadata(from)?.permissions())?;
    Ok(())
}

/// The relay's database of documents as a store opens it: its working copy on a shared
/// database, else its own file.
pub fn relay_documents(data_dir: &Path) -> PathBuf {
    if data_dir.join(DATABASE_MARKER).exists() {
        data_dir.join("working-copy.sqlite3")
    } else {
        data_dir.join("relay.sqlite3")
    }
}

/// Runs one statement on the database holding the relay's device registry and audit trail;
/// the error's text if it fails.
pub fn registry_statement(data_dir: &Path, sql: &str) -> Result<(), String> {
    match std::fs::read_to_string(data_dir.join(DATABASE_MARKER)) {
        Ok(url) => postgres::psql(url.trim(), sql)
            .map(drop)
            .map_err(|e| e.to_string()),
        Err(_) => rusqlite::Connection::open(data_dir.join("devices.sqlite3"))
            .and_then(|c| c.execute(sql, []))
            .map(drop)
            .map_err(|e| e.to_string()),
    }
}

/// The relay's command line for an admin command on `data_dir` (and its database).
pub fn admin_command(data_dir: &Path) -> anyhow::Result<Command> {
    let mut command = Command::new(relay_binary()?);
    command
        .arg("--data-dir")
        .arg(data_dir)
        .args(database_args(data_dir)?)
        .env("RUST_LOG", "warn");
    Ok(command)
}

/// Runs `aisle-relay admin <args>` on `data_dir`: what it printed, or its error output.
pub fn admin(data_dir: &Path, args: &[&std::ffi::OsStr]) -> anyhow::Result<Result<String, String>> {
    let output = admin_command(data_dir)?
        .arg("admin")
        .args(args)
        .output()
        .context("running aisle-relay admin")?;
    Ok(if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    })
}

/// Creates a one-time enrolment code with the relay's admin command.
pub fn enrolment_code(
    data_dir: &Path,
    store: &str,
    role: &str,
    name: &str,
) -> anyhow::Result<String> {
    let output = admin_command(data_dir)?
        .args([
            "admin", "enrol", "--quiet", "--store", store, "--role", role, "--name", name,
        ])
        .output()
        .context("running aisle-relay admin enrol")?;
    if !output.status.success() {
        bail!(
            "admin enrol failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// The sync WebSocket as a test drives it by hand.
pub type SyncSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A running `aisle-relay` on loopback, serving HTTPS with a certificate authority of its own
/// (in its data directory, so a restart keeps it) unless started with `--plaintext` or given
/// certificate files.
pub struct Relay {
    child: Child,
    pub addr: SocketAddr,
    /// The fingerprint tablets trust it by; `None` on plain HTTP.
    pub trust: Option<CertFingerprint>,
    pub lines: Lines,
}

impl Relay {
    /// Starts the relay on `127.0.0.1:0` with `data_dir` and extra flags, and waits until it
    /// says where it listens.
    pub fn start(data_dir: &Path, extra: &[&str]) -> anyhow::Result<Self> {
        Self::start_on(data_dir, "127.0.0.1:0".parse()?, extra)
    }

    /// Starts the relay on a given address (a restart on the port tablets know).
    pub fn start_on(data_dir: &Path, listen: SocketAddr, extra: &[&str]) -> anyhow::Result<Self> {
        let bin = relay_binary()?;
        let mut command = Command::new(bin);
        command
            .arg("--listen")
            .arg(listen.to_string())
            .arg("--data-dir")
            .arg(data_dir)
            .args(database_args(data_dir)?)
            .args(extra);
        if !extra
            .iter()
            .any(|a| *a == "--plaintext" || *a == "--tls-cert")
        {
            command.arg("--tls-self-signed");
        }
        let mut child = command
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting aisle-relay")?;
        let stdout = child.stdout.take().context("relay stdout")?;
        let lines = Lines::new(stdout);
        let mut trust = None;
        loop {
            let Some(line) = lines.next(Duration::from_secs(120)) else {
                let _ = child.kill();
                bail!("the relay did not report its address");
            };
            if let Some(fingerprint) = line.strip_prefix("aisle-relay certificate authority ") {
                trust = Some(CertFingerprint::parse(fingerprint)?);
            }
            if let Some(url) = line.strip_prefix("aisle-relay listening on ") {
                let mut addr: SocketAddr = url
                    .trim_start_matches("https://")
                    .trim_start_matches("http://")
                    .parse()
                    .context("relay address")?;
                // Listening on every address: reach it on loopback.
                if addr.ip().is_unspecified() {
                    addr.set_ip([127, 0, 0, 1].into());
                }
                return Ok(Self {
                    child,
                    addr,
                    trust,
                    lines,
                });
            }
        }
    }

    /// `https://<addr><path>` (`http://` for a relay started with `--plaintext`).
    pub fn url(&self, path: &str) -> String {
        let scheme = if self.trust.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}{path}", self.addr)
    }

    /// The relay as an enrolled tablet knows it: its address and the certificate it pinned.
    pub fn address(&self) -> RelayAddress {
        RelayAddress::pinned(self.url(""), self.trust)
    }

    /// An HTTP client that trusts this relay's certificate as a tablet does.
    pub fn http(&self) -> reqwest::Client {
        self.address()
            .http(Duration::from_secs(60))
            .expect("the relay's address is https:// or loopback")
    }

    /// Opens a sync WebSocket with `token`, as a (possibly modified) app would.
    pub async fn sync_socket(
        &self,
        token: &str,
    ) -> Result<SyncSocket, tokio_tungstenite::tungstenite::Error> {
        sync_socket(&self.address(), token).await
    }

    /// The relay's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: the process gets no chance to clean up.
    pub fn kill9(mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// SIGTERM, then waits for the exit status.
    pub fn terminate(mut self) -> anyhow::Result<std::process::ExitStatus> {
        signal(&self.child, Signal::SIGTERM)?;
        Ok(self.child.wait()?)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Opens a sync WebSocket to `relay` with `token`.
pub async fn sync_socket(
    relay: &RelayAddress,
    token: &str,
) -> Result<SyncSocket, tokio_tungstenite::tungstenite::Error> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let url = relay.sync_url().map_err(|e| {
        tokio_tungstenite::tungstenite::Error::Url(
            tokio_tungstenite::tungstenite::error::UrlError::UnableToConnect(e.to_string()),
        )
    })?;
    let mut request = url.into_client_request()?;
    let bearer = format!("Bearer {token}").parse().map_err(
        |e: tokio_tungstenite::tungstenite::http::header::InvalidHeaderValue| {
            tokio_tungstenite::tungstenite::Error::HttpFormat(e.into())
        },
    )?;
    request.headers_mut().insert("authorization", bearer);
    tokio_tungstenite::connect_async_tls_with_config(
        request,
        None,
        false,
        Some(relay.ws_connector()),
    )
    .await
    .map(|(socket, _)| socket)
}

/// The relay's secret for signing web shop events (generated into its data directory).
pub fn ingest_secret(data_dir: &Path) -> anyhow::Result<String> {
    Ok(std::fs::read_to_string(data_dir.join("ingest-secret"))?
        .trim()
        .to_string())
}

/// `X-Aisle-Signature` for an event batch body.
pub fn sign_events(secret: &str, body: &[u8]) -> String {
    format!("sha256={}", hex::encode(hmac_sha256(secret, body)))
}

/// `X-Shopify-Hmac-Sha256` for a webhook body: base64 of HMAC-SHA256 with the app secret.
pub fn sign_shopify(secret: &str, body: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(hmac_sha256(secret, body))
}

fn hmac_sha256(secret: &str, body: &[u8]) -> Vec<u8> {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

/// Waits until a sync client is online, caught up, has nothing waiting and has heard from the
/// relay; fails with its last status after `timeout`.
pub async fn wait_synced(
    status: &mut tokio::sync::watch::Receiver<aisle_core::model::SyncStatus>,
    timeout: Duration,
) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    loop {
        {
            let s = status.borrow_and_update();
            if s.connection == aisle_core::model::Connection::Online
                && s.catch_up.is_none()
                && s.pending == 0
                && s.last_synced_at.is_some()
            {
                return Ok(());
            }
        }
        if started.elapsed() > timeout {
            anyhow::bail!("did not sync: {:?}", *status.borrow());
        }
        let _ = tokio::time::timeout(Duration::from_millis(200), status.changed()).await;
    }
}

/// A relay process with `customers` demo customers, its data in `relay/` of a fresh temporary
/// folder: (the folder, the relay's data folder, the relay).
pub fn demo_relay(customers: usize) -> (tempfile::TempDir, PathBuf, Relay) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let relay_dir = dir.path().join("relay");
    let relay = Relay::start(
        &relay_dir,
        &["--demo", "--demo-customers", &customers.to_string()],
    )
    .expect("the relay starts");
    (dir, relay_dir, relay)
}

/// The first customer, in the order [`demo_relay`]`(customers)` generated them, for whom
/// `wanted` holds: tests pick the people they need from the relay's demo data this way.
pub fn demo_customer(
    customers: usize,
    wanted: impl Fn(&aisle_core::model::NewCustomer) -> bool,
) -> aisle_core::customer_records::CustomerImport {
    aisle_relay::domain::demo::DemoData::generate(aisle_relay::domain::demo::DemoConfig::new(
        customers, 0,
    ))
    .customers()
    .find(|c| wanted(&c.customer))
    .expect("the demo data has such a customer")
}

/// Enrols a device (`name`, of `store` in `role`) whose store has Automerge actor `actor`, and
/// returns its bearer token.
pub async fn enrol_device(
    relay: &Relay,
    relay_dir: &Path,
    (store, role, name): (&str, &str, &str),
    actor: &aisle_core::automerge::ActorId,
) -> String {
    let code = enrolment_code(relay_dir, store, role, name).expect("an enrolment code");
    aisle_tablet::relay_client::enrol(&relay.address(), &code, actor)
        .await
        .expect("the device enrols")
        .token
}

/// Sends `request(0)`, `request(1)`, … up to `attempts` of them, and returns the index of the
/// first answered 429 (too many requests), if any; every earlier one must get `otherwise`.
pub async fn first_rate_limited(
    attempts: u32,
    otherwise: Option<u16>,
    request: impl Fn(u32) -> reqwest::RequestBuilder,
) -> Option<u32> {
    for i in 0..attempts {
        let status = request(i).send().await.expect("the relay answers").status();
        if status == 429 {
            return Some(i);
        }
        if let Some(expected) = otherwise {
            assert_eq!(status.as_u16(), expected, "attempt {i}");
        }
    }
    None
}

/// Polls `done` until it holds and returns how long that took; fails the test, naming `what`,
/// after `timeout`.
pub async fn eventually(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let started = std::time::Instant::now();
    while !done() {
        assert!(
            started.elapsed() < timeout,
            "timed out after {timeout:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    started.elapsed()
}

/// A tablet for scenario tests: a real store file and sync client, enrolled at a relay in the
/// LDN-CG store; stop and start it to take it offline and back.
pub struct Tablet {
    pub store: std::sync::Arc<std::sync::Mutex<aisle_tablet::Tablet>>,
    pub config: aisle_tablet::sync_client::SyncConfig,
    pub client: Option<aisle_tablet::sync_client::SyncClient>,
}

impl Tablet {
    pub async fn enrol(
        relay: &Relay,
        relay_dir: &Path,
        dir: &Path,
        name: &str,
        role: &str,
    ) -> Self {
        Self::enrol_at(relay.address(), relay_dir, dir, name, role).await
    }

    /// Enrols at `address` (a relay, or a load balancer in front of several) with a code
    /// made on `relay_dir`.
    pub async fn enrol_at(
        address: RelayAddress,
        relay_dir: &Path,
        dir: &Path,
        name: &str,
        role: &str,
    ) -> Self {
        Self::enrol_in_store(address, relay_dir, dir, name, role, "LDN-CG").await
    }

    /// [`Tablet::enrol_at`] in another store than the demo's LDN-CG.
    pub async fn enrol_in_store(
        address: RelayAddress,
        relay_dir: &Path,
        dir: &Path,
        name: &str,
        role: &str,
        store_id: &str,
    ) -> Self {
        let store = aisle_tablet::Tablet::open(dir.join(format!("{name}.sqlite3")))
            .expect("the tablet's store opens");
        let code = enrolment_code(relay_dir, store_id, role, name).expect("an enrolment code");
        let token = aisle_tablet::relay_client::enrol(&address, &code, store.actor())
            .await
            .expect("the device enrols")
            .token;
        let mut config = aisle_tablet::sync_client::SyncConfig::new(address, token);
        config.max_backoff_ms = 300;
        let mut tablet = Self {
            store: std::sync::Arc::new(std::sync::Mutex::new(store)),
            config,
            client: None,
        };
        tablet.start();
        tablet.wait_synced().await;
        tablet
    }

    pub fn start(&mut self) {
        self.client = Some(aisle_tablet::sync_client::SyncClient::start(
            self.store.clone(),
            self.config.clone(),
        ));
    }

    pub async fn stop(&mut self) {
        if let Some(client) = self.client.take() {
            client.shutdown().await;
        }
    }

    /// Syncs now instead of at the next interval.
    pub fn nudge(&self) {
        if let Some(client) = &self.client {
            client.nudge();
        }
    }

    pub async fn wait_synced(&self) {
        let mut status = self
            .client
            .as_ref()
            .expect("the tablet is started")
            .status();
        wait_synced(&mut status, Duration::from_secs(30))
            .await
            .expect("the tablet syncs");
    }

    /// Runs `f` on the tablet's store.
    pub fn with<T>(&self, f: impl FnOnce(&mut aisle_tablet::Tablet) -> T) -> T {
        f(&mut self.store.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// A `pcscd` of the test's own, in the foreground, with the vpcd virtual reader its packaged
/// configuration loads. Stopped (SIGTERM, then SIGKILL) when dropped: what unplugging every
/// reader looks like to an application.
pub struct Pcscd {
    child: Child,
}

impl Pcscd {
    pub fn start() -> anyhow::Result<Self> {
        // One pcscd per machine: a leftover one (a crashed run) would hold the socket.
        let _ = Command::new("pkill").args(["-x", "pcscd"]).status();
        std::thread::sleep(Duration::from_millis(200));
        let child = Command::new("/usr/sbin/pcscd")
            .args(["--foreground", "--error"])
            .stdout(Stdio::null())
            .spawn()
            .context("starting /usr/sbin/pcscd (apt install pcscd vsmartcard-vpcd)")?;
        // vpcd is ready when its port accepts connections.
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", VPCD_PORT)).is_ok() {
                return Ok(Self { child });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("pcscd started but the vpcd reader does not listen on port {VPCD_PORT}")
    }

    pub fn stop(mut self) -> anyhow::Result<()> {
        self.terminate()
    }

    fn terminate(&mut self) -> anyhow::Result<()> {
        if self.child.try_wait()?.is_none() {
            let _ = signal(&self.child, Signal::SIGTERM);
            for _ in 0..40 {
                if self.child.try_wait()?.is_some() {
                    return Ok(());
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            self.child.kill()?;
            self.child.wait()?;
        }
        Ok(())
    }
}

impl Drop for Pcscd {
    fn drop(&mut self) {
        let _ = self.terminate();
    }
}

/// The port the vpcd driver listens on for a virtual card (Debian's /etc/reader.conf.d/vpcd).
pub const VPCD_PORT: u16 = 0x8C7B;

/// A virtual NFC card presented to the vpcd reader until dropped (see `src/bin/virtual_card.rs`).
pub struct VirtualCard {
    child: Child,
}

impl VirtualCard {
    pub fn present(uid: &str, text: Option<&str>) -> anyhow::Result<Self> {
        let mut cmd = Command::new(workspace_binary("aisle-tests", "virtual_card")?);
        cmd.args(["--uid", uid, "--port", &VPCD_PORT.to_string()]);
        if let Some(text) = text {
            cmd.args(["--text", text]);
        }
        let mut child = cmd.stdout(Stdio::piped()).spawn()?;
        let stdout = child.stdout.take().context("card stdout")?;
        let lines = Lines::new(stdout);
        match lines.next(Duration::from_secs(10)) {
            Some(line) if line.contains("card presented") => Ok(Self { child }),
            other => bail!("the virtual card did not connect to vpcd: {other:?}"),
        }
    }
}

impl Drop for VirtualCard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loyalty token for a customer, signed by the relay through its admin API.
pub async fn loyalty_token(
    relay: &Relay,
    relay_dir: &Path,
    customer: &aisle_core::model::CustomerId,
) -> anyhow::Result<String> {
    let admin = Api::admin(relay, relay_dir)?;
    let issued: IssuedToken = reply(
        admin
            .post(&format!("/v1/customers/{customer}/loyalty-token"))
            .json(&IssueTokenRequest {
                valid_days: Some(365),
            }),
    )
    .await?;
    Ok(issued.token)
}

/// The relay's HTTP API as one caller sees it: requests carry that caller's bearer token (a
/// device's, or the admin's), and bodies are the `aisle_core::api` types (send them with
/// `.json(..)` or `.query(..)`, read the answer with [`reply`] or [`refusal`]).
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    pub fn new(relay: &Relay, token: &str) -> Self {
        Self {
            http: relay.http(),
            base: relay.url(""),
            token: token.trim().to_string(),
        }
    }

    /// The admin, with the token the relay generated into its data directory.
    pub fn admin(relay: &Relay, relay_dir: &Path) -> anyhow::Result<Self> {
        let token = std::fs::read_to_string(relay_dir.join("admin-token"))
            .context("reading the relay's admin token")?;
        Ok(Self::new(relay, &token))
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }
}

/// Sends a request the relay should grant and reads its answer as `T` (`()` for an empty
/// 204). A refusal fails with a [`Refused`] naming the relay's error.
pub async fn reply<T: DeserializeOwned>(request: reqwest::RequestBuilder) -> anyhow::Result<T> {
    let answer = Answer::of(request).await?;
    if !answer.granted() {
        return Err(answer.refusal()?.into());
    }
    answer.read()
}

/// Sends a request the relay should refuse and returns how it refused it.
pub async fn refusal(request: reqwest::RequestBuilder) -> anyhow::Result<Refused> {
    Answer::of(request).await?.refusal()
}

/// A relay's answer kept whole, for tests whose requests may be granted or refused in more
/// than one way (an event batch refused whole is a [`BatchRejection`], not an [`ApiError`]).
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

impl Answer {
    pub async fn of(request: reqwest::RequestBuilder) -> anyhow::Result<Self> {
        let response = request.send().await.context("sending to the relay")?;
        let status = response.status().as_u16();
        let body = response
            .text()
            .await
            .context("reading the relay's answer")?;
        Ok(Self { status, body })
    }

    pub fn granted(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as `T`; an empty body (204) reads as JSON `null`, so as `()`.
    pub fn read<T: DeserializeOwned>(&self) -> anyhow::Result<T> {
        let body = if self.body.is_empty() {
            "null"
        } else {
            &self.body
        };
        serde_json::from_str(body).with_context(|| {
            format!(
                "a {} answer that is not a {}: {body}",
                self.status,
                std::any::type_name::<T>()
            )
        })
    }

    /// What the relay did with an event batch it accepted.
    pub fn outcome(&self) -> anyhow::Result<IngestOutcome> {
        if self.status != 200 {
            bail!(
                "the batch was not accepted ({}): {}",
                self.status,
                self.body
            );
        }
        self.read()
    }

    /// An event batch refused whole (422): which event, and why.
    pub fn rejection(&self) -> anyhow::Result<BatchRejection> {
        if self.status != 422 {
            bail!(
                "the batch was not refused whole ({}): {}",
                self.status,
                self.body
            );
        }
        self.read()
    }

    /// How the relay refused the request.
    pub fn refusal(&self) -> anyhow::Result<Refused> {
        if self.granted() {
            bail!("the relay granted it ({}): {}", self.status, self.body);
        }
        Ok(Refused {
            status: self.status,
            error: self.read()?,
        })
    }
}

/// A request the relay refused: the HTTP status and the error it sent, whose `code` says why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    pub status: u16,
    pub error: ApiError,
}

impl Refused {
    pub fn code(&self) -> ErrorCode {
        self.error.code
    }
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the relay refused with {}: {}", self.status, self.error)
    }
}

impl std::error::Error for Refused {}

/// `POST /v1/events` as a web shop sends it: a body and its `X-Aisle-Signature`.
pub fn events_request(relay: &Relay, body: Vec<u8>, signature: &str) -> reqwest::RequestBuilder {
    relay
        .http()
        .post(relay.url("/v1/events"))
        .header("content-type", "application/json")
        .header("x-aisle-tenant", "demo")
        .header("x-aisle-signature", signature)
        .body(body)
}

/// Posts an event batch signed with the relay's ingest secret: what the relay did with it.
pub async fn post_events(
    relay: &Relay,
    secret: &str,
    batch: &EventBatch,
) -> anyhow::Result<IngestOutcome> {
    let body = serde_json::to_vec(batch)?;
    let signature = sign_events(secret, &body);
    reply(events_request(relay, body, &signature)).await
}
