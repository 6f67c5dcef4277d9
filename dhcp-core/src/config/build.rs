//! The whole file -> [`Config`]: each piece converted on its own, then the checks that span
//! subnets (ids, overlaps, reservations), the server (interface addresses) and failover
//! relationships (names, partners, which subnets).

use std::collections::HashMap;
use std::net::Ipv4Addr;

use super::control::control;
use super::error::{ConfigErrors, Problems};
use super::failover::{self, FailoverDraft};
use super::file::ConfigFile;
use super::lease::LeaseSettings;
use super::model::{AddrRange, Config, ReservationKey, ServerSettings, SubnetId};
use super::server::server;
use super::source::Pieces;
use super::subnet::{Draft, draft, report_overlaps, show};

impl TryFrom<ConfigFile> for Config {
    type Error = ConfigErrors;

    /// Checks file structs built in code; errors carry keys but no file or line (see
    /// [`ConfigErrors`]). [`super::parse`] is the way in from text.
    fn try_from(f: ConfigFile) -> Result<Self, ConfigErrors> {
        let mut p = Problems::default();
        build(&Pieces::from(f), &mut p).ok_or_else(|| p.into_errors())
    }
}

impl From<ConfigFile> for Pieces {
    /// Every piece present, as when each deserialized.
    fn from(f: ConfigFile) -> Self {
        let subnets = (f.subnet.into_iter())
            .map(|mut s| {
                let reservations = std::mem::take(&mut s.reservations);
                Some((s, reservations.into_iter().map(Some).collect()))
            })
            .collect();
        Pieces {
            server: Some(f.server),
            lease: Some(f.lease),
            subnets,
            failover: f.failover.into_iter().map(Some).collect(),
            control: Some(f.control),
        }
    }
}

/// Converts and checks what was read; `Some` only when `p` is (and stays) empty.
pub(crate) fn build(pieces: &Pieces, p: &mut Problems) -> Option<Config> {
    let server = pieces.server.as_ref().and_then(|s| server(s, p));
    let control = pieces.control.as_ref().and_then(|c| control(c, p));
    let lease =
        (pieces.lease.as_ref()).and_then(|l| LeaseSettings::built_in().overlay(l, "lease", p));
    let drafts: Vec<Draft> = (pieces.subnets.iter().enumerate())
        .filter_map(|(i, s)| {
            let (file, reservations) = s.as_ref()?;
            Some(draft(i, file, reservations, lease.as_ref(), p))
        })
        .collect();

    unique_ids(&drafts, p);
    let networks: Vec<_> = (drafts.iter())
        .filter_map(|d| {
            let n = d.network?;
            let range = AddrRange {
                start: n.addr,
                end: n.broadcast(),
            };
            Some((range, format!("{}.network", d.key), n.to_string()))
        })
        .collect();
    report_overlaps(&networks, p);
    let pools: Vec<_> = (drafts.iter())
        .flat_map(|d| (d.pools.iter()).map(|(j, r)| (*r, format!("{}.pools[{j}]", d.key), show(r))))
        .collect();
    report_overlaps(&pools, p);
    let reserved = unique_reservations(&drafts, p);
    if let Some(s) = &server {
        interface_addresses(s, &drafts, &reserved, p);
    }
    let relationships: Vec<FailoverDraft> = (pieces.failover.iter().enumerate())
        .filter_map(|(i, f)| Some(failover::draft(i, f.as_ref()?, p)))
        .collect();
    let subnets_complete =
        pieces.subnets.iter().all(Option::is_some) && drafts.iter().all(|d| d.id.is_some());
    failover::check_across(
        &relationships,
        &drafts,
        subnets_complete,
        server.as_ref(),
        &reserved,
        p,
    );

    if !p.is_empty() {
        return None;
    }
    let subnets = drafts
        .into_iter()
        .map(Draft::finish)
        .collect::<Option<_>>()?;
    let failover = (relationships.into_iter())
        .map(FailoverDraft::finish)
        .collect::<Option<_>>()?;
    Some(Config {
        server: server?,
        subnets,
        failover,
        control: control?,
    })
}

fn unique_ids(drafts: &[Draft], p: &mut Problems) {
    let mut seen: HashMap<SubnetId, &str> = HashMap::new();
    for d in drafts {
        let Some(id) = d.id else { continue };
        if let Some(first) = seen.insert(id, &d.key) {
            p.push(
                format!("{}.id", d.key),
                format!("id {} is already used by {first}", id.0),
            );
            seen.insert(id, first);
        }
    }
}

/// Where a reservation identifier must be unique. A client's own identity (hw-address,
/// client-id) is unique in the whole file; relay identifiers (circuit-id, remote-id) are named
/// by each relay for itself, so they need only be unique where one client could show up: its
/// shared network, or its subnet.
#[derive(Clone, PartialEq, Eq, Hash)]
enum Scope<'a> {
    Everywhere,
    SharedNetwork(&'a str),
    Subnet(usize),
}

/// Reports reservation identifiers and addresses used twice; returns who reserved each address.
fn unique_reservations(drafts: &[Draft], p: &mut Problems) -> HashMap<Ipv4Addr, String> {
    let mut ids: HashMap<(Scope<'_>, &ReservationKey), String> = HashMap::new();
    let mut addresses: HashMap<Ipv4Addr, String> = HashMap::new();
    for (i, d) in drafts.iter().enumerate() {
        for r in &d.reservations {
            let key = format!("{}.reservations[{}]", d.key, r.at);
            let scope = match (&r.reservation.key, &d.shared_network) {
                (ReservationKey::HwAddress(_) | ReservationKey::ClientId(_), _) => {
                    Scope::Everywhere
                }
                (_, Some(name)) => Scope::SharedNetwork(name),
                (_, None) => Scope::Subnet(i),
            };
            let id = (scope, &r.reservation.key);
            if let Some(first) = ids.get(&id) {
                p.push(
                    format!("{key}.{}", r.id_key),
                    format!("`{}` is already reserved by {first}", r.shown),
                );
            } else {
                ids.insert(id, key.clone());
            }
            let a = r.reservation.address;
            if let Some(first) = addresses.get(&a) {
                p.push(
                    format!("{key}.ip-address"),
                    format!("{a} is already reserved by {first}"),
                );
            } else {
                addresses.insert(a, key);
            }
        }
    }
    addresses
}

/// The server's own addresses must not be handed to clients.
fn interface_addresses(
    s: &ServerSettings,
    drafts: &[Draft],
    reserved: &HashMap<Ipv4Addr, String>,
    p: &mut Problems,
) {
    for (k, iface) in s.interfaces.iter().enumerate() {
        let Some(a) = iface.address else { continue };
        let key = format!("server.interfaces[{k}].address");
        for d in drafts {
            p.check(&key, d.check_not_dynamic(a));
        }
        if let Some(by) = reserved.get(&a) {
            p.push(&key, format!("{a} is reserved by {by}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::file::ReservationFile;

    fn pieces(text: &str) -> Pieces {
        Pieces::from(toml_edit::de::from_str::<ConfigFile>(text).unwrap())
    }

    fn keys(p: Problems) -> Vec<String> {
        (p.into_errors().iter())
            .map(|e| format!("{}: {}", e.key, e.reason))
            .collect()
    }

    const TEXT: &str = r#"
[server]
interfaces = ["eth0"]
[[subnet]]
id = 1
network = "10.0.0.0/24"
[[subnet]]
id = 2
network = "10.0.1.0/24"
[[subnet.reservations]]
hw-address = "02:00:00:00:00:01"
ip-address = "10.0.1.10"
[[subnet.reservations]]
hw-address = "02:00:00:00:00:01"
ip-address = "10.0.1.11"
"#;

    #[test]
    fn pieces_that_could_not_be_read_keep_the_others_in_place() {
        let mut p = pieces(TEXT);
        // As if subnet[0] and the first reservation of subnet[1] had failed to deserialize:
        // the rest is still checked, under its own position.
        p.subnets[0] = None;
        if let Some((_, r)) = &mut p.subnets[1] {
            r[0] = None;
        }
        let mut problems = Problems::default();
        problems.push("subnet[0].id", "(stands for the deserialization error)");
        assert!(build(&p, &mut problems).is_none());
        assert_eq!(
            keys(problems),
            ["subnet[0].id: (stands for the deserialization error)"]
        );

        let mut p = pieces(TEXT);
        if let Some((s, r)) = &mut p.subnets[1] {
            s.id = 1;
            r.push(Some(ReservationFile {
                ip_address: "10.0.1.10".into(),
                remote_id: Some("x".into()),
                ..r[0].clone().unwrap()
            }));
        }
        let mut problems = Problems::default();
        assert!(build(&p, &mut problems).is_none());
        assert_eq!(
            keys(problems),
            [
                "subnet[1].reservations[2]: needs exactly one of hw-address, client-id, \
                 circuit-id, circuit-id-hex, remote-id, remote-id-hex; found hw-address and \
                 remote-id",
                "subnet[1].id: id 1 is already used by subnet[0]",
                "subnet[1].reservations[1].hw-address: `02:00:00:00:00:01` is already reserved \
                 by subnet[1].reservations[0]",
            ]
        );
    }

    #[test]
    fn a_clean_file_builds_in_file_order() {
        let mut p = pieces(TEXT);
        if let Some((_, r)) = &mut p.subnets[1] {
            r.pop();
        }
        let mut problems = Problems::default();
        let c = build(&p, &mut problems).unwrap();
        assert!(problems.is_empty());
        let ids: Vec<u32> = c.subnets.iter().map(|s| s.id.0).collect();
        assert_eq!(ids, [1, 2]);
        assert_eq!(c.subnets[1].reservations.len(), 1);
    }
}
