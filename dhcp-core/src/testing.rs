//! Configurations for unit tests.

use std::{net::Ipv4Addr, path::PathBuf};

use crate::config::*;

/// Two subnets: 10.0.0.0/24 (pool .100-.199, .150 excluded, 10.0.0.10 reserved for
/// 02:00:00:00:00:0a, routers/DNS/domain set) and 10.1.0.0/24 (pool .50-.59, relayed).
pub fn test_config() -> Config {
    let lease = LeaseTimes {
        min_secs: 60,
        default_secs: 3600,
        max_secs: 86_400,
        renew_permille: 500,
        rebind_permille: 875,
    };
    let range = |a: [u8; 4], b: [u8; 4]| AddrRange {
        start: Ipv4Addr::from(a),
        end: Ipv4Addr::from(b),
    };
    Config {
        server: ServerSettings {
            interfaces: vec![InterfaceSettings {
                name: "eth0".into(),
                address: Some(Ipv4Addr::new(10, 0, 0, 1)),
            }],
            backend: BackendKind::Socket,
            workers: 1,
            shards: 2,
            state_dir: PathBuf::from("/tmp/xdhcp-test"),
            offer_hold_secs: 10,
            decline_quarantine_secs: 600,
            xdp: XdpSettings {
                attach: XdpAttach::Auto,
                bind: XdpBind::Auto,
                queues: vec![],
                pin_dir: None,
                frames_per_queue: 4096,
            },
            journal: JournalSettings {
                sync: JournalSync::Durable,
                flush_interval_ms: 5,
                compact_after_bytes: 64 << 20,
            },
        },
        subnets: vec![
            Subnet {
                id: SubnetId(1),
                network: Ipv4Net {
                    addr: Ipv4Addr::new(10, 0, 0, 0),
                    prefix: 24,
                },
                pools: vec![range([10, 0, 0, 100], [10, 0, 0, 199])],
                exclusions: vec![range([10, 0, 0, 150], [10, 0, 0, 150])],
                lease,
                options: SubnetOptions {
                    routers: vec![Ipv4Addr::new(10, 0, 0, 1)],
                    dns_servers: vec![Ipv4Addr::new(10, 0, 0, 53), Ipv4Addr::new(10, 0, 0, 54)],
                    domain_name: Some("isp.example".into()),
                    mtu: Some(1500),
                    ntp_servers: vec![Ipv4Addr::new(10, 0, 0, 123)],
                    classless_static_routes: vec![StaticRoute {
                        destination: Ipv4Net {
                            addr: Ipv4Addr::new(192, 168, 0, 0),
                            prefix: 16,
                        },
                        gateway: Ipv4Addr::new(10, 0, 0, 2),
                    }],
                    extra: vec![],
                },
                vendor_classes: vec![VendorClass {
                    class_prefix: b"MSFT".to_vec(),
                    option_43: vec![1, 4, 0, 0, 0, 1],
                }],
                reservations: vec![Reservation {
                    key: ReservationKey::HwAddress([2, 0, 0, 0, 0, 10]),
                    address: Ipv4Addr::new(10, 0, 0, 10),
                    hostname: Some("reserved-host".into()),
                }],
                shared_network: None,
                server_id: None,
            },
            Subnet {
                id: SubnetId(2),
                network: Ipv4Net {
                    addr: Ipv4Addr::new(10, 1, 0, 0),
                    prefix: 24,
                },
                pools: vec![range([10, 1, 0, 50], [10, 1, 0, 59])],
                exclusions: vec![],
                lease,
                options: SubnetOptions {
                    routers: vec![Ipv4Addr::new(10, 1, 0, 1)],
                    ..SubnetOptions::default()
                },
                vendor_classes: vec![],
                reservations: vec![Reservation {
                    key: ReservationKey::CircuitId(b"port-7".to_vec()),
                    address: Ipv4Addr::new(10, 1, 0, 7),
                    hostname: None,
                }],
                shared_network: None,
                server_id: None,
            },
        ],
        failover: vec![],
        control: ControlSettings::default(),
    }
}
