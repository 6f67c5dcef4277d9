//! xdhcpctl: operator command line for xdhcpd, over its control API (the Unix socket by
//! default, or `--url http://HOST:PORT`), with command names from Kea's control channel and
//! Windows' DhcpServer cmdlets. `journal-dump` reads a journal directly, daemon or not.

use std::{path::PathBuf, process::ExitCode};

use clap::{Args, Parser, Subcommand};
use dhcp_core::lease::{Binding, BindingState, key::KeyKind};
use dhcp_user::api::{
    client::{Client, Endpoint},
    http::encode,
};
use serde_json::{Value, json};

#[derive(Parser)]
#[command(
    version,
    about = "xdhcp operator commands (over the daemon's control API)",
    after_help = "Reads need no token on the Unix socket or loopback; commands that change state send the token from --token-file.\nEvery command takes --json for the API's JSON answer. docs/OPERATIONS.md lists the routes behind each command."
)]
struct Cli {
    #[command(flatten)]
    conn: Conn,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Args)]
struct Conn {
    /// The daemon's control socket.
    #[arg(
        long,
        global = true,
        default_value = "/run/xdhcp/control.sock",
        env = "XDHCPCTL_SOCKET"
    )]
    socket: PathBuf,
    /// The control API over HTTP instead of the socket: http://HOST:PORT.
    #[arg(long, global = true, env = "XDHCPCTL_URL")]
    url: Option<String>,
    /// File whose first line is the bearer token (sent by commands that change state).
    #[arg(
        long,
        global = true,
        default_value = "/etc/xdhcp/control.token",
        env = "XDHCPCTL_TOKEN_FILE"
    )]
    token_file: PathBuf,
    /// Print the API's JSON answer instead of a table.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand)]
enum Cmd {
    /// Version, uptime, workers, configuration file, token state (Kea status-get).
    #[command(visible_alias = "status-get")]
    Status,
    /// Every route of the API with its Kea and Windows names.
    ListCommands,
    /// The lease on an address, or the leases of a client (Kea lease4-get,
    /// lease4-get-by-hw-address, lease4-get-by-client-id; Get-DhcpServerv4Lease).
    #[command(visible_alias = "Get-DhcpServerv4Lease")]
    Lease4Get(LeaseGet),
    /// Leases of a hardware address (Kea lease4-get-by-hw-address).
    Lease4GetByHwAddress {
        /// MAC address, e.g. 02:00:5e:00:53:01.
        hw_address: String,
    },
    /// The lease of a client identifier, option 61 in hex (Kea lease4-get-by-client-id).
    Lease4GetByClientId {
        /// Client identifier, e.g. 01:02:00:5e:00:53:01.
        client_id: String,
    },
    /// Every lease, following the pages (Kea lease4-get-all).
    Lease4GetAll(Page),
    /// One page of leases in address order (Kea lease4-get-page).
    Lease4GetPage {
        #[command(flatten)]
        page: Page,
        /// Start after this address (the previous page's `next`).
        #[arg(long)]
        from: Option<String>,
    },
    /// Lease an address to a client; durable before the answer (Kea lease4-add;
    /// Add-DhcpServerv4Lease).
    #[command(visible_alias = "Add-DhcpServerv4Lease")]
    Lease4Add {
        /// The address.
        #[arg(long)]
        ip_address: String,
        /// The client's MAC address.
        #[arg(long)]
        hw_address: String,
        /// The client's identifier (option 61) in hex, when it sends one.
        #[arg(long)]
        client_id: Option<String>,
        /// The subnet the address must be in.
        #[arg(long)]
        subnet_id: Option<u32>,
        /// Lease time in seconds (default: the subnet's default lease).
        #[arg(long)]
        valid_lft: Option<u32>,
    },
    /// End the lease on an address (Kea lease4-del; Remove-DhcpServerv4Lease).
    #[command(visible_alias = "Remove-DhcpServerv4Lease")]
    Lease4Del {
        /// The address.
        ip_address: String,
    },
    /// Reservations in force (Kea reservation-get-all; Get-DhcpServerv4Reservation).
    #[command(visible_alias = "Get-DhcpServerv4Reservation")]
    ReservationGetAll {
        /// Only this subnet.
        #[arg(long)]
        subnet_id: Option<u32>,
    },
    /// Add a reservation to the configuration file and reload (Kea reservation-add;
    /// Add-DhcpServerv4Reservation).
    #[command(visible_alias = "Add-DhcpServerv4Reservation")]
    ReservationAdd {
        /// The subnet.
        #[arg(long)]
        subnet_id: u32,
        /// The reserved address (in the subnet, outside its pools).
        #[arg(long)]
        ip_address: String,
        #[command(flatten)]
        id: Identifier,
        /// Host name to send (option 12).
        #[arg(long)]
        hostname: Option<String>,
    },
    /// Remove a reservation from the configuration file and reload (Kea reservation-del;
    /// Remove-DhcpServerv4Reservation).
    #[command(visible_alias = "Remove-DhcpServerv4Reservation")]
    ReservationDel {
        /// The subnet.
        #[arg(long)]
        subnet_id: u32,
        /// The reserved address.
        #[arg(long)]
        ip_address: Option<String>,
        #[command(flatten)]
        id: Identifier,
    },
    /// Every counter by Kea statistic name (Kea statistic-get-all).
    StatisticGetAll,
    /// Addresses per subnet and pool: total, assigned, declined, free, the partner's (Kea
    /// stat-lease4-get; Get-DhcpServerv4ScopeStatistics).
    #[command(visible_aliases = ["stat-lease4-get", "Get-DhcpServerv4ScopeStatistics"])]
    Utilisation,
    /// Failover relationships, as Windows shows them (Get-DhcpServerv4Failover).
    #[command(visible_alias = "Get-DhcpServerv4Failover")]
    FailoverGet {
        /// Only this relationship.
        name: Option<String>,
    },
    /// Declare the partner of a relationship down: PARTNER-DOWN (Set-DhcpServerv4Failover
    /// -PartnerDown).
    FailoverPartnerDown {
        /// The relationship.
        name: String,
    },
    /// Send a relationship's scopes to the partner (Invoke-DhcpServerv4FailoverReplication).
    #[command(visible_alias = "Invoke-DhcpServerv4FailoverReplication")]
    FailoverReplicate {
        /// The relationship.
        name: String,
    },
    /// Re-read, validate and apply the configuration file (Kea config-reload).
    ConfigReload,
    /// Stop the daemon cleanly (Kea shutdown).
    Shutdown,
    /// The Prometheus metrics, as a scraper sees them.
    Metrics,
    /// Lists the bindings recorded in a lease journal, reading the files without changing them
    /// (works while the daemon runs, and after a crash).
    JournalDump {
        /// The daemon's state directory.
        #[arg(long, default_value = "/var/lib/xdhcp")]
        state_dir: PathBuf,
        /// Only bindings in this state (active, expired, released, abandoned, free, …).
        #[arg(long)]
        state: Option<String>,
    },
}

#[derive(Args)]
struct LeaseGet {
    /// The address.
    ip_address: Option<String>,
    /// Leases of this MAC address instead.
    #[arg(long, conflicts_with_all = ["ip_address", "client_id", "remote_id", "remote_id_hex"])]
    hw_address: Option<String>,
    /// The lease of this client identifier (hex) instead.
    #[arg(long, conflicts_with_all = ["ip_address", "remote_id", "remote_id_hex"])]
    client_id: Option<String>,
    /// Leases by option 82 remote-id (text): those reserved by it, and the active leases
    /// whose last request carried it (matched by a 32-bit digest).
    #[arg(long, conflicts_with_all = ["ip_address", "remote_id_hex"])]
    remote_id: Option<String>,
    /// The same, the remote-id in hex.
    #[arg(long, conflicts_with = "ip_address")]
    remote_id_hex: Option<String>,
}

#[derive(Args)]
struct Page {
    /// Only this subnet.
    #[arg(long)]
    subnet_id: Option<u32>,
    /// Only these states, comma-separated: active, offered, expired, released, declined,
    /// reset, free, backup.
    #[arg(long)]
    state: Option<String>,
    /// Leases per page (1 to 10000).
    #[arg(long, default_value_t = 1000)]
    limit: u32,
}

#[derive(Args)]
#[group(multiple = false)]
struct Identifier {
    /// MAC address.
    #[arg(long)]
    hw_address: Option<String>,
    /// Client identifier (option 61) in hex.
    #[arg(long)]
    client_id: Option<String>,
    /// Option 82 circuit-id as text.
    #[arg(long)]
    circuit_id: Option<String>,
    /// Option 82 circuit-id in hex.
    #[arg(long)]
    circuit_id_hex: Option<String>,
    /// Option 82 remote-id as text.
    #[arg(long)]
    remote_id: Option<String>,
    /// Option 82 remote-id in hex.
    #[arg(long)]
    remote_id_hex: Option<String>,
}

impl Identifier {
    fn pairs(&self) -> Vec<(&'static str, &String)> {
        [
            ("hw-address", &self.hw_address),
            ("client-id", &self.client_id),
            ("circuit-id", &self.circuit_id),
            ("circuit-id-hex", &self.circuit_id_hex),
            ("remote-id", &self.remote_id),
            ("remote-id-hex", &self.remote_id_hex),
        ]
        .into_iter()
        .filter_map(|(k, v)| Some((k, v.as_ref()?)))
        .collect()
    }
}

/// A failed command: the message, and the API's reasons.
struct Failure(String);

type Out = Result<(), Failure>;

struct Ctl {
    client: Client,
    token_file: PathBuf,
    json: bool,
}

impl Ctl {
    /// Calls the API; a 2xx answer's JSON (or text) comes back, anything else is a failure
    /// naming the error and every reason.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, Failure> {
        let mut client = self.client.clone();
        if method != "GET" {
            match std::fs::read_to_string(&self.token_file) {
                Ok(t) => client.token = t.lines().next().map(|l| l.trim().to_owned()),
                Err(e) => eprintln!(
                    "xdhcpctl: no token sent: cannot read {}: {e}",
                    self.token_file.display()
                ),
            }
        }
        let body = body.map(|b| b.to_string().into_bytes());
        let a = client
            .call(method, path, body.as_deref())
            .map_err(|e| Failure(format!("cannot reach the daemon: {e}")))?;
        let v: Value = serde_json::from_slice(&a.body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&a.body).into_owned()));
        if (200..300).contains(&a.status) {
            return Ok(v);
        }
        if self.json {
            println!("{}", pretty(&v));
        }
        let mut msg = format!(
            "{} ({}): {}",
            v["error"].as_str().unwrap_or("error"),
            a.status,
            v["reason"].as_str().unwrap_or("")
        );
        if let Some(rs) = v["reasons"].as_array() {
            for r in rs {
                msg.push_str(&format!("\n  {}", r.as_str().unwrap_or("")));
            }
        }
        Err(Failure(msg))
    }

    /// Prints `v` as JSON with --json, else with `table`.
    fn show(&self, v: &Value, table: impl FnOnce(&Value)) {
        if self.json {
            println!("{}", pretty(v));
        } else {
            table(v);
        }
    }
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

fn s(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(s).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// Prints rows under a header, columns as wide as their widest cell.
fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut w: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(x) = w.get_mut(i) {
                *x = (*x).max(c.len());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = w[i]))
            .collect();
        println!("{}", parts.join("  ").trim_end());
    };
    line(header.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
}

/// `Name : value` lines, as PowerShell's Format-List.
fn list(pairs: &[(&str, String)]) {
    let w = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in pairs {
        println!("{k:<w$} : {v}");
    }
}

fn lease_rows(leases: &[Value]) -> Vec<Vec<String>> {
    leases
        .iter()
        .map(|l| {
            vec![
                s(&l["ip-address"]),
                s(&l["state"]),
                s(&l["hw-address"]),
                s(&l["client-id"]),
                s(&l["subnet-id"]),
                s(&l["expires-at"]),
                s(&l["remaining"]),
            ]
        })
        .collect()
}

/// The fields Windows' Get-DhcpServerv4Failover shows, in its order.
const FAILOVER_ORDER: [&str; 12] = [
    "Name",
    "PartnerServer",
    "Mode",
    "LoadBalancePercent",
    "ReservePercent",
    "MaxClientLeadTime",
    "StateSwitchInterval",
    "State",
    "ScopeId",
    "ServerRole",
    "AutoStateTransition",
    "EnableAuth",
];

const LEASE_HEADER: [&str; 7] = [
    "address",
    "state",
    "hw-address",
    "client-id",
    "subnet",
    "expires",
    "remaining-s",
];

fn print_leases(leases: &[Value]) {
    table(&LEASE_HEADER, &lease_rows(leases));
}

fn page_query(p: &Page, from: Option<&str>) -> String {
    let mut q = vec![format!("limit={}", p.limit)];
    if let Some(id) = p.subnet_id {
        q.push(format!("subnet-id={id}"));
    }
    if let Some(st) = &p.state {
        q.push(format!("state={}", encode(st)));
    }
    if let Some(f) = from {
        q.push(format!("from={}", encode(f)));
    }
    format!("/v1/leases?{}", q.join("&"))
}

fn run(cli: Cli) -> Out {
    let endpoint = match &cli.conn.url {
        Some(u) => Endpoint::from_url(u).map_err(Failure)?,
        None => Endpoint::Unix(cli.conn.socket.clone()),
    };
    let ctl = Ctl {
        client: Client::new(endpoint),
        token_file: cli.conn.token_file.clone(),
        json: cli.conn.json,
    };
    match cli.cmd {
        Cmd::Status => {
            let v = ctl.call("GET", "/v1/status", None)?;
            ctl.show(&v, |v| {
                let o = v.as_object().cloned().unwrap_or_default();
                let pairs: Vec<(&str, String)> =
                    o.iter().map(|(k, x)| (k.as_str(), s(x))).collect();
                list(&pairs);
            });
        }
        Cmd::ListCommands => {
            let v = ctl.call("GET", "/v1", None)?;
            ctl.show(&v, |v| {
                let rows: Vec<Vec<String>> = v["routes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|r| {
                        vec![
                            s(&r["method"]),
                            s(&r["path"]),
                            if r["token"] == json!(true) {
                                "token".into()
                            } else {
                                String::new()
                            },
                            s(&r["kea"]),
                            s(&r["windows"]),
                        ]
                    })
                    .collect();
                table(&["method", "path", "auth", "kea", "windows"], &rows);
            });
        }
        Cmd::Lease4Get(g) => {
            let path = if let Some(ip) = &g.ip_address {
                format!("/v1/leases/{}", encode(ip))
            } else if let Some(h) = &g.hw_address {
                format!("/v1/leases?hw-address={}", encode(h))
            } else if let Some(c) = &g.client_id {
                format!("/v1/leases?client-id={}", encode(c))
            } else if let Some(r) = &g.remote_id {
                format!("/v1/leases?remote-id={}", encode(r))
            } else if let Some(r) = &g.remote_id_hex {
                format!("/v1/leases?remote-id-hex={}", encode(r))
            } else {
                return Err(Failure(
                    "name an address, or one of --hw-address, --client-id, --remote-id, --remote-id-hex".into(),
                ));
            };
            let v = ctl.call("GET", &path, None)?;
            ctl.show(&v, |v| {
                if v["lease"].is_object() {
                    print_leases(std::slice::from_ref(&v["lease"]));
                } else {
                    print_leases(v["leases"].as_array().map_or(&[][..], Vec::as_slice));
                    if let Some(n) = v["note"].as_str() {
                        eprintln!("note: {n}");
                    }
                }
            });
        }
        Cmd::Lease4GetByHwAddress { hw_address } => {
            let v = ctl.call(
                "GET",
                &format!("/v1/leases?hw-address={}", encode(&hw_address)),
                None,
            )?;
            ctl.show(&v, |v| {
                print_leases(v["leases"].as_array().map_or(&[][..], Vec::as_slice))
            });
        }
        Cmd::Lease4GetByClientId { client_id } => {
            let v = ctl.call(
                "GET",
                &format!("/v1/leases?client-id={}", encode(&client_id)),
                None,
            )?;
            ctl.show(&v, |v| {
                print_leases(v["leases"].as_array().map_or(&[][..], Vec::as_slice))
            });
        }
        Cmd::Lease4GetAll(p) => {
            let mut all = Vec::new();
            let mut from: Option<String> = None;
            // Bounded: a page never repeats an address, so this ends; the cap guards a bug.
            for _ in 0..1_000_000 {
                let v = ctl.call("GET", &page_query(&p, from.as_deref()), None)?;
                all.extend(v["leases"].as_array().cloned().unwrap_or_default());
                match v["next"].as_str() {
                    Some(n) => from = Some(n.to_owned()),
                    None => break,
                }
            }
            let v = json!({"count": all.len(), "leases": all});
            ctl.show(&v, |v| {
                print_leases(v["leases"].as_array().map_or(&[][..], Vec::as_slice));
                eprintln!("{} lease(s)", all.len());
            });
        }
        Cmd::Lease4GetPage { page, from } => {
            let v = ctl.call("GET", &page_query(&page, from.as_deref()), None)?;
            ctl.show(&v, |v| {
                print_leases(v["leases"].as_array().map_or(&[][..], Vec::as_slice));
                match v["next"].as_str() {
                    Some(n) => eprintln!("more: --from {n}"),
                    None => eprintln!("last page"),
                }
            });
        }
        Cmd::Lease4Add {
            ip_address,
            hw_address,
            client_id,
            subnet_id,
            valid_lft,
        } => {
            let mut b = json!({"ip-address": ip_address, "hw-address": hw_address});
            if let Some(c) = client_id {
                b["client-id"] = json!(c);
            }
            if let Some(sid) = subnet_id {
                b["subnet-id"] = json!(sid);
            }
            if let Some(l) = valid_lft {
                b["valid-lft"] = json!(l);
            }
            let v = ctl.call("POST", "/v1/leases", Some(b))?;
            ctl.show(&v, |v| print_leases(std::slice::from_ref(&v["lease"])));
        }
        Cmd::Lease4Del { ip_address } => {
            let v = ctl.call(
                "DELETE",
                &format!("/v1/leases/{}", encode(&ip_address)),
                None,
            )?;
            ctl.show(&v, |v| print_leases(std::slice::from_ref(&v["lease"])));
        }
        Cmd::ReservationGetAll { subnet_id } => {
            let path = match subnet_id {
                Some(id) => format!("/v1/reservations?subnet-id={id}"),
                None => "/v1/reservations".into(),
            };
            let v = ctl.call("GET", &path, None)?;
            ctl.show(&v, print_reservations);
        }
        Cmd::ReservationAdd {
            subnet_id,
            ip_address,
            id,
            hostname,
        } => {
            let pairs = id.pairs();
            let [(k, val)] = pairs.as_slice() else {
                return Err(Failure(
                    "give one of --hw-address, --client-id, --circuit-id, --circuit-id-hex, --remote-id, --remote-id-hex".into(),
                ));
            };
            let mut b = json!({"subnet-id": subnet_id, "ip-address": ip_address});
            b[*k] = json!(val);
            if let Some(h) = hostname {
                b["hostname"] = json!(h);
            }
            let v = ctl.call("POST", "/v1/reservations", Some(b))?;
            ctl.show(&v, |v| {
                print_reservations(&json!({"reservations": [v["reservation"].clone()]}));
                print_reload(&v["reload"]);
            });
        }
        Cmd::ReservationDel {
            subnet_id,
            ip_address,
            id,
        } => {
            let mut pairs = id.pairs();
            if let Some(ip) = &ip_address {
                pairs.push(("ip-address", ip));
            }
            let [(k, val)] = pairs.as_slice() else {
                return Err(Failure(
                    "name the reservation by one of --ip-address, --hw-address, --client-id, --circuit-id, --circuit-id-hex, --remote-id, --remote-id-hex".into(),
                ));
            };
            let v = ctl.call(
                "DELETE",
                &format!("/v1/reservations?subnet-id={subnet_id}&{k}={}", encode(val)),
                None,
            )?;
            ctl.show(&v, |v| {
                print_reservations(&json!({"reservations": [v["reservation"].clone()]}));
                print_reload(&v["reload"]);
            });
        }
        Cmd::StatisticGetAll => {
            let v = ctl.call("GET", "/v1/statistics", None)?;
            ctl.show(&v, |v| {
                let rows: Vec<Vec<String>> = v["statistics"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, x)| vec![k.clone(), s(x)])
                    .collect();
                table(&["statistic", "value"], &rows);
            });
        }
        Cmd::Utilisation => {
            let v = ctl.call("GET", "/v1/subnets", None)?;
            ctl.show(&v, |v| {
                let mut rows = Vec::new();
                for sn in v["subnets"].as_array().into_iter().flatten() {
                    let row = |what: String, c: &Value| {
                        vec![
                            what,
                            s(&c["total-addresses"]),
                            s(&c["assigned-addresses"]),
                            s(&c["declined-addresses"]),
                            s(&c["free-addresses"]),
                            s(&c["partner-free-addresses"]),
                            s(&c["excluded-addresses"]),
                        ]
                    };
                    let mut r = row(
                        format!("subnet {} {}", s(&sn["subnet-id"]), s(&sn["network"])),
                        sn,
                    );
                    r.push(format!("{}%", s(&sn["utilisation-percent"])));
                    rows.push(r);
                    for p in sn["pools"].as_array().into_iter().flatten() {
                        let mut r = row(format!("  pool {}", s(&p["range"])), p);
                        r.push(String::new());
                        rows.push(r);
                    }
                }
                table(
                    &[
                        "scope",
                        "total",
                        "assigned",
                        "declined",
                        "free",
                        "partner-free",
                        "excluded",
                        "in-use",
                    ],
                    &rows,
                );
            });
        }
        Cmd::FailoverGet { name } => {
            let path = match &name {
                Some(n) => format!("/v1/failover/{}", encode(n)),
                None => "/v1/failover".into(),
            };
            let v = ctl.call("GET", &path, None)?;
            ctl.show(&v, |v| {
                let rels = v["relationships"].as_array().cloned().unwrap_or_default();
                if rels.is_empty() {
                    eprintln!("no failover relationships");
                }
                for (i, r) in rels.iter().enumerate() {
                    if i > 0 {
                        println!();
                    }
                    // Get-DhcpServerv4Failover's order first, then the rest by name.
                    let o = r.as_object().cloned().unwrap_or_default();
                    let mut pairs: Vec<(&str, String)> = FAILOVER_ORDER
                        .iter()
                        .filter_map(|k| Some((*k, s(o.get(*k)?))))
                        .collect();
                    pairs.extend(
                        o.iter()
                            .filter(|(k, _)| !FAILOVER_ORDER.contains(&k.as_str()))
                            .map(|(k, x)| (k.as_str(), s(x))),
                    );
                    list(&pairs);
                }
            });
        }
        Cmd::FailoverPartnerDown { name } => {
            let v = ctl.call(
                "POST",
                &format!("/v1/failover/{}/partner-down", encode(&name)),
                None,
            )?;
            ctl.show(&v, |v| println!("{}", s(&v["result"])));
        }
        Cmd::FailoverReplicate { name } => {
            let v = ctl.call(
                "POST",
                &format!("/v1/failover/{}/replicate", encode(&name)),
                None,
            )?;
            ctl.show(&v, |v| println!("{}", s(&v["result"])));
        }
        Cmd::ConfigReload => {
            let v = ctl.call("POST", "/v1/config/reload", None)?;
            ctl.show(&v, print_reload);
        }
        Cmd::Shutdown => {
            let v = ctl.call("POST", "/v1/shutdown", None)?;
            ctl.show(&v, |v| println!("{}", s(&v["result"])));
        }
        Cmd::Metrics => {
            let v = ctl.call("GET", "/metrics", None)?;
            print!("{}", v.as_str().unwrap_or_default());
        }
        Cmd::JournalDump { state_dir, state } => journal_dump(&state_dir, state, ctl.json)?,
    }
    Ok(())
}

fn print_reservations(v: &Value) {
    let ids = dhcp_core::config::RESERVATION_IDENTIFIERS;
    let rows: Vec<Vec<String>> = v["reservations"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let id = ids
                .iter()
                .find_map(|k| r[*k].as_str().map(|x| format!("{k}={x}")))
                .unwrap_or_default();
            vec![
                s(&r["subnet-id"]),
                s(&r["ip-address"]),
                id,
                s(&r["hostname"]),
            ]
        })
        .collect();
    table(&["subnet", "address", "identifier", "hostname"], &rows);
}

fn print_reload(r: &Value) {
    list(&[
        (
            "subnets",
            format!("{} -> {}", s(&r["subnets"][0]), s(&r["subnets"][1])),
        ),
        (
            "relationships",
            format!(
                "{} -> {}",
                s(&r["relationships"][0]),
                s(&r["relationships"][1])
            ),
        ),
        ("addresses-added", s(&r["addresses-added"])),
        ("addresses-removed", s(&r["addresses-removed"])),
        (
            "leases-kept-outside-pools",
            s(&r["leases-kept-outside-pools"]),
        ),
        ("paused-us", s(&r["paused-us"])),
    ]);
    for n in r["notes"].as_array().into_iter().flatten() {
        println!("note: {}", s(n));
    }
}

fn client_key(b: &Binding) -> String {
    let kind = match b.key.kind() {
        KeyKind::ClientId => "id",
        KeyKind::Hardware => "hw",
        KeyKind::None => "-",
    };
    let hex: Vec<String> = b.key.data().iter().map(|x| format!("{x:02x}")).collect();
    format!("{kind}:{}", hex.join(""))
}

fn journal_dump(state_dir: &std::path::Path, state: Option<String>, json: bool) -> Out {
    let rec = dhcp_user::journal::read_only(state_dir).map_err(|e| Failure(e.to_string()))?;
    let want = state.map(|s| s.to_ascii_lowercase());
    if !json {
        println!(
            "{:<15} {:<9} {:<17} {:>6} {:>10} {:>10}  client",
            "address", "state", "hw-address", "subnet", "lease-end", "cltt"
        );
    }
    let mut n = 0;
    for (_, b) in rec.replay.into_bindings() {
        if want.as_deref().is_some_and(|w| w != b.state.name()) {
            continue;
        }
        n += 1;
        if json {
            println!(
                "{{\"address\":\"{}\",\"state\":\"{}\",\"hw-address\":\"{}\",\"subnet-id\":{},\"lease-end\":{},\"cltt\":{},\"client\":\"{}\"}}",
                b.addr,
                b.state.name(),
                b.hw,
                b.subnet.0,
                b.lease_end,
                b.cltt,
                client_key(&b)
            );
        } else {
            println!(
                "{:<15} {:<9} {:<17} {:>6} {:>10} {:>10}  {}",
                b.addr.to_string(),
                b.state.name(),
                b.hw.to_string(),
                b.subnet.0,
                b.lease_end,
                b.cltt,
                client_key(&b)
            );
        }
    }
    if !json {
        let active = BindingState::Active.name();
        eprintln!(
            "{n} binding(s) listed from {} file(s){}",
            rec.files,
            if want.as_deref() == Some(active) {
                " (active only)"
            } else {
                ""
            }
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    // Die quietly of SIGPIPE like other command-line tools (`xdhcpctl … | head`), instead of
    // panicking on a failed print.
    // Safety: restoring the default disposition of one signal before any thread starts.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(m)) => {
            eprintln!("xdhcpctl: {m}");
            ExitCode::FAILURE
        }
    }
}
