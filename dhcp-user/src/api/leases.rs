//! Leases: look-ups (by address, hardware address, client identifier, option 82 remote-id),
//! paged listings, and the operator's add and delete (Kea's `lease4-*` commands).
//!
//! Bindings live in the shard of their client, owned by one worker; a look-up by client goes
//! to that worker, a look-up by address to the worker whose shard the address's slot names,
//! anything else asks every worker (a scan of its shards, between two batches).

use std::net::Ipv4Addr;

use dhcp_core::{
    config::{ReservationKey, SubnetId},
    engine::admin::{AdminLease, AdminRefusal, BindingView, PageFilter},
    lease::{BindingFlags, BindingState, ClientKey, HwAddr, Slot, key::KeyKind, remote_id_digest},
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    Ctx, Peer, Reply, durable, error, json_body, ops_error, query,
    util::{hex, parse_hex, parse_hw, parse_ip, rfc3339},
};
use crate::server::wall_now;

/// Default and largest page.
const PAGE_DEFAULT: usize = 100;
const PAGE_MAX: usize = 10_000;

/// Every state name a listing may filter on.
const STATES: [BindingState; 8] = [
    BindingState::Active,
    BindingState::Offered,
    BindingState::Expired,
    BindingState::Released,
    BindingState::Abandoned,
    BindingState::Reset,
    BindingState::Free,
    BindingState::Backup,
];

/// A lease as JSON, with Kea's field names where Kea has the field.
pub(super) fn lease_json(v: &BindingView, now: u32) -> Value {
    let b = &v.binding;
    let client_id = b.key.client_id().map(hex);
    let key_kind = match b.key.kind() {
        KeyKind::ClientId => "client-id",
        KeyKind::Hardware => "hw-address",
        KeyKind::None => "none",
    };
    json!({
        "ip-address": b.addr.to_string(),
        "hw-address": b.hw.to_string(),
        "client-id": client_id,
        "identified-by": key_kind,
        "subnet-id": b.subnet.0,
        "state": if b.state == BindingState::Abandoned { "declined" } else { b.state.name() },
        "holds-address": v.holds,
        "cltt": b.cltt,
        "valid-lft": b.lease_end.saturating_sub(b.cltt),
        "expire": b.lease_end,
        "expires-at": rfc3339(b.lease_end),
        "remaining": b.lease_end.saturating_sub(now),
        "state-since": rfc3339(b.stos),
        "reserved": b.flags.reserved(),
        "partner-update-pending": b.flags.0 & BindingFlags::UPDATE_PENDING != 0,
        "shard": v.shard,
    })
}

fn refusal(r: AdminRefusal) -> super::Response {
    match r {
        AdminRefusal::Invalid(s) => error(400, "bad_request", s),
        AdminRefusal::Conflict(s) => error(409, "refused", s),
        AdminRefusal::NotFound(s) => error(404, "not_found", s),
    }
}

/// The best of several bindings recording one address: the one holding it, else the latest.
fn best(mut v: Vec<BindingView>) -> Option<BindingView> {
    v.sort_by_key(|b| (b.holds, b.binding.stos, b.binding.cltt));
    v.pop()
}

fn by_addr(ctx: &Ctx, addr: Ipv4Addr) -> Result<Vec<BindingView>, super::Response> {
    let plan = ctx.ops.plan();
    if let Some(Slot::Bound { shard, .. }) = plan.space.slot_of(addr).map(|s| plan.space.get(s)) {
        let w = ctx.ops.worker_of_shard(shard);
        let found = ctx
            .ops
            .ask_one(w, move |e| e.admin_find_addr(addr))
            .map_err(ops_error)?;
        if found.iter().any(|b| b.holds) {
            return Ok(found);
        }
    }
    let all = ctx
        .ops
        .ask(move |_, e| e.admin_find_addr(addr))
        .map_err(ops_error)?;
    Ok(all.into_iter().flatten().collect())
}

/// `GET /v1/leases/{ip}`: Kea's `lease4-get`.
pub(super) fn get_one(ctx: &Ctx, ip: &str) -> Reply {
    let addr = parse_ip(ip).map_err(|e| error(400, "bad_request", e))?;
    let found = by_addr(ctx, addr)?;
    match best(found) {
        Some(v) => Ok(super::Response::json(
            200,
            &json!({"lease": lease_json(&v, wall_now())}),
        )),
        None => Err(error(404, "not_found", format!("no lease for {addr}"))),
    }
}

/// `GET /v1/leases?…`: by identifier, or a page.
pub(super) fn get(ctx: &Ctx, h: &super::Head) -> Reply {
    let q = query(
        h,
        &[
            "hw-address",
            "client-id",
            "remote-id",
            "remote-id-hex",
            "subnet-id",
            "state",
            "from",
            "limit",
        ],
    )?;
    let lookups: Vec<&str> = ["hw-address", "client-id", "remote-id", "remote-id-hex"]
        .into_iter()
        .filter(|k| q.contains_key(k))
        .collect();
    let bad = |e: String| error(400, "bad_request", e);
    let now = wall_now();
    let list = |v: Vec<BindingView>, extra: Value| {
        let leases: Vec<Value> = v.iter().map(|b| lease_json(b, now)).collect();
        let mut out = json!({"count": leases.len(), "leases": leases});
        if let (Some(o), Some(e)) = (out.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        super::Response::json(200, &out)
    };
    match lookups.as_slice() {
        [] => {}
        [one] if q.len() == 1 => {
            let v = q[one];
            return match *one {
                "hw-address" => {
                    let hw = HwAddr::new(1, &parse_hw(v).map_err(bad)?);
                    let mut all: Vec<BindingView> = ctx
                        .ops
                        .ask(move |_, e| e.admin_find_hw(&hw))
                        .map_err(ops_error)?
                        .into_iter()
                        .flatten()
                        .collect();
                    all.sort_by_key(|b| (b.binding.addr, !b.holds));
                    Ok(list(all, json!({})))
                }
                "client-id" => {
                    let id = parse_hex(v).map_err(bad)?;
                    let key = ClientKey::from_client_id(&id);
                    let w = ctx.ops.worker_of_shard(ctx.ops.plan().shard_of(&key));
                    let one = ctx
                        .ops
                        .ask_one(w, move |e| e.admin_find_client(&key))
                        .map_err(ops_error)?;
                    Ok(list(one.into_iter().collect(), json!({})))
                }
                _ => {
                    let id = if *one == "remote-id" {
                        v.as_bytes().to_vec()
                    } else {
                        parse_hex(v).map_err(bad)?
                    };
                    by_remote_id(ctx, &id).map(|v| {
                        list(
                            v,
                            json!({"note": "found through the reservations naming this remote-id, \
                                   and by the 32-bit digest (CRC-32) of the remote-id each active \
                                   lease's last request carried: another remote-id with the same \
                                   digest could in rare cases match too"}),
                        )
                    })
                }
            };
        }
        _ => {
            return Err(bad(format!(
                "look up by one of hw-address, client-id, remote-id, remote-id-hex at a time, \
                 without listing parameters (got {})",
                q.keys().copied().collect::<Vec<_>>().join(", ")
            )));
        }
    }
    // A page.
    let subnet = q
        .get("subnet-id")
        .map(|s| {
            s.parse::<u32>()
                .map(SubnetId)
                .map_err(|_| bad(format!("subnet-id `{s}` is not a number")))
        })
        .transpose()?;
    if let Some(s) = subnet {
        if ctx.ops.plan().subnet_index(s).is_none() {
            return Err(error(404, "not_found", format!("no subnet {}", s.0)));
        }
    }
    let mut states = Vec::new();
    if let Some(list) = q.get("state") {
        for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let name = if name == "declined" {
                "abandoned"
            } else {
                name
            };
            let s = STATES.iter().find(|s| s.name() == name).ok_or_else(|| {
                bad(format!(
                    "unknown state `{name}`; states are active, offered, expired, released, \
                     declined, reset, free, backup"
                ))
            })?;
            states.push(*s);
        }
    }
    let after = q
        .get("from")
        .map(|s| parse_ip(s).map_err(bad))
        .transpose()?;
    let limit = match q.get("limit") {
        None => PAGE_DEFAULT,
        Some(s) => match s.parse::<usize>() {
            Ok(n @ 1..=PAGE_MAX) => n,
            _ => return Err(bad(format!("limit `{s}` is not between 1 and {PAGE_MAX}"))),
        },
    };
    let filter = PageFilter {
        subnet,
        states,
        after,
        limit,
    };
    let f = filter.clone();
    let per = ctx
        .ops
        .ask(move |_, e| e.admin_page(&f))
        .map_err(ops_error)?;
    let full = per.iter().any(|v| v.len() >= limit);
    let mut all: Vec<BindingView> = per.into_iter().flatten().collect();
    all.sort_by(|a, b| {
        a.binding
            .addr
            .cmp(&b.binding.addr)
            .then(b.holds.cmp(&a.holds))
            .then(a.binding.key.cmp(&b.binding.key))
    });
    // Every worker's first `limit` above `from` are here, so the first `limit` overall are.
    let more = full || all.len() > limit;
    all.truncate(limit);
    // The next page starts after the last address shown; bindings sharing that address (a
    // remembered one and the one holding it) are all on this page.
    let next = if more {
        all.last().map(|b| b.binding.addr)
    } else {
        None
    };
    if let Some(n) = next {
        let tail: Vec<BindingView> = ctx
            .ops
            .ask(move |_, e| e.admin_find_addr(n))
            .map_err(ops_error)?
            .into_iter()
            .flatten()
            .filter(|b| filter.states.is_empty() || filter.states.contains(&b.binding.state))
            .filter(|b| filter.subnet.is_none_or(|s| s == b.binding.subnet))
            .collect();
        all.retain(|b| b.binding.addr != n);
        all.extend(tail);
    }
    Ok(list(all, json!({"next": next.map(|n| n.to_string())})))
}

/// Leases of the clients whose reservations name remote-id `id`, and the active leases whose
/// client's last committed request carried a remote-id with `id`'s digest; one per address, in
/// address order.
fn by_remote_id(ctx: &Ctx, id: &[u8]) -> Result<Vec<BindingView>, super::Response> {
    let plan = ctx.ops.plan();
    let addrs: Vec<Ipv4Addr> = plan
        .cfg
        .subnets
        .iter()
        .flat_map(|s| &s.reservations)
        .filter(|r| matches!(&r.key, ReservationKey::RemoteId(v) if v == id))
        .map(|r| r.address)
        .collect();
    let mut out = Vec::new();
    for a in addrs {
        out.extend(best(by_addr(ctx, a)?));
    }
    if !id.is_empty() {
        let digest = remote_id_digest(id);
        let found = ctx
            .ops
            .ask(move |_, e| e.admin_find_remote_id(digest))
            .map_err(ops_error)?;
        for v in found.into_iter().flatten() {
            if !out.iter().any(|o| o.binding.addr == v.binding.addr) {
                out.push(v);
            }
        }
    }
    out.sort_by_key(|v| v.binding.addr);
    Ok(out)
}

/// Arguments of `lease4-add`, Kea's names.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct AddArgs {
    ip_address: String,
    hw_address: String,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    subnet_id: Option<u32>,
    #[serde(default)]
    valid_lft: Option<u32>,
}

/// `POST /v1/leases`: Kea's `lease4-add`.
pub(super) fn add(ctx: &Ctx, req: &super::Request, peer: Peer) -> Reply {
    let a: AddArgs = json_body(req)?;
    let bad = |e: String| error(400, "bad_request", e);
    let addr = parse_ip(&a.ip_address).map_err(bad)?;
    let hw = parse_hw(&a.hw_address).map_err(bad)?;
    let key = match &a.client_id {
        Some(c) => {
            let id = parse_hex(c).map_err(bad)?;
            if !(2..=255).contains(&id.len()) {
                return Err(bad(format!(
                    "client-id `{c}` is {} bytes; 2 to 255 are allowed",
                    id.len()
                )));
            }
            ClientKey::from_client_id(&id)
        }
        None => ClientKey::from_hw(1, &hw),
    };
    if a.valid_lft == Some(0) {
        return Err(bad("valid-lft must be at least 1 second".into()));
    }
    let l = AdminLease {
        addr,
        key,
        hw: HwAddr::new(1, &hw),
        subnet: a.subnet_id.map(SubnetId),
        valid_secs: a.valid_lft,
    };
    let w = ctx.ops.worker_of_shard(ctx.ops.plan().shard_of(&key));
    let (v, seq) = ctx
        .ops
        .ask_one(w, move |e| e.admin_add_lease(wall_now(), &l))
        .map_err(ops_error)?
        .map_err(refusal)?;
    durable(ctx, w, seq)?;
    tracing::info!(%peer, address = %addr, hw = %v.binding.hw, lease_end = v.binding.lease_end, "control API: lease added");
    Ok(super::Response::json(
        201,
        &json!({"lease": lease_json(&v, wall_now())}),
    ))
}

/// `DELETE /v1/leases/{ip}`: Kea's `lease4-del`.
pub(super) fn del(ctx: &Ctx, req: &super::Request, ip: &str, peer: Peer) -> Reply {
    super::no_args(req)?;
    let addr = parse_ip(ip).map_err(|e| error(400, "bad_request", e))?;
    let results = ctx
        .ops
        .ask(move |_, e| e.admin_del_lease(wall_now(), addr))
        .map_err(ops_error)?;
    let mut done = Vec::new();
    let mut refused = None;
    for (w, r) in results.into_iter().enumerate() {
        match r {
            Ok(Some((v, seq))) => done.push((w, v, seq)),
            Ok(None) => {}
            Err(e) => refused = Some(e),
        }
    }
    for (w, _, seq) in &done {
        durable(ctx, *w, *seq)?;
    }
    let Some((_, v, _)) = done.into_iter().max_by_key(|(_, v, _)| v.binding.stos) else {
        return Err(match refused {
            Some(r) => refusal(r),
            None => error(404, "not_found", format!("no lease for {addr}")),
        });
    };
    tracing::info!(%peer, address = %addr, hw = %v.binding.hw, "control API: lease deleted");
    Ok(super::Response::json(
        200,
        &json!({"lease": lease_json(&v, wall_now())}),
    ))
}
