//! A subnet's options: the dedicated keys (`routers`, `mtu`, ...), `option-data` and
//! `vendor-classes`.

use std::net::Ipv4Addr;

use super::defaults::{ADDRESS_LIST_MAX, OPTION_VALUE_MAX};
use super::error::Problems;
use super::file::{OptionDataFile, SubnetFile};
use super::model::{StaticRoute, SubnetOptions, VendorClass};
use super::subnet::{Draft, check_host};
use super::values;
use dhcp_wire::dhcp::{OptionCode, ValueKind};

/// Why an option code cannot be set through `option-data`, or `None` when it can. These are the
/// codes with a dedicated key and the codes the engine writes itself.
pub fn managed_option(code: u8) -> Option<&'static str> {
    Some(match code {
        0 | 255 => "has no value and is not an option to set",
        1 => "comes from `network`",
        3 => "is set with `routers`",
        6 => "is set with `dns-servers`",
        12 => "is set with `hostname` in a reservation",
        15 => "is set with `domain-name`",
        26 => "is set with `mtu`",
        42 => "is set with `ntp-servers`",
        43 => "is set with `vendor-classes`",
        50..=61 => "is part of the DHCP exchange and written by the server",
        82 => "belongs to the relay",
        118 => "is the client's or relay's",
        121 => "is set with `classless-static-routes`",
        _ => return None,
    })
}

/// `option 66 (tftp-server-name)`, or `option 224` for a code the option table does not name.
fn label(code: u8) -> String {
    match OptionCode(code).info() {
        Some(info) => format!("option {code} ({})", info.name),
        None => format!("option {code}"),
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

pub(crate) fn options(d: &Draft, f: &SubnetFile, p: &mut Problems) -> SubnetOptions {
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
        // Problems with the code are reported on the key that gave it.
        let code_key = match (o.code, &o.name) {
            (Some(_), None) => format!("{k}.code"),
            (None, Some(_)) => format!("{k}.name"),
            _ => k.clone(),
        };
        let code = option_code(o).and_then(|c| match managed_option(c) {
            Some(why) => Err(format!("{} {why}", label(c))),
            None => Ok(c),
        });
        let code = p.check(&code_key, code);
        let value = option_value(o).and_then(|(form, v)| {
            if v.len() > OPTION_VALUE_MAX {
                return Err(format!(
                    "{} bytes is longer than the limit of {OPTION_VALUE_MAX}",
                    v.len()
                ));
            }
            match code {
                Some(c) => check_format(c, form, &v).map(|()| v),
                None => Ok(v),
            }
        });
        let value = p.check(&k, value);
        let (Some(code), Some(value)) = (code, value) else {
            continue;
        };
        if let Some((_, first)) = set_at.iter().find(|(c, _)| *c == code) {
            p.push(
                code_key,
                format!(
                    "{} is already set by {key}.option-data[{first}]",
                    label(code)
                ),
            );
            continue;
        }
        set_at.push((code, j));
        out.push((code, value));
    }
    out
}

/// The code of an `option-data` entry, from exactly one of `code` and `name` (a name in
/// dhcp-wire's option table).
fn option_code(o: &OptionDataFile) -> Result<u8, String> {
    match (o.code, &o.name) {
        (Some(c), None) => {
            u8::try_from(c).map_err(|_| format!("{c} is not an option code (1-254)"))
        }
        (None, Some(n)) => OptionCode::from_name(n).map(|c| c.0).ok_or_else(|| {
            format!("`{n}` is not an option name this server knows; give its `code`")
        }),
        _ => Err("needs exactly one of `code`, `name`".into()),
    }
}

/// How an `option-data` value was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Form {
    Hex,
    Text,
    Addresses,
}

/// The bytes of an `option-data` entry: exactly one of `hex`, `text`, `addresses`.
fn option_value(o: &OptionDataFile) -> Result<(Form, Vec<u8>), String> {
    match (&o.hex, &o.text, &o.addresses) {
        (Some(h), None, None) => values::hex(h).map(|v| (Form::Hex, v)),
        (None, Some(t), None) => Ok((Form::Text, t.as_bytes().to_vec())),
        (None, None, Some(list)) => {
            let mut bytes = Vec::with_capacity(4 * list.len());
            for a in list {
                bytes.extend_from_slice(&values::addr(a)?.octets());
            }
            Ok((Form::Addresses, bytes))
        }
        _ => Err("needs exactly one of `hex`, `text`, `addresses`".into()),
    }
}

/// Checks a value against the format the option table gives for `code`; codes the table does
/// not know take any bytes.
fn check_format(code: u8, form: Form, v: &[u8]) -> Result<(), String> {
    use ValueKind as K;
    let Some(info) = OptionCode(code).info() else {
        return Ok(());
    };
    let addresses = matches!(info.kind, K::Ipv4 | K::Ipv4List | K::Ipv4Pairs);
    let text = matches!(info.kind, K::Text | K::Bytes);
    let form_ok = match form {
        Form::Hex => true,
        Form::Text => text,
        Form::Addresses => addresses,
    };
    if !form_ok {
        let takes = if addresses {
            "`addresses` or `hex`"
        } else if text {
            "`text` or `hex`"
        } else {
            "`hex`"
        };
        return Err(format!("{} takes {takes}", label(code)));
    }
    let n = v.len();
    let (fits, takes) = match info.kind {
        K::Empty => (n == 0, "no value"),
        K::U8 => (n == 1, "1 byte"),
        K::Bool if n == 1 && v[0] > 1 => {
            return Err(format!("{} takes 0 or 1, not {}", label(code), v[0]));
        }
        K::Bool => (n == 1, "1 byte"),
        K::U16 => (n == 2, "2 bytes"),
        K::U32 | K::I32 => (n == 4, "4 bytes"),
        K::Ipv4 => (n == 4, "one address"),
        K::Ipv4List => (n >= 4 && n.is_multiple_of(4), "one or more addresses"),
        K::Ipv4Pairs => (n >= 8 && n.is_multiple_of(8), "pairs of addresses"),
        K::U16List => (n >= 2 && n.is_multiple_of(2), "16-bit values, 2 bytes each"),
        K::Text => (n >= 1, "at least one character"),
        _ => (true, ""),
    };
    if fits {
        Ok(())
    } else {
        Err(format!("{} takes {takes}, not {n} bytes", label(code)))
    }
}

pub(crate) fn vendor_classes(key: &str, f: &SubnetFile, p: &mut Problems) -> Vec<VendorClass> {
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
}
