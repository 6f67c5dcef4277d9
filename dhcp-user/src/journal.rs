//! The lease journal on disk: recovery at start-up, one writer thread with group commit, and
//! background compaction into snapshots.
//!
//! Workers push [`JournalEntry`]s into their own bounded queue and keep each ACK back until the
//! writer reports its entry durable. The writer drains every queue, appends all records in one
//! `write`, makes them durable with one `fdatasync` (group commit), then publishes, per worker,
//! the highest sequence number now on disk.
//!
//! Files in the state directory: `journal-<N>.log` segments (appended) and `snapshot-<N>.snap`
//! (every address's latest record from all segments numbered below N). Recovery reads the
//! newest snapshot and the segments from its number on; compaction writes a new snapshot from
//! the previous one and the closed segments, then deletes them.

use std::{
    fs::{self, File, OpenOptions},
    io::{self, Read, Write},
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    thread::{self, JoinHandle, Thread},
    time::{Duration, Instant},
};

use crossbeam::queue::ArrayQueue;

use crate::notify::Notify;
use dhcp_core::{
    config::JournalSync,
    engine::JournalEntry,
    journal::{self, FileKind, RECORD_LEN, Replay, StateRecord},
};

/// Called by the writer each time records become durable (in background mode: written):
/// the entries of that batch as `(queue index, entry)`, and every queue's durable sequence
/// number. The failover control plane hangs here to learn what it may tell the partner.
pub type DurableTap = Box<dyn FnMut(&[(usize, JournalEntry)], &[u64]) + Send>;

/// Entries a worker may have queued for the writer.
pub const QUEUE_CAPACITY: usize = 1 << 16;

/// Journal errors, each naming the file and the step.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// An I/O step failed.
    #[error("journal {step} {}: {source}", path.display())]
    Io {
        /// What was being done.
        step: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// Another process holds the state directory's lock.
    #[error(
        "journal {} is locked by another process (pid {pid}): one xdhcpd per state directory; on a clustered partner the next host starts only after the previous one has stopped",
        path.display()
    )]
    Locked {
        /// The lock file.
        path: PathBuf,
        /// What the lock file says about its holder.
        pid: String,
    },
    /// A file is not a journal this build can read.
    #[error("journal file {}: {source}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: journal::JournalFormatError,
    },
}

fn io_err<'a>(step: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> JournalError + 'a {
    move |source| JournalError::Io {
        step,
        path: path.to_owned(),
        source,
    }
}

/// What recovery found.
#[derive(Debug)]
pub struct Recovered {
    /// Latest record per address.
    pub replay: Replay,
    /// Number of the segment new records go to.
    pub next_segment: u64,
    /// Bytes cut from torn tails.
    pub truncated_bytes: u64,
    /// Files read.
    pub files: usize,
    /// Time taken.
    pub elapsed: Duration,
}

fn segment_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("journal-{n:020}.log"))
}

fn snapshot_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("snapshot-{n:020}.snap"))
}

fn number(name: &str, prefix: &str, suffix: &str) -> Option<u64> {
    name.strip_prefix(prefix)?
        .strip_suffix(suffix)?
        .parse()
        .ok()
}

/// Lists (snapshots, segments) by number; with `repair`, removes leftover temporary files.
fn list(dir: &Path, repair: bool) -> Result<(Vec<u64>, Vec<u64>), JournalError> {
    let mut snaps = Vec::new();
    let mut segs = Vec::new();
    for e in fs::read_dir(dir).map_err(io_err("listing", dir))? {
        let e = e.map_err(io_err("listing", dir))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(n) = number(&name, "snapshot-", ".snap") {
            snaps.push(n);
        } else if let Some(n) = number(&name, "journal-", ".log") {
            segs.push(n);
        } else if repair && name.ends_with(".tmp") {
            // A compaction that did not finish: its inputs are all still there.
            let p = e.path();
            fs::remove_file(&p).map_err(io_err("removing", &p))?;
        }
    }
    snaps.sort_unstable();
    segs.sort_unstable();
    Ok((snaps, segs))
}

fn read_file(path: &Path) -> Result<Vec<u8>, JournalError> {
    let mut v = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut v))
        .map_err(io_err("reading", path))?;
    Ok(v)
}

fn sync_dir(dir: &Path) -> Result<(), JournalError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("syncing directory", dir))
}

/// An exclusive lock on a state directory, held while a daemon uses its journal: an advisory
/// `flock` on `<dir>/lock`, which holds the holder's pid. The kernel releases it when the
/// process ends, however it ends.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

/// Takes the lock of state directory `dir` (created when missing), or says who holds it.
pub fn lock_dir(dir: &Path) -> Result<DirLock, JournalError> {
    use std::{io::Write as _, os::fd::AsRawFd as _};
    fs::create_dir_all(dir).map_err(io_err("creating", dir))?;
    let path = dir.join("lock");
    let mut f = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(io_err("opening the lock file", &path))?;
    // Safety: flock(2) on a descriptor we own.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
            let pid = fs::read_to_string(&path)
                .map(|t| t.trim().to_owned())
                .unwrap_or_default();
            return Err(JournalError::Locked { path, pid });
        }
        return Err(io_err("locking", &path)(e));
    }
    f.set_len(0)
        .and_then(|_| writeln!(f, "{}", std::process::id()))
        .map_err(io_err("writing the lock file", &path))?;
    Ok(DirLock { _file: f })
}

/// Reads the journal in `dir` (created when missing): the newest snapshot, then every later
/// segment; a torn tail is cut off. Files older than the newest snapshot are deleted.
pub fn recover(dir: &Path) -> Result<Recovered, JournalError> {
    fs::create_dir_all(dir).map_err(io_err("creating", dir))?;
    read_dir(dir, true)
}

/// Reads the journal in `dir` without changing anything (for dumps while the daemon runs or
/// after a crash).
pub fn read_only(dir: &Path) -> Result<Recovered, JournalError> {
    read_dir(dir, false)
}

fn read_dir(dir: &Path, repair: bool) -> Result<Recovered, JournalError> {
    let t = Instant::now();
    let (snaps, segs) = list(dir, repair)?;
    let mut replay = Replay::default();
    let mut files = 0;
    let mut truncated = 0u64;
    let base = snaps.last().copied().unwrap_or(0);
    if let Some(&n) = snaps.last() {
        let p = snapshot_path(dir, n);
        let bytes = read_file(&p)?;
        journal::decode_header(&bytes).map_err(|source| JournalError::Format {
            path: p.clone(),
            source,
        })?;
        journal::scan_records(&bytes, |s, r| replay.apply_record(s, r));
        files += 1;
    }
    if repair {
        for &n in snaps.iter().filter(|&&n| n < base) {
            let p = snapshot_path(dir, n);
            fs::remove_file(&p).map_err(io_err("removing old snapshot", &p))?;
        }
        for &n in segs.iter().filter(|&&n| n < base) {
            let p = segment_path(dir, n);
            fs::remove_file(&p).map_err(io_err("removing compacted segment", &p))?;
        }
    }
    let live: Vec<u64> = segs.iter().copied().filter(|&n| n >= base).collect();
    for &n in &live {
        let p = segment_path(dir, n);
        let bytes = read_file(&p)?;
        if bytes.len() < journal::HEADER_LEN {
            // Created but never written: nothing in it.
            truncated += bytes.len() as u64;
            if repair {
                fs::remove_file(&p).map_err(io_err("removing empty segment", &p))?;
            }
            continue;
        }
        journal::decode_header(&bytes).map_err(|source| JournalError::Format {
            path: p.clone(),
            source,
        })?;
        let end = journal::scan_records(&bytes, |s, r| replay.apply_record(s, r));
        files += 1;
        if end.valid_len < bytes.len() {
            truncated += (bytes.len() - end.valid_len) as u64;
            if !repair {
                continue;
            }
            let f = OpenOptions::new()
                .write(true)
                .open(&p)
                .map_err(io_err("opening to truncate", &p))?;
            f.set_len(end.valid_len as u64)
                .and_then(|_| f.sync_all())
                .map_err(io_err("truncating torn tail of", &p))?;
        }
    }
    let next_segment = live.last().map(|n| n + 1).unwrap_or(base).max(base);
    Ok(Recovered {
        replay,
        next_segment,
        truncated_bytes: truncated,
        files,
        elapsed: t.elapsed(),
    })
}

/// Upper bounds (inclusive) of the fdatasync latency histogram's buckets, microseconds; one
/// more bucket counts the slower ones.
pub const SYNC_BUCKETS_MICROS: [u64; 14] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000,
];

/// Counters of the writer.
#[derive(Debug, Default)]
pub struct JournalStats {
    /// Records written.
    pub records: AtomicU64,
    /// fdatasync calls.
    pub syncs: AtomicU64,
    /// Total time spent in fdatasync, microseconds.
    pub sync_micros: AtomicU64,
    /// Slowest fdatasync, microseconds.
    pub sync_max_micros: AtomicU64,
    /// fdatasync calls by latency: bucket `i` counts those of at most
    /// [`SYNC_BUCKETS_MICROS`]`[i]`, the last one those slower than every bound.
    pub sync_buckets: [AtomicU64; SYNC_BUCKETS_MICROS.len() + 1],
    /// Compactions finished.
    pub compactions: AtomicU64,
    /// Bytes in the current segment.
    pub segment_bytes: AtomicU64,
}

/// A worker's end of the journal.
#[derive(Debug, Clone)]
pub struct WorkerJournal {
    queue: Arc<ArrayQueue<JournalEntry>>,
    durable: Arc<AtomicU64>,
    writer: Thread,
    sync: JournalSync,
}

impl WorkerJournal {
    /// Queues an entry; false when the queue is full (the caller must not send the ACK).
    pub fn push(&self, e: JournalEntry) -> bool {
        let was_empty = self.queue.is_empty();
        let ok = self.queue.push(e).is_ok();
        if was_empty {
            self.writer.unpark();
        }
        ok
    }

    /// Highest sequence number of this worker that is on stable storage (in background mode:
    /// that is written, and will be synced within the flush interval).
    pub fn durable(&self) -> u64 {
        self.durable.load(Ordering::Acquire)
    }

    /// True when ACKs must wait for [`durable`](Self::durable).
    pub fn acks_wait(&self) -> bool {
        self.sync == JournalSync::Durable
    }

    /// Entries waiting for the writer.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }
}

/// Writes failover relationship states (rare: one per state change).
#[derive(Debug, Clone)]
pub struct StateJournal {
    queue: Arc<std::sync::Mutex<Vec<StateRecord>>>,
    writer: Thread,
}

impl StateJournal {
    /// Queues a state record; it is written with the next batch.
    pub fn push(&self, r: StateRecord) {
        if let Ok(mut q) = self.queue.lock() {
            q.push(r);
        }
        self.writer.unpark();
    }
}

/// The journal writer: a thread, its per-worker queues and its counters.
#[derive(Debug)]
pub struct Journal {
    workers: Vec<WorkerJournal>,
    states: Arc<std::sync::Mutex<Vec<StateRecord>>>,
    writer: Thread,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<(), JournalError>>>,
    /// Counters.
    pub stats: Arc<JournalStats>,
}

/// Writer settings.
#[derive(Clone, Debug)]
pub struct WriterConfig {
    /// State directory.
    pub dir: PathBuf,
    /// Durability mode.
    pub sync: JournalSync,
    /// Background-mode flush interval.
    pub flush_interval: Duration,
    /// Compact after the current segment exceeds this many bytes.
    pub compact_after_bytes: u64,
}

struct Writer {
    cfg: WriterConfig,
    queues: Vec<Arc<ArrayQueue<JournalEntry>>>,
    durable: Vec<Arc<AtomicU64>>,
    notify: Vec<Notify>,
    stop: Arc<AtomicBool>,
    stats: Arc<JournalStats>,
    segment: u64,
    file: File,
    seq: u64,
    buf: Vec<u8>,
    compactor: Option<JoinHandle<Result<(), JournalError>>>,
    states: Arc<std::sync::Mutex<Vec<StateRecord>>>,
    tap: Option<DurableTap>,
    /// Entries written since the last tap call (only kept with a tap).
    tapped: Vec<(usize, JournalEntry)>,
}

impl Journal {
    /// Starts the writer for one worker per `notify` (woken when its entries become durable),
    /// appending to segment `next_segment` with sequence numbers after `max_seq`.
    pub fn start(
        cfg: WriterConfig,
        notify: Vec<Notify>,
        next_segment: u64,
        max_seq: u64,
    ) -> Result<Journal, JournalError> {
        Self::start_with_tap(cfg, notify, next_segment, max_seq, None)
    }

    /// [`start`](Self::start), with `tap` told about every durable batch.
    pub fn start_with_tap(
        cfg: WriterConfig,
        notify: Vec<Notify>,
        next_segment: u64,
        max_seq: u64,
        tap: Option<DurableTap>,
    ) -> Result<Journal, JournalError> {
        let workers = notify.len();
        let path = segment_path(&cfg.dir, next_segment);
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_err("creating segment", &path))?;
        file.write_all(&journal::encode_header(FileKind::Log))
            .and_then(|_| file.sync_all())
            .map_err(io_err("writing header of", &path))?;
        sync_dir(&cfg.dir)?;
        let queues: Vec<_> = (0..workers)
            .map(|_| Arc::new(ArrayQueue::new(QUEUE_CAPACITY)))
            .collect();
        let durable: Vec<_> = (0..workers).map(|_| Arc::new(AtomicU64::new(0))).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(JournalStats::default());
        let states = Arc::new(std::sync::Mutex::new(Vec::new()));
        stats
            .segment_bytes
            .store(journal::HEADER_LEN as u64, Ordering::Relaxed);
        let sync = cfg.sync;
        let mut w = Writer {
            cfg,
            queues: queues.clone(),
            durable: durable.clone(),
            notify,
            stop: stop.clone(),
            stats: stats.clone(),
            segment: next_segment,
            file,
            seq: max_seq,
            buf: Vec::with_capacity(1 << 20),
            compactor: None,
            states: states.clone(),
            tap,
            tapped: Vec::new(),
        };
        let thread = thread::Builder::new()
            .name("xdhcp-journal".into())
            .spawn(move || w.run())
            .map_err(io_err("starting the writer thread for", &path))?;
        let writer = thread.thread().clone();
        let workers = queues
            .into_iter()
            .zip(durable)
            .map(|(queue, durable)| WorkerJournal {
                queue,
                durable,
                writer: writer.clone(),
                sync,
            })
            .collect();
        Ok(Journal {
            workers,
            states,
            writer,
            stop,
            thread: Some(thread),
            stats,
        })
    }

    /// The end worker `i` uses.
    pub fn worker(&self, i: usize) -> WorkerJournal {
        self.workers[i].clone()
    }

    /// A handle for writing failover state records.
    pub fn states(&self) -> StateJournal {
        StateJournal {
            queue: self.states.clone(),
            writer: self.writer.clone(),
        }
    }

    /// Writes and syncs everything queued, then stops the writer.
    pub fn shutdown(mut self) -> Result<(), JournalError> {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> Result<(), JournalError> {
        self.stop.store(true, Ordering::Release);
        match self.thread.take() {
            Some(t) => {
                t.thread().unpark();
                t.join().unwrap_or(Ok(()))
            }
            None => Ok(()),
        }
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        if let Err(e) = self.stop_and_join() {
            tracing::error!(error = %e, "journal writer failed while stopping");
        }
    }
}

impl Writer {
    fn run(&mut self) -> Result<(), JournalError> {
        let mut last_sync = Instant::now();
        let mut unsynced = false;
        let mut pending: Vec<u64> = vec![0; self.queues.len()];
        loop {
            let stopping = self.stop.load(Ordering::Acquire);
            let n = self.drain(&mut pending);
            if n > 0 {
                self.write_buf()?;
                unsynced = true;
                if self.cfg.sync == JournalSync::Background {
                    self.publish(&pending);
                }
            }
            let due = self.cfg.sync == JournalSync::Durable
                || last_sync.elapsed() >= self.cfg.flush_interval
                || stopping;
            if unsynced && due {
                self.sync()?;
                last_sync = Instant::now();
                unsynced = false;
                self.publish(&pending);
                self.maybe_compact()?;
            }
            if n == 0 {
                if stopping {
                    break;
                }
                let wait = match self.cfg.sync {
                    JournalSync::Durable => Duration::from_millis(50),
                    JournalSync::Background => self.cfg.flush_interval,
                };
                thread::park_timeout(wait);
            }
        }
        if let Some(c) = self.compactor.take() {
            c.join().unwrap_or(Ok(()))?;
        }
        Ok(())
    }

    /// Moves every queued entry into the write buffer; returns how many.
    fn drain(&mut self, pending: &mut [u64]) -> usize {
        self.buf.clear();
        let mut n = 0;
        let mut rec = [0u8; RECORD_LEN];
        let states: Vec<StateRecord> = match self.states.lock() {
            Ok(mut q) => std::mem::take(&mut *q),
            Err(_) => Vec::new(),
        };
        for st in &states {
            self.seq += 1;
            journal::encode_state_record(self.seq, st, &mut rec);
            self.buf.extend_from_slice(&rec);
            n += 1;
        }
        let tap = self.tap.is_some();
        for (w, q) in self.queues.iter().enumerate() {
            while let Some(e) = q.pop() {
                self.seq += 1;
                journal::encode_record(self.seq, &e.binding, &mut rec);
                self.buf.extend_from_slice(&rec);
                pending[w] = e.seq;
                if tap {
                    self.tapped.push((w, e));
                }
                n += 1;
            }
        }
        n
    }

    fn write_buf(&mut self) -> Result<(), JournalError> {
        let path = segment_path(&self.cfg.dir, self.segment);
        self.file
            .write_all(&self.buf)
            .map_err(io_err("appending to", &path))?;
        self.stats
            .records
            .fetch_add((self.buf.len() / RECORD_LEN) as u64, Ordering::Relaxed);
        self.stats
            .segment_bytes
            .fetch_add(self.buf.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    fn sync(&mut self) -> Result<(), JournalError> {
        let t = Instant::now();
        let path = segment_path(&self.cfg.dir, self.segment);
        self.file.sync_data().map_err(io_err("syncing", &path))?;
        let us = t.elapsed().as_micros() as u64;
        self.stats.syncs.fetch_add(1, Ordering::Relaxed);
        self.stats.sync_micros.fetch_add(us, Ordering::Relaxed);
        self.stats.sync_max_micros.fetch_max(us, Ordering::Relaxed);
        let bucket = SYNC_BUCKETS_MICROS.partition_point(|&bound| bound < us);
        self.stats.sync_buckets[bucket].fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn publish(&mut self, pending: &[u64]) {
        for ((d, &s), n) in self.durable.iter().zip(pending).zip(&self.notify) {
            if s > 0 && d.fetch_max(s, Ordering::AcqRel) < s {
                n.wake();
            }
        }
        if let Some(tap) = self.tap.as_mut() {
            if !self.tapped.is_empty() {
                tap(&self.tapped, pending);
                self.tapped.clear();
            }
        }
    }

    /// Rotates to a new segment and compacts the closed ones in the background once the
    /// current segment is over the threshold (and no compaction is running).
    fn maybe_compact(&mut self) -> Result<(), JournalError> {
        if self.stats.segment_bytes.load(Ordering::Relaxed) < self.cfg.compact_after_bytes {
            return Ok(());
        }
        if let Some(c) = &self.compactor {
            if !c.is_finished() {
                return Ok(());
            }
            if let Some(c) = self.compactor.take() {
                c.join().unwrap_or(Ok(()))?;
            }
        }
        let next = self.segment + 1;
        let path = segment_path(&self.cfg.dir, next);
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_err("creating segment", &path))?;
        file.write_all(&journal::encode_header(FileKind::Log))
            .and_then(|_| file.sync_all())
            .map_err(io_err("writing header of", &path))?;
        sync_dir(&self.cfg.dir)?;
        self.file = file;
        self.segment = next;
        self.stats
            .segment_bytes
            .store(journal::HEADER_LEN as u64, Ordering::Relaxed);
        let dir = self.cfg.dir.clone();
        let stats = self.stats.clone();
        self.compactor = Some(
            thread::Builder::new()
                .name("xdhcp-compact".into())
                .spawn(move || {
                    // Compaction is never urgent: it yields the core to the workers and the
                    // writer (it shared the worker's core and delayed it by milliseconds,
                    // docs/PERFORMANCE.md). Without the policy it still runs, only sooner.
                    if let Err(e) = idle_priority() {
                        tracing::warn!("compaction at normal priority: {e}");
                    }
                    let r = compact(&dir, next);
                    if r.is_ok() {
                        stats.compactions.fetch_add(1, Ordering::Relaxed);
                    }
                    r
                })
                .map_err(io_err("starting compaction in", &self.cfg.dir))?,
        );
        Ok(())
    }
}

/// Moves the calling thread to `SCHED_IDLE`: it runs only when nothing else wants its CPU.
fn idle_priority() -> std::io::Result<()> {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `param` is a valid sched_param; pid 0 is the calling thread.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Writes `snapshot-<upto>.snap` from the newest snapshot and every segment numbered below
/// `upto`, then deletes those inputs.
pub fn compact(dir: &Path, upto: u64) -> Result<(), JournalError> {
    let (snaps, segs) = list(dir, false)?;
    let mut replay = Replay::default();
    let base = snaps.iter().copied().filter(|&n| n < upto).max();
    if let Some(n) = base {
        let p = snapshot_path(dir, n);
        let bytes = read_file(&p)?;
        journal::scan_records(&bytes, |s, r| replay.apply_record(s, r));
    }
    let inputs: Vec<u64> = segs
        .iter()
        .copied()
        .filter(|&n| n < upto && base.is_none_or(|b| n >= b))
        .collect();
    for &n in &inputs {
        let bytes = read_file(&segment_path(dir, n))?;
        journal::scan_records(&bytes, |s, r| replay.apply_record(s, r));
    }
    let tmp = dir.join(format!("snapshot-{upto:020}.tmp"));
    let mut out = Vec::with_capacity(journal::HEADER_LEN + replay.len() * RECORD_LEN);
    out.extend_from_slice(&journal::encode_header(FileKind::Snapshot));
    let mut rec = [0u8; RECORD_LEN];
    // Failover relationship states first: they are few and must survive compaction.
    let mut states: Vec<_> = replay.states().collect();
    states.sort_by_key(|(seq, _)| *seq);
    for (seq, st) in &states {
        journal::encode_state_record(*seq, st, &mut rec);
        out.extend_from_slice(&rec);
    }
    for (seq, b) in replay.into_bindings() {
        journal::encode_record(seq, &b, &mut rec);
        out.extend_from_slice(&rec);
    }
    {
        let mut f = File::create(&tmp).map_err(io_err("creating", &tmp))?;
        f.write_all(&out)
            .and_then(|_| f.sync_all())
            .map_err(io_err("writing", &tmp))?;
    }
    let snap = snapshot_path(dir, upto);
    fs::rename(&tmp, &snap).map_err(io_err("renaming into place", &snap))?;
    sync_dir(dir)?;
    for n in inputs {
        let p = segment_path(dir, n);
        fs::remove_file(&p).map_err(io_err("removing compacted", &p))?;
    }
    if let Some(n) = base {
        let p = snapshot_path(dir, n);
        fs::remove_file(&p).map_err(io_err("removing old snapshot", &p))?;
    }
    sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use dhcp_core::{
        config::SubnetId,
        lease::{Binding, BindingState, ClientKey, HwAddr},
    };

    use super::*;

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("xdhcp-journal-{}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    fn entry(seq: u64, n: u32, state: BindingState) -> JournalEntry {
        let mut b = Binding::new(
            ClientKey::from_hw(1, &n.to_be_bytes()),
            HwAddr::new(1, &n.to_be_bytes()),
            Ipv4Addr::from(0x0a00_0000 + n),
            SubnetId(1),
        );
        b.state = state;
        b.lease_end = 1000 + n;
        JournalEntry {
            seq,
            binding: b,
            from_peer: false,
        }
    }

    fn cfg(dir: &Path, sync: JournalSync, compact: u64) -> WriterConfig {
        WriterConfig {
            dir: dir.to_owned(),
            sync,
            flush_interval: Duration::from_millis(5),
            compact_after_bytes: compact,
        }
    }

    fn notifies(n: usize) -> Vec<Notify> {
        (0..n).map(|_| Notify::new().unwrap()).collect()
    }

    fn wait_durable(w: &WorkerJournal, seq: u64) {
        let t = Instant::now();
        while w.durable() < seq {
            assert!(t.elapsed() < Duration::from_secs(10), "never durable");
            thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn written_entries_are_recovered_after_restart() {
        let dir = tmpdir("restart");
        let rec = recover(&dir).unwrap();
        assert!(rec.replay.is_empty());
        let j = Journal::start(
            cfg(&dir, JournalSync::Durable, u64::MAX),
            notifies(2),
            rec.next_segment,
            0,
        )
        .unwrap();
        let (a, b) = (j.worker(0), j.worker(1));
        for i in 1..=100u64 {
            assert!(a.push(entry(i, i as u32, BindingState::Active)));
            assert!(b.push(entry(i, 1000 + i as u32, BindingState::Active)));
        }
        wait_durable(&a, 100);
        wait_durable(&b, 100);
        // Every fdatasync is in exactly one latency bucket.
        let syncs = j.stats.syncs.load(Ordering::Relaxed);
        let bucketed: u64 = (j.stats.sync_buckets.iter())
            .map(|b| b.load(Ordering::Relaxed))
            .sum();
        assert!(syncs > 0);
        assert_eq!(bucketed, syncs);
        a.push(entry(101, 5, BindingState::Released));
        j.shutdown().unwrap();
        let rec = recover(&dir).unwrap();
        assert_eq!(rec.replay.len(), 200);
        assert_eq!(rec.replay.max_seq, 201);
        let all = rec.replay.into_bindings();
        let five = all
            .iter()
            .find(|(_, b)| b.addr == Ipv4Addr::from(0x0a00_0005))
            .unwrap();
        assert_eq!(
            five.1.state,
            BindingState::Released,
            "shutdown flushed the last entry"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_torn_tail_is_cut_and_the_rest_survives() {
        let dir = tmpdir("torn");
        let rec = recover(&dir).unwrap();
        let j = Journal::start(
            cfg(&dir, JournalSync::Durable, u64::MAX),
            notifies(1),
            rec.next_segment,
            0,
        )
        .unwrap();
        let w = j.worker(0);
        for i in 1..=10u64 {
            w.push(entry(i, i as u32, BindingState::Active));
        }
        wait_durable(&w, 10);
        j.shutdown().unwrap();
        // A crash in the middle of the 11th record's write.
        let seg = segment_path(&dir, rec.next_segment);
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(&[0x55; RECORD_LEN / 2]).unwrap();
        drop(f);
        let rec = recover(&dir).unwrap();
        assert_eq!(rec.replay.len(), 10);
        assert_eq!(rec.truncated_bytes, (RECORD_LEN / 2) as u64);
        assert_eq!(
            fs::metadata(&seg).unwrap().len(),
            (journal::HEADER_LEN + 10 * RECORD_LEN) as u64
        );
        // The next run appends to a new segment; everything is still there after it.
        let j = Journal::start(
            cfg(&dir, JournalSync::Durable, u64::MAX),
            notifies(1),
            rec.next_segment,
            rec.replay.max_seq,
        )
        .unwrap();
        j.worker(0).push(entry(1, 99, BindingState::Active));
        j.shutdown().unwrap();
        assert_eq!(recover(&dir).unwrap().replay.len(), 11);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn compaction_keeps_the_latest_state_of_every_address() {
        let dir = tmpdir("compact");
        let rec = recover(&dir).unwrap();
        // Tiny threshold: compacts after nearly every batch.
        let j = Journal::start(
            cfg(&dir, JournalSync::Durable, 4 * RECORD_LEN as u64),
            notifies(1),
            rec.next_segment,
            0,
        )
        .unwrap();
        let w = j.worker(0);
        let mut seq = 0;
        for round in 0..20u32 {
            for n in 0..30u32 {
                seq += 1;
                let st = if round % 2 == 0 {
                    BindingState::Active
                } else {
                    BindingState::Released
                };
                while !w.push(entry(seq, n, st)) {
                    thread::sleep(Duration::from_millis(1));
                }
            }
            wait_durable(&w, seq);
        }
        // Read once stopped: the writer joins the compaction it started, which runs at idle
        // priority and may not have finished before (CI saw it not run under a loaded test).
        let stats = j.stats.clone();
        j.shutdown().unwrap();
        let compactions = stats.compactions.load(Ordering::Relaxed);
        assert!(compactions >= 1, "no compaction ran");
        let (snaps, _segs) = list(&dir, false).unwrap();
        assert!(!snaps.is_empty());
        let rec = recover(&dir).unwrap();
        assert_eq!(rec.replay.len(), 30);
        for (_, b) in rec.replay.into_bindings() {
            assert_eq!(
                b.state,
                BindingState::Released,
                "round 19 (released) is the latest"
            );
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn failover_states_survive_compaction_and_the_tap_sees_durable_entries() {
        use dhcp_core::failover::{ServerState, endpoint::Persisted};
        let dir = tmpdir("states");
        let rec = recover(&dir).unwrap();
        let seen: Arc<std::sync::Mutex<Vec<(usize, u64, u64)>>> = Arc::default();
        let seen2 = seen.clone();
        let tap: DurableTap = Box::new(move |entries, durable| {
            let mut s = seen2.lock().unwrap();
            for (w, e) in entries {
                // Every tapped entry is durable when the tap hears of it.
                assert!(durable[*w] >= e.seq);
                s.push((*w, e.seq, durable[*w]));
            }
        });
        let j = Journal::start_with_tap(
            cfg(&dir, JournalSync::Durable, 4 * RECORD_LEN as u64),
            notifies(2),
            rec.next_segment,
            0,
            Some(tap),
        )
        .unwrap();
        let persisted = |state, stos| Persisted {
            state,
            stos,
            mclt: 3600,
        };
        j.states().push(StateRecord {
            name: "edge".into(),
            persisted: persisted(ServerState::Normal, 100),
        });
        let w = j.worker(1);
        for seq in 1..=40u64 {
            while !w.push(entry(seq, seq as u32 % 7, BindingState::Active)) {
                thread::sleep(Duration::from_millis(1));
            }
            if seq == 20 {
                j.states().push(StateRecord {
                    name: "edge".into(),
                    persisted: persisted(ServerState::CommunicationsInterrupted, 200),
                });
                j.states().push(StateRecord {
                    name: "other".into(),
                    persisted: persisted(ServerState::PartnerDown, 300),
                });
            }
            wait_durable(&w, seq);
        }
        // Read once stopped: the writer joins the compaction it started, which runs at idle
        // priority and may not have finished before (CI saw it not run under a loaded test).
        let stats = j.stats.clone();
        j.shutdown().unwrap();
        let compactions = stats.compactions.load(Ordering::Relaxed);
        assert!(compactions >= 1, "no compaction ran");
        let rec = recover(&dir).unwrap();
        assert_eq!(
            rec.replay.state("edge"),
            Some(persisted(ServerState::CommunicationsInterrupted, 200))
        );
        assert_eq!(
            rec.replay.state("other"),
            Some(persisted(ServerState::PartnerDown, 300))
        );
        let seen = seen.lock().unwrap();
        let seqs: Vec<u64> = seen
            .iter()
            .filter(|(w, ..)| *w == 1)
            .map(|(_, s, _)| *s)
            .collect();
        assert_eq!(
            seqs,
            (1..=40).collect::<Vec<_>>(),
            "every entry tapped once, in order"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_state_directory_has_one_holder_at_a_time() {
        let dir = tmpdir("lock");
        let first = lock_dir(&dir).unwrap();
        match lock_dir(&dir) {
            Err(JournalError::Locked { path, pid }) => {
                assert_eq!(path, dir.join("lock"));
                assert_eq!(pid, std::process::id().to_string());
            }
            other => panic!("a second holder was let in: {other:?}"),
        }
        // The journal's own files are untouched by the lock file.
        assert_eq!(recover(&dir).unwrap().files, 0);
        drop(first);
        let again = lock_dir(&dir).unwrap();
        drop(again);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn background_mode_publishes_without_waiting_for_sync() {
        let dir = tmpdir("bg");
        let rec = recover(&dir).unwrap();
        let j = Journal::start(
            cfg(&dir, JournalSync::Background, u64::MAX),
            notifies(1),
            rec.next_segment,
            0,
        )
        .unwrap();
        let w = j.worker(0);
        assert!(!w.acks_wait());
        w.push(entry(1, 1, BindingState::Active));
        wait_durable(&w, 1);
        j.shutdown().unwrap();
        assert_eq!(recover(&dir).unwrap().replay.len(), 1);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_foreign_file_is_a_clear_error() {
        let dir = tmpdir("foreign");
        fs::create_dir_all(&dir).unwrap();
        fs::write(segment_path(&dir, 3), b"this is not a journal at all").unwrap();
        let e = recover(&dir).unwrap_err().to_string();
        assert!(
            e.contains("journal-00000000000000000003.log") && e.contains("bad magic"),
            "{e}"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn compaction_threads_run_at_idle_priority() {
        // Any user may move its own thread to SCHED_IDLE: this needs no privilege.
        let policy = thread::spawn(|| {
            idle_priority().expect("sched_setscheduler");
            // SAFETY: pid 0 is the calling thread.
            unsafe { libc::sched_getscheduler(0) }
        })
        .join()
        .unwrap();
        assert_eq!(policy, libc::SCHED_IDLE);
        // SAFETY: as above; the test thread itself is untouched.
        assert_ne!(unsafe { libc::sched_getscheduler(0) }, libc::SCHED_IDLE);
    }
}
