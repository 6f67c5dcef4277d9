//! Live reconfiguration: a new validated [`Config`] becomes a new [`Plan`] whose address space
//! takes over every address's state, and every engine switches to it between two batches.
//!
//! The daemon and the node harness do it in the same three steps:
//! 1. [`restart_only_changes`] refuses what cannot change while running (interfaces, backend,
//!    workers, shards, state directory, XDP and journal settings, the control API's
//!    listeners), naming each key;
//! 2. [`build`] compiles the new plan (allocates the new address space) while the server runs;
//! 3. with every worker paused, [`switch`] carries the slot states over
//!    ([`AddressSpace::migrate_from`]); then each engine calls `Engine::set_plan` before it
//!    touches another packet.
//!
//! Bindings are never dropped: a lease whose pool was removed stays in its shard (and the
//! journal) until it ends; its address just is not handed out again.

use std::sync::Arc;

use super::Plan;
use crate::{
    config::Config,
    lease::{AddressSpace, Migration},
};

/// Settings that only a restart applies, as `section.key` names, with old and new values.
pub fn restart_only_changes(old: &Config, new: &Config) -> Vec<String> {
    let (a, b) = (&old.server, &new.server);
    let mut v = Vec::new();
    let mut check = |key: &str, same: bool, was: String, now: String| {
        if !same {
            v.push(format!(
                "server.{key}: {was} -> {now} (applies only at restart)"
            ));
        }
    };
    let names = |s: &crate::config::ServerSettings| {
        s.interfaces
            .iter()
            .map(|i| match i.address {
                Some(a) => format!("{}={a}", i.name),
                None => i.name.clone(),
            })
            .collect::<Vec<_>>()
            .join(",")
    };
    check("interfaces", names(a) == names(b), names(a), names(b));
    check(
        "backend",
        a.backend == b.backend,
        format!("{:?}", a.backend),
        format!("{:?}", b.backend),
    );
    check(
        "workers",
        a.workers == b.workers,
        a.workers.to_string(),
        b.workers.to_string(),
    );
    check(
        "shards",
        a.shards == b.shards,
        a.shards.to_string(),
        b.shards.to_string(),
    );
    check(
        "state-dir",
        a.state_dir == b.state_dir,
        a.state_dir.display().to_string(),
        b.state_dir.display().to_string(),
    );
    check(
        "xdp",
        a.xdp == b.xdp,
        format!("{:?}", a.xdp),
        format!("{:?}", b.xdp),
    );
    check(
        "journal",
        a.journal == b.journal,
        format!("{:?}", a.journal),
        format!("{:?}", b.journal),
    );
    // The control API's listeners are bound once; its token file is re-read at every reload.
    let (c, d) = (&old.control, &new.control);
    let shown = |a: &Option<std::net::SocketAddr>| a.map_or("\"\"".to_owned(), |a| a.to_string());
    let path = |p: &Option<std::path::PathBuf>| {
        p.as_ref()
            .map_or("\"\"".to_owned(), |p| p.display().to_string())
    };
    for (key, same, was, now) in [
        (
            "listen",
            c.listen == d.listen,
            shown(&c.listen),
            shown(&d.listen),
        ),
        (
            "socket",
            c.socket == d.socket,
            path(&c.socket),
            path(&d.socket),
        ),
        (
            "metrics",
            c.metrics == d.metrics,
            shown(&c.metrics),
            shown(&d.metrics),
        ),
    ] {
        if !same {
            v.push(format!(
                "control.{key}: {was} -> {now} (applies only at restart)"
            ));
        }
    }
    v
}

/// Compiles `cfg` into a plan for a server running `old`: new address space (all addresses in
/// their initial state until [`switch`]), failover views of kept relationships shared.
pub fn build(old: &Plan, cfg: Config) -> Arc<Plan> {
    let space = Arc::new(AddressSpace::new(&cfg));
    let mut plan = Plan::new(cfg, space, old.server_ids.clone());
    plan.adopt_views(old);
    Arc::new(plan)
}

/// Carries every address's state from `old` into `new`. Only while no worker runs.
pub fn switch(old: &Plan, new: &Plan) -> Migration {
    new.space.migrate_from(&old.space)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::test_config;

    #[test]
    fn control_listeners_are_restart_only_but_the_token_file_is_not() {
        let old = test_config();
        let mut new = old.clone();
        new.control.token_file = Some("/etc/xdhcp/other.token".into());
        assert!(restart_only_changes(&old, &new).is_empty());
        new.control.listen = None;
        new.control.socket = Some("/run/other.sock".into());
        assert_eq!(
            restart_only_changes(&old, &new),
            [
                "control.listen: 127.0.0.1:8067 -> \"\" (applies only at restart)",
                "control.socket: /run/xdhcp/control.sock -> /run/other.sock (applies only at restart)",
            ]
        );
    }
}
