//! The sweep engine off the UI thread. The UI sends [`Job`]s over a bounded channel; a worker
//! thread runs [`sweep`] and answers with one [`Update`] per depth, tagged with the settings
//! *generation* it was computed for, so the UI can drop results of settings it has left.
//! A job of a newer generation cancels the running sweep between two depths; a depth limit
//! lets the UI pause and single-step a sweep without recomputing it.

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::{self, error::TryRecvError};

use crate::config::LabConfig;
use crate::device::device_for;
use crate::lab::bank::WeightBank;
use crate::lab::depth_curves::Idealised;
use crate::lab::infinite::Limit;
use crate::lab::infinite::closed::ClosedForm;
use crate::lab::summary::DepthView;
use crate::lab::sweep::sweep_with_bank;

/// Which half of the A/B view a job or update belongs to; each side has its own worker, so
/// the two sweeps run side by side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    A,
    B,
}

/// UI to worker.
#[derive(Clone, Debug, PartialEq)]
pub enum Job {
    /// Sweep `cfg`, stopping after depth `until` (None: run to the end) until a `Limit`
    /// raises the bound.
    Sweep {
        generation: u64,
        side: Side,
        cfg: LabConfig,
        until: Option<usize>,
    },
    /// Moves the depth bound of the running sweep of `generation`.
    Limit {
        generation: u64,
        side: Side,
        until: Option<usize>,
    },
    /// Abandons any older sweep: the side has nothing to show at `generation`.
    Cancel { generation: u64, side: Side },
}

impl Job {
    /// The settings generation the job belongs to.
    pub fn generation(&self) -> u64 {
        match self {
            Job::Sweep { generation, .. }
            | Job::Limit { generation, .. }
            | Job::Cancel { generation, .. } => *generation,
        }
    }

    /// The side whose worker takes the job.
    pub fn side(&self) -> Side {
        match self {
            Job::Sweep { side, .. } | Job::Limit { side, .. } | Job::Cancel { side, .. } => *side,
        }
    }
}

/// Worker to UI. `compute` is the engine time spent on the sweep so far, waits excluded.
#[derive(Clone, Debug)]
pub enum Update {
    Depth {
        generation: u64,
        side: Side,
        view: Box<DepthView>,
        compute: Duration,
    },
    /// The theorem's idealised model simulated for the sweep's settings.
    Theory {
        generation: u64,
        side: Side,
        idealised: Box<Idealised>,
    },
    /// The infinite-width limit of the sweep's nets: a closed form before the first depth,
    /// a Monte Carlo just before `Done` (none where the settings have neither).
    Limit {
        generation: u64,
        side: Side,
        limit: Box<Limit>,
    },
    Done {
        generation: u64,
        side: Side,
        compute: Duration,
    },
    Failed {
        generation: u64,
        side: Side,
        error: String,
    },
}

impl Update {
    pub fn generation(&self) -> u64 {
        match self {
            Update::Depth { generation, .. }
            | Update::Theory { generation, .. }
            | Update::Limit { generation, .. }
            | Update::Done { generation, .. }
            | Update::Failed { generation, .. } => *generation,
        }
    }

    pub fn side(&self) -> Side {
        match self {
            Update::Depth { side, .. }
            | Update::Theory { side, .. }
            | Update::Limit { side, .. }
            | Update::Done { side, .. }
            | Update::Failed { side, .. } => *side,
        }
    }
}

/// Starts the worker thread of one side, detached: it ends at its next check once `jobs`
/// closes or `updates` is dropped, so quitting never waits on a long depth.
pub fn spawn(jobs: mpsc::Receiver<Job>, updates: mpsc::Sender<Update>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("shatterlab-worker".into())
        .spawn(move || {
            Worker {
                jobs,
                updates,
                next: None,
                latest: 0,
                bank: WeightBank::default(),
                idealised: None,
                limit: None,
            }
            .run()
        })
        .map(drop)
}

struct Worker {
    jobs: mpsc::Receiver<Job>,
    updates: mpsc::Sender<Update>,
    /// A job that arrived during a sweep and superseded it.
    next: Option<Job>,
    /// Newest generation seen: jobs older than it are stale.
    latest: u64,
    /// Weights drawn by earlier sweeps, reused by toggles that keep them.
    bank: WeightBank,
    /// The last Monte Carlo, reused while the settings it depends on stay.
    idealised: Option<Idealised>,
    /// The last infinite-width limit, reused likewise.
    limit: Option<Limit>,
}

/// Why a sweep stopped early.
enum Stop {
    Superseded,
    Gone,
}

impl Worker {
    fn run(mut self) {
        loop {
            let job = match self.next.take() {
                Some(job) => job,
                None => match self.jobs.blocking_recv() {
                    Some(job) => job,
                    None => return,
                },
            };
            self.latest = self.latest.max(job.generation());
            // A Limit or Cancel outside a sweep has nothing left to act on.
            if let Job::Sweep {
                generation,
                side,
                cfg,
                until,
            } = job
                && generation == self.latest
                && self.sweep(generation, side, &cfg, until).is_break()
            {
                return;
            }
        }
    }

    /// Runs one sweep, streaming its depths. Break when the UI has gone.
    fn sweep(
        &mut self,
        generation: u64,
        side: Side,
        cfg: &LabConfig,
        mut until: Option<usize>,
    ) -> ControlFlow<()> {
        let idealised = match self.idealised.take() {
            Some(i) if i.serves(cfg) => i,
            _ => Idealised::for_lab(cfg),
        };
        let theory = Update::Theory {
            generation,
            side,
            idealised: Box::new(idealised.clone()),
        };
        self.idealised = Some(idealised);
        if self.updates.blocking_send(theory).is_err() {
            return ControlFlow::Break(());
        }
        // A kept limit, or a closed form, goes out before the sweep; a Monte Carlo after it.
        let kept = self.limit.take().filter(|l| l.serves(cfg));
        let early = kept.or_else(|| {
            ClosedForm::of(cfg).and_then(|_| Limit::for_screen(cfg, |_| ControlFlow::Continue(())))
        });
        if let Some(limit) = early {
            if self.send_limit(generation, side, &limit).is_break() {
                return ControlFlow::Break(());
            }
            self.limit = Some(limit);
        }
        let mut compute = Duration::ZERO;
        let mut stop = None;
        let mut started = Instant::now();
        let outcome = device_for(cfg.device).and_then(|device| {
            let mut bank = std::mem::take(&mut self.bank);
            let outcome = sweep_with_bank(cfg, device, &mut bank, |result| {
                compute += started.elapsed();
                let depth = result.stats.depth;
                let view = Box::new(DepthView::new(result, cfg.points));
                let sent = self.updates.blocking_send(Update::Depth {
                    generation,
                    side,
                    view,
                    compute,
                });
                stop = if sent.is_err() {
                    Some(Stop::Gone)
                } else {
                    self.wait(generation, depth, cfg.depth, &mut until).err()
                };
                started = Instant::now();
                if stop.is_some() {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            });
            self.bank = bank;
            outcome
        });
        let update = match (stop, outcome) {
            (Some(Stop::Gone), _) => return ControlFlow::Break(()),
            (Some(Stop::Superseded), _) => return ControlFlow::Continue(()),
            (None, Ok(())) => {
                log::info!(
                    "sweep done: generation {generation}, side {side:?}, compute {:.3} s, settings {}",
                    compute.as_secs_f64(),
                    serde_json::to_string(cfg).unwrap_or_default()
                );
                Update::Done {
                    generation,
                    side,
                    compute,
                }
            }
            (None, Err(e)) => {
                log::error!("sweep failed: generation {generation}, side {side:?}: {e:#}");
                Update::Failed {
                    generation,
                    side,
                    error: format!("{e:#}"),
                }
            }
        };
        // A Monte Carlo limit goes out before Done, so a finished sweep has all it will get
        // (a script's `wait sweep` then shows the same screen on every machine).
        if matches!(update, Update::Done { .. }) && self.limit.is_none() {
            let mut gone = false;
            let sampled = Limit::for_screen(cfg, |_| match self.jobs.try_recv() {
                Ok(job) if job.generation() > generation => {
                    self.next = Some(job);
                    ControlFlow::Break(())
                }
                Ok(_) | Err(TryRecvError::Empty) => ControlFlow::Continue(()),
                Err(TryRecvError::Disconnected) => {
                    gone = true;
                    ControlFlow::Break(())
                }
            });
            if gone {
                return ControlFlow::Break(());
            }
            if let Some(limit) = sampled {
                if self.send_limit(generation, side, &limit).is_break() {
                    return ControlFlow::Break(());
                }
                self.limit = Some(limit);
            }
        }
        match self.updates.blocking_send(update) {
            Ok(()) => ControlFlow::Continue(()),
            Err(_) => ControlFlow::Break(()),
        }
    }

    /// Sends a copy of `limit`; Break when the UI has gone.
    fn send_limit(&self, generation: u64, side: Side, limit: &Limit) -> ControlFlow<()> {
        let update = Update::Limit {
            generation,
            side,
            limit: Box::new(limit.clone()),
        };
        match self.updates.blocking_send(update) {
            Ok(()) => ControlFlow::Continue(()),
            Err(_) => ControlFlow::Break(()),
        }
    }

    /// Between two depths: takes in the jobs that arrived, and blocks while the sweep has
    /// reached its depth bound short of its `last` depth. Err when a newer generation
    /// supersedes it or the UI has gone.
    fn wait(
        &mut self,
        generation: u64,
        depth: usize,
        last: usize,
        until: &mut Option<usize>,
    ) -> Result<(), Stop> {
        loop {
            let held = depth < last && until.is_some_and(|u| depth >= u);
            let job = if held {
                self.jobs.blocking_recv().ok_or(Stop::Gone)?
            } else {
                match self.jobs.try_recv() {
                    Ok(job) => job,
                    Err(TryRecvError::Empty) => return Ok(()),
                    Err(TryRecvError::Disconnected) => return Err(Stop::Gone),
                }
            };
            match job {
                Job::Limit {
                    generation: g,
                    until: u,
                    ..
                } if g == generation => *until = u,
                job if job.generation() > generation => {
                    self.next = Some(job);
                    return Err(Stop::Superseded);
                }
                _ => {}
            }
        }
    }
}
