//! Interface facts the generator needs before it starts: the server's hardware address.

use std::{
    io,
    net::{Ipv4Addr, SocketAddrV4, UdpSocket},
    os::fd::AsRawFd,
    time::{Duration, Instant},
};

use dhcp_wire::frame::MacAddr;

/// Parses `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(s: &str) -> Result<MacAddr, String> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return Err(format!("MAC address {s:?} needs six colon-separated bytes"));
    }
    let mut m = [0u8; 6];
    for (d, p) in m.iter_mut().zip(parts) {
        *d = u8::from_str_radix(p, 16).map_err(|e| format!("MAC address {s:?}: {e}"))?;
    }
    Ok(MacAddr(m))
}

/// The kernel's neighbour entry for `ip` on `ifname`, if complete.
fn arp_entry(ifname: &str, ip: Ipv4Addr) -> Option<MacAddr> {
    let table = std::fs::read_to_string("/proc/net/arp").ok()?;
    let want = ip.to_string();
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        // IP address, HW type, Flags (0x2 = complete), HW address, Mask, Device
        if f.len() >= 6 && f[0] == want && f[5] == ifname && f[2] == "0x2" {
            parse_mac(f[3]).ok()
        } else {
            None
        }
    })
}

/// Resolves `ip`'s hardware address through the kernel's ARP on `ifname` (which needs an
/// IPv4 address in the server's subnet): a datagram to the discard port makes the kernel ask.
pub fn resolve_mac(ifname: &str, ip: Ipv4Addr, timeout: Duration) -> io::Result<MacAddr> {
    if let Some(m) = arp_entry(ifname, ip) {
        return Ok(m);
    }
    let sock = UdpSocket::bind("0.0.0.0:0")?;
    let name = ifname.as_bytes();
    // Safety: SO_BINDTODEVICE with the name's bytes and length.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_BINDTODEVICE,
            name.as_ptr().cast(),
            name.len() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        let _ = sock.send_to(b"dhcp-load arp probe", SocketAddrV4::new(ip, 9));
        for _ in 0..10 {
            std::thread::sleep(Duration::from_millis(20));
            if let Some(m) = arp_entry(ifname, ip) {
                return Ok(m);
            }
        }
    }
    Err(io::Error::new(
        io::ErrorKind::TimedOut,
        format!("no ARP answer from {ip} on {ifname}; pass --server-mac"),
    ))
}

/// Pins the calling thread to `cpu`.
pub fn pin_to_cpu(cpu: usize) -> io::Result<()> {
    // Safety: a zeroed cpu_set_t with one bit set, for the calling thread (pid 0).
    let rc = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_parse() {
        assert_eq!(
            parse_mac("02:aB:00:00:10:ff"),
            Ok(MacAddr([2, 0xab, 0, 0, 0x10, 0xff]))
        );
        assert!(parse_mac("02:00:00:00:00").is_err());
        assert!(parse_mac("02:00:00:00:00:zz").is_err());
    }
}
