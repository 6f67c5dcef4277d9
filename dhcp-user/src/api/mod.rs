//! The operator control API: HTTP/1.1 + JSON on `control.listen` and on the Unix socket
//! `control.socket` (the same routes on both), and the Prometheus endpoint (`/metrics`, on
//! `listen` or on a listener of its own at `control.metrics`).
//!
//! One thread, `xdhcp-api`, runs a current-thread tokio runtime that accepts connections and
//! reads requests (bounded in size and time); each request is then answered on tokio's
//! blocking pool, since answering may wait for the workers (a question to every engine, a
//! journal sync, a reload's rendezvous). At most [`MAX_CONCURRENT`] requests are served at
//! once; more are answered 503 at once. Nothing here touches the packet path: engines are
//! asked between batches through [`Ops`].
//!
//! Routes and their Kea / Windows names: [`ROUTES`] and docs/OPERATIONS.md. A failing call
//! answers `{"error": "...", "reason": "..."}` with a 4xx/5xx status and changes nothing.

mod auth;
pub mod client;
pub mod http;
mod leases;
pub(crate) mod reservations;
pub mod util;
pub(crate) mod views;

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    os::unix::fs::{FileTypeExt as _, PermissionsExt as _},
    path::{Path, PathBuf},
    sync::{Arc, Mutex, Weak},
    thread,
    time::Duration,
};

use dhcp_core::engine::Plan;
use serde::de::DeserializeOwned;
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    net::{TcpListener, UnixListener},
    sync::{Semaphore, watch},
};

use auth::Token;
pub use auth::{Access, Peer};
use http::{Head, HttpError, Request, Response};
pub use views::log_reload;

use crate::ops::{Ops, OpsError};

/// Requests answered at once; more get 503.
pub const MAX_CONCURRENT: usize = 32;
/// Time a client has to send its whole request.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Time a client has to take the answer.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a change may wait for the journal to make it durable.
const DURABLE_TIMEOUT: Duration = Duration::from_secs(10);

/// One route: method, path pattern, what it does, the Kea command and the Windows cmdlet an
/// operator knows it by. `GET /v1` lists them.
pub struct Route {
    /// HTTP method.
    pub method: &'static str,
    /// Path; `{x}` marks a parameter.
    pub path: &'static str,
    /// Read or change.
    pub access: Access,
    /// Kea control command.
    pub kea: &'static str,
    /// Windows PowerShell cmdlet.
    pub windows: &'static str,
    /// What it does.
    pub what: &'static str,
}

macro_rules! route {
    ($m:literal, $p:literal, $a:ident, $k:literal, $w:literal, $d:literal) => {
        Route {
            method: $m,
            path: $p,
            access: Access::$a,
            kea: $k,
            windows: $w,
            what: $d,
        }
    };
}

/// Every route.
pub const ROUTES: &[Route] = &[
    route!(
        "GET",
        "/v1",
        Read,
        "list-commands",
        "Get-Command -Module DhcpServer",
        "this list"
    ),
    route!(
        "GET",
        "/v1/status",
        Read,
        "status-get, version-get",
        "Get-DhcpServerSetting",
        "version, uptime, workers, configuration file, token state"
    ),
    route!(
        "GET",
        "/v1/leases/{ip}",
        Read,
        "lease4-get",
        "Get-DhcpServerv4Lease -IPAddress",
        "the lease on an address"
    ),
    route!(
        "GET",
        "/v1/leases?hw-address=M",
        Read,
        "lease4-get-by-hw-address",
        "Get-DhcpServerv4Lease -ClientId (MAC)",
        "leases of a hardware address"
    ),
    route!(
        "GET",
        "/v1/leases?client-id=H",
        Read,
        "lease4-get-by-client-id",
        "Get-DhcpServerv4Lease -ClientId",
        "the lease of a client identifier (option 61)"
    ),
    route!(
        "GET",
        "/v1/leases?remote-id=T | remote-id-hex=H",
        Read,
        "lease4-get-by-remote-id",
        "-",
        "leases of an option 82 remote-id: reserved by it, or whose last request carried it"
    ),
    route!(
        "GET",
        "/v1/leases?subnet-id=N&state=S&from=IP&limit=K",
        Read,
        "lease4-get-page, lease4-get-all",
        "Get-DhcpServerv4Lease -ScopeId -AllLeases",
        "a page of leases in address order"
    ),
    route!(
        "POST",
        "/v1/leases",
        Change,
        "lease4-add",
        "Add-DhcpServerv4Lease",
        "lease an address to a client (durable before the answer)"
    ),
    route!(
        "DELETE",
        "/v1/leases/{ip}",
        Change,
        "lease4-del",
        "Remove-DhcpServerv4Lease",
        "end the lease on an address (durable before the answer)"
    ),
    route!(
        "GET",
        "/v1/reservations?subnet-id=N",
        Read,
        "reservation-get-all",
        "Get-DhcpServerv4Reservation",
        "reservations in force"
    ),
    route!(
        "POST",
        "/v1/reservations",
        Change,
        "reservation-add",
        "Add-DhcpServerv4Reservation",
        "add a reservation to the configuration file and reload"
    ),
    route!(
        "DELETE",
        "/v1/reservations?subnet-id=N&ip-address=A",
        Change,
        "reservation-del",
        "Remove-DhcpServerv4Reservation",
        "remove a reservation from the configuration file and reload"
    ),
    route!(
        "GET",
        "/v1/subnets",
        Read,
        "stat-lease4-get",
        "Get-DhcpServerv4ScopeStatistics",
        "utilisation of every subnet and pool"
    ),
    route!(
        "GET",
        "/v1/statistics",
        Read,
        "statistic-get-all",
        "Get-DhcpServerv4Statistics",
        "every counter, by Kea statistic name"
    ),
    route!(
        "GET",
        "/v1/failover",
        Read,
        "ha-heartbeat (status)",
        "Get-DhcpServerv4Failover",
        "every failover relationship"
    ),
    route!(
        "GET",
        "/v1/failover/{name}",
        Read,
        "ha-heartbeat (status)",
        "Get-DhcpServerv4Failover -Name",
        "one failover relationship"
    ),
    route!(
        "POST",
        "/v1/failover/{name}/partner-down",
        Change,
        "(ISC: omshell partner-down)",
        "Set-DhcpServerv4Failover -PartnerDown",
        "declare the partner down (draft-12 PARTNER-DOWN)"
    ),
    route!(
        "POST",
        "/v1/failover/{name}/replicate",
        Change,
        "ha-sync",
        "Invoke-DhcpServerv4FailoverReplication",
        "send the relationship's scopes to the partner, which writes them into its file and reloads"
    ),
    route!(
        "POST",
        "/v1/config/reload",
        Change,
        "config-reload",
        "Restart-Service (no equivalent)",
        "re-read, validate and apply the configuration file"
    ),
    route!(
        "POST",
        "/v1/shutdown",
        Change,
        "shutdown",
        "Stop-Service DHCPServer",
        "stop the daemon cleanly"
    ),
    route!(
        "GET",
        "/metrics",
        Read,
        "(kea-exporter)",
        "(windows_exporter dhcp)",
        "Prometheus metrics"
    ),
];

/// What the request handlers share.
pub(crate) struct Ctx {
    ops: Ops,
    /// The token, and the plan it was read for (re-read when the plan changes: a reload).
    token: Mutex<(Weak<Plan>, Token)>,
    /// Configuration file edits, one at a time.
    edits: Mutex<()>,
    /// Last contact with each failover partner, as seen by this thread.
    contact: Mutex<views::Contacts>,
    /// Interface names by index (for port metrics).
    ifnames: BTreeMap<u32, String>,
}

impl Ctx {
    fn token(&self) -> Token {
        let plan = self.ops.plan();
        let Ok(mut g) = self.token.lock() else {
            return Token::load(plan.cfg.control.token_file.as_deref());
        };
        if g.0.as_ptr() != Arc::as_ptr(&plan) {
            let t = Token::load(plan.cfg.control.token_file.as_deref());
            if let Some(p) = t.problem() {
                tracing::warn!("control API: state-changing calls will be refused: {p}");
            } else if let Some(f) = t.file() {
                warn_if_readable(f);
            }
            *g = (Arc::downgrade(&plan), t);
        }
        g.1.clone()
    }
}

fn warn_if_readable(f: &Path) {
    if let Ok(m) = std::fs::metadata(f) {
        if m.permissions().mode() & 0o004 != 0 {
            tracing::warn!(file = %f.display(), "control API: the token file is readable by everyone");
        }
    }
}

/// The running API: stop it with [`ApiServer::stop`] (or by dropping it).
pub struct ApiServer {
    stop: Option<watch::Sender<bool>>,
    thread: Option<thread::JoinHandle<()>>,
    socket: Option<(PathBuf, std::fs::Metadata)>,
    /// What listens where, for the start-up log and the tests.
    pub listening: Vec<String>,
}

enum Listener {
    Tcp(std::net::TcpListener, Kind),
    Unix(std::os::unix::net::UnixListener),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Every route.
    Control,
    /// Only `/metrics`.
    Metrics,
}

/// Binds the configured listeners and starts the API thread. A listener that cannot be bound
/// is logged as an error and left out: the control plane never keeps the server from serving
/// DHCP.
pub fn start(ops: Ops) -> ApiServer {
    let plan = ops.plan();
    let c = plan.cfg.control.clone();
    let mut listeners = Vec::new();
    let mut listening = Vec::new();
    let mut bind_tcp = |addr: SocketAddr, kind: Kind, listening: &mut Vec<String>| {
        match std::net::TcpListener::bind(addr).and_then(|l| l.set_nonblocking(true).map(|()| l)) {
            Ok(l) => {
                let what = match kind {
                    Kind::Control if c.metrics == Some(addr) => "control API and /metrics",
                    Kind::Control => "control API",
                    Kind::Metrics => "/metrics",
                };
                listening.push(format!("http://{addr} ({what})"));
                listeners.push(Listener::Tcp(l, kind));
            }
            Err(e) => {
                tracing::error!(%addr, error = %e, "control API: cannot listen; continuing without it")
            }
        }
    };
    if let Some(a) = c.listen {
        bind_tcp(a, Kind::Control, &mut listening);
    }
    if let Some(m) = c.metrics.filter(|m| Some(*m) != c.listen) {
        bind_tcp(m, Kind::Metrics, &mut listening);
    }
    let mut socket = None;
    if let Some(p) = &c.socket {
        match bind_unix(p) {
            Ok((l, meta)) => {
                listening.push(format!("unix:{} (control API and /metrics)", p.display()));
                socket = Some((p.clone(), meta));
                listeners.push(Listener::Unix(l));
            }
            Err(e) => {
                tracing::error!(socket = %p.display(), "control API: {e}; continuing without it")
            }
        }
    }
    let ifnames = plan
        .cfg
        .server
        .interfaces
        .iter()
        .filter_map(|i| Some((crate::steer::ifindex(&i.name).ok()?, i.name.clone())))
        .collect();
    let ctx = Arc::new(Ctx {
        token: Mutex::new((Weak::new(), Token::load(None))),
        ops,
        edits: Mutex::new(()),
        contact: Mutex::new(views::Contacts::default()),
        ifnames,
    });
    // Read the token now, so that a missing one is logged at start.
    let _ = ctx.token();
    let (stop_tx, stop_rx) = watch::channel(false);
    let thread = thread::Builder::new()
        .name("xdhcp-api".into())
        .spawn(move || run(ctx, listeners, stop_rx));
    let thread = match thread {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::error!(error = %e, "control API: cannot start its thread");
            None
        }
    };
    ApiServer {
        stop: Some(stop_tx),
        thread,
        socket,
        listening,
    }
}

/// Binds the Unix socket, replacing a stale one but never a live one (another daemon) or a
/// file that is not a socket.
fn bind_unix(p: &Path) -> Result<(std::os::unix::net::UnixListener, std::fs::Metadata), String> {
    if let Some(dir) = p.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    if let Ok(m) = std::fs::symlink_metadata(p) {
        if !m.file_type().is_socket() {
            return Err(format!(
                "{} exists and is not a socket; not replaced",
                p.display()
            ));
        }
        if std::os::unix::net::UnixStream::connect(p).is_ok() {
            return Err(format!(
                "{} is in use by another process (another xdhcpd?); not replaced",
                p.display()
            ));
        }
        std::fs::remove_file(p)
            .map_err(|e| format!("cannot remove the stale {}: {e}", p.display()))?;
    }
    let l = std::os::unix::net::UnixListener::bind(p)
        .map_err(|e| format!("cannot listen on {}: {e}", p.display()))?;
    l.set_nonblocking(true)
        .map_err(|e| format!("{}: {e}", p.display()))?;
    // Who may connect is decided by the file mode: the daemon's user and group.
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o660))
        .map_err(|e| format!("cannot set the mode of {}: {e}", p.display()))?;
    let meta = std::fs::symlink_metadata(p).map_err(|e| format!("{}: {e}", p.display()))?;
    Ok((l, meta))
}

impl ApiServer {
    /// Stops accepting, lets answers in progress finish (for up to two seconds), and removes
    /// the Unix socket (when it is still ours).
    pub fn stop(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(true);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Some((p, meta)) = self.socket.take() {
            use std::os::unix::fs::MetadataExt as _;
            let ours = std::fs::symlink_metadata(&p)
                .is_ok_and(|m| m.ino() == meta.ino() && m.dev() == meta.dev());
            if ours {
                let _ = std::fs::remove_file(&p);
            }
        }
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.stop_now();
    }
}

fn run(ctx: Arc<Ctx>, listeners: Vec<Listener>, stop: watch::Receiver<bool>) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .max_blocking_threads(MAX_CONCURRENT)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "control API: cannot start its runtime");
            return;
        }
    };
    rt.block_on(async {
        let limit = Arc::new(Semaphore::new(MAX_CONCURRENT));
        for l in listeners {
            let acceptor = match l {
                Listener::Tcp(l, kind) => TcpListener::from_std(l).map(|l| Acceptor::Tcp(l, kind)),
                Listener::Unix(l) => UnixListener::from_std(l).map(Acceptor::Unix),
            };
            let Ok(acceptor) = acceptor else { continue };
            let (ctx, limit, mut stop) = (ctx.clone(), limit.clone(), stop.clone());
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = stop.changed() => break,
                        r = acceptor.accept() => match r {
                            Ok((s, peer, kind)) => {
                                let (ctx, limit) = (ctx.clone(), limit.clone());
                                tokio::spawn(connection(s, peer, kind, ctx, limit));
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "control API: accept failed");
                                tokio::time::sleep(Duration::from_millis(100)).await;
                            }
                        },
                    }
                }
            });
        }
        // Failover last-contact times, sampled while nobody asks.
        let mut stop = stop.clone();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                _ = tick.tick() => {
                    let st = ctx.ops.failover_status();
                    if let Ok(mut c) = ctx.contact.lock() {
                        c.sample(&st, crate::server::wall_now());
                    }
                }
            }
        }
    });
    rt.shutdown_timeout(Duration::from_secs(2));
}

/// A connection of either listener.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<S: AsyncRead + AsyncWrite + Unpin + Send> Stream for S {}

enum Acceptor {
    Tcp(TcpListener, Kind),
    Unix(UnixListener),
}

impl Acceptor {
    async fn accept(&self) -> std::io::Result<(Box<dyn Stream>, Peer, Kind)> {
        Ok(match self {
            Acceptor::Tcp(l, kind) => {
                let (s, peer) = l.accept().await?;
                (Box::new(s), Peer::Tcp(peer), *kind)
            }
            Acceptor::Unix(l) => (Box::new(l.accept().await?.0), Peer::Unix, Kind::Control),
        })
    }
}

async fn connection<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    peer: Peer,
    kind: Kind,
    ctx: Arc<Ctx>,
    limit: Arc<Semaphore>,
) {
    let answer = match limit.try_acquire_owned() {
        Err(_) => Response::error(
            503,
            "busy",
            format!("{MAX_CONCURRENT} requests are being answered; try again"),
        ),
        Ok(permit) => match tokio::time::timeout(READ_TIMEOUT, read_request(&mut s)).await {
            Err(_) => Response::error(
                408,
                "timeout",
                format!("the request was not complete within {READ_TIMEOUT:?}"),
            ),
            Ok(Err(e)) => e.into(),
            Ok(Ok(None)) => return,
            Ok(Ok(Some(req))) => {
                let ctx = ctx.clone();
                let r = tokio::task::spawn_blocking(move || {
                    let _permit = permit;
                    route(&ctx, &req, peer, kind)
                })
                .await;
                r.unwrap_or_else(|_| Response::error(500, "internal", "the handler failed"))
            }
        },
    };
    let _ = tokio::time::timeout(WRITE_TIMEOUT, async {
        s.write_all(&answer.to_bytes()).await?;
        s.shutdown().await
    })
    .await;
}

/// Reads one request; `Ok(None)` when the client closed without sending anything.
async fn read_request<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
) -> Result<Option<Request>, HttpError> {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    let (head, at) = loop {
        if let Some(h) = http::parse_head(&buf)? {
            break h;
        }
        let n = s
            .read(&mut chunk)
            .await
            .map_err(|e| HttpError::bad(format!("reading the request: {e}")))?;
        if n == 0 {
            if buf.is_empty() {
                return Ok(None);
            }
            return Err(HttpError::bad(
                "the connection closed inside the request head",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let want = head.content_length;
    if head.expect_continue && buf.len() == at && want > 0 {
        s.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .await
            .map_err(|e| HttpError::bad(format!("writing 100 Continue: {e}")))?;
    }
    while buf.len() < at + want {
        let n = s
            .read(&mut chunk)
            .await
            .map_err(|e| HttpError::bad(format!("reading the body: {e}")))?;
        if n == 0 {
            return Err(HttpError::bad(format!(
                "the body ended after {} of {want} bytes",
                buf.len() - at
            )));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = buf[at..at + want].to_vec();
    Ok(Some(Request { head, body }))
}

/// A handler's answer: `Err` carries an error response, so that `?` works.
type Reply = Result<Response, Response>;

fn error(status: u16, code: &str, reason: impl Into<String>) -> Response {
    Response::error(status, code, reason)
}

fn ops_error(e: OpsError) -> Response {
    match e {
        OpsError::Timeout(..) => error(504, "timeout", e.to_string()),
        OpsError::Config(reasons) => Response::json(
            422,
            &serde_json::json!({
                "error": "config_refused",
                "reason": "the configuration was not applied; the running one stays",
                "reasons": reasons,
            }),
        ),
        OpsError::Other(r) => error(503, "unavailable", r),
    }
}

/// The JSON body as `T`; an empty body is `{}`.
fn json_body<T: DeserializeOwned>(req: &Request) -> Result<T, Response> {
    let body: &[u8] = if req.body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        &req.body
    };
    serde_json::from_slice(body).map_err(|e| {
        error(
            400,
            "bad_request",
            format!("the body is not what this call takes: {e}"),
        )
    })
}

/// A call without arguments: an empty body or `{}`.
fn no_args(req: &Request) -> Result<(), Response> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Nothing {}
    json_body::<Nothing>(req).map(|_| ())
}

/// The query, refusing keys not in `allowed` and keys given twice.
fn query<'a>(head: &'a Head, allowed: &[&str]) -> Result<BTreeMap<&'a str, &'a str>, Response> {
    let mut out = BTreeMap::new();
    for (k, v) in &head.query {
        if !allowed.contains(&k.as_str()) {
            return Err(error(
                400,
                "bad_request",
                format!(
                    "unknown parameter `{k}`; this call takes {}",
                    allowed.join(", ")
                ),
            ));
        }
        if out.insert(k.as_str(), v.as_str()).is_some() {
            return Err(error(
                400,
                "bad_request",
                format!("parameter `{k}` given twice"),
            ));
        }
    }
    Ok(out)
}

/// Answers one request.
fn route(ctx: &Ctx, req: &Request, peer: Peer, kind: Kind) -> Response {
    let r = dispatch(ctx, req, peer, kind);
    let resp = r.unwrap_or_else(|e| e);
    if resp.status >= 400 && req.head.method != "GET" {
        tracing::info!(
            %peer,
            method = %req.head.method,
            path = %format!("/{}", req.head.segments.join("/")),
            status = resp.status,
            "control API: call refused"
        );
    }
    resp
}

fn dispatch(ctx: &Ctx, req: &Request, peer: Peer, kind: Kind) -> Reply {
    let h = &req.head;
    let m = h.method.as_str();
    let seg: Vec<&str> = h.segments.iter().map(String::as_str).collect();
    if kind == Kind::Metrics && seg != ["metrics"] {
        return Err(error(
            404,
            "not_found",
            "this listener serves only /metrics",
        ));
    }
    // Which access the path needs, decided before anything else is looked at.
    let allow: &[&str] = match seg.as_slice() {
        ["metrics"]
        | ["v1"]
        | ["v1", "status"]
        | ["v1", "subnets"]
        | ["v1", "statistics"]
        | ["v1", "failover"]
        | ["v1", "failover", _] => &["GET"],
        ["v1", "leases"] => &["GET", "POST"],
        ["v1", "reservations"] => &["GET", "POST", "DELETE"],
        ["v1", "leases", _] => &["GET", "DELETE"],
        ["v1", "failover", _, "partner-down" | "replicate"]
        | ["v1", "config", "reload"]
        | ["v1", "shutdown"] => &["POST"],
        _ => {
            return Err(error(
                404,
                "not_found",
                format!("no route /{}; GET /v1 lists them", seg.join("/")),
            ));
        }
    };
    if !allow.contains(&m) {
        let allow = allow.join(", ");
        return Err(error(
            405,
            "method_not_allowed",
            format!("/{} takes {allow}", seg.join("/")),
        )
        .with_header("Allow", allow));
    }
    let access = if m == "GET" {
        Access::Read
    } else {
        Access::Change
    };
    // Metrics are read-only and meant for scrapers: open wherever they are served.
    if seg != ["metrics"] {
        ctx.token().check(h, peer, access).map_err(|r| *r)?;
    }
    match (m, seg.as_slice()) {
        ("GET", ["metrics"]) => Ok(views::metrics(ctx, h)),
        ("GET", ["v1"]) => Ok(views::routes()),
        ("GET", ["v1", "status"]) => Ok(views::status(ctx)),
        ("GET", ["v1", "subnets"]) => {
            query(h, &[])?;
            Ok(views::subnets(ctx))
        }
        ("GET", ["v1", "statistics"]) => {
            query(h, &[])?;
            Ok(views::statistics(ctx))
        }
        ("GET", ["v1", "failover"]) => Ok(views::failover(ctx, None)),
        ("GET", ["v1", "failover", name]) => {
            known_relationship(ctx, name)?;
            Ok(views::failover(ctx, Some(name)))
        }
        ("GET", ["v1", "leases"]) => leases::get(ctx, h),
        ("GET", ["v1", "leases", ip]) => leases::get_one(ctx, ip),
        ("POST", ["v1", "leases"]) => leases::add(ctx, req, peer),
        ("DELETE", ["v1", "leases", ip]) => leases::del(ctx, req, ip, peer),
        ("GET", ["v1", "reservations"]) => reservations::list(ctx, h),
        ("POST", ["v1", "reservations"]) => reservations::add(ctx, req, peer),
        ("DELETE", ["v1", "reservations"]) => reservations::del(ctx, req, peer),
        ("POST", ["v1", "failover", name, "partner-down"]) => {
            no_args(req)?;
            known_relationship(ctx, name)?;
            tracing::info!(%peer, relationship = %name, "control API: partner-down");
            ctx.ops.partner_down(name).map_err(|e| match e {
                OpsError::Other(r) => error(409, "refused", r),
                e => ops_error(e),
            })?;
            Ok(Response::json(
                200,
                &serde_json::json!({"result": format!("relationship `{name}`: partner down")}),
            ))
        }
        // Windows' Invoke-DhcpServerv4FailoverReplication, Kea's ha-sync: this server's
        // scopes of the relationship overwrite the partner's.
        ("POST", ["v1", "failover", name, "replicate"]) => {
            no_args(req)?;
            known_relationship(ctx, name)?;
            tracing::info!(%peer, relationship = %name, "control API: replicate scopes");
            let result = ctx.ops.replicate(name).map_err(|e| match e {
                OpsError::Other(r) => error(409, "refused", r),
                e => ops_error(e),
            })?;
            Ok(Response::json(
                200,
                &serde_json::json!({"result": format!("relationship `{name}`: {result}")}),
            ))
        }
        ("POST", ["v1", "config", "reload"]) => {
            no_args(req)?;
            tracing::info!(%peer, "control API: configuration reload");
            let r = ctx.ops.reload_file().map_err(ops_error)?;
            views::log_reload(&r, &ctx.ops);
            Ok(Response::json(200, &views::reload_json(&r)))
        }
        ("POST", ["v1", "shutdown"]) => {
            no_args(req)?;
            tracing::info!(%peer, "control API: shutdown requested");
            crate::signals::request_stop();
            Ok(Response::json(
                200,
                &serde_json::json!({"result": "stopping: held replies are sent and the journal is synced first"}),
            ))
        }
        _ => Err(error(404, "not_found", "no such route")),
    }
}

/// 404 unless relationship `name` is configured.
fn known_relationship(ctx: &Ctx, name: &str) -> Result<(), Response> {
    if ctx.ops.plan().cfg.failover.iter().any(|r| r.name == name) {
        Ok(())
    } else {
        Err(error(
            404,
            "not_found",
            format!("no failover relationship `{name}`"),
        ))
    }
}

/// Waits until worker `w`'s change `seq` is durable.
fn durable(ctx: &Ctx, w: usize, seq: u64) -> Result<(), Response> {
    ctx.ops
        .wait_durable(w, seq, DURABLE_TIMEOUT)
        .map_err(|e| error(504, "not_durable", format!("the change was made but {e}")))
}
