//! Scope replication between two xdhcpd (Windows' Invoke-DhcpServerv4FailoverReplication):
//! `xdhcpctl failover-replicate` copies the relationship's subnets from one server's
//! configuration file to the partner's, which writes them into its own file and reloads.
//! Refused, changing nothing, when this server's file does not match what it runs, when the
//! partner is unreachable, and when the relationship has no shared secret (replication is
//! authenticated by the failover digest). Needs root.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use xdhcp_tests::{
    failover_lab::{FailoverLab, LAN},
    lab::bin,
    require_root,
};

const REL: &str = "lab-pair";
const LEASE: &str = "{ default = 600, min = 60, max = 3600 }";
const TOKEN: &str = "replication-test-token-0123456789";

fn config_path(lab: &FailoverLab, i: usize) -> PathBuf {
    lab.servers[i].dir.join("xdhcpd.toml")
}

/// xdhcpctl against server `i`: (success, stdout, stderr).
fn ctl(lab: &FailoverLab, i: usize, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(bin("xdhcpctl"))
        .arg("--socket")
        .arg(lab.servers[i].control_socket())
        .arg("--token-file")
        .arg(lab.dir.join("token"))
        .args(args)
        .output()
        .expect("xdhcpctl runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn config(lab: &FailoverLab, i: usize) -> String {
    let token = lab.dir.join("token");
    format!(
        "{}token-file = \"{}\"\n",
        lab.xdhcpd_config(i, "socket", "load-balance-percent = 50", "", LEASE),
        token.display()
    )
}

fn start_pair(lab: &mut FailoverLab) {
    lab.start_pair_normal(REL, config);
}

fn read(p: &Path) -> String {
    fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn scopes_replicate_to_the_partner_and_are_refused_when_they_cannot() {
    require_root!();
    let mut lab = FailoverLab::new("rp", 0).expect("lab");
    fs::write(lab.dir.join("token"), format!("{TOKEN}\n")).unwrap();
    start_pair(&mut lab);
    let net = format!("{}.{}.{}", LAN[0], LAN[1], LAN[2]);
    let (a_path, b_path) = (config_path(&lab, 0), config_path(&lab, 1));
    let b_before = read(&b_path);

    // The operator edits server a's scope: another DNS server, a reservation, a lease time.
    let edited = read(&a_path)
        .replace(
            &format!("dns-servers = [\"{net}.1\"]"),
            &format!("dns-servers = [\"{net}.53\"]"),
        )
        .replace(
            &format!("lease = {LEASE}\n"),
            &format!(
                "lease = {{ default = 900, min = 60, max = 3600 }}\n\n\
                 [[subnet.reservations]]\nhw-address = \"02:00:5e:10:00:50\"\n\
                 ip-address = \"{net}.50\"\n"
            ),
        );
    assert_ne!(
        edited,
        read(&a_path),
        "the edit applies to the lab's config"
    );
    fs::write(&a_path, &edited).unwrap();

    // Not reloaded yet: what would be replicated is not what a serves. Refused.
    let (good, out, err) = ctl(&lab, 0, &["failover-replicate", REL]);
    assert!(
        !good && err.contains("409") && err.contains("reload first"),
        "{out}\n{err}"
    );
    assert_eq!(read(&b_path), b_before, "a refused replication changed b");

    let (good, out, err) = ctl(&lab, 0, &["config-reload"]);
    assert!(good, "{out}\n{err}");

    // Replicated: b's file holds a's subnet, b runs it, b's own tables are untouched.
    let (good, out, err) = ctl(&lab, 0, &["failover-replicate", REL]);
    assert!(
        good,
        "replication failed:\n{out}\n{err}\n{}",
        lab.servers[1].log()
    );
    assert!(out.contains("replaced subnet"), "{out}");
    let b_after = read(&b_path);
    assert!(b_after.contains(&format!("\"{net}.53\"")), "{b_after}");
    assert!(b_after.contains("default = 900"), "{b_after}");
    assert!(b_after.contains("02:00:5e:10:00:50"), "{b_after}");
    let tail = |s: &str| s[s.find("[[failover]]").unwrap()..].to_owned();
    assert_eq!(
        tail(&b_after),
        tail(&b_before),
        "b's failover and control tables are its own"
    );
    assert!(b_after.contains(&format!("local-address = \"{}\"", lab.servers[1].fo_ip)));
    let (good, out, err) = ctl(&lab, 1, &["reservation-get-all", "--subnet-id", "1"]);
    assert!(good, "{err}");
    assert!(
        out.contains("02:00:5e:10:00:50") && out.contains(&format!("{net}.50")),
        "b runs the replicated reservation: {out}"
    );
    assert!(
        lab.servers[1]
            .log()
            .contains("scopes replicated from the partner"),
        "{}",
        lab.servers[1].log()
    );
    // Still partners after the reload.
    assert!(lab.servers[1].wait_fo_state(REL, "normal", Duration::from_secs(5)));

    // The partner is unreachable: refused with the reason, nothing sent. (A partner that
    // shuts down cleanly says so, and this server moves to PARTNER-DOWN.)
    lab.servers[1].stop_with(libc::SIGTERM).unwrap();
    assert!(
        lab.servers[0].wait_fo_state(REL, "partner-down", Duration::from_secs(30)),
        "{}",
        lab.servers[0].log()
    );
    let b_stopped = read(&b_path);
    let (good, out, err) = ctl(&lab, 0, &["failover-replicate", REL]);
    assert!(
        !good && err.contains("409") && err.contains("unreachable"),
        "{out}\n{err}"
    );
    assert_eq!(read(&b_path), b_stopped);

    // No shared secret: replication is not authenticated, so it is refused.
    lab.servers[0].stop_with(libc::SIGTERM).unwrap();
    lab.secret = None;
    start_pair(&mut lab);
    let b_plain = read(&b_path);
    let (good, out, err) = ctl(&lab, 0, &["failover-replicate", REL]);
    assert!(
        !good && err.contains("409") && err.contains("shared-secret"),
        "{out}\n{err}"
    );
    assert_eq!(read(&b_path), b_plain);
}
