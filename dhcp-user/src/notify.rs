//! An eventfd that wakes a worker blocked in `poll` when another thread hands it work
//! (a forwarded request, a reply to send, journal progress).

use std::{
    io,
    os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd},
    sync::Arc,
};

/// A wake-up counter (eventfd, non-blocking).
#[derive(Debug, Clone)]
pub struct Notify {
    fd: Arc<OwnedFd>,
}

impl Notify {
    /// A new eventfd.
    pub fn new() -> io::Result<Notify> {
        // Safety: plain eventfd(2) call.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Notify {
            // Safety: a fresh descriptor we own.
            fd: Arc::new(unsafe { OwnedFd::from_raw_fd(fd) }),
        })
    }

    /// Wakes the waiter.
    pub fn wake(&self) {
        let one: u64 = 1;
        // Safety: writes 8 bytes from a live u64 to our eventfd; a full counter just fails.
        unsafe {
            libc::write(self.fd.as_raw_fd(), (&one as *const u64).cast(), 8);
        }
    }

    /// Clears pending wake-ups.
    pub fn clear(&self) {
        let mut v: u64 = 0;
        // Safety: reads 8 bytes into a live u64; EAGAIN when nothing is pending.
        unsafe {
            libc::read(self.fd.as_raw_fd(), (&mut v as *mut u64).cast(), 8);
        }
    }
}

impl AsRawFd for Notify {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Waits up to `timeout_ms` for any of `fds` to become readable.
pub fn poll_any(fds: &[RawFd], timeout_ms: i32) -> io::Result<()> {
    let mut pfds = [libc::pollfd {
        fd: -1,
        events: 0,
        revents: 0,
    }; 16];
    let n = fds.len().min(pfds.len());
    for (p, &fd) in pfds.iter_mut().zip(fds) {
        p.fd = fd;
        p.events = libc::POLLIN;
    }
    // Safety: `n` valid pollfd entries.
    let rc = unsafe { libc::poll(pfds.as_mut_ptr(), n as libc::nfds_t, timeout_ms) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    Ok(())
}
