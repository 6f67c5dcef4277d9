//! Reservations: listed from the configuration in force; added and removed by editing the
//! configuration file (comments and layout kept, through `toml_edit`) and reloading it, as
//! Kea's `reservation-add`/`reservation-del` with a config-file backend would.
//!
//! An edit is validated whole before the file is touched; if the running server then refuses
//! the file (a restart-only setting was changed in it by hand, …), the file is put back as it
//! was and every reason is returned. Edits are serialized.

use std::{
    io::Write as _,
    net::Ipv4Addr,
    path::{Path, PathBuf},
};

use dhcp_core::config::{RESERVATION_IDENTIFIERS as IDENTIFIERS, ReservationKey};
use serde::Deserialize;
use serde_json::{Value, json};
use toml_edit::{ArrayOfTables, DocumentMut, InlineTable, Item, Table, TableLike};

use super::{
    Ctx, Head, Peer, Reply, Request, Response, error, json_body, ops_error, query,
    util::{hex, parse_hex, parse_ip},
    views,
};
use crate::ops::OpsError;

/// (kind, bytes) of an identifier, so `circuit-id = "x"` and `circuit-id-hex = "78"` match.
fn identity(key: &str, value: &str) -> Option<(u8, Vec<u8>)> {
    Some(match key {
        "hw-address" => (0, parse_hex(value).ok()?),
        "client-id" => (1, parse_hex(value).ok()?),
        "circuit-id" => (2, value.as_bytes().to_vec()),
        "circuit-id-hex" => (2, parse_hex(value).ok()?),
        "remote-id" => (3, value.as_bytes().to_vec()),
        "remote-id-hex" => (3, parse_hex(value).ok()?),
        _ => return None,
    })
}

fn printable(b: &[u8]) -> Option<&str> {
    std::str::from_utf8(b)
        .ok()
        .filter(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_graphic() || c == ' '))
}

/// A reservation in force as JSON (the file's key names).
fn reservation_json(subnet: u32, r: &dhcp_core::config::Reservation) -> Value {
    let mut v = json!({"subnet-id": subnet, "ip-address": r.address.to_string()});
    let (k, s) = match &r.key {
        ReservationKey::HwAddress(m) => ("hw-address", hex(m)),
        ReservationKey::ClientId(b) => ("client-id", hex(b)),
        ReservationKey::CircuitId(b) => match printable(b) {
            Some(t) => ("circuit-id", t.to_owned()),
            None => ("circuit-id-hex", hex(b)),
        },
        ReservationKey::RemoteId(b) => match printable(b) {
            Some(t) => ("remote-id", t.to_owned()),
            None => ("remote-id-hex", hex(b)),
        },
    };
    v[k] = json!(s);
    if let Some(h) = &r.hostname {
        v["hostname"] = json!(h);
    }
    v
}

/// `GET /v1/reservations[?subnet-id=N]`: Kea's `reservation-get-all`.
pub(super) fn list(ctx: &Ctx, h: &Head) -> Reply {
    let q = query(h, &["subnet-id"])?;
    let want = q
        .get("subnet-id")
        .map(|s| {
            s.parse::<u32>().map_err(|_| {
                error(
                    400,
                    "bad_request",
                    format!("subnet-id `{s}` is not a number"),
                )
            })
        })
        .transpose()?;
    let plan = ctx.ops.plan();
    if let Some(w) = want {
        if plan.cfg.subnets.iter().all(|s| s.id.0 != w) {
            return Err(error(404, "not_found", format!("no subnet {w}")));
        }
    }
    let v: Vec<Value> = plan
        .cfg
        .subnets
        .iter()
        .filter(|s| want.is_none_or(|w| s.id.0 == w))
        .flat_map(|s| s.reservations.iter().map(|r| reservation_json(s.id.0, r)))
        .collect();
    Ok(Response::json(
        200,
        &json!({"count": v.len(), "reservations": v}),
    ))
}

/// Arguments of `reservation-add`: the file's keys.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct AddArgs {
    subnet_id: u32,
    ip_address: String,
    #[serde(default)]
    hw_address: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    circuit_id: Option<String>,
    #[serde(default)]
    circuit_id_hex: Option<String>,
    #[serde(default)]
    remote_id: Option<String>,
    #[serde(default)]
    remote_id_hex: Option<String>,
    #[serde(default)]
    hostname: Option<String>,
}

/// The `[[subnet]]` with id `id`, and whether it is an inline table.
fn subnet_mut(doc: &mut DocumentMut, id: u32) -> Option<(&mut dyn TableLike, bool)> {
    let is = |t: &dyn TableLike| t.get("id").and_then(Item::as_integer) == Some(i64::from(id));
    match doc.get_mut("subnet")? {
        Item::ArrayOfTables(a) => a
            .iter_mut()
            .find(|t| is(*t))
            .map(|t| (t as &mut dyn TableLike, false)),
        Item::Value(toml_edit::Value::Array(arr)) => arr
            .iter_mut()
            .filter_map(toml_edit::Value::as_inline_table_mut)
            .find(|t| is(*t))
            .map(|t| (t as &mut dyn TableLike, true)),
        _ => None,
    }
}

/// `POST /v1/reservations`: Kea's `reservation-add`.
pub(super) fn add(ctx: &Ctx, req: &Request, peer: Peer) -> Reply {
    let a: AddArgs = json_body(req)?;
    let bad = |e: String| error(400, "bad_request", e);
    parse_ip(&a.ip_address).map_err(bad)?;
    let ids: Vec<(&str, &String)> = IDENTIFIERS
        .into_iter()
        .zip([
            &a.hw_address,
            &a.client_id,
            &a.circuit_id,
            &a.circuit_id_hex,
            &a.remote_id,
            &a.remote_id_hex,
        ])
        .filter_map(|(k, v)| Some((k, v.as_ref()?)))
        .collect();
    let [(id_key, id_value)] = ids.as_slice() else {
        return Err(bad(format!(
            "give exactly one of {}",
            IDENTIFIERS.join(", ")
        )));
    };
    let (id_key, id_value) = (*id_key, (*id_value).clone());
    let mut fields: Vec<(&str, String)> = vec![
        (id_key, id_value.clone()),
        ("ip-address", a.ip_address.clone()),
    ];
    if let Some(h) = &a.hostname {
        fields.push(("hostname", h.clone()));
    }
    let subnet = a.subnet_id;
    let r = edit(ctx, |doc, file| {
        let Some((t, inline)) = subnet_mut(doc, subnet) else {
            return Err(error(
                404,
                "not_found",
                format!("{file} has no [[subnet]] with id {subnet}"),
            ));
        };
        let mut inl = InlineTable::new();
        let mut tab = Table::new();
        for (k, v) in &fields {
            inl.insert(*k, v.as_str().into());
            tab.insert(k, toml_edit::value(v.as_str()));
        }
        match t.get_mut("reservations") {
            None if inline => {
                let mut arr = toml_edit::Array::new();
                arr.push(inl);
                t.insert("reservations", Item::Value(arr.into()));
            }
            None => {
                let mut aot = ArrayOfTables::new();
                aot.push(tab);
                t.insert("reservations", Item::ArrayOfTables(aot));
            }
            Some(Item::ArrayOfTables(aot)) => aot.push(tab),
            Some(Item::Value(toml_edit::Value::Array(arr))) => arr.push(inl),
            Some(_) => {
                return Err(error(
                    409,
                    "refused",
                    format!("subnet {subnet}'s `reservations` in {file} is not a list of tables"),
                ));
            }
        }
        Ok(())
    })?;
    tracing::info!(%peer, subnet, address = %a.ip_address, identifier = %format!("{id_key}={id_value}"), "control API: reservation added");
    let mut out =
        json!({"reservation": {"subnet-id": subnet, "ip-address": a.ip_address}, "reload": r});
    out["reservation"][id_key] = json!(id_value);
    if let Some(h) = a.hostname {
        out["reservation"]["hostname"] = json!(h);
    }
    Ok(Response::json(201, &out))
}

/// `DELETE /v1/reservations?subnet-id=N&(ip-address=A | <identifier>=V)`: Kea's
/// `reservation-del`.
pub(super) fn del(ctx: &Ctx, req: &Request, peer: Peer) -> Reply {
    super::no_args(req)?;
    let mut allowed = vec!["subnet-id", "ip-address"];
    allowed.extend(IDENTIFIERS);
    let q = query(&req.head, &allowed)?;
    let bad = |e: String| error(400, "bad_request", e);
    let subnet: u32 = q
        .get("subnet-id")
        .ok_or_else(|| bad("subnet-id is required".into()))?
        .parse()
        .map_err(|_| bad("subnet-id is not a number".into()))?;
    let by: Vec<(&str, &str)> = q
        .iter()
        .filter(|(k, _)| **k != "subnet-id")
        .map(|(k, v)| (*k, *v))
        .collect();
    let [(key, value)] = by.as_slice() else {
        return Err(bad(format!(
            "name the reservation by exactly one of ip-address, {}",
            IDENTIFIERS.join(", ")
        )));
    };
    enum Want {
        Addr(Ipv4Addr),
        Id((u8, Vec<u8>)),
    }
    let want = if *key == "ip-address" {
        Want::Addr(parse_ip(value).map_err(bad)?)
    } else {
        Want::Id(
            identity(key, value).ok_or_else(|| bad(format!("`{value}` is not a valid {key}")))?,
        )
    };
    let matches = |t: &dyn TableLike| -> bool {
        let get = |k: &str| t.get(k).and_then(Item::as_str);
        match &want {
            Want::Addr(a) => get("ip-address").and_then(|s| s.parse::<Ipv4Addr>().ok()) == Some(*a),
            Want::Id(id) => IDENTIFIERS
                .iter()
                .any(|k| get(k).and_then(|v| identity(k, v)).as_ref() == Some(id)),
        }
    };
    let mut removed = Value::Null;
    let r = edit(ctx, |doc, file| {
        let not_found = || {
            error(
                404,
                "not_found",
                format!("subnet {subnet} in {file} has no reservation with {key} = {value}"),
            )
        };
        let Some((t, _)) = subnet_mut(doc, subnet) else {
            return Err(error(
                404,
                "not_found",
                format!("{file} has no [[subnet]] with id {subnet}"),
            ));
        };
        let describe = |t: &dyn TableLike| {
            let mut v = json!({"subnet-id": subnet});
            for (k, item) in t.iter() {
                if let Some(s) = item.as_str() {
                    v[k] = json!(s);
                }
            }
            v
        };
        match t.get_mut("reservations") {
            Some(Item::ArrayOfTables(aot)) => {
                let i = aot.iter().position(|t| matches(t)).ok_or_else(not_found)?;
                removed = aot.get(i).map(|t| describe(t)).unwrap_or_default();
                aot.remove(i);
            }
            Some(Item::Value(toml_edit::Value::Array(arr))) => {
                let i = arr
                    .iter()
                    .position(|v| v.as_inline_table().is_some_and(|t| matches(t)))
                    .ok_or_else(not_found)?;
                removed = arr
                    .get(i)
                    .and_then(|v| v.as_inline_table())
                    .map(|t| describe(t))
                    .unwrap_or_default();
                arr.remove(i);
            }
            _ => return Err(not_found()),
        }
        Ok(())
    })?;
    tracing::info!(%peer, subnet, by = %format!("{key}={value}"), "control API: reservation removed");
    Ok(Response::json(
        200,
        &json!({"reservation": removed, "reload": r}),
    ))
}

/// Applies `change` to the configuration file: validates the result, writes it, reloads; puts
/// the file back when the reload is refused. Returns the reload report.
fn edit(
    ctx: &Ctx,
    change: impl FnOnce(&mut DocumentMut, &str) -> Result<(), Response>,
) -> Result<Value, Response> {
    let _one = ctx
        .edits
        .lock()
        .map_err(|_| error(500, "internal", "a previous edit failed half-way"))?;
    let Some(path) = ctx.ops.config_path() else {
        return Err(error(409, "refused", "no configuration file is known"));
    };
    let file = path.display().to_string();
    let original = std::fs::read_to_string(&path)
        .map_err(|e| error(500, "internal", format!("cannot read {file}: {e}")))?;
    let mut doc: DocumentMut = original.parse().map_err(|e| {
        error(
            409,
            "refused",
            format!("{file} does not parse as it is now, so it is not edited: {e}"),
        )
    })?;
    change(&mut doc, &file)?;
    let text = doc.to_string();
    if let Err(errors) = dhcp_core::config::parse(&text, &file) {
        return Err(Response::json(
            422,
            &json!({
                "error": "config_invalid",
                "reason": format!("the change would make {file} invalid; the file is unchanged"),
                "reasons": errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
            }),
        ));
    }
    write_config(&path, &text).map_err(|e| {
        error(
            500,
            "internal",
            format!("cannot write {file} (unchanged): {e}"),
        )
    })?;
    match ctx.ops.reload_file() {
        Ok(r) => {
            views::log_reload(&r, &ctx.ops);
            Ok(views::reload_json(&r))
        }
        Err(e) => {
            let put_back = write_config(&path, &original);
            let mut resp = match e {
                OpsError::Config(reasons) => Response::json(
                    422,
                    &json!({
                        "error": "reload_refused",
                        "reason": format!("the running server refused the edited {file}; it was put back as it was"),
                        "reasons": reasons,
                    }),
                ),
                e => ops_error(e),
            };
            if let Err(w) = put_back {
                tracing::error!(file = %file, error = %w, "control API: the configuration file could not be put back");
                resp = error(
                    500,
                    "internal",
                    format!("the reload was refused and {file} could not be put back: {w}"),
                );
            }
            Err(resp)
        }
    }
}

/// Writes `text` to `path`: into a temporary file next to it and renamed over it (atomic,
/// mode kept) when `path` is a regular file in a writable directory, else in place.
pub(crate) fn write_config(path: &Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let meta = std::fs::symlink_metadata(path)?;
    if meta.file_type().is_file() {
        if let Some(name) = path.file_name() {
            let tmp: PathBuf =
                path.with_file_name(format!(".{}.xdhcp-edit", name.to_string_lossy()));
            let attempt = (|| {
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&tmp)?;
                f.set_permissions(std::fs::Permissions::from_mode(meta.permissions().mode()))?;
                f.write_all(text.as_bytes())?;
                f.sync_all()?;
                std::fs::rename(&tmp, path)?;
                // The new file is in place; a failed directory sync only makes the rename
                // less durable, it does not undo it.
                let dir = match path.parent() {
                    Some(d) if !d.as_os_str().is_empty() => d,
                    _ => Path::new("."),
                };
                if let Err(e) = std::fs::File::open(dir).and_then(|d| d.sync_all()) {
                    tracing::warn!(dir = %dir.display(), error = %e, "control API: syncing the configuration's directory");
                }
                Ok::<(), std::io::Error>(())
            })();
            match attempt {
                Ok(()) => return Ok(()),
                Err(e)
                    if e.kind() == std::io::ErrorKind::PermissionDenied
                        || e.raw_os_error() == Some(libc::EROFS) =>
                {
                    let _ = std::fs::remove_file(&tmp);
                }
                Err(e) => {
                    let _ = std::fs::remove_file(&tmp);
                    return Err(e);
                }
            }
        }
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> String {
        std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/xdhcpd.toml"),
        )
        .unwrap()
    }

    #[test]
    fn an_added_reservation_lands_in_its_subnet_and_comments_stay() {
        let text = example();
        let mut doc: DocumentMut = text.parse().unwrap();
        let (t, inline) = subnet_mut(&mut doc, 10).unwrap();
        assert!(!inline);
        let mut tab = Table::new();
        tab.insert("hw-address", toml_edit::value("02:00:5e:00:53:77"));
        tab.insert("ip-address", toml_edit::value("100.64.0.9"));
        match t.get_mut("reservations") {
            Some(Item::ArrayOfTables(aot)) => aot.push(tab),
            _ => panic!("subnet 10 has reservations"),
        }
        let out = doc.to_string();
        // Nothing of the original is lost, comments included.
        for line in text.lines().filter(|l| l.trim_start().starts_with('#')) {
            assert!(out.contains(line), "lost: {line}");
        }
        let c = dhcp_core::config::parse(&out, "x.toml").unwrap_or_else(|e| panic!("{e}"));
        let s = c.subnets.iter().find(|s| s.id.0 == 10).unwrap();
        let last = s.reservations.last().unwrap();
        assert_eq!(last.address, Ipv4Addr::new(100, 64, 0, 9));
        assert_eq!(
            last.key,
            ReservationKey::HwAddress([2, 0, 0x5e, 0, 0x53, 0x77])
        );
        // The other subnets kept theirs.
        let before = dhcp_core::config::parse(&text, "x.toml").unwrap();
        for (a, b) in before.subnets.iter().zip(&c.subnets) {
            if a.id.0 != 10 {
                assert_eq!(a.reservations, b.reservations);
            }
        }
    }

    #[test]
    fn inline_subnets_and_identifier_forms() {
        let mut doc: DocumentMut =
            "subnet = [{ id = 3, network = \"10.3.0.0/24\", reservations = [{ circuit-id-hex = \"78\", ip-address = \"10.3.0.5\" }] }]\n"
                .parse()
                .unwrap();
        let (t, inline) = subnet_mut(&mut doc, 3).unwrap();
        assert!(inline);
        let Some(Item::Value(toml_edit::Value::Array(arr))) = t.get("reservations") else {
            panic!()
        };
        let r = arr.get(0).and_then(|v| v.as_inline_table()).unwrap();
        let v = r.get("circuit-id-hex").and_then(|v| v.as_str()).unwrap();
        assert_eq!(identity("circuit-id-hex", v), identity("circuit-id", "x"));
        assert_ne!(identity("remote-id", "x"), identity("circuit-id", "x"));
        assert!(subnet_mut(&mut doc, 4).is_none());
    }

    #[test]
    fn writing_keeps_the_mode() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("xdhcp-edit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("c.toml");
        std::fs::write(&p, "a = 1\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_config(&p, "a = 2\n").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "a = 2\n");
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o640
        );
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "no temporary left"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
