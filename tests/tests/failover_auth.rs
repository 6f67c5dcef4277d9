//! Message authentication between two xdhcpd: partners whose shared secrets differ never get
//! past CONNECT: a server receiving a message whose digest fails refuses the connection with
//! DISCONNECT (draft-12 §8: reason 20, digest failed to compare) and closes it, the partner
//! reconnects with back-off, and neither reaches NORMAL; with equal secrets the same pair
//! does. Needs root.

use std::time::Duration;

use xdhcp_tests::{failover_lab::FailoverLab, require_root};

const REL: &str = "lab-pair";
const LEASE: &str = "{ default = 600, min = 60, max = 3600 }";

#[test]
fn partners_with_different_secrets_refuse_each_other() {
    require_root!();
    let mut lab = FailoverLab::new("au", 0).expect("lab");
    for (i, secret) in ["secret-of-server-a-0123", "secret-of-server-b-4567"]
        .into_iter()
        .enumerate()
    {
        lab.secret = Some(secret.into());
        let cfg = lab.xdhcpd_config(i, "socket", "load-balance-percent = 50", "", LEASE);
        lab.servers[i].start(&cfg).unwrap_or_else(|e| panic!("{e}"));
    }
    // Both try to connect (and reconnect with back-off) for a while.
    std::thread::sleep(Duration::from_secs(6));
    // Whichever side receives the first unauthenticated message (usually the CONNECT) refuses
    // the connection; the other sees it closed and reconnects with back-off.
    let logs: Vec<String> = lab.servers.iter().map(|s| s.log()).collect();
    let refused = |l: &str| {
        l.matches("failed authentication: connection refused and closed")
            .count()
            .min(l.matches("reason=20").count())
    };
    assert!(
        logs.iter().map(|l| refused(l)).sum::<usize>() >= 2,
        "no repeated refusal logged:\n{}",
        logs.join("\n-----\n")
    );
    assert!(
        logs.iter()
            .any(|l| l.contains("reason=closed by the partner")),
        "the refused side's partner saw the connection closed:\n{}",
        logs.join("\n-----\n")
    );
    for (s, log) in lab.servers.iter().zip(&logs) {
        assert_ne!(
            s.fo_state(REL).as_deref(),
            Some("normal"),
            "{}:\n{log}",
            s.name
        );
    }

    // The same pair with one secret reaches NORMAL.
    for i in 0..2 {
        lab.servers[i].stop_with(libc::SIGTERM).unwrap();
    }
    lab.secret = Some("one-secret-for-both-89ab".into());
    lab.start_pair_normal(REL, |lab, i| {
        lab.xdhcpd_config(i, "socket", "load-balance-percent = 50", "", LEASE)
    });
}
