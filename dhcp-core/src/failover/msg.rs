//! Failover messages as the endpoint reasons about them: what each carries, not how it is laid
//! out. The wire codec (`dhcp_wire::failover`) turns these into bytes and back.

use std::net::Ipv4Addr;

use super::{hash::Hba, state::ServerState};
use crate::lease::{Binding, BindingState, ClientKey, HwAddr, key::KeyKind};

/// A binding as carried in a BNDUPD (draft-12 §7.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerBinding {
    /// assigned-IP-address.
    pub addr: Ipv4Addr,
    /// binding-status.
    pub state: BindingState,
    /// client-identifier (option 61 payload), when the client used one.
    pub client_id: Option<Vec<u8>>,
    /// client-hardware-address.
    pub hw: Option<HwAddr>,
    /// lease-expiration-time.
    pub lease_end: Option<u32>,
    /// potential-expiration-time.
    pub pot_exp: Option<u32>,
    /// start-time-of-state.
    pub stos: Option<u32>,
    /// client-last-transaction-time.
    pub cltt: Option<u32>,
    /// IP-flags R.
    pub reserved: bool,
    /// IP-flags B.
    pub bootp: bool,
}

impl PeerBinding {
    /// The client key the update names: client identifier first, else hardware address.
    pub fn client_key(&self) -> ClientKey {
        match (&self.client_id, &self.hw) {
            (Some(id), _) if !id.is_empty() => ClientKey::from_client_id(id),
            (_, Some(hw)) if !hw.bytes().is_empty() => ClientKey::from_hw(hw.htype, hw.bytes()),
            _ => ClientKey::NONE,
        }
    }

    /// The update describing our binding `b`, with `pot_exp` as potential expiration.
    pub fn from_binding(b: &Binding, pot_exp: Option<u32>) -> PeerBinding {
        let has_client = !b.key.is_none()
            && matches!(
                b.state,
                BindingState::Active | BindingState::Expired | BindingState::Released
            );
        let client_id = if has_client && b.key.kind() == KeyKind::ClientId {
            b.key.client_id().map(<[u8]>::to_vec)
        } else {
            None
        };
        let hw = (has_client && !b.hw.bytes().is_empty()).then_some(b.hw);
        let active = b.state == BindingState::Active;
        PeerBinding {
            addr: b.addr,
            state: b.state,
            client_id,
            hw,
            lease_end: active.then_some(b.lease_end),
            pot_exp: if active { pot_exp } else { None },
            stos: Some(b.stos),
            cltt: (b.cltt != 0).then_some(b.cltt),
            reserved: b.flags.reserved(),
            bootp: b.flags.0 & crate::lease::BindingFlags::BOOTP != 0,
        }
    }

    /// An address-only update (FREE or BACKUP: pool ownership) at `now`.
    pub fn pool(addr: Ipv4Addr, state: BindingState, now: u32) -> PeerBinding {
        PeerBinding {
            addr,
            state,
            client_id: None,
            hw: None,
            lease_end: None,
            pot_exp: None,
            stos: Some(now),
            cltt: None,
            reserved: false,
            bootp: false,
        }
    }
}

/// One entry of a BNDACK.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AckEntry {
    /// The address.
    pub addr: Ipv4Addr,
    /// Reject reason (wire value), `None` when accepted.
    pub reject: Option<u8>,
}

/// The content of a failover message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// POOLREQ (1).
    PoolReq,
    /// POOLRESP (2).
    PoolResp {
        /// addresses-transferred.
        transferred: u32,
    },
    /// BNDUPD (3), one or more bindings.
    BndUpd(Vec<PeerBinding>),
    /// BNDACK (4).
    BndAck(Vec<AckEntry>),
    /// CONNECT (5).
    Connect {
        /// relationship-name.
        name: String,
        /// max-unacked-bndupd the sender accepts.
        max_unacked: u32,
        /// The sender's receive-timer, seconds.
        receive_timer: u32,
        /// vendor-class-identifier.
        vendor: String,
        /// protocol-version.
        version: u8,
        /// MCLT, seconds.
        mclt: u32,
        /// Hash bucket assignment.
        hba: Option<Hba>,
    },
    /// CONNECTACK (6).
    ConnectAck {
        /// relationship-name.
        name: String,
        /// max-unacked-bndupd the sender accepts.
        max_unacked: u32,
        /// The sender's receive-timer, seconds.
        receive_timer: u32,
        /// vendor-class-identifier.
        vendor: String,
        /// protocol-version.
        version: u8,
        /// Reject reason and text, when refusing.
        reject: Option<(u8, String)>,
    },
    /// UPDREQALL (7).
    UpdReqAll,
    /// UPDDONE (8).
    UpdDone,
    /// UPDREQ (9).
    UpdReq,
    /// STATE (10).
    State {
        /// server-state (raw value: an unknown one is the receiver's problem).
        state: u8,
        /// server-flags STARTUP bit.
        startup: bool,
        /// start-time-of-state.
        stos: u32,
    },
    /// CONTACT (11).
    Contact,
    /// DISCONNECT (12).
    Disconnect {
        /// reject-reason.
        reason: u8,
        /// message.
        message: String,
    },
    /// An xdhcp-private message between two xdhcp partners (type [`VENDOR_SCOPES`] or
    /// [`VENDOR_SCOPES_RESULT`]; optional types, so any other implementation ignores them),
    /// its payload carried in option [`VENDOR_DATA_OPTION`] and covered by the digest.
    Vendor {
        /// Message type.
        code: u8,
        /// Payload.
        payload: Vec<u8>,
    },
    /// A mandatory message type (0..=127) this implementation does not know.
    UnknownMandatory(u8),
    /// An optional message type (128..=255): ignored.
    UnknownOptional(u8),
}

/// xdhcp-private message: a chunk of replicated scope configuration.
pub const VENDOR_SCOPES: u8 = 200;
/// xdhcp-private message: the outcome of a scope replication.
pub const VENDOR_SCOPES_RESULT: u8 = 201;
/// Option carrying an xdhcp-private message's payload.
pub const VENDOR_DATA_OPTION: u16 = 240;

impl Body {
    /// STATE for `state`.
    pub fn state(state: ServerState, startup: bool, stos: u32) -> Body {
        Body::State {
            state: state.wire(),
            startup,
            stos,
        }
    }

    /// Short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Body::PoolReq => "POOLREQ",
            Body::PoolResp { .. } => "POOLRESP",
            Body::BndUpd(_) => "BNDUPD",
            Body::BndAck(_) => "BNDACK",
            Body::Connect { .. } => "CONNECT",
            Body::ConnectAck { .. } => "CONNECTACK",
            Body::UpdReqAll => "UPDREQALL",
            Body::UpdDone => "UPDDONE",
            Body::UpdReq => "UPDREQ",
            Body::State { .. } => "STATE",
            Body::Contact => "CONTACT",
            Body::Disconnect { .. } => "DISCONNECT",
            Body::Vendor { .. } => "xdhcp-private",
            Body::UnknownMandatory(_) => "unknown (mandatory)",
            Body::UnknownOptional(_) => "unknown (optional)",
        }
    }
}

/// A message: sender's time, transaction id, content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Msg {
    /// Sender's wall clock, seconds since 1970.
    pub time: u32,
    /// Transaction id.
    pub xid: u32,
    /// Content.
    pub body: Body,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SubnetId;

    #[test]
    fn updates_carry_what_the_draft_requires_per_state() {
        let mut b = Binding::new(
            ClientKey::from_client_id(b"\x01abc"),
            HwAddr::new(1, &[2, 0, 0, 0, 0, 1]),
            Ipv4Addr::new(10, 0, 0, 5),
            SubnetId(1),
        );
        b.state = BindingState::Active;
        b.lease_end = 5000;
        b.cltt = 1000;
        b.stos = 1000;
        let u = PeerBinding::from_binding(&b, Some(9000));
        assert_eq!(u.client_id.as_deref(), Some(&b"\x01abc"[..]));
        assert_eq!(u.lease_end, Some(5000));
        assert_eq!(u.pot_exp, Some(9000));
        assert_eq!(u.client_key(), b.key);
        b.state = BindingState::Released;
        let u = PeerBinding::from_binding(&b, Some(9000));
        assert_eq!(
            (u.lease_end, u.pot_exp),
            (None, None),
            "no times on RELEASED (§7.1 table)"
        );
        assert!(u.hw.is_some());
        b.state = BindingState::Abandoned;
        let u = PeerBinding::from_binding(&b, None);
        assert_eq!(
            (u.client_id.clone(), u.hw),
            (None, None),
            "no client on ABANDONED"
        );
        // A hardware-keyed client sends no client-identifier.
        let mut h = Binding::new(
            ClientKey::from_hw(1, &[2, 0, 0, 0, 0, 2]),
            HwAddr::new(1, &[2, 0, 0, 0, 0, 2]),
            Ipv4Addr::new(10, 0, 0, 6),
            SubnetId(1),
        );
        h.state = BindingState::Active;
        let u = PeerBinding::from_binding(&h, Some(1));
        assert_eq!(u.client_id, None);
        assert_eq!(u.client_key(), h.key);
    }
}
