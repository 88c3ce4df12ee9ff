//! Installs what the workflows need, each piece only when missing, at pinned versions.

use anyhow::{Context, bail};
use std::process::Command;

use crate::run;

/// Debian 12 packages: WebKitGTK and friends for Tauri, Xvfb and WebKitWebDriver for the
/// end-to-end suite, pcscd and a virtual card reader for NFC, ImageMagick for demo screenshots.
const APT_PACKAGES: &[&str] = &[
    "build-essential",
    "pkg-config",
    "libwebkit2gtk-4.1-dev",
    "libgtk-3-dev",
    "libayatana-appindicator3-dev",
    "librsvg2-dev",
    "libsoup-3.0-dev",
    "xvfb",
    "webkit2gtk-driver",
    "libpcsclite-dev",
    "pcscd",
    "vsmartcard-vpcd",
    "imagemagick",
    // A PostgreSQL of their own for the tests of the PostgreSQL changefeed (tests/src/postgres.rs).
    "postgresql-15",
];

const TRUNK_VERSION: &str = "0.21.14";
const TAURI_DRIVER_VERSION: &str = "2.1.0";
const CARGO_FUZZ_VERSION: &str = "0.13.1";

pub fn all() -> anyhow::Result<()> {
    apt_packages()?;
    wasm_target()?;
    let installed = installed_tools()?;
    // trunk and tauri-driver start other programs and copy files: unoptimised, they do that
    // as fast and compile in a fraction of the time (trunk's own release profile is fat LTO in
    // one codegen unit, minutes of linking on 2 cores). wasm-bindgen rewrites megabytes of
    // wasm on every UI build, so it is optimised.
    install_tool(
        &installed,
        "trunk",
        TRUNK_VERSION,
        Install::Locked,
        Build::Unoptimised,
    )?;
    // Its own lockfile wants a crate version the registry here lacks, so not locked.
    install_tool(
        &installed,
        "wasm-bindgen-cli",
        &wasm_bindgen_version()?,
        Install::Unlocked,
        Build::Optimised,
    )?;
    install_tool(
        &installed,
        "tauri-driver",
        TAURI_DRIVER_VERSION,
        Install::Locked,
        Build::Unoptimised,
    )?;
    Ok(())
}

/// cargo-fuzz, for `cargo xtask fuzz` only (it needs the nightly toolchain too).
pub fn fuzzing() -> anyhow::Result<()> {
    let installed = installed_tools()?;
    install_tool(
        &installed,
        "cargo-fuzz",
        CARGO_FUZZ_VERSION,
        Install::Locked,
        Build::Optimised,
    )?;
    let nightly = Command::new("rustup")
        .args(["run", "nightly", "rustc", "--version"])
        .output();
    if !matches!(nightly, Ok(o) if o.status.success()) {
        eprintln!("installing the nightly toolchain (cargo fuzz needs it)");
        run(Command::new("rustup").args([
            "toolchain",
            "install",
            "nightly",
            "--profile",
            "minimal",
        ]))?;
    }
    Ok(())
}

fn apt_packages() -> anyhow::Result<()> {
    let missing: Vec<&str> = APT_PACKAGES
        .iter()
        .copied()
        .filter(|pkg| {
            let out = Command::new("dpkg-query")
                .args(["-W", "-f=${Status}", pkg])
                .output();
            !matches!(out, Ok(o) if String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("installing apt packages: {}", missing.join(" "));
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    let apt = |args: &[&str]| {
        let mut cmd = if is_root {
            Command::new("apt-get")
        } else {
            let mut c = Command::new("sudo");
            c.arg("apt-get");
            c
        };
        cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        cmd
    };
    run(&mut apt(&["update", "-qq"]))?;
    let mut install = apt(&["install", "-y", "-qq", "--no-install-recommends"]);
    install.args(&missing);
    run(&mut install)
}

fn wasm_target() -> anyhow::Result<()> {
    let out = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("running rustup")?;
    if String::from_utf8_lossy(&out.stdout).contains("wasm32-unknown-unknown") {
        return Ok(());
    }
    run(Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]))
}

/// `cargo install --list` output: which tools are installed at which version.
fn installed_tools() -> anyhow::Result<String> {
    let out = Command::new("cargo")
        .args(["install", "--list"])
        .output()
        .context("running cargo install --list")?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether `cargo install` uses the tool's own lockfile.
#[derive(PartialEq)]
enum Install {
    Locked,
    Unlocked,
}

/// The profile a tool is built with.
#[derive(PartialEq)]
enum Build {
    Optimised,
    Unoptimised,
}

fn install_tool(
    installed: &str,
    name: &str,
    version: &str,
    install: Install,
    build: Build,
) -> anyhow::Result<()> {
    if installed.contains(&format!("{name} v{version}:")) {
        return Ok(());
    }
    eprintln!("installing {name} {version} (compiles from source; minutes on 2 cores)");
    let mut cmd = Command::new("cargo");
    cmd.args(["install", name, "--version", &format!("={version}")]);
    if install == Install::Locked {
        cmd.arg("--locked");
    }
    match build {
        Build::Unoptimised => {
            cmd.arg("--debug");
        }
        // Optimised, without whole-program LTO: that only links slower.
        Build::Optimised => {
            cmd.env("CARGO_PROFILE_RELEASE_LTO", "off")
                .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16");
        }
    }
    run(&mut cmd)
}

/// The wasm-bindgen version in Cargo.lock: the CLI must match it exactly.
fn wasm_bindgen_version() -> anyhow::Result<String> {
    let lock = std::fs::read_to_string("Cargo.lock").context("reading Cargo.lock")?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == "name = \"wasm-bindgen\""
            && let Some(version) = lines
                .next()
                .and_then(|l| l.strip_prefix("version = \""))
                .and_then(|l| l.strip_suffix('"'))
        {
            return Ok(version.to_string());
        }
    }
    bail!("wasm-bindgen is not in Cargo.lock")
}
