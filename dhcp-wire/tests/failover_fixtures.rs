//! Failover messages captured from a pair of ISC dhcpd 4.4.3-P1 processes, and the two
//! examples quoted in the protocol notes (see fixtures/failover/README.md): each parses with
//! ISC's strictness, reads as documented, and re-emits to the same bytes.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use dhcp_wire::failover::{
    BindingRepr, BindingStatus, BndAckRepr, BndUpdRepr, ConnectAckRepr, ConnectRepr,
    FailoverMessage, HardwareAddress, Message, MessageType, ParseOptions, RejectReason,
    ServerFlags, ServerState, StateRepr, WireStatus, digest,
};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/failover")
}

fn fixtures() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "bin"))
        .collect();
    files.sort();
    files
}

fn fixture(name: &str) -> Vec<u8> {
    let path = dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn hba_split_128() -> [u8; 32] {
    let mut hba = [0u8; 32];
    hba[..16].fill(0xff);
    hba
}

/// Every fixture is one whole message that ISC would accept from us: it parses with ISC's
/// strictness, has no digest, and our repr writes it back byte for byte (typed fields go out
/// in ISC's order).
#[test]
fn every_fixture_parses_and_re_emits_identically() {
    let files = fixtures();
    assert!(files.len() >= 27, "fixtures missing: {files:?}");
    for path in files {
        let bytes = std::fs::read(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let msg =
            FailoverMessage::new_checked(&bytes[..]).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(msg.payload_offset(), 12, "{name}");
        digest::verify(&msg, None).unwrap_or_else(|e| panic!("{name}: {e}"));
        let parsed =
            Message::parse_with(&msg, ParseOptions::ISC).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!matches!(parsed, Message::Unknown(_)), "{name}");
        assert_eq!(parsed.buffer_len(), bytes.len(), "{name}");
        let mut out = [0u8; 2048];
        let n = parsed
            .emit(&mut out)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(&out[..n], &bytes[..], "{name} re-emitted differently");
        // And the type in the name is the type on the wire.
        let kind = parsed.message_type().name().to_ascii_lowercase();
        assert!(name.contains(&format!("-{kind}")), "{name} is a {kind}");
    }
}

#[test]
fn notes_connect_reads_as_documented() {
    let bytes = fixture("notes-isc-connect.bin");
    assert_eq!(bytes.len(), 109);
    let msg = FailoverMessage::new_checked(&bytes[..]).unwrap();
    assert_eq!(msg.message_type(), MessageType::Connect);
    assert_eq!(msg.time(), 0x6b09_c594);
    assert_eq!(msg.xid(), 0);
    let c = ConnectRepr::parse(&msg).unwrap();
    assert_eq!(c.relationship_name, Some(&b"fo-test"[..]));
    assert_eq!(c.max_unacked_bndupd, Some(10));
    assert_eq!(c.receive_timer, Some(30));
    assert_eq!(c.vendor_class_identifier, Some(&b"isc-4.4.3-P1"[..]));
    assert_eq!(c.protocol_version, Some(1));
    assert_eq!(c.tls_request, Some(0));
    assert_eq!(c.mclt, Some(600));
    assert_eq!(c.hash_bucket_assignment, Some(hba_split_128()));
    assert_eq!(c.delayed_service_parameter, None);
    assert!(c.others.is_empty());
}

#[test]
fn notes_backup_bndupd_reads_as_documented() {
    let bytes = fixture("notes-isc-bndupd-backup.bin");
    let msg = FailoverMessage::new_checked(&bytes[..]).unwrap();
    let upd = BndUpdRepr::parse_with(&msg, ParseOptions::ISC).unwrap();
    assert_eq!(upd.header.xid, 6);
    let bindings: Vec<BindingRepr> = upd.bindings.iter().collect();
    assert_eq!(bindings.len(), 1);
    let b = &bindings[0];
    assert_eq!(b.address, Ipv4Addr::new(10, 9, 9, 100));
    assert_eq!(b.status, Some(WireStatus::Draft(BindingStatus::Backup)));
    assert_eq!(b.lease_expiration_time, Some(0));
    assert_eq!(b.potential_expiration_time, Some(upd.header.time));
    assert_eq!(b.start_time_of_state, Some(upd.header.time));
    assert_eq!(b.client_identifier, None);
    assert_eq!(b.client_hardware_address, None);
    assert_eq!(b.ip_flags, None);
}

/// The captured CONNECT is the notes' CONNECT but for the clock.
#[test]
fn captured_connect_matches_the_notes() {
    let captured = fixture("isc-primary-connect.bin");
    let mut notes = fixture("notes-isc-connect.bin");
    notes[4..8].copy_from_slice(&captured[4..8]);
    assert_eq!(captured, notes);
}

#[test]
fn captured_connectack_accepts() {
    let bytes = fixture("isc-secondary-connectack.bin");
    let msg = FailoverMessage::new_checked(&bytes[..]).unwrap();
    let a = ConnectAckRepr::parse(&msg).unwrap();
    assert_eq!(msg.xid(), 0, "copies the CONNECT's xid");
    assert_eq!(a.relationship_name, Some(&b"fo-test"[..]));
    assert_eq!(a.max_unacked_bndupd, Some(10));
    assert_eq!(a.receive_timer, Some(30));
    assert_eq!(a.vendor_class_identifier, Some(&b"isc-4.4.3-P1"[..]));
    assert_eq!(a.protocol_version, Some(1));
    assert_eq!(a.tls_reply, Some(0));
    assert_eq!(a.reject_reason, None);
    assert_eq!(a.message, None);
}

/// A CONNECT naming a relationship the secondary does not have.
#[test]
fn captured_connectack_rejects_an_unknown_relationship() {
    let bytes = fixture("isc-secondary-connectack-reject.bin");
    let msg = FailoverMessage::new_checked(&bytes[..]).unwrap();
    let a = ConnectAckRepr::parse(&msg).unwrap();
    assert_eq!(
        a.relationship_name,
        Some(&b"fo-wrong"[..]),
        "echoes the CONNECT's name"
    );
    assert_eq!(a.max_unacked_bndupd, None);
    assert_eq!(a.receive_timer, None);
    assert_eq!(a.tls_reply, Some(0));
    assert_eq!(a.reject_reason, Some(RejectReason::InvalidPartner));
    assert_eq!(a.message, Some(&b"unknown failover relationship name"[..]));
}

#[test]
fn captured_states() {
    for (name, state, startup) in [
        (
            "isc-primary-state-recover-startup.bin",
            ServerState::Recover,
            true,
        ),
        ("isc-primary-state-recover.bin", ServerState::Recover, false),
        (
            "isc-primary-state-recover-done.bin",
            ServerState::RecoverDone,
            false,
        ),
        ("isc-primary-state-normal.bin", ServerState::Normal, false),
        (
            "isc-secondary-state-recover-startup.bin",
            ServerState::Recover,
            true,
        ),
        ("isc-secondary-state-normal.bin", ServerState::Normal, false),
    ] {
        let bytes = fixture(name);
        let msg = FailoverMessage::new_checked(&bytes[..]).unwrap();
        let s = StateRepr::parse(&msg).unwrap();
        assert_eq!(s.server_state, Some(state), "{name}");
        assert_eq!(
            s.server_flags.map(ServerFlags::startup),
            Some(startup),
            "{name}"
        );
        assert!(s.start_time_of_state.is_some(), "{name}");
    }
}

#[test]
fn captured_free_and_backup_updates_carry_times_anyway() {
    for (name, status) in [
        ("isc-primary-bndupd-free.bin", BindingStatus::Free),
        ("isc-secondary-bndupd-free.bin", BindingStatus::Free),
        ("isc-primary-bndupd-backup.bin", BindingStatus::Backup),
    ] {
        let bytes = fixture(name);
        let msg = FailoverMessage::new_checked(&bytes[..]).unwrap();
        let upd = BndUpdRepr::parse_with(&msg, ParseOptions::ISC).unwrap();
        let b = upd.bindings.iter().next().unwrap();
        assert_eq!(b.status, Some(WireStatus::Draft(status)), "{name}");
        assert!((100..=107).contains(&b.address.octets()[3]), "{name}");
        assert_eq!(b.lease_expiration_time, Some(0), "{name}: never leased");
        assert!(b.potential_expiration_time.is_some(), "{name}");
        assert!(b.start_time_of_state.is_some(), "{name}");
        assert_eq!(b.client_hardware_address, None, "{name}");
    }
}

#[test]
fn captured_active_and_released_updates() {
    let mac = [2, 0, 0, 0, 0x0c, 1];
    let client_id = [1, 2, 0, 0, 0, 0x0c, 1];
    let bytes = fixture("isc-secondary-bndupd-active.bin");
    let msg = FailoverMessage::new_checked(&bytes[..]).unwrap();
    let active = BndUpdRepr::parse(&msg)
        .unwrap()
        .bindings
        .iter()
        .next()
        .unwrap();
    assert_eq!(
        active.status,
        Some(WireStatus::Draft(BindingStatus::Active))
    );
    assert_eq!(active.client_identifier, Some(&client_id[..]));
    assert_eq!(
        active.client_hardware_address,
        Some(HardwareAddress {
            htype: 1,
            chaddr: &mac
        })
    );
    let start = active.start_time_of_state.unwrap();
    assert_eq!(active.lease_expiration_time, Some(start + 600));
    assert!(active.potential_expiration_time.unwrap() > start + 600);
    assert_eq!(active.client_last_transaction_time, Some(start));
    assert_eq!(active.ip_flags, None);
    assert!(active.others.is_empty());

    let bytes = fixture("isc-secondary-bndupd-released.bin");
    let msg = FailoverMessage::new_checked(&bytes[..]).unwrap();
    let released = BndUpdRepr::parse(&msg)
        .unwrap()
        .bindings
        .iter()
        .next()
        .unwrap();
    assert_eq!(released.address, active.address);
    assert_eq!(
        released.status,
        Some(WireStatus::Draft(BindingStatus::Released))
    );
    assert_eq!(released.client_identifier, Some(&client_id[..]));
    // ISC's STOS is the lease's start, not the start of RELEASED; the lease ends at release.
    assert_eq!(released.start_time_of_state, Some(start));
    assert_eq!(released.lease_expiration_time, Some(msg.time()));
    assert_eq!(released.potential_expiration_time, Some(msg.time()));
}

#[test]
fn captured_bndacks() {
    let bytes = fixture("isc-secondary-bndack.bin");
    let msg = FailoverMessage::new_checked(&bytes[..]).unwrap();
    let ack = BndAckRepr::parse(&msg).unwrap();
    let b = ack.bindings.iter().next().unwrap();
    assert_eq!(b, BindingRepr::new(b.address), "only the address is echoed");

    let bytes = fixture("isc-primary-bndack-reject.bin");
    let msg = FailoverMessage::new_checked(&bytes[..]).unwrap();
    let ack = BndAckRepr::parse(&msg).unwrap();
    let b = ack.bindings.iter().next().unwrap();
    assert_eq!(
        b.reject_reason,
        Some(RejectReason::LessCriticalBindingInformation)
    );
    assert_eq!(
        b.message,
        Some(&b"incoming update is less critical than outgoing update"[..])
    );
    assert_eq!(b.status, None);
}

#[test]
fn captured_empty_messages() {
    for name in [
        "isc-primary-contact.bin",
        "isc-secondary-contact.bin",
        "isc-primary-updreqall.bin",
        "isc-secondary-updreqall.bin",
        "isc-primary-upddone.bin",
        "isc-secondary-upddone.bin",
    ] {
        let bytes = fixture(name);
        assert_eq!(bytes.len(), 12, "{name}");
        let msg = FailoverMessage::new_checked(&bytes[..]).unwrap();
        assert_eq!(msg.options().count(), 0, "{name}");
    }
}
