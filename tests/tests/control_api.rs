//! The control API, xdhcpctl and the metrics endpoint against a running xdhcpd (AF_XDP path)
//! in network namespaces with real clients: every route and every command, the refused calls
//! (no token, a wrong token, bad JSON, wrong types, an oversized body, an unknown lease, a bad
//! reservation, a refused partner-down) each shown to change nothing, and the counters scraped
//! from /metrics checked against what the test sent. A second test drives the failover routes
//! against a real pair through NORMAL, COMMUNICATIONS-INTERRUPTED and an operator's
//! PARTNER-DOWN. Needs root.

use std::{
    net::Ipv4Addr,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use dhcp_user::api::client::{Client, Endpoint};
use dhcp_wire::dhcp::{DhcpWriter, Op, OptionCode};
use serde_json::{Value, json};
use xdhcp_tests::{
    failover_lab::{FailoverLab, wait_until},
    frames::{PacketSocket, dhcp_frame, udp_frame},
    lab::{DhcpLab, bin, run_for},
    require_root,
};

const TOKEN: &str = "0123456789abcdef-test-token";

/// A call over `client` with an optional token: (status, JSON body, or the text as a string).
fn call(
    c: &Client,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (u16, Value) {
    let mut c = c.clone();
    c.token = token.map(str::to_owned);
    let a = c
        .call(method, path, body.map(str::as_bytes))
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let v = serde_json::from_slice(&a.body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&a.body).into_owned()));
    (a.status, v)
}

/// What a refused call must leave alone: every lease (without the seconds remaining, which
/// run down), the reservations in force, and the configuration file.
fn state(c: &Client, config: &Path) -> (Vec<Value>, Value, String) {
    let (s, v) = call(c, None, "GET", "/v1/leases?limit=10000", None);
    assert_eq!(s, 200, "{v}");
    let leases = v["leases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let mut l = l.clone();
            l.as_object_mut().unwrap().remove("remaining");
            l
        })
        .collect();
    let (s, r) = call(c, None, "GET", "/v1/reservations", None);
    assert_eq!(s, 200, "{r}");
    (leases, r, std::fs::read_to_string(config).unwrap())
}

/// Runs xdhcpctl with the socket and token file given; (success, stdout, stderr).
fn ctl(sock: &Path, token_file: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(bin("xdhcpctl"))
        .arg("--socket")
        .arg(sock)
        .arg("--token-file")
        .arg(token_file)
        .args(args)
        .output()
        .expect("xdhcpctl runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// xdhcpctl must succeed; its stdout.
fn ok(sock: &Path, token_file: &Path, args: &[&str]) -> String {
    let (good, out, err) = ctl(sock, token_file, args);
    assert!(good, "xdhcpctl {args:?} failed:\n{out}\n{err}");
    out
}

/// Value of the sample `name{labels}` (labels as written, `""` for none) in Prometheus text.
fn sample(text: &str, name: &str, labels: &str) -> Option<f64> {
    let want = if labels.is_empty() {
        format!("{name} ")
    } else {
        format!("{name}{{{labels}}} ")
    };
    text.lines()
        .find(|l| l.starts_with(&want))
        .and_then(|l| l[want.len()..].trim().parse().ok())
}

fn discover(mac: [u8; 6], xid: u32) -> Vec<u8> {
    let mut b = vec![0u8; 600];
    let mut w = DhcpWriter::new(&mut b, 600, None).unwrap();
    w.set_op(Op::BootRequest);
    w.set_htype(1);
    w.set_hlen(6).unwrap();
    w.set_xid(xid);
    w.set_chaddr(&mac).unwrap();
    w.option(OptionCode::MESSAGE_TYPE, &[1]).unwrap();
    let n = w.finish();
    b.truncate(n);
    b
}

/// A relayed REQUEST (SELECTING) for `want` carrying option 82 with remote-id `rid`.
fn relayed_request(
    mac: [u8; 6],
    giaddr: Ipv4Addr,
    server: Ipv4Addr,
    want: Ipv4Addr,
    rid: &[u8],
) -> Vec<u8> {
    let mut b = vec![0u8; 600];
    let mut w = DhcpWriter::new(&mut b, 600, None).unwrap();
    w.set_op(Op::BootRequest);
    w.set_htype(1);
    w.set_hlen(6).unwrap();
    w.set_xid(0x0a91_0001);
    w.set_giaddr(giaddr);
    w.set_chaddr(&mac).unwrap();
    w.option(OptionCode::MESSAGE_TYPE, &[3]).unwrap();
    w.option(OptionCode::REQUESTED_IP, &want.octets()).unwrap();
    w.option(OptionCode::SERVER_ID, &server.octets()).unwrap();
    let mut agent = vec![2, rid.len() as u8];
    agent.extend_from_slice(rid);
    w.option(OptionCode::RELAY_AGENT_INFO, &agent).unwrap();
    let n = w.finish();
    b.truncate(n);
    b
}

fn mac_of(lab: &DhcpLab, link: usize) -> String {
    let l = &lab.links[link];
    let out = l.ns.ip(["-o", "link", "show", "dev", &l.ifname]).unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.split_whitespace()
        .skip_while(|w| *w != "link/ether")
        .nth(1)
        .expect("a MAC")
        .to_owned()
}

fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let t = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(t.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn control_api_cli_and_metrics_against_a_running_daemon() {
    require_root!();
    let t0 = Instant::now();
    let mut lab = DhcpLab::new("api", 2).expect("lab");
    let sock = lab.dir.join("control.sock");
    let token_file = lab.dir.join("control.token");
    let no_token = lab.dir.join("no-such-token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    // Subnet 3 is relayed only and shared with a partner that never answers.
    let tail = format!(
        r#"
[[subnet]]
id = 3
network = "10.99.0.0/24"
pools = ["10.99.0.100-10.99.0.199"]

[[failover]]
name = "api pair"
partner = "10.77.2.250"
local-address = "10.77.2.1"
mode = "hot-standby"
server-role = "active"
mclt = "60s"
subnets = [3]

[control]
listen = "0.0.0.0:8067"
socket = "{}"
token-file = "{}"
metrics = "127.0.0.1:9167"
"#,
        sock.display(),
        token_file.display()
    );
    let cfg = lab.config_with("xdp", "", "", &tail);
    lab.start(&cfg).expect("xdhcpd starts");
    let config: PathBuf = lab.dir.join("xdhcpd.toml");
    let api = Client::new(Endpoint::Unix(sock.clone()));
    let tok = Some(TOKEN);
    wait_for("the control API", Duration::from_secs(5), || {
        lab.log()
            .unwrap()
            .contains("control API listening")
            .then_some(())
    });

    // Real clients on both links (udhcpc configures link 0, for the remote read below).
    let mut bound = Vec::new();
    for (i, configure) in [(0usize, true), (1, false)] {
        let name = format!("u{i}");
        let hook = lab.hook(&name, "1", "ip", "mask", configure).unwrap();
        let l = &lab.links[i];
        let mut u = l.ns.command("udhcpc");
        u.args([
            "-i", &l.ifname, "-n", "-q", "-f", "-t", "5", "-T", "1", "-s",
        ])
        .arg(&hook);
        let (_, out) = run_for("udhcpc", u, Duration::from_secs(20)).unwrap();
        let ev = lab
            .events(&name)
            .into_iter()
            .find(|e| e.starts_with("bound"))
            .unwrap_or_else(|| panic!("udhcpc on link {i} not bound:\n{out}"));
        let a: Ipv4Addr = ev.split_whitespace().nth(1).unwrap().parse().unwrap();
        bound.push(a);
    }
    println!("udhcpc leases: {bound:?}");

    // ---- routes, status ----
    let (s, v) = call(&api, None, "GET", "/v1", None);
    assert_eq!(s, 200);
    assert!(v["routes"].as_array().unwrap().len() >= 20, "{v}");
    let (s, v) = call(&api, None, "GET", "/v1/status", None);
    assert_eq!((s, v["token"].as_str()), (200, Some("configured")), "{v}");
    assert_eq!(v["subnets"], 3);
    assert!(ok(&sock, &token_file, &["status"]).contains("configured"));
    assert!(ok(&sock, &token_file, &["list-commands"]).contains("lease4-add"));
    assert_eq!(call(&api, None, "GET", "/v1/nothing", None).0, 404);
    assert_eq!(call(&api, None, "PUT", "/v1/leases", None).0, 405);

    // ---- look-ups ----
    let (s, v) = call(&api, None, "GET", &format!("/v1/leases/{}", bound[0]), None);
    assert_eq!(s, 200, "{v}");
    let lease = &v["lease"];
    let mac0 = mac_of(&lab, 0);
    assert_eq!(lease["state"], "active");
    assert_eq!(lease["hw-address"], mac0.as_str());
    assert_eq!(lease["subnet-id"], 1);
    assert_eq!(lease["holds-address"], true);
    let client_id = lease["client-id"]
        .as_str()
        .expect("udhcpc sends option 61")
        .to_owned();
    let (s, v) = call(
        &api,
        None,
        "GET",
        &format!("/v1/leases?hw-address={mac0}"),
        None,
    );
    assert_eq!((s, v["count"].as_u64()), (200, Some(1)), "{v}");
    let (s, v) = call(
        &api,
        None,
        "GET",
        &format!("/v1/leases?client-id={client_id}"),
        None,
    );
    assert_eq!(
        (s, v["leases"][0]["ip-address"].as_str()),
        (200, Some(bound[0].to_string().as_str())),
        "{v}"
    );
    let out = ok(&sock, &token_file, &["lease4-get", &bound[1].to_string()]);
    assert!(
        out.contains(&bound[1].to_string()) && out.contains("active"),
        "{out}"
    );
    assert!(
        ok(&sock, &token_file, &["lease4-get", "--hw-address", &mac0])
            .contains(&bound[0].to_string())
    );
    assert!(
        ok(&sock, &token_file, &["lease4-get-by-hw-address", &mac0])
            .contains(&bound[0].to_string())
    );
    assert!(
        ok(&sock, &token_file, &["lease4-get-by-client-id", &client_id])
            .contains(&bound[0].to_string())
    );
    let j: Value = serde_json::from_str(&ok(
        &sock,
        &token_file,
        &["--json", "lease4-get", "--client-id", &client_id],
    ))
    .unwrap();
    assert_eq!(j["leases"][0]["hw-address"], mac0.as_str());
    assert_eq!(
        call(&api, None, "GET", "/v1/leases/10.77.1.99", None).0,
        404
    );
    assert_eq!(
        call(&api, None, "GET", "/v1/leases/not-an-address", None).0,
        400
    );
    assert_eq!(
        call(&api, None, "GET", "/v1/leases?hw-address=zz", None).0,
        400
    );
    assert_eq!(
        call(&api, None, "GET", "/v1/leases?colour=red", None).0,
        400
    );
    assert_eq!(
        call(&api, None, "GET", "/v1/leases?state=sleepy", None).0,
        400
    );

    // ---- refused calls change nothing ----
    let before = state(&api, &config);
    let del_bound = format!("/v1/leases/{}", bound[0]);
    let add = r#"{"ip-address": "10.77.1.150", "hw-address": "02:aa:00:00:00:01"}"#;
    let refused: Vec<(u16, Option<&str>, &str, &str, String)> = vec![
        (401, None, "POST", "/v1/leases", add.to_owned()),
        (401, Some("wrong-token"), "POST", "/v1/leases", add.to_owned()),
        (400, tok, "POST", "/v1/leases", "{\"ip-address\": ".to_owned()),
        (400, tok, "POST", "/v1/leases", "[1, 2]".to_owned()),
        (400, tok, "POST", "/v1/leases", r#"{"ip-address": "10.77.1.150", "hw-address": "02:aa:00:00:00:01", "subnet-id": "one"}"#.to_owned()),
        (400, tok, "POST", "/v1/leases", r#"{"ip-address": "10.77.1.150", "hw-address": "02:aa:00:00:00:01", "colour": 1}"#.to_owned()),
        (400, tok, "POST", "/v1/leases", r#"{"ip-address": "10.77.1.999", "hw-address": "02:aa:00:00:00:01"}"#.to_owned()),
        (400, tok, "POST", "/v1/leases", r#"{"ip-address": "10.77.1.150", "hw-address": "02:aa:00:00:00:01", "subnet-id": 2}"#.to_owned()),
        (409, tok, "POST", "/v1/leases", format!(r#"{{"ip-address": "{}", "hw-address": "02:aa:00:00:00:02"}}"#, bound[0])),
        (409, tok, "POST", "/v1/leases", r#"{"ip-address": "10.77.1.50", "hw-address": "02:aa:00:00:00:01"}"#.to_owned()),
        (409, tok, "POST", "/v1/leases", format!(r#"{{"ip-address": "10.77.1.160", "hw-address": "{mac0}", "client-id": "{client_id}"}}"#)),
        (409, tok, "POST", "/v1/leases", r#"{"ip-address": "10.99.0.150", "hw-address": "02:aa:00:00:00:01"}"#.to_owned()),
        (404, tok, "DELETE", "/v1/leases/10.77.1.99", String::new()),
        (401, None, "DELETE", &del_bound, String::new()),
        (401, None, "POST", "/v1/reservations", r#"{"subnet-id": 1, "ip-address": "10.77.1.20", "hw-address": "02:aa:00:00:00:09"}"#.to_owned()),
        (422, tok, "POST", "/v1/reservations", r#"{"subnet-id": 1, "ip-address": "10.77.1.120", "hw-address": "02:aa:00:00:00:09"}"#.to_owned()),
        (422, tok, "POST", "/v1/reservations", r#"{"subnet-id": 1, "ip-address": "10.77.1.20", "hw-address": "01:00:5e:00:00:01"}"#.to_owned()),
        (400, tok, "POST", "/v1/reservations", r#"{"subnet-id": 1, "ip-address": "10.77.1.20"}"#.to_owned()),
        (404, tok, "POST", "/v1/reservations", r#"{"subnet-id": 7, "ip-address": "10.77.1.20", "hw-address": "02:aa:00:00:00:09"}"#.to_owned()),
        (404, tok, "DELETE", "/v1/reservations?subnet-id=1&ip-address=10.77.1.20", String::new()),
        (404, tok, "POST", "/v1/failover/nobody/partner-down", String::new()),
        (409, tok, "POST", "/v1/failover/api%20pair/partner-down", String::new()),
        (400, tok, "POST", "/v1/failover/api%20pair/partner-down", "{\"now\": true}".to_owned()),
        (409, tok, "POST", "/v1/failover/api%20pair/replicate", String::new()),
        (401, None, "POST", "/v1/config/reload", String::new()),
        (401, None, "POST", "/v1/shutdown", String::new()),
        (400, tok, "POST", "/v1/shutdown", "nonsense".to_owned()),
    ];
    for (want, token, method, path, body) in &refused {
        let (s, v) = call(
            &api,
            *token,
            method,
            path,
            (!body.is_empty()).then_some(body.as_str()),
        );
        assert_eq!(
            s,
            *want,
            "{method} {path} {}: {v}",
            &body[..body.len().min(120)]
        );
        assert!(v["error"].is_string() && v["reason"].is_string(), "{v}");
        assert_eq!(
            state(&api, &config),
            before,
            "{method} {path} changed something"
        );
    }
    // Malformed HTTP on the wire.
    for raw in [
        &b"GARBAGE\r\n\r\n"[..],
        b"POST /v1/leases HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"POST /v1/leases HTTP/1.1\r\nAuthorization: Bearer 0123456789abcdef-test-token\r\nContent-Length: 2097152\r\n\r\n",
    ] {
        let a = api.raw(raw).unwrap();
        assert!([400, 413, 501].contains(&a.status), "{raw:?}: {}", a.status);
        assert_eq!(state(&api, &config), before);
    }
    // The CLI refuses the same way, with exit status 1 and the reason.
    let (good, _, err) = ctl(
        &sock,
        &no_token,
        &[
            "lease4-add",
            "--ip-address",
            "10.77.1.150",
            "--hw-address",
            "02:aa:00:00:00:01",
        ],
    );
    assert!(!good && err.contains("401"), "{err}");
    let (good, _, err) = ctl(&sock, &token_file, &["lease4-del", "10.77.1.99"]);
    assert!(!good && err.contains("no lease for 10.77.1.99"), "{err}");
    let (good, _, err) = ctl(
        &sock,
        &token_file,
        &[
            "reservation-add",
            "--subnet-id",
            "1",
            "--ip-address",
            "10.77.1.120",
            "--hw-address",
            "02:aa:00:00:00:09",
        ],
    );
    assert!(!good && err.contains("inside subnet[0].pools[0]"), "{err}");
    let (good, _, err) = ctl(&sock, &token_file, &["failover-partner-down", "api pair"]);
    assert!(!good && err.contains("409"), "{err}");
    let (good, _, err) = ctl(&sock, &token_file, &["failover-replicate", "api pair"]);
    assert!(!good && err.contains("409"), "{err}");
    assert_eq!(
        state(&api, &config),
        before,
        "the CLI's refused calls changed something"
    );

    // ---- add and delete leases: durable before the answer ----
    let (s, v) = call(&api, tok, "POST", "/v1/leases", Some(add));
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["lease"]["state"], "active");
    let journal = lab.leases().unwrap();
    assert!(
        journal
            .iter()
            .any(|l| l.address == Ipv4Addr::new(10, 77, 1, 150) && l.state == "active"),
        "the added lease is in the journal when the call returns"
    );
    let out = ok(
        &sock,
        &token_file,
        &[
            "lease4-add",
            "--ip-address",
            "10.77.1.151",
            "--hw-address",
            "02:aa:00:00:00:03",
            "--client-id",
            "01:02:aa:00:00:00:03",
            "--valid-lft",
            "600",
        ],
    );
    assert!(out.contains("10.77.1.151"), "{out}");
    let (s, v) = call(&api, None, "GET", "/v1/leases/10.77.1.151", None);
    assert_eq!(
        (s, v["lease"]["valid-lft"].as_u64()),
        (200, Some(600)),
        "{v}"
    );
    // Pages.
    let mut seen = Vec::new();
    let mut from = String::new();
    for _ in 0..10 {
        let (s, v) = call(
            &api,
            None,
            "GET",
            &format!("/v1/leases?subnet-id=1&state=active&limit=1{from}"),
            None,
        );
        assert_eq!(s, 200, "{v}");
        seen.extend(
            v["leases"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["ip-address"].as_str().unwrap().to_owned()),
        );
        match v["next"].as_str() {
            Some(n) => from = format!("&from={n}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 3, "{seen:?}");
    let mut sorted = seen.clone();
    sorted.sort_by_key(|a| a.parse::<Ipv4Addr>().unwrap());
    assert_eq!(seen, sorted);
    let all = ok(&sock, &token_file, &["lease4-get-all", "--state", "active"]);
    for a in [bound[0], bound[1]]
        .iter()
        .map(ToString::to_string)
        .chain(["10.77.1.150".into(), "10.77.1.151".into()])
    {
        assert!(all.contains(&a), "{a} missing:\n{all}");
    }
    assert!(ok(&sock, &token_file, &["lease4-get-page", "--limit", "1"]).contains("10.77"));
    let (s, v) = call(&api, tok, "DELETE", "/v1/leases/10.77.1.150", None);
    assert_eq!(
        (s, v["lease"]["state"].as_str()),
        (200, Some("reset")),
        "{v}"
    );
    assert!(
        lab.leases()
            .unwrap()
            .iter()
            .any(|l| l.address == Ipv4Addr::new(10, 77, 1, 150) && l.state == "reset")
    );
    assert!(ok(&sock, &token_file, &["lease4-del", "10.77.1.151"]).contains("reset"));
    // Deleted: another client may have the address now.
    let (s, v) = call(
        &api,
        tok,
        "POST",
        "/v1/leases",
        Some(
            r#"{"ip-address": "10.77.1.150", "hw-address": "02:aa:00:00:00:04", "valid-lft": 30}"#,
        ),
    );
    assert_eq!(s, 201, "{v}");
    assert_eq!(
        call(&api, tok, "DELETE", "/v1/leases/10.77.1.150", None).0,
        200
    );

    // ---- reservations: the file is edited, comments kept, the server reloaded ----
    std::fs::write(
        &config,
        format!(
            "# operator's note\n{}",
            std::fs::read_to_string(&config).unwrap()
        ),
    )
    .unwrap();
    let (s, v) = call(
        &api,
        tok,
        "POST",
        "/v1/reservations",
        Some(
            r#"{"subnet-id": 1, "ip-address": "10.77.1.30", "remote-id": "rid-1", "hostname": "cpe-1"}"#,
        ),
    );
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["reload"]["subnets"], json!([3, 3]));
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(
        text.starts_with("# operator's note\n") && text.contains("remote-id = \"rid-1\""),
        "{text}"
    );
    ok(
        &sock,
        &token_file,
        &[
            "reservation-add",
            "--subnet-id",
            "1",
            "--ip-address",
            "10.77.1.31",
            "--hw-address",
            "02:aa:00:00:00:31",
        ],
    );
    let out = ok(
        &sock,
        &token_file,
        &["reservation-get-all", "--subnet-id", "1"],
    );
    assert!(
        out.contains("remote-id=rid-1") && out.contains("hw-address=02:aa:00:00:00:31"),
        "{out}"
    );
    let before = state(&api, &config);
    // A duplicate address is refused by validation; the file stays as it is.
    let (s, v) = call(
        &api,
        tok,
        "POST",
        "/v1/reservations",
        Some(r#"{"subnet-id": 1, "ip-address": "10.77.1.31", "hw-address": "02:aa:00:00:00:32"}"#),
    );
    assert_eq!(s, 422, "{v}");
    assert!(
        v["reasons"][0]
            .as_str()
            .unwrap()
            .contains("already reserved"),
        "{v}"
    );
    assert_eq!(state(&api, &config), before);
    // A relayed client with that remote-id gets its reserved address; found by remote-id.
    let l0 = &lab.links[0];
    // Client `n` asks through a relay at 10.77.1.5 for `want`, with option 82 remote-id `rid`.
    let relay_select = |n: u8, want: Ipv4Addr, rid: &[u8]| {
        l0.ns.run(|| {
            let raw = PacketSocket::open(&l0.ifname).unwrap();
            let req = relayed_request(
                [2, 0xa9, 0, 0, 0, n],
                Ipv4Addr::new(10, 77, 1, 5),
                Ipv4Addr::new(10, 77, 1, 1),
                want,
                rid,
            );
            raw.send(&udp_frame(
                &[],
                (Ipv4Addr::new(10, 77, 1, 5), 67),
                (Ipv4Addr::new(10, 77, 1, 1), 67),
                &req,
            ))
            .unwrap();
        })
    };
    relay_select(1, Ipv4Addr::new(10, 77, 1, 30), b"rid-1");
    let v = wait_for("the remote-id lease", Duration::from_secs(10), || {
        let (s, v) = call(&api, None, "GET", "/v1/leases?remote-id=rid-1", None);
        (s == 200 && v["count"] == 1).then_some(v)
    });
    assert_eq!(v["leases"][0]["ip-address"], "10.77.1.30");
    assert!(v["note"].as_str().unwrap().contains("reservations"));
    assert!(
        ok(
            &sock,
            &token_file,
            &["lease4-get", "--remote-id-hex", "72:69:64:2d:31"]
        )
        .contains("10.77.1.30")
    );
    // A relayed client with no reservation is found by the remote-id its request carried.
    relay_select(2, Ipv4Addr::new(10, 77, 1, 177), b"rid-2");
    let v = wait_for(
        "the unreserved remote-id lease",
        Duration::from_secs(10),
        || {
            let (s, v) = call(&api, None, "GET", "/v1/leases?remote-id=rid-2", None);
            (s == 200 && v["count"] == 1).then_some(v)
        },
    );
    assert_eq!(
        (
            v["leases"][0]["ip-address"].as_str(),
            v["leases"][0]["hw-address"].as_str(),
            v["leases"][0]["reserved"].as_bool(),
        ),
        (Some("10.77.1.177"), Some("02:a9:00:00:00:02"), Some(false)),
        "{v}"
    );
    assert!(v["note"].as_str().unwrap().contains("digest"), "{v}");
    assert!(
        ok(&sock, &token_file, &["lease4-get", "--remote-id", "rid-2"]).contains("10.77.1.177")
    );
    let (s, v) = call(&api, None, "GET", "/v1/leases?remote-id=rid-3", None);
    assert_eq!((s, v["count"].as_u64()), (200, Some(0)), "{v}");
    ok(
        &sock,
        &token_file,
        &[
            "reservation-del",
            "--subnet-id",
            "1",
            "--hw-address",
            "02-aa-00-00-00-31",
        ],
    );
    let (s, v) = call(
        &api,
        tok,
        "DELETE",
        "/v1/reservations?subnet-id=1&ip-address=10.77.1.30",
        None,
    );
    assert_eq!(
        (s, v["reservation"]["remote-id"].as_str()),
        (200, Some("rid-1")),
        "{v}"
    );
    let (_, v) = call(&api, None, "GET", "/v1/reservations", None);
    assert_eq!(v["count"], 0, "{v}");
    assert!(
        std::fs::read_to_string(&config)
            .unwrap()
            .starts_with("# operator's note\n")
    );

    // ---- utilisation, statistics, failover ----
    let (s, v) = call(&api, None, "GET", "/v1/subnets", None);
    assert_eq!(s, 200);
    let s1 = &v["subnets"][0];
    assert_eq!(
        (s1["subnet-id"].as_u64(), s1["total-addresses"].as_u64()),
        (Some(1), Some(100)),
        "{v}"
    );
    assert!(s1["assigned-addresses"].as_u64().unwrap() >= 1, "{v}");
    assert_eq!(v["subnets"][2]["failover-relationship"], "api pair");
    let out = ok(&sock, &token_file, &["utilisation"]);
    assert!(
        out.contains("subnet 1 10.77.1.0/24") && out.contains("pool 10.77.1.100-10.77.1.199"),
        "{out}"
    );
    assert!(ok(&sock, &token_file, &["Get-DhcpServerv4ScopeStatistics"]).contains("subnet 3"));
    // Counters are published by the workers twice a second.
    let v = wait_for("the ACKs counted", Duration::from_secs(5), || {
        let (s, v) = call(&api, None, "GET", "/v1/statistics", None);
        assert_eq!(s, 200);
        (v["statistics"]["pkt4-ack-sent"].as_u64().unwrap() >= 3).then_some(v)
    });
    assert_eq!(v["statistics"]["subnet[1].total-addresses"], 100);
    assert!(
        ok(&sock, &token_file, &["statistic-get-all"]).contains("subnet[1].assigned-addresses")
    );
    let (s, v) = call(&api, None, "GET", "/v1/failover/api%20pair", None);
    assert_eq!(s, 200, "{v}");
    let r = &v["relationships"][0];
    assert_eq!(
        (
            r["Name"].as_str(),
            r["PartnerServer"].as_str(),
            r["Mode"].as_str(),
            r["ServerRole"].as_str()
        ),
        (
            Some("api pair"),
            Some("10.77.2.250"),
            Some("HotStandby"),
            Some("Active")
        ),
        "{r}"
    );
    assert_eq!(
        (
            r["MaxClientLeadTime"].as_str(),
            r["ScopeId"][0].as_str(),
            r["Connected"].as_bool()
        ),
        (Some("00:01:00"), Some("10.99.0.0"), Some(false))
    );
    for k in [
        "State",
        "StateTime",
        "PartnerState",
        "PendingUpdates",
        "UnackedUpdates",
        "LastContact",
        "ClockOffsetSeconds",
        "ReservePercent",
        "AutoStateTransition",
        "EnableAuth",
        "StateSwitchInterval",
    ] {
        assert!(r.as_object().unwrap().contains_key(k), "{k} missing: {r}");
    }
    let out = ok(&sock, &token_file, &["Get-DhcpServerv4Failover"]);
    assert!(
        out.contains("PartnerServer") && out.contains("10.77.2.250"),
        "{out}"
    );
    assert_eq!(call(&api, None, "GET", "/v1/failover/nobody", None).0, 404);

    // ---- reload: a good file, then a broken one that changes nothing ----
    let (s, v) = call(&api, tok, "POST", "/v1/config/reload", None);
    assert_eq!(s, 200, "{v}");
    assert!(ok(&sock, &token_file, &["config-reload"]).contains("subnets"));
    let good = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, good.replace("id = 3", "id = 1")).unwrap();
    let before = state(&api, &config);
    let (s, v) = call(&api, tok, "POST", "/v1/config/reload", None);
    assert_eq!(s, 422, "{v}");
    assert!(
        v["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().contains("already used")),
        "{v}"
    );
    assert_eq!(state(&api, &config), before);
    assert_eq!(call(&api, None, "GET", "/v1/status", None).1["subnets"], 3);
    std::fs::write(&config, &good).unwrap();

    // ---- over TCP: loopback reads are open; from elsewhere the token is needed ----
    let tcp_local = lab.server.run(|| {
        let c = Client::new(Endpoint::Tcp("127.0.0.1:8067".into()));
        (
            call(&c, None, "GET", "/v1/status", None).0,
            call(&c, None, "POST", "/v1/config/reload", None).0,
        )
    });
    assert_eq!(tcp_local, (200, 401));
    let remote = lab.links[0].ns.run(|| {
        let c = Client::new(Endpoint::Tcp("10.77.1.1:8067".into()));
        (
            call(&c, None, "GET", "/v1/status", None).0,
            call(&c, tok, "GET", "/v1/status", None).0,
            call(&c, None, "GET", "/metrics", None).0,
        )
    });
    assert_eq!(remote, (401, 200, 200), "reads from a client address");
    let out = lab
        .server
        .command(bin("xdhcpctl"))
        .args(["--url", "http://127.0.0.1:8067", "--json", "status"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["workers"], 2);

    // ---- metrics: counters against what is sent now ----
    let scrape = || {
        lab.server.run(|| {
            let c = Client::new(Endpoint::Tcp("127.0.0.1:9167".into()));
            let (s, v) = call(&c, None, "GET", "/metrics", None);
            assert_eq!(s, 200);
            v.as_str().unwrap_or_default().to_owned()
        })
    };
    let m0 = scrape();
    let base =
        |n: &str, l: &str| sample(&m0, n, l).unwrap_or_else(|| panic!("{n}{{{l}}} missing:\n{m0}"));
    let (d0, o0, bad0) = (
        base("xdhcp_pkt4_discover_received_total", ""),
        base("xdhcp_pkt4_offer_sent_total", ""),
        base(
            "xdhcp_pkt4_parse_failed_total",
            "reason=\"bad_magic_cookie\"",
        ),
    );
    const N: u32 = 20;
    let l1 = &lab.links[1];
    l1.ns.run(|| {
        let raw = PacketSocket::open(&l1.ifname).unwrap();
        for i in 0..N {
            raw.send(&dhcp_frame(
                &[],
                &discover([2, 0xd1, 0, 0, 0, i as u8], 0xd15c_0000 + i),
            ))
            .unwrap();
        }
        let mut bad = discover([2, 0xd1, 0xff, 0, 0, 1], 1);
        bad[236] = 0;
        for _ in 0..3 {
            raw.send(&dhcp_frame(&[], &bad)).unwrap();
        }
    });
    let m = wait_for("the counters to move", Duration::from_secs(10), || {
        let m = scrape();
        let got = |n: &str, l: &str| sample(&m, n, l).unwrap_or(0.0);
        (got("xdhcp_pkt4_discover_received_total", "") >= d0 + f64::from(N)
            && got("xdhcp_pkt4_offer_sent_total", "") >= o0 + f64::from(N)
            && got(
                "xdhcp_pkt4_parse_failed_total",
                "reason=\"bad_magic_cookie\"",
            ) >= bad0 + 3.0)
            .then_some(m)
    });
    let got = |n: &str, l: &str| sample(&m, n, l).unwrap_or_else(|| panic!("{n}{{{l}}} missing"));
    // The udhcpc clients and the relayed one were acknowledged; the operator's leases are not
    // counted as ACKs.
    assert!(got("xdhcp_pkt4_ack_sent_total", "") >= 3.0);
    assert!(got("xdhcp_pkt4_received_total", "") >= f64::from(N) + 5.0);
    assert!(got("xdhcp_cumulative_assigned_addresses_total", "") >= 5.0);
    assert!(
        got(
            "xdhcp_xdp_decisions_total",
            &format!(
                "interface=\"{}\",decision=\"redirected\"",
                lab.links[1].server_if
            )
        ) >= f64::from(N) + 3.0
    );
    assert!(
        got(
            "xdhcp_xsk_rx_frames_total",
            &format!("interface=\"{}\",queue=\"0\"", lab.links[1].server_if)
        ) >= f64::from(N) + 3.0
    );
    assert!(got("xdhcp_journal_fsync_seconds_count", "") >= 1.0);
    assert!(got("xdhcp_journal_fsync_seconds_bucket", "le=\"+Inf\"") >= 1.0);
    assert!(got("xdhcp_subnet_assigned_addresses", "subnet_id=\"1\"") >= 1.0);
    // The DISCOVERs' offers hold their addresses for the offer hold.
    assert!(got("xdhcp_subnet_assigned_addresses", "subnet_id=\"2\"") >= 1.0 + f64::from(N));
    assert_eq!(
        got("xdhcp_subnet_total_addresses", "subnet_id=\"3\""),
        100.0
    );
    assert_eq!(
        got("xdhcp_failover_connected", "relationship=\"api pair\""),
        0.0
    );
    assert!(
        m.contains("xdhcp_failover_state{relationship=\"api pair\",state="),
        "{m}"
    );
    assert!(m.contains("xdhcp_queue_depth{worker=\"1\",queue=\"journal\"}"));
    assert!(m.contains("xdhcp_failover_updates_unacked{relationship=\"api pair\"}"));
    // The same on the control listener and the socket; OpenMetrics when asked for.
    let a = api
        .raw(
            b"GET /metrics HTTP/1.1\r\nAccept: application/openmetrics-text; version=1.0.0\r\n\r\n",
        )
        .unwrap();
    assert!(
        String::from_utf8_lossy(&a.body)
            .trim_end()
            .ends_with("# EOF")
    );
    assert!(ok(&sock, &token_file, &["metrics"]).contains("xdhcp_pkt4_ack_sent_total"));
    // The metrics listener serves nothing else.
    let s = lab.server.run(|| {
        call(
            &Client::new(Endpoint::Tcp("127.0.0.1:9167".into())),
            tok,
            "GET",
            "/v1/status",
            None,
        )
        .0
    });
    assert_eq!(s, 404);

    // ---- shutdown through the API ----
    assert!(ok(&sock, &token_file, &["shutdown"]).contains("stopping"));
    wait_for("xdhcpd to stop", Duration::from_secs(15), || {
        lab.log().unwrap().contains("xdhcpd stopped").then_some(())
    });
    let log = lab.stop().unwrap();
    assert!(log.contains("control API: shutdown requested"), "{log}");
    assert!(
        log.contains("control API: lease added")
            && log.contains("control API: reservation removed"),
        "{log}"
    );
    assert!(!sock.exists(), "the socket is removed on stop");

    // ---- after a restart, the remote-id of a lease comes back from the journal ----
    lab.start(&cfg).expect("xdhcpd restarts");
    let v = wait_for(
        "the remote-id lease after the restart",
        Duration::from_secs(10),
        || {
            let a = api.call("GET", "/v1/leases?remote-id=rid-2", None).ok()?;
            let v: Value = serde_json::from_slice(&a.body).ok()?;
            (a.status == 200 && v["count"] == 1).then_some(v)
        },
    );
    assert_eq!(v["leases"][0]["ip-address"], "10.77.1.177", "{v}");
    lab.stop().unwrap();
    println!("control API test: {:.1} s", t0.elapsed().as_secs_f64());
}

#[test]
fn failover_routes_against_a_real_pair() {
    require_root!();
    let t0 = Instant::now();
    let mut lab = FailoverLab::new("apf", 0).expect("lab");
    let sock = lab.servers[0].control_socket();
    let token_file = lab.dir.join("token");
    std::fs::write(&token_file, TOKEN).unwrap();
    for i in 0..2 {
        let mut cfg = lab.xdhcpd_config(
            i,
            "socket",
            "mode = \"load-balance\"\nmclt = \"30s\"",
            "receive-timer = \"3s\"",
            "{ default = 60, min = 10, max = 60 }",
        );
        // The config ends with its [control] table.
        cfg.push_str(&format!("token-file = \"{}\"\n", token_file.display()));
        lab.servers[i].start(&cfg).unwrap_or_else(|e| panic!("{e}"));
    }
    let api = Client::new(Endpoint::Unix(sock.clone()));
    let rel = |api: &Client| {
        let (s, v) = call(api, None, "GET", "/v1/failover/lab-pair", None);
        assert_eq!(s, 200, "{v}");
        v["relationships"][0].clone()
    };
    assert!(
        wait_until(Duration::from_secs(40), || {
            let r = rel(&api);
            r["State"] == "Normal" && r["PartnerState"] == "Normal"
        }),
        "never NORMAL: {}\n{}",
        rel(&api),
        lab.servers[0].log()
    );
    // Contact is sampled once a second.
    assert!(wait_until(Duration::from_secs(5), || {
        rel(&api)["LastContact"].is_string()
    }));
    let r = rel(&api);
    assert_eq!(
        (
            r["Connected"].as_bool(),
            r["Mode"].as_str(),
            r["LoadBalancePercent"].as_u64(),
            r["Role"].as_str()
        ),
        (Some(true), Some("LoadBalance"), Some(50), Some("primary")),
        "{r}"
    );
    assert!(r["MessagesIn"].as_u64().unwrap() > 0, "{r}");
    let metrics = || {
        call(&api, None, "GET", "/metrics", None)
            .1
            .as_str()
            .unwrap()
            .to_owned()
    };
    let m = metrics();
    assert_eq!(
        sample(
            &m,
            "xdhcp_failover_state",
            "relationship=\"lab-pair\",state=\"normal\""
        ),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        sample(&m, "xdhcp_failover_connected", "relationship=\"lab-pair\""),
        Some(1.0)
    );

    // PARTNER-DOWN is refused in NORMAL, and nothing changes.
    let (s, v) = call(
        &api,
        Some(TOKEN),
        "POST",
        "/v1/failover/lab-pair/partner-down",
        None,
    );
    assert_eq!(s, 409, "{v}");
    assert_eq!(rel(&api)["State"], "Normal");

    // Cut the failover link: COMMUNICATIONS-INTERRUPTED; then the operator says the partner
    // is down.
    lab.cut_link().unwrap();
    assert!(
        wait_until(Duration::from_secs(30), || rel(&api)["State"]
            == "CommunicationInterrupted"),
        "never COMMUNICATIONS-INTERRUPTED: {}",
        rel(&api)
    );
    assert_eq!(rel(&api)["Connected"], false);
    let out = ok(&sock, &token_file, &["failover-partner-down", "lab-pair"]);
    assert!(out.contains("partner down"), "{out}");
    assert!(
        wait_until(Duration::from_secs(5), || rel(&api)["State"]
            == "PartnerDown"),
        "{}",
        rel(&api)
    );
    let r = rel(&api);
    assert_eq!(r["DraftState"], "partner-down");
    assert!(r["StateTime"].is_string());
    assert!(wait_until(Duration::from_secs(3), || sample(
        &metrics(),
        "xdhcp_failover_state",
        "relationship=\"lab-pair\",state=\"partner-down\""
    ) == Some(1.0)));
    assert!(lab.servers[0].log().contains("control API: partner-down"));
    println!("failover API test: {:.1} s", t0.elapsed().as_secs_f64());
}
