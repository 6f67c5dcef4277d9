//! Loading and attaching the XDP steering program, registering AF_XDP sockets in its XSKMAP,
//! reading its per-CPU counters, and running it on crafted frames with `BPF_PROG_TEST_RUN`.

use std::{
    os::fd::AsRawFd,
    path::{Path, PathBuf},
};

use aya::{
    Ebpf, EbpfLoader,
    maps::{Map, MapData, MapError, PerCpuArray, XskMap},
    programs::{
        TestRun, TestRunOptions, TestRunResult, Xdp, XdpMode,
        links::{FdLink, PinnedLink},
        xdp::{XdpLink, XdpLinkId},
    },
};
use dhcp_common::{GLOBAL_PORT_A, GLOBAL_PORT_B, PROGRAM_NAME, STATS_MAP, SteerStat, XSKS_MAP};

/// The compiled XDP object (the steering program, and the lab's bounce that [`crate::bounce`]
/// loads), built by this crate's build script from `dhcp-ebpf`.
pub static STEER_OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/dhcp-ebpf"));

/// Errors of the steering program's life cycle, each naming what was being done.
#[derive(Debug, thiserror::Error)]
pub enum SteerError {
    /// The object could not be parsed or its maps created.
    #[error("loading the XDP object: {0}")]
    Load(#[from] aya::EbpfError),
    /// A program operation failed.
    #[error("{what}: {source}")]
    Program {
        /// What was being done.
        what: String,
        /// The aya error.
        source: aya::programs::ProgramError,
    },
    /// A map operation failed.
    #[error("{what}: {source}")]
    Map {
        /// What was being done.
        what: String,
        /// The aya error.
        source: aya::maps::MapError,
    },
    /// The interface does not exist.
    #[error("interface {0:?} not found")]
    NoSuchInterface(String),
    /// Attaching failed in every mode tried.
    #[error(
        "attaching the XDP program to {ifname}: {detail}. If another XDP program is attached \
         (see `ip link show dev {ifname}`), remove it with `ip link set dev {ifname} xdp off`"
    )]
    Attach {
        /// Interface.
        ifname: String,
        /// What each attempt said.
        detail: String,
    },
    /// Pinning or unpinning the link failed.
    #[error("pinning the XDP link at {path}: {detail}")]
    Pin {
        /// The pin path.
        path: PathBuf,
        /// What failed.
        detail: String,
    },
    /// A program or map the object must contain is missing (a build mismatch).
    #[error("the XDP object lacks the program or map {0:?}")]
    Missing(&'static str),
}

/// Which XDP attach mode to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum AttachMode {
    /// Native (driver) mode, falling back to generic (SKB) mode when the driver refuses.
    #[default]
    Auto,
    /// Native only.
    Native,
    /// Generic (SKB) only.
    Skb,
}

/// How the program ended up attached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttachReport {
    /// "native", "skb", or "kept" when a pinned link left by an earlier run was reused (the
    /// earlier mode is kept).
    pub mode: &'static str,
    /// True when a program left attached by an earlier (crashed) run was found and replaced.
    pub replaced_leftover: bool,
    /// Why the preferred mode was not used, if it was not.
    pub fallback_reason: Option<String>,
}

enum LinkHold {
    Owned(XdpLinkId),
    Pinned { link: PinnedLink, path: PathBuf },
}

struct Attachment {
    ifname: String,
    hold: LinkHold,
}

/// The loaded steering program and its maps.
pub struct Steering {
    ebpf: Ebpf,
    xsks: XskMap<MapData>,
    stats: PerCpuArray<MapData, u64>,
    attached: Option<Attachment>,
}

impl std::fmt::Debug for Steering {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Steering")
            .field(
                "attached",
                &self.attached.as_ref().map(|a| a.ifname.clone()),
            )
            .finish_non_exhaustive()
    }
}

/// Interface index of `ifname` in the calling thread's network namespace.
pub fn ifindex(ifname: &str) -> Result<u32, SteerError> {
    let c = std::ffi::CString::new(ifname)
        .map_err(|_| SteerError::NoSuchInterface(ifname.to_owned()))?;
    // Safety: NUL-terminated string valid for the call.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if idx == 0 {
        Err(SteerError::NoSuchInterface(ifname.to_owned()))
    } else {
        Ok(idx)
    }
}

impl Steering {
    /// Loads the object, steering UDP destination `port_a` and, when non-zero, `port_b`, and
    /// loads the program into the kernel (verifier run). Nothing is attached yet.
    pub fn load(port_a: u16, port_b: u16) -> Result<Self, SteerError> {
        let mut ebpf = EbpfLoader::new()
            .override_global(GLOBAL_PORT_A, &port_a, true)
            .override_global(GLOBAL_PORT_B, &port_b, true)
            .load(STEER_OBJECT)?;
        let xsks = take_map(&mut ebpf, XSKS_MAP)?;
        let stats = take_map(&mut ebpf, STATS_MAP)?;
        load_program(&mut ebpf, PROGRAM_NAME)?;
        Ok(Steering {
            ebpf,
            xsks,
            stats,
            attached: None,
        })
    }

    fn program(&mut self) -> Result<&mut Xdp, SteerError> {
        xdp_program(&mut self.ebpf, PROGRAM_NAME)
    }

    /// Attaches to `ifname`. With `pin_dir`, the link is pinned at `pin_dir/link-<ifname>` so
    /// that a crash leaves a link the next start can find and atomically replace; without it, the
    /// link lives and dies with this process.
    pub fn attach(
        &mut self,
        ifname: &str,
        mode: AttachMode,
        pin_dir: Option<&Path>,
    ) -> Result<AttachReport, SteerError> {
        if self.attached.is_some() {
            self.detach()?;
        }
        let if_index = ifindex(ifname)?;
        let pin_path = pin_dir.map(|d| d.join(format!("link-{ifname}")));

        // A pinned link left behind by a run that did not shut down cleanly.
        if let Some(path) = pin_path.as_deref().filter(|p| p.exists()) {
            let pinned = PinnedLink::from_pin(path).map_err(|e| SteerError::Pin {
                path: path.to_owned(),
                detail: format!("opening the leftover pinned link: {e}"),
            })?;
            let old: FdLink = pinned.unpin().map_err(|e| SteerError::Pin {
                path: path.to_owned(),
                detail: format!("unpinning the leftover link: {e}"),
            })?;
            let old = XdpLink::try_from(old).map_err(|e| SteerError::Pin {
                path: path.to_owned(),
                detail: format!("the leftover pinned link is not an XDP link: {e}"),
            })?;
            let id = self
                .program()?
                .attach_to_link(old)
                .map_err(|source| SteerError::Program {
                    what: format!("replacing the leftover XDP program on {ifname}"),
                    source,
                })?;
            let hold = self.pin(id, path)?;
            self.attached = Some(Attachment {
                ifname: ifname.to_owned(),
                hold,
            });
            return Ok(AttachReport {
                mode: "kept",
                replaced_leftover: true,
                fallback_reason: None,
            });
        }

        let attempts: &[(XdpMode, &'static str)] = match mode {
            AttachMode::Auto => &[(XdpMode::Driver, "native"), (XdpMode::Skb, "skb")],
            AttachMode::Native => &[(XdpMode::Driver, "native")],
            AttachMode::Skb => &[(XdpMode::Skb, "skb")],
        };
        let mut errors = Vec::new();
        for &(xdp_mode, name) in attempts {
            match self.program()?.attach_to_if_index(if_index, xdp_mode) {
                Ok(id) => {
                    let hold = match pin_path.as_deref() {
                        Some(path) => self.pin(id, path)?,
                        None => LinkHold::Owned(id),
                    };
                    self.attached = Some(Attachment {
                        ifname: ifname.to_owned(),
                        hold,
                    });
                    return Ok(AttachReport {
                        mode: name,
                        replaced_leftover: false,
                        fallback_reason: (!errors.is_empty()).then(|| errors.join("; ")),
                    });
                }
                Err(e) => errors.push(format!("{name} mode: {}", error_chain(&e))),
            }
        }
        Err(SteerError::Attach {
            ifname: ifname.to_owned(),
            detail: errors.join("; "),
        })
    }

    fn pin(&mut self, id: XdpLinkId, path: &Path) -> Result<LinkHold, SteerError> {
        let link = self
            .program()?
            .take_link(id)
            .map_err(|source| SteerError::Program {
                what: "taking the XDP link".into(),
                source,
            })?;
        let fd_link = FdLink::try_from(link).map_err(|e| SteerError::Pin {
            path: path.to_owned(),
            detail: format!("the kernel attached through netlink, not a bpf_link: {e}"),
        })?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| SteerError::Pin {
                path: path.to_owned(),
                detail: format!("creating {}: {e}", dir.display()),
            })?;
        }
        let link = fd_link.pin(path).map_err(|e| SteerError::Pin {
            path: path.to_owned(),
            detail: e.to_string(),
        })?;
        Ok(LinkHold::Pinned {
            link,
            path: path.to_owned(),
        })
    }

    /// Detaches the program (and removes the pin). Idempotent.
    pub fn detach(&mut self) -> Result<(), SteerError> {
        let Some(att) = self.attached.take() else {
            return Ok(());
        };
        match att.hold {
            LinkHold::Owned(id) => {
                self.program()?
                    .detach(id)
                    .map_err(|source| SteerError::Program {
                        what: format!("detaching the XDP program from {}", att.ifname),
                        source,
                    })?;
            }
            LinkHold::Pinned { link, path } => {
                // Unpinning drops the last reference once the returned FdLink is dropped.
                let fd_link = link.unpin().map_err(|e| SteerError::Pin {
                    path: path.clone(),
                    detail: format!("unpinning: {e}"),
                })?;
                drop(fd_link);
            }
        }
        Ok(())
    }

    /// Name of the interface the program is attached to.
    pub fn attached_to(&self) -> Option<&str> {
        self.attached.as_ref().map(|a| a.ifname.as_str())
    }

    /// Puts `socket` in the XSKMAP slot of its queue: steered frames on that queue go to it.
    pub fn register(&mut self, queue: u32, socket: &impl AsRawFd) -> Result<(), SteerError> {
        self.xsks
            .set(queue, socket.as_raw_fd(), 0)
            .map_err(|source| SteerError::Map {
                what: format!("registering the AF_XDP socket of queue {queue}"),
                source,
            })
    }

    /// Empties the XSKMAP slot of `queue`: its steered frames go to the kernel again.
    pub fn unregister(&mut self, queue: u32) -> Result<(), SteerError> {
        self.xsks.unset(queue).map_err(|source| SteerError::Map {
            what: format!("unregistering queue {queue}"),
            source,
        })
    }

    /// The decision counters, summed over CPUs, indexed by [`SteerStat`].
    pub fn stats(&self) -> Result<[u64; SteerStat::COUNT as usize], SteerError> {
        let mut out = [0u64; SteerStat::COUNT as usize];
        for stat in SteerStat::ALL {
            let values = self
                .stats
                .get(&stat.index(), 0)
                .map_err(|source| SteerError::Map {
                    what: format!("reading counter {}", stat.name()),
                    source,
                })?;
            out[stat.index() as usize] = values.iter().sum();
        }
        Ok(out)
    }

    /// Runs the program once on `frame` with `BPF_PROG_TEST_RUN` and returns its XDP action.
    /// `rx` names the (ifindex, queue) the frame pretends to arrive on; `None` uses the
    /// kernel's default (loopback, queue 0).
    pub fn test_run(&mut self, frame: &[u8], rx: Option<(u32, u32)>) -> Result<u32, SteerError> {
        let result = test_run_xdp(self.program()?, frame, rx, None)?;
        Ok(result.return_value)
    }
}

/// The XDP program `name` of `ebpf`.
pub(crate) fn xdp_program<'a>(
    ebpf: &'a mut Ebpf,
    name: &'static str,
) -> Result<&'a mut Xdp, SteerError> {
    let p = ebpf.program_mut(name).ok_or(SteerError::Missing(name))?;
    p.try_into().map_err(|source| SteerError::Program {
        what: format!("the {name} program is not XDP"),
        source,
    })
}

/// Loads the XDP program `name` of `ebpf` into the kernel (the verifier runs here).
pub(crate) fn load_program(ebpf: &mut Ebpf, name: &'static str) -> Result<(), SteerError> {
    xdp_program(ebpf, name)?
        .load()
        .map_err(|source| SteerError::Program {
            what: format!("loading the XDP program {name} into the kernel"),
            source,
        })
}

/// Takes the map `name` out of `ebpf` as a `T` (an XSKMAP, a per-CPU array, ...).
pub(crate) fn take_map<T>(ebpf: &mut Ebpf, name: &'static str) -> Result<T, SteerError>
where
    T: TryFrom<Map, Error = MapError>,
{
    let map = ebpf.take_map(name).ok_or(SteerError::Missing(name))?;
    T::try_from(map).map_err(|source| SteerError::Map {
        what: format!("opening the {name} map"),
        source,
    })
}

/// Runs `program` once on `frame` with `BPF_PROG_TEST_RUN`. `rx` names the (ifindex, queue) the
/// frame pretends to arrive on (`None`: the kernel's default, loopback queue 0); the frame as
/// the program left it goes to `data_out` when given.
pub(crate) fn test_run_xdp(
    program: &mut Xdp,
    frame: &[u8],
    rx: Option<(u32, u32)>,
    data_out: Option<&mut [u8]>,
) -> Result<TestRunResult, SteerError> {
    let ctx = rx.map(|(ifindex, queue)| xdp_md_bytes(frame.len() as u32, ifindex, queue));
    let opts = TestRunOptions {
        data_in: Some(frame),
        data_out,
        ctx_in: ctx.as_ref().map(|c| &c[..]),
        ..TestRunOptions::default()
    };
    program
        .test_run(opts)
        .map_err(|source| SteerError::Program {
            what: "BPF_PROG_TEST_RUN".into(),
            source,
        })
}

/// `struct xdp_md` for BPF_PROG_TEST_RUN: data = 0, data_end = frame length, no metadata.
fn xdp_md_bytes(len: u32, ifindex: u32, queue: u32) -> [u8; 24] {
    let mut b = [0u8; 24];
    b[4..8].copy_from_slice(&len.to_ne_bytes()); // data_end
    b[12..16].copy_from_slice(&ifindex.to_ne_bytes()); // ingress_ifindex
    b[16..20].copy_from_slice(&queue.to_ne_bytes()); // rx_queue_index
    b
}

pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

impl Drop for Steering {
    fn drop(&mut self) {
        if let Err(e) = self.detach() {
            tracing::warn!(error = %e, "detaching the XDP program on shutdown");
        }
    }
}

/// XDP action values, for readable assertions and logs.
pub mod action {
    /// Program error.
    pub const ABORTED: u32 = 0;
    /// Drop.
    pub const DROP: u32 = 1;
    /// To the kernel stack.
    pub const PASS: u32 = 2;
    /// Back out of the same interface.
    pub const TX: u32 = 3;
    /// Redirected (here: into an AF_XDP socket).
    pub const REDIRECT: u32 = 4;
}
