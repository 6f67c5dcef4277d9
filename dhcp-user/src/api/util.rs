//! Small formats shared by the API, the metrics and xdhcpctl: hex bytes, times, addresses.

use std::net::Ipv4Addr;

/// `01:02:0a`.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Bytes in hex as the configuration file takes them: `0a0b0c`, `0x0a0b0c`, or bytes
/// separated by `:`, `-` or spaces (one or two digits each).
pub fn parse_hex(s: &str) -> Result<Vec<u8>, String> {
    match dhcp_core::config::parse_hex(s)? {
        b if b.is_empty() => Err(format!("`{s}` is not hex bytes (e.g. 0a0b0c or 0a:0b:0c)")),
        b => Ok(b),
    }
}

/// A hardware address: 1 to 16 bytes in hex (6 for Ethernet).
pub fn parse_hw(s: &str) -> Result<Vec<u8>, String> {
    let b = parse_hex(s)?;
    if b.is_empty() || b.len() > 16 {
        return Err(format!("`{s}` is not a hardware address (1 to 16 bytes)"));
    }
    Ok(b)
}

/// An IPv4 address.
pub fn parse_ip(s: &str) -> Result<Ipv4Addr, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("`{s}` is not an IPv4 address"))
}

/// Seconds since 1970 as RFC 3339 UTC (`2024-05-01T12:00:00Z`); `None` for 0 ("never").
pub fn rfc3339(t: u32) -> Option<String> {
    if t == 0 {
        return None;
    }
    let days = i64::from(t / 86_400);
    let secs = t % 86_400;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    Some(format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    ))
}

/// A duration as Windows shows a TimeSpan: `01:00:00`, `1.00:00:00` beyond a day.
pub fn timespan(secs: u32) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}.{h:02}:{m:02}:{s:02}")
    } else {
        format!("{h:02}:{m:02}:{s:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_takes_the_config_forms() {
        assert_eq!(hex(&[1, 2, 0xab]), "01:02:ab");
        for s in ["0102ab", "0x0102ab", "01:02:ab", "1-2-ab", "01 02 AB"] {
            assert_eq!(parse_hex(s), Ok(vec![1, 2, 0xab]), "{s}");
        }
        assert!(parse_hex("").is_err());
        assert!(parse_hex("012").is_err());
        assert!(parse_hex("01::02").is_err());
        assert!(parse_hex("zz").is_err());
        assert!(parse_hw(&"00".repeat(17)).is_err());
        assert!(parse_ip("10.0.0.256").is_err());
    }

    #[test]
    fn times() {
        assert_eq!(rfc3339(0), None);
        assert_eq!(rfc3339(1).as_deref(), Some("1970-01-01T00:00:01Z"));
        assert_eq!(
            rfc3339(951_782_400).as_deref(),
            Some("2000-02-29T00:00:00Z")
        );
        assert_eq!(
            rfc3339(1_714_564_800).as_deref(),
            Some("2024-05-01T12:00:00Z")
        );
        assert_eq!(rfc3339(u32::MAX).as_deref(), Some("2106-02-07T06:28:15Z"));
        assert_eq!(timespan(3600), "01:00:00");
        assert_eq!(timespan(90_061), "1.01:01:01");
    }
}
