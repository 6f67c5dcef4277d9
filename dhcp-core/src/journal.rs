//! Lease journal format: the bytes of segment and snapshot files, and replay. No I/O here; the
//! file driver (in `dhcp-user`) appends, fsyncs and compacts.
//!
//! A file is a 16-byte header followed by fixed-size records:
//!
//! ```text
//! header  0  8  magic "XDHCPJNL"
//!         8  2  format version (1)
//!        10  2  kind: 1 = log segment, 2 = snapshot
//!        12  4  reserved (0)
//! record  0  4  CRC-32 (IEEE) of bytes 4..104
//!         4  2  record length (104)
//!         6  1  record type (1 = binding)
//!         7  1  reserved (0)
//!         8  8  sequence number (monotonic over the journal's life)
//!        16 32  client key
//!        48 18  hardware address (htype, len, 16 bytes)
//!        66  4  address
//!        70  4  subnet id
//!        74  1  binding state (draft-12 values; 0x80 offered)
//!        75  1  IP-flags
//!        76  4  lease end            80 4 CLTT           84 4 start time of state
//!        88  4  sent pot. expiry     92 4 acked pot. exp  96 4 received pot. exp
//!       100  4  remote-id digest (`lease::remote_id_digest`; 0 = none)
//! ```
//!
//! Bytes 100..104 were reserved (always 0) before the remote-id digest was kept; such records
//! read as "no remote-id", so the format version did not change.
//!
//! All integers big-endian. Recovery reads records until the first one that is short or fails
//! its checksum (a torn tail from a crash mid-write) and stops there; everything before it is
//! intact because each record is checked on its own.

use std::{collections::HashMap, net::Ipv4Addr};

use crate::{
    config::SubnetId,
    failover::{ServerState, endpoint::Persisted},
    lease::{Binding, BindingFlags, BindingState, ClientKey, HwAddr},
};

/// File magic.
pub const MAGIC: &[u8; 8] = b"XDHCPJNL";
/// Format version.
pub const VERSION: u16 = 1;
/// Header length.
pub const HEADER_LEN: usize = 16;
/// Record length.
pub const RECORD_LEN: usize = 104;
const RECORD_BINDING: u8 = 1;
const RECORD_STATE: u8 = 2;
/// Longest relationship name a state record stores.
pub const STATE_NAME_MAX: usize = 64;

/// What a journal file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// Appended binding changes.
    Log,
    /// One record per address: the state at compaction time.
    Snapshot,
}

/// Why a file or record is not usable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JournalFormatError {
    /// The header is short or its magic is wrong.
    #[error("not an xdhcp journal file (bad magic)")]
    BadMagic,
    /// An unknown format version.
    #[error("journal format version {0} is not supported (this build reads version 1)")]
    Version(u16),
    /// An unknown file kind.
    #[error("unknown journal file kind {0}")]
    Kind(u16),
}

/// The 16-byte file header.
pub fn encode_header(kind: FileKind) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(MAGIC);
    h[8..10].copy_from_slice(&VERSION.to_be_bytes());
    let k: u16 = match kind {
        FileKind::Log => 1,
        FileKind::Snapshot => 2,
    };
    h[10..12].copy_from_slice(&k.to_be_bytes());
    h
}

/// Checks a file header.
pub fn decode_header(b: &[u8]) -> Result<FileKind, JournalFormatError> {
    if b.len() < HEADER_LEN || &b[..8] != MAGIC {
        return Err(JournalFormatError::BadMagic);
    }
    let v = u16::from_be_bytes([b[8], b[9]]);
    if v != VERSION {
        return Err(JournalFormatError::Version(v));
    }
    match u16::from_be_bytes([b[10], b[11]]) {
        1 => Ok(FileKind::Log),
        2 => Ok(FileKind::Snapshot),
        k => Err(JournalFormatError::Kind(k)),
    }
}

fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

fn get32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Encodes one binding record.
pub fn encode_record(seq: u64, b: &Binding, out: &mut [u8; RECORD_LEN]) {
    *out = [0u8; RECORD_LEN];
    out[4..6].copy_from_slice(&(RECORD_LEN as u16).to_be_bytes());
    out[6] = RECORD_BINDING;
    out[8..16].copy_from_slice(&seq.to_be_bytes());
    out[16..48].copy_from_slice(&b.key.to_bytes());
    out[48..66].copy_from_slice(&b.hw.to_bytes());
    put32(out, 66, u32::from(b.addr));
    put32(out, 70, b.subnet.0);
    out[74] = b.state as u8;
    out[75] = b.flags.0;
    put32(out, 76, b.lease_end);
    put32(out, 80, b.cltt);
    put32(out, 84, b.stos);
    put32(out, 88, b.sent_pot_exp);
    put32(out, 92, b.acked_pot_exp);
    put32(out, 96, b.recv_pot_exp);
    put32(out, 100, b.remote_id);
    let crc = crc32fast::hash(&out[4..]);
    put32(out, 0, crc);
}

/// A failover relationship's persisted state (draft-12 §9: state and its start time, and the
/// MCLT in force). Layout after the common 16 bytes: name (64, NUL-padded), name length (1),
/// state (1, wire value), start time of state (4), MCLT (4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateRecord {
    /// Relationship name (at most [`STATE_NAME_MAX`] bytes are kept).
    pub name: String,
    /// The state to resume from.
    pub persisted: Persisted,
}

/// Encodes one failover state record.
pub fn encode_state_record(seq: u64, s: &StateRecord, out: &mut [u8; RECORD_LEN]) {
    *out = [0u8; RECORD_LEN];
    out[4..6].copy_from_slice(&(RECORD_LEN as u16).to_be_bytes());
    out[6] = RECORD_STATE;
    out[8..16].copy_from_slice(&seq.to_be_bytes());
    let name = s.name.as_bytes();
    let n = name.len().min(STATE_NAME_MAX);
    out[16..16 + n].copy_from_slice(&name[..n]);
    out[80] = n as u8;
    out[81] = s.persisted.state.wire();
    put32(out, 82, s.persisted.stos);
    put32(out, 86, s.persisted.mclt);
    let crc = crc32fast::hash(&out[4..]);
    put32(out, 0, crc);
}

/// A decoded record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// A binding.
    Binding(Binding),
    /// A failover relationship's state.
    State(StateRecord),
}

/// Decodes one record of either kind: (sequence, record).
pub fn decode_any(r: &[u8]) -> Result<(u64, Record), RecordError> {
    if r.len() < RECORD_LEN {
        return Err(RecordError::Short);
    }
    let r = &r[..RECORD_LEN];
    if crc32fast::hash(&r[4..]) != get32(r, 0) {
        return Err(RecordError::Checksum);
    }
    if usize::from(u16::from_be_bytes([r[4], r[5]])) != RECORD_LEN {
        return Err(RecordError::Unknown);
    }
    match r[6] {
        RECORD_BINDING => decode_record(r).map(|(s, b)| (s, Record::Binding(b))),
        RECORD_STATE => {
            let seq = u64::from_be_bytes([r[8], r[9], r[10], r[11], r[12], r[13], r[14], r[15]]);
            let n = usize::from(r[80]).min(STATE_NAME_MAX);
            let state = ServerState::from_wire(r[81]).ok_or(RecordError::BadField)?;
            Ok((
                seq,
                Record::State(StateRecord {
                    name: String::from_utf8_lossy(&r[16..16 + n]).into_owned(),
                    persisted: Persisted {
                        state,
                        stos: get32(r, 82),
                        mclt: get32(r, 86),
                    },
                }),
            ))
        }
        _ => Err(RecordError::Unknown),
    }
}

/// Why a record could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordError {
    /// Fewer bytes than a record.
    Short,
    /// The checksum does not match (torn or corrupted).
    Checksum,
    /// A length or type this build does not know.
    Unknown,
    /// A field holds an impossible value.
    BadField,
}

/// Decodes one record: (sequence, binding).
pub fn decode_record(r: &[u8]) -> Result<(u64, Binding), RecordError> {
    if r.len() < RECORD_LEN {
        return Err(RecordError::Short);
    }
    let r = &r[..RECORD_LEN];
    if crc32fast::hash(&r[4..]) != get32(r, 0) {
        return Err(RecordError::Checksum);
    }
    if usize::from(u16::from_be_bytes([r[4], r[5]])) != RECORD_LEN || r[6] != RECORD_BINDING {
        return Err(RecordError::Unknown);
    }
    let seq = u64::from_be_bytes([r[8], r[9], r[10], r[11], r[12], r[13], r[14], r[15]]);
    let mut key = [0u8; 32];
    key.copy_from_slice(&r[16..48]);
    let mut hw = [0u8; 18];
    hw.copy_from_slice(&r[48..66]);
    let state = BindingState::from_u8(r[74]).ok_or(RecordError::BadField)?;
    let mut b = Binding::new(
        ClientKey::from_bytes(key),
        HwAddr::from_bytes(hw),
        Ipv4Addr::from(get32(r, 66)),
        SubnetId(get32(r, 70)),
    );
    b.state = state;
    b.flags = BindingFlags(r[75]);
    b.lease_end = get32(r, 76);
    b.cltt = get32(r, 80);
    b.stos = get32(r, 84);
    b.sent_pot_exp = get32(r, 88);
    b.acked_pot_exp = get32(r, 92);
    b.recv_pot_exp = get32(r, 96);
    b.remote_id = get32(r, 100);
    Ok((seq, b))
}

/// Result of scanning one file's records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScanEnd {
    /// Bytes (header included) that hold intact records: where the file should be truncated.
    pub valid_len: usize,
    /// Records read.
    pub records: u64,
    /// Why reading stopped before the end, if it did.
    pub stopped: Option<RecordError>,
}

/// Reads every intact binding record of a file's bytes (after its header) into `f`, stopping
/// at the first bad record (state records are read past, not handed out).
pub fn scan(file: &[u8], mut f: impl FnMut(u64, Binding)) -> ScanEnd {
    scan_records(file, |seq, r| {
        if let Record::Binding(b) = r {
            f(seq, b)
        }
    })
}

/// Reads every intact record of a file's bytes (after its header) into `f`, stopping at the
/// first bad one.
pub fn scan_records(file: &[u8], mut f: impl FnMut(u64, Record)) -> ScanEnd {
    let mut at = HEADER_LEN.min(file.len());
    let mut records = 0;
    while at < file.len() {
        match decode_any(&file[at..]) {
            Ok((seq, r)) => {
                f(seq, r);
                records += 1;
                at += RECORD_LEN;
            }
            Err(e) => {
                return ScanEnd {
                    valid_len: at,
                    records,
                    stopped: Some(e),
                };
            }
        }
    }
    ScanEnd {
        valid_len: at,
        records,
        stopped: None,
    }
}

/// Replay state: the latest record per address, and per failover relationship.
#[derive(Debug, Default)]
pub struct Replay {
    latest: HashMap<Ipv4Addr, (u64, Binding)>,
    states: HashMap<String, (u64, Persisted)>,
    /// Highest sequence number seen.
    pub max_seq: u64,
    /// Records applied.
    pub records: u64,
}

impl Replay {
    /// Applies one record; an older sequence number for an address never overrides a newer one.
    pub fn apply(&mut self, seq: u64, b: Binding) {
        self.records += 1;
        self.max_seq = self.max_seq.max(seq);
        match self.latest.get(&b.addr) {
            Some((s, _)) if *s > seq => {}
            _ => {
                self.latest.insert(b.addr, (seq, b));
            }
        }
    }

    /// Applies a record of either kind.
    pub fn apply_record(&mut self, seq: u64, r: Record) {
        match r {
            Record::Binding(b) => self.apply(seq, b),
            Record::State(s) => {
                self.records += 1;
                self.max_seq = self.max_seq.max(seq);
                match self.states.get(&s.name) {
                    Some((old, _)) if *old > seq => {}
                    _ => {
                        self.states.insert(s.name, (seq, s.persisted));
                    }
                }
            }
        }
    }

    /// The last stored state of relationship `name`.
    pub fn state(&self, name: &str) -> Option<Persisted> {
        let key = &name[..name.len().min(STATE_NAME_MAX)];
        self.states.get(key).map(|(_, p)| *p)
    }

    /// Every stored relationship state, with its sequence number (for compaction).
    pub fn states(&self) -> impl Iterator<Item = (u64, StateRecord)> + '_ {
        self.states.iter().map(|(n, (seq, p))| {
            (
                *seq,
                StateRecord {
                    name: n.clone(),
                    persisted: *p,
                },
            )
        })
    }

    /// Number of distinct addresses.
    pub fn len(&self) -> usize {
        self.latest.len()
    }

    /// True when nothing was replayed.
    pub fn is_empty(&self) -> bool {
        self.latest.is_empty()
    }

    /// The bindings, ordered by address (deterministic).
    pub fn into_bindings(self) -> Vec<(u64, Binding)> {
        let mut v: Vec<(u64, Binding)> = self.latest.into_values().collect();
        v.sort_by_key(|(_, b)| b.addr);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(n: u8, state: BindingState) -> Binding {
        let mut b = Binding::new(
            ClientKey::from_client_id(&[1, 2, 3, n]),
            HwAddr::new(1, &[2, 0, 0, 0, 0, n]),
            Ipv4Addr::new(10, 0, 0, n),
            SubnetId(7),
        );
        b.state = state;
        b.flags = BindingFlags(BindingFlags::RESERVED);
        b.lease_end = 1_700_003_600;
        b.cltt = 1_700_000_000;
        b.stos = 1_699_999_999;
        b.sent_pot_exp = 11;
        b.acked_pot_exp = 12;
        b.recv_pot_exp = 13;
        b.remote_id = crate::lease::remote_id_digest(b"olt-1 port 7");
        b
    }

    #[test]
    fn record_round_trip() {
        for s in [
            BindingState::Free,
            BindingState::Active,
            BindingState::Expired,
            BindingState::Released,
            BindingState::Abandoned,
            BindingState::Reset,
            BindingState::Backup,
            BindingState::Offered,
        ] {
            let b = binding(9, s);
            let mut r = [0u8; RECORD_LEN];
            encode_record(42, &b, &mut r);
            assert_eq!(decode_record(&r), Ok((42, b)));
        }
    }

    #[test]
    fn the_remote_id_digest_is_at_100_and_old_records_read_as_none() {
        let b = binding(9, BindingState::Active);
        let mut r = [0u8; RECORD_LEN];
        encode_record(3, &b, &mut r);
        assert_eq!(get32(&r, 100), b.remote_id);
        assert_ne!(b.remote_id, 0);
        // A record written before the digest was kept: bytes 100..104 are 0.
        let mut old = b;
        old.remote_id = 0;
        let mut r0 = [0u8; RECORD_LEN];
        encode_record(3, &old, &mut r0);
        assert_eq!(&r0[100..], &[0; 4]);
        assert_eq!(decode_record(&r0).map(|(_, d)| d.remote_id), Ok(0));
        // Replay keeps it.
        let mut rep = Replay::default();
        scan(
            &[&encode_header(FileKind::Log)[..], &r[..]].concat(),
            |seq, d| rep.apply(seq, d),
        );
        assert_eq!(rep.into_bindings()[0].1.remote_id, b.remote_id);
    }

    #[test]
    fn every_flipped_bit_is_detected() {
        let mut r = [0u8; RECORD_LEN];
        encode_record(1, &binding(1, BindingState::Active), &mut r);
        for byte in 0..RECORD_LEN {
            for bit in 0..8 {
                let mut c = r;
                c[byte] ^= 1 << bit;
                assert!(
                    decode_record(&c).is_err(),
                    "flip at {byte}.{bit} not detected"
                );
            }
        }
    }

    fn file(n: usize) -> Vec<u8> {
        let mut f = encode_header(FileKind::Log).to_vec();
        for i in 0..n {
            let mut r = [0u8; RECORD_LEN];
            encode_record(
                i as u64 + 1,
                &binding(i as u8, BindingState::Active),
                &mut r,
            );
            f.extend_from_slice(&r);
        }
        f
    }

    #[test]
    fn scan_stops_cleanly_at_a_torn_tail() {
        let f = file(10);
        assert_eq!(decode_header(&f), Ok(FileKind::Log));
        let full = scan(&f, |_, _| {});
        assert_eq!(full.records, 10);
        assert_eq!(full.stopped, None);
        // Every possible cut point: the intact prefix is recovered, nothing more.
        for cut in HEADER_LEN..f.len() {
            let mut seen = 0;
            let end = scan(&f[..cut], |_, _| seen += 1);
            let whole = (cut - HEADER_LEN) / RECORD_LEN;
            assert_eq!(seen, whole, "cut {cut}");
            assert_eq!(end.valid_len, HEADER_LEN + whole * RECORD_LEN);
        }
        // Garbage after intact records.
        let mut g = f.clone();
        g.extend_from_slice(&[0xa5; 50]);
        let end = scan(&g, |_, _| {});
        assert_eq!(end.records, 10);
        assert_eq!(end.valid_len, f.len());
        assert!(end.stopped.is_some());
    }

    #[test]
    fn header_errors() {
        assert_eq!(decode_header(b"short"), Err(JournalFormatError::BadMagic));
        let mut h = encode_header(FileKind::Snapshot);
        assert_eq!(decode_header(&h), Ok(FileKind::Snapshot));
        h[9] = 2;
        assert_eq!(decode_header(&h), Err(JournalFormatError::Version(2)));
    }

    #[test]
    fn state_records_round_trip_and_replay_keeps_the_latest() {
        let s = StateRecord {
            name: "edge-pair".into(),
            persisted: Persisted {
                state: ServerState::PartnerDown,
                stos: 1_700_000_123,
                mclt: 3600,
            },
        };
        let mut r = [0u8; RECORD_LEN];
        encode_state_record(9, &s, &mut r);
        assert_eq!(decode_any(&r), Ok((9, Record::State(s.clone()))));
        assert_eq!(
            decode_record(&r),
            Err(RecordError::Unknown),
            "not a binding"
        );
        let mut file = encode_header(FileKind::Log).to_vec();
        file.extend_from_slice(&r);
        let mut b = [0u8; RECORD_LEN];
        encode_record(10, &binding(3, BindingState::Active), &mut b);
        file.extend_from_slice(&b);
        let mut rep = Replay::default();
        let end = scan_records(&file, |seq, rec| rep.apply_record(seq, rec));
        assert_eq!(end.records, 2);
        assert_eq!(rep.state("edge-pair"), Some(s.persisted));
        assert_eq!(rep.len(), 1);
        let mut bindings_only = 0;
        scan(&file, |_, _| bindings_only += 1);
        assert_eq!(bindings_only, 1, "scan reads past state records");
    }

    #[test]
    fn replay_keeps_the_latest_per_address() {
        let mut r = Replay::default();
        let mut a = binding(1, BindingState::Active);
        r.apply(5, a);
        a.state = BindingState::Released;
        r.apply(7, a);
        a.state = BindingState::Expired;
        r.apply(6, a); // older: ignored
        r.apply(1, binding(2, BindingState::Active));
        assert_eq!(r.max_seq, 7);
        let v = r.into_bindings();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].1.state, BindingState::Released);
        assert_eq!(v[0].0, 7);
    }
}
