//! `cargo xtask <workflow>`: one command per thing a person runs. Each installs what it needs
//! on a fresh Debian 12 machine (apt packages, the wasm target, pinned tools) before using it.
//!
//! - `setup`: install system packages and tools.
//! - `demo`:  build everything, start the relay with demo data, then the app (under Xvfb with a
//!   screenshot when there is no display).
//! - `test`:  formatting, lints, every test with the end-to-end suite in a real WebKit window,
//!   then the benchmarks once at tiny sizes.
//! - `e2e`:   only the end-to-end suite.
//! - `bench`: the benchmarks.
//! - `fuzz`:  each fuzz target (`fuzz/`, cargo-fuzz on nightly) for a given time.

mod setup;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(name = "xtask")]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Install apt packages, the wasm32 target, trunk, wasm-bindgen-cli and tauri-driver.
    Setup,
    /// Build the UI with Trunk and the app with the UI embedded.
    App,
    /// Start the relay with demo data and the app.
    Demo {
        /// Take a screenshot after this many seconds and stop (for docs and CI).
        #[arg(long)]
        screenshot_after: Option<u64>,
        /// Number of demo customers.
        #[arg(long, default_value_t = 10_000)]
        customers: usize,
    },
    /// Run formatting and lint checks, every test, and the end-to-end suite.
    Test,
    /// Run the end-to-end suite only.
    E2e,
    /// Run a local chain to try the shared backend: PostgreSQL, three relays on one database
    /// of it (demo data), and a load balancer in front; until Ctrl-C.
    Cluster,
    /// Run the benchmarks: the local store (criterion) and sync (relay, next to samod).
    Bench,
    /// Run each fuzz target (or the one named) for `seconds`, one after the other. Crashes
    /// land in `fuzz/artifacts/<target>/`.
    Fuzz {
        #[arg(long, default_value_t = 600)]
        seconds: u64,
        target: Option<String>,
    },
}

/// The fuzz targets in `fuzz/fuzz_targets/`.
const FUZZ_TARGETS: [&str; 6] = [
    "sync_frames",
    "device_push",
    "web_events",
    "shopify_webhooks",
    "loyalty_tokens",
    "ndef_records",
];

fn main() -> anyhow::Result<()> {
    let root = workspace_root()?;
    std::env::set_current_dir(&root)?;
    match Cli::parse().command {
        Task::Setup => setup::all(),
        Task::App => {
            setup::all()?;
            build_app()
        }
        Task::Demo {
            screenshot_after,
            customers,
        } => {
            setup::all()?;
            build_app()?;
            demo(&root, screenshot_after, customers)
        }
        Task::Test => {
            setup::all()?;
            test_all()
        }
        Task::E2e => {
            setup::all()?;
            build_app()?;
            e2e()
        }
        Task::Cluster => {
            setup::all()?;
            run(cargo().args(["build", "-p", "aisle-relay"]))?;
            let relay = std::fs::canonicalize("target/debug/aisle-relay")?;
            run(cargo()
                .args(["run", "-p", "aisle-tests", "--bin", "local_cluster"])
                .env("AISLE_RELAY_BIN", relay))
        }
        Task::Fuzz { seconds, target } => {
            setup::fuzzing()?;
            fuzz(seconds, target.as_deref())
        }
        Task::Bench => {
            // The cluster benchmark starts a PostgreSQL of its own: the packages must be there.
            setup::all()?;
            run(cargo().args(["bench", "-p", "aisle-core"]))?;
            run(cargo().args([
                "run",
                "--release",
                "-p",
                "aisle-bench",
                "--bin",
                "aisle-bench",
            ]))
        }
    }
}

fn workspace_root() -> anyhow::Result<PathBuf> {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map(Path::to_path_buf)
        .context("xtask lives inside the workspace")
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// Cargo for a one-off full check: incremental caches would only add gigabytes on a machine
/// that builds the workspace once.
fn cargo_once() -> Command {
    let mut cmd = cargo();
    cmd.env("CARGO_INCREMENTAL", "0");
    cmd
}

/// [`cargo_once`] with Clippy compiling the workspace's own crates (as `cargo clippy` runs it,
/// but in a full build): warnings are errors. Every step of `cargo xtask test` uses the same
/// settings, so none rebuilds what another built.
fn cargo_linted() -> Command {
    let mut cmd = cargo_once();
    linted(&mut cmd);
    cmd
}

fn linted(cmd: &mut Command) -> &mut Command {
    cmd.env("CARGO_INCREMENTAL", "0")
        .env("RUSTC_WORKSPACE_WRAPPER", "clippy-driver")
        // What `cargo clippy -- -D warnings` hands the driver.
        .env(
            "CLIPPY_ARGS",
            "-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__",
        )
}

pub(crate) fn run(cmd: &mut Command) -> anyhow::Result<()> {
    eprintln!("$ {cmd:?}");
    let status = cmd.status().with_context(|| format!("starting {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

/// Where the debug app binary with the UI embedded ends up.
fn app_binary() -> PathBuf {
    PathBuf::from("target/debug/aisle-app")
}

fn build_ui() -> anyhow::Result<()> {
    run(&mut trunk_build())
}

fn trunk_build() -> Command {
    let mut cmd = Command::new("trunk");
    cmd.args(["build", "--release", "--config", "ui/Trunk.toml"])
        // Fail instead of trying to download tools (no internet on these machines).
        .env("TRUNK_OFFLINE", "true");
    cmd
}

fn build_app() -> anyhow::Result<()> {
    build_ui()?;
    run(cargo().args(["build", "-p", "aisle-app", "--features", "custom-protocol"]))
}

fn test_all() -> anyhow::Result<()> {
    let started = Instant::now();
    run(cargo_once().args(["fmt", "--all", "--check"]))?;
    // The UI is a wasm32 crate: it is linted for that target only, never compiled natively,
    // and in the release build Trunk makes of it (a separate `cargo clippy` would check every
    // dependency for wasm32 once more: 6 minutes of a clean run).
    run(linted(&mut trunk_build()))?;
    // The benchmark crate is in: its smoke run below uses the binary from this build. Left
    // out, it would resolve features on its own and rebuild most dependencies a second time.
    let packages = [
        "--workspace",
        "--exclude",
        "aisle-ui",
        "--features",
        "aisle-app/custom-protocol,aisle-tests/e2e",
    ];
    // Every target the tests and benchmarks run, built once, in the test profile and with the
    // features `cargo test` resolves, so Tauri and every other dependency compile once. Clippy
    // compiles the workspace's own crates in it: that is `cargo clippy --all-targets -D
    // warnings`, without checking every dependency a second time.
    let built = build_tests(&packages)?;
    // `cargo test` builds a package's binaries only for its own integration tests, and the
    // app has none: the e2e tests and the benchmark drive the binaries themselves. With the
    // tests selected too, cargo resolves the same features as above and compiles only the
    // binary crates (`--bins` alone leaves out dev-dependencies, whose features then differ:
    // 12 minutes of a clean run rebuilding Tauri, rustls and Automerge).
    run(cargo_linted()
        .args(["build", "--bins", "--tests"])
        .args(packages))?;
    eprintln!(
        "checks, lints and the build done after {:.0?}",
        started.elapsed()
    );
    let relay = std::fs::canonicalize("target/debug/aisle-relay")?;
    let tests_started = Instant::now();
    run(cargo_linted()
        .arg("test")
        .args(packages)
        .env("AISLE_RELAY_BIN", &relay)
        .env("AISLE_APP_BIN", std::fs::canonicalize(app_binary())?))?;
    eprintln!("every test passed in {:.0?}", tests_started.elapsed());
    shared_database_pass(&built, &relay)?;
    bench_smoke(&built, &relay)?;
    eprintln!("all checks passed in {:.0?}", started.elapsed());
    Ok(())
}

/// A test or bench executable of the build, run as cargo runs it: from its package's folder.
struct TestBinary {
    /// The target's name: the file name under `tests/scenarios/` for a scenario.
    name: String,
    /// `test`, `bench`, `lib` or `bin`.
    kind: String,
    executable: PathBuf,
    package_dir: PathBuf,
}

impl TestBinary {
    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.executable);
        cmd.current_dir(&self.package_dir);
        cmd
    }
}

/// `cargo test --no-run` for `packages` with the lints on; the executables it built. The
/// passes after the main one run these, not `cargo test` with another selection of targets,
/// which resolves other features and compiles much of the workspace again.
fn build_tests(packages: &[&str]) -> anyhow::Result<Vec<TestBinary>> {
    let mut cmd = cargo_linted();
    cmd.args(["test", "--no-run", "--all-targets"])
        .args(packages)
        .arg("--message-format=json-render-diagnostics")
        .stderr(Stdio::inherit());
    eprintln!("$ {cmd:?}");
    let output = cmd.output().with_context(|| format!("starting {cmd:?}"))?;
    if !output.status.success() {
        bail!("{cmd:?} failed with {}", output.status);
    }
    let mut built = Vec::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if message["reason"] != "compiler-artifact" || message["profile"]["test"] != true {
            continue;
        }
        let (Some(executable), Some(manifest), Some(name), Some(kind)) = (
            message["executable"].as_str(),
            message["manifest_path"].as_str(),
            message["target"]["name"].as_str(),
            message["target"]["kind"][0].as_str(),
        ) else {
            continue;
        };
        built.push(TestBinary {
            name: name.to_string(),
            kind: kind.to_string(),
            executable: PathBuf::from(executable),
            package_dir: Path::new(manifest)
                .parent()
                .context("a manifest has a folder")?
                .to_path_buf(),
        });
    }
    Ok(built)
}

/// The relay scenarios that test what the relay stores, once more on the shared backend:
/// every relay they start keeps its truth in a database of one PostgreSQL server started for
/// the pass (`with_postgres`), instead of the embedded SQLite files.
const SHARED_DATABASE_SCENARIOS: &[&str] = &[
    "relay",
    "sync",
    "auth",
    "audit",
    "ingest",
    "erasure",
    "loyalty",
    "kiosk",
    "merge",
    "shopify",
    "refusal",
    "wipe",
    "resume",
    "tls",
    "chaos",
    "convergence",
    "onboarding",
    "till",
    "stock_movements",
];

fn shared_database_pass(built: &[TestBinary], relay: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    let scenarios: Vec<&TestBinary> = SHARED_DATABASE_SCENARIOS
        .iter()
        .map(|name| {
            built
                .iter()
                .find(|b| b.kind == "test" && b.name == *name)
                .with_context(|| format!("the build made no test executable {name}"))
        })
        .collect::<anyhow::Result<_>>()?;
    let mut pass = Command::new(std::fs::canonicalize("target/debug/with_postgres")?);
    pass.arg("--each");
    for scenario in &scenarios {
        pass.arg(&scenario.executable);
    }
    if let Some(first) = scenarios.first() {
        pass.current_dir(&first.package_dir);
    }
    run(pass.env("AISLE_RELAY_BIN", relay))?;
    eprintln!(
        "relay scenarios on PostgreSQL passed in {:.0?}",
        started.elapsed()
    );
    Ok(())
}

/// The benchmarks still run: each criterion bench once (started without `--bench`, criterion
/// runs each benchmark once as a test, as under `cargo test`) and the sync benchmarks at tiny
/// sizes, all from the test build, so nothing compiles twice.
fn bench_smoke(built: &[TestBinary], relay: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    for bench in built.iter().filter(|b| b.kind == "bench") {
        // The store bench's fixture; a few hundred customers are enough to run every query.
        run(bench.command().env("AISLE_BENCH_CUSTOMERS", "500"))?;
    }
    run(
        Command::new(std::fs::canonicalize("target/debug/aisle-bench")?)
            .arg("--smoke")
            .env("AISLE_RELAY_BIN", relay),
    )?;
    eprintln!("benchmark smoke runs passed in {:.0?}", started.elapsed());
    Ok(())
}

fn fuzz(seconds: u64, only: Option<&str>) -> anyhow::Result<()> {
    let targets: Vec<&str> = match only {
        Some(name) if FUZZ_TARGETS.contains(&name) => vec![name],
        Some(name) => bail!(
            "no fuzz target {name}; there are {}",
            FUZZ_TARGETS.join(", ")
        ),
        None => FUZZ_TARGETS.to_vec(),
    };
    for target in targets {
        eprintln!("fuzzing {target} for {seconds} s");
        // Its corpus persists in fuzz/corpus/<target>, so each run starts where the last ended.
        // Through rustup, not `$CARGO`: that is the stable toolchain's cargo.
        run(Command::new("rustup")
            .current_dir("fuzz")
            .args(["run", "nightly", "cargo", "fuzz", "run", "-O", target, "--"])
            .arg(format!("-max_total_time={seconds}"))
            .arg("-print_final_stats=1"))?;
    }
    Ok(())
}

fn e2e() -> anyhow::Result<()> {
    let app = std::fs::canonicalize(app_binary()).context("the app binary is missing")?;
    run(cargo()
        .args([
            "test",
            "-p",
            "aisle-tests",
            "--features",
            "e2e",
            "--test",
            "e2e",
            "--",
            "--nocapture",
        ])
        .env("AISLE_APP_BIN", app))
}

/// Kills a child process when dropped, so the demo cleans up on every exit path.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn demo(root: &Path, screenshot_after: Option<u64>, customers: usize) -> anyhow::Result<()> {
    run(cargo().args(["build", "-p", "aisle-relay"]))?;
    let demo_dir = root.join("target/demo");
    std::fs::create_dir_all(&demo_dir)?;
    let relay_dir = demo_dir.join("relay");
    eprintln!("starting the relay (first start loads {customers} demo customers)");
    let mut relay = KillOnDrop(
        Command::new("target/debug/aisle-relay")
            .arg("--demo")
            .arg("--demo-customers")
            .arg(customers.to_string())
            .arg("--data-dir")
            .arg(&relay_dir)
            .stdout(Stdio::piped())
            .spawn()
            .context("starting the relay")?,
    );
    // The relay says where it listens once its demo data is loaded.
    let stdout = relay.0.stdout.take().context("relay stdout")?;
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    loop {
        match lines.next() {
            Some(line) => {
                let line = line?;
                eprintln!("{line}");
                if line.contains("listening on") {
                    break;
                }
            }
            None => bail!("the relay stopped before it was ready"),
        }
    }
    // A one-time enrolment ticket for the demo tablet (the relay's address, the code, and
    // the fingerprint of the certificate authority the demo relay made itself); the app
    // enrols with it on its first start (a tablet that is already enrolled ignores it).
    let ticket = String::from_utf8(
        Command::new("target/debug/aisle-relay")
            .args([
                "admin", "enrol", "--ticket", "--demo", "--store", "LDN-CG", "--role", "manager",
            ])
            .args(["--name", "Demo tablet", "--data-dir"])
            .arg(&relay_dir)
            .output()
            .context("creating an enrolment code")?
            .stdout,
    )?
    .trim()
    .to_string();

    let mut xvfb = None;
    let display = match std::env::var("DISPLAY") {
        Ok(display) => display,
        Err(_) => {
            let display = ":99".to_string();
            eprintln!("no display: starting Xvfb on {display}");
            xvfb = Some(KillOnDrop(
                Command::new("Xvfb")
                    .args([&display, "-screen", "0", "1280x800x24", "-nolisten", "tcp"])
                    .stderr(Stdio::null())
                    .spawn()
                    .context("starting Xvfb")?,
            ));
            std::thread::sleep(Duration::from_secs(1));
            display
        }
    };
    let mut app = KillOnDrop(
        Command::new(app_binary())
            .env("DISPLAY", &display)
            .env("AISLE_DATA_DIR", demo_dir.join("tablet"))
            .env("AISLE_ENROL_CODE", &ticket)
            .spawn()
            .context("starting the app")?,
    );
    if xvfb.is_some() || screenshot_after.is_some() {
        let wait = screenshot_after.unwrap_or(20);
        std::thread::sleep(Duration::from_secs(wait));
        let shot = demo_dir.join("screenshot.png");
        run(Command::new("import")
            .args(["-window", "root"])
            .arg(&shot)
            .env("DISPLAY", &display))?;
        eprintln!("screenshot: {}", shot.display());
        if screenshot_after.is_some() {
            return Ok(());
        }
    }
    eprintln!("the app is running; close its window or press Ctrl-C to stop");
    app.0.wait()?;
    Ok(())
}
