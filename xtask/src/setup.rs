//! `cargo xtask setup`: installs, only where missing, what the build and the tests need on a
//! fresh Debian 12 machine. Safe to run again: every step first checks whether it is needed.

use anyhow::{Context as _, Result, bail};

use crate::sh::{Cmd, is_root};

/// Debian packages and why each is needed.
const PACKAGES: &[(&str, &str)] = &[
    ("llvm-22-dev", "bpf-linker links against LLVM 22"),
    ("libpolly-22-dev", "bpf-linker's LLVM 22 link"),
    ("libzstd-dev", "bpf-linker's LLVM 22 link"),
    ("zlib1g-dev", "bpf-linker's LLVM 22 link"),
    (
        "iproute2",
        "network namespaces and veth pairs for the tests",
    ),
    ("iputils-ping", "ARP/ICMP reachability tests"),
    (
        "util-linux",
        "taskset (CPU pinning) and mount (bpffs) in tests and benchmarks",
    ),
    (
        "isc-dhcp-server",
        "ISC dhcpd 4.4: failover partner and benchmark comparison",
    ),
    ("kea-dhcp4-server", "Kea: benchmark comparison"),
    ("kea-admin", "perfdhcp load generator"),
    ("isc-dhcp-client", "dhclient, a real client"),
    ("udhcpc", "busybox udhcpc, a real client"),
    ("dhcpcd5", "dhcpcd, a real client"),
    ("isc-dhcp-relay", "dhcrelay, a real relay agent"),
    ("tcpdump", "packet captures in tests"),
    ("tshark", "decoding captures in tests"),
];

/// bpf-linker version built against LLVM 22 (the LLVM of the nightly toolchain here).
const BPF_LINKER_VERSION: &str = "0.13.0";
const LLVM_BIN: &str = "/usr/lib/llvm-22/bin";

fn installed(pkg: &str) -> bool {
    Cmd::new("dpkg-query")
        .args(["-W", "-f=${Status}", pkg])
        .output_text()
        .map(|s| s.trim() == "install ok installed")
        .unwrap_or(false)
}

/// Everything, in dependency order.
pub fn run() -> Result<()> {
    debian_packages()?;
    rust_components()?;
    bpf_linker()?;
    cargo_fuzz()?;
    cargo_deb()?;
    println!("setup: everything present");
    Ok(())
}

fn debian_packages() -> Result<()> {
    let missing: Vec<&str> = PACKAGES
        .iter()
        .filter(|(p, _)| !installed(p))
        .map(|(p, _)| *p)
        .collect();
    if missing.is_empty() {
        println!("setup: Debian packages present");
        return Ok(());
    }
    for (p, why) in PACKAGES.iter().filter(|(p, _)| missing.contains(p)) {
        println!("setup: need {p} ({why})");
    }
    if !is_root() {
        bail!(
            "these Debian packages are missing and installing them needs root: {}\n\
             run `sudo apt-get install {}` or `sudo cargo xtask setup`",
            missing.join(" "),
            missing.join(" ")
        );
    }
    Cmd::new("apt-get")
        .args(["update", "-q"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .run()?;
    Cmd::new("apt-get")
        .args(["install", "-y", "-q", "--no-install-recommends"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .run()?;
    // Package scripts may start the DHCP daemons; the tests start their own instances.
    for svc in ["isc-dhcp-server", "kea-dhcp4-server", "isc-dhcp-relay"] {
        let _ = Cmd::new("service").args([svc, "stop"]).probe();
    }
    Ok(())
}

fn rust_components() -> Result<()> {
    let toolchains = Cmd::new("rustup")
        .args(["toolchain", "list"])
        .output_text()?;
    if !toolchains.lines().any(|l| l.starts_with("nightly")) {
        Cmd::new("rustup")
            .args(["toolchain", "install", "nightly", "--profile", "minimal"])
            .args(["--component", "rust-src", "--component", "clippy"])
            .run()?;
    }
    let nightly = Cmd::new("rustup")
        .args(["component", "list", "--toolchain", "nightly", "--installed"])
        .output_text()?;
    for c in ["rust-src", "clippy"] {
        if !nightly.lines().any(|l| l.starts_with(c)) {
            Cmd::new("rustup")
                .args(["component", "add", c, "--toolchain", "nightly"])
                .run()?;
        }
    }
    let stable = Cmd::new("rustup")
        .args(["component", "list", "--installed"])
        .output_text()?;
    for c in ["rustfmt", "clippy"] {
        if !stable.lines().any(|l| l.starts_with(c)) {
            Cmd::new("rustup").args(["component", "add", c]).run()?;
        }
    }
    println!("setup: Rust toolchains and components present");
    Ok(())
}

fn bpf_linker_ok() -> bool {
    Cmd::new("bpf-linker").arg("--version").probe()
}

fn bpf_linker() -> Result<()> {
    if bpf_linker_ok() {
        println!("setup: bpf-linker present");
        return Ok(());
    }
    let path = std::env::var("PATH").unwrap_or_default();
    Cmd::new("cargo")
        .args(["install", "bpf-linker", "--version", BPF_LINKER_VERSION])
        .args(["--no-default-features", "--features", "llvm-22"])
        .env("PATH", format!("{LLVM_BIN}:{path}"))
        .env_remove("RUSTUP_TOOLCHAIN")
        .run()
        .context("building bpf-linker against LLVM 22")?;
    if !bpf_linker_ok() {
        bail!("bpf-linker was installed but does not run; is ~/.cargo/bin on PATH?");
    }
    Ok(())
}

/// cargo-fuzz version to install (builds with the stable toolchain, runs targets on nightly).
const CARGO_FUZZ_VERSION: &str = "0.13.2";

fn cargo_fuzz() -> Result<()> {
    if Cmd::new("cargo").args(["fuzz", "--version"]).probe() {
        println!("setup: cargo-fuzz present");
        return Ok(());
    }
    Cmd::new("cargo")
        .args([
            "install",
            "cargo-fuzz",
            "--locked",
            "--version",
            CARGO_FUZZ_VERSION,
        ])
        .env_remove("RUSTUP_TOOLCHAIN")
        .run()
        .context("installing cargo-fuzz")
}

/// cargo-deb version to install (`cargo xtask package` and the package test build the .deb).
const CARGO_DEB_VERSION: &str = "3.8.0";

fn cargo_deb() -> Result<()> {
    if Cmd::new("cargo").args(["deb", "--version"]).probe() {
        println!("setup: cargo-deb present");
        return Ok(());
    }
    Cmd::new("cargo")
        .args([
            "install",
            "cargo-deb",
            "--locked",
            "--version",
            CARGO_DEB_VERSION,
        ])
        .env_remove("RUSTUP_TOOLCHAIN")
        .run()
        .context("installing cargo-deb")
}

/// Fails with a clear message when the eBPF build's tools are missing.
pub fn require_ebpf_toolchain() -> Result<()> {
    if !bpf_linker_ok() {
        bail!("bpf-linker is missing: run `cargo xtask setup`");
    }
    let nightly = Cmd::new("rustup")
        .args(["component", "list", "--toolchain", "nightly", "--installed"])
        .output_text()
        .unwrap_or_default();
    if !nightly.lines().any(|l| l.starts_with("rust-src")) {
        bail!("the nightly toolchain with rust-src is missing: run `cargo xtask setup`");
    }
    Ok(())
}
