//! AF_XDP sockets: one UMEM, its fill and completion rings, and the RX/TX rings of one socket
//! bound to one (interface, queue).
//!
//! Ownership is the API: an [`XskSocket`] owns all four rings and every frame of its UMEM, and
//! exactly one thread uses it. A frame is always in exactly one place — the fill ring, the RX
//! ring, the TX ring, the completion ring, or this struct's free list — so none can leak: the
//! [`XskSocket::frames_accounted`] check proves it in the tests.

use std::{
    io,
    os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd},
    ptr::NonNull,
    sync::atomic::{AtomicU32, Ordering},
};

/// How to bind the socket to the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BindMode {
    /// Zero-copy if the driver supports it, else copy mode.
    #[default]
    Auto,
    /// Zero-copy only; fail if the driver cannot.
    ZeroCopy,
    /// Copy mode only.
    Copy,
}

/// The mode the kernel accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BoundMode {
    /// Frames are DMA'd straight into the UMEM.
    ZeroCopy,
    /// The kernel copies frames between its buffers and the UMEM.
    Copy,
}

impl BoundMode {
    /// "zero-copy" / "copy".
    pub fn as_str(self) -> &'static str {
        match self {
            BoundMode::ZeroCopy => "zero-copy",
            BoundMode::Copy => "copy",
        }
    }
}

/// Sizes of the UMEM and the rings. Ring sizes must be powers of two.
#[derive(Clone, Copy, Debug)]
pub struct XskConfig {
    /// Number of frames in the UMEM.
    pub frame_count: u32,
    /// Bytes per frame: a power of two from 2048 to the page size.
    pub frame_size: u32,
    /// RX ring entries.
    pub rx_size: u32,
    /// TX ring entries.
    pub tx_size: u32,
    /// Fill ring entries.
    pub fill_size: u32,
    /// Completion ring entries.
    pub comp_size: u32,
    /// Frames kept back from the fill ring for transmitting.
    pub tx_reserve: u32,
    /// Zero-copy preference.
    pub bind_mode: BindMode,
    /// Ask the kernel to set the need-wakeup flags instead of polling the rings itself.
    pub need_wakeup: bool,
}

impl Default for XskConfig {
    fn default() -> Self {
        XskConfig {
            frame_count: 4096,
            frame_size: 2048,
            rx_size: 2048,
            tx_size: 2048,
            fill_size: 2048,
            comp_size: 2048,
            tx_reserve: 2048,
            bind_mode: BindMode::Auto,
            need_wakeup: true,
        }
    }
}

/// What went wrong creating or binding a socket, with the step that failed.
#[derive(Debug, thiserror::Error)]
pub enum XskError {
    /// A syscall failed.
    #[error("AF_XDP {step} on ifindex {ifindex} queue {queue}: {source}")]
    Sys {
        /// The step, e.g. "bind" or "XDP_UMEM_REG".
        step: &'static str,
        /// Interface index.
        ifindex: u32,
        /// Queue id.
        queue: u32,
        /// The OS error.
        source: io::Error,
    },
    /// The configuration is not usable.
    #[error("AF_XDP configuration: {0}")]
    Config(&'static str),
}

/// A received frame still owned by user space. Give it back with
/// [`XskSocket::recycle`] (or transmit it with [`XskSocket::transmit`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RxFrame {
    /// UMEM address of the first byte of the frame.
    pub addr: u64,
    /// Frame length.
    pub len: u32,
}

/// A frame taken from the free list for transmitting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxFrame {
    /// UMEM address of the start of the frame's chunk.
    pub addr: u64,
}

/// Counters kept by user space, next to the kernel's [`XdpStatistics`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XskCounters {
    /// Frames read from the RX ring.
    pub rx_frames: u64,
    /// Frames put on the TX ring.
    pub tx_frames: u64,
    /// Transmit completions reaped.
    pub tx_completed: u64,
    /// Transmits refused because the TX ring was full.
    pub tx_ring_full: u64,
    /// Wake-up syscalls made for RX (fill ring flagged).
    pub rx_wakeups: u64,
    /// Wake-up syscalls made for TX.
    pub tx_wakeups: u64,
}

/// The kernel's `struct xdp_statistics` for this socket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XdpStatistics {
    /// Dropped for other reasons.
    pub rx_dropped: u64,
    /// Dropped because of invalid descriptors.
    pub rx_invalid_descs: u64,
    /// Dropped because of invalid TX descriptors.
    pub tx_invalid_descs: u64,
    /// Dropped because the RX ring was full.
    pub rx_ring_full: u64,
    /// Times the fill ring was empty when the kernel needed a frame.
    pub rx_fill_ring_empty_descs: u64,
    /// Times the TX ring was empty when the kernel looked.
    pub tx_ring_empty_descs: u64,
}

/// An anonymous, page-aligned memory mapping, unmapped on drop.
struct Mmap {
    ptr: NonNull<u8>,
    len: usize,
}

// Safety: the mapping is plain memory owned by this value; access is synchronised by the owner
// (one thread per socket) and, for the rings, by the acquire/release protocol below.
unsafe impl Send for Mmap {}

impl Mmap {
    fn anonymous(len: usize) -> io::Result<Self> {
        // Safety: a fresh private anonymous mapping; no existing memory is touched.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        Self::from_raw(ptr, len)
    }

    fn ring(fd: RawFd, len: usize, pgoff: libc::off_t) -> io::Result<Self> {
        // Safety: maps the kernel's ring memory for this socket at the documented offset.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd,
                pgoff,
            )
        };
        Self::from_raw(ptr, len)
    }

    fn from_raw(ptr: *mut libc::c_void, len: usize) -> io::Result<Self> {
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(ptr.cast::<u8>()).ok_or_else(io::Error::last_os_error)?;
        Ok(Mmap { ptr, len })
    }
}

impl Drop for Mmap {
    fn drop(&mut self) {
        // Safety: unmaps exactly the region mapped in `from_raw`; nothing borrows it any more
        // because every borrow is tied to the owner's lifetime.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}

/// One of the four rings: a single-producer single-consumer queue shared with the kernel.
struct Ring<T: Copy> {
    _map: Mmap,
    producer: NonNull<AtomicU32>,
    consumer: NonNull<AtomicU32>,
    flags: NonNull<AtomicU32>,
    descs: NonNull<T>,
    mask: u32,
    size: u32,
    /// Our view of the other side's index, refreshed only when needed.
    cached_other: u32,
    /// Our own index (producer for fill/TX, consumer for RX/completion).
    local: u32,
}

// Safety: see `Mmap`; the ring is only used by the thread owning the socket.
unsafe impl<T: Copy> Send for Ring<T> {}

impl<T: Copy> Ring<T> {
    fn map(
        fd: RawFd,
        size: u32,
        off: &libc::xdp_ring_offset,
        pgoff: libc::off_t,
        producer_side: bool,
    ) -> io::Result<Self> {
        let len = off.desc as usize + size as usize * std::mem::size_of::<T>();
        let map = Mmap::ring(fd, len, pgoff)?;
        let base = map.ptr.as_ptr();
        // Safety: the kernel guarantees these offsets lie inside the mapping it just gave us,
        // and that the index fields are u32-aligned.
        let (producer, consumer, flags, descs) = unsafe {
            (
                NonNull::new_unchecked(base.add(off.producer as usize).cast::<AtomicU32>()),
                NonNull::new_unchecked(base.add(off.consumer as usize).cast::<AtomicU32>()),
                NonNull::new_unchecked(base.add(off.flags as usize).cast::<AtomicU32>()),
                NonNull::new_unchecked(base.add(off.desc as usize).cast::<T>()),
            )
        };
        let mut ring = Ring {
            _map: map,
            producer,
            consumer,
            flags,
            descs,
            mask: size - 1,
            size,
            cached_other: 0,
            local: 0,
        };
        // Safety: the index words are valid for the mapping's lifetime (see above).
        unsafe {
            if producer_side {
                ring.local = ring.producer.as_ref().load(Ordering::Relaxed);
                ring.cached_other = ring.consumer.as_ref().load(Ordering::Acquire);
            } else {
                ring.local = ring.consumer.as_ref().load(Ordering::Relaxed);
                ring.cached_other = ring.producer.as_ref().load(Ordering::Acquire);
            }
        }
        Ok(ring)
    }

    fn flags(&self) -> u32 {
        // Safety: valid index word of our mapping.
        unsafe { self.flags.as_ref().load(Ordering::Acquire) }
    }

    fn needs_wakeup(&self) -> bool {
        self.flags() & libc::XDP_RING_NEED_WAKEUP != 0
    }

    // ---- producer side (fill, TX) ----

    fn free_slots(&mut self) -> u32 {
        let mut free = self.size - self.local.wrapping_sub(self.cached_other);
        if free == 0 {
            // Safety: valid index word of our mapping.
            self.cached_other = unsafe { self.consumer.as_ref().load(Ordering::Acquire) };
            free = self.size - self.local.wrapping_sub(self.cached_other);
        }
        free
    }

    fn push(&mut self, value: T) -> bool {
        if self.free_slots() == 0 {
            return false;
        }
        let idx = (self.local & self.mask) as usize;
        // Safety: idx < size, inside the descriptor array; the slot is ours until we publish.
        unsafe { self.descs.as_ptr().add(idx).write(value) };
        self.local = self.local.wrapping_add(1);
        true
    }

    fn publish(&mut self) {
        // Safety: valid index word; Release orders the descriptor writes before it.
        unsafe { self.producer.as_ref().store(self.local, Ordering::Release) };
    }

    // ---- consumer side (RX, completion) ----

    fn available(&mut self) -> u32 {
        let mut n = self.cached_other.wrapping_sub(self.local);
        if n == 0 {
            // Safety: valid index word of our mapping.
            self.cached_other = unsafe { self.producer.as_ref().load(Ordering::Acquire) };
            n = self.cached_other.wrapping_sub(self.local);
        }
        n
    }

    fn pop(&mut self) -> Option<T> {
        if self.available() == 0 {
            return None;
        }
        let idx = (self.local & self.mask) as usize;
        // Safety: idx < size; the kernel published this slot (Acquire above).
        let v = unsafe { self.descs.as_ptr().add(idx).read() };
        self.local = self.local.wrapping_add(1);
        Some(v)
    }

    fn release(&mut self) {
        // Safety: valid index word; Release orders our reads before handing slots back.
        unsafe { self.consumer.as_ref().store(self.local, Ordering::Release) };
    }

    /// Entries the kernel has not consumed yet (producer side) — for tests and accounting.
    fn pending(&self) -> u32 {
        // Safety: valid index word of our mapping.
        let cons = unsafe { self.consumer.as_ref().load(Ordering::Acquire) };
        self.local.wrapping_sub(cons)
    }

    /// Entries published by the kernel and not consumed by us (consumer side).
    fn unread(&self) -> u32 {
        // Safety: valid index word of our mapping.
        let prod = unsafe { self.producer.as_ref().load(Ordering::Acquire) };
        prod.wrapping_sub(self.local)
    }
}

/// An AF_XDP socket bound to one queue of one interface, with its own UMEM.
pub struct XskSocket {
    fd: OwnedFd,
    umem: Mmap,
    frame_size: u32,
    frame_count: u32,
    fill: Ring<u64>,
    comp: Ring<u64>,
    rx: Ring<libc::xdp_desc>,
    tx: Ring<libc::xdp_desc>,
    free: Vec<u64>,
    /// Frames handed to the caller by `recv` and not yet recycled or transmitted.
    outstanding_rx: u32,
    /// Frames handed out by `alloc_tx` and not yet transmitted or returned.
    outstanding_tx: u32,
    tx_reserve: u32,
    mode: BoundMode,
    need_wakeup: bool,
    ifindex: u32,
    queue: u32,
    counters: XskCounters,
}

impl std::fmt::Debug for XskSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XskSocket")
            .field("fd", &self.fd)
            .field("ifindex", &self.ifindex)
            .field("queue", &self.queue)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

fn is_pow2(v: u32) -> bool {
    v != 0 && v & (v - 1) == 0
}

fn setsockopt<T>(fd: RawFd, opt: libc::c_int, value: &T) -> io::Result<()> {
    // Safety: passes a pointer to a live value of the size given.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_XDP,
            opt,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

impl XskSocket {
    /// Creates a socket with its UMEM and rings, binds it to `ifindex`/`queue`, and stocks the
    /// fill ring. Binding tries zero-copy first when `cfg.bind_mode` is `Auto`.
    pub fn bind(ifindex: u32, queue: u32, cfg: &XskConfig) -> Result<Self, XskError> {
        let err = |step: &'static str| {
            let source = io::Error::last_os_error();
            move || XskError::Sys {
                step,
                ifindex,
                queue,
                source,
            }
        };
        for (v, what) in [
            (cfg.rx_size, "rx_size must be a power of two"),
            (cfg.tx_size, "tx_size must be a power of two"),
            (cfg.fill_size, "fill_size must be a power of two"),
            (cfg.comp_size, "comp_size must be a power of two"),
            (cfg.frame_size, "frame_size must be a power of two"),
        ] {
            if !is_pow2(v) {
                return Err(XskError::Config(what));
            }
        }
        if cfg.frame_size < 2048 {
            return Err(XskError::Config("frame_size must be at least 2048"));
        }
        if cfg.tx_reserve >= cfg.frame_count {
            return Err(XskError::Config(
                "tx_reserve must leave frames for receiving",
            ));
        }
        let sys = |step: &'static str, source: io::Error| XskError::Sys {
            step,
            ifindex,
            queue,
            source,
        };

        let mut last_err = None;
        let attempts: &[libc::__u16] = match cfg.bind_mode {
            BindMode::Auto => &[libc::XDP_ZEROCOPY, libc::XDP_COPY],
            BindMode::ZeroCopy => &[libc::XDP_ZEROCOPY],
            BindMode::Copy => &[libc::XDP_COPY],
        };
        for &mode_flag in attempts {
            // A failed bind can leave the socket half set up, so each attempt starts afresh.
            // Safety: plain socket(2) call.
            let raw = unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
            if raw < 0 {
                return Err(err("socket")());
            }
            // Safety: `raw` is a fresh descriptor we own.
            let fd = unsafe { OwnedFd::from_raw_fd(raw) };
            let umem_len = cfg.frame_count as usize * cfg.frame_size as usize;
            let umem = Mmap::anonymous(umem_len).map_err(|e| sys("mmap UMEM", e))?;
            let reg = libc::xdp_umem_reg {
                addr: umem.ptr.as_ptr() as u64,
                len: umem_len as u64,
                chunk_size: cfg.frame_size,
                headroom: 0,
                flags: 0,
                tx_metadata_len: 0,
            };
            setsockopt(raw, libc::XDP_UMEM_REG, &reg).map_err(|e| sys("XDP_UMEM_REG", e))?;
            setsockopt(raw, libc::XDP_UMEM_FILL_RING, &cfg.fill_size)
                .map_err(|e| sys("XDP_UMEM_FILL_RING", e))?;
            setsockopt(raw, libc::XDP_UMEM_COMPLETION_RING, &cfg.comp_size)
                .map_err(|e| sys("XDP_UMEM_COMPLETION_RING", e))?;
            setsockopt(raw, libc::XDP_RX_RING, &cfg.rx_size).map_err(|e| sys("XDP_RX_RING", e))?;
            setsockopt(raw, libc::XDP_TX_RING, &cfg.tx_size).map_err(|e| sys("XDP_TX_RING", e))?;

            // Safety: zeroed plain-old-data struct, filled by getsockopt.
            let mut off: libc::xdp_mmap_offsets = unsafe { std::mem::zeroed() };
            let mut optlen = std::mem::size_of::<libc::xdp_mmap_offsets>() as libc::socklen_t;
            // Safety: buffer and length describe `off`.
            let rc = unsafe {
                libc::getsockopt(
                    raw,
                    libc::SOL_XDP,
                    libc::XDP_MMAP_OFFSETS,
                    (&mut off as *mut libc::xdp_mmap_offsets).cast(),
                    &mut optlen,
                )
            };
            if rc != 0 {
                return Err(err("XDP_MMAP_OFFSETS")());
            }
            let fill = Ring::<u64>::map(
                raw,
                cfg.fill_size,
                &off.fr,
                libc::XDP_UMEM_PGOFF_FILL_RING as libc::off_t,
                true,
            )
            .map_err(|e| sys("mmap fill ring", e))?;
            let comp = Ring::<u64>::map(
                raw,
                cfg.comp_size,
                &off.cr,
                libc::XDP_UMEM_PGOFF_COMPLETION_RING as libc::off_t,
                false,
            )
            .map_err(|e| sys("mmap completion ring", e))?;
            let rx = Ring::<libc::xdp_desc>::map(
                raw,
                cfg.rx_size,
                &off.rx,
                libc::XDP_PGOFF_RX_RING,
                false,
            )
            .map_err(|e| sys("mmap RX ring", e))?;
            let tx = Ring::<libc::xdp_desc>::map(
                raw,
                cfg.tx_size,
                &off.tx,
                libc::XDP_PGOFF_TX_RING,
                true,
            )
            .map_err(|e| sys("mmap TX ring", e))?;

            let mut flags = mode_flag;
            if cfg.need_wakeup {
                flags |= libc::XDP_USE_NEED_WAKEUP;
            }
            let sa = libc::sockaddr_xdp {
                sxdp_family: libc::AF_XDP as libc::__u16,
                sxdp_flags: flags,
                sxdp_ifindex: ifindex,
                sxdp_queue_id: queue,
                sxdp_shared_umem_fd: 0,
            };
            // Safety: pointer and length describe `sa`.
            let rc = unsafe {
                libc::bind(
                    raw,
                    (&sa as *const libc::sockaddr_xdp).cast(),
                    std::mem::size_of::<libc::sockaddr_xdp>() as libc::socklen_t,
                )
            };
            if rc != 0 {
                last_err = Some(err("bind")());
                continue;
            }
            let mode = if mode_flag == libc::XDP_ZEROCOPY {
                BoundMode::ZeroCopy
            } else {
                BoundMode::Copy
            };
            let free = (0..cfg.frame_count)
                .map(|i| u64::from(i) * u64::from(cfg.frame_size))
                .collect();
            let mut sock = XskSocket {
                fd,
                umem,
                frame_size: cfg.frame_size,
                frame_count: cfg.frame_count,
                fill,
                comp,
                rx,
                tx,
                free,
                outstanding_rx: 0,
                outstanding_tx: 0,
                tx_reserve: cfg.tx_reserve,
                mode,
                need_wakeup: cfg.need_wakeup,
                ifindex,
                queue,
                counters: XskCounters::default(),
            };
            sock.refill();
            return Ok(sock);
        }
        Err(last_err.unwrap_or(XskError::Config("no bind mode to try")))
    }

    /// The mode the kernel accepted.
    pub fn mode(&self) -> BoundMode {
        self.mode
    }

    /// Queue this socket is bound to.
    pub fn queue(&self) -> u32 {
        self.queue
    }

    /// Interface index this socket is bound to.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Bytes per frame.
    pub fn frame_size(&self) -> u32 {
        self.frame_size
    }

    /// User-space counters.
    pub fn counters(&self) -> XskCounters {
        self.counters
    }

    /// Moves free frames into the fill ring, keeping `tx_reserve` frames back for transmit.
    pub fn refill(&mut self) {
        let mut pushed = false;
        while self.free.len() > self.tx_reserve as usize {
            let Some(&addr) = self.free.last() else { break };
            if !self.fill.push(addr) {
                break;
            }
            self.free.pop();
            pushed = true;
        }
        if pushed {
            self.fill.publish();
        }
    }

    /// Reads up to `out.len()` received frames. Each must later be given back through
    /// [`recycle`](Self::recycle) or [`transmit`](Self::transmit).
    pub fn recv(&mut self, out: &mut [RxFrame]) -> usize {
        let mut n = 0;
        while n < out.len() {
            let Some(d) = self.rx.pop() else { break };
            out[n] = RxFrame {
                addr: d.addr,
                len: d.len,
            };
            n += 1;
        }
        if n > 0 {
            self.rx.release();
            self.outstanding_rx += n as u32;
            self.counters.rx_frames += n as u64;
        }
        n
    }

    fn chunk_base(&self, addr: u64) -> u64 {
        addr & !(u64::from(self.frame_size) - 1)
    }

    fn check_addr(&self, addr: u64, len: usize) -> Option<(usize, usize)> {
        let start = usize::try_from(addr).ok()?;
        let end = start.checked_add(len)?;
        let chunk_end = usize::try_from(self.chunk_base(addr)).ok()? + self.frame_size as usize;
        (end <= chunk_end && end <= self.umem.len).then_some((start, end))
    }

    /// The bytes of a received frame.
    pub fn rx_bytes(&self, f: &RxFrame) -> &[u8] {
        match self.check_addr(f.addr, f.len as usize) {
            // Safety: in bounds of the UMEM (checked); the frame is owned by user space until
            // recycled, and the returned borrow of `self` prevents recycling meanwhile.
            Some((s, e)) => unsafe {
                std::slice::from_raw_parts(self.umem.ptr.as_ptr().add(s), e - s)
            },
            None => &[],
        }
    }

    /// A received frame (read) and a transmit frame's whole chunk (write) at once.
    ///
    /// # Panics
    /// If both name the same chunk: a caller bug that would alias.
    pub fn rx_and_tx(&mut self, rx: &RxFrame, tx: TxFrame) -> (&[u8], &mut [u8]) {
        assert_ne!(
            self.chunk_base(rx.addr),
            self.chunk_base(tx.addr),
            "RX and TX frame share a chunk"
        );
        let r = self.check_addr(rx.addr, rx.len as usize);
        let t = self.check_addr(tx.addr, self.frame_size as usize);
        let base = self.umem.ptr.as_ptr();
        // Safety: both ranges are in bounds and lie in different chunks (asserted), so the
        // shared and the mutable slice do not overlap; both frames are owned by user space.
        unsafe {
            let rx_s = match r {
                Some((s, e)) => std::slice::from_raw_parts(base.add(s), e - s),
                None => &[][..],
            };
            let tx_s = match t {
                Some((s, e)) => std::slice::from_raw_parts_mut(base.add(s), e - s),
                None => &mut [][..],
            };
            (rx_s, tx_s)
        }
    }

    /// The whole chunk of a transmit frame, for writing.
    pub fn tx_bytes(&mut self, tx: TxFrame) -> &mut [u8] {
        match self.check_addr(tx.addr, self.frame_size as usize) {
            // Safety: in bounds; owned by user space; `&mut self` prevents other borrows.
            Some((s, e)) => unsafe {
                std::slice::from_raw_parts_mut(self.umem.ptr.as_ptr().add(s), e - s)
            },
            None => &mut [],
        }
    }

    /// Gives received frames back to the kernel (through the fill ring).
    pub fn recycle(&mut self, frames: &[RxFrame]) {
        for f in frames {
            let base = self.chunk_base(f.addr);
            self.free.push(base);
        }
        self.outstanding_rx = self.outstanding_rx.saturating_sub(frames.len() as u32);
        self.refill_all();
    }

    fn refill_all(&mut self) {
        let mut pushed = false;
        while let Some(&addr) = self.free.last() {
            if self.free.len() <= self.tx_reserve as usize {
                break;
            }
            if !self.fill.push(addr) {
                break;
            }
            self.free.pop();
            pushed = true;
        }
        if pushed {
            self.fill.publish();
        }
    }

    /// Takes a frame for transmitting, reaping completions first if the free list is empty.
    pub fn alloc_tx(&mut self) -> Option<TxFrame> {
        if self.free.is_empty() {
            self.complete();
        }
        let addr = self.free.pop()?;
        self.outstanding_tx += 1;
        Some(TxFrame { addr })
    }

    /// Returns an allocated but unused transmit frame.
    pub fn free_tx(&mut self, tx: TxFrame) {
        self.free.push(tx.addr);
        self.outstanding_tx = self.outstanding_tx.saturating_sub(1);
    }

    /// Queues `len` bytes of an allocated frame for transmission. On a full TX ring the frame
    /// goes back to the free list and `false` is returned (counted as `tx_ring_full`).
    pub fn transmit(&mut self, tx: TxFrame, len: u32) -> bool {
        self.outstanding_tx = self.outstanding_tx.saturating_sub(1);
        let desc = libc::xdp_desc {
            addr: tx.addr,
            len,
            options: 0,
        };
        if self.tx.push(desc) {
            self.counters.tx_frames += 1;
            true
        } else {
            self.free.push(tx.addr);
            self.counters.tx_ring_full += 1;
            false
        }
    }

    /// Transmits a received frame as it is (after the caller rewrote it in place).
    pub fn transmit_rx(&mut self, f: RxFrame) -> bool {
        self.outstanding_rx = self.outstanding_rx.saturating_sub(1);
        let desc = libc::xdp_desc {
            addr: f.addr,
            len: f.len,
            options: 0,
        };
        if self.tx.push(desc) {
            self.counters.tx_frames += 1;
            true
        } else {
            let base = self.chunk_base(f.addr);
            self.free.push(base);
            self.counters.tx_ring_full += 1;
            false
        }
    }

    /// Publishes queued transmits and kicks the kernel if it asked to be woken (copy mode
    /// always needs the kick). Also kicks again while earlier frames still wait in the ring:
    /// in copy mode the kernel sends only a bounded batch per kick.
    pub fn flush_tx(&mut self) {
        let fresh = self.tx.local != self.tx_published();
        if fresh {
            self.tx.publish();
        } else if self.tx.pending() == 0 {
            return;
        }
        if !self.need_wakeup || self.tx.needs_wakeup() {
            self.counters.tx_wakeups += 1;
            // Safety: zero-length sendto on our own socket is the documented TX kick.
            unsafe {
                libc::sendto(
                    self.fd.as_raw_fd(),
                    std::ptr::null(),
                    0,
                    libc::MSG_DONTWAIT,
                    std::ptr::null(),
                    0,
                );
            }
        }
    }

    fn tx_published(&self) -> u32 {
        // Safety: valid index word of our mapping.
        unsafe { self.tx.producer.as_ref().load(Ordering::Relaxed) }
    }

    /// Frames that can be queued for transmission right now: free TX ring slots and free
    /// frames, after reaping completions.
    pub fn tx_room(&mut self) -> usize {
        self.complete();
        let ring = self.tx.size - self.tx.pending();
        (ring as usize).min(self.free.len())
    }

    /// Reaps transmit completions back into the free list and restocks the fill ring.
    pub fn complete(&mut self) -> u32 {
        let mut n = 0;
        while let Some(addr) = self.comp.pop() {
            let base = self.chunk_base(addr);
            self.free.push(base);
            n += 1;
        }
        if n > 0 {
            self.comp.release();
            self.counters.tx_completed += u64::from(n);
            self.refill_all();
        }
        n
    }

    /// Wakes the kernel for RX if the fill ring asks for it.
    pub fn wake_rx_if_needed(&mut self) {
        if self.need_wakeup && self.fill.needs_wakeup() {
            self.counters.rx_wakeups += 1;
            // Safety: zero-length non-blocking recvfrom on our own socket is the RX kick.
            unsafe {
                libc::recvfrom(
                    self.fd.as_raw_fd(),
                    std::ptr::null_mut(),
                    0,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                );
            }
        }
    }

    /// Waits up to `timeout_ms` for received frames (poll(2)); `true` when some are ready.
    pub fn poll_rx(&mut self, timeout_ms: i32) -> io::Result<bool> {
        if self.rx.available() > 0 {
            return Ok(true);
        }
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // Safety: one valid pollfd.
        let rc = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(false);
            }
            return Err(e);
        }
        Ok(self.rx.available() > 0)
    }

    /// The kernel's statistics for this socket.
    pub fn statistics(&self) -> io::Result<XdpStatistics> {
        // Safety: zeroed plain-old-data struct filled by getsockopt.
        let mut st: libc::xdp_statistics = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::xdp_statistics>() as libc::socklen_t;
        // Safety: buffer and length describe `st`.
        let rc = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_XDP,
                libc::XDP_STATISTICS,
                (&mut st as *mut libc::xdp_statistics).cast(),
                &mut len,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(XdpStatistics {
            rx_dropped: st.rx_dropped,
            rx_invalid_descs: st.rx_invalid_descs,
            tx_invalid_descs: st.tx_invalid_descs,
            rx_ring_full: st.rx_ring_full,
            rx_fill_ring_empty_descs: st.rx_fill_ring_empty_descs,
            tx_ring_empty_descs: st.tx_ring_empty_descs,
        })
    }

    /// Frame accounting: (frames in the free list, in the fill ring, in the RX ring, handed out
    /// to the caller, in the TX ring, in the completion ring). Their sum is the UMEM's frame
    /// count when nothing leaked.
    pub fn frame_census(&self) -> [u32; 6] {
        [
            self.free.len() as u32,
            self.fill.pending(),
            self.rx.unread(),
            self.outstanding_rx + self.outstanding_tx,
            self.tx.pending(),
            self.comp.unread(),
        ]
    }

    /// True when every frame of the UMEM is accounted for (see [`frame_census`](Self::frame_census)).
    pub fn frames_accounted(&self) -> bool {
        self.frame_census().iter().sum::<u32>() == self.frame_count
    }
}

impl AsFd for XskSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for XskSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_is_validated_before_any_syscall() {
        let cfg = XskConfig {
            rx_size: 1000,
            ..XskConfig::default()
        };
        assert!(matches!(
            XskSocket::bind(1, 0, &cfg),
            Err(XskError::Config(_))
        ));
        let cfg = XskConfig {
            frame_size: 1024,
            ..XskConfig::default()
        };
        assert!(matches!(
            XskSocket::bind(1, 0, &cfg),
            Err(XskError::Config(_))
        ));
        let cfg = XskConfig {
            tx_reserve: 4096,
            ..XskConfig::default()
        };
        assert!(matches!(
            XskSocket::bind(1, 0, &cfg),
            Err(XskError::Config(_))
        ));
    }
}
