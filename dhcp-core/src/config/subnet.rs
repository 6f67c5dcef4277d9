//! One `[[subnet]]` -> a [`Draft`]: everything that parsed, with the file positions the
//! cross-subnet checks of [`super::build`] need for their messages. A draft becomes a
//! [`Subnet`] only when the whole file is free of problems.

use std::net::Ipv4Addr;

use super::defaults::{ADDRESS_LIST_MAX, OPTION_VALUE_MAX};
use super::error::Problems;
use super::file::{OptionDataFile, ReservationFile, SubnetFile};
use super::lease::LeaseSettings;
use super::model::{
    AddrRange, Ipv4Net, LeaseTimes, Reservation, ReservationKey, StaticRoute, Subnet, SubnetId,
    SubnetOptions, VendorClass,
};
use super::values;

/// Longest `shared-network` name.
const SHARED_NETWORK_NAME_MAX: usize = 64;

/// Why an option code cannot be set through `option-data`, or `None` when it can. These are the
/// codes with a dedicated key and the codes the engine writes itself.
pub fn managed_option(code: u8) -> Option<&'static str> {
    Some(match code {
        0 | 255 => "is pad/end, not an option",
        1 => "(subnet mask) comes from `network`",
        3 => "(routers) is set with `routers`",
        6 => "(DNS servers) is set with `dns-servers`",
        12 => "(host name) is set with `hostname` in a reservation",
        15 => "(domain name) is set with `domain-name`",
        26 => "(interface MTU) is set with `mtu`",
        42 => "(NTP servers) is set with `ntp-servers`",
        43 => "(vendor-specific information) is set with `vendor-classes`",
        50..=61 => "is part of the DHCP exchange and written by the server",
        82 => "(relay agent information) belongs to the relay",
        118 => "(subnet selection) is the client's or relay's",
        121 => "(classless static routes) is set with `classless-static-routes`",
        _ => return None,
    })
}

/// A range as the operator wrote it: one address alone, or `first-last`.
pub(crate) fn show(r: &AddrRange) -> String {
    if r.start == r.end {
        r.start.to_string()
    } else {
        r.to_string()
    }
}

/// A reservation that parsed, with where it came from.
#[derive(Debug)]
pub(crate) struct Reserved {
    /// Position in `subnet[i].reservations`.
    pub at: usize,
    /// Which identifier key it used (`hw-address`, `circuit-id`, ...).
    pub id_key: &'static str,
    /// The identifier as written.
    pub shown: String,
    pub reservation: Reservation,
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

/// Parses an address list; each must pass `check`.
fn address_list(
    key: &str,
    list: &[String],
    p: &mut Problems,
    check: impl Fn(Ipv4Addr) -> Result<(), String>,
) -> Vec<Ipv4Addr> {
    if list.len() > ADDRESS_LIST_MAX {
        p.push(
            key,
            format!(
                "{} addresses; at most {ADDRESS_LIST_MAX} fit one option",
                list.len()
            ),
        );
    }
    let mut out = Vec::with_capacity(list.len());
    for (j, s) in list.iter().enumerate() {
        let k = format!("{key}[{j}]");
        let Some(a) = p.check(&k, values::unicast(s).and_then(|a| check(a).map(|()| a))) else {
            continue;
        };
        if out.contains(&a) {
            p.push(&k, format!("{a} is listed twice"));
        } else {
            out.push(a);
        }
    }
    out
}

fn options(d: &Draft, f: &SubnetFile, p: &mut Problems) -> SubnetOptions {
    let key = &d.key;
    let routers = address_list(&format!("{key}.routers"), &f.routers, p, |a| {
        d.network.map_or(Ok(()), |n| check_host(n, a))?;
        d.check_not_dynamic(a)
    });
    let anywhere = |_| Ok(());
    let dns_servers = address_list(&format!("{key}.dns-servers"), &f.dns_servers, p, anywhere);
    let ntp_servers = address_list(&format!("{key}.ntp-servers"), &f.ntp_servers, p, anywhere);
    let domain_name = (f.domain_name.as_deref()).and_then(|n| {
        p.check(format!("{key}.domain-name"), values::dns_name(n))
            .map(|()| n.to_owned())
    });
    let mtu = f.mtu.and_then(|m| {
        let r = u16::try_from(m)
            .ok()
            .filter(|&m| m >= 68)
            .ok_or_else(|| format!("{m} is not an MTU (68 to 65535)"));
        p.check(format!("{key}.mtu"), r)
    });
    SubnetOptions {
        routers,
        dns_servers,
        domain_name,
        mtu,
        ntp_servers,
        classless_static_routes: routes(d, f, p),
        extra: extra_options(key, &f.option_data, p),
    }
}

fn routes(d: &Draft, f: &SubnetFile, p: &mut Problems) -> Vec<StaticRoute> {
    let mut out: Vec<StaticRoute> = Vec::with_capacity(f.classless_static_routes.len());
    for (j, r) in f.classless_static_routes.iter().enumerate() {
        let k = format!("{}.classless-static-routes[{j}]", d.key);
        let destination = p.check(format!("{k}.destination"), values::net(&r.destination));
        let gateway = values::addr(&r.gateway).and_then(|g| match d.network {
            // 0.0.0.0 means on-link (RFC 3442); any other next hop must be on the client's link.
            Some(n) if !g.is_unspecified() => check_host(n, g).map(|()| g).map_err(|e| {
                format!("{e}; a next hop must be on the client's link (0.0.0.0 = on-link)")
            }),
            _ => Ok(g),
        });
        let gateway = p.check(format!("{k}.gateway"), gateway);
        let (Some(destination), Some(gateway)) = (destination, gateway) else {
            continue;
        };
        if out.iter().any(|o| o.destination == destination) {
            p.push(
                format!("{k}.destination"),
                format!("{destination} is routed twice"),
            );
            continue;
        }
        out.push(StaticRoute {
            destination,
            gateway,
        });
    }
    out
}

fn extra_options(key: &str, list: &[OptionDataFile], p: &mut Problems) -> Vec<(u8, Vec<u8>)> {
    let mut out: Vec<(u8, Vec<u8>)> = Vec::with_capacity(list.len());
    // Where each accepted code was set, for the duplicate message.
    let mut set_at: Vec<(u8, usize)> = Vec::with_capacity(list.len());
    for (j, o) in list.iter().enumerate() {
        let k = format!("{key}.option-data[{j}]");
        let code = match u8::try_from(o.code) {
            Ok(c) => match managed_option(c) {
                Some(why) => {
                    p.push(format!("{k}.code"), format!("option {c} {why}"));
                    None
                }
                None => Some(c),
            },
            Err(_) => {
                p.push(
                    format!("{k}.code"),
                    format!("{} is not an option code (1-254)", o.code),
                );
                None
            }
        };
        let value = option_value(o).and_then(|v| {
            if v.len() > OPTION_VALUE_MAX {
                Err(format!(
                    "{} bytes is longer than the limit of {OPTION_VALUE_MAX}",
                    v.len()
                ))
            } else {
                Ok(v)
            }
        });
        let value = p.check(&k, value);
        let (Some(code), Some(value)) = (code, value) else {
            continue;
        };
        if let Some((_, first)) = set_at.iter().find(|(c, _)| *c == code) {
            p.push(
                format!("{k}.code"),
                format!("option {code} is already set by {key}.option-data[{first}]"),
            );
            continue;
        }
        set_at.push((code, j));
        out.push((code, value));
    }
    out
}

/// The bytes of an `option-data` entry: exactly one of `hex`, `text`, `addresses`.
fn option_value(o: &OptionDataFile) -> Result<Vec<u8>, String> {
    match (&o.hex, &o.text, &o.addresses) {
        (Some(h), None, None) => values::hex(h),
        (None, Some(t), None) => Ok(t.as_bytes().to_vec()),
        (None, None, Some(list)) => {
            let mut bytes = Vec::with_capacity(4 * list.len());
            for a in list {
                bytes.extend_from_slice(&values::addr(a)?.octets());
            }
            Ok(bytes)
        }
        _ => Err("needs exactly one of `hex`, `text`, `addresses`".into()),
    }
}

fn vendor_classes(key: &str, f: &SubnetFile, p: &mut Problems) -> Vec<VendorClass> {
    let mut out: Vec<VendorClass> = Vec::with_capacity(f.vendor_classes.len());
    for (j, v) in f.vendor_classes.iter().enumerate() {
        let k = format!("{key}.vendor-classes[{j}]");
        let prefix = v.class_match.as_bytes().to_vec();
        let class_prefix = if prefix.is_empty() {
            p.push(
                format!("{k}.match"),
                "an empty match would match every client",
            );
            None
        } else if out.iter().any(|c| c.class_prefix == prefix) {
            p.push(
                format!("{k}.match"),
                format!("`{}` is matched twice", v.class_match),
            );
            None
        } else {
            Some(prefix)
        };
        let option_43 = values::hex(&v.option_43).and_then(|b| match b.len() {
            0 => Err("an empty option 43 tells the client nothing".to_owned()),
            n if n > OPTION_VALUE_MAX => Err(format!(
                "{n} bytes is longer than the limit of {OPTION_VALUE_MAX}"
            )),
            _ => Ok(b),
        });
        let option_43 = p.check(format!("{k}.option-43"), option_43);
        if let (Some(class_prefix), Some(option_43)) = (class_prefix, option_43) {
            out.push(VendorClass {
                class_prefix,
                option_43,
            });
        }
    }
    out
}

/// The identifier keys of a reservation, in the order they are named in messages.
const IDENTIFIERS: [&str; 6] = [
    "hw-address",
    "client-id",
    "circuit-id",
    "circuit-id-hex",
    "remote-id",
    "remote-id-hex",
];

fn reservation(d: &Draft, j: usize, r: &ReservationFile, p: &mut Problems) -> Option<Reserved> {
    let k = format!("{}.reservations[{j}]", d.key);
    let given: Vec<(&'static str, &String)> = IDENTIFIERS
        .into_iter()
        .zip([
            &r.hw_address,
            &r.client_id,
            &r.circuit_id,
            &r.circuit_id_hex,
            &r.remote_id,
            &r.remote_id_hex,
        ])
        .filter_map(|(name, v)| Some((name, v.as_ref()?)))
        .collect();
    let id = match given.as_slice() {
        [(name, value)] => p
            .check(format!("{k}.{name}"), reservation_key(name, value))
            .map(|key| (*name, (*value).clone(), key)),
        _ => {
            let found = match given.as_slice() {
                [] => "none".to_owned(),
                many => many
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(" and "),
            };
            p.push(
                &k,
                format!(
                    "needs exactly one of {}; found {found}",
                    IDENTIFIERS.join(", ")
                ),
            );
            None
        }
    };
    let address = values::unicast(&r.ip_address).and_then(|a| {
        if let Some(n) = d.network {
            check_host(n, a)?;
        }
        if let Some((pj, pool)) = d.pool_of(a) {
            return Err(format!(
                "{a} is inside {}.pools[{pj}] ({}); reserved addresses must be outside the pools",
                d.key,
                show(&pool)
            ));
        }
        if d.options.routers.contains(&a) {
            return Err(format!("{a} is a router of this subnet"));
        }
        if d.server_id == Some(a) {
            return Err(format!("{a} is the server-id of this subnet"));
        }
        Ok(a)
    });
    let address = p.check(format!("{k}.ip-address"), address);
    let hostname = match &r.hostname {
        None => Some(None),
        Some(h) => p
            .check(format!("{k}.hostname"), values::dns_name(h))
            .map(|()| Some(h.clone())),
    };
    let ((id_key, shown, key), address, hostname) = (id?, address?, hostname?);
    Some(Reserved {
        at: j,
        id_key,
        shown,
        reservation: Reservation {
            key,
            address,
            hostname,
        },
    })
}

fn reservation_key(name: &str, value: &str) -> Result<ReservationKey, String> {
    // Relay agent sub-options and option 61 carry a one-byte length.
    let sized = |bytes: Vec<u8>, min: usize| {
        if (min..=255).contains(&bytes.len()) {
            Ok(bytes)
        } else {
            Err(format!(
                "`{value}` is {} bytes; {min} to 255 are allowed",
                bytes.len()
            ))
        }
    };
    match name {
        "hw-address" => {
            let bytes = values::hex(value)?;
            let mac: [u8; 6] = (bytes.as_slice().try_into())
                .map_err(|_| format!("`{value}` is not a 6-byte hardware address"))?;
            if mac == [0; 6] || mac[0] & 1 == 1 {
                return Err(format!("`{value}` is not a unicast hardware address"));
            }
            Ok(ReservationKey::HwAddress(mac))
        }
        "client-id" => Ok(ReservationKey::ClientId(sized(values::hex(value)?, 2)?)),
        "circuit-id" => Ok(ReservationKey::CircuitId(sized(
            value.as_bytes().to_vec(),
            1,
        )?)),
        "circuit-id-hex" => Ok(ReservationKey::CircuitId(sized(values::hex(value)?, 1)?)),
        "remote-id" => Ok(ReservationKey::RemoteId(sized(
            value.as_bytes().to_vec(),
            1,
        )?)),
        _ => Ok(ReservationKey::RemoteId(sized(values::hex(value)?, 1)?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn managed_codes_are_exactly_the_listed_ones() {
        let managed: Vec<u8> = (0..=255).filter(|&c| managed_option(c).is_some()).collect();
        let mut expected = vec![0, 1, 3, 6, 12, 15, 26, 42, 43];
        expected.extend(50..=61);
        expected.extend([82, 118, 121, 255]);
        assert_eq!(managed, expected);
    }

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

    #[test]
    fn reservation_keys() {
        assert_eq!(
            reservation_key("hw-address", "02-00-00-00-00-01"),
            Ok(ReservationKey::HwAddress([2, 0, 0, 0, 0, 1]))
        );
        assert_eq!(
            reservation_key("hw-address", "02:00:00:00:01").unwrap_err(),
            "`02:00:00:00:01` is not a 6-byte hardware address"
        );
        assert!(reservation_key("hw-address", "01:00:5e:00:00:01").is_err());
        assert_eq!(
            reservation_key("client-id", "01").unwrap_err(),
            "`01` is 1 bytes; 2 to 255 are allowed"
        );
        assert_eq!(
            reservation_key("circuit-id", "eth0/1/2"),
            Ok(ReservationKey::CircuitId(b"eth0/1/2".to_vec()))
        );
        assert_eq!(
            reservation_key("circuit-id-hex", "65:74:68"),
            Ok(ReservationKey::CircuitId(b"eth".to_vec()))
        );
        assert_eq!(
            reservation_key("remote-id-hex", "0102"),
            Ok(ReservationKey::RemoteId(vec![1, 2]))
        );
        assert!(reservation_key("remote-id", "").is_err());
    }
}
