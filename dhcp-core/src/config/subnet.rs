//! One `[[subnet]]` -> a [`Draft`]: everything that parsed, with the file positions the
//! cross-subnet checks of [`super::build`] need for their messages. A draft becomes a
//! [`Subnet`] only when the whole file is free of problems.

use std::net::Ipv4Addr;

use super::error::Problems;
use super::file::{ReservationFile, SubnetFile};
use super::lease::LeaseSettings;
use super::model::{AddrRange, Ipv4Net, LeaseTimes, Subnet, SubnetId, SubnetOptions, VendorClass};
use super::options::{options, vendor_classes};
use super::reservation::{Reserved, reservation};
use super::values;

/// Longest `shared-network` name.
const SHARED_NETWORK_NAME_MAX: usize = 64;

/// A range as the operator wrote it: one address alone, or `first-last`.
pub(crate) fn show(r: &AddrRange) -> String {
    if r.start == r.end {
        r.start.to_string()
    } else {
        r.to_string()
    }
}

/// What parsed of one subnet. Lists keep each entry's position in the file.
#[derive(Debug)]
pub(crate) struct Draft {
    /// `subnet[i]`.
    pub key: String,
    pub id: Option<SubnetId>,
    pub network: Option<Ipv4Net>,
    pub pools: Vec<(usize, AddrRange)>,
    pub exclusions: Vec<(usize, AddrRange)>,
    pub lease: Option<LeaseTimes>,
    pub options: SubnetOptions,
    pub vendor_classes: Vec<VendorClass>,
    pub reservations: Vec<Reserved>,
    pub shared_network: Option<String>,
    pub server_id: Option<Ipv4Addr>,
}

impl Draft {
    /// The pool holding `a`, if any.
    pub(crate) fn pool_of(&self, a: Ipv4Addr) -> Option<(usize, AddrRange)> {
        self.pools.iter().copied().find(|(_, r)| r.contains(a))
    }

    /// The pool that may hand `a` out: holds it and no exclusion covers it.
    pub(crate) fn dynamic(&self, a: Ipv4Addr) -> Option<(usize, AddrRange)> {
        self.pool_of(a)
            .filter(|_| !self.exclusions.iter().any(|(_, x)| x.contains(a)))
    }

    /// "10.0.0.7 is inside subnet[0].pools[1] (10.0.0.1-10.0.0.9) and not excluded" when `a`
    /// can be handed out.
    pub(crate) fn check_not_dynamic(&self, a: Ipv4Addr) -> Result<(), String> {
        match self.dynamic(a) {
            Some((j, r)) => Err(format!(
                "{a} is inside {}.pools[{j}] ({}) and not excluded",
                self.key,
                show(&r)
            )),
            None => Ok(()),
        }
    }

    /// The model subnet; `None` when a required part did not parse.
    pub(crate) fn finish(self) -> Option<Subnet> {
        Some(Subnet {
            id: self.id?,
            network: self.network?,
            pools: self.pools.into_iter().map(|(_, r)| r).collect(),
            exclusions: self.exclusions.into_iter().map(|(_, r)| r).collect(),
            lease: self.lease?,
            options: self.options,
            vendor_classes: self.vendor_classes,
            reservations: (self.reservations.into_iter())
                .map(|r| r.reservation)
                .collect(),
            shared_network: self.shared_network,
            server_id: self.server_id,
        })
    }
}

/// Converts subnet `i`; `lease` is the effective `[lease]` (`None` when it had problems, and
/// then this subnet's lease keys are not checked against it).
pub(crate) fn draft(
    i: usize,
    f: &SubnetFile,
    reservations: &[Option<ReservationFile>],
    lease: Option<&LeaseSettings>,
    p: &mut Problems,
) -> Draft {
    let key = format!("subnet[{i}]");
    let id = if f.id == 0 {
        p.push(format!("{key}.id"), "subnet ids start at 1");
        None
    } else {
        Some(SubnetId(f.id))
    };
    let network = p
        .check(format!("{key}.network"), values::net(&f.network))
        .and_then(|n| {
            let r = if n.prefix > 30 {
                Err(format!(
                    "{n} has no room for clients; the smallest subnet is a /30"
                ))
            } else {
                Ok(n)
            };
            p.check(format!("{key}.network"), r)
        });
    let mut d = Draft {
        lease: lease.and_then(|l| {
            l.overlay(&f.lease, &format!("{key}.lease"), p)
                .map(|l| l.times())
        }),
        pools: pools(&key, &f.pools, network, p),
        exclusions: Vec::new(),
        options: SubnetOptions::default(),
        vendor_classes: Vec::new(),
        reservations: Vec::new(),
        shared_network: shared_network(&key, f.shared_network.as_deref(), p),
        server_id: (f.server_id.as_deref())
            .and_then(|s| p.check(format!("{key}.server-id"), values::unicast(s))),
        key,
        id,
        network,
    };
    d.exclusions = exclusions(&d, &f.exclusions, p);
    d.options = options(&d, f, p);
    d.vendor_classes = vendor_classes(&d.key, f, p);
    if let Some(a) = d.server_id {
        p.check(format!("{}.server-id", d.key), d.check_not_dynamic(a));
    }
    d.reservations = (reservations.iter().enumerate())
        .filter_map(|(j, r)| reservation(&d, j, r.as_ref()?, p))
        .collect();
    d
}

/// `a` is a host address of `net`: inside, and neither its network nor its broadcast address.
pub(crate) fn check_host(net: Ipv4Net, a: Ipv4Addr) -> Result<(), String> {
    if !net.contains(a) {
        Err(format!("{a} is outside the subnet {net}"))
    } else if a == net.addr {
        Err(format!("{a} is the network address of {net}"))
    } else if a == net.broadcast() {
        Err(format!("{a} is the broadcast address of {net}"))
    } else {
        Ok(())
    }
}

fn pools(
    key: &str,
    pools: &[String],
    network: Option<Ipv4Net>,
    p: &mut Problems,
) -> Vec<(usize, AddrRange)> {
    let mut out = Vec::with_capacity(pools.len());
    for (j, s) in pools.iter().enumerate() {
        let k = format!("{key}.pools[{j}]");
        let Some(r) = p.check(&k, values::range(s)) else {
            continue;
        };
        if let Some(n) = network {
            let (first, last) = (n.contains(r.start), n.contains(r.end));
            let shown = show(&r);
            if !first && !last {
                p.push(&k, format!("{shown} is outside the subnet {n}"));
            } else if !first || !last {
                p.push(&k, format!("{shown} reaches outside the subnet {n}"));
            } else if r.contains(n.addr) {
                p.push(
                    &k,
                    format!("{shown} includes the network address {} of {n}", n.addr),
                );
            } else if r.contains(n.broadcast()) {
                p.push(
                    &k,
                    format!(
                        "{shown} includes the broadcast address {} of {n}",
                        n.broadcast()
                    ),
                );
            }
        }
        out.push((j, r));
    }
    out
}

fn exclusions(d: &Draft, list: &[String], p: &mut Problems) -> Vec<(usize, AddrRange)> {
    let mut out = Vec::with_capacity(list.len());
    for (j, s) in list.iter().enumerate() {
        let k = format!("{}.exclusions[{j}]", d.key);
        let Some(r) = p.check(&k, values::range(s)) else {
            continue;
        };
        // Exclusions carve addresses out of pools; one that no pool holds is a stale entry or
        // a typo, and would silently protect nothing.
        let inside = d
            .pools
            .iter()
            .any(|(_, pool)| pool.contains(r.start) && pool.contains(r.end));
        if !inside {
            p.push(
                &k,
                format!("{} is not inside any one pool of this subnet", show(&r)),
            );
        }
        out.push((j, r));
    }
    let items: Vec<_> = (out.iter())
        .map(|(j, r)| (*r, format!("{}.exclusions[{j}]", d.key), show(r)))
        .collect();
    report_overlaps(&items, p);
    out
}

fn shared_network(key: &str, name: Option<&str>, p: &mut Problems) -> Option<String> {
    let name = name?;
    let ok = !name.is_empty()
        && name.len() <= SHARED_NETWORK_NAME_MAX
        && !name.chars().any(char::is_control);
    if ok {
        Some(name.to_owned())
    } else {
        p.push(
            format!("{key}.shared-network"),
            format!("a shared network name is 1 to {SHARED_NETWORK_NAME_MAX} printable characters"),
        );
        None
    }
}

/// Reports each range that shares an address with an earlier one (by start address), on the
/// one that comes later in the file. `items` are (range, key, shown) in file order.
pub(crate) fn report_overlaps(items: &[(AddrRange, String, String)], p: &mut Problems) {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_key(|&i| (items[i].0.start, i));
    // The range reaching furthest among those seen so far: anything starting before its end
    // overlaps it.
    let mut widest: Option<usize> = None;
    for i in order {
        if let Some(w) = widest {
            if items[i].0.overlaps(&items[w].0) {
                let (later, earlier) = if i > w { (i, w) } else { (w, i) };
                p.push(
                    items[later].1.clone(),
                    format!(
                        "{} overlaps {} ({})",
                        items[later].2, items[earlier].1, items[earlier].2
                    ),
                );
            }
        }
        if widest.is_none_or(|w| items[i].0.end > items[w].0.end) {
            widest = Some(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_addresses() {
        let n = values::net("10.0.0.0/24").unwrap();
        let a = |s: &str| s.parse().unwrap();
        assert!(check_host(n, a("10.0.0.1")).is_ok());
        assert_eq!(
            check_host(n, a("10.0.0.0")).unwrap_err(),
            "10.0.0.0 is the network address of 10.0.0.0/24"
        );
        assert_eq!(
            check_host(n, a("10.0.0.255")).unwrap_err(),
            "10.0.0.255 is the broadcast address of 10.0.0.0/24"
        );
        assert_eq!(
            check_host(n, a("10.0.1.1")).unwrap_err(),
            "10.0.1.1 is outside the subnet 10.0.0.0/24"
        );
    }

    #[test]
    fn overlaps_are_reported_on_the_later_entry() {
        let item = |s: &str, k: &str| (values::range(s).unwrap(), k.to_owned(), s.to_owned());
        let items = [
            item("10.0.0.50-10.0.0.60", "a"),
            item("10.0.0.1-10.0.0.100", "b"),
            item("10.0.0.200-10.0.0.210", "c"),
            item("10.0.0.90-10.0.0.95", "d"),
            item("10.0.0.210", "e"),
        ];
        let mut p = Problems::default();
        report_overlaps(&items, &mut p);
        let got: Vec<String> = (p.into_errors().iter())
            .map(|e| format!("{}: {}", e.key, e.reason))
            .collect();
        assert_eq!(
            got,
            [
                "b: 10.0.0.1-10.0.0.100 overlaps a (10.0.0.50-10.0.0.60)",
                "d: 10.0.0.90-10.0.0.95 overlaps b (10.0.0.1-10.0.0.100)",
                "e: 10.0.0.210 overlaps c (10.0.0.200-10.0.0.210)",
            ]
        );
    }
}
