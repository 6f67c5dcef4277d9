//! Every default and every limit of the configuration file, in one place. The example
//! `examples/xdhcpd.toml` quotes these values in its comments; the test of
//! `examples/minimal.toml` checks that a file that sets nothing gets exactly these.

use super::model::{BackendKind, JournalSync, PartnerSoftware, XdpAttach, XdpBind};

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

/// `control.listen`: loopback only; `""` turns the TCP listener off.
pub const CONTROL_LISTEN: &str = "127.0.0.1:8067";
/// `control.socket` (systemd's `RuntimeDirectory=xdhcp`); `""` turns it off.
pub const CONTROL_SOCKET: &str = "/run/xdhcp/control.sock";
/// `control.token-file` (systemd's `ConfigurationDirectory=xdhcp`).
pub const CONTROL_TOKEN_FILE: &str = "/etc/xdhcp/control.token";
/// Longest `control.socket` path: `sun_path` holds 108 bytes with the terminating NUL.
pub const CONTROL_SOCKET_MAX_BYTES: usize = 107;

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

/// `failover[].partner` and `failover[].local-address` port when none is written (draft-12
/// §7.8, ISC's and Windows' default).
pub const FAILOVER_PORT: u16 = 647;
/// Longest `failover[].name`, in characters (Windows' limit for a relationship name).
pub const FAILOVER_NAME_MAX: usize = 126;
/// `failover[].load-balance-percent`: each server answers half of the clients.
pub const LOAD_BALANCE_PERCENT: u8 = 50;
/// `failover[].reserve-percent`: the standby's share of free addresses (Windows' default).
pub const RESERVE_PERCENT: u8 = 5;
/// `failover[].mclt`, seconds (Windows' `-MaxClientLeadTime` default).
pub const MCLT_SECS: u32 = 3600;
/// Longest `failover[].mclt`, seconds (30 days). A server in PARTNER-DOWN waits this long before
/// it uses the partner's free addresses, and a partner that comes back after a crash waits it
/// in RECOVER-WAIT: beyond a month that wait is no longer failover, and an MCLT that large is
/// a unit mistake ("30d" meant as "30m").
pub const MCLT_MAX_SECS: u32 = 30 * 86_400;
/// `failover[].partner-software`.
pub const PARTNER_SOFTWARE: PartnerSoftware = PartnerSoftware::Xdhcp;
/// Shortest `failover[].shared-secret`, bytes. Anyone who captures one digested message can
/// test guesses of the secret offline at the speed of HMAC-SHA256, so the secret must not be
/// guessable: 16 random characters are out of reach, 8 typed ones are not. (RFC 2104 advises
/// keys at least as long as the hash output; 16 bytes is the floor we enforce, 32 the advice.)
pub const SHARED_SECRET_MIN_BYTES: usize = 16;
/// `failover[].max-unacked-updates` (ISC's default).
pub const MAX_UNACKED_UPDATES: u32 = 100;
/// Bounds of `failover[].max-unacked-updates`: at least one update in flight, and a bound on
/// the per-relationship queue of updates the partner may send before it waits for our acks.
pub const MAX_UNACKED_UPDATES_RANGE: (u32, u32) = (1, 65_535);
/// `failover[].receive-timer`, seconds (like ISC's `max-response-delay`; the partner sends
/// CONTACT at a third of it).
pub const RECEIVE_TIMER_SECS: u32 = 30;
/// Bounds of `failover[].receive-timer`, seconds: below 3 s the partner's CONTACT interval
/// (a third) falls under one second, the wire's resolution; above an hour a dead partner goes
/// unnoticed for longer than any client waits.
pub const RECEIVE_TIMER_SECS_RANGE: (u32, u32) = (3, 3600);
/// `failover[].load-balance-max-seconds` in load-balance mode (ISC's `load balance max
/// seconds`): a client that has been trying for longer is answered whoever owns its bucket.
pub const LOAD_BALANCE_MAX_SECS: u16 = 3;
/// `failover[].load-balance-max-seconds` in hot-standby mode: off, so the standby stays silent
/// while the active server is up, as a Windows standby does.
pub const HOT_STANDBY_LOAD_BALANCE_MAX_SECS: u16 = 0;
/// Largest `failover[].load-balance-max-seconds`. Clients retransmit with backoff up to about a
/// minute (RFC 2131 §4.1), so a threshold of minutes means in effect "never", which is 0:
/// a larger value is most likely milliseconds written as seconds.
pub const LOAD_BALANCE_MAX_SECS_MAX: u16 = 255;

/// `server.shards` when not given: the next power of two at or above twice `workers`, so each
/// worker starts with at least two shards to hand over when the worker count changes.
pub fn shards(workers: u16) -> u16 {
    let shards = (2 * u32::from(workers)).next_power_of_two();
    u16::try_from(shards).map_or(SHARDS_MAX, |s| s.min(SHARDS_MAX))
}
