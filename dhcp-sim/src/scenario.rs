//! What one seed makes of the world: the failover relationship's settings, the clients, the
//! clocks and how hard each kind of fault hits. Everything the run does afterwards follows
//! from this and from the seed's other random streams.

use std::{fmt, net::Ipv4Addr};

use dhcp_core::config::{self, Config, FailoverMode};

use crate::rng::Rng;

/// The failover relationship's name on both servers.
pub const RELATIONSHIP: &str = "sim-pair";
/// Shared secret: every failover message carries an HMAC digest.
pub const SECRET: &str = "simulated-shared-secret-0123456789";
/// The servers' addresses (interface, server identifier and failover endpoint): primary first.
pub const SERVER_ADDRS: [Ipv4Addr; 2] = [Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 3)];
/// First address of the dynamic pool.
pub const POOL_START: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 0);
/// Reserved addresses: client 0 by hardware address, client 1 by client identifier.
pub const RESERVED: [Ipv4Addr; 2] = [Ipv4Addr::new(10, 0, 0, 10), Ipv4Addr::new(10, 0, 0, 11)];
/// Wall clock of the simulated world at time 0 (seconds since 1970).
pub const T0: u32 = 1_750_000_000;

/// How often and how hard each fault kind strikes during the fault phase (`None`: never).
#[derive(Clone, Debug, PartialEq)]
pub struct FaultPlan {
    /// Mean time between connection resets.
    pub reset_every_ms: Option<u64>,
    /// Chance that a failover message is lost; TCP turns a loss into a reset.
    pub loss: f64,
    /// Mean time between slow periods (retransmitting TCP: seconds of latency).
    pub slow_every_ms: Option<u64>,
    /// Mean time between partitions (the link stalls; new connections fail).
    pub partition_every_ms: Option<u64>,
    /// Longest partition.
    pub partition_max_ms: u64,
    /// Mean time between server crashes.
    pub crash_every_ms: Option<u64>,
    /// Longest time a crashed server stays down.
    pub down_max_ms: u64,
    /// Chance that the operator declares a crashed server's partner PARTNER-DOWN.
    pub partner_down: f64,
    /// Chance that client datagrams (either way) are lost.
    pub udp_loss: f64,
}

/// A clock step during the fault phase; a step of more than a minute is undone at the heal
/// (as an operator fixing NTP would), smaller ones stay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockStep {
    /// Node stepped.
    pub node: usize,
    /// When, in simulated milliseconds.
    pub at_ms: u64,
    /// By how many seconds.
    pub by_secs: i64,
}

/// One seed's world.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// The seed.
    pub seed: u64,
    /// Load balance or hot standby.
    pub mode: FailoverMode,
    /// MCLT, seconds.
    pub mclt_secs: u32,
    /// Lease time the servers want to give (the subnet's default).
    pub lease_secs: u32,
    /// Each server's receive timer, seconds.
    pub receive_timer_secs: u32,
    /// Automatic COMMUNICATIONS-INTERRUPTED → PARTNER-DOWN, seconds.
    pub switchover_secs: Option<u32>,
    /// max-unacked-bndupd.
    pub max_unacked: u32,
    /// Workers per server.
    pub workers: usize,
    /// Lease shards per server.
    pub shards: u16,
    /// Clients waiting longer than this are served whatever their bucket (0: never).
    pub load_balance_max_secs: u16,
    /// Number of clients.
    pub clients: usize,
    /// Addresses in the dynamic pool.
    pub pool_size: u32,
    /// Each server's constant clock offset from true time, seconds.
    pub skew_secs: [i64; 2],
    /// An optional clock step.
    pub clock_step: Option<ClockStep>,
    /// Faults.
    pub faults: FaultPlan,
    /// Length of the fault phase.
    pub fault_ms: u64,
    /// Time after the heal before convergence is checked; the run ends at most
    /// `settle_ms + converge_ms` after the heal.
    pub settle_ms: u64,
    /// How long convergence may take once checking starts.
    pub converge_ms: u64,
}

impl Scenario {
    /// The world of `seed`.
    pub fn new(seed: u64) -> Scenario {
        Scenario::with_clocks(seed, false)
    }

    /// The world of `seed`; with `wild_clocks`, a server's wall clock may also step by more
    /// than CONNECT's one-minute tolerance. Such a step, while the servers cannot connect
    /// because of it, makes every time either stamps wrong by minutes: the protocol's time
    /// comparisons (draft-12 §5.10: "the servers' clocks must be synchronized") cannot be
    /// right then, so those worlds are looked at on request only, not in the CI gate.
    pub fn with_clocks(seed: u64, wild_clocks: bool) -> Scenario {
        let mut r = Rng::new(seed ^ 0x5eed_5ce9_a210_0000);
        let mode = if r.chance(0.6) {
            FailoverMode::LoadBalance {
                local_percent: r.range(30, 70) as u8,
            }
        } else {
            FailoverMode::HotStandby {
                reserve_percent: r.range(5, 25) as u8,
            }
        };
        let mclt_secs = r.range(30, 120) as u32;
        let lease_secs = (mclt_secs * r.range(3, 10) as u32).clamp(120, 900);
        let receive_timer_secs = r.range(6, 30) as u32;
        let switchover_secs = r
            .chance(0.35)
            .then(|| r.range(u64::from(receive_timer_secs) + 60, 400) as u32);
        let workers = r.range(1, 3) as usize;
        let shards = match workers {
            1 => r.pick(&[1u16, 2, 4]),
            2 => r.pick(&[2u16, 4]),
            _ => r.pick(&[4u16, 8]),
        };
        let clients = r.range(50, 300) as usize;
        // Sometimes tight: clients compete for addresses and pool balancing matters.
        let pool_size = (clients as f64 * (0.8 + r.unit())) as u32 + 4;
        // Mostly NTP-close clocks, sometimes seconds apart (CONNECT tolerates a minute).
        let spread = r.pick(&[1u64, 1, 3, 10]);
        let small = |r: &mut Rng| r.range(0, 2 * spread) as i64 - spread as i64;
        let skew_secs = [small(&mut r), small(&mut r)];
        let fault_ms = r.range(10, 25) * 60_000;
        let clock_step = r.chance(0.2).then(|| {
            let by = if r.chance(0.5) {
                let big = r.range(61, 150) as i64;
                // Without wild clocks a step stays well inside the tolerance, skew included.
                if wild_clocks { big } else { 10 + big % 25 }
            } else {
                r.range(2, 20) as i64
            };
            ClockStep {
                node: r.below(2) as usize,
                at_ms: r.range(0, fault_ms / 2),
                by_secs: if r.chance(0.5) { by } else { -by },
            }
        });
        let mut sometimes = |p: f64, lo: u64, hi: u64| r.chance(p).then(|| r.range(lo, hi));
        let reset_every_ms = sometimes(0.6, 30_000, 600_000);
        let slow_every_ms = sometimes(0.5, 60_000, 600_000);
        let partition_every_ms = sometimes(0.6, 120_000, 900_000);
        let crash_every_ms = sometimes(0.7, 120_000, 900_000);
        let loss = r.pick(&[0.0, 0.0, 0.002, 0.01, 0.03]);
        let mut partition_max_ms = r.range(5_000, 300_000);
        if let Some(s) = switchover_secs {
            // A partition longer than the switchover interval puts a server into PARTNER-DOWN
            // while its partner still serves: the one way the protocol hands an address out
            // twice (failover-protocol.md §3.4). That is an operator's risk, not a bug.
            let safe = (u64::from(s) - u64::from(receive_timer_secs) - 40) * 1000;
            partition_max_ms = partition_max_ms.min(safe);
        }
        // Clocks more than a minute apart keep the servers from connecting (CONNECT's time
        // check). Declaring PARTNER-DOWN then would be declaring a live partner down (draft-12
        // §5.10 warns of exactly this): an operator's error the simulation does not make.
        let big_step = clock_step.is_some_and(|s| s.by_secs.abs() > 60);
        let partner_down = if big_step {
            0.0
        } else {
            r.pick(&[0.0, 0.3, 0.7])
        };
        let switchover_secs = switchover_secs.filter(|_| !big_step);
        let faults = FaultPlan {
            reset_every_ms,
            loss,
            slow_every_ms,
            partition_every_ms,
            partition_max_ms,
            crash_every_ms,
            down_max_ms: r.range(2_000, u64::from(mclt_secs) * 3000 + 60_000),
            partner_down,
            udp_loss: r.pick(&[0.0, 0.01, 0.05]),
        };
        let load_balance_max_secs = match mode {
            FailoverMode::LoadBalance { .. } => r.pick(&[0u16, 3, 10]),
            FailoverMode::HotStandby { .. } => 0,
        };
        Scenario {
            seed,
            mode,
            mclt_secs,
            lease_secs,
            receive_timer_secs,
            switchover_secs,
            max_unacked: r.range(2, 32) as u32,
            workers,
            shards,
            load_balance_max_secs,
            clients,
            pool_size,
            skew_secs,
            clock_step,
            faults,
            fault_ms,
            // RECOVER-WAIT can take an MCLT, and a returning server may need a few reconnect
            // back-offs (30 s) first.
            settle_ms: (u64::from(mclt_secs) * 2 + 120) * 1000,
            converge_ms: (u64::from(mclt_secs) + 240) * 1000,
        }
    }

    /// The last address of the pool.
    pub fn pool_end(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(POOL_START) + self.pool_size - 1)
    }

    /// The configuration file of node `i` (0: primary, 1: secondary), as an operator would
    /// write it.
    pub fn config_text(&self, i: usize) -> String {
        let me = SERVER_ADDRS[i];
        let them = SERVER_ADDRS[1 - i];
        let role = match (self.mode, i) {
            (FailoverMode::LoadBalance { local_percent }, 0) => format!(
                "mode = \"load-balance\"\nrole = \"primary\"\nload-balance-percent = {local_percent}"
            ),
            (FailoverMode::LoadBalance { local_percent }, _) => format!(
                "mode = \"load-balance\"\nrole = \"secondary\"\nload-balance-percent = {}",
                100 - local_percent
            ),
            (FailoverMode::HotStandby { reserve_percent }, 0) => format!(
                "mode = \"hot-standby\"\nserver-role = \"active\"\nreserve-percent = {reserve_percent}"
            ),
            (FailoverMode::HotStandby { reserve_percent }, _) => format!(
                "mode = \"hot-standby\"\nserver-role = \"standby\"\nreserve-percent = {reserve_percent}"
            ),
        };
        let switchover = self
            .switchover_secs
            .map(|s| format!("state-switchover-interval = {s}\n"))
            .unwrap_or_default();
        format!(
            r#"[server]
interfaces = [{{ name = "sim0", address = "{me}" }}]
backend = "socket"
workers = {workers}
shards = {shards}
state-dir = "/nonexistent/dhcp-sim"
offer-hold = 10
decline-quarantine = 300

[[subnet]]
id = 1
network = "10.0.0.0/20"
pools = ["{pool_start}-{pool_end}"]
routers = ["10.0.0.1"]
lease = {{ default = {lease}, min = 20, max = {lease_max} }}

[[subnet.reservations]]
hw-address = "02:00:00:00:00:00"
ip-address = "{r0}"

[[subnet.reservations]]
client-id = "ff:00:00:00:01"
ip-address = "{r1}"

[[failover]]
name = "{name}"
partner = "{them}"
local-address = "{me}"
{role}
mclt = {mclt}
{switchover}shared-secret = "{secret}"
subnets = [1]
max-unacked-updates = {unacked}
receive-timer = {rt}
load-balance-max-seconds = {lbmax}
"#,
            workers = self.workers,
            shards = self.shards,
            pool_start = POOL_START,
            pool_end = self.pool_end(),
            lease = self.lease_secs,
            lease_max = self.lease_secs * 2,
            r0 = RESERVED[0],
            r1 = RESERVED[1],
            name = RELATIONSHIP,
            mclt = self.mclt_secs,
            secret = SECRET,
            unacked = self.max_unacked,
            rt = self.receive_timer_secs,
            lbmax = self.load_balance_max_secs,
        )
    }

    /// Node `i`'s configuration through the daemon's own loader.
    pub fn config(&self, i: usize) -> Config {
        let text = self.config_text(i);
        match config::parse(&text, "dhcp-sim.toml") {
            Ok(c) => c,
            Err(e) => panic!("the simulator wrote a configuration the loader refuses: {e}\n{text}"),
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match self.mode {
            FailoverMode::LoadBalance { local_percent } => {
                format!("load-balance {local_percent}/{}", 100 - local_percent)
            }
            FailoverMode::HotStandby { reserve_percent } => {
                format!("hot-standby, reserve {reserve_percent}%")
            }
        };
        let every = |v: Option<u64>| match v {
            Some(ms) => format!("every ~{} s", ms / 1000),
            None => "never".to_owned(),
        };
        writeln!(
            f,
            "seed {:#x}: {mode}, MCLT {} s, lease {} s, receive timer {} s, switchover {}, \
             max-unacked {}, {} worker(s) x {} shard(s), lb-max-secs {}",
            self.seed,
            self.mclt_secs,
            self.lease_secs,
            self.receive_timer_secs,
            self.switchover_secs
                .map(|s| format!("{s} s"))
                .unwrap_or_else(|| "by operator only".into()),
            self.max_unacked,
            self.workers,
            self.shards,
            self.load_balance_max_secs,
        )?;
        writeln!(
            f,
            "  {} clients, pool of {} ({}-{}), clock skew {:+} s / {:+} s{}",
            self.clients,
            self.pool_size,
            POOL_START,
            self.pool_end(),
            self.skew_secs[0],
            self.skew_secs[1],
            match self.clock_step {
                Some(s) => format!(
                    ", node {} steps {:+} s at {} s",
                    s.node,
                    s.by_secs,
                    s.at_ms / 1000
                ),
                None => String::new(),
            }
        )?;
        let p = &self.faults;
        write!(
            f,
            "  faults for {} s: resets {}, loss {}, slow {}, partitions {} (<= {} s), crashes {} \
             (down <= {} s, partner-down {}), udp loss {}; settle {} s",
            self.fault_ms / 1000,
            every(p.reset_every_ms),
            p.loss,
            every(p.slow_every_ms),
            every(p.partition_every_ms),
            p.partition_max_ms / 1000,
            every(p.crash_every_ms),
            p.down_max_ms / 1000,
            p.partner_down,
            p.udp_loss,
            self.settle_ms / 1000,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_seed_makes_a_configuration_the_loader_accepts() {
        for seed in 0..200 {
            let s = Scenario::new(seed);
            for i in 0..2 {
                let c = s.config(i);
                assert_eq!(c.failover.len(), 1);
                assert_eq!(c.failover[0].mclt_secs, s.mclt_secs);
            }
            assert_eq!(s, Scenario::new(seed), "deterministic");
        }
    }
}
