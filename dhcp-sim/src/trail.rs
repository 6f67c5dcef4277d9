//! The event trail: the last events of a run, kept compact and formatted only when a checker
//! fails (or as they happen with `--verbose`).

use std::{collections::VecDeque, fmt, net::Ipv4Addr};

use dhcp_core::{
    engine::{DropReason, MsgType},
    failover::msg::{Body, Msg, PeerBinding},
};

/// Something that happened.
#[derive(Clone, Debug)]
pub enum Note {
    /// A client sent a message (`to`: `None` = broadcast to both servers).
    ClientSent {
        /// Client.
        client: u32,
        /// Type.
        kind: MsgType,
        /// Destination server.
        to: Option<usize>,
        /// ciaddr or requested address.
        addr: Ipv4Addr,
        /// Transaction.
        xid: u32,
    },
    /// A server decided to answer.
    ServerReply {
        /// Server.
        node: usize,
        /// Client.
        client: u32,
        /// OFFER, ACK or NAK.
        kind: MsgType,
        /// yiaddr.
        addr: Ipv4Addr,
        /// Lease seconds.
        lease: u32,
        /// Held until the journal is durable.
        held: bool,
    },
    /// A server stayed silent.
    ServerDrop {
        /// Server.
        node: usize,
        /// Client.
        client: u32,
        /// Type of the request.
        kind: MsgType,
        /// Why.
        reason: DropReason,
    },
    /// A client now holds a lease.
    Leased {
        /// Client.
        client: u32,
        /// Address.
        addr: Ipv4Addr,
        /// Seconds.
        secs: u64,
        /// From server.
        from: usize,
    },
    /// A client stopped using its address.
    Dropped {
        /// Client.
        client: u32,
        /// Address.
        addr: Ipv4Addr,
        /// Why.
        why: &'static str,
    },
    /// A failover message reached the partner.
    Wire {
        /// Sender.
        from: usize,
        /// Connection.
        link: u64,
        /// The message as decoded.
        msg: Msg,
    },
    /// Connection events.
    Link {
        /// Connection.
        link: u64,
        /// What.
        what: &'static str,
    },
    /// A server's own log line.
    Server {
        /// Server.
        node: usize,
        /// Text.
        text: String,
    },
    /// A fault or phase change.
    World(String),
}

/// Client number from a hardware address the simulator gave out.
pub fn client_of_hw(hw: &[u8]) -> Option<u32> {
    match hw {
        [2, 0, 0, 0, hi, lo] => Some(u32::from(*hi) << 8 | u32::from(*lo)),
        _ => None,
    }
}

fn peer(b: &PeerBinding) -> String {
    let who =
        b.hw.and_then(|h| client_of_hw(h.bytes()))
            .map(|c| format!(" c{c}"))
            .unwrap_or_default();
    let mut s = format!("{} {}{who}", b.addr, b.state.name());
    if let Some(e) = b.lease_end {
        s.push_str(&format!(" end {e}"));
    }
    if let Some(p) = b.pot_exp {
        s.push_str(&format!(" pot {p}"));
    }
    if let Some(t) = b.cltt {
        s.push_str(&format!(" cltt {t}"));
    }
    s
}

fn body(m: &Msg) -> String {
    match &m.body {
        Body::BndUpd(v) => {
            let items: Vec<String> = v.iter().map(peer).collect();
            format!("BNDUPD xid {} [{}]", m.xid, items.join("; "))
        }
        Body::BndAck(v) => {
            let items: Vec<String> = v
                .iter()
                .map(|a| match a.reject {
                    None => a.addr.to_string(),
                    Some(r) => format!("{} rejected {r}", a.addr),
                })
                .collect();
            format!("BNDACK xid {} [{}]", m.xid, items.join(", "))
        }
        Body::State {
            state,
            startup,
            stos,
        } => format!(
            "STATE {}{} since {stos}",
            dhcp_core::failover::ServerState::from_wire(*state)
                .map(|s| s.name())
                .unwrap_or("?"),
            if *startup { " (startup)" } else { "" }
        ),
        Body::ConnectAck {
            reject: Some((r, t)),
            ..
        } => format!("CONNECTACK refusing {r}: {t}"),
        Body::Disconnect { reason, message } => format!("DISCONNECT {reason}: {message}"),
        other => format!("{} xid {}", other.name(), m.xid),
    }
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let to = |t: &Option<usize>| match t {
            Some(n) => format!("node {n}"),
            None => "both".to_owned(),
        };
        match self {
            Note::ClientSent {
                client,
                kind,
                to: t,
                addr,
                xid,
            } => write!(f, "c{client} -> {}: {kind:?} {addr} xid {xid:#x}", to(t)),
            Note::ServerReply {
                node,
                client,
                kind,
                addr,
                lease,
                held,
            } => write!(
                f,
                "node {node} -> c{client}: {kind:?} {addr} {lease} s{}",
                if *held { " (after sync)" } else { "" }
            ),
            Note::ServerDrop {
                node,
                client,
                kind,
                reason,
            } => write!(
                f,
                "node {node} ignores c{client}'s {kind:?}: {}",
                reason.name()
            ),
            Note::Leased {
                client,
                addr,
                secs,
                from,
            } => write!(f, "c{client} holds {addr} for {secs} s (node {from})"),
            Note::Dropped { client, addr, why } => write!(f, "c{client} lets {addr} go: {why}"),
            Note::Wire { from, link, msg } => {
                write!(
                    f,
                    "node {from} => node {} [link {link}] {}",
                    1 - from,
                    body(msg)
                )
            }
            Note::Link { link, what } => write!(f, "link {link}: {what}"),
            Note::Server { node, text } => write!(f, "node {node}: {text}"),
            Note::World(s) => write!(f, "** {s}"),
        }
    }
}

/// The last `cap` notes, with their times.
#[derive(Debug)]
pub struct Trail {
    cap: usize,
    notes: VecDeque<(u64, Note)>,
    verbose: bool,
}

impl Trail {
    /// A trail keeping `cap` notes; `verbose` prints every note as it comes.
    pub fn new(cap: usize, verbose: bool) -> Trail {
        Trail {
            cap: cap.max(1),
            notes: VecDeque::with_capacity(cap.max(1)),
            verbose,
        }
    }

    /// Records `n` at `at_ms`.
    pub fn push(&mut self, at_ms: u64, n: Note) {
        if self.verbose {
            println!("{}", line(at_ms, &n));
        }
        if self.notes.len() == self.cap {
            self.notes.pop_front();
        }
        self.notes.push_back((at_ms, n));
    }

    /// The kept notes, formatted, oldest first.
    pub fn lines(&self) -> Vec<String> {
        self.notes.iter().map(|(t, n)| line(*t, n)).collect()
    }
}

fn line(at_ms: u64, n: &Note) -> String {
    format!("{:>7}.{:03} {n}", at_ms / 1000, at_ms % 1000)
}
