//! One run of a study on this worker: take its lock, see from its log whether it is done,
//! else continue it from its last checkpoint or start it, and train it to its end with a
//! checkpoint at every epoch, through the same `Session` as `train`.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use candle_core::Device;

use crate::study::lock;
use crate::study::plan::PlannedRun;
use crate::train::cifar::Cifar;
use crate::train::config::TrainConfig;
use crate::train::history;
use crate::train::session::Session;
use crate::train::trainer::{RunState, TrainEvent};

/// What a worker trains with.
pub struct Worker<'a> {
    pub data: Arc<Cifar>,
    pub device: Device,
    pub runs_dir: &'a Path,
    /// The memory limit each run is checked against (`budget::limit`).
    pub limit: Option<(u64, &'static str)>,
    /// Set to stop between two steps (Ctrl-C).
    pub stop: &'a AtomicBool,
}

/// How a run went on this worker.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Trained to its end here; `resumed` says whether from a checkpoint.
    Trained { state: RunState, resumed: bool },
    /// Its log already ends it (finished with every epoch, or diverged).
    AlreadyDone(RunState),
    /// Another worker holds it.
    Busy,
    /// Stopped at `stop`; its last checkpoint continues it.
    Interrupted,
}

/// Whether two settings are the same run: all but the epoch count, which may grow.
pub fn same_run(a: &TrainConfig, b: &TrainConfig) -> bool {
    *a == TrainConfig {
        epochs: a.epochs,
        ..b.clone()
    }
}

/// Brings `run` to its end, handing each record to `sink`. An error (an unreadable log,
/// refused memory, a failed step) leaves the run for another attempt.
pub fn run_one(
    w: &Worker,
    run: &PlannedRun,
    mut sink: impl FnMut(&TrainEvent) -> anyhow::Result<()>,
) -> anyhow::Result<Outcome> {
    let Some(_lock) = lock::try_lock(w.runs_dir, &run.name)? else {
        return Ok(Outcome::Busy);
    };
    let log = w.runs_dir.join(format!("{}.jsonl", run.name));
    if let Some(h) = history::read(&log)? {
        anyhow::ensure!(
            same_run(&h.config, &run.config),
            "run log {} holds other settings than the plan's run of that name (edited?); \
             move it away to train the run",
            log.display()
        );
        match h.end {
            Some(RunState::Diverged) => return Ok(Outcome::AlreadyDone(RunState::Diverged)),
            Some(RunState::Finished) if h.epochs_done() >= run.config.epochs => {
                return Ok(Outcome::AlreadyDone(RunState::Finished));
            }
            _ => {}
        }
    }
    crate::budget::check(&crate::budget::train(&run.config), w.limit)
        .map_err(anyhow::Error::msg)?;
    let checkpoint = w.runs_dir.join(format!("{}.safetensors", run.name));
    let resumed = checkpoint.exists();
    let data = Arc::clone(&w.data);
    let mut session = if resumed {
        Session::resume(
            &checkpoint,
            Some(run.config.epochs),
            data,
            w.device.clone(),
            w.runs_dir,
        )?
    } else {
        Session::start_named(
            run.config.clone(),
            data,
            w.device.clone(),
            w.runs_dir,
            &run.name,
        )?
    };
    if session.trainer().config() != &run.config {
        let _ = session.end(RunState::Cancelled);
        anyhow::bail!(
            "checkpoint {} holds other settings than the plan's run of that name (edited?); \
             move it away to train the run",
            checkpoint.display()
        );
    }
    session.checkpoint_each_epoch();
    let state = match session.run_until(w.stop, &mut sink) {
        Ok(state) => state,
        Err(e) => {
            let _ = session.end(RunState::Cancelled);
            return Err(e);
        }
    };
    let (end, logged) = session.end(state);
    logged?;
    sink(&end)?;
    Ok(match state {
        RunState::Cancelled => Outcome::Interrupted,
        state => Outcome::Trained { state, resumed },
    })
}
