//! XDP steering program.
//!
//! IPv4/UDP frames to a steered port (67 for the server) — untagged, 802.1Q or QinQ, with or
//! without IPv4 options — go to the AF_XDP socket bound to the frame's RX queue. Everything else
//! goes to the kernel (`XDP_PASS`): other protocols and ports, IPv4 fragments (the kernel
//! reassembles them), truncated headers, and steered frames arriving on a queue that has no
//! socket (fail open). Each decision bumps one per-CPU counter.
#![no_std]
#![no_main]

use core::mem::size_of;

use aya_ebpf::{
    bindings::xdp_action,
    macros::{map, xdp},
    maps::{PerCpuArray, XskMap},
    programs::XdpContext,
};
use dhcp_common::{MAX_QUEUES, MAX_VLAN_TAGS, SteerStat};

#[map]
static XSKS: XskMap = XskMap::with_max_entries(MAX_QUEUES, 0);

#[map]
static STATS: PerCpuArray<u64> = PerCpuArray::with_max_entries(SteerStat::COUNT, 0);

/// First steered UDP destination port (host order). Set by the loader.
#[unsafe(no_mangle)]
static STEER_PORT_A: u16 = dhcp_common::DHCP_SERVER_PORT;

/// Second steered UDP destination port, 0 for none. Set by the loader.
#[unsafe(no_mangle)]
static STEER_PORT_B: u16 = 0;

const ETH_HLEN: usize = 14;
const VLAN_HLEN: usize = 4;
const ETH_P_IP: u16 = 0x0800;
const ETH_P_8021Q: u16 = 0x8100;
const ETH_P_8021AD: u16 = 0x88a8;
const IPPROTO_UDP: u8 = 17;
const IPV4_MIN_HLEN: usize = 20;
const UDP_HLEN: usize = 8;
/// More-fragments flag and fragment offset bits of the IPv4 flags/offset field.
const IP_MF_OFFSET_MASK: u16 = 0x3fff;

#[xdp]
fn xdhcp_steer(ctx: XdpContext) -> u32 {
    match classify(&ctx) {
        Ok(()) => steer(&ctx),
        Err(stat) => {
            count(stat);
            xdp_action::XDP_PASS
        }
    }
}

fn steer(ctx: &XdpContext) -> u32 {
    // Safety: `ctx.ctx` is the kernel-provided xdp_md, valid for the whole program run.
    let queue = unsafe { (*ctx.ctx).rx_queue_index };
    // The low bits of the flags are the action taken when the slot is empty: fail open.
    match XSKS.redirect(queue, u64::from(xdp_action::XDP_PASS)) {
        Ok(action) if action == xdp_action::XDP_REDIRECT => {
            count(SteerStat::Redirected);
            action
        }
        _ => {
            count(SteerStat::NoSocket);
            xdp_action::XDP_PASS
        }
    }
}

fn count(stat: SteerStat) {
    if let Some(slot) = STATS.get_ptr_mut(stat.index()) {
        // Safety: per-CPU slot, only this CPU writes it while the program runs.
        unsafe { *slot += 1 };
    }
}

/// `Ok` when the frame is IPv4/UDP to a steered port and not a fragment.
#[inline(always)]
fn classify(ctx: &XdpContext) -> Result<(), SteerStat> {
    let mut ethertype = read_be16(ctx, 12)?;
    let mut l3 = ETH_HLEN;
    for _ in 0..MAX_VLAN_TAGS {
        if ethertype != ETH_P_8021Q && ethertype != ETH_P_8021AD {
            break;
        }
        ethertype = read_be16(ctx, l3 + 2)?;
        l3 += VLAN_HLEN;
    }
    if ethertype == ETH_P_8021Q || ethertype == ETH_P_8021AD {
        return Err(SteerStat::TooManyTags);
    }
    if ethertype != ETH_P_IP {
        return Err(SteerStat::NotIpv4);
    }

    let ver_ihl = read_u8(ctx, l3)?;
    let ihl = usize::from(ver_ihl & 0x0f) * 4;
    if ver_ihl >> 4 != 4 {
        return Err(SteerStat::NotIpv4);
    }
    if ihl < IPV4_MIN_HLEN {
        return Err(SteerStat::Truncated);
    }
    // The whole fixed header must be present before any field of it is trusted.
    check(ctx, l3, IPV4_MIN_HLEN)?;
    if read_be16(ctx, l3 + 6)? & IP_MF_OFFSET_MASK != 0 {
        return Err(SteerStat::Fragment);
    }
    if read_u8(ctx, l3 + 9)? != IPPROTO_UDP {
        return Err(SteerStat::NotUdp);
    }

    let l4 = l3 + ihl;
    check(ctx, l4, UDP_HLEN)?;
    let dport = read_be16(ctx, l4 + 2)?;
    // Safety: plain reads of our own read-only globals; volatile so the loader's value is used
    // rather than the compile-time initialiser.
    let (port_a, port_b) = unsafe {
        (
            core::ptr::read_volatile(&STEER_PORT_A),
            core::ptr::read_volatile(&STEER_PORT_B),
        )
    };
    if dport == port_a || (port_b != 0 && dport == port_b) {
        Ok(())
    } else {
        Err(SteerStat::OtherPort)
    }
}

#[inline(always)]
fn check(ctx: &XdpContext, offset: usize, len: usize) -> Result<(), SteerStat> {
    if ctx.data() + offset + len > ctx.data_end() {
        Err(SteerStat::Truncated)
    } else {
        Ok(())
    }
}

#[inline(always)]
fn read_u8(ctx: &XdpContext, offset: usize) -> Result<u8, SteerStat> {
    let start = ctx.data();
    if start + offset + size_of::<u8>() > ctx.data_end() {
        return Err(SteerStat::Truncated);
    }
    // Safety: bounds checked against data_end just above.
    Ok(unsafe { *((start + offset) as *const u8) })
}

#[inline(always)]
fn read_be16(ctx: &XdpContext, offset: usize) -> Result<u16, SteerStat> {
    let start = ctx.data();
    if start + offset + size_of::<u16>() > ctx.data_end() {
        return Err(SteerStat::Truncated);
    }
    // Safety: bounds checked against data_end just above; unaligned read of two bytes.
    let raw = unsafe { core::ptr::read_unaligned((start + offset) as *const [u8; 2]) };
    Ok(u16::from_be_bytes(raw))
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
