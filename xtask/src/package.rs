//! `cargo xtask package`: the Debian package `xdhcp`, built by cargo-deb from the
//! `[package.metadata.deb]` table of `dhcp-user/Cargo.toml` and the files under `packaging/`.
//! Prints the path of the .deb as its last line (`package: <path>`), which the package test reads.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{Context as _, Result, bail};

use crate::{
    setup,
    sh::{Cmd, workspace_root},
};

/// Paths the package must hold, and why: a metadata edit that drops one fails here, at build
/// time, rather than on a machine that installs the package.
const EXPECTED: &[(&str, &str)] = &[
    ("./usr/sbin/xdhcpd", "the daemon"),
    ("./usr/bin/xdhcpctl", "the CLI"),
    ("./usr/lib/systemd/system/xdhcpd.service", "the unit"),
    ("./usr/lib/sysusers.d/xdhcp.conf", "the _xdhcp user"),
    ("./etc/xdhcp/xdhcpd.toml", "the default configuration"),
    ("./usr/share/doc/xdhcp/PACKAGING.md", "the packaging guide"),
    (
        "./usr/share/doc/xdhcp/examples/xdhcpd.toml",
        "the annotated example",
    ),
];

/// Builds the release binaries and the .deb, checks it, prints its path. `fast`: lighter
/// compression.
pub fn run(fast: bool) -> Result<()> {
    let deb = build(fast)?;
    check(&deb)?;
    println!("package: {}", deb.display());
    Ok(())
}

fn build(fast: bool) -> Result<PathBuf> {
    if !Cmd::new("cargo").args(["deb", "--version"]).probe() {
        bail!("cargo-deb is missing: run `cargo xtask setup`");
    }
    // dhcp-user's build script compiles the XDP program.
    setup::require_ebpf_toolchain()?;
    let root = workspace_root();
    let out_dir = root.join("target/debian");
    let mut cmd = Command::new("cargo");
    cmd.args(["deb", "--package", "dhcp-user", "--locked", "--strip"])
        .arg("--output")
        .arg(&out_dir)
        .current_dir(&root)
        .stdin(Stdio::null())
        // Build progress goes to stderr as usual; cargo-deb prints the .deb path on stdout.
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if fast {
        cmd.arg("--fast");
    }
    println!("$ cargo deb --package dhcp-user --locked --strip --output target/debian");
    let out = cmd.output().context("starting cargo deb")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!("cargo deb failed ({}): {}", out.status, stdout.trim());
    }
    let deb = stdout
        .lines()
        .map(str::trim)
        .rfind(|l| l.ends_with(".deb"))
        .map(PathBuf::from)
        .with_context(|| format!("cargo deb printed no .deb path: {}", stdout.trim()))?;
    Ok(if deb.is_absolute() {
        deb
    } else {
        root.join(deb)
    })
}

/// The package's file list and conffiles hold what `EXPECTED` and the unit need.
fn check(deb: &Path) -> Result<()> {
    let contents = Cmd::new("dpkg-deb")
        .arg("--contents")
        .arg(deb)
        .output_text()?;
    let paths: Vec<&str> = contents
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .collect();
    for (path, what) in EXPECTED {
        if !paths.contains(path) {
            bail!("{} lacks {path} ({what})", deb.display());
        }
    }
    let conffiles = Cmd::new("dpkg-deb")
        .arg("--info")
        .arg(deb)
        .arg("conffiles")
        .output_text()?;
    if !conffiles
        .lines()
        .any(|l| l.trim() == "/etc/xdhcp/xdhcpd.toml")
    {
        bail!(
            "{}: /etc/xdhcp/xdhcpd.toml is not a conffile",
            deb.display()
        );
    }
    Ok(())
}
