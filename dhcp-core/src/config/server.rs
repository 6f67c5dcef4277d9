//! `[server]` -> [`ServerSettings`].

use std::collections::HashSet;
use std::path::PathBuf;

use super::defaults as d;
use super::error::{ConfigErrors, Problems};
use super::file::{
    BackendFile, DurationValue, JournalFile, JournalSyncFile, ServerFile, XdpAttachFile,
    XdpBindFile, XdpFile,
};
use super::model::{
    BackendKind, InterfaceSettings, JournalSettings, JournalSync, ServerSettings, XdpAttach,
    XdpBind, XdpSettings,
};
use super::values;

/// Longest `offer-hold`: an offer held longer keeps an address from clients that never return.
const OFFER_HOLD_MAX_SECS: u32 = 3600;

impl TryFrom<ServerFile> for ServerSettings {
    type Error = ConfigErrors;

    /// Checks `[server]` alone; errors carry keys but no file (see [`ConfigErrors`]).
    fn try_from(f: ServerFile) -> Result<Self, ConfigErrors> {
        let mut p = Problems::default();
        match server(&f, &mut p) {
            Some(s) if p.is_empty() => Ok(s),
            _ => Err(p.into_errors()),
        }
    }
}

/// Converts `[server]`, recording every problem; `None` when there was one.
pub(crate) fn server(f: &ServerFile, p: &mut Problems) -> Option<ServerSettings> {
    let before = p.len();
    let interfaces = interfaces(f, p);
    let workers = f
        .workers
        .map_or(Some(d::WORKERS), |w| p.check("server.workers", workers(w)));
    let shards = match (f.shards, workers) {
        (None, Some(w)) => Some(d::shards(w)),
        (Some(s), w) => p.check("server.shards", shards(s, w)),
        (None, None) => None,
    };
    let state_dir = match &f.state_dir {
        None => Some(PathBuf::from(d::STATE_DIR)),
        Some(s) => p.check("server.state-dir", absolute(s)),
    };
    let offer_hold =
        duration(&f.offer_hold, d::OFFER_HOLD_SECS, "server.offer-hold", p).and_then(|secs| {
            let r = if secs > OFFER_HOLD_MAX_SECS {
                Err(format!(
                    "{secs} s is longer than the limit of {OFFER_HOLD_MAX_SECS} s"
                ))
            } else {
                Ok(secs)
            };
            p.check("server.offer-hold", r)
        });
    let decline_quarantine = duration(
        &f.decline_quarantine,
        d::DECLINE_QUARANTINE_SECS,
        "server.decline-quarantine",
        p,
    );
    let xdp = xdp(&f.xdp, p);
    let journal = journal(&f.journal, p);
    if p.len() != before {
        return None;
    }
    Some(ServerSettings {
        interfaces,
        backend: f.backend.map_or(d::BACKEND, |b| match b {
            BackendFile::Xdp => BackendKind::Xdp,
            BackendFile::Socket => BackendKind::Socket,
        }),
        workers: workers?,
        shards: shards?,
        state_dir: state_dir?,
        offer_hold_secs: offer_hold?,
        decline_quarantine_secs: decline_quarantine?,
        xdp: xdp?,
        journal: journal?,
    })
}

fn interfaces(f: &ServerFile, p: &mut Problems) -> Vec<InterfaceSettings> {
    if f.interfaces.is_empty() {
        p.push("server.interfaces", "at least one interface is needed");
    }
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(f.interfaces.len());
    for (i, iface) in f.interfaces.iter().enumerate() {
        let key = format!("server.interfaces[{i}]");
        let name = p.check(format!("{key}.name"), interface_name(&iface.name));
        if name.is_some() && !seen.insert(iface.name.as_str()) {
            p.push(
                format!("{key}.name"),
                format!("`{}` is listed twice", iface.name),
            );
        }
        let address = match &iface.address {
            None => Some(None),
            Some(a) => p
                .check(format!("{key}.address"), values::unicast(a))
                .map(Some),
        };
        if let (Some(()), Some(address)) = (name, address) {
            out.push(InterfaceSettings {
                name: iface.name.clone(),
                address,
            });
        }
    }
    out
}

/// What Linux accepts as a device name (`dev_valid_name`).
fn interface_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() < 16
        && name != "."
        && name != ".."
        && !name.contains(['/', ':'])
        && !name.contains(char::is_whitespace);
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not an interface name (1 to 15 bytes, no `/`, `:` or spaces)"
        ))
    }
}

fn workers(w: u32) -> Result<u16, String> {
    match u16::try_from(w) {
        Ok(w @ 1..=d::WORKERS_MAX) => Ok(w),
        _ => Err(format!("{w} is not between 1 and {}", d::WORKERS_MAX)),
    }
}

fn shards(s: u32, workers: Option<u16>) -> Result<u16, String> {
    let s16 = u16::try_from(s)
        .ok()
        .filter(|&s| s.is_power_of_two() && s <= d::SHARDS_MAX)
        .ok_or_else(|| format!("{s} is not a power of two between 1 and {}", d::SHARDS_MAX))?;
    match workers {
        Some(w) if s16 < w => Err(format!("{s} shards cannot be spread over {w} workers")),
        _ => Ok(s16),
    }
}

fn absolute(s: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(s);
    if path.is_absolute() {
        Ok(path)
    } else {
        Err(format!("`{s}` is not an absolute path"))
    }
}

/// A duration of at least one second, or `default` when absent.
fn duration(v: &Option<DurationValue>, default: u32, key: &str, p: &mut Problems) -> Option<u32> {
    let Some(v) = v else { return Some(default) };
    let r = v.secs().and_then(|s| {
        if s == 0 {
            Err("must be at least 1 second".to_owned())
        } else {
            Ok(s)
        }
    });
    p.check(key, r)
}

fn xdp(f: &XdpFile, p: &mut Problems) -> Option<XdpSettings> {
    let before = p.len();
    let mut seen = HashSet::new();
    for (i, q) in f.queues.iter().enumerate() {
        if !seen.insert(q) {
            p.push(
                format!("server.xdp.queues[{i}]"),
                format!("queue {q} is listed twice"),
            );
        }
    }
    let pin_dir = match f.pin_dir.as_deref().unwrap_or(d::XDP_PIN_DIR) {
        "" => Some(None),
        dir => p.check("server.xdp.pin-dir", absolute(dir)).map(Some),
    };
    let (lo, hi) = d::XDP_FRAMES_PER_QUEUE_RANGE;
    let frames = f.frames_per_queue.unwrap_or(d::XDP_FRAMES_PER_QUEUE);
    let frames = if frames.is_power_of_two() && (lo..=hi).contains(&frames) {
        Some(frames)
    } else {
        p.push(
            "server.xdp.frames-per-queue",
            format!("{frames} is not a power of two between {lo} and {hi}"),
        );
        None
    };
    if p.len() != before {
        return None;
    }
    Some(XdpSettings {
        attach: f.attach.map_or(d::XDP_ATTACH, |a| match a {
            XdpAttachFile::Auto => XdpAttach::Auto,
            XdpAttachFile::Native => XdpAttach::Native,
            XdpAttachFile::Skb => XdpAttach::Skb,
        }),
        bind: f.bind.map_or(d::XDP_BIND, |b| match b {
            XdpBindFile::Auto => XdpBind::Auto,
            XdpBindFile::ZeroCopy => XdpBind::ZeroCopy,
            XdpBindFile::Copy => XdpBind::Copy,
        }),
        queues: f.queues.clone(),
        pin_dir: pin_dir?,
        frames_per_queue: frames?,
    })
}

fn journal(f: &JournalFile, p: &mut Problems) -> Option<JournalSettings> {
    let (lo, hi) = d::JOURNAL_FLUSH_INTERVAL_MS_RANGE;
    let flush = f.flush_interval_ms.unwrap_or(d::JOURNAL_FLUSH_INTERVAL_MS);
    let flush = if (lo..=hi).contains(&flush) {
        Some(flush)
    } else {
        p.push(
            "server.journal.flush-interval-ms",
            format!("{flush} is not between {lo} and {hi}"),
        );
        None
    };
    let compact = match &f.compact_after_bytes {
        None => Some(d::JOURNAL_COMPACT_AFTER_BYTES),
        Some(v) => {
            let r = v.bytes().and_then(|b| {
                if b < d::JOURNAL_COMPACT_AFTER_BYTES_MIN {
                    Err(format!(
                        "{b} bytes is below the minimum of {} (64KiB)",
                        d::JOURNAL_COMPACT_AFTER_BYTES_MIN
                    ))
                } else {
                    Ok(b)
                }
            });
            p.check("server.journal.compact-after-bytes", r)
        }
    };
    Some(JournalSettings {
        sync: f.sync.map_or(d::JOURNAL_SYNC, |s| match s {
            JournalSyncFile::Durable => JournalSync::Durable,
            JournalSyncFile::Background => JournalSync::Background,
        }),
        flush_interval_ms: flush?,
        compact_after_bytes: compact?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::file::InterfaceFile;

    fn file() -> ServerFile {
        ServerFile {
            interfaces: vec![InterfaceFile {
                name: "eth0".into(),
                address: None,
            }],
            backend: None,
            workers: None,
            shards: None,
            state_dir: None,
            offer_hold: None,
            decline_quarantine: None,
            xdp: XdpFile::default(),
            journal: JournalFile::default(),
        }
    }

    fn errors(f: ServerFile) -> Vec<String> {
        let e = ServerSettings::try_from(f).unwrap_err();
        e.iter()
            .map(|e| format!("{}: {}", e.key, e.reason))
            .collect()
    }

    #[test]
    fn defaults_fill_everything_but_interfaces() {
        let s = ServerSettings::try_from(file()).unwrap();
        assert_eq!(s.backend, BackendKind::Xdp);
        assert_eq!((s.workers, s.shards), (1, 2));
        assert_eq!(s.state_dir, PathBuf::from("/var/lib/xdhcp"));
        assert_eq!((s.offer_hold_secs, s.decline_quarantine_secs), (10, 86_400));
        assert_eq!(s.xdp.pin_dir, Some(PathBuf::from("/sys/fs/bpf/xdhcp")));
        assert_eq!(s.xdp.frames_per_queue, 4096);
        assert!(s.xdp.queues.is_empty());
        assert_eq!(s.journal.sync, JournalSync::Durable);
        assert_eq!(s.journal.flush_interval_ms, 5);
        assert_eq!(s.journal.compact_after_bytes, 64 << 20);
    }

    #[test]
    fn default_shards_are_the_power_of_two_at_or_above_twice_the_workers() {
        for (w, s) in [(1, 2), (2, 4), (3, 8), (4, 8), (5, 16), (1024, 2048)] {
            let mut f = file();
            f.workers = Some(w);
            assert_eq!(
                ServerSettings::try_from(f).unwrap().shards,
                s,
                "workers {w}"
            );
        }
    }

    #[test]
    fn workers_and_shards() {
        let mut f = file();
        f.workers = Some(0);
        assert_eq!(errors(f), ["server.workers: 0 is not between 1 and 1024"]);
        let mut f = file();
        f.workers = Some(4);
        f.shards = Some(6);
        assert_eq!(
            errors(f),
            ["server.shards: 6 is not a power of two between 1 and 16384"]
        );
        let mut f = file();
        f.workers = Some(4);
        f.shards = Some(2);
        assert_eq!(
            errors(f),
            ["server.shards: 2 shards cannot be spread over 4 workers"]
        );
        let mut f = file();
        f.workers = Some(4);
        f.shards = Some(4);
        assert_eq!(ServerSettings::try_from(f).unwrap().shards, 4);
    }

    #[test]
    fn interfaces_are_checked() {
        let mut f = file();
        f.interfaces.clear();
        assert_eq!(
            errors(f),
            ["server.interfaces: at least one interface is needed"]
        );
        let mut f = file();
        let iface = |name: &str, address: Option<&str>| InterfaceFile {
            name: name.into(),
            address: address.map(Into::into),
        };
        f.interfaces = vec![
            iface("eth0", Some("192.0.2.1")),
            iface("eth0", None),
            iface("a-very-long-interface", None),
            iface("eth1", Some("0.0.0.0")),
        ];
        assert_eq!(
            errors(f),
            [
                "server.interfaces[1].name: `eth0` is listed twice",
                "server.interfaces[2].name: `a-very-long-interface` is not an interface name (1 to 15 bytes, no `/`, `:` or spaces)",
                "server.interfaces[3].address: 0.0.0.0 is the unspecified address, not a unicast address",
            ]
        );
    }

    #[test]
    fn times_paths_and_sizes() {
        let mut f = file();
        f.offer_hold = Some(DurationValue::Secs(0));
        f.decline_quarantine = Some(DurationValue::Text("forever".into()));
        f.state_dir = Some("state".into());
        f.xdp.pin_dir = Some("bpf".into());
        f.xdp.frames_per_queue = Some(1000);
        f.xdp.queues = vec![0, 1, 0];
        f.journal.flush_interval_ms = Some(0);
        f.journal.compact_after_bytes = Some(crate::config::file::SizeValue::Bytes(1000));
        assert_eq!(
            errors(f),
            [
                "server.state-dir: `state` is not an absolute path",
                "server.offer-hold: must be at least 1 second",
                "server.decline-quarantine: `forever` is not a duration (e.g. 600, \"45s\", \"10m\", \"1h30m\", \"7d\")",
                "server.xdp.queues[2]: queue 0 is listed twice",
                "server.xdp.pin-dir: `bpf` is not an absolute path",
                "server.xdp.frames-per-queue: 1000 is not a power of two between 64 and 65536",
                "server.journal.flush-interval-ms: 0 is not between 1 and 60000",
                "server.journal.compact-after-bytes: 1000 bytes is below the minimum of 65536 (64KiB)",
            ]
        );
        let mut f = file();
        f.offer_hold = Some(DurationValue::Text("2h".into()));
        assert_eq!(
            errors(f),
            ["server.offer-hold: 7200 s is longer than the limit of 3600 s"]
        );
    }

    #[test]
    fn an_empty_pin_dir_turns_pinning_off() {
        let mut f = file();
        f.xdp.pin_dir = Some(String::new());
        assert_eq!(ServerSettings::try_from(f).unwrap().xdp.pin_dir, None);
    }
}
