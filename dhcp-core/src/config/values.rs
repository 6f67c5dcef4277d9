//! Parsers for the values the file writes as strings: addresses, networks, ranges, hex bytes,
//! durations, sizes, names. Each returns the reason for the operator on failure; the caller
//! knows the key.

use std::net::{Ipv4Addr, SocketAddrV4};

use super::defaults::DURATION_MAX_SECS;
use super::model::{AddrRange, Ipv4Net};

/// `10.0.0.1`.
pub(crate) fn addr(s: &str) -> Result<Ipv4Addr, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("`{s}` is not an IPv4 address"))
}

/// An address a client can send packets to: not 0.0.0.0, 255.255.255.255, multicast or loopback.
pub(crate) fn unicast(s: &str) -> Result<Ipv4Addr, String> {
    let a = addr(s)?;
    let what = not_one_host(a).or_else(|| a.is_loopback().then_some("a loopback address"));
    match what {
        Some(what) => Err(format!("{a} is {what}, not a unicast address")),
        None => Ok(a),
    }
}

/// What `a` is when it cannot name one host: the unspecified, the broadcast or a multicast
/// address.
fn not_one_host(a: Ipv4Addr) -> Option<&'static str> {
    if a.is_unspecified() {
        Some("the unspecified address")
    } else if a.is_broadcast() {
        Some("the broadcast address")
    } else if a.is_multicast() {
        Some("a multicast address")
    } else {
        None
    }
}

/// A failover endpoint: `192.0.2.1`, or `192.0.2.1:647` (`port` when none is written). One
/// unicast address, since the partner connects to it and recognises us by it as the source of
/// our connection. Loopback is allowed: two servers on one host, for tests.
pub(crate) fn endpoint(s: &str, port: u16) -> Result<SocketAddrV4, String> {
    let text = s.trim();
    let (a, port) = match text.split_once(':') {
        None => (addr(text)?, port),
        Some((a, p)) => {
            // Digits only, no leading zero: `u16::from_str` would take "+647" and "0647".
            let canonical = !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
            match p.parse::<u16>() {
                Ok(n) if n > 0 && canonical && !p.starts_with('0') => (addr(a)?, n),
                _ => return Err(format!("`{p}` is not a port (1-65535)")),
            }
        }
    };
    match not_one_host(a) {
        Some(what) => Err(format!(
            "{a} is {what}; a failover endpoint is one unicast address"
        )),
        None => Ok(SocketAddrV4::new(a, port)),
    }
}

/// `10.0.0.0/24`, host bits zero.
pub(crate) fn net(s: &str) -> Result<Ipv4Net, String> {
    let (a, p) = s.trim().split_once('/').ok_or_else(|| {
        format!("`{s}` is not a network; write address/prefix-length, e.g. 10.0.0.0/24")
    })?;
    let a = addr(a)?;
    // Digits only, no leading zero: `u8::from_str` would take "+8" and "08".
    let canonical = p.bytes().all(|b| b.is_ascii_digit()) && (p == "0" || !p.starts_with('0'));
    let prefix = match p.parse::<u8>() {
        Ok(n) if n <= 32 && canonical => n,
        _ => return Err(format!("`{p}` is not a prefix length (0-32)")),
    };
    let n = Ipv4Net { addr: a, prefix };
    let network = Ipv4Addr::from(u32::from(a) & n.mask_u32());
    if network != a {
        return Err(format!(
            "{s} has host bits set; the network is {network}/{prefix}"
        ));
    }
    Ok(n)
}

/// `10.0.0.100-10.0.0.200` (spaces around the dash allowed), a single `10.0.0.7`, or a block
/// `10.0.0.128/25` (all of it, including its first and last address).
pub(crate) fn range(s: &str) -> Result<AddrRange, String> {
    if let Some((a, b)) = s.split_once('-') {
        let (start, end) = (addr(a)?, addr(b)?);
        if start > end {
            return Err(format!("{s}: the first address is after the last"));
        }
        Ok(AddrRange { start, end })
    } else if s.contains('/') {
        let n = net(s)?;
        Ok(AddrRange {
            start: n.addr,
            end: n.broadcast(),
        })
    } else {
        let a = addr(s)?;
        Ok(AddrRange { start: a, end: a })
    }
}

/// Bytes in hex: `0a0b0c`, `0x0a0b0c`, or bytes separated by `:`, `-` or spaces
/// (`02:00:5e:00:53:01`, `1:2:3` — one or two digits a byte when separated).
pub fn hex(s: &str) -> Result<Vec<u8>, String> {
    let body = s.trim();
    let body = body
        .strip_prefix("0x")
        .or_else(|| body.strip_prefix("0X"))
        .unwrap_or(body);
    let bad = || format!("`{s}` is not hex bytes (e.g. 0a0b0c or 0a:0b:0c)");
    let digit = |c: u8| char::from(c).to_digit(16).ok_or_else(bad);
    let separated = body.contains([':', '-', ' ']);
    if separated {
        body.split([':', '-', ' '])
            .map(|t| match t.as_bytes() {
                [a] => digit(*a).map(|a| a as u8),
                [a, b] => Ok((digit(*a)? * 16 + digit(*b)?) as u8),
                _ => Err(bad()),
            })
            .collect()
    } else if !body.len().is_multiple_of(2) {
        Err(format!("`{s}` has an odd number of hex digits"))
    } else {
        body.as_bytes()
            .chunks(2)
            .map(|p| Ok((digit(p[0])? * 16 + digit(p[1])?) as u8))
            .collect()
    }
}

/// A duration in text: `90s`, `10m`, `1h30m`, `7d`, `2w`, or plain digits (seconds).
pub(crate) fn duration(s: &str) -> Result<u32, String> {
    let bad = || format!("`{s}` is not a duration (e.g. 600, \"45s\", \"10m\", \"1h30m\", \"7d\")");
    let text = s.trim();
    if text.is_empty() {
        return Err(bad());
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse::<u64>()
            .map_err(|_| bad())
            .and_then(|n| seconds(s, n));
    }
    let mut total: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        let unit = match rest.as_bytes().get(digits) {
            Some(b's') => 1,
            Some(b'm') => 60,
            Some(b'h') => 3600,
            Some(b'd') => 86_400,
            Some(b'w') => 604_800,
            _ => return Err(bad()),
        };
        total = n
            .checked_mul(unit)
            .and_then(|v| v.checked_add(total))
            .ok_or_else(bad)?;
        rest = &rest[digits + 1..];
    }
    seconds(s, total)
}

/// Range check shared by integer and text durations.
pub(crate) fn seconds(shown: impl std::fmt::Display, n: u64) -> Result<u32, String> {
    u32::try_from(n)
        .ok()
        .filter(|&v| v <= DURATION_MAX_SECS)
        .ok_or_else(|| format!("{shown} is too long (at most {DURATION_MAX_SECS} seconds)"))
}

/// A size in text: `65536`, `512KiB`, `64MiB`, `2GiB`.
pub(crate) fn size(s: &str) -> Result<u64, String> {
    let bad = || format!("`{s}` is not a size (e.g. 1048576, \"512KiB\", \"64MiB\", \"1GiB\")");
    let text = s.trim();
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let n: u64 = text[..digits].parse().map_err(|_| bad())?;
    let shift = match text[digits..].trim_start() {
        "" | "B" => 0,
        "KiB" => 10,
        "MiB" => 20,
        "GiB" => 30,
        _ => return Err(bad()),
    };
    n.checked_mul(1 << shift).ok_or_else(bad)
}

/// A DNS name: dot-separated labels of letters, digits and inner hyphens, each 1 to 63 bytes,
/// 253 bytes in all; one trailing dot allowed.
pub(crate) fn dns_name(s: &str) -> Result<(), String> {
    let name = s.strip_suffix('.').unwrap_or(s);
    if name.is_empty() || name.len() > 253 {
        return Err(format!("`{s}` is not a DNS name (1 to 253 characters)"));
    }
    for label in name.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(format!(
                "`{s}` is not a DNS name (label `{label}`: letters, digits and inner hyphens, 1 to 63 of them)"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn addresses() {
        assert_eq!(addr(" 10.0.0.1 "), Ok(a("10.0.0.1")));
        assert_eq!(
            addr("10.0.0.256").unwrap_err(),
            "`10.0.0.256` is not an IPv4 address"
        );
        assert!(addr("010.0.0.1").is_err());
        assert_eq!(
            unicast("224.0.0.1").unwrap_err(),
            "224.0.0.1 is a multicast address, not a unicast address"
        );
        assert!(unicast("0.0.0.0").is_err());
        assert!(unicast("255.255.255.255").is_err());
        assert!(unicast("127.0.0.53").is_err());
        assert_eq!(unicast("192.0.2.1"), Ok(a("192.0.2.1")));
    }

    #[test]
    fn endpoints() {
        let e = |s| endpoint(s, 647);
        assert_eq!(e("192.0.2.1"), Ok(SocketAddrV4::new(a("192.0.2.1"), 647)));
        assert_eq!(
            e(" 192.0.2.1:6470 "),
            Ok(SocketAddrV4::new(a("192.0.2.1"), 6470))
        );
        assert_eq!(e("127.0.0.2:1"), Ok(SocketAddrV4::new(a("127.0.0.2"), 1)));
        assert_eq!(
            e("192.0.2.1:65536").unwrap_err(),
            "`65536` is not a port (1-65535)"
        );
        for bad in [
            "192.0.2.1:0",
            "192.0.2.1:",
            "192.0.2.1:+647",
            "192.0.2.1:0647",
        ] {
            assert!(e(bad).is_err(), "{bad}");
        }
        assert_eq!(
            e("dhcp2.isp.example").unwrap_err(),
            "`dhcp2.isp.example` is not an IPv4 address"
        );
        assert_eq!(
            e("0.0.0.0:647").unwrap_err(),
            "0.0.0.0 is the unspecified address; a failover endpoint is one unicast address"
        );
        assert!(e("255.255.255.255").is_err());
        assert!(e("224.0.0.1").is_err());
    }

    #[test]
    fn networks() {
        assert_eq!(
            net("10.0.0.0/24"),
            Ok(Ipv4Net {
                addr: a("10.0.0.0"),
                prefix: 24
            })
        );
        assert_eq!(net("0.0.0.0/0").unwrap().prefix, 0);
        assert_eq!(
            net("10.0.0.1/24").unwrap_err(),
            "10.0.0.1/24 has host bits set; the network is 10.0.0.0/24"
        );
        assert_eq!(
            net("10.0.0.0/33").unwrap_err(),
            "`33` is not a prefix length (0-32)"
        );
        assert!(net("10.0.0.0/+8").is_err());
        assert!(net("10.0.0.0/08").is_err());
        assert!(
            net("10.0.0.0")
                .unwrap_err()
                .contains("address/prefix-length")
        );
    }

    #[test]
    fn ranges() {
        let r = range("10.0.0.100 - 10.0.0.200").unwrap();
        assert_eq!((r.start, r.end), (a("10.0.0.100"), a("10.0.0.200")));
        assert_eq!(range("10.0.0.7").unwrap().len(), 1);
        let b = range("10.0.0.128/25").unwrap();
        assert_eq!((b.start, b.end), (a("10.0.0.128"), a("10.0.0.255")));
        assert_eq!(
            range("10.0.0.9-10.0.0.1").unwrap_err(),
            "10.0.0.9-10.0.0.1: the first address is after the last"
        );
        assert!(range("10.0.0.1-").is_err());
    }

    #[test]
    fn hex_bytes() {
        assert_eq!(hex("0a0B0c"), Ok(vec![10, 11, 12]));
        assert_eq!(hex("0x0a0b"), Ok(vec![10, 11]));
        assert_eq!(hex("02:00:5e:00:53:01"), Ok(vec![2, 0, 0x5e, 0, 0x53, 1]));
        assert_eq!(hex("1-2-ff"), Ok(vec![1, 2, 255]));
        assert_eq!(hex("01 02"), Ok(vec![1, 2]));
        assert_eq!(hex(""), Ok(vec![]));
        assert_eq!(
            hex("abc").unwrap_err(),
            "`abc` has an odd number of hex digits"
        );
        assert!(hex("zz").is_err());
        assert!(hex("1::2").is_err());
        assert!(hex("123:4").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(duration("600"), Ok(600));
        assert_eq!(duration("45s"), Ok(45));
        assert_eq!(duration("10m"), Ok(600));
        assert_eq!(duration("1h30m"), Ok(5400));
        assert_eq!(duration("7d"), Ok(604_800));
        assert_eq!(duration("2w"), Ok(1_209_600));
        assert!(duration("").is_err());
        assert!(duration("1x").is_err());
        assert!(duration("h").is_err());
        assert!(duration("-5s").is_err());
        assert_eq!(
            duration("100000w").unwrap_err(),
            "100000w is too long (at most 4294967294 seconds)"
        );
        assert!(duration("99999999999999999999d").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(size("65536"), Ok(65536));
        assert_eq!(size("512KiB"), Ok(512 << 10));
        assert_eq!(size("64 MiB"), Ok(64 << 20));
        assert_eq!(size("1GiB"), Ok(1 << 30));
        assert!(size("1GB").is_err());
        assert!(size("MiB").is_err());
        assert!(size("99999999999999GiB").is_err());
    }

    #[test]
    fn dns_names() {
        assert!(dns_name("isp.example").is_ok());
        assert!(dns_name("isp.example.").is_ok());
        assert!(dns_name("cpe-1").is_ok());
        assert!(dns_name("").is_err());
        assert!(dns_name("a..b").is_err());
        assert!(dns_name("-a").is_err());
        assert!(dns_name("a_b").is_err());
        assert!(dns_name(&"a".repeat(64)).is_err());
    }
}
