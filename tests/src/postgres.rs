//! A PostgreSQL server of the test's own: a fresh cluster in a temporary folder, on a free
//! loopback port, stopped and deleted when dropped. Debian's `postgresql-15` binaries
//! (`cargo xtask setup` installs them); `initdb` refuses to run as root, so as root the
//! cluster belongs to the `postgres` user and its programs run as that user.

use anyhow::{Context, bail};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian puts the server's programs; `AISLE_PG_BIN` overrides.
fn bin(program: &str) -> PathBuf {
    let dir = std::env::var_os("AISLE_PG_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/lib/postgresql/15/bin"));
    dir.join(program)
}

fn is_root() -> bool {
    nix::unistd::Uid::effective().is_root()
}

/// `program` run as the cluster's owner: `postgres` when the tests run as root.
fn as_owner(program: &str) -> Command {
    if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(bin(program));
        command
    } else {
        Command::new(bin(program))
    }
}

pub struct Postgres {
    server: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Postgres {
    /// Makes a cluster (superuser `aisle`, trust on loopback) and starts it.
    pub fn start() -> anyhow::Result<Self> {
        Self::start_with(None)
    }

    /// [`Postgres::start`], serving TLS too (`ssl = on`), with a certificate for localhost
    /// and 127.0.0.1 from a CA of its own; returns that CA's certificate as PEM.
    pub fn start_with_tls() -> anyhow::Result<(Self, String)> {
        let (chain, key) = aisle_relay::tls::generate(&["localhost".into(), "127.0.0.1".into()])?;
        // The chain is the server's certificate, then the CA's.
        let ca = chain
            .match_indices("-----BEGIN CERTIFICATE-----")
            .nth(1)
            .map(|(at, _)| chain[at..].to_string())
            .context("the generated chain has no CA certificate")?;
        Ok((Self::start_with(Some((chain, key)))?, ca))
    }

    /// With `tls`, the server's certificate chain and key as PEM.
    fn start_with(tls: Option<(String, String)>) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir().context("a folder for the cluster")?;
        if is_root() {
            let owner = nix::unistd::User::from_name("postgres")?
                .context("no postgres user (apt install postgresql-15)")?;
            nix::unistd::chown(dir.path(), Some(owner.uid), Some(owner.gid))?;
        }
        let data = dir.path().join("data");
        let initdb = as_owner("initdb")
            .arg("-D")
            .arg(&data)
            .args(["-U", "aisle", "-A", "trust", "-E", "UTF8", "--no-sync"])
            .stdout(Stdio::null())
            .output()
            .context("running initdb (apt install postgresql-15)")?;
        if !initdb.status.success() {
            bail!("initdb failed: {}", String::from_utf8_lossy(&initdb.stderr));
        }
        if let Some((chain, key)) = tls {
            use std::os::unix::fs::PermissionsExt;
            // The server refuses a key others may read, or owned by anyone but itself.
            for (name, pem, mode) in [("server.crt", chain, 0o644), ("server.key", key, 0o600)] {
                let path = data.join(name);
                std::fs::write(&path, pem)?;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))?;
                if is_root() {
                    let owner =
                        nix::unistd::User::from_name("postgres")?.context("no postgres user")?;
                    nix::unistd::chown(&path, Some(owner.uid), Some(owner.gid))?;
                }
            }
            let mut conf = std::fs::OpenOptions::new()
                .append(true)
                .open(data.join("postgresql.conf"))?;
            writeln!(conf, "ssl = on")?;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let server = spawn_server(dir.path(), port)?;
        let postgres = Self { server, port, dir };
        postgres.wait_ready()?;
        Ok(postgres)
    }

    /// Stops the server (a fast shutdown: open connections are cut, committed work is kept)
    /// and starts it again on the same port and data: what a database restart or failover
    /// looks like to the relays.
    pub fn restart(&mut self, down_for: Duration) -> anyhow::Result<()> {
        self.stop();
        std::thread::sleep(down_for);
        self.server = spawn_server(self.dir.path(), self.port)?;
        self.wait_ready()
    }

    fn wait_ready(&self) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            let ready = Command::new(bin("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-q"])
                .status()?;
            if ready.success() {
                return Ok(());
            }
            if started.elapsed() > Duration::from_secs(30) {
                bail!("postgres did not accept connections on port {}", self.port);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `postgres://aisle@127.0.0.1:<port>/<database>`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://aisle@127.0.0.1:{}/{database}", self.port)
    }

    /// Runs SQL with `psql` and returns what it printed (unaligned, tuples only).
    pub fn sql(&self, sql: &str) -> anyhow::Result<String> {
        psql(&self.url("postgres"), sql)
    }

    /// Runs SQL in one of the server's databases.
    pub fn sql_in(&self, database: &str, sql: &str) -> anyhow::Result<String> {
        psql(&self.url(database), sql)
    }

    /// A new, empty database of this server.
    pub fn database(&self, name: &str) -> anyhow::Result<String> {
        create_database(&self.url(""), name)?;
        Ok(self.url(name))
    }

    /// A `psql` session kept open: statements sent one at a time, as a relay's transaction
    /// would run them, so a test can hold a transaction open while others commit.
    pub fn session(&self) -> anyhow::Result<Session> {
        self.session_in("postgres")
    }

    /// A `psql` session on one of the server's databases.
    pub fn session_in(&self, database: &str) -> anyhow::Result<Session> {
        let mut child = Command::new(bin("psql"))
            .args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-d"])
            .arg(self.url(database))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting psql")?;
        let stdin = child.stdin.take().context("psql stdin")?;
        Ok(Session { child, stdin })
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Postgres {
    /// The postmaster's pid, from its pid file: as root the child is `runuser`, which does
    /// not pass signals on.
    fn postmaster(&self) -> Option<nix::unistd::Pid> {
        let pid_file = std::fs::read_to_string(self.dir.path().join("data/postmaster.pid")).ok()?;
        let pid = pid_file.lines().next()?.trim().parse().ok()?;
        Some(nix::unistd::Pid::from_raw(pid))
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Postgres {
    fn stop(&mut self) {
        use nix::sys::signal::{Signal, kill};
        // SIGINT: PostgreSQL's fast shutdown; SIGKILL if it has not ended in 10 s.
        if let Some(pid) = self.postmaster() {
            let _ = kill(pid, Signal::SIGINT);
        }
        let started = Instant::now();
        while matches!(self.server.try_wait(), Ok(None)) {
            if started.elapsed() > Duration::from_secs(10) {
                if let Some(pid) = self.postmaster() {
                    let _ = kill(pid, Signal::SIGKILL);
                }
                let _ = self.server.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.server.wait();
    }
}

fn spawn_server(dir: &Path, port: u16) -> anyhow::Result<Child> {
    as_owner("postgres")
        .arg("-D")
        .arg(dir.join("data"))
        .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
        .arg("-c")
        .arg(format!("unix_socket_directories={}", dir.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting postgres")
}

/// Runs SQL with `psql` on the database at `url`; what it printed (unaligned, tuples only).
pub fn psql(url: &str, sql: &str) -> anyhow::Result<String> {
    let output = Command::new(bin("psql"))
        .args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-d"])
        .arg(url)
        .args(["-c", sql])
        .output()
        .context("running psql")?;
    if !output.status.success() {
        bail!("psql: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// Creates database `name` on the server at `server` (a URL without a database).
pub fn create_database(server: &str, name: &str) -> anyhow::Result<()> {
    let url = format!("{}/postgres", server.trim_end_matches('/'));
    psql(&url, &format!("CREATE DATABASE {name}"))?;
    Ok(())
}

/// An open `psql` session.
pub struct Session {
    child: Child,
    stdin: ChildStdin,
}

impl Session {
    /// Sends one statement; `psql` runs it as soon as it reads the line.
    pub fn send(&mut self, sql: &str) -> anyhow::Result<()> {
        writeln!(self.stdin, "{sql}")?;
        self.stdin.flush()?;
        Ok(())
    }

    /// Ends the session and waits until psql has run everything sent.
    pub fn finish(mut self) -> anyhow::Result<()> {
        writeln!(self.stdin, "\\q")?;
        let status = self.child.wait()?;
        if !status.success() {
            bail!("psql session failed: {status}");
        }
        Ok(())
    }
}
