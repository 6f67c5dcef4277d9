//! The operator's handle on a running server: counters, questions to the workers' engines,
//! live reconfiguration, failover commands. The control API, the signal handlers and the tests
//! all go through it; it is cheap to clone and safe to use from any thread.
//!
//! Questions to the engines run as jobs on the worker threads between two batches (the
//! engines are owned by their workers; there is no lock on the request path). A reload is a
//! rendezvous of every worker, the failover control thread and the caller: while all are
//! stopped the new address space takes over every address's state, then each switches to the
//! new plan before touching another packet.

use std::{
    path::PathBuf,
    sync::{Arc, Barrier, Mutex},
    time::{Duration, Instant},
};

use dhcp_core::{
    config::Config,
    engine::{Engine, Plan, reload},
    lease::Migration,
};
use tokio::sync::{mpsc, oneshot};

use crate::{
    failover::{CtlMsg, PlaneStatus, Rendezvous},
    journal::{JournalStats, WorkerJournal},
    notify::Notify,
    server::{Job, WorkerStats},
    steer::Steering,
};

/// How long a question to the workers may take.
const ASK_TIMEOUT: Duration = Duration::from_secs(10);

/// Why an operation failed.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// A worker did not answer in time (it may be stuck or gone).
    #[error("worker {0} did not answer within {1:?}")]
    Timeout(usize, Duration),
    /// The configuration cannot be applied; every reason is listed.
    #[error("configuration not applied:\n{}", .0.join("\n"))]
    Config(Vec<String>),
    /// Something else, with its reason.
    #[error("{0}")]
    Other(String),
}

/// What a reload did.
#[derive(Clone, Debug, Default)]
pub struct ReloadReport {
    /// Address states carried over, added, dropped, and held addresses whose pool went away.
    pub migration: Migration,
    /// Subnets and relationships before and after.
    pub subnets: (usize, usize),
    /// Failover relationships before and after.
    pub relationships: (usize, usize),
    /// Notes from the failover control thread (listeners bound or closed, …).
    pub notes: Vec<String>,
    /// How long workers were paused.
    pub paused: Duration,
}

pub(crate) struct Inner {
    pub(crate) plan: Mutex<Arc<Plan>>,
    pub(crate) jobs: Vec<crossbeam::channel::Sender<Job>>,
    pub(crate) journals: Vec<WorkerJournal>,
    pub(crate) notifies: Arc<Vec<Notify>>,
    pub(crate) failover: mpsc::UnboundedSender<CtlMsg>,
    pub(crate) failover_status: Arc<Mutex<PlaneStatus>>,
    pub(crate) reload_lock: Mutex<()>,
    pub(crate) stats: Vec<Arc<Mutex<WorkerStats>>>,
    pub(crate) journal_stats: Arc<JournalStats>,
    pub(crate) config_path: Mutex<Option<PathBuf>>,
    pub(crate) started: Instant,
    pub(crate) steering: Arc<Mutex<Vec<Steering>>>,
}

/// The handle.
#[derive(Clone)]
pub struct Ops {
    pub(crate) inner: Arc<Inner>,
}

impl Ops {
    /// The configuration in force, compiled.
    pub fn plan(&self) -> Arc<Plan> {
        match self.inner.plan.lock() {
            Ok(p) => p.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Number of workers.
    pub fn workers(&self) -> usize {
        self.inner.jobs.len()
    }

    /// Time since start.
    pub fn uptime(&self) -> Duration {
        self.inner.started.elapsed()
    }

    /// Remembers the file `reload_file` reads.
    pub fn set_config_path(&self, p: PathBuf) {
        if let Ok(mut g) = self.inner.config_path.lock() {
            *g = Some(p);
        }
    }

    /// The configuration file, when known.
    pub fn config_path(&self) -> Option<PathBuf> {
        self.inner.config_path.lock().ok().and_then(|g| g.clone())
    }

    /// Per-worker counters (refreshed twice a second), and their sum.
    pub fn stats(&self) -> (Vec<WorkerStats>, WorkerStats) {
        let per: Vec<WorkerStats> = self
            .inner
            .stats
            .iter()
            .map(|s| s.lock().map(|g| g.clone()).unwrap_or_default())
            .collect();
        let mut t = WorkerStats::default();
        for s in &per {
            t.add(s);
        }
        (per, t)
    }

    /// Journal counters.
    pub fn journal_stats(&self) -> &JournalStats {
        &self.inner.journal_stats
    }

    /// Waits until worker `w`'s journal entries up to `seq` are durable (in background sync
    /// mode: written), so an operator's change survives a crash before it is confirmed.
    pub fn wait_durable(&self, w: usize, seq: u64, timeout: Duration) -> Result<(), OpsError> {
        let Some(j) = self.inner.journals.get(w) else {
            return Err(OpsError::Other(format!("no worker {w}")));
        };
        let end = Instant::now() + timeout;
        while j.durable() < seq {
            if Instant::now() >= end {
                return Err(OpsError::Other(format!(
                    "the journal did not make the change durable within {timeout:?}"
                )));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(())
    }

    /// The XDP program's decision counters (summed over CPUs, indexed by
    /// `dhcp_common::SteerStat`), per interface it is attached to. Empty on the socket backend.
    pub fn steering_stats(&self) -> Vec<(String, Vec<u64>)> {
        let Ok(planes) = self.inner.steering.lock() else {
            return Vec::new();
        };
        planes
            .iter()
            .filter_map(|p| {
                let name = p.attached_to()?.to_owned();
                Some((name, p.stats().ok()?.to_vec()))
            })
            .collect()
    }

    /// Failover relationships and counters (refreshed five times a second).
    pub fn failover_status(&self) -> PlaneStatus {
        self.inner
            .failover_status
            .lock()
            .map(|g| g.clone())
            .unwrap_or_default()
    }

    /// Operator: the partner of relationship `name` is down (draft-12 §9.5).
    pub fn partner_down(&self, name: &str) -> Result<(), OpsError> {
        let (done, rx) = oneshot::channel();
        self.inner
            .failover
            .send(CtlMsg::PartnerDown {
                name: name.to_owned(),
                done,
            })
            .map_err(|_| OpsError::Other("the failover control thread is not running".into()))?;
        rx.blocking_recv()
            .map_err(|_| OpsError::Other("the failover control thread did not answer".into()))?
            .map_err(OpsError::Other)
    }

    /// Runs `f` on every worker's engine (between batches) and returns the answers in worker
    /// order.
    pub fn ask<R, F>(&self, f: F) -> Result<Vec<R>, OpsError>
    where
        R: Send + 'static,
        F: Fn(usize, &mut Engine) -> R + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        let (tx, rx) = crossbeam::channel::unbounded();
        for (w, jobs) in self.inner.jobs.iter().enumerate() {
            let f = f.clone();
            let tx = tx.clone();
            let job: Job = Box::new(move |e: &mut Engine| {
                let _ = tx.send((w, f(w, e)));
            });
            if jobs.send(job).is_err() {
                return Err(OpsError::Other(format!("worker {w} is not running")));
            }
            self.inner.notifies[w].wake();
        }
        drop(tx);
        let mut out: Vec<Option<R>> = (0..self.inner.jobs.len()).map(|_| None).collect();
        let end = Instant::now() + ASK_TIMEOUT;
        for _ in 0..self.inner.jobs.len() {
            match rx.recv_deadline(end) {
                Ok((w, r)) => out[w] = Some(r),
                Err(_) => {
                    let w = out.iter().position(Option::is_none).unwrap_or(0);
                    return Err(OpsError::Timeout(w, ASK_TIMEOUT));
                }
            }
        }
        Ok(out.into_iter().flatten().collect())
    }

    /// Runs `f` on the engine of worker `w` only.
    pub fn ask_one<R, F>(&self, w: usize, f: F) -> Result<R, OpsError>
    where
        R: Send + 'static,
        F: FnOnce(&mut Engine) -> R + Send + 'static,
    {
        let Some(jobs) = self.inner.jobs.get(w) else {
            return Err(OpsError::Other(format!("no worker {w}")));
        };
        let (tx, rx) = crossbeam::channel::bounded(1);
        let job: Job = Box::new(move |e: &mut Engine| {
            let _ = tx.send(f(e));
        });
        jobs.send(job)
            .map_err(|_| OpsError::Other(format!("worker {w} is not running")))?;
        self.inner.notifies[w].wake();
        rx.recv_timeout(ASK_TIMEOUT)
            .map_err(|_| OpsError::Timeout(w, ASK_TIMEOUT))
    }

    /// The worker owning the shard of a client key.
    pub fn worker_of_shard(&self, shard: u16) -> usize {
        usize::from(shard) % self.inner.jobs.len().max(1)
    }

    /// Reads, validates and applies the configuration file (SIGHUP, the API's reload).
    pub fn reload_file(&self) -> Result<ReloadReport, OpsError> {
        let Some(path) = self.config_path() else {
            return Err(OpsError::Other("no configuration file is known".into()));
        };
        let cfg = dhcp_core::config::load(&path).map_err(|errors| {
            OpsError::Config(errors.to_string().lines().map(str::to_owned).collect())
        })?;
        self.reload(cfg)
    }

    /// Applies a validated configuration without a restart. Refused, with every reason and
    /// nothing changed, when a restart-only setting differs.
    pub fn reload(&self, cfg: Config) -> Result<ReloadReport, OpsError> {
        let _one = self
            .inner
            .reload_lock
            .lock()
            .map_err(|_| OpsError::Other("a previous reload failed half-way".into()))?;
        let old = self.plan();
        let refused = reload::restart_only_changes(&old.cfg, &cfg);
        if !refused.is_empty() {
            return Err(OpsError::Config(refused));
        }
        // Compiling the new plan (allocating its address space) happens while serving.
        let plan = reload::build(&old, cfg);
        let workers = self.inner.jobs.len();
        let parties = workers + 2; // workers, the failover thread, us
        let rv = Arc::new(Rendezvous {
            paused: Barrier::new(parties),
            switch: Barrier::new(parties),
            resumed: Barrier::new(parties),
            plan: plan.clone(),
        });
        let (done, notes_rx) = oneshot::channel();
        self.inner
            .failover
            .send(CtlMsg::Reload {
                rv: rv.clone(),
                done,
            })
            .map_err(|_| OpsError::Other("the failover control thread is not running".into()))?;
        for (w, jobs) in self.inner.jobs.iter().enumerate() {
            let rv = rv.clone();
            let job: Job = Box::new(move |e: &mut Engine| {
                rv.paused.wait();
                rv.switch.wait();
                e.set_plan(rv.plan.clone());
                rv.resumed.wait();
            });
            if jobs.send(job).is_err() {
                // A worker is gone: the rendezvous could never complete. Nothing was switched
                // yet, but the others are waiting; this is fatal for the process anyway.
                return Err(OpsError::Other(format!(
                    "worker {w} is not running; restart the daemon"
                )));
            }
            self.inner.notifies[w].wake();
        }
        rv.paused.wait();
        let t = Instant::now();
        let migration = reload::switch(&old, &plan);
        rv.switch.wait();
        rv.resumed.wait();
        let paused = t.elapsed();
        if let Ok(mut p) = self.inner.plan.lock() {
            *p = plan.clone();
        }
        let notes = notes_rx.blocking_recv().unwrap_or_default();
        Ok(ReloadReport {
            migration,
            subnets: (old.cfg.subnets.len(), plan.cfg.subnets.len()),
            relationships: (old.cfg.failover.len(), plan.cfg.failover.len()),
            notes,
            paused,
        })
    }

    /// Operator: copies the scopes (`[[subnet]]` tables: pools, exclusions, options,
    /// reservations, lease times) of relationship `name` from this server's configuration
    /// file to the partner's, overwriting them there (Windows'
    /// `Invoke-DhcpServerv4FailoverReplication`). Authenticated by the relationship's digest;
    /// refused when the partner is unreachable, and when the file does not match the running
    /// configuration (reload first).
    pub fn replicate(&self, name: &str) -> Result<String, OpsError> {
        let plan = self.plan();
        let Some(r) = plan.cfg.failover.iter().find(|r| r.name == name) else {
            return Err(OpsError::Other(format!(
                "no failover relationship named {name:?}"
            )));
        };
        let path = self
            .config_path()
            .ok_or_else(|| OpsError::Other("no configuration file is known".into()))?;
        let text = std::fs::read_to_string(&path)
            .map_err(|e| OpsError::Other(format!("{}: {e}", path.display())))?;
        let on_disk = dhcp_core::config::load(&path).map_err(|errors| {
            OpsError::Config(errors.to_string().lines().map(str::to_owned).collect())
        })?;
        for id in &r.subnets {
            let running = plan.cfg.subnets.iter().find(|s| s.id == *id);
            let file = on_disk.subnets.iter().find(|s| s.id == *id);
            if running != file {
                return Err(OpsError::Other(format!(
                    "{}: subnet {} differs from the running configuration; reload first, so that what is replicated is what this server serves",
                    path.display(),
                    id.0
                )));
            }
        }
        let toml = dhcp_core::config::edit::subnet_tables(&text, &r.subnets)
            .map_err(|e| OpsError::Other(format!("{}: {e}", path.display())))?;
        let (done, rx) = oneshot::channel();
        self.inner
            .failover
            .send(CtlMsg::Replicate {
                name: name.to_owned(),
                toml,
                done,
            })
            .map_err(|_| OpsError::Other("the failover control thread is not running".into()))?;
        rx.blocking_recv()
            .map_err(|_| OpsError::Other("the failover control thread did not answer".into()))?
            .map_err(OpsError::Other)
    }

    /// Writes scopes a partner replicated to us into the configuration file and applies it;
    /// on any error the file is put back and the running configuration stays.
    pub fn apply_replicated(&self, relationship: &str, toml: &str) -> Result<String, String> {
        let plan = self.plan();
        let Some(r) = plan.cfg.failover.iter().find(|r| r.name == relationship) else {
            return Err(format!("no relationship named {relationship:?} here"));
        };
        let path = self
            .config_path()
            .ok_or_else(|| "this server has no configuration file".to_owned())?;
        let own = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let (merged, ids) = dhcp_core::config::edit::splice_subnets(&own, toml)?;
        if let Some(id) = ids.iter().find(|id| !r.subnets.iter().any(|s| s.0 == **id)) {
            return Err(format!(
                "subnet {id} is not in relationship {relationship} on this server; nothing changed"
            ));
        }
        crate::api::reservations::write_config(&path, &merged)
            .map_err(|e| format!("{}: {e}; nothing changed", path.display()))?;
        match self.reload_file() {
            Ok(rep) => Ok(format!(
                "replaced subnet(s) {ids:?} in {}; reloaded ({} -> {} subnets)",
                path.display(),
                rep.subnets.0,
                rep.subnets.1
            )),
            Err(e) => {
                let _ = crate::api::reservations::write_config(&path, &own);
                Err(format!("{e}; {} put back, nothing changed", path.display()))
            }
        }
    }
}
