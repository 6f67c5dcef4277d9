//! The Prometheus endpoint: every counter the server keeps, encoded by `prometheus-client` on
//! each scrape from a snapshot (nothing is counted twice: the workers, the journal writer and
//! the failover thread keep their own counters, and a scrape reads them).
//!
//! Names: Kea's statistic names where Kea has one, `pkt4-ack-sent` becoming
//! `xdhcp_pkt4_ack_sent_total` (a prefix, `_` for `-`, `_total` on counters); per-subnet
//! gauges carry the subnet as a label (`subnet[1].assigned-addresses` becomes
//! `xdhcp_subnet_assigned_addresses{subnet_id="1"}`). The full list, with the Kea and
//! windows_exporter names, is in docs/OPERATIONS.md.

use std::{
    collections::BTreeMap,
    sync::atomic::{AtomicU64, Ordering},
};

use dhcp_common::SteerStat;
use dhcp_core::{engine::DropReason, failover::ServerState};
use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric, text},
    metrics::{MetricType, counter::ConstCounter, gauge::ConstGauge},
    registry::Registry,
};

use crate::{
    api::views, failover::PlaneStatus, journal::SYNC_BUCKETS_MICROS, ops::Ops, server::WorkerStats,
};

/// Content type of the Prometheus text format.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
/// Content type of the OpenMetrics text format.
pub const OPENMETRICS_TEXT: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Everything one scrape reports, read once.
#[derive(Debug)]
struct Snapshot {
    per_worker: Vec<WorkerStats>,
    total: WorkerStats,
    journal: JournalSnap,
    failover: PlaneStatus,
    contacts: BTreeMap<String, u32>,
    subnets: Vec<(u32, dhcp_core::lease::space::SlotCensus)>,
    steering: Vec<(String, Vec<u64>)>,
    ifnames: BTreeMap<u32, String>,
    uptime: u64,
}

#[derive(Debug, Default)]
struct JournalSnap {
    records: u64,
    syncs: u64,
    sync_micros: u64,
    compactions: u64,
    segment_bytes: u64,
    buckets: Vec<u64>,
}

/// The metrics as text; the second value is the content type. OpenMetrics when `openmetrics`
/// (the scraper asked for it), the classic Prometheus format otherwise.
pub fn render(
    ops: &Ops,
    ifnames: &BTreeMap<u32, String>,
    contacts: &BTreeMap<String, u32>,
    openmetrics: bool,
) -> (String, &'static str) {
    let (per_worker, total) = ops.stats();
    let j = ops.journal_stats();
    let ld = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let plan = ops.plan();
    let snap = Snapshot {
        per_worker,
        total,
        journal: JournalSnap {
            records: ld(&j.records),
            syncs: ld(&j.syncs),
            sync_micros: ld(&j.sync_micros),
            compactions: ld(&j.compactions),
            segment_bytes: ld(&j.segment_bytes),
            buckets: j.sync_buckets.iter().map(ld).collect(),
        },
        failover: ops.failover_status(),
        contacts: contacts.clone(),
        subnets: views::subnet_census(&plan)
            .into_iter()
            .map(|(id, c, _)| (id, c))
            .collect(),
        steering: ops.steering_stats(),
        ifnames: ifnames.clone(),
        uptime: ops.uptime().as_secs(),
    };
    encode(snap, openmetrics)
}

fn encode(snap: Snapshot, openmetrics: bool) -> (String, &'static str) {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(snap));
    let mut out = String::new();
    let ok = if openmetrics {
        text::encode(&mut out, &registry)
    } else {
        prometheus_client::encoding::prometheus_text::encode(&mut out, &registry)
    };
    if ok.is_err() {
        out = "# the metrics could not be encoded\n".into();
    }
    (
        out,
        if openmetrics {
            OPENMETRICS_TEXT
        } else {
            PROMETHEUS_TEXT
        },
    )
}

type L<'a> = Vec<(&'static str, String)>;

/// Writes one metric family: `values` are (labels, value) pairs.
fn family<M: EncodeMetric>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    ty: MetricType,
    values: Vec<(L<'_>, M)>,
) -> Result<(), std::fmt::Error> {
    let mut m = enc.encode_descriptor(name, help, None, ty)?;
    for (labels, v) in values {
        if labels.is_empty() {
            v.encode(m.encode_family(&Vec::<(&str, String)>::new())?)?;
        } else {
            v.encode(m.encode_family(&labels)?)?;
        }
    }
    Ok(())
}

fn counter(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    values: Vec<(L<'_>, u64)>,
) -> Result<(), std::fmt::Error> {
    family(
        enc,
        name,
        help,
        MetricType::Counter,
        values
            .into_iter()
            .map(|(l, v)| (l, ConstCounter::new(v)))
            .collect(),
    )
}

fn gauge(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    values: Vec<(L<'_>, i64)>,
) -> Result<(), std::fmt::Error> {
    family(
        enc,
        name,
        help,
        MetricType::Gauge,
        values
            .into_iter()
            .map(|(l, v)| (l, ConstGauge::new(v)))
            .collect(),
    )
}

fn one(v: u64) -> Vec<(L<'static>, u64)> {
    vec![(Vec::new(), v)]
}

/// Kea's statistic names of the engine's packet counters, and their help.
fn engine_counters(e: &dhcp_core::engine::Counters) -> Vec<(&'static str, &'static str, u64)> {
    vec![
        (
            "xdhcp_pkt4_received",
            "DHCPv4 requests handled by the engine (Kea pkt4-received)",
            e.pkt4_received,
        ),
        (
            "xdhcp_pkt4_discover_received",
            "DHCPDISCOVERs received (Kea pkt4-discover-received)",
            e.pkt4_discover_received,
        ),
        (
            "xdhcp_pkt4_request_received",
            "DHCPREQUESTs received (Kea pkt4-request-received)",
            e.pkt4_request_received,
        ),
        (
            "xdhcp_pkt4_decline_received",
            "DHCPDECLINEs received (Kea pkt4-decline-received)",
            e.pkt4_decline_received,
        ),
        (
            "xdhcp_pkt4_release_received",
            "DHCPRELEASEs received (Kea pkt4-release-received)",
            e.pkt4_release_received,
        ),
        (
            "xdhcp_pkt4_inform_received",
            "DHCPINFORMs received (Kea pkt4-inform-received)",
            e.pkt4_inform_received,
        ),
        (
            "xdhcp_pkt4_unknown_received",
            "messages of a type a server does not answer (Kea pkt4-unknown-received)",
            e.pkt4_unknown_received,
        ),
        (
            "xdhcp_pkt4_offer_sent",
            "DHCPOFFERs sent (Kea pkt4-offer-sent)",
            e.pkt4_offer_sent,
        ),
        (
            "xdhcp_pkt4_ack_sent",
            "DHCPACKs sent (Kea pkt4-ack-sent)",
            e.pkt4_ack_sent,
        ),
        (
            "xdhcp_pkt4_nak_sent",
            "DHCPNAKs sent (Kea pkt4-nak-sent)",
            e.pkt4_nak_sent,
        ),
        (
            "xdhcp_v4_allocation_fail",
            "requests no address could be found for (Kea v4-allocation-fail)",
            e.v4_allocation_fail,
        ),
        (
            "xdhcp_v4_reservation_conflicts",
            "reserved addresses held by another client (Kea v4-reservation-conflicts)",
            e.v4_reservation_conflicts,
        ),
        (
            "xdhcp_v4_lease_reuses",
            "returning clients given their previous address (Kea v4-lease-reuses)",
            e.v4_lease_reuses,
        ),
        (
            "xdhcp_declined_addresses",
            "addresses declined by clients (Kea cumulative declined-addresses)",
            e.declined_addresses,
        ),
        (
            "xdhcp_reclaimed_leases",
            "leases that expired (Kea reclaimed-leases)",
            e.reclaimed_leases,
        ),
        (
            "xdhcp_cumulative_assigned_addresses",
            "leases granted to a client not holding one (Kea cumulative-assigned-addresses)",
            e.cumulative_assigned_addresses,
        ),
        (
            "xdhcp_renewals_outside_pools",
            "renewals of leases whose pool a reload removed",
            e.leases_outside_pools,
        ),
    ]
}

impl Collector for Snapshot {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let e = &self.total.engine;
        let t = &self.total;
        for (name, help, v) in engine_counters(e) {
            counter(&mut enc, name, help, one(v))?;
        }
        counter(
            &mut enc,
            "xdhcp_pkt4_sent",
            "replies sent (Kea pkt4-sent)",
            one(t.io.tx_replies),
        )?;
        counter(
            &mut enc,
            "xdhcp_pkt4_dropped",
            "requests the engine answered with nothing, by reason",
            DropReason::ALL
                .iter()
                .zip(e.drops)
                .map(|(r, n)| (vec![("reason", r.name().to_owned())], n))
                .collect(),
        )?;
        counter(
            &mut enc,
            "xdhcp_pkt4_parse_failed",
            "DHCP messages that did not parse, by reason (Kea pkt4-parse-failed)",
            dhcp_wire::dhcp::DhcpError::ALL
                .iter()
                .zip(t.worker.malformed)
                .map(|(r, n)| (vec![("reason", r.as_str().to_owned())], n))
                .collect(),
        )?;
        let w = &t.worker;
        counter(
            &mut enc,
            "xdhcp_worker_lost",
            "requests or replies lost inside the server, by where (Kea pkt4-receive-drop / pkt4-queue-full)",
            [
                ("inbox_full", w.inbox_full),
                ("pending_full", w.pending_full),
                ("outbox_full", w.outbox_full),
                ("journal_full", w.journal_full),
                ("emit_failed", w.emit_failed),
            ]
            .into_iter()
            .map(|(k, n)| (vec![("reason", k.to_owned())], n))
            .collect(),
        )?;
        counter(
            &mut enc,
            "xdhcp_forwarded",
            "requests handed to the worker owning the client's shard",
            one(w.forwarded),
        )?;
        gauge(
            &mut enc,
            "xdhcp_bindings",
            "bindings in the lease tables (holding an address or remembered), per worker",
            self.per_worker
                .iter()
                .enumerate()
                .map(|(i, s)| (vec![("worker", i.to_string())], s.bindings as i64))
                .collect(),
        )?;
        let mut depth = Vec::new();
        for (i, s) in self.per_worker.iter().enumerate() {
            for (q, n) in [
                ("inbox", s.inbox),
                ("pending_durable", s.pending),
                ("outbox", s.outbox),
                ("journal", s.journal_queued),
            ] {
                depth.push((
                    vec![("worker", i.to_string()), ("queue", q.to_owned())],
                    n as i64,
                ));
            }
        }
        gauge(
            &mut enc,
            "xdhcp_queue_depth",
            "entries waiting in a worker's queues (inbox from other workers, replies waiting for the journal, replies waiting for TX room, journal entries waiting for the writer)",
            depth,
        )?;

        // Ports: per interface and RX queue.
        let port_labels = |p: &crate::server::PortStats| {
            let ifname = self
                .ifnames
                .get(&p.ifindex)
                .cloned()
                .unwrap_or_else(|| p.ifindex.to_string());
            vec![
                ("interface", ifname),
                ("queue", p.queue.map_or("-".to_owned(), |q| q.to_string())),
            ]
        };
        let ports: Vec<&crate::server::PortStats> =
            self.per_worker.iter().flat_map(|w| &w.ports).collect();
        let per_port = |f: &dyn Fn(&crate::server::PortStats) -> Option<u64>| {
            ports
                .iter()
                .filter_map(|p| Some((port_labels(p), f(p)?)))
                .collect::<Vec<_>>()
        };
        counter(
            &mut enc,
            "xdhcp_port_rx_datagrams",
            "UDP/67 datagrams received, per port",
            per_port(&|p| Some(p.io.rx_datagrams)),
        )?;
        counter(
            &mut enc,
            "xdhcp_port_rx_malformed_frames",
            "frames that were no usable IPv4/UDP datagram, per port",
            per_port(&|p| Some(p.io.rx_malformed)),
        )?;
        counter(
            &mut enc,
            "xdhcp_port_tx_replies",
            "replies sent, per port",
            per_port(&|p| Some(p.io.tx_replies)),
        )?;
        counter(
            &mut enc,
            "xdhcp_port_tx_dropped",
            "replies lost for want of a TX frame or ring slot, per port",
            per_port(&|p| Some(p.io.tx_dropped)),
        )?;
        counter(
            &mut enc,
            "xdhcp_xsk_rx_frames",
            "frames read from the AF_XDP RX ring",
            per_port(&|p| p.rings.map(|r| r.rx_frames)),
        )?;
        counter(
            &mut enc,
            "xdhcp_xsk_tx_frames",
            "frames put on the AF_XDP TX ring",
            per_port(&|p| p.rings.map(|r| r.tx_frames)),
        )?;
        counter(
            &mut enc,
            "xdhcp_xsk_tx_completed",
            "AF_XDP transmit completions",
            per_port(&|p| p.rings.map(|r| r.tx_completed)),
        )?;
        counter(
            &mut enc,
            "xdhcp_xsk_tx_ring_full",
            "transmits refused because the AF_XDP TX ring was full",
            per_port(&|p| p.rings.map(|r| r.tx_ring_full)),
        )?;
        counter(&mut enc, "xdhcp_xsk_wakeups", "AF_XDP wake-up syscalls", {
            let mut v = Vec::new();
            for p in &ports {
                if let Some(r) = p.rings {
                    let mut l = port_labels(p);
                    l.push(("direction", "rx".into()));
                    v.push((l, r.rx_wakeups));
                    let mut l = port_labels(p);
                    l.push(("direction", "tx".into()));
                    v.push((l, r.tx_wakeups));
                }
            }
            v
        })?;
        counter(
            &mut enc,
            "xdhcp_xsk_kernel_drops",
            "the kernel's XDP_STATISTICS of each AF_XDP socket, by kind",
            {
                let mut v = Vec::new();
                for p in &ports {
                    if let Some(k) = p.kernel {
                        for (kind, n) in [
                            ("rx_dropped", k.rx_dropped),
                            ("rx_invalid_descs", k.rx_invalid_descs),
                            ("tx_invalid_descs", k.tx_invalid_descs),
                            ("rx_ring_full", k.rx_ring_full),
                            ("rx_fill_ring_empty_descs", k.rx_fill_ring_empty_descs),
                            ("tx_ring_empty_descs", k.tx_ring_empty_descs),
                        ] {
                            let mut l = port_labels(p);
                            l.push(("kind", kind.into()));
                            v.push((l, n));
                        }
                    }
                }
                v
            },
        )?;
        gauge(
            &mut enc,
            "xdhcp_xsk_zero_copy",
            "1 when the AF_XDP socket is bound zero-copy, 0 in copy mode",
            ports
                .iter()
                .filter(|p| p.queue.is_some())
                .map(|p| (port_labels(p), i64::from(p.mode == "zero-copy")))
                .collect(),
        )?;
        counter(
            &mut enc,
            "xdhcp_xdp_decisions",
            "decisions of the XDP steering program, summed over CPUs, per interface",
            {
                let mut v = Vec::new();
                for (ifname, stats) in &self.steering {
                    for (s, n) in SteerStat::ALL.iter().zip(stats) {
                        v.push((
                            vec![
                                ("interface", ifname.clone()),
                                ("decision", s.name().to_owned()),
                            ],
                            *n,
                        ));
                    }
                }
                v
            },
        )?;

        // Journal.
        let j = &self.journal;
        counter(
            &mut enc,
            "xdhcp_journal_records",
            "records written to the lease journal",
            one(j.records),
        )?;
        counter(
            &mut enc,
            "xdhcp_journal_compactions",
            "journal compactions finished",
            one(j.compactions),
        )?;
        gauge(
            &mut enc,
            "xdhcp_journal_segment_bytes",
            "bytes in the current journal segment",
            vec![(Vec::new(), j.segment_bytes as i64)],
        )?;
        {
            let mut m = enc.encode_descriptor(
                "xdhcp_journal_fsync_seconds",
                "time each fdatasync of the lease journal took",
                None,
                MetricType::Histogram,
            )?;
            let mut buckets: Vec<(f64, u64)> = SYNC_BUCKETS_MICROS
                .iter()
                .zip(&j.buckets)
                .map(|(b, n)| (*b as f64 / 1e6, *n))
                .collect();
            buckets.push((f64::INFINITY, j.buckets.last().copied().unwrap_or(0)));
            m.encode_histogram::<Vec<(String, String)>>(
                j.sync_micros as f64 / 1e6,
                j.syncs,
                &buckets,
                None,
            )?;
        }

        // Subnets.
        let sub = |f: &dyn Fn(&dhcp_core::lease::space::SlotCensus) -> u64| {
            self.subnets
                .iter()
                .map(|(id, c)| (vec![("subnet_id", id.to_string())], f(c) as i64))
                .collect::<Vec<_>>()
        };
        gauge(
            &mut enc,
            "xdhcp_subnet_total_addresses",
            "addresses that can be leased: pools and reservations, exclusions left out (Kea subnet[id].total-addresses)",
            sub(&|c| c.free + c.partner_free + c.bound + c.quarantined),
        )?;
        gauge(
            &mut enc,
            "xdhcp_subnet_assigned_addresses",
            "addresses held by a binding: leased, offered, or ended and not yet acknowledged by the failover partner (Kea subnet[id].assigned-addresses)",
            sub(&|c| c.bound),
        )?;
        gauge(
            &mut enc,
            "xdhcp_subnet_declined_addresses",
            "addresses in decline quarantine (Kea subnet[id].declined-addresses)",
            sub(&|c| c.quarantined),
        )?;
        gauge(
            &mut enc,
            "xdhcp_subnet_free_addresses",
            "addresses this server may lease now",
            sub(&|c| c.free),
        )?;
        gauge(
            &mut enc,
            "xdhcp_subnet_partner_free_addresses",
            "free addresses that are the failover partner's",
            sub(&|c| c.partner_free),
        )?;

        // Failover.
        let rels = &self.failover.relationships;
        let rel = |name: &str| vec![("relationship", name.to_owned())];
        gauge(
            &mut enc,
            "xdhcp_failover_state",
            "1 for the state each relationship is in (draft-12 names), 0 for the others",
            {
                let mut v = Vec::new();
                for r in rels {
                    for s in ServerState::ALL {
                        let mut l = rel(&r.name);
                        l.push(("state", s.name().to_owned()));
                        v.push((l, i64::from(r.state.0 == s)));
                    }
                }
                v
            },
        )?;
        gauge(
            &mut enc,
            "xdhcp_failover_partner_state",
            "1 for the state the partner last reported, 0 for the others (all 0 before it reported one)",
            {
                let mut v = Vec::new();
                for r in rels {
                    for s in ServerState::ALL {
                        let mut l = rel(&r.name);
                        l.push(("state", s.name().to_owned()));
                        v.push((l, i64::from(r.partner_state.is_some_and(|p| p.0 == s))));
                    }
                }
                v
            },
        )?;
        gauge(
            &mut enc,
            "xdhcp_failover_state_since_seconds",
            "when the relationship entered its state, seconds since 1970",
            rels.iter()
                .map(|r| (rel(&r.name), i64::from(r.state.1)))
                .collect(),
        )?;
        gauge(
            &mut enc,
            "xdhcp_failover_connected",
            "1 while the partner connection is up",
            rels.iter()
                .map(|r| (rel(&r.name), i64::from(r.connected)))
                .collect(),
        )?;
        gauge(
            &mut enc,
            "xdhcp_failover_mclt_seconds",
            "maximum client lead time in force",
            rels.iter()
                .map(|r| (rel(&r.name), i64::from(r.mclt)))
                .collect(),
        )?;
        gauge(
            &mut enc,
            "xdhcp_failover_updates_pending",
            "binding updates queued for the partner, not yet sent",
            rels.iter()
                .map(|r| (rel(&r.name), r.backlog.0 as i64))
                .collect(),
        )?;
        gauge(
            &mut enc,
            "xdhcp_failover_updates_unacked",
            "binding updates sent and not yet acknowledged",
            rels.iter()
                .map(|r| (rel(&r.name), r.backlog.1 as i64))
                .collect(),
        )?;
        gauge(
            &mut enc,
            "xdhcp_failover_clock_offset_seconds",
            "partner clock minus ours, measured at connect",
            rels.iter().map(|r| (rel(&r.name), r.skew)).collect(),
        )?;
        gauge(
            &mut enc,
            "xdhcp_failover_last_contact_seconds",
            "when a message from the partner last arrived, seconds since 1970 (1 s resolution; 0 = not since start)",
            rels.iter()
                .map(|r| {
                    (
                        rel(&r.name),
                        i64::from(self.contacts.get(&r.name).copied().unwrap_or(0)),
                    )
                })
                .collect(),
        )?;
        for (name, help, f) in [
            (
                "xdhcp_failover_updates_sent",
                "bindings sent to the partner",
                (|s: &dhcp_core::failover::endpoint::EndpointStats| s.updates_sent)
                    as fn(&_) -> u64,
            ),
            (
                "xdhcp_failover_updates_acked",
                "bindings the partner accepted",
                |s| s.updates_acked,
            ),
            (
                "xdhcp_failover_updates_rejected",
                "bindings the partner rejected",
                |s| s.updates_rejected,
            ),
            (
                "xdhcp_failover_updates_received",
                "bindings received from the partner",
                |s| s.updates_received,
            ),
            (
                "xdhcp_failover_connections",
                "partner connections established",
                |s| s.connections,
            ),
            (
                "xdhcp_failover_messages_received",
                "failover messages received",
                |s| s.messages_in,
            ),
            (
                "xdhcp_failover_messages_sent",
                "failover messages sent",
                |s| s.messages_out,
            ),
        ] {
            counter(
                &mut enc,
                name,
                help,
                rels.iter().map(|r| (rel(&r.name), f(&r.stats))).collect(),
            )?;
        }
        counter(
            &mut enc,
            "xdhcp_failover_bad_messages",
            "failover messages that did not decode",
            one(self.failover.counters.bad_messages),
        )?;
        counter(
            &mut enc,
            "xdhcp_failover_unknown_peers",
            "failover connections refused: from an address that is no partner",
            one(self.failover.counters.unknown_peers),
        )?;

        gauge(
            &mut enc,
            "xdhcp_uptime_seconds",
            "seconds since the server started",
            vec![(Vec::new(), self.uptime as i64)],
        )?;
        gauge(
            &mut enc,
            "xdhcp_build_info",
            "1, labelled with the version",
            vec![(vec![("version", env!("CARGO_PKG_VERSION").to_owned())], 1)],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::PortStats;
    use dhcp_core::{
        config::FailoverRole, failover::control::RelationshipStatus, lease::space::SlotCensus,
    };

    fn snapshot() -> Snapshot {
        let mut w = WorkerStats::default();
        w.engine.pkt4_discover_received = 7;
        w.engine.pkt4_ack_sent = 3;
        w.engine.drop(DropReason::NoSubnet);
        w.worker.malformed[1] = 2;
        w.journal_queued = 4;
        w.ports.push(PortStats {
            ifindex: 9,
            queue: Some(0),
            backend: "af_xdp",
            mode: "copy",
            rings: Some(Default::default()),
            kernel: Some(Default::default()),
            ..PortStats::default()
        });
        let mut failover = PlaneStatus::default();
        failover.relationships.push(RelationshipStatus {
            name: "pair \"a\"".into(),
            role: FailoverRole::Primary,
            state: (ServerState::Normal, 1_700_000_000),
            partner_state: Some((ServerState::Normal, 1_700_000_001)),
            connected: true,
            mclt: 3600,
            backlog: (2, 1),
            skew: -1,
            stats: Default::default(),
        });
        let mut buckets = vec![0; SYNC_BUCKETS_MICROS.len() + 1];
        buckets[0] = 5;
        buckets[4] = 2;
        *buckets.last_mut().unwrap() = 1;
        Snapshot {
            per_worker: vec![w.clone()],
            total: w,
            journal: JournalSnap {
                records: 10,
                syncs: 8,
                sync_micros: 4000,
                buckets,
                ..JournalSnap::default()
            },
            failover,
            contacts: BTreeMap::new(),
            subnets: vec![(
                1,
                SlotCensus {
                    free: 90,
                    bound: 10,
                    ..SlotCensus::default()
                },
            )],
            steering: vec![("eth0".into(), vec![1; SteerStat::COUNT as usize])],
            ifnames: [(9, "eth0".to_owned())].into_iter().collect(),
            uptime: 5,
        }
    }

    #[test]
    fn the_prometheus_text_is_well_formed_and_carries_the_values() {
        let (text, ct) = encode(snapshot(), false);
        assert_eq!(ct, PROMETHEUS_TEXT);
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (name, value) = line.rsplit_once(' ').unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
            let bare = name.split('{').next().unwrap();
            assert!(
                bare.starts_with("xdhcp_")
                    && bare.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_'),
                "{line}"
            );
        }
        for want in [
            "xdhcp_pkt4_discover_received_total 7",
            "xdhcp_pkt4_ack_sent_total 3",
            "xdhcp_pkt4_dropped_total{reason=\"no_subnet\"} 1",
            "xdhcp_queue_depth{worker=\"0\",queue=\"journal\"} 4",
            "xdhcp_xsk_rx_frames_total{interface=\"eth0\",queue=\"0\"} 0",
            "xdhcp_xdp_decisions_total{interface=\"eth0\",decision=\"redirected\"} 1",
            "xdhcp_subnet_total_addresses{subnet_id=\"1\"} 100",
            "xdhcp_subnet_assigned_addresses{subnet_id=\"1\"} 10",
            "xdhcp_failover_state{relationship=\"pair \\\"a\\\"\",state=\"normal\"} 1",
            "xdhcp_failover_updates_unacked{relationship=\"pair \\\"a\\\"\"} 1",
            "xdhcp_failover_clock_offset_seconds{relationship=\"pair \\\"a\\\"\"} -1",
            "xdhcp_journal_fsync_seconds_count 8",
            "xdhcp_journal_fsync_seconds_bucket{le=\"5e-05\"} 5",
            "xdhcp_journal_fsync_seconds_bucket{le=\"0.001\"} 7",
            "xdhcp_journal_fsync_seconds_bucket{le=\"+Inf\"} 8",
        ] {
            assert!(text.contains(want), "{want} missing:\n{text}");
        }
    }

    #[test]
    fn openmetrics_when_asked() {
        let (text, ct) = encode(snapshot(), true);
        assert_eq!(ct, OPENMETRICS_TEXT);
        assert!(text.trim_end().ends_with("# EOF"));
        assert!(text.contains("# TYPE xdhcp_pkt4_ack_sent counter"));
    }
}
