//! The example configurations in `examples/` parse, and mean what their comments say.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use dhcp_core::config::{
    self, AddrRange, BackendKind, JournalSync, ReservationKey, SubnetId, XdpAttach, XdpBind,
    defaults,
};

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name)
}

fn a(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn range(start: &str, end: &str) -> AddrRange {
    AddrRange {
        start: a(start),
        end: a(end),
    }
}

#[test]
fn the_annotated_example_loads() {
    let c = config::load(&example("xdhcpd.toml")).unwrap_or_else(|e| panic!("{e}"));

    let s = &c.server;
    assert_eq!(s.interfaces.len(), 2);
    assert_eq!(s.interfaces[0].name, "eth0");
    assert_eq!(s.interfaces[0].address, Some(a("192.0.2.2")));
    assert_eq!(
        (s.interfaces[1].name.as_str(), s.interfaces[1].address),
        ("eth1", None)
    );
    assert_eq!(s.backend, BackendKind::Xdp);
    assert_eq!((s.workers, s.shards), (4, 8));
    assert_eq!((s.offer_hold_secs, s.decline_quarantine_secs), (10, 3600));
    assert_eq!(s.xdp.queues, [0, 1, 2, 3]);
    assert_eq!(s.journal.compact_after_bytes, 256 << 20);

    let ids: Vec<SubnetId> = c.subnets.iter().map(|s| s.id).collect();
    assert_eq!(ids, [SubnetId(1), SubnetId(10), SubnetId(11), SubnetId(20)]);

    let mgmt = &c.subnets[0];
    assert_eq!(mgmt.network.to_string(), "192.0.2.0/24");
    assert_eq!(mgmt.exclusions[1], range("192.0.2.199", "192.0.2.199"));
    assert_eq!(
        (mgmt.lease.min_secs, mgmt.lease.default_secs),
        (1800, 4 * 3600)
    );
    assert_eq!(
        mgmt.options.domain_name.as_deref(),
        Some("mgmt.isp.example")
    );
    assert_eq!(
        mgmt.reservations[0].key,
        ReservationKey::HwAddress([2, 0, 0x5e, 0, 0x53, 1])
    );
    assert_eq!(
        mgmt.reservations[1].key,
        ReservationKey::ClientId(vec![1, 2, 0, 0x5e, 0, 0x53, 2])
    );
    assert_eq!(mgmt.reservations[1].hostname.as_deref(), Some("switch-2"));

    let olt = &c.subnets[1];
    assert_eq!(olt.shared_network.as_deref(), Some("olt-1"));
    assert_eq!(c.subnets[2].shared_network.as_deref(), Some("olt-1"));
    assert_eq!(
        (
            olt.lease.min_secs,
            olt.lease.default_secs,
            olt.lease.max_secs
        ),
        (600, 3600, 86_400)
    );
    assert_eq!(
        (olt.lease.renew_permille, olt.lease.rebind_permille),
        (500, 875)
    );
    assert_eq!(olt.options.mtu, Some(1500));
    let codes: Vec<u8> = olt.options.extra.iter().map(|(c, _)| *c).collect();
    assert_eq!(codes, [66, 150, 252]);
    assert_eq!(olt.options.extra[1].1, [198, 51, 100, 69]);
    assert_eq!(olt.vendor_classes[0].class_prefix, b"MSFT 5.0");
    assert_eq!(olt.vendor_classes[1].option_43, [1, 4, 198, 51, 100, 69]);
    assert_eq!(
        olt.reservations[0].key,
        ReservationKey::CircuitId(b"olt-1 eth 1/1/1:100".to_vec())
    );
    assert_eq!(
        olt.reservations[1].key,
        ReservationKey::RemoteId(vec![0, 0x11, 0x22, 0x33, 0x44, 0x55])
    );
    assert_eq!(
        c.subnets[2].pools,
        [
            range("100.64.5.0", "100.64.5.255"),
            range("100.64.6.0", "100.64.7.200")
        ]
    );

    let business = &c.subnets[3];
    assert_eq!(business.server_id, Some(a("203.0.113.1")));
    let routes = &business.options.classless_static_routes;
    assert_eq!(routes.len(), 2);
    assert_eq!(routes[0].destination.prefix, 0);
    assert_eq!(routes[1].gateway, a("198.51.100.254"));
    assert_eq!(
        (business.lease.default_secs, business.lease.max_secs),
        (86_400, 7 * 86_400)
    );
    assert_eq!(
        (
            business.lease.renew_permille,
            business.lease.rebind_permille
        ),
        (400, 800)
    );
    assert_eq!(
        business.reservations[0].key,
        ReservationKey::CircuitId(vec![0, 4, 0, 1, 0, 1])
    );
    assert_eq!(
        business.reservations[1].key,
        ReservationKey::RemoteId(b"customer-b@isp.example".to_vec())
    );
}

#[test]
fn the_minimal_example_gets_every_default() {
    let c = config::load(&example("minimal.toml")).unwrap_or_else(|e| panic!("{e}"));
    let s = &c.server;
    assert_eq!(s.backend, defaults::BACKEND);
    assert_eq!(s.workers, defaults::WORKERS);
    assert_eq!(s.shards, defaults::shards(defaults::WORKERS));
    assert_eq!(s.state_dir, Path::new(defaults::STATE_DIR));
    assert_eq!(s.offer_hold_secs, defaults::OFFER_HOLD_SECS);
    assert_eq!(s.decline_quarantine_secs, defaults::DECLINE_QUARANTINE_SECS);
    assert_eq!(s.xdp.attach, XdpAttach::Auto);
    assert_eq!(s.xdp.bind, XdpBind::Auto);
    assert!(s.xdp.queues.is_empty());
    assert_eq!(
        s.xdp.pin_dir.as_deref(),
        Some(Path::new(defaults::XDP_PIN_DIR))
    );
    assert_eq!(s.xdp.frames_per_queue, defaults::XDP_FRAMES_PER_QUEUE);
    assert_eq!(s.journal.sync, JournalSync::Durable);
    assert_eq!(
        s.journal.flush_interval_ms,
        defaults::JOURNAL_FLUSH_INTERVAL_MS
    );
    assert_eq!(
        s.journal.compact_after_bytes,
        defaults::JOURNAL_COMPACT_AFTER_BYTES
    );

    let [subnet] = c.subnets.as_slice() else {
        panic!("one subnet expected")
    };
    let l = subnet.lease;
    assert_eq!(l.min_secs, defaults::LEASE_MIN_SECS);
    assert_eq!(l.default_secs, defaults::LEASE_DEFAULT_SECS);
    assert_eq!(l.max_secs, defaults::LEASE_MAX_SECS);
    assert_eq!(f64::from(l.renew_permille) / 10.0, defaults::RENEW_PERCENT);
    assert_eq!(
        f64::from(l.rebind_permille) / 10.0,
        defaults::REBIND_PERCENT
    );
    assert_eq!(subnet.pools, [range("192.0.2.100", "192.0.2.199")]);
}

#[test]
fn a_missing_file_is_one_error_naming_it() {
    let path = example("no-such-file.toml");
    let e = config::load(&path).unwrap_err();
    assert_eq!(e.len(), 1);
    let e = &e.0[0];
    assert_eq!(e.file, path.display().to_string());
    assert_eq!((e.line, e.key.as_str()), (None, ""));
    assert!(
        e.reason.starts_with("cannot read the file: "),
        "{}",
        e.reason
    );
}
