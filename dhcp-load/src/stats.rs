//! Counters and latency histograms of a fleet, by exchange type.

use serde::Serialize;

use crate::{check::Violations, histogram::Histogram};

/// The exchanges a client runs; each has its own counters and latency histogram.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Exchange {
    /// DHCPDISCOVER → DHCPOFFER (RFC 2131 §4.4.1).
    Discover,
    /// DHCPREQUEST in SELECTING → DHCPACK.
    Request,
    /// DHCPREQUEST in RENEWING (unicast to the server, `ciaddr` set) → DHCPACK.
    Renew,
    /// DHCPREQUEST in REBINDING (broadcast or relayed, `ciaddr` set) → DHCPACK.
    Rebind,
    /// DHCPREQUEST in INIT-REBOOT (requested address, no server identifier) → DHCPACK.
    Reboot,
    /// DHCPRELEASE (no reply).
    Release,
}

impl Exchange {
    /// Every exchange type, in counter order.
    pub const ALL: [Exchange; 6] = [
        Exchange::Discover,
        Exchange::Request,
        Exchange::Renew,
        Exchange::Rebind,
        Exchange::Reboot,
        Exchange::Release,
    ];

    /// Position in [`ALL`](Self::ALL).
    pub fn index(self) -> usize {
        self as usize
    }

    /// snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Exchange::Discover => "discover",
            Exchange::Request => "request",
            Exchange::Renew => "renew",
            Exchange::Rebind => "rebind",
            Exchange::Reboot => "reboot",
            Exchange::Release => "release",
        }
    }

    /// How the report names the exchange ("DISCOVER→OFFER").
    pub fn label(self) -> &'static str {
        match self {
            Exchange::Discover => "DISCOVER->OFFER",
            Exchange::Request => "REQUEST->ACK",
            Exchange::Renew => "renew REQUEST->ACK",
            Exchange::Rebind => "rebind REQUEST->ACK",
            Exchange::Reboot => "INIT-REBOOT REQUEST->ACK",
            Exchange::Release => "RELEASE",
        }
    }
}

/// Counters of one exchange type.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExchangeStats {
    /// Exchanges started (first transmissions).
    pub sent: u64,
    /// Retransmissions (avalanche mode).
    pub retransmitted: u64,
    /// Replies accepted: the exchange completed (with violations counted separately).
    pub replies: u64,
    /// Exchanges that ended without a reply: timed out, or out of retransmissions.
    pub drops: u64,
    /// DHCPNAKs received.
    pub naks: u64,
    /// Microseconds from the first transmission to the accepted reply.
    pub latency_us: Histogram,
}

impl ExchangeStats {
    fn add(&mut self, o: &ExchangeStats) {
        self.sent += o.sent;
        self.retransmitted += o.retransmitted;
        self.replies += o.replies;
        self.drops += o.drops;
        self.naks += o.naks;
        self.latency_us.add(&o.latency_us);
    }

    fn since(&self, e: &ExchangeStats) -> ExchangeStats {
        ExchangeStats {
            sent: self.sent.saturating_sub(e.sent),
            retransmitted: self.retransmitted.saturating_sub(e.retransmitted),
            replies: self.replies.saturating_sub(e.replies),
            drops: self.drops.saturating_sub(e.drops),
            naks: self.naks.saturating_sub(e.naks),
            latency_us: self.latency_us.since(&e.latency_us),
        }
    }
}

/// Everything a fleet counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// By [`Exchange::index`].
    pub exchanges: [ExchangeStats; 6],
    /// Four-way exchanges started (first DISCOVER of a DORA).
    pub dora_started: u64,
    /// DORAs that ended with an ACK.
    pub dora_completed: u64,
    /// DORAs that ended otherwise (a drop or a NAK in either half).
    pub dora_failed: u64,
    /// Avalanche: REQUESTs out of retransmissions, client back to DISCOVER (RFC 2131 §4.4.1).
    pub restarts: u64,
    /// Avalanche: clients out of DISCOVER retransmissions.
    pub gave_up: u64,
    /// Clients bound for the first time.
    pub provisioned: u64,
    /// Microseconds from the start of the run to each client's first binding.
    pub provision_us: Histogram,
    /// Open loop: exchange starts skipped because the sender fell behind the offered rate.
    pub starts_missed: u64,
    /// A start was due but no client was free for it.
    pub no_free_client: u64,
    /// Replies to exchanges no longer in flight (after their timeout, or a second answer).
    pub late: u64,
    /// Frames received that were not DHCP replies to our clients.
    pub not_for_us: u64,
    /// Acknowledged addresses the uniqueness table could not check (it was full).
    pub unchecked_addresses: u64,
    /// Frames built.
    pub frames_sent: u64,
    /// Frames offered to the model.
    pub frames_received: u64,
    /// Protocol violations.
    pub violations: Violations,
}

impl Stats {
    /// The counters of `kind`.
    pub fn exchange(&self, kind: Exchange) -> &ExchangeStats {
        &self.exchanges[kind.index()]
    }

    pub(crate) fn exchange_mut(&mut self, kind: Exchange) -> &mut ExchangeStats {
        &mut self.exchanges[kind.index()]
    }

    /// Adds another fleet's counters.
    pub fn add(&mut self, o: &Stats) {
        for (a, b) in self.exchanges.iter_mut().zip(o.exchanges.iter()) {
            a.add(b);
        }
        self.dora_started += o.dora_started;
        self.dora_completed += o.dora_completed;
        self.dora_failed += o.dora_failed;
        self.restarts += o.restarts;
        self.gave_up += o.gave_up;
        self.provisioned += o.provisioned;
        self.provision_us.add(&o.provision_us);
        self.starts_missed += o.starts_missed;
        self.no_free_client += o.no_free_client;
        self.late += o.late;
        self.not_for_us += o.not_for_us;
        self.unchecked_addresses += o.unchecked_addresses;
        self.frames_sent += o.frames_sent;
        self.frames_received += o.frames_received;
        self.violations.add(&o.violations);
    }

    /// What was counted since `e`, an earlier snapshot of the same counters.
    pub fn since(&self, e: &Stats) -> Stats {
        let mut exchanges: [ExchangeStats; 6] = Default::default();
        for (d, (a, b)) in exchanges
            .iter_mut()
            .zip(self.exchanges.iter().zip(e.exchanges.iter()))
        {
            *d = a.since(b);
        }
        Stats {
            exchanges,
            dora_started: self.dora_started.saturating_sub(e.dora_started),
            dora_completed: self.dora_completed.saturating_sub(e.dora_completed),
            dora_failed: self.dora_failed.saturating_sub(e.dora_failed),
            restarts: self.restarts.saturating_sub(e.restarts),
            gave_up: self.gave_up.saturating_sub(e.gave_up),
            provisioned: self.provisioned.saturating_sub(e.provisioned),
            provision_us: self.provision_us.since(&e.provision_us),
            starts_missed: self.starts_missed.saturating_sub(e.starts_missed),
            no_free_client: self.no_free_client.saturating_sub(e.no_free_client),
            late: self.late.saturating_sub(e.late),
            not_for_us: self.not_for_us.saturating_sub(e.not_for_us),
            unchecked_addresses: self
                .unchecked_addresses
                .saturating_sub(e.unchecked_addresses),
            frames_sent: self.frames_sent.saturating_sub(e.frames_sent),
            frames_received: self.frames_received.saturating_sub(e.frames_received),
            violations: self.violations.since(&e.violations),
        }
    }

    /// Percentage of the ended DORAs that failed (0 when none ended).
    pub fn dora_drop_pct(&self) -> f64 {
        let ended = self.dora_completed + self.dora_failed;
        if ended == 0 {
            0.0
        } else {
            100.0 * self.dora_failed as f64 / ended as f64
        }
    }
}
