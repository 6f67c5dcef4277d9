//! The result of a run: one object, printed as text for people or as one JSON object for
//! `cargo xtask bench` and other scripts.
//!
//! Rates are per second of the sending phase (`duration_secs`): `offered_per_sec` is DORAs
//! started, `completed_per_sec` DORAs that got their ACK, `drop_pct` the share of the DORAs
//! that ended without one (no OFFER or no ACK within the drop timeout, or a NAK). Latencies
//! are in microseconds from an exchange's first transmission to the reply that completed it.

use std::{collections::BTreeMap, fmt::Write as _, net::Ipv4Addr};

use dhcp_wire::frame::MacAddr;
use serde::Serialize;

use crate::{
    check::{Violation, ViolationKind},
    histogram::Histogram,
    ident::client_mac,
    search::{SearchEnd, StepResult},
    stats::{Exchange, Stats},
};

/// Latency percentiles of one exchange type, in microseconds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Latency {
    /// Samples.
    pub count: u64,
    /// Smallest.
    pub min: u64,
    /// Median.
    pub p50: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest.
    pub max: u64,
    /// Mean.
    pub mean: f64,
}

impl From<&Histogram> for Latency {
    fn from(h: &Histogram) -> Self {
        Latency {
            count: h.count(),
            min: h.min(),
            p50: h.percentile(0.5),
            p99: h.percentile(0.99),
            p999: h.percentile(0.999),
            max: h.max(),
            mean: (h.mean() * 10.0).round() / 10.0,
        }
    }
}

/// Counters and latency of one exchange type.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExchangeReport {
    /// Exchange type.
    pub exchange: Exchange,
    /// Human label ("DISCOVER->OFFER").
    pub label: &'static str,
    /// Exchanges started.
    pub sent: u64,
    /// Retransmissions.
    pub retransmitted: u64,
    /// Replies accepted.
    pub replies: u64,
    /// Exchanges that ended without a reply.
    pub drops: u64,
    /// `drops` as a percentage of the exchanges that ended.
    pub drop_pct: f64,
    /// NAKs.
    pub naks: u64,
    /// Latency, microseconds.
    pub latency_us: Latency,
}

/// A violation as reported: the record plus the client's hardware address and a sentence.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ViolationReport {
    /// Kind.
    pub kind: ViolationKind,
    /// Milliseconds since the start.
    pub at_ms: f64,
    /// Client index.
    pub client: Option<u32>,
    /// Client hardware address.
    pub mac: Option<String>,
    /// Transaction id of the reply, hex.
    pub xid: String,
    /// The exchange in flight.
    pub exchange: Option<&'static str>,
    /// `yiaddr` of the reply.
    pub yiaddr: Ipv4Addr,
    /// What was expected and found.
    pub detail: String,
}

impl ViolationReport {
    fn new(v: &Violation, mac_base: MacAddr) -> Self {
        let ip = |x: Option<u32>| x.map_or("none".to_string(), |a| Ipv4Addr::from(a).to_string());
        let num = |x: Option<u32>| x.map_or("none".to_string(), |n| n.to_string());
        let detail = match v.kind {
            ViolationKind::WrongServerId => {
                format!(
                    "server id {} where {} was expected",
                    ip(v.found),
                    ip(v.expected)
                )
            }
            ViolationKind::WrongYiaddr => {
                format!(
                    "yiaddr {} where {} was asked for",
                    ip(v.found),
                    ip(v.expected)
                )
            }
            ViolationKind::DuplicateAddress => format!(
                "{} acknowledged while client {} holds it with a running lease",
                ip(v.found),
                num(v.other_client)
            ),
            ViolationKind::LeaseTimeOutOfRange => format!(
                "lease time {} s outside the bounds (lower bound {} s)",
                num(v.found),
                num(v.expected)
            ),
            ViolationKind::WrongMessageType => format!(
                "message type {} where {} was expected",
                num(v.found),
                num(v.expected)
            ),
            ViolationKind::WrongDestination => format!(
                "sent to {} where {} was expected",
                if v.expected == Some(68) {
                    format!("port {}", num(v.found))
                } else {
                    ip(v.found)
                },
                if v.expected == Some(68) {
                    "port 68".to_string()
                } else {
                    format!("{}:67", ip(v.expected))
                }
            ),
            ViolationKind::WrongVlan => format!(
                "VLAN {} where {} was expected",
                num(v.found),
                num(v.expected)
            ),
            ViolationKind::MissingServerId => "no server identifier (option 54)".to_string(),
            ViolationKind::MissingLeaseTime => "no lease time (option 51)".to_string(),
            ViolationKind::RelayInfoNotEchoed => {
                "option 82 missing or changed in the reply".to_string()
            }
            ViolationKind::Nak => "DHCPNAK to a valid request".to_string(),
            ViolationKind::WrongXid => {
                "chaddr is this client's, xid names no exchange of it in flight".to_string()
            }
            ViolationKind::WrongChaddr => {
                "xid names this client's exchange in flight, chaddr is not its".to_string()
            }
            ViolationKind::Malformed => "not a parseable DHCP message".to_string(),
        };
        ViolationReport {
            kind: v.kind,
            at_ms: v.at_us as f64 / 1000.0,
            client: v.client,
            mac: v.client.map(|c| client_mac(mac_base, c).to_string()),
            xid: format!("{:#010x}", v.xid),
            exchange: v.exchange,
            yiaddr: v.yiaddr,
            detail,
        }
    }
}

/// Check results.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ViolationsReport {
    /// All violations.
    pub total: u64,
    /// Count by kind (kinds with a count only).
    pub by_kind: BTreeMap<&'static str, u64>,
    /// The first few, in detail.
    pub first: Vec<ViolationReport>,
}

/// Avalanche results.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AvalancheReport {
    /// Clients in the avalanche.
    pub clients: u64,
    /// Clients bound.
    pub provisioned: u64,
    /// Clients out of DISCOVER retransmissions.
    pub gave_up: u64,
    /// REQUESTs out of retransmissions (client restarted with DISCOVER).
    pub restarts: u64,
    /// Retransmissions of all kinds.
    pub retransmissions: u64,
    /// Seconds from the start to the last client bound.
    pub all_bound_secs: f64,
    /// Time to bound from the start, milliseconds: median.
    pub bound_p50_ms: f64,
    /// 99th percentile.
    pub bound_p99_ms: f64,
}

/// `--find-max` results.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FindMaxReport {
    /// Highest rate offered in a passing step, DORAs/s (`None`: none passed).
    pub max_rate: Option<f64>,
    /// DORAs/s completed at that step.
    pub completed_per_sec: Option<f64>,
    /// Drop percentage at that step.
    pub drop_pct: Option<f64>,
    /// The drop bound.
    pub max_drop_pct: f64,
    /// Why the search stopped.
    pub end: Option<SearchEnd>,
    /// Every step.
    pub steps: Vec<StepResult>,
}

/// Counters of the packet I/O, summed over threads.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct IoReport {
    /// Frames put on the wire.
    pub tx_frames: u64,
    /// Frames received.
    pub rx_frames: u64,
    /// Times no transmit buffer was free.
    pub tx_no_buffer: u64,
    /// Frames the kernel refused (ring full, send error).
    pub tx_errors: u64,
    /// Frames the kernel dropped on receive (AF_XDP: RX ring full or fill ring empty;
    /// AF_PACKET: socket buffer full).
    pub rx_kernel_drops: u64,
    /// Replies handed to the thread owning their client.
    pub forwarded: u64,
    /// Replies lost because that thread's inbox was full.
    pub forward_full: u64,
}

/// Misc counters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// Replies after their exchange ended.
    pub late: u64,
    /// Frames that were not replies to our clients.
    pub not_for_us: u64,
    /// Open-loop starts lost because the sender fell behind.
    pub starts_missed: u64,
    /// Starts with no free client.
    pub no_free_client: u64,
    /// Addresses the uniqueness table could not check.
    pub unchecked_addresses: u64,
    /// Frames built by the model.
    pub frames_built: u64,
    /// Frames given to the model.
    pub frames_handled: u64,
}

/// What the run was.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RunInfo {
    /// open, closed or avalanche.
    pub mode: String,
    /// xdp or packet.
    pub backend: String,
    /// Interface.
    pub interface: String,
    /// Sending threads.
    pub threads: u32,
    /// Simulated clients.
    pub clients: u32,
    /// Open loop: DORAs/s asked for.
    pub target_rate: Option<f64>,
    /// Closed loop: window.
    pub window: Option<u32>,
    /// Relay address, in relay mode.
    pub relay: Option<Ipv4Addr>,
    /// VLAN tags (outer, inner).
    pub vlans: Vec<u16>,
    /// Seconds of sending.
    pub duration_secs: f64,
    /// Seconds including the drain of exchanges in flight.
    pub elapsed_secs: f64,
    /// Bytes of client state per client (model plus shared registry).
    pub bytes_per_client: f64,
}

/// The whole result.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// "dhcp-load".
    pub tool: &'static str,
    /// The run.
    pub run: RunInfo,
    /// DORAs started per second of sending.
    pub offered_per_sec: f64,
    /// DORAs completed per second of sending.
    pub completed_per_sec: f64,
    /// Percentage of ended DORAs that failed.
    pub drop_pct: f64,
    /// DORAs started.
    pub dora_started: u64,
    /// DORAs completed.
    pub dora_completed: u64,
    /// DORAs failed.
    pub dora_failed: u64,
    /// By exchange type (types that ran only).
    pub exchanges: Vec<ExchangeReport>,
    /// Avalanche mode.
    pub avalanche: Option<AvalancheReport>,
    /// `--find-max`.
    pub find_max: Option<FindMaxReport>,
    /// Checks.
    pub violations: ViolationsReport,
    /// Misc counters.
    pub counters: Counters,
    /// Packet I/O.
    pub io: IoReport,
    /// True when no check failed.
    pub ok: bool,
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

impl Report {
    /// Builds the report of `stats` (summed over fleets) for a run described by `run`.
    pub fn new(run: RunInfo, stats: &Stats, io: IoReport, mac_base: MacAddr) -> Self {
        let secs = run.duration_secs.max(1e-9);
        let exchanges = Exchange::ALL
            .iter()
            .map(|k| (k, stats.exchange(*k)))
            .filter(|(_, e)| e.sent > 0)
            .map(|(k, e)| {
                let ended = e.replies + e.drops + e.naks;
                ExchangeReport {
                    exchange: *k,
                    label: k.label(),
                    sent: e.sent,
                    retransmitted: e.retransmitted,
                    replies: e.replies,
                    drops: e.drops,
                    drop_pct: if ended == 0 {
                        0.0
                    } else {
                        round2(100.0 * e.drops as f64 / ended as f64)
                    },
                    naks: e.naks,
                    latency_us: Latency::from(&e.latency_us),
                }
            })
            .collect();
        let avalanche = (run.mode == "avalanche").then(|| AvalancheReport {
            clients: u64::from(run.clients),
            provisioned: stats.provisioned,
            gave_up: stats.gave_up,
            restarts: stats.restarts,
            retransmissions: stats.exchanges.iter().map(|e| e.retransmitted).sum(),
            all_bound_secs: stats.provision_us.max() as f64 / 1e6,
            bound_p50_ms: stats.provision_us.percentile(0.5) as f64 / 1000.0,
            bound_p99_ms: stats.provision_us.percentile(0.99) as f64 / 1000.0,
        });
        let violations = ViolationsReport {
            total: stats.violations.total(),
            by_kind: stats
                .violations
                .by_kind()
                .map(|(k, n)| (k.as_str(), n))
                .collect(),
            first: stats
                .violations
                .kept()
                .map(|v| ViolationReport::new(v, mac_base))
                .collect(),
        };
        Report {
            tool: "dhcp-load",
            offered_per_sec: round2(stats.dora_started as f64 / secs),
            completed_per_sec: round2(stats.dora_completed as f64 / secs),
            drop_pct: round2(stats.dora_drop_pct()),
            dora_started: stats.dora_started,
            dora_completed: stats.dora_completed,
            dora_failed: stats.dora_failed,
            exchanges,
            avalanche,
            find_max: None,
            ok: violations.total == 0,
            violations,
            counters: Counters {
                late: stats.late,
                not_for_us: stats.not_for_us,
                starts_missed: stats.starts_missed,
                no_free_client: stats.no_free_client,
                unchecked_addresses: stats.unchecked_addresses,
                frames_built: stats.frames_sent,
                frames_handled: stats.frames_received,
            },
            io,
            run,
        }
    }

    /// The report as a table for a terminal.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let r = &self.run;
        let _ = writeln!(
            s,
            "dhcp-load: {} mode, {} clients, {} thread(s), backend {} on {}{}",
            r.mode,
            r.clients,
            r.threads,
            r.backend,
            r.interface,
            r.relay.map_or(String::new(), |g| format!(", relay {g}"))
        );
        if let Some(t) = r.target_rate {
            let _ = writeln!(s, "target rate     {t:.0} DORA/s");
        }
        if let Some(w) = r.window {
            let _ = writeln!(s, "window          {w} exchanges in flight");
        }
        let _ = writeln!(
            s,
            "sending         {:.2} s (elapsed {:.2} s with drain)",
            r.duration_secs, r.elapsed_secs
        );
        let _ = writeln!(
            s,
            "offered         {:.0} DORA/s ({} started)",
            self.offered_per_sec, self.dora_started
        );
        let _ = writeln!(
            s,
            "completed       {:.0} DORA/s ({} completed, {} failed, {:.2} % dropped)",
            self.completed_per_sec, self.dora_completed, self.dora_failed, self.drop_pct
        );
        let _ = writeln!(
            s,
            "\n{:<26} {:>10} {:>8} {:>10} {:>9} {:>7} {:>9} {:>9} {:>9} {:>9}",
            "exchange",
            "sent",
            "retx",
            "replies",
            "drops",
            "drop%",
            "p50 us",
            "p99 us",
            "p99.9 us",
            "max us"
        );
        for e in &self.exchanges {
            let l = &e.latency_us;
            let _ = writeln!(
                s,
                "{:<26} {:>10} {:>8} {:>10} {:>9} {:>7.2} {:>9} {:>9} {:>9} {:>9}",
                e.label,
                e.sent,
                e.retransmitted,
                e.replies,
                e.drops,
                e.drop_pct,
                l.p50,
                l.p99,
                l.p999,
                l.max
            );
        }
        if let Some(a) = &self.avalanche {
            let _ = writeln!(
                s,
                "\navalanche: {}/{} bound in {:.3} s (p50 {:.1} ms, p99 {:.1} ms), {} gave up, \
                 {} restarts, {} retransmissions",
                a.provisioned,
                a.clients,
                a.all_bound_secs,
                a.bound_p50_ms,
                a.bound_p99_ms,
                a.gave_up,
                a.restarts,
                a.retransmissions
            );
        }
        if let Some(f) = &self.find_max {
            let _ = writeln!(
                s,
                "\nfind-max (drops <= {} % within the drop timeout):",
                f.max_drop_pct
            );
            for st in &f.steps {
                let _ = writeln!(
                    s,
                    "  target {:>10.0}  offered {:>10.0}  completed {:>10.0}  drop {:>6.2} %  {}",
                    st.target,
                    st.offered,
                    st.completed,
                    st.drop_pct,
                    if st.passed { "pass" } else { "FAIL" }
                );
            }
            match f.max_rate {
                Some(m) => {
                    let _ = writeln!(
                        s,
                        "  highest passing rate: {m:.0} DORA/s ({:.0} completed/s), {:?}",
                        f.completed_per_sec.unwrap_or(0.0),
                        f.end
                    );
                }
                None => {
                    let _ = writeln!(s, "  no rate passed ({:?})", f.end);
                }
            }
        }
        let c = &self.counters;
        let _ = writeln!(
            s,
            "\nlate replies {}, not ours {}, starts missed {}, no free client {}, unchecked {}",
            c.late, c.not_for_us, c.starts_missed, c.no_free_client, c.unchecked_addresses
        );
        let io = &self.io;
        let _ = writeln!(
            s,
            "io: tx {} rx {} tx_no_buffer {} tx_errors {} rx_kernel_drops {} forwarded {} \
             forward_full {}",
            io.tx_frames,
            io.rx_frames,
            io.tx_no_buffer,
            io.tx_errors,
            io.rx_kernel_drops,
            io.forwarded,
            io.forward_full
        );
        if self.violations.total == 0 {
            let _ = writeln!(s, "checks: every reply passed");
        } else {
            let _ = writeln!(s, "checks: {} VIOLATIONS", self.violations.total);
            for (k, n) in &self.violations.by_kind {
                let _ = writeln!(s, "  {k:<24} {n}");
            }
            for v in &self.violations.first {
                let _ = writeln!(
                    s,
                    "  at {:.3} ms client {} ({}) xid {} {}: {} — {}",
                    v.at_ms,
                    v.client.map_or("?".to_string(), |c| c.to_string()),
                    v.mac.as_deref().unwrap_or("?"),
                    v.xid,
                    v.exchange.unwrap_or("-"),
                    v.kind.as_str(),
                    v.detail
                );
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Violation;

    #[test]
    fn report_sums_up_and_serialises() {
        let mut st = Stats {
            dora_started: 1000,
            dora_completed: 975,
            dora_failed: 25,
            ..Stats::default()
        };
        let d = &mut st.exchanges[Exchange::Discover.index()];
        d.sent = 1000;
        d.replies = 990;
        d.drops = 10;
        for v in 1..=990u64 {
            d.latency_us.record(v);
        }
        st.violations.record(Violation {
            kind: ViolationKind::DuplicateAddress,
            at_us: 1500,
            client: Some(3),
            xid: 0xabc,
            yiaddr: Ipv4Addr::new(10, 0, 0, 9),
            exchange: Some("request"),
            expected: None,
            found: Some(u32::from(Ipv4Addr::new(10, 0, 0, 9))),
            other_client: Some(1),
        });
        let run = RunInfo {
            mode: "open".into(),
            clients: 1000,
            duration_secs: 2.0,
            ..RunInfo::default()
        };
        let r = Report::new(run, &st, IoReport::default(), MacAddr([2, 0, 0, 0, 0, 0]));
        assert_eq!(r.offered_per_sec, 500.0);
        assert_eq!(r.completed_per_sec, 487.5);
        assert_eq!(r.drop_pct, 2.5);
        assert!(!r.ok);
        assert_eq!(r.exchanges.len(), 1);
        assert_eq!(r.exchanges[0].drop_pct, 1.0);
        let v = &r.violations.first[0];
        assert_eq!(v.mac.as_deref(), Some("02:00:00:00:00:03"));
        assert!(v.detail.contains("10.0.0.9"), "{}", v.detail);
        assert!(v.detail.contains("client 1"), "{}", v.detail);
        let json: serde_json::Value = serde_json::to_value(&r).unwrap();
        assert_eq!(json["violations"]["by_kind"]["duplicate_address"], 1);
        assert_eq!(json["exchanges"][0]["exchange"], "discover");
        assert_eq!(json["exchanges"][0]["latency_us"]["max"], 990);
        let text = r.to_text();
        assert!(text.contains("DISCOVER->OFFER"));
        assert!(text.contains("1 VIOLATIONS"));
    }
}
