//! Compiles the XDP program (`dhcp-ebpf`) with the nightly toolchain and bpf-linker, and leaves
//! the object in `OUT_DIR/dhcp-ebpf` for `include_bytes!`.
//!
//! Cargo reruns this script whenever the eBPF crate or `dhcp-common` change (both reach it as
//! build-dependencies) and when the sources under `dhcp-ebpf/` change, so the daemon can never
//! embed a stale program: it embeds a fresh build, or the build fails with a message naming the
//! command that fixes it.
use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, bail};

const HOW_TO_FIX: &str = "run `cargo xtask setup` (installs the nightly rust-src component and \
bpf-linker built against LLVM 22); `cargo xtask build-ebpf` builds the eBPF object alone";

fn main() -> anyhow::Result<()> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let root = manifest_dir
        .parent()
        .context("dhcp-user has no parent directory")?;
    let ebpf_dir = root.join("dhcp-ebpf");
    println!("cargo:rerun-if-changed={}", ebpf_dir.display());
    println!(
        "cargo:rerun-if-changed={}",
        root.join("dhcp-common").display()
    );

    let linker = which::which("bpf-linker").map_err(|_| {
        anyhow::anyhow!("building the XDP program needs `bpf-linker` on PATH: {HOW_TO_FIX}")
    })?;
    println!("cargo:rerun-if-changed={}", linker.display());

    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let target_dir = out_dir.join("ebpf-target");
    let object = build(root, &target_dir)?;
    let dest = out_dir.join("dhcp-ebpf");
    std::fs::copy(&object, &dest)
        .with_context(|| format!("copying {} to {}", object.display(), dest.display()))?;
    Ok(())
}

/// `cargo +nightly build` of the eBPF crate for bpfel-unknown-none; returns the object's path.
fn build(root: &Path, target_dir: &Path) -> anyhow::Result<PathBuf> {
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_else(|_| "x86_64".into());
    // aya-ebpf reads bpf_target_arch to pick the kernel's pt_regs layout; BTF makes the object
    // self-describing for the loader.
    let rustflags = [
        format!("--cfg=bpf_target_arch=\"{arch}\""),
        "-Cdebuginfo=2".to_owned(),
        "-Clink-arg=--btf".to_owned(),
    ]
    .join("\x1f");
    let mut cmd = Command::new("rustup");
    cmd.current_dir(root)
        .args([
            "run",
            "nightly",
            "cargo",
            "build",
            "--package",
            "dhcp-ebpf",
            "--bins",
        ])
        .args([
            "--release",
            "--target",
            "bpfel-unknown-none",
            "-Z",
            "build-std=core",
        ])
        .arg("--target-dir")
        .arg(target_dir)
        .env("CARGO_ENCODED_RUSTFLAGS", rustflags);
    // The outer cargo's compiler settings belong to the stable host build, not this one; and the
    // outer cargo holds the workspace lock, which a separate --target-dir avoids.
    for key in [
        "RUSTC",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS_HOST",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTUP_TOOLCHAIN",
        "CARGO",
    ] {
        cmd.env_remove(key);
    }
    let out = cmd
        .output()
        .with_context(|| format!("running rustup (nightly cargo): {HOW_TO_FIX}"))?;
    if !out.status.success() {
        bail!(
            "building the XDP program failed ({}):\n{}\n{HOW_TO_FIX}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let object = target_dir.join("bpfel-unknown-none/release/dhcp-ebpf");
    if !object.is_file() {
        bail!(
            "the eBPF build succeeded but left no object at {}",
            object.display()
        );
    }
    Ok(object)
}
