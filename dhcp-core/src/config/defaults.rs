//! Every default and every limit of the configuration file, in one place. The example
//! `examples/xdhcpd.toml` quotes these values in its comments; the test of
//! `examples/minimal.toml` checks that a file that sets nothing gets exactly these.

use super::model::{BackendKind, JournalSync, XdpAttach, XdpBind};

/// `server.backend`.
pub const BACKEND: BackendKind = BackendKind::Xdp;
/// `server.workers`.
pub const WORKERS: u16 = 1;
/// Upper bound of `server.workers`.
pub const WORKERS_MAX: u16 = 1024;
/// Upper bound of `server.shards` (a power of two that fits the model's `u16`).
pub const SHARDS_MAX: u16 = 16384;
/// `server.state-dir`.
pub const STATE_DIR: &str = "/var/lib/xdhcp";
/// `server.offer-hold`, seconds.
pub const OFFER_HOLD_SECS: u32 = 10;
/// `server.decline-quarantine`, seconds (Kea's `decline-probation-period` default).
pub const DECLINE_QUARANTINE_SECS: u32 = 86_400;

/// `server.xdp.attach`.
pub const XDP_ATTACH: XdpAttach = XdpAttach::Auto;
/// `server.xdp.bind`.
pub const XDP_BIND: XdpBind = XdpBind::Auto;
/// `server.xdp.pin-dir`; the empty string turns pinning off.
pub const XDP_PIN_DIR: &str = "/sys/fs/bpf/xdhcp";
/// `server.xdp.frames-per-queue`.
pub const XDP_FRAMES_PER_QUEUE: u32 = 4096;
/// Bounds of `server.xdp.frames-per-queue` (a power of two).
pub const XDP_FRAMES_PER_QUEUE_RANGE: (u32, u32) = (64, 65536);

/// `server.journal.sync`.
pub const JOURNAL_SYNC: JournalSync = JournalSync::Durable;
/// `server.journal.flush-interval-ms`.
pub const JOURNAL_FLUSH_INTERVAL_MS: u32 = 5;
/// Bounds of `server.journal.flush-interval-ms`.
pub const JOURNAL_FLUSH_INTERVAL_MS_RANGE: (u32, u32) = (1, 60_000);
/// `server.journal.compact-after-bytes` (64 MiB).
pub const JOURNAL_COMPACT_AFTER_BYTES: u64 = 64 << 20;
/// Lower bound of `server.journal.compact-after-bytes` (64 KiB).
pub const JOURNAL_COMPACT_AFTER_BYTES_MIN: u64 = 64 << 10;

/// `lease.default`, seconds.
pub const LEASE_DEFAULT_SECS: u32 = 3600;
/// `lease.min`, seconds.
pub const LEASE_MIN_SECS: u32 = 600;
/// `lease.max`, seconds.
pub const LEASE_MAX_SECS: u32 = 86_400;
/// `lease.renew-percent` (T1, RFC 2131 section 4.4.5).
pub const RENEW_PERCENT: f64 = 50.0;
/// `lease.rebind-percent` (T2, RFC 2131 section 4.4.5).
pub const REBIND_PERCENT: f64 = 87.5;

/// Longest option value accepted in `option-data` and `vendor-classes` (the wire writer splits
/// values over 255 bytes, RFC 3396; beyond this a value is surely a mistake).
pub const OPTION_VALUE_MAX: usize = 1024;
/// Most addresses in one of `routers`, `dns-servers`, `ntp-servers` (what fits one option).
pub const ADDRESS_LIST_MAX: usize = 63;

/// Longest duration accepted anywhere: 0xffff_ffff means "infinite" on the wire.
pub const DURATION_MAX_SECS: u32 = u32::MAX - 1;

/// `server.shards` when not given: the next power of two at or above twice `workers`, so each
/// worker starts with at least two shards to hand over when the worker count changes.
pub fn shards(workers: u16) -> u16 {
    let shards = (2 * u32::from(workers)).next_power_of_two();
    u16::try_from(shards).map_or(SHARDS_MAX, |s| s.min(SHARDS_MAX))
}
