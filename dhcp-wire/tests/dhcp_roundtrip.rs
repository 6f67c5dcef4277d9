//! Property tests of our codec against itself: `parse(emit(x)) == x`, and no input panics.

mod support;

use dhcp_wire::dhcp::{DhcpPacket, MAGIC_COOKIE, OptionCode, Overload};
use proptest::prelude::*;
use support::{Model, model, touch_everything};

const BIG: usize = 8192;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Room for everything: nothing skipped, and the model comes back exactly.
    #[test]
    fn parse_of_emit_is_identity(m in model()) {
        let mut buf = vec![0u8; BIG];
        let (len, skipped) = m.emit(&mut buf, BIG, None).unwrap();
        prop_assert!(skipped.is_empty());
        prop_assert!(len >= 300);
        let back = Model::parse(&buf[..len]).unwrap();
        prop_assert_eq!(back, m);
    }

    /// A 576-byte limit with file and sname lent: options that fit come back in order (some in
    /// the overloaded fields), those that do not are reported, and the limit is kept.
    #[test]
    fn overloaded_emit_round_trips(m in model(), limit in 300usize..700, both in any::<bool>()) {
        let overload = if both { Overload::Both } else { Overload::File };
        let mut buf = vec![0xa5u8; BIG];
        let (len, skipped) = m.emit(&mut buf, limit, Some(overload)).unwrap();
        prop_assert!(len <= limit && len >= 300);
        let back = Model::parse(&buf[..len]).unwrap();

        let mut want = m.clone();
        want.options.retain(|(c, _)| !skipped.contains(c));
        let mut got = back.clone();
        let used = got.options.iter().any(|(c, _)| *c == OptionCode::OVERLOAD.0);
        got.options.retain(|(c, _)| *c != OptionCode::OVERLOAD.0);
        if used {
            // The lent fields hold options, not names.
            got.file = want.file.clone();
            got.sname = want.sname.clone();
        } else {
            // Lent but unused fields stay zero.
            prop_assert!(got.file.is_empty());
            want.file.clear();
            if both {
                prop_assert!(got.sname.is_empty());
                want.sname.clear();
            }
        }
        prop_assert_eq!(got, want);
    }

    /// Without overload, an option is skipped exactly when its fragments (2 header bytes per
    /// 255 value bytes) would run into the END byte at `limit - 1`; the message is then
    /// exactly as long as the options written, END and padding to 300.
    #[test]
    fn no_space_is_exactly_when_it_does_not_fit(m in model(), limit in 300usize..1200) {
        let mut buf = vec![0u8; BIG];
        let (len, skipped) = m.emit(&mut buf, limit, None).unwrap();
        let mut at = 240;
        for (code, value) in &m.options {
            let need = value.len() + 2 * value.len().div_ceil(255).max(1);
            // END takes the byte at `limit - 1`.
            let fits = at + need < limit;
            prop_assert_eq!(fits, !skipped.contains(code), "option {}", code);
            if fits {
                at += need;
            }
        }
        prop_assert_eq!(len, (at + 1).max(300));
    }

    /// Any bytes at all: errors are fine, panics are not.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..1500)) {
        touch_everything(&bytes);
    }

    /// A valid header followed by arbitrary option bytes, with file/sname garbage too: gets
    /// through `new_checked` every time, so the options scan is what is exercised.
    #[test]
    fn arbitrary_options_never_panic(
        fixed in any::<[u8; 236]>(),
        options in prop::collection::vec(any::<u8>(), 0..700),
        hlen in 0..=16u8,
        op in 1..=2u8,
    ) {
        let mut bytes = fixed.to_vec();
        bytes[0] = op;
        bytes[2] = hlen;
        bytes.extend_from_slice(&MAGIC_COOKIE);
        bytes.extend_from_slice(&options);
        prop_assert!(DhcpPacket::new_checked(&bytes[..]).is_ok());
        touch_everything(&bytes);
    }

    /// A message we wrote, with a few bytes changed: close to valid, so deep in the parser.
    #[test]
    fn mutated_messages_never_panic(
        m in model(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut buf = vec![0u8; BIG];
        let (len, _) = m.emit(&mut buf, 1500, Some(Overload::Both)).unwrap();
        let bytes = &mut buf[..len];
        for (at, byte) in edits {
            bytes[at.index(len)] = byte;
        }
        touch_everything(bytes);
        touch_everything(&bytes[..cut.index(len)]);
    }
}
