//! Read-only answers: status, routes, utilisation, statistics (Kea names), failover
//! relationships (Windows `Get-DhcpServerv4Failover` names), and the reload report.

use std::collections::BTreeMap;

use dhcp_core::{
    config::{FailoverMode, FailoverRole},
    engine::Plan,
    failover::ServerState,
    lease::space::{RangeKind, SlotCensus},
};
use serde_json::{Value, json};

use super::{Ctx, Head, ROUTES, Response, util};
use crate::{
    failover::PlaneStatus,
    ops::{Ops, ReloadReport},
    server::wall_now,
};

/// The last time each partner was heard from: sampled once a second from the relationship's
/// count of received messages (the status does not carry a time of its own).
#[derive(Debug, Default)]
pub(crate) struct Contacts(BTreeMap<String, (u64, u32)>);

impl Contacts {
    /// Notes which relationships received messages since the last sample.
    pub(crate) fn sample(&mut self, st: &PlaneStatus, now: u32) {
        let mut next = BTreeMap::new();
        for r in &st.relationships {
            let n = r.stats.messages_in;
            let last = match self.0.get(&r.name) {
                Some((seen, at)) if *seen == n => *at,
                Some(_) => now,
                // First sample: a partner already talked to counts as heard now.
                None if n > 0 => now,
                None => 0,
            };
            next.insert(r.name.clone(), (n, last));
        }
        self.0 = next;
    }

    /// Wall-clock second the partner of `name` was last heard from (0: never).
    pub(crate) fn last(&self, name: &str) -> u32 {
        self.0.get(name).map_or(0, |(_, t)| *t)
    }
}

/// `GET /v1`.
pub(super) fn routes() -> Response {
    let v: Vec<Value> = ROUTES
        .iter()
        .map(|r| {
            json!({
                "method": r.method,
                "path": r.path,
                "token": r.access == super::Access::Change,
                "kea": r.kea,
                "windows": r.windows,
                "what": r.what,
            })
        })
        .collect();
    Response::json(200, &json!({"routes": v}))
}

/// `GET /v1/status`: Kea's `status-get`.
pub(super) fn status(ctx: &Ctx) -> Response {
    let plan = ctx.ops.plan();
    let (per, total) = ctx.ops.stats();
    let token = ctx.token();
    let s = &plan.cfg.server;
    Response::json(
        200,
        &json!({
            "version": env!("CARGO_PKG_VERSION"),
            "pid": std::process::id(),
            "uptime": ctx.ops.uptime().as_secs(),
            "config-file": ctx.ops.config_path().map(|p| p.display().to_string()),
            "backend": format!("{:?}", s.backend).to_ascii_lowercase(),
            "interfaces": s.interfaces.iter().map(|i| i.name.clone()).collect::<Vec<_>>(),
            "workers": per.len(),
            "shards": s.shards,
            "subnets": plan.cfg.subnets.len(),
            "failover-relationships": plan.cfg.failover.len(),
            "bindings": total.bindings,
            "state-dir": s.state_dir.display().to_string(),
            "journal-sync": format!("{:?}", s.journal.sync).to_ascii_lowercase(),
            "token": match token.problem() { None => "configured".to_owned(), Some(p) => p.to_owned() },
        }),
    )
}

/// Census of one subnet: (pools [(range, census)], reserved census).
fn census(plan: &Plan, i: usize) -> (Vec<(String, SlotCensus)>, SlotCensus) {
    let s = plan.subnet(i);
    let pools = plan
        .space
        .pools()
        .filter(|r| r.subnet == s.id)
        .map(|r| {
            (
                format!(
                    "{}-{}",
                    std::net::Ipv4Addr::from(r.start),
                    std::net::Ipv4Addr::from(r.end)
                ),
                plan.space.census(r),
            )
        })
        .collect();
    let mut reserved = SlotCensus::default();
    for r in &s.reservations {
        if let Some(range) = plan.space.range_of(r.address) {
            if range.kind == RangeKind::Reserved {
                add(&mut reserved, &plan.space.census(range));
            }
        }
    }
    (pools, reserved)
}

fn add(a: &mut SlotCensus, b: &SlotCensus) {
    a.free += b.free;
    a.partner_free += b.partner_free;
    a.bound += b.bound;
    a.quarantined += b.quarantined;
    a.excluded += b.excluded;
}

fn leasable(c: &SlotCensus) -> u64 {
    c.free + c.partner_free + c.bound + c.quarantined
}

fn census_json(c: &SlotCensus) -> Value {
    json!({
        "total-addresses": leasable(c),
        "assigned-addresses": c.bound,
        "declined-addresses": c.quarantined,
        "free-addresses": c.free,
        "partner-free-addresses": c.partner_free,
        "excluded-addresses": c.excluded,
    })
}

/// Per subnet: (id, total census, json).
pub(crate) fn subnet_census(plan: &Plan) -> Vec<(u32, SlotCensus, Value)> {
    (0..plan.cfg.subnets.len())
        .map(|i| {
            let s = plan.subnet(i);
            let (pools, reserved) = census(plan, i);
            let mut total = reserved;
            for (_, c) in &pools {
                add(&mut total, c);
            }
            let rel = plan
                .relationship_of(i)
                .and_then(|r| plan.cfg.failover.get(r))
                .map(|r| r.name.clone());
            let mut v = census_json(&total);
            let pct = if leasable(&total) == 0 {
                0.0
            } else {
                (total.bound as f64 * 1000.0 / leasable(&total) as f64).round() / 10.0
            };
            v["subnet-id"] = json!(s.id.0);
            v["network"] = json!(s.network.to_string());
            v["shared-network"] = json!(s.shared_network);
            v["failover-relationship"] = json!(rel);
            v["utilisation-percent"] = json!(pct);
            v["pools"] = pools
                .iter()
                .map(|(r, c)| {
                    let mut p = census_json(c);
                    p["range"] = json!(r);
                    p
                })
                .collect();
            v["reservations"] = json!({
                "total-addresses": leasable(&reserved),
                "assigned-addresses": reserved.bound,
                "free-addresses": reserved.free,
            });
            (s.id.0, total, v)
        })
        .collect()
}

/// `GET /v1/subnets`: utilisation (Kea's `stat-lease4-get`, Windows'
/// `Get-DhcpServerv4ScopeStatistics`).
pub(super) fn subnets(ctx: &Ctx) -> Response {
    let plan = ctx.ops.plan();
    let v: Vec<Value> = subnet_census(&plan)
        .into_iter()
        .map(|(_, _, v)| v)
        .collect();
    Response::json(200, &json!({"subnets": v}))
}

/// Every counter by Kea statistic name (and xdhcp's own for what Kea does not count).
pub(crate) fn kea_statistics(ops: &Ops) -> Vec<(String, u64)> {
    let (_, t) = ops.stats();
    let mut v: Vec<(String, u64)> = t
        .engine
        .named()
        .into_iter()
        .map(|(n, x)| {
            let n = if n.starts_with("pkt4-") || n.starts_with("v4-") || !n.contains('_') {
                n.to_owned()
            } else {
                format!("pkt4-dropped-{}", n.replace('_', "-"))
            };
            (n, x)
        })
        .collect();
    let malformed: u64 = t.worker.malformed.iter().sum();
    v.push(("pkt4-sent".into(), t.io.tx_replies));
    v.push(("pkt4-parse-failed".into(), malformed + t.io.rx_malformed));
    v.push((
        "pkt4-receive-drop".into(),
        t.worker.inbox_full + t.worker.pending_full + t.worker.outbox_full + t.worker.journal_full,
    ));
    v.push(("pkt4-send-drop".into(), t.io.tx_dropped));
    for (e, n) in dhcp_wire::dhcp::DhcpError::ALL
        .iter()
        .zip(t.worker.malformed)
    {
        v.push((
            format!("pkt4-parse-failed-{}", e.as_str().replace('_', "-")),
            n,
        ));
    }
    let w = &t.worker;
    for (n, x) in [
        ("xdhcp-forwarded", w.forwarded),
        ("xdhcp-inbox-full", w.inbox_full),
        ("xdhcp-pending-full", w.pending_full),
        ("xdhcp-outbox-full", w.outbox_full),
        ("xdhcp-journal-full", w.journal_full),
        ("xdhcp-emit-failed", w.emit_failed),
        ("xdhcp-rx-datagrams", t.io.rx_datagrams),
        ("xdhcp-rx-malformed-frames", t.io.rx_malformed),
        ("xdhcp-bindings", t.bindings),
        ("xdhcp-pending-replies", t.pending),
    ] {
        v.push((n.into(), x));
    }
    let j = ops.journal_stats();
    let ld = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    v.push(("xdhcp-journal-records".into(), ld(&j.records)));
    v.push(("xdhcp-journal-syncs".into(), ld(&j.syncs)));
    v.push(("xdhcp-journal-sync-max-us".into(), ld(&j.sync_max_micros)));
    v.push(("xdhcp-journal-compactions".into(), ld(&j.compactions)));
    for (id, c, _) in subnet_census(&ops.plan()) {
        v.push((format!("subnet[{id}].total-addresses"), leasable(&c)));
        v.push((format!("subnet[{id}].assigned-addresses"), c.bound));
        v.push((format!("subnet[{id}].declined-addresses"), c.quarantined));
        v.push((format!("subnet[{id}].free-addresses"), c.free));
        v.push((
            format!("subnet[{id}].partner-free-addresses"),
            c.partner_free,
        ));
    }
    v
}

/// `GET /v1/statistics`: Kea's `statistic-get-all`.
pub(super) fn statistics(ctx: &Ctx) -> Response {
    let mut m = serde_json::Map::new();
    for (n, x) in kea_statistics(&ctx.ops) {
        m.insert(n, json!(x));
    }
    Response::json(
        200,
        &json!({"timestamp": util::rfc3339(wall_now()), "statistics": m}),
    )
}

/// Windows' name of a failover state.
pub(crate) fn windows_state(s: ServerState) -> &'static str {
    match s {
        ServerState::Startup => "Startup",
        ServerState::Normal => "Normal",
        ServerState::CommunicationsInterrupted => "CommunicationInterrupted",
        ServerState::PartnerDown => "PartnerDown",
        ServerState::PotentialConflict => "PotentialConflict",
        ServerState::Recover => "Recover",
        ServerState::Paused => "Paused",
        ServerState::Shutdown => "Shutdown",
        ServerState::RecoverDone => "RecoverDone",
        ServerState::ResolutionInterrupted => "ResolutionInterrupted",
        ServerState::ConflictDone => "ConflictDone",
        ServerState::RecoverWait => "RecoverWait",
    }
}

/// `GET /v1/failover[/name]`: Windows' `Get-DhcpServerv4Failover` fields, plus the draft-12
/// state names, the update backlog, the last contact and the clock offset.
pub(super) fn failover(ctx: &Ctx, name: Option<&str>) -> Response {
    let plan = ctx.ops.plan();
    let st = ctx.ops.failover_status();
    let contacts = ctx.contact.lock().ok();
    let v: Vec<Value> = plan
        .cfg
        .failover
        .iter()
        .filter(|r| name.is_none_or(|n| n == r.name))
        .map(|r| {
            let s = st.relationships.iter().find(|s| s.name == r.name);
            let (lb, reserve, mode, server_role) = match r.mode {
                FailoverMode::LoadBalance { local_percent } => {
                    (Some(local_percent), None, "LoadBalance", None)
                }
                FailoverMode::HotStandby { reserve_percent } => (
                    None,
                    Some(reserve_percent),
                    "HotStandby",
                    Some(match r.role {
                        FailoverRole::Primary => "Active",
                        FailoverRole::Secondary => "Standby",
                    }),
                ),
            };
            let scopes: Vec<String> = r
                .subnets
                .iter()
                .filter_map(|id| plan.subnet_index(*id))
                .map(|i| plan.subnet(i).network.addr.to_string())
                .collect();
            let mclt = s.map_or(r.mclt_secs, |s| s.mclt);
            let last = contacts.as_ref().map_or(0, |c| c.last(&r.name));
            json!({
                "Name": r.name,
                "PartnerServer": r.partner.ip().to_string(),
                "Mode": mode,
                "ServerRole": server_role,
                "LoadBalancePercent": lb,
                "ReservePercent": reserve,
                "ScopeId": scopes,
                "MaxClientLeadTime": util::timespan(mclt),
                "AutoStateTransition": r.state_switchover_secs.is_some(),
                "StateSwitchInterval": r.state_switchover_secs.map(util::timespan),
                "EnableAuth": r.shared_secret.is_some(),
                "State": s.map(|s| windows_state(s.state.0)),
                "StateTime": s.and_then(|s| util::rfc3339(s.state.1)),
                "PartnerState": s.and_then(|s| s.partner_state).map(|p| windows_state(p.0)),
                "PartnerStateTime": s.and_then(|s| s.partner_state).and_then(|p| util::rfc3339(p.1)),
                "Role": match r.role { FailoverRole::Primary => "primary", FailoverRole::Secondary => "secondary" },
                "DraftState": s.map(|s| s.state.0.name()),
                "DraftPartnerState": s.and_then(|s| s.partner_state).map(|p| p.0.name()),
                "SubnetId": r.subnets.iter().map(|s| s.0).collect::<Vec<_>>(),
                "LocalAddress": r.local.to_string(),
                "PartnerAddress": r.partner.to_string(),
                "PartnerSoftware": format!("{:?}", r.partner_software),
                "MaxClientLeadTimeSeconds": mclt,
                "StateSwitchIntervalSeconds": r.state_switchover_secs,
                "Connected": s.is_some_and(|s| s.connected),
                "PendingUpdates": s.map_or(0, |s| s.backlog.0),
                "UnackedUpdates": s.map_or(0, |s| s.backlog.1),
                "LastContact": util::rfc3339(last),
                "ClockOffsetSeconds": s.map_or(0, |s| s.skew),
                "UpdatesSent": s.map_or(0, |s| s.stats.updates_sent),
                "UpdatesAcked": s.map_or(0, |s| s.stats.updates_acked),
                "UpdatesRejected": s.map_or(0, |s| s.stats.updates_rejected),
                "UpdatesReceived": s.map_or(0, |s| s.stats.updates_received),
                "Connections": s.map_or(0, |s| s.stats.connections),
                "MessagesIn": s.map_or(0, |s| s.stats.messages_in),
                "MessagesOut": s.map_or(0, |s| s.stats.messages_out),
            })
        })
        .collect();
    let c = &st.counters;
    Response::json(
        200,
        &json!({
            "relationships": v,
            "bad-messages": c.bad_messages,
            "last-bad-message": c.last_bad,
            "unknown-peers": c.unknown_peers,
        }),
    )
}

/// `GET /metrics`.
pub(super) fn metrics(ctx: &Ctx, h: &Head) -> Response {
    let openmetrics = h
        .header("accept")
        .is_some_and(|a| a.contains("application/openmetrics-text"));
    let contacts: BTreeMap<String, u32> = ctx
        .contact
        .lock()
        .map(|c| c.0.iter().map(|(k, (_, t))| (k.clone(), *t)).collect())
        .unwrap_or_default();
    let (body, ct) = crate::metrics::render(&ctx.ops, &ctx.ifnames, &contacts, openmetrics);
    Response::text(200, ct, body)
}

/// What a reload did, as JSON.
pub(crate) fn reload_json(r: &ReloadReport) -> Value {
    json!({
        "subnets": [r.subnets.0, r.subnets.1],
        "relationships": [r.relationships.0, r.relationships.1],
        "addresses-carried": r.migration.carried,
        "addresses-added": r.migration.added,
        "addresses-removed": r.migration.removed,
        "leases-kept-outside-pools": r.migration.orphaned,
        "paused-us": r.paused.as_micros() as u64,
        "notes": r.notes,
    })
}

/// Logs a reload as SIGHUP does.
pub fn log_reload(r: &ReloadReport, ops: &Ops) {
    let path = ops.config_path().unwrap_or_default();
    for n in &r.notes {
        tracing::info!("{n}");
    }
    tracing::info!(
        config = %path.display(),
        subnets = format!("{} -> {}", r.subnets.0, r.subnets.1),
        relationships = format!("{} -> {}", r.relationships.0, r.relationships.1),
        addresses_added = r.migration.added,
        addresses_removed = r.migration.removed,
        leases_kept_outside_pools = r.migration.orphaned,
        paused_us = r.paused.as_micros() as u64,
        "configuration reloaded"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use dhcp_core::failover::control::RelationshipStatus;

    #[test]
    fn last_contact_moves_only_when_messages_arrive() {
        let mut st = PlaneStatus::default();
        st.relationships.push(RelationshipStatus {
            name: "r".into(),
            role: FailoverRole::Primary,
            state: (ServerState::Normal, 1),
            partner_state: None,
            connected: true,
            mclt: 60,
            backlog: (0, 0),
            skew: 0,
            stats: Default::default(),
        });
        let mut c = Contacts::default();
        c.sample(&st, 100);
        assert_eq!(c.last("r"), 0, "never heard");
        st.relationships[0].stats.messages_in = 3;
        c.sample(&st, 101);
        assert_eq!(c.last("r"), 101);
        c.sample(&st, 150);
        assert_eq!(c.last("r"), 101);
        st.relationships[0].stats.messages_in = 4;
        c.sample(&st, 151);
        assert_eq!(c.last("r"), 151);
        assert_eq!(c.last("other"), 0);
    }
}
