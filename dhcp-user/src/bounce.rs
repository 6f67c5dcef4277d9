//! The lab's `XDP_TX` bounce (`xdhcp_bounce`, in the same object as the steering program): what
//! `cargo xtask bench` measures the lab's ceiling with. Loaded by `xdp-echo bounce` and the
//! tests, as root; the daemon never loads it.

use aya::{
    Ebpf,
    maps::{MapData, PerCpuArray},
    programs::{Xdp, XdpMode, xdp::XdpLinkId},
};
use dhcp_common::{BOUNCE_PROGRAM_NAME, BOUNCED_MAP};

use crate::steer::{
    STEER_OBJECT, SteerError, error_chain, ifindex, load_program, take_map, test_run_xdp,
    xdp_program,
};

/// The loaded bounce program and its counter; detached on drop.
pub struct Bounce {
    ebpf: Ebpf,
    bounced: PerCpuArray<MapData, u64>,
    attached: Option<(String, XdpLinkId)>,
}

impl std::fmt::Debug for Bounce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bounce")
            .field("attached", &self.attached.as_ref().map(|a| &a.0))
            .finish_non_exhaustive()
    }
}

impl Bounce {
    /// Loads the object and the bounce program into the kernel (verifier run). Nothing is
    /// attached yet.
    pub fn load() -> Result<Self, SteerError> {
        let mut ebpf = Ebpf::load(STEER_OBJECT)?;
        let bounced = take_map(&mut ebpf, BOUNCED_MAP)?;
        load_program(&mut ebpf, BOUNCE_PROGRAM_NAME)?;
        Ok(Bounce {
            ebpf,
            bounced,
            attached: None,
        })
    }

    fn program(&mut self) -> Result<&mut Xdp, SteerError> {
        xdp_program(&mut self.ebpf, BOUNCE_PROGRAM_NAME)
    }

    /// Attaches to `ifname` in native (driver) mode only: a generic-mode bounce would measure
    /// the kernel's SKB path, not the lab's ceiling.
    pub fn attach_native(&mut self, ifname: &str) -> Result<(), SteerError> {
        self.detach()?;
        let if_index = ifindex(ifname)?;
        let id = self
            .program()?
            .attach_to_if_index(if_index, XdpMode::Driver)
            .map_err(|e| SteerError::Attach {
                ifname: ifname.to_owned(),
                detail: format!("native mode: {}", error_chain(&e)),
            })?;
        self.attached = Some((ifname.to_owned(), id));
        Ok(())
    }

    /// Detaches the program. Idempotent.
    pub fn detach(&mut self) -> Result<(), SteerError> {
        let Some((ifname, id)) = self.attached.take() else {
            return Ok(());
        };
        self.program()?
            .detach(id)
            .map_err(|source| SteerError::Program {
                what: format!("detaching the bounce program from {ifname}"),
                source,
            })
    }

    /// Frames sent back with `XDP_TX` since the load, summed over CPUs.
    pub fn bounced(&self) -> Result<u64, SteerError> {
        let per_cpu = self.bounced.get(&0, 0).map_err(|source| SteerError::Map {
            what: format!("reading the {BOUNCED_MAP} counter"),
            source,
        })?;
        Ok(per_cpu.iter().sum())
    }

    /// Runs the program once on `frame` with `BPF_PROG_TEST_RUN`; returns its XDP action and
    /// the frame as the program left it.
    pub fn test_run(&mut self, frame: &[u8]) -> Result<(u32, Vec<u8>), SteerError> {
        let mut out = vec![0u8; frame.len()];
        let result = test_run_xdp(self.program()?, frame, None, Some(&mut out))?;
        out.truncate(result.data_size_out as usize);
        Ok((result.return_value, out))
    }
}

impl Drop for Bounce {
    fn drop(&mut self) {
        if let Err(e) = self.detach() {
            tracing::warn!(error = %e, "detaching the bounce program");
        }
    }
}
