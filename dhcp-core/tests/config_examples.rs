//! The example configurations in `examples/` parse, and mean what their comments say.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use dhcp_core::config::{
    self, AddrRange, BackendKind, FailoverMode, FailoverRole, JournalSync, PartnerSoftware,
    ReservationKey, SubnetId, XdpAttach, XdpBind, defaults,
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

    let ctl = &c.control;
    assert_eq!(ctl.listen, Some("127.0.0.1:8067".parse().unwrap()));
    assert_eq!(
        ctl.socket.as_deref(),
        Some(Path::new("/run/xdhcp/control.sock"))
    );
    assert_eq!(
        ctl.token_file.as_deref(),
        Some(Path::new("/etc/xdhcp/control.token"))
    );
    assert_eq!(ctl.metrics, Some("127.0.0.1:9167".parse().unwrap()));

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

    let [olt_pair, standby] = c.failover.as_slice() else {
        panic!("two relationships expected")
    };
    assert_eq!(olt_pair.name, "olt-1-pair");
    assert_eq!(olt_pair.partner.to_string(), "192.0.2.3:647");
    assert_eq!(olt_pair.local.to_string(), "192.0.2.2:647");
    assert_eq!(olt_pair.role, FailoverRole::Primary);
    assert_eq!(
        olt_pair.mode,
        FailoverMode::LoadBalance { local_percent: 50 }
    );
    assert_eq!(olt_pair.mclt_secs, defaults::MCLT_SECS);
    assert_eq!(olt_pair.state_switchover_secs, None);
    assert!(
        olt_pair
            .shared_secret
            .as_ref()
            .is_some_and(|s| s.len() >= 16)
    );
    assert_eq!(olt_pair.partner_software, PartnerSoftware::Xdhcp);
    assert_eq!(olt_pair.subnets, [SubnetId(10), SubnetId(11)]);
    assert_eq!(
        (
            olt_pair.max_unacked_updates,
            olt_pair.receive_timer_secs,
            olt_pair.load_balance_max_secs
        ),
        (100, 30, 3)
    );
    assert_eq!(standby.name, "business-standby");
    assert_eq!(standby.local, olt_pair.local);
    assert_eq!(standby.role, FailoverRole::Primary);
    assert_eq!(
        standby.mode,
        FailoverMode::HotStandby {
            reserve_percent: 10
        }
    );
    assert_eq!(
        (standby.mclt_secs, standby.state_switchover_secs),
        (1800, Some(7200))
    );
    assert_eq!(standby.shared_secret, None);
    assert_eq!(standby.load_balance_max_secs, 0);
    assert_eq!(standby.subnets, [SubnetId(20)]);
}

#[test]
fn the_failover_pair_examples_mirror_each_other() {
    let text = |name| std::fs::read_to_string(example(name)).unwrap();
    let (primary_text, secondary_text) = (
        text("failover-primary.toml"),
        text("failover-secondary.toml"),
    );
    // The files differ only in their opening comment and in the lines marked "differs".
    let primary_lines: Vec<&str> = primary_text.lines().collect();
    let secondary_lines: Vec<&str> = secondary_text.lines().collect();
    assert_eq!(primary_lines.len(), secondary_lines.len());
    let opening = primary_lines
        .iter()
        .take_while(|l| l.starts_with('#'))
        .count();
    for (a, b) in primary_lines.iter().zip(&secondary_lines).skip(opening) {
        assert!(
            a == b || (a.contains("# differs") && b.contains("# differs")),
            "{a}\n{b}"
        );
    }

    let load = |name| config::load(&example(name)).unwrap_or_else(|e| panic!("{e}"));
    let (p, s) = (
        load("failover-primary.toml"),
        load("failover-secondary.toml"),
    );
    assert_eq!(p.subnets, s.subnets);
    let ([a], [b]) = (p.failover.as_slice(), s.failover.as_slice()) else {
        panic!("one relationship each expected")
    };
    assert_eq!(a.name, b.name);
    assert_eq!((a.partner, a.local), (b.local, b.partner));
    assert_eq!(
        (a.role, b.role),
        (FailoverRole::Primary, FailoverRole::Secondary)
    );
    let (
        FailoverMode::LoadBalance { local_percent: pa },
        FailoverMode::LoadBalance { local_percent: pb },
    ) = (a.mode, b.mode)
    else {
        panic!("load balance expected")
    };
    assert_eq!((pa, pb), (60, 40));
    assert_eq!(a.shared_secret, b.shared_secret);
    assert!(a.shared_secret.is_some());
    assert_eq!(
        (a.mclt_secs, a.state_switchover_secs, a.subnets.as_slice()),
        (b.mclt_secs, b.state_switchover_secs, b.subnets.as_slice())
    );
    assert_eq!(p.server.interfaces[0].address, Some(*a.local.ip()));
    assert_eq!(s.server.interfaces[0].address, Some(*b.local.ip()));
}

#[test]
fn the_isc_partner_example_speaks_to_isc_dhcpd() {
    let c = config::load(&example("failover-isc-partner.toml")).unwrap_or_else(|e| panic!("{e}"));
    let [r] = c.failover.as_slice() else {
        panic!("one relationship expected")
    };
    assert_eq!(r.name, "isc-migration");
    assert_eq!(r.partner_software, PartnerSoftware::IscDhcpd);
    assert_eq!(r.shared_secret, None);
    assert_eq!(r.role, FailoverRole::Primary);
    assert_eq!(r.mode, FailoverMode::LoadBalance { local_percent: 50 });
    assert_eq!(r.partner.to_string(), "192.0.2.22:647");
    assert_eq!(r.local.to_string(), "192.0.2.21:647");
    // ISC has no exclusions: the pools are the same ranges on both sides.
    assert!(c.subnets.iter().all(|s| s.exclusions.is_empty()));
    assert_eq!(
        (
            r.mclt_secs,
            r.max_unacked_updates,
            r.receive_timer_secs,
            r.load_balance_max_secs
        ),
        (3600, 100, 30, 3)
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
    assert!(c.failover.is_empty());
    assert_eq!(c.control, config::ControlSettings::default());
    assert_eq!(
        c.control.listen.map(|a| a.to_string()).as_deref(),
        Some(defaults::CONTROL_LISTEN)
    );
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
