//! XDP steering program.
//!
//! IPv4/UDP frames to a steered port (67 for the server) — untagged, 802.1Q or QinQ, with or
//! without IPv4 options — go to the AF_XDP socket bound to the frame's RX queue. Everything else
//! goes to the kernel (`XDP_PASS`): other protocols and ports, IPv4 fragments (the kernel
//! reassembles them), truncated headers, and steered frames arriving on a queue that has no
//! socket (fail open). Each decision bumps one per-CPU counter.
//!
//! Loaded by a service that holds CAP_BPF and CAP_NET_ADMIN but not CAP_PERFMON
//! (docs/PACKAGING.md), so the verifier also checks the program against speculative execution,
//! and the code keeps to what passes that check without costing time:
//!
//! - The packet pointer only ever moves by constants (14, then 4 per VLAN tag, then 20), one
//!   add at a time. Adding a variable offset to it, such as the IPv4 header length, is
//!   arithmetic the verifier refuses without CAP_PERFMON ("pointer arithmetic with it
//!   prohibited for !root"): it cannot mask it against Spectre v1.
//! - The one variable offset, the UDP header behind IPv4 options, goes to
//!   `bpf_xdp_load_bytes` as a plain number. The helper costs a call, and options are rare.
//! - Nothing is stored on the stack on any path: the verifier puts a speculation barrier
//!   (Spectre v4) after a store to a fresh stack slot, and that barrier alone costs about as
//!   much as the rest of the program. So counter keys come from read-only data (see [`count`]).
//!
//! The object holds a second program the daemon never loads: [`xdhcp_bounce`], the lab's
//! `XDP_TX` bounce that `cargo xtask bench` measures its ceiling with.
#![no_std]
#![no_main]

use core::mem::{MaybeUninit, size_of};

use aya_ebpf::{
    bindings::xdp_action,
    helpers::generated::{bpf_map_lookup_elem, bpf_xdp_load_bytes},
    macros::{map, xdp},
    maps::{PerCpuArray, XskMap},
    programs::XdpContext,
};
use dhcp_common::{DHCP_SERVER_PORT, MAX_QUEUES, MAX_VLAN_TAGS, SteerStat};

#[map]
static XSKS: XskMap = XskMap::with_max_entries(MAX_QUEUES, 0);

#[map]
static STATS: PerCpuArray<u64> = PerCpuArray::with_max_entries(SteerStat::COUNT, 0);

/// Frames [`xdhcp_bounce`] sent back, in slot 0.
#[map]
static BOUNCED: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

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

/// Bumps the per-CPU counter of `stat`.
fn count(stat: SteerStat) {
    // The lookup takes its key by reference. A key on the stack would be a store to a fresh
    // stack slot, which the verifier fences (module comment); keys in read-only data need none.
    // One arm per counter, so that each decision site ends up with its own constant address:
    // computing the address from `stat` would add a different number on each path to the same
    // pointer, which the verifier also refuses without CAP_PERFMON.
    let key: &u32 = match stat {
        SteerStat::Redirected => &STAT_KEYS[SteerStat::Redirected.index() as usize],
        SteerStat::NoSocket => &STAT_KEYS[SteerStat::NoSocket.index() as usize],
        SteerStat::NotIpv4 => &STAT_KEYS[SteerStat::NotIpv4.index() as usize],
        SteerStat::NotUdp => &STAT_KEYS[SteerStat::NotUdp.index() as usize],
        SteerStat::OtherPort => &STAT_KEYS[SteerStat::OtherPort.index() as usize],
        SteerStat::Fragment => &STAT_KEYS[SteerStat::Fragment.index() as usize],
        SteerStat::Truncated => &STAT_KEYS[SteerStat::Truncated.index() as usize],
        SteerStat::TooManyTags => &STAT_KEYS[SteerStat::TooManyTags.index() as usize],
    };
    bump(&STATS, key);
}

/// Adds one to slot `key` of the per-CPU array `map`. The key is a reference to read-only data
/// (see [`count`]).
#[inline(always)]
fn bump(map: &PerCpuArray<u64>, key: &'static u32) {
    // Safety: `map` is a per-CPU array of u64 with u32 keys (aya-ebpf's map types are
    // `repr(transparent)` over the definition the loader relocates); the key is a valid u32.
    let slot = unsafe {
        bpf_map_lookup_elem(
            core::ptr::from_ref(map).cast_mut().cast(),
            core::ptr::from_ref(key).cast(),
        )
    }
    .cast::<u64>();
    if !slot.is_null() {
        // Safety: per-CPU slot, only this CPU writes it while the program runs.
        unsafe { *slot += 1 };
    }
}

/// Every counter's index, as data that map lookups can point at.
static STAT_KEYS: [u32; SteerStat::COUNT as usize] = {
    let mut keys = [0; SteerStat::COUNT as usize];
    let mut i = 0;
    while i < keys.len() {
        keys[i] = SteerStat::ALL[i].index();
        i += 1;
    }
    keys
};

/// `Ok` when the frame is IPv4/UDP to a steered port and not a fragment.
#[inline(always)]
fn classify(ctx: &XdpContext) -> Result<(), SteerStat> {
    let end = ctx.data_end();
    let data = ctx.data();
    let mut ethertype = read_be16(data + ETH_HLEN - 2, end)?;
    // `l3` is a packet address and only moves by constants (see the module comment);
    // `l3_offset` is the same position as a number, for the helper.
    let mut l3 = data + ETH_HLEN;
    let mut l3_offset = ETH_HLEN;
    for _ in 0..MAX_VLAN_TAGS {
        if ethertype != ETH_P_8021Q && ethertype != ETH_P_8021AD {
            break;
        }
        ethertype = read_be16(l3 + 2, end)?;
        l3 += VLAN_HLEN;
        l3_offset += VLAN_HLEN;
    }
    if ethertype == ETH_P_8021Q || ethertype == ETH_P_8021AD {
        return Err(SteerStat::TooManyTags);
    }
    if ethertype != ETH_P_IP {
        return Err(SteerStat::NotIpv4);
    }

    let ver_ihl = read_u8(l3, end)?;
    let ihl = usize::from(ver_ihl & 0x0f) * 4;
    if ver_ihl >> 4 != 4 {
        return Err(SteerStat::NotIpv4);
    }
    if ihl < IPV4_MIN_HLEN {
        return Err(SteerStat::Truncated);
    }
    // The whole fixed header must be present before any field of it is trusted.
    check(l3, IPV4_MIN_HLEN, end)?;
    if read_be16(l3 + 6, end)? & IP_MF_OFFSET_MASK != 0 {
        return Err(SteerStat::Fragment);
    }
    if read_u8(l3 + 9, end)? != IPPROTO_UDP {
        return Err(SteerStat::NotUdp);
    }

    let dport = if ihl == IPV4_MIN_HLEN {
        let l4 = l3 + IPV4_MIN_HLEN;
        check(l4, UDP_HLEN, end)?;
        read_be16(l4 + 2, end)?
    } else {
        // IPv4 options put the UDP header a variable distance away: copied out by the helper,
        // which takes the offset as a number.
        let udp = load::<UDP_HLEN>(ctx, l3_offset + ihl)?;
        u16::from_be_bytes([udp[2], udp[3]])
    };
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

/// `Truncated` unless the `len` bytes at packet address `at` are inside the frame.
#[inline(always)]
fn check(at: usize, len: usize, end: usize) -> Result<(), SteerStat> {
    if at + len > end {
        Err(SteerStat::Truncated)
    } else {
        Ok(())
    }
}

#[inline(always)]
fn read_u8(at: usize, end: usize) -> Result<u8, SteerStat> {
    check(at, size_of::<u8>(), end)?;
    // Safety: inside the frame, checked against its end just above.
    Ok(unsafe { *(at as *const u8) })
}

#[inline(always)]
fn read_be16(at: usize, end: usize) -> Result<u16, SteerStat> {
    check(at, size_of::<u16>(), end)?;
    // Safety: inside the frame, checked against its end just above; unaligned read of two bytes.
    let raw = unsafe { core::ptr::read_unaligned(at as *const [u8; 2]) };
    Ok(u16::from_be_bytes(raw))
}

/// The `N` bytes of the frame at `offset`, copied by `bpf_xdp_load_bytes`; `Truncated` when the
/// frame ends before.
#[inline(always)]
fn load<const N: usize>(ctx: &XdpContext, offset: usize) -> Result<[u8; N], SteerStat> {
    // Uninitialised on purpose: zeroing it would be a store to a fresh stack slot, which the
    // verifier fences (module comment); the helper writes every byte that is read.
    let mut buf = MaybeUninit::<[u8; N]>::uninit();
    // Safety: the helper writes at most N bytes to `buf`, which is N bytes long, and reads the
    // frame of the context the kernel passed in. Offsets stay below 100, so `as u32` is exact.
    let rc =
        unsafe { bpf_xdp_load_bytes(ctx.ctx, offset as u32, buf.as_mut_ptr().cast(), N as u32) };
    if rc != 0 {
        return Err(SteerStat::Truncated);
    }
    // Safety: a return of 0 means the helper wrote all N bytes.
    Ok(unsafe { buf.assume_init() })
}

/// The lab's ceiling: an untagged IPv4/UDP frame to port 67 without IPv4 options, not a
/// fragment, goes straight back out of the interface it came in on (`XDP_TX`) with its
/// Ethernet addresses, IPv4 addresses and UDP ports swapped, and is counted in [`BOUNCED`].
/// Everything else goes to the kernel (`XDP_PASS`) untouched.
///
/// No DHCP work and no user space: what the lab can bounce at most (issue 6). Swapping the
/// addresses keeps both checksums valid (a one's-complement sum does not depend on the order of
/// its words), so the sender's stack, or its steering program on UDP/68, takes the frame as a
/// reply. Loaded only by `xdp-echo bounce`, as root.
#[xdp]
fn xdhcp_bounce(ctx: XdpContext) -> u32 {
    if bounce(&ctx) == Ok(true) {
        bump(&BOUNCED, &BOUNCED_KEY);
        xdp_action::XDP_TX
    } else {
        xdp_action::XDP_PASS
    }
}

/// The key of [`BOUNCED`]'s one slot, as data (see [`count`]).
static BOUNCED_KEY: u32 = 0;

/// `Ok(true)` with the addresses swapped for a frame [`xdhcp_bounce`] sends back; `Ok(false)`
/// for any other frame and `Err` for one shorter than the headers, both left untouched.
#[inline(always)]
fn bounce(ctx: &XdpContext) -> Result<bool, SteerStat> {
    let end = ctx.data_end();
    let data = ctx.data();
    let l3 = data + ETH_HLEN;
    let l4 = l3 + IPV4_MIN_HLEN;
    // Every byte read or written below, checked once.
    check(data, ETH_HLEN + IPV4_MIN_HLEN + UDP_HLEN, end)?;
    let wanted = read_be16(data + ETH_HLEN - 2, end)? == ETH_P_IP
        // Version 4, 20-byte header: no options.
        && read_u8(l3, end)? == 0x45
        && read_be16(l3 + 6, end)? & IP_MF_OFFSET_MASK == 0
        && read_u8(l3 + 9, end)? == IPPROTO_UDP
        && read_be16(l4 + 2, end)? == DHCP_SERVER_PORT;
    if wanted {
        // Safety: all three pairs lie inside the 42 bytes checked above.
        unsafe {
            swap::<6>(data, data + 6);
            swap::<4>(l3 + 12, l3 + 16);
            swap::<2>(l4, l4 + 2);
        }
    }
    Ok(wanted)
}

/// Swaps the `N` bytes at packet address `a` with the `N` bytes at `b`, one byte at a time:
/// a whole-array copy of six bytes becomes a `memcpy` call through a stack buffer.
///
/// # Safety
/// Both ranges must lie inside the frame and not overlap.
#[inline(always)]
unsafe fn swap<const N: usize>(a: usize, b: usize) {
    for i in 0..N {
        let (a, b) = ((a + i) as *mut u8, (b + i) as *mut u8);
        // Safety: the caller guarantees both bytes are inside the frame.
        unsafe { core::ptr::swap(a, b) };
    }
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
