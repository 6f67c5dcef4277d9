//! The generator threads: each owns one fleet (a disjoint range of clients) and one frame port,
//! and loops — timers, receive, transmit — with no lock on its path. The main thread steers
//! them through a few atomics and reads what they publish every few milliseconds.
//!
//! A reply that arrives at the thread that does not own its client (AF_XDP on several queues:
//! the queue is the NIC's choice) is copied into the owner's bounded inbox; a full inbox loses
//! the reply, counted.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use crossbeam::queue::ArrayQueue;
use dhcp_load::{
    fleet::{Fleet, Router},
    report::IoReport,
    stats::Stats,
};

use crate::io::{BATCH, FrameIo};

/// Replies a thread's inbox holds.
const INBOX: usize = 1024;
/// Largest frame forwarded between threads.
const MAX_FRAME: usize = 1536;
/// Idle gaps shorter than this are spun through rather than slept.
const SPIN_BELOW: Duration = Duration::from_micros(50);
/// How often a thread publishes its counters.
const PUBLISH_EVERY: Duration = Duration::from_millis(20);

/// A reply copied to the thread owning its client.
pub struct Forwarded {
    len: u16,
    bytes: [u8; MAX_FRAME],
}

/// What the main thread sets.
#[derive(Debug, Default)]
pub struct Control {
    /// Bumped after every change below; threads publish the generation they applied.
    pub generation: AtomicU64,
    /// Start new exchanges.
    pub starting: AtomicBool,
    /// Open loop: DORAs per second per thread, times 1000.
    pub rate_milli: AtomicU64,
    /// Release every bound client (once per generation that sets it).
    pub release_all: AtomicBool,
    /// Leave the loop.
    pub stop: AtomicBool,
}

/// What a thread publishes.
#[derive(Clone, Debug, Default)]
pub struct Published {
    /// Control generation applied.
    pub generation: u64,
    /// Fleet counters.
    pub stats: Stats,
    /// Exchanges in flight.
    pub inflight: u32,
    /// The fleet has nothing more to do.
    pub done: bool,
    /// Frame I/O counters (forwarding included).
    pub io: IoReport,
}

/// State shared by the main thread and the generator threads.
pub struct Shared {
    /// Steering.
    pub control: Control,
    /// One per thread.
    pub published: Vec<Mutex<Published>>,
    inboxes: Vec<ArrayQueue<Forwarded>>,
    /// Clients per thread (the last takes the remainder), for finding a reply's owner.
    per_thread: u32,
    /// Forward misdelivered replies (AF_XDP); with AF_PACKET every socket sees every frame.
    forward: bool,
}

impl Shared {
    /// For `threads` threads of `per_thread` clients each.
    pub fn new(threads: usize, per_thread: u32, forward: bool) -> Self {
        Shared {
            control: Control::default(),
            published: (0..threads)
                .map(|_| Mutex::new(Published::default()))
                .collect(),
            inboxes: (0..threads).map(|_| ArrayQueue::new(INBOX)).collect(),
            per_thread: per_thread.max(1),
            forward,
        }
    }

    fn owner(&self, client: u32) -> usize {
        ((client / self.per_thread) as usize).min(self.inboxes.len() - 1)
    }

    /// Applies a change to the control and waits (bounded) until every thread applied it.
    pub fn change(&self, f: impl FnOnce(&Control)) -> u64 {
        f(&self.control);
        let g = self.control.generation.fetch_add(1, Ordering::AcqRel) + 1;
        let until = Instant::now() + Duration::from_secs(2);
        while Instant::now() < until && self.snapshot().0.generation < g {
            std::thread::sleep(Duration::from_millis(1));
        }
        g
    }

    /// Sum of what the threads published: (lowest generation applied, stats, in flight, all
    /// done, io).
    pub fn snapshot(&self) -> (Published, bool) {
        let mut total = Published {
            generation: u64::MAX,
            ..Published::default()
        };
        let mut all_done = true;
        for p in &self.published {
            let p = p.lock().unwrap_or_else(|e| e.into_inner());
            total.generation = total.generation.min(p.generation);
            total.stats.add(&p.stats);
            total.inflight += p.inflight;
            all_done &= p.done;
            add_io(&mut total.io, &p.io);
        }
        (total, all_done)
    }
}

/// Adds `b` into `a`.
pub fn add_io(a: &mut IoReport, b: &IoReport) {
    a.tx_frames += b.tx_frames;
    a.rx_frames += b.rx_frames;
    a.tx_no_buffer += b.tx_no_buffer;
    a.tx_errors += b.tx_errors;
    a.rx_kernel_drops += b.rx_kernel_drops;
    a.forwarded += b.forwarded;
    a.forward_full += b.forward_full;
}

/// Everything one thread needs.
pub struct Worker {
    /// Position among the threads.
    pub id: usize,
    /// Its clients.
    pub fleet: Fleet,
    /// Its port.
    pub io: Box<dyn FrameIo>,
    /// Shared with main.
    pub shared: Arc<Shared>,
    /// Time zero of the run (the same for all threads).
    pub origin: Instant,
    /// CPU to pin to.
    pub cpu: Option<usize>,
}

impl Worker {
    /// The thread body. Returns what it published last.
    pub fn run(mut self) -> Published {
        if let Some(cpu) = self.cpu {
            if let Err(e) = crate::net::pin_to_cpu(cpu) {
                eprintln!("dhcp-load: thread {}: pinning to CPU {cpu}: {e}", self.id);
            }
        }
        let router = Router::new(self.fleet.config());
        let threads = self.shared.published.len();
        let ctl = &self.shared.control;
        let mut applied = u64::MAX;
        let mut last_publish = Instant::now();
        let mut forwarded = 0u64;
        let mut forward_full = 0u64;
        loop {
            let now = self.origin.elapsed();
            let g = ctl.generation.load(Ordering::Acquire);
            if g != applied {
                self.fleet
                    .set_starting(ctl.starting.load(Ordering::Acquire));
                self.fleet
                    .set_rate(ctl.rate_milli.load(Ordering::Acquire) as f64 / 1000.0);
                if ctl.release_all.load(Ordering::Acquire) {
                    self.fleet.release_all();
                }
                applied = g;
                last_publish = Instant::now() - PUBLISH_EVERY;
            }
            let stop = ctl.stop.load(Ordering::Acquire);
            if stop || last_publish.elapsed() >= PUBLISH_EVERY {
                let mut io = self.io.counters();
                io.forwarded = forwarded;
                io.forward_full = forward_full;
                let p = Published {
                    generation: applied,
                    stats: self.fleet.stats().clone(),
                    inflight: self.fleet.inflight(),
                    done: self.fleet.is_done(),
                    io,
                };
                *self.shared.published[self.id]
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()) = p.clone();
                last_publish = Instant::now();
                if stop {
                    return p;
                }
            }

            self.fleet.handle_timeout(now);
            let fleet = &mut self.fleet;
            let shared = &self.shared;
            let id = self.id;
            let received = self.io.recv(BATCH, &mut |frame| {
                if threads > 1 {
                    if let Some(c) = router.client_of(frame) {
                        if !fleet.owns(c) {
                            if shared.forward {
                                let owner = shared.owner(c);
                                if owner != id && frame.len() <= MAX_FRAME {
                                    let mut f = Forwarded {
                                        len: frame.len() as u16,
                                        bytes: [0; MAX_FRAME],
                                    };
                                    f.bytes[..frame.len()].copy_from_slice(frame);
                                    if shared.inboxes[owner].push(f).is_ok() {
                                        forwarded += 1;
                                    } else {
                                        forward_full += 1;
                                    }
                                }
                            }
                            return;
                        }
                    }
                }
                fleet.handle_frame(now, frame);
            });
            let mut inbox = 0;
            while let Some(f) = self.shared.inboxes[self.id].pop() {
                self.fleet.handle_frame(now, &f.bytes[..usize::from(f.len)]);
                inbox += 1;
            }
            let fleet = &mut self.fleet;
            let sent = self
                .io
                .send(BATCH, &mut |buf| fleet.poll_transmit(now, buf));
            if received == 0 && sent == 0 && inbox == 0 {
                // Nothing to do until the fleet's next deadline or a frame: block on the
                // socket for that long (a frame wakes it, so reply latency is not inflated);
                // spin only across gaps too short for a wake-up to be worth it.
                let idle_for = self
                    .fleet
                    .poll_timeout(now)
                    .map(|t| t.saturating_sub(now))
                    .unwrap_or(Duration::from_millis(1))
                    .min(Duration::from_millis(1));
                if idle_for >= SPIN_BELOW {
                    self.io.wait(idle_for);
                } else {
                    std::hint::spin_loop();
                }
            }
        }
    }
}
