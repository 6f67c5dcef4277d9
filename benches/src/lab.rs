//! An engine over a lease table of a chosen size, and the client messages the benchmarks send
//! it.
//!
//! The table is filled through [`Shard::restore`], the path journal recovery takes: client `i`
//! (for `i < leases`) holds an ACTIVE lease on the `i`-th pool address, ending 30 to 31 days
//! after [`NOW`] ([`LEASE_END_MIN`]), so nothing expires while a benchmark runs even when it
//! moves the clock on. Clients numbered from `leases` up
//! have never been seen. Each client sends option 61 (type 1 + its MAC), as Windows, udhcpc and
//! dhcpcd do, so its key comes from the client identifier.
//!
//! Requests go through what a worker does with a datagram (`dhcp-user`'s `Worker::process`):
//! `DhcpPacket::new_checked`, `options()`, `emit::request`, `Engine::handle`, then
//! `emit::write_reply` for a reply. The journal entries the engine queues are cleared instead
//! of being pushed to the writer's queue.

use std::{net::Ipv4Addr, sync::Arc};

use dhcp_core::{
    config::{self, Config, SubnetId},
    engine::{
        Engine, Outcome, Plan,
        emit::{self, Scratch},
    },
    lease::{AddressSpace, Binding, BindingState, ClientKey, HwAddr, Shard},
};
use dhcp_wire::dhcp::{DhcpPacket, DhcpWriter, MessageType, Op, OptionCode};

/// The server's address on the interface requests arrive on (and its identifier).
pub const IFACE: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// Wall-clock second the table is built at.
pub const NOW: u32 = 1_700_000_000;
/// Shards of the table, all owned by the one engine (the daemon's default for two workers).
pub const SHARDS: u16 = 4;
/// First pool address; the pool runs up from here inside 10.0.0.0/8.
pub const POOL_START: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 0);
/// Most pool addresses 10.0.0.0/8 has room for after [`POOL_START`].
pub const POOL_MAX: u32 = 0x0aff_fffe - 0x0a00_0100 + 1;
/// Bytes reserved per message in a [`Batch`] (the 576-byte minimum datagram less IP/UDP).
const SLOT: usize = 548;
/// Parameter request list of ISC dhclient 4.4.
const PRL: &[u8] = &[1, 28, 2, 3, 15, 6, 119, 12, 44, 47, 26, 121, 42];
/// Host name the clients send (option 12).
const HOST_NAME: &[u8] = b"bench-client";

/// The configuration of a lab whose pool has `pool_len` addresses: one /8 subnet with the
/// options an access network typically hands out, 1-day leases.
pub fn config(pool_len: u32) -> Config {
    assert!(
        (1..=POOL_MAX).contains(&pool_len),
        "pool of {pool_len} addresses does not fit 10.0.0.0/8"
    );
    let end = Ipv4Addr::from(u32::from(POOL_START) + pool_len - 1);
    let text = format!(
        r#"
[server]
interfaces = [{{ name = "eth0", address = "{IFACE}" }}]
backend = "socket"
workers = 1
shards = {SHARDS}
offer-hold = 10
decline-quarantine = 60

[lease]
default = "1d"
min = "1h"
max = "7d"

[[subnet]]
id = 1
network = "10.0.0.0/8"
pools = ["{POOL_START}-{end}"]
routers = ["10.0.0.1"]
dns-servers = ["10.0.0.53", "10.0.0.54"]
domain-name = "isp.example"
mtu = 1500
ntp-servers = ["10.0.0.123"]
"#
    );
    config::parse(&text, "lab.toml").unwrap_or_else(|e| panic!("lab config: {e}"))
}

/// Client `id`'s MAC address (locally administered).
pub fn mac(id: u32) -> [u8; 6] {
    let b = id.to_be_bytes();
    [0x02, 0x42, b[0], b[1], b[2], b[3]]
}

/// Client `id`'s option 61 value.
pub fn client_id(id: u32) -> [u8; 7] {
    let m = mac(id);
    [1, m[0], m[1], m[2], m[3], m[4], m[5]]
}

/// Client `id`'s key, as the engine derives it from its requests.
pub fn key(id: u32) -> ClientKey {
    ClientKey::from_client_id(&client_id(id))
}

/// The address prefilled client `id` holds.
pub fn lease_addr(id: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(POOL_START) + id)
}

/// Earliest end of a prefilled lease, in seconds after [`NOW`].
pub const LEASE_END_MIN: u32 = 30 * 86_400;

/// The binding of prefilled client `id`: ACTIVE, ending in the day after [`LEASE_END_MIN`]
/// (spread, so the expiry wheel's buckets fill evenly).
pub fn lease_binding(id: u32) -> Binding {
    let mut b = Binding::new(
        key(id),
        HwAddr::new(1, &mac(id)),
        lease_addr(id),
        SubnetId(1),
    );
    b.state = BindingState::Active;
    b.lease_end = NOW + LEASE_END_MIN + id.wrapping_mul(2_654_435_761) % 86_400;
    b.cltt = NOW - 600;
    b.stos = NOW - 600;
    b
}

/// Installs the leases of clients `0..leases` into whichever of `engines` owns each client's
/// shard, through [`Shard::restore`] (free lists are not rebuilt).
pub fn prefill(plan: &Plan, engines: &mut [Engine], leases: u32) {
    for id in 0..leases {
        let b = lease_binding(id);
        let shard = plan.shard_of(&b.key);
        let ok = engines
            .iter_mut()
            .find_map(|e| e.shard_mut(shard))
            .is_some_and(|s| s.restore(&b, NOW));
        assert!(ok, "prefilling client {id} failed");
    }
}

/// What a client sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Msg {
    /// DHCPDISCOVER.
    Discover,
    /// DHCPREQUEST in SELECTING: options 50 and 54 name the offer taken.
    Selecting(Ipv4Addr),
    /// DHCPREQUEST in RENEWING: `ciaddr` set, no 50/54.
    Renewing(Ipv4Addr),
    /// DHCPRELEASE of `ciaddr`.
    Release(Ipv4Addr),
    /// DHCPINFORM from `ciaddr`.
    Inform(Ipv4Addr),
    /// DHCPDECLINE of the address in option 50.
    Decline(Ipv4Addr),
}

/// Writes client `id`'s message into `buf` (at least 300 bytes); returns its length. Options
/// follow ISC dhclient: 53, 61, then 50/54 where the type needs them, 57, 12, 55.
pub fn client_message(id: u32, msg: Msg, buf: &mut [u8]) -> usize {
    let mut w = DhcpWriter::new(buf, SLOT, None).expect("buffer of 300 bytes or more");
    w.set_op(Op::BootRequest);
    w.set_htype(1);
    w.set_hlen(6).expect("6-byte chaddr");
    w.set_xid(id.rotate_left(13) ^ 0x5a5a_0000);
    w.set_chaddr(&mac(id)).expect("6-byte chaddr");
    let (t, ciaddr, requested, server_id, asks) = match msg {
        Msg::Discover => (MessageType::Discover, None, None, false, true),
        Msg::Selecting(a) => (MessageType::Request, None, Some(a), true, true),
        Msg::Renewing(a) => (MessageType::Request, Some(a), None, false, true),
        Msg::Release(a) => (MessageType::Release, Some(a), None, true, false),
        Msg::Inform(a) => (MessageType::Inform, Some(a), None, false, true),
        Msg::Decline(a) => (MessageType::Decline, None, Some(a), true, false),
    };
    if let Some(a) = ciaddr {
        w.set_ciaddr(a);
    }
    let put = |w: &mut DhcpWriter<'_>, code: u8, v: &[u8]| {
        w.option(OptionCode(code), v).expect("fits the message");
    };
    w.message_type(t).expect("fits the message");
    put(&mut w, 61, &client_id(id));
    if let Some(a) = requested {
        put(&mut w, 50, &a.octets());
    }
    if server_id {
        put(&mut w, 54, &IFACE.octets());
    }
    if asks {
        put(&mut w, 57, &1500u16.to_be_bytes());
        put(&mut w, 12, HOST_NAME);
        put(&mut w, 55, PRL);
    }
    w.finish()
}

/// Messages written back to back, for one timed run.
#[derive(Debug)]
pub struct Batch {
    buf: Vec<u8>,
    lens: Vec<usize>,
}

impl Batch {
    /// Room for `n` messages.
    pub fn with_capacity(n: usize) -> Batch {
        Batch {
            buf: vec![0; n * SLOT],
            lens: Vec::with_capacity(n),
        }
    }

    /// Empties the batch.
    pub fn clear(&mut self) {
        self.lens.clear();
    }

    /// Appends client `id`'s message.
    pub fn push(&mut self, id: u32, msg: Msg) {
        let at = self.lens.len() * SLOT;
        if self.buf.len() < at + SLOT {
            self.buf.resize(at + SLOT, 0);
        }
        let n = client_message(id, msg, &mut self.buf[at..at + SLOT]);
        self.lens.push(n);
    }

    /// Number of messages.
    pub fn len(&self) -> usize {
        self.lens.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.lens.is_empty()
    }

    /// Message `i`.
    pub fn get(&self, i: usize) -> &[u8] {
        &self.buf[i * SLOT..i * SLOT + self.lens[i]]
    }
}

/// How big a lab is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LabSize {
    /// Prefilled ACTIVE leases.
    pub leases: u32,
    /// Bindings that may be created on top of them (new clients) before the lab is rebuilt.
    pub headroom: u32,
    /// Pool addresses beyond the prefilled ones.
    pub spare_addresses: u32,
}

impl LabSize {
    /// `leases` prefilled, with room for `headroom` new clients and addresses.
    pub fn new(leases: u32, headroom: u32) -> LabSize {
        LabSize {
            leases,
            headroom,
            spare_addresses: headroom,
        }
    }

    /// Binding capacity of each shard: the table's share plus 2 % and 1024 for the uneven
    /// spread of clients over shards.
    pub fn capacity_per_shard(&self) -> usize {
        let total = u64::from(self.leases) + u64::from(self.headroom);
        let share = total / u64::from(SHARDS);
        (share + share / 50 + 1024) as usize
    }
}

/// An engine owning every shard of a prefilled table.
#[derive(Debug)]
pub struct Lab {
    /// The compiled configuration.
    pub plan: Arc<Plan>,
    /// The engine.
    pub engine: Engine,
    /// The wall-clock second requests are handled at.
    pub now: u32,
    /// The size the lab was built with.
    pub size: LabSize,
    /// Pool addresses taken out of use (declined and quarantined) since the lab was built.
    pub quarantined: u32,
    next_new: u32,
    rng: u64,
    scratch: Box<Scratch>,
    out: Box<[u8; 1500]>,
}

impl Lab {
    /// Builds the table and fills it.
    pub fn new(size: LabSize) -> Lab {
        let pool = size.leases + size.spare_addresses;
        let cfg = config(pool);
        let space = Arc::new(AddressSpace::new(&cfg));
        let plan = Arc::new(Plan::new(cfg, space, vec![IFACE]));
        let owned: Vec<u16> = (0..SHARDS).collect();
        let mut engine = Engine::new(plan.clone(), &owned, size.capacity_per_shard(), NOW);
        prefill(&plan, std::slice::from_mut(&mut engine), size.leases);
        for s in engine.shards_mut() {
            s.rebuild_free_lists(SHARDS);
        }
        Lab {
            plan,
            engine,
            now: NOW,
            size,
            quarantined: 0,
            next_new: size.leases,
            rng: 0x9e37_79b9_7f4a_7c15,
            scratch: Box::default(),
            out: Box::new([0; 1500]),
        }
    }

    /// Builds it again from scratch (when the headroom is used up).
    pub fn rebuild(&mut self) {
        *self = Lab::new(self.size);
    }

    /// A client never seen before.
    pub fn new_client(&mut self) -> u32 {
        let id = self.next_new;
        self.next_new += 1;
        id
    }

    /// New bindings the fullest shard still has room for, and spare pool addresses left;
    /// the smaller of the two.
    pub fn room(&self) -> usize {
        let bindings = self
            .engine
            .shards()
            .iter()
            .map(|s| s.capacity() - s.len())
            .min()
            .unwrap_or(0);
        let addresses = self.size.spare_addresses.saturating_sub(self.quarantined) as usize;
        bindings.min(addresses)
    }

    /// `n` distinct prefilled clients (`n` at most `leases`), from a pseudo-random start:
    /// `start + j * P mod leases` with `P` a prime that divides no table size used here.
    pub fn prefilled(&mut self, n: usize) -> impl Iterator<Item = u32> + use<> {
        const P: u64 = 2_654_435_761;
        let leases = u64::from(self.size.leases);
        assert!(n as u64 <= leases, "{n} distinct clients out of {leases}");
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let start = self.rng % leases;
        (0..n as u64).map(move |j| ((start + j * P) % leases) as u32)
    }

    /// Rebuilds the lab unless `n` more new clients fit.
    pub fn ensure_room(&mut self, n: usize) {
        if self.room() < n + 1024 {
            self.rebuild();
        }
    }

    /// The shard owning client `id`.
    pub fn shard_of(&mut self, id: u32) -> &mut Shard {
        let s = self.plan.shard_of(&key(id));
        self.engine
            .shard_mut(s)
            .expect("the engine owns every shard")
    }

    /// One datagram through parse → decide → write, as a worker handles it. Returns what the
    /// engine decided; a reply is written into the lab's output buffer.
    #[inline]
    pub fn serve(&mut self, msg: &[u8]) -> Option<Outcome> {
        let pkt = DhcpPacket::new_checked(msg).ok()?;
        let opts = pkt.options().ok()?;
        let req = emit::request(&pkt, &opts, IFACE, &mut self.scratch).ok()?;
        let outcome = self.engine.handle(self.now, &req);
        self.engine.journal().clear();
        if let Outcome::Reply(plan) = &outcome {
            emit::write_reply(&self.plan, &pkt, &opts, plan, &mut self.out[..]).ok()?;
        }
        Some(outcome)
    }
}
