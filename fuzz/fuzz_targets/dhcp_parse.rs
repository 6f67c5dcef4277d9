//! Any bytes as a DHCP message: check, index, read every option and typed helper, then write
//! the options back with our writer and check that they read back the same. Must never panic.
#![no_main]

use dhcp_wire::dhcp::{
    DhcpPacket, DhcpWriter, MAX_PACKET_LEN, OptionCode, OptionIndex, OptionValue, Overload,
    WriteError,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = DhcpPacket::new_checked(data) else {
        return;
    };
    let _ = (
        packet.op(),
        packet.htype(),
        packet.hlen(),
        packet.hops(),
        packet.xid(),
    );
    let _ = (
        packet.secs(),
        packet.flags(),
        packet.broadcast(),
        packet.chaddr(),
    );
    let _ = (
        packet.ciaddr(),
        packet.yiaddr(),
        packet.siaddr(),
        packet.giaddr(),
    );
    let _ = (packet.sname(), packet.file(), packet.options_field());
    let Ok(index) = packet.options() else {
        return;
    };
    read_all(&index);
    // Options moved out of an overloaded file/sname take up to 192 more bytes in the options
    // field than they did in the input.
    let room = data.len() + 256;
    if room <= MAX_PACKET_LEN {
        rewrite(&packet, &index, room);
    }
    squeeze(&index, 300 + usize::from(packet.xid() as u8));
});

fn read_all(index: &OptionIndex<'_>) {
    let mut scratch = [0u8; 1024];
    let mut options = 0;
    for value in index.iter() {
        options += 1;
        let frags: usize = value.iter_fragments().map(<[u8]>::len).sum();
        assert_eq!(frags, value.len());
        assert_eq!(value.bytes().count(), value.len());
        assert_eq!(value.as_slice().is_some(), value.fragment_count() == 1);
        match value.copy_to(&mut scratch) {
            Some(n) => assert!(value.eq_bytes(&scratch[..n])),
            None => assert!(value.len() > scratch.len()),
        }
        let first = index.get(value.code()).expect("an iterated code is found");
        assert_eq!(first.len(), value.len());
    }
    assert_eq!(options, index.len());
    assert!(index.fragment_count() >= options);
    let _ = (
        index.message_type(),
        index.requested_ip(),
        index.lease_time_secs(),
    );
    let _ = (
        index.server_id(),
        index.subnet_selection(),
        index.overload(),
    );
    let _ = (index.client_id(), index.vendor_class(), index.hostname());
    if let Some(m) = index.max_message_size() {
        assert!(m >= 576);
    }
    assert!(index.reply_limit() >= 548);
    if let Some(prl) = index.parameter_request_list() {
        let _ = prl.bytes().count();
    }
    if let Some(info) = index.relay_agent_info() {
        let _ = (info.circuit_id(), info.remote_id());
        let total: usize = info.iter().map(|(_, v)| 2 + v.len()).sum();
        assert_eq!(total, info.as_bytes().len());
    }
}

/// Copies the header and every option (overload 52 aside) into a fresh message and reads it
/// back: the writer and the index must agree on every value.
fn rewrite<T: AsRef<[u8]>>(packet: &DhcpPacket<T>, index: &OptionIndex<'_>, room: usize) {
    let mut buf = vec![0u8; room];
    let mut w = DhcpWriter::new(&mut buf, room, None).expect("room for a header");
    w.set_reply_header(packet);
    let copied = |v: &OptionValue<'_>| v.code() != OptionCode::OVERLOAD;
    for value in index.iter().filter(copied) {
        w.copy_option(&value).expect("room: the input was smaller");
    }
    let len = w.finish();
    let again = DhcpPacket::new_checked(&buf[..len]).expect("our own header checks");
    assert_eq!(again.xid(), packet.xid());
    assert_eq!(again.chaddr(), packet.chaddr());
    let reindexed = again.options().expect("our own options index");
    let mut theirs = index.iter().filter(copied);
    for ours in reindexed.iter() {
        let want = theirs.next().expect("no extra option");
        assert_eq!(ours.code(), want.code());
        assert!(ours.bytes().eq(want.bytes()));
    }
    assert!(theirs.next().is_none());
}

/// Copies the options into a small message (300 to 555 bytes) with file and sname lent: the
/// ones the writer accepts must read back the same and in order, whether they landed in the
/// options field, `file` or `sname`.
fn squeeze(index: &OptionIndex<'_>, limit: usize) {
    let mut buf = [0u8; 600];
    let mut w = DhcpWriter::new(&mut buf, limit, Some(Overload::Both)).expect("300 or more");
    let mut written = [OptionCode(0); 256];
    let mut count = 0;
    for value in index.iter().filter(|v| v.code() != OptionCode::OVERLOAD) {
        match w.copy_option(&value) {
            Ok(()) => {
                written[count] = value.code();
                count += 1;
            }
            Err(WriteError::NoSpace) => {}
            Err(e) => panic!("{e}"),
        }
    }
    let len = w.finish();
    assert!((300..=limit).contains(&len));
    let again = DhcpPacket::new_checked(&buf[..len]).expect("our own header checks");
    let reindexed = again.options().expect("our own options index");
    let mut read = reindexed
        .iter()
        .filter(|v| v.code() != OptionCode::OVERLOAD);
    for code in &written[..count] {
        let ours = read.next().expect("every written option reads back");
        assert_eq!(ours.code(), *code);
        let want = index.get(*code).expect("it came from there");
        assert!(ours.bytes().eq(want.bytes()));
    }
    assert!(read.next().is_none());
}
