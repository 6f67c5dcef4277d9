//! Lease-table operations on one worker's shards, without the packet path, on tables holding
//! 1 M and 4 M ACTIVE leases (four shards). One iteration is one operation on one client:
//! - `lookup`: client key → shard → binding (`Shard::find`);
//! - `renew`: lookup, then a new lease end (`set_lease`: the binding moves in the expiry wheel);
//! - `allocate`: a prefilled client takes the next free address (`Shard::allocate`: free list,
//!   compare-and-swap of the slot) and so gives back the one it held; the original addresses
//!   are taken back untimed after each chunk. The binding is found untimed first, so it is in
//!   the caches, as it is when the engine allocates right after finding or creating it;
//! - `expire`: one lease processed by the expiry wheel — chunks of 1024 leases are set to end
//!   at the next second (untimed), then that second is processed on every shard (`due`, and
//!   `let_go` to EXPIRED, as `Engine::tick` does) and timed; the leases are restored untimed.
//!   Setting the lease end brought those bindings into the caches, so this is the wheel's and
//!   the slots' work without the cache misses of bindings untouched for a lease time;
//! - `tick_idle`: one second of expiry wheel on every shard with nothing due (the cost of
//!   walking one bucket of leases that end in a later revolution).
use std::time::{Duration, Instant};

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use dhcp_core::{
    config::SubnetId,
    lease::{BindingState, ClientKey, Shard},
};
use xdhcp_benches::{
    drive::{CHUNK, Case, build_lab, table_groups},
    lab::{LEASE_END_MIN, Lab, LabSize, NOW, key, lease_addr, lease_binding},
};

struct Run {
    lab: Lab,
    ids: Vec<u32>,
    keys: Vec<ClientKey>,
    /// (shard, binding index) of each client in `ids`.
    at: Vec<(u16, u32)>,
    pools: Vec<u32>,
}

impl Run {
    fn new(size: LabSize) -> Run {
        let lab = build_lab(size);
        let pools = lab.plan.group_pools(0).to_vec();
        Run {
            lab,
            ids: Vec::with_capacity(CHUNK),
            keys: Vec::with_capacity(CHUNK),
            at: Vec::with_capacity(CHUNK),
            pools,
        }
    }

    /// `n` distinct prefilled clients and their keys. The table is not touched, so what a
    /// timed part reads of it is not in the caches because of the set-up.
    fn pick(&mut self, n: usize) {
        self.lab.now += 1;
        self.ids.clear();
        self.ids.extend(self.lab.prefilled(n));
        self.keys.clear();
        self.keys.extend(self.ids.iter().map(|&id| key(id)));
    }

    /// `n` distinct prefilled clients and where their bindings are (which brings the index
    /// slots and bindings into the caches).
    fn pick_located(&mut self, n: usize) {
        self.pick(n);
        self.at.clear();
        for k in &self.keys {
            let s = self.lab.plan.shard_of(k);
            let idx = self.lab.engine.shard_mut(s).and_then(|sh| sh.find(k));
            self.at
                .push((s, idx.expect("prefilled client has a binding")));
        }
    }

    /// Times finding each picked client's binding through its key, then `then` on it.
    fn find_each(&mut self, mut then: impl FnMut(&mut Shard, u32)) -> Duration {
        let mut found = 0usize;
        let t = Instant::now();
        for k in &self.keys {
            let s = self.lab.plan.shard_of(k);
            if let Some(sh) = self.lab.engine.shard_mut(s) {
                if let Some(idx) = sh.find(k) {
                    then(sh, idx);
                    found += 1;
                }
            }
        }
        let d = t.elapsed();
        assert_eq!(found, self.keys.len(), "prefilled clients not found");
        d
    }

    fn lookup(&mut self, n: usize) -> Duration {
        self.pick(n);
        self.find_each(|_, idx| {
            black_box(idx);
        })
    }

    fn renew(&mut self, n: usize) -> Duration {
        self.pick(n);
        let now = self.lab.now;
        self.find_each(|sh, idx| sh.set_lease(idx, BindingState::Active, now + LEASE_END_MIN, now))
    }

    fn allocate(&mut self, n: usize) -> Duration {
        self.pick_located(n);
        let now = self.lab.now;
        let mut taken = 0usize;
        let t = Instant::now();
        for &(s, idx) in &self.at {
            if let Some(sh) = self.lab.engine.shard_mut(s) {
                taken += usize::from(sh.allocate(idx, &self.pools, now).is_ok());
            }
        }
        let d = t.elapsed();
        assert_eq!(taken, n, "allocations failed");
        // Latest first: each client's original address was freed when it allocated, and only
        // clients after it can have taken that address since; they have given it back by then.
        for (&id, &(s, idx)) in self.ids.iter().zip(&self.at).rev() {
            let sh = self.lab.engine.shard_mut(s).expect("owned shard");
            sh.take(idx, lease_addr(id), SubnetId(1), false, now)
                .unwrap_or_else(|e| panic!("taking back {}: {e:?}", lease_addr(id)));
        }
        d
    }

    /// Processes every shard's expiries due at `now`; returns how many there were.
    fn expire_due(&mut self, now: u32) -> usize {
        let mut n = 0;
        for sh in self.lab.engine.shards_mut() {
            let due = sh.due(now, usize::MAX);
            for &idx in &due {
                sh.let_go(idx, BindingState::Expired, None, now);
            }
            n += due.len();
            sh.recycle_due(due);
        }
        n
    }

    fn expire(&mut self, n: usize) -> Duration {
        self.pick_located(n);
        let now = self.lab.now;
        assert_eq!(
            self.expire_due(now),
            0,
            "leases due before the bench set any"
        );
        for &(s, idx) in &self.at {
            let sh = self.lab.engine.shard_mut(s).expect("owned shard");
            sh.set_lease(idx, BindingState::Active, now + 1, now);
        }
        self.lab.now += 1;
        let t = Instant::now();
        let expired = self.expire_due(now + 1);
        let d = t.elapsed();
        assert_eq!(expired, n);
        for &id in &self.ids {
            let b = lease_binding(id);
            assert!(
                self.lab.shard_of(id).restore(&b, now + 1),
                "re-leasing {id}"
            );
        }
        d
    }

    fn tick_idle(&mut self, n: usize) -> Duration {
        let start = self.lab.now;
        assert_eq!(self.expire_due(start), 0);
        let t = Instant::now();
        let mut expired = 0;
        for s in 1..=n as u32 {
            expired += self.expire_due(start + s);
        }
        let d = t.elapsed();
        assert_eq!(expired, 0);
        self.lab.now = start + n as u32;
        assert!(
            self.lab.now < NOW + LEASE_END_MIN / 2,
            "the clock ran too far: prefilled leases would end"
        );
        d
    }
}

fn lease(c: &mut Criterion) {
    let sizes = [
        ("1M", LabSize::new(1_000_000, 1_000_000)),
        ("4M", LabSize::new(4_000_000, 1_000_000)),
    ];
    let cases: [(&str, Case<Run>); 5] = [
        // The wheel cases first, on the table as it was filled.
        ("expire", Run::expire),
        ("tick_idle", Run::tick_idle),
        ("lookup", Run::lookup),
        ("renew", Run::renew),
        ("allocate", Run::allocate),
    ];
    table_groups(c, "lease", &sizes, Run::new, &cases);
}

criterion_group!(benches, lease);
criterion_main!(benches);
