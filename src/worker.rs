//! The engine off the UI thread. The UI sends [`Job`]s over a bounded channel; a worker
//! thread runs [`sweep`] and answers with one [`Update`] per depth, tagged with the settings
//! *generation* it was computed for, so the UI can drop results of settings it has left.
//! A job of a newer generation cancels the running sweep between two depths; a depth limit
//! lets the UI pause and single-step a sweep without recomputing it.

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::{self, error::TryRecvError};

use crate::config::LabConfig;
use crate::lab::bank::WeightBank;
use crate::lab::forward::device_for;
use crate::lab::stats::{self, Activity};
use crate::lab::sweep::{DepthResult, DepthStats, sweep_with_bank};
use crate::train_worker::TrainJob;

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
    /// For the training worker, tagged by run id rather than generation.
    Train(TrainJob),
}

impl Job {
    /// The settings generation of a sweep job; None for training jobs.
    pub fn generation(&self) -> Option<u64> {
        match self {
            Job::Sweep { generation, .. }
            | Job::Limit { generation, .. }
            | Job::Cancel { generation, .. } => Some(*generation),
            Job::Train(_) => None,
        }
    }

    /// The side whose worker takes a sweep job; None for training jobs.
    pub fn side(&self) -> Option<Side> {
        match self {
            Job::Sweep { side, .. } | Job::Limit { side, .. } | Job::Cancel { side, .. } => {
                Some(*side)
            }
            Job::Train(_) => None,
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
            | Update::Done { generation, .. }
            | Update::Failed { generation, .. } => *generation,
        }
    }

    pub fn side(&self) -> Side {
        match self {
            Update::Depth { side, .. }
            | Update::Done { side, .. }
            | Update::Failed { side, .. } => *side,
        }
    }
}

/// Largest side of the pooled correlation matrix: more than any terminal pane can show, and
/// small enough to keep one per depth.
pub const HEAT_CELLS: usize = 64;

/// What the panes need from one depth, reduced off the UI thread: statistics, the first
/// net's gradient trace, activity histograms and the pooled P x P correlation.
#[derive(Clone, Debug, PartialEq)]
pub struct DepthView {
    pub stats: DepthStats,
    /// g(x_p) of net 0.
    pub trace: Vec<f64>,
    pub activity: Activity,
    pub heat: Heat,
}

/// A square correlation matrix, block-averaged to `side` x `side`, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Heat {
    pub side: usize,
    pub cells: Vec<f64>,
}

impl DepthView {
    /// Reduces one depth of a sweep over `points` grid points.
    pub fn new(result: DepthResult, points: usize) -> Self {
        let moments = stats::second_moments(&result.grads, points);
        let corr = stats::correlation(&moments, points);
        let mut trace = result.grads;
        trace.truncate(points);
        Self {
            stats: result.stats,
            trace,
            activity: result.activity,
            heat: Heat::pool(&corr, points, HEAT_CELLS.min(points)),
        }
    }
}

impl Heat {
    /// Block-averages a `points` x `points` matrix down to `side` x `side`.
    pub fn pool(matrix: &[f64], points: usize, side: usize) -> Self {
        let span = |i: usize| (i * points / side)..((i + 1) * points / side);
        let mut cells = Vec::with_capacity(side * side);
        for r in 0..side {
            for c in 0..side {
                let (rows, cols) = (span(r), span(c));
                let count = (rows.len() * cols.len()) as f64;
                let sum: f64 = rows
                    .flat_map(|p| matrix[p * points..][cols.clone()].iter())
                    .sum();
                cells.push(sum / count);
            }
        }
        Self { side, cells }
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
            self.latest = self.latest.max(job.generation().unwrap_or(0));
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
                job if job.generation().is_some_and(|g| g > generation) => {
                    self.next = Some(job);
                    return Err(Stop::Superseded);
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooling_averages_blocks() {
        let m: Vec<f64> = (0..16).map(f64::from).collect();
        let heat = Heat::pool(&m, 4, 2);
        assert_eq!(heat.side, 2);
        assert_eq!(heat.cells, vec![2.5, 4.5, 10.5, 12.5]);
        assert_eq!(Heat::pool(&m, 4, 4).cells, m);
    }
}
