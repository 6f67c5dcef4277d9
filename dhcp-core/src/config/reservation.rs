//! `[[subnet.reservations]]` -> [`Reserved`]: one identifier, one address outside the pools.

use super::error::Problems;
use super::file::ReservationFile;
use super::model::{Reservation, ReservationKey};
use super::subnet::{Draft, check_host, show};
use super::values;

/// A reservation that parsed, with where it came from.
#[derive(Debug)]
pub(crate) struct Reserved {
    /// Position in `subnet[i].reservations`.
    pub at: usize,
    /// Which identifier key it used (`hw-address`, `circuit-id`, ...).
    pub id_key: &'static str,
    /// The identifier as written.
    pub shown: String,
    pub reservation: Reservation,
}

/// The identifier keys of a reservation, in the order they are named in messages.
pub const IDENTIFIERS: [&str; 6] = [
    "hw-address",
    "client-id",
    "circuit-id",
    "circuit-id-hex",
    "remote-id",
    "remote-id-hex",
];

pub(crate) fn reservation(
    d: &Draft,
    j: usize,
    r: &ReservationFile,
    p: &mut Problems,
) -> Option<Reserved> {
    let k = format!("{}.reservations[{j}]", d.key);
    let given: Vec<(&'static str, &String)> = IDENTIFIERS
        .into_iter()
        .zip([
            &r.hw_address,
            &r.client_id,
            &r.circuit_id,
            &r.circuit_id_hex,
            &r.remote_id,
            &r.remote_id_hex,
        ])
        .filter_map(|(name, v)| Some((name, v.as_ref()?)))
        .collect();
    let id = match given.as_slice() {
        [(name, value)] => p
            .check(format!("{k}.{name}"), reservation_key(name, value))
            .map(|key| (*name, (*value).clone(), key)),
        _ => {
            let found = match given.as_slice() {
                [] => "none".to_owned(),
                many => many
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(" and "),
            };
            p.push(
                &k,
                format!(
                    "needs exactly one of {}; found {found}",
                    IDENTIFIERS.join(", ")
                ),
            );
            None
        }
    };
    let address = values::unicast(&r.ip_address).and_then(|a| {
        if let Some(n) = d.network {
            check_host(n, a)?;
        }
        if let Some((pj, pool)) = d.pool_of(a) {
            return Err(format!(
                "{a} is inside {}.pools[{pj}] ({}); reserved addresses must be outside the pools",
                d.key,
                show(&pool)
            ));
        }
        if d.options.routers.contains(&a) {
            return Err(format!("{a} is a router of this subnet"));
        }
        if d.server_id == Some(a) {
            return Err(format!("{a} is the server-id of this subnet"));
        }
        Ok(a)
    });
    let address = p.check(format!("{k}.ip-address"), address);
    let hostname = match &r.hostname {
        None => Some(None),
        Some(h) => p
            .check(format!("{k}.hostname"), values::dns_name(h))
            .map(|()| Some(h.clone())),
    };
    let ((id_key, shown, key), address, hostname) = (id?, address?, hostname?);
    Some(Reserved {
        at: j,
        id_key,
        shown,
        reservation: Reservation {
            key,
            address,
            hostname,
        },
    })
}

fn reservation_key(name: &str, value: &str) -> Result<ReservationKey, String> {
    // Relay agent sub-options and option 61 carry a one-byte length.
    let sized = |bytes: Vec<u8>, min: usize| {
        if (min..=255).contains(&bytes.len()) {
            Ok(bytes)
        } else {
            Err(format!(
                "`{value}` is {} bytes; {min} to 255 are allowed",
                bytes.len()
            ))
        }
    };
    match name {
        "hw-address" => {
            let bytes = values::hex(value)?;
            let mac: [u8; 6] = (bytes.as_slice().try_into())
                .map_err(|_| format!("`{value}` is not a 6-byte hardware address"))?;
            if mac == [0; 6] || mac[0] & 1 == 1 {
                return Err(format!("`{value}` is not a unicast hardware address"));
            }
            Ok(ReservationKey::HwAddress(mac))
        }
        "client-id" => Ok(ReservationKey::ClientId(sized(values::hex(value)?, 2)?)),
        "circuit-id" => Ok(ReservationKey::CircuitId(sized(
            value.as_bytes().to_vec(),
            1,
        )?)),
        "circuit-id-hex" => Ok(ReservationKey::CircuitId(sized(values::hex(value)?, 1)?)),
        "remote-id" => Ok(ReservationKey::RemoteId(sized(
            value.as_bytes().to_vec(),
            1,
        )?)),
        _ => Ok(ReservationKey::RemoteId(sized(values::hex(value)?, 1)?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservation_keys() {
        assert_eq!(
            reservation_key("hw-address", "02-00-00-00-00-01"),
            Ok(ReservationKey::HwAddress([2, 0, 0, 0, 0, 1]))
        );
        assert_eq!(
            reservation_key("hw-address", "02:00:00:00:01").unwrap_err(),
            "`02:00:00:00:01` is not a 6-byte hardware address"
        );
        assert!(reservation_key("hw-address", "01:00:5e:00:00:01").is_err());
        assert_eq!(
            reservation_key("client-id", "01").unwrap_err(),
            "`01` is 1 bytes; 2 to 255 are allowed"
        );
        assert_eq!(
            reservation_key("circuit-id", "eth0/1/2"),
            Ok(ReservationKey::CircuitId(b"eth0/1/2".to_vec()))
        );
        assert_eq!(
            reservation_key("circuit-id-hex", "65:74:68"),
            Ok(ReservationKey::CircuitId(b"eth".to_vec()))
        );
        assert_eq!(
            reservation_key("remote-id-hex", "0102"),
            Ok(ReservationKey::RemoteId(vec![1, 2]))
        );
        assert!(reservation_key("remote-id", "").is_err());
    }
}
