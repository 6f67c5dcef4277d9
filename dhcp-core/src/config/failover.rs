//! `[[failover]]` -> [`Relationship`]: each relationship converted on its own ([`draft`]), then
//! the checks that span relationships, subnets and the server ([`check_across`]).
//!
//! The keys follow Windows' relationship settings (Add-DhcpServerv4Failover) and map onto
//! draft-ietf-dhc-failover-12; `examples/xdhcpd.toml` names the Windows parameter and the ISC
//! dhcpd.conf statement of each.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};

use super::defaults as d;
use super::error::Problems;
use super::file::{
    DurationValue, FailoverFile, FailoverModeFile, FailoverRoleFile, PartnerSoftwareFile,
    ServerRoleFile,
};
use super::model::{
    FailoverMode, FailoverRole, PartnerSoftware, Relationship, ServerSettings, SubnetId,
};
use super::subnet::Draft;
use super::values;

/// What converted of one relationship: the parts the cross checks look at, each with its
/// position, and the rest once all of it converted.
#[derive(Debug)]
pub(crate) struct FailoverDraft {
    /// `failover[i]`.
    pub key: String,
    pub name: Option<String>,
    pub partner: Option<SocketAddrV4>,
    pub local: Option<SocketAddrV4>,
    /// `floating-address`.
    pub floating: bool,
    /// The listed subnet ids with their positions in `subnets`, each id once.
    pub subnets: Vec<(usize, SubnetId)>,
    settings: Option<Settings>,
}

/// The parts of a relationship no other part of the file constrains.
#[derive(Debug)]
struct Settings {
    role: FailoverRole,
    mode: FailoverMode,
    mclt_secs: u32,
    state_switchover_secs: Option<u32>,
    shared_secret: Option<Vec<u8>>,
    partner_software: PartnerSoftware,
    max_unacked_updates: u32,
    receive_timer_secs: u32,
    load_balance_max_secs: u16,
}

impl FailoverDraft {
    /// The model relationship; `None` when a part did not convert.
    pub(crate) fn finish(self) -> Option<Relationship> {
        let s = self.settings?;
        Some(Relationship {
            name: self.name?,
            role: s.role,
            mode: s.mode,
            partner: self.partner?,
            local: self.local?,
            floating_address: self.floating,
            mclt_secs: s.mclt_secs,
            state_switchover_secs: s.state_switchover_secs,
            shared_secret: s.shared_secret,
            partner_software: s.partner_software,
            subnets: self.subnets.into_iter().map(|(_, id)| id).collect(),
            max_unacked_updates: s.max_unacked_updates,
            receive_timer_secs: s.receive_timer_secs,
            load_balance_max_secs: s.load_balance_max_secs,
        })
    }
}

/// Converts relationship `i`, recording every problem of it alone.
pub(crate) fn draft(i: usize, f: &FailoverFile, p: &mut Problems) -> FailoverDraft {
    let key = format!("failover[{i}]");
    let k = |name: &str| format!("{key}.{name}");
    let name = p.check(k("name"), relationship_name(&f.name));
    let partner = p.check(k("partner"), values::endpoint(&f.partner, d::FAILOVER_PORT));
    let local = p.check(
        k("local-address"),
        values::endpoint(&f.local_address, d::FAILOVER_PORT),
    );
    let mut subnets: Vec<(usize, SubnetId)> = Vec::with_capacity(f.subnets.len());
    for (j, &id) in f.subnets.iter().enumerate() {
        if subnets.iter().any(|&(_, s)| s.0 == id) {
            p.push(
                format!("{key}.subnets[{j}]"),
                format!("subnet {id} is listed twice"),
            );
        } else {
            subnets.push((j, SubnetId(id)));
        }
    }
    let settings = settings(&key, f, p);
    FailoverDraft {
        key,
        name,
        partner,
        local,
        floating: f.floating_address.unwrap_or(false),
        subnets,
        settings,
    }
}

/// 1 to 126 printable characters (Windows' limit), no spaces at either end: the partner must
/// match the name byte for byte (ISC does), and a trailing space is a mismatch nobody sees.
fn relationship_name(name: &str) -> Result<String, String> {
    let max = d::FAILOVER_NAME_MAX;
    if name.is_empty() || name.chars().count() > max || name.chars().any(char::is_control) {
        Err(format!(
            "a relationship name is 1 to {max} printable characters"
        ))
    } else if name.trim() != name {
        Err(format!(
            "`{name}` starts or ends with a space; the partner must match the name exactly"
        ))
    } else {
        Ok(name.to_owned())
    }
}

fn settings(key: &str, f: &FailoverFile, p: &mut Problems) -> Option<Settings> {
    let before = p.len();
    let k = |name: &str| format!("{key}.{name}");
    let (role, mode) = mode(key, f, p);
    let mclt = duration(&f.mclt, d::MCLT_SECS, &k("mclt"), p).and_then(|secs| {
        let r = if secs > d::MCLT_MAX_SECS {
            Err(format!(
                "{secs} s is longer than the limit of {} s (30 days)",
                d::MCLT_MAX_SECS
            ))
        } else {
            Ok(secs)
        };
        p.check(k("mclt"), r)
    });
    let switchover = match &f.state_switchover_interval {
        None => Some(None),
        Some(v) => {
            let r = v.secs().and_then(|s| match s {
                0 => Err("must be at least 1 second; leave the key out to go to \
                          PARTNER-DOWN only by command"
                    .to_owned()),
                s => Ok(Some(s)),
            });
            p.check(k("state-switchover-interval"), r)
        }
    };
    let software = match f.partner_software {
        None => d::PARTNER_SOFTWARE,
        Some(PartnerSoftwareFile::Xdhcp) => PartnerSoftware::Xdhcp,
        Some(PartnerSoftwareFile::IscDhcpd) => PartnerSoftware::IscDhcpd,
        Some(PartnerSoftwareFile::Windows) => PartnerSoftware::Windows,
    };
    let secret = shared_secret(f.shared_secret.as_deref(), software);
    let secret = p.check(k("shared-secret"), secret);
    let (lo, hi) = d::MAX_UNACKED_UPDATES_RANGE;
    let unacked = f.max_unacked_updates.unwrap_or(d::MAX_UNACKED_UPDATES);
    let unacked = p.check(
        k("max-unacked-updates"),
        if (lo..=hi).contains(&unacked) {
            Ok(unacked)
        } else {
            Err(format!("{unacked} is not between {lo} and {hi}"))
        },
    );
    let (lo, hi) = d::RECEIVE_TIMER_SECS_RANGE;
    let receive_timer = duration(
        &f.receive_timer,
        d::RECEIVE_TIMER_SECS,
        &k("receive-timer"),
        p,
    )
    .and_then(|s| {
        let r = if (lo..=hi).contains(&s) {
            Ok(s)
        } else {
            Err(format!("{s} s is not between {lo} s and {hi} s"))
        };
        p.check(k("receive-timer"), r)
    });
    let max_secs = match (f.load_balance_max_seconds, f.mode) {
        (Some(n), _) => p.check(k("load-balance-max-seconds"), load_balance_max_secs(n)),
        (None, Some(FailoverModeFile::HotStandby)) => Some(d::HOT_STANDBY_LOAD_BALANCE_MAX_SECS),
        (None, _) => Some(d::LOAD_BALANCE_MAX_SECS),
    };
    if p.len() != before {
        return None;
    }
    Some(Settings {
        role: role?,
        mode: mode?,
        mclt_secs: mclt?,
        state_switchover_secs: switchover?,
        shared_secret: secret?,
        partner_software: software,
        max_unacked_updates: unacked?,
        receive_timer_secs: receive_timer?,
        load_balance_max_secs: max_secs?,
    })
}

/// The role and the mode. Each mode has its own keys; the other mode's are refused, since a
/// value that is silently ignored is a value the operator believes is in force.
fn mode(
    key: &str,
    f: &FailoverFile,
    p: &mut Problems,
) -> (Option<FailoverRole>, Option<FailoverMode>) {
    let k = |name: &str| format!("{key}.{name}");
    let mut refuse = |given: bool, name: &str, reason: &str| {
        if given {
            p.push(k(name), reason);
        }
    };
    match f.mode.unwrap_or(FailoverModeFile::LoadBalance) {
        FailoverModeFile::LoadBalance => {
            refuse(
                f.server_role.is_some(),
                "server-role",
                "server-role is for mode = \"hot-standby\"; in load-balance mode the server's \
                 role is `role` (\"primary\" or \"secondary\")",
            );
            refuse(
                f.reserve_percent.is_some(),
                "reserve-percent",
                "reserve-percent is for mode = \"hot-standby\"; in load-balance mode the free \
                 addresses are split by load-balance-percent",
            );
            let role = match f.role {
                Some(FailoverRoleFile::Primary) => Some(FailoverRole::Primary),
                Some(FailoverRoleFile::Secondary) => Some(FailoverRole::Secondary),
                None => {
                    p.push(
                        k("role"),
                        "required in load-balance mode: \"primary\" on one server, \
                         \"secondary\" on the other",
                    );
                    None
                }
            };
            let share = percent(
                f.load_balance_percent,
                d::LOAD_BALANCE_PERCENT,
                &k("load-balance-percent"),
                p,
            );
            (
                role,
                share.map(|local_percent| FailoverMode::LoadBalance { local_percent }),
            )
        }
        FailoverModeFile::HotStandby => {
            refuse(
                f.role.is_some(),
                "role",
                "role is for mode = \"load-balance\"; in hot-standby mode the server's role is \
                 `server-role` (\"active\" or \"standby\")",
            );
            refuse(
                f.load_balance_percent.is_some(),
                "load-balance-percent",
                "load-balance-percent is for mode = \"load-balance\"; in hot-standby mode the \
                 active server answers every client and the standby holds reserve-percent of \
                 the free addresses",
            );
            // Windows: the active server is the primary, the standby the secondary.
            let role = match f.server_role {
                Some(ServerRoleFile::Active) => Some(FailoverRole::Primary),
                Some(ServerRoleFile::Standby) => Some(FailoverRole::Secondary),
                None => {
                    p.push(
                        k("server-role"),
                        "required in hot-standby mode: \"active\" on one server, \"standby\" \
                         on the other",
                    );
                    None
                }
            };
            let reserve = percent(
                f.reserve_percent,
                d::RESERVE_PERCENT,
                &k("reserve-percent"),
                p,
            );
            (
                role,
                reserve.map(|reserve_percent| FailoverMode::HotStandby { reserve_percent }),
            )
        }
    }
}

fn percent(v: Option<u32>, default: u8, key: &str, p: &mut Problems) -> Option<u8> {
    let v = v.unwrap_or(u32::from(default));
    let r = match u8::try_from(v) {
        Ok(n @ 0..=100) => Ok(n),
        _ => Err(format!("{v} is not a percentage between 0 and 100")),
    };
    p.check(key, r)
}

/// A duration of at least one second, or `default` when absent.
fn duration(v: &Option<DurationValue>, default: u32, key: &str, p: &mut Problems) -> Option<u32> {
    let Some(v) = v else { return Some(default) };
    let r = v.secs().and_then(|s| match s {
        0 => Err("must be at least 1 second".to_owned()),
        s => Ok(s),
    });
    p.check(key, r)
}

fn shared_secret(
    secret: Option<&str>,
    software: PartnerSoftware,
) -> Result<Option<Vec<u8>>, String> {
    let Some(secret) = secret else {
        return Ok(None);
    };
    let min = d::SHARED_SECRET_MIN_BYTES;
    if software == PartnerSoftware::IscDhcpd {
        Err(
            "ISC dhcpd 4.4 has no failover authentication: it never sends a digest and ignores \
             ours; leave shared-secret out and protect the failover link another way (IPsec, \
             WireGuard, a dedicated VLAN)"
                .to_owned(),
        )
    } else if secret.len() < min {
        Err(format!(
            "{} bytes is too short for a shared secret; at least {min} (anyone who captures one \
             message can test guesses offline)",
            secret.len()
        ))
    } else {
        Ok(Some(secret.as_bytes().to_vec()))
    }
}

fn load_balance_max_secs(n: u32) -> Result<u16, String> {
    let max = d::LOAD_BALANCE_MAX_SECS_MAX;
    u16::try_from(n)
        .ok()
        .filter(|&n| n <= max)
        .ok_or_else(|| format!("{n} is not between 0 and {max}"))
}

/// Checks what spans relationships, subnets and the server. `subnets_complete` is false when
/// some `[[subnet]]` could not be read: then a listed id that matches no subnet is not
/// reported, since it may be that subnet's.
pub(crate) fn check_across(
    rels: &[FailoverDraft],
    subnets: &[Draft],
    subnets_complete: bool,
    server: Option<&ServerSettings>,
    reserved: &HashMap<Ipv4Addr, String>,
    p: &mut Problems,
) {
    unique_names_and_partners(rels, p);
    floating_agrees(rels, p);
    for r in rels {
        own_addresses(r, rels, subnets, server, reserved, p);
    }
    let owners = subnet_owners(rels, subnets, subnets_complete, p);
    shared_networks(rels, subnets, &owners, p);
}

/// Names identify a relationship to the partner; partners identify it to us, since an incoming
/// connection is matched to its relationship by the partner's address (as ISC does), so each
/// relationship has its own partner.
fn unique_names_and_partners(rels: &[FailoverDraft], p: &mut Problems) {
    let mut names: HashMap<&str, &str> = HashMap::new();
    let mut partners: HashMap<Ipv4Addr, &str> = HashMap::new();
    for r in rels {
        if let Some(name) = &r.name {
            match names.get(name.as_str()) {
                Some(first) => p.push(
                    format!("{}.name", r.key),
                    format!("`{name}` is already the name of {first}"),
                ),
                None => {
                    names.insert(name, &r.key);
                }
            }
        }
        if let Some(partner) = r.partner {
            let a = *partner.ip();
            match partners.get(&a) {
                Some(first) => p.push(
                    format!("{}.partner", r.key),
                    format!(
                        "{a} is already the partner of {first}; a server has one relationship \
                         per partner"
                    ),
                ),
                None => {
                    partners.insert(a, &r.key);
                }
            }
        }
    }
}

/// Relationships that share a local address share its listener, so they agree on whether the
/// address floats between hosts.
fn floating_agrees(rels: &[FailoverDraft], p: &mut Problems) {
    for (i, r) in rels.iter().enumerate() {
        let Some(local) = r.local else { continue };
        let first = rels[..i]
            .iter()
            .find(|o| o.local.is_some_and(|l| l.ip() == local.ip()));
        if let Some(o) = first.filter(|o| o.floating != r.floating) {
            p.push(
                format!("{}.floating-address", r.key),
                format!(
                    "{} is also the local-address of {}, where floating-address is {}; an \
                     address floats between hosts for every relationship or for none",
                    local.ip(),
                    o.key,
                    o.floating
                ),
            );
        }
    }
}

/// The partner is another server, and neither server's failover address is handed to clients.
fn own_addresses(
    r: &FailoverDraft,
    rels: &[FailoverDraft],
    subnets: &[Draft],
    server: Option<&ServerSettings>,
    reserved: &HashMap<Ipv4Addr, String>,
    p: &mut Problems,
) {
    if let Some(partner) = r.partner {
        let a = *partner.ip();
        let key = format!("{}.partner", r.key);
        let ours = |e: Option<SocketAddrV4>| e.is_some_and(|l| *l.ip() == a);
        if ours(r.local) {
            p.push(
                &key,
                format!("{a} is also the local-address; the partner is the other server"),
            );
        } else if let Some(other) = rels.iter().find(|o| ours(o.local)) {
            p.push(
                &key,
                format!("{a} is this server's local-address in {}", other.key),
            );
        }
        let interfaces = server.map_or(&[][..], |s| s.interfaces.as_slice());
        for (n, iface) in interfaces.iter().enumerate() {
            if iface.address == Some(a) {
                p.push(
                    &key,
                    format!("{a} is this server's address on server.interfaces[{n}]"),
                );
            }
        }
    }
    let ends = [("local-address", r.local), ("partner", r.partner)];
    for (name, end) in ends {
        let Some(end) = end else { continue };
        let a = *end.ip();
        let key = format!("{}.{name}", r.key);
        for s in subnets {
            p.check(&key, s.check_not_dynamic(a));
        }
        if let Some(by) = reserved.get(&a) {
            p.push(&key, format!("{a} is reserved by {by}"));
        }
    }
}

/// Every listed subnet exists and is in one relationship only. Returns the relationship (its
/// index) of each subnet that is in one.
fn subnet_owners(
    rels: &[FailoverDraft],
    subnets: &[Draft],
    subnets_complete: bool,
    p: &mut Problems,
) -> HashMap<SubnetId, usize> {
    let mut owners: HashMap<SubnetId, usize> = HashMap::new();
    for (i, r) in rels.iter().enumerate() {
        for &(j, id) in &r.subnets {
            let key = format!("{}.subnets[{j}]", r.key);
            if !subnets.iter().any(|s| s.id == Some(id)) {
                if subnets_complete {
                    p.push(&key, format!("no [[subnet]] has id {}", id.0));
                }
                continue;
            }
            match owners.get(&id) {
                Some(&first) => p.push(
                    &key,
                    format!(
                        "subnet {} is already in {}; a subnet belongs to one relationship",
                        id.0, rels[first].key
                    ),
                ),
                None => {
                    owners.insert(id, i);
                }
            }
        }
    }
    owners
}

/// The subnets of a shared network fail over together. A client on that link may get an
/// address from any of them, and which server answers it is decided per relationship (its
/// hash bucket, or which server is active): split across relationships, or partly in none,
/// the two servers' decisions about one client disagree and both may answer it.
fn shared_networks(
    rels: &[FailoverDraft],
    subnets: &[Draft],
    owners: &HashMap<SubnetId, usize>,
    p: &mut Problems,
) {
    for (i, r) in rels.iter().enumerate() {
        for &(j, id) in &r.subnets {
            if owners.get(&id) != Some(&i) {
                continue;
            }
            let Some(link) = (subnets.iter())
                .find(|s| s.id == Some(id))
                .and_then(|s| s.shared_network.as_deref())
            else {
                continue;
            };
            let odd = subnets.iter().find_map(|s| {
                let other = s.id.filter(|&o| o != id)?;
                let owner = owners.get(&other).copied();
                (s.shared_network.as_deref() == Some(link) && owner != Some(i))
                    .then_some((other, owner))
            });
            let Some((other, owner)) = odd else { continue };
            let where_ = match owner {
                Some(k) => format!("in {}", rels[k].key),
                None => "in no failover relationship".to_owned(),
            };
            p.push(
                format!("{}.subnets[{j}]", r.key),
                format!(
                    "subnet {} shares the link `{link}` with subnet {}, which is {where_}; the \
                     subnets of a shared network fail over together",
                    id.0, other.0
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relationship_names() {
        assert_eq!(relationship_name("edge-pair").unwrap(), "edge-pair");
        assert!(relationship_name(&"é".repeat(126)).is_ok());
        let long = "a relationship name is 1 to 126 printable characters";
        assert_eq!(relationship_name(&"x".repeat(127)).unwrap_err(), long);
        assert_eq!(relationship_name("").unwrap_err(), long);
        assert_eq!(relationship_name("a\tb").unwrap_err(), long);
        assert_eq!(
            relationship_name("edge ").unwrap_err(),
            "`edge ` starts or ends with a space; the partner must match the name exactly"
        );
    }

    #[test]
    fn a_secret_is_refused_towards_isc_before_its_length_is_looked_at() {
        assert_eq!(shared_secret(None, PartnerSoftware::IscDhcpd), Ok(None));
        assert!(
            shared_secret(Some("short"), PartnerSoftware::IscDhcpd)
                .unwrap_err()
                .starts_with("ISC dhcpd 4.4 has no failover authentication")
        );
        let ok = "0123456789abcdef";
        assert_eq!(
            shared_secret(Some(ok), PartnerSoftware::Windows),
            Ok(Some(ok.as_bytes().to_vec()))
        );
        assert!(shared_secret(Some(&ok[1..]), PartnerSoftware::Xdhcp).is_err());
    }

    #[test]
    fn load_balance_max_seconds_fit_a_byte() {
        assert_eq!(load_balance_max_secs(0), Ok(0));
        assert_eq!(load_balance_max_secs(255), Ok(255));
        assert_eq!(
            load_balance_max_secs(256).unwrap_err(),
            "256 is not between 0 and 255"
        );
        assert!(load_balance_max_secs(70_000).is_err());
    }
}
