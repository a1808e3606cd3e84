//! One training run's lifecycle, shared by headless `train` and the TUI's training worker:
//! start (or resume) with the header record in the run log, steps whose records are logged,
//! checkpoints, and the closing `end` record, built only here.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use candle_core::Device;

use crate::train::checkpoint;
use crate::train::cifar::Cifar;
use crate::train::config::TrainConfig;
use crate::train::runlog::{Header, RunLog, run_name};
use crate::train::trainer::{RunState, TrainEvent, Trainer};

/// Identifies a run among several trained side by side (the TUI's queue, its worker's
/// protocol and its charts).
pub type RunId = u64;

/// A run with its log open.
pub struct Session {
    trainer: Trainer,
    log: RunLog,
    /// The run's name: its log is `<name>.jsonl`, its checkpoint `<name>.safetensors`.
    name: String,
    /// "config" for a fresh run, "resume" for a continued one.
    kind: &'static str,
    runs_dir: PathBuf,
    /// Save a checkpoint at each epoch's end, before its epoch record is logged.
    checkpoint_each_epoch: bool,
}

/// Says that a log's torn last line was cut. Only headless commands (`train`, `study run`)
/// reopen logs: stderr is the user's.
fn note_repair(repaired: Option<String>) {
    if let Some(note) = repaired {
        eprintln!("note: {note}");
        log::warn!("{note}");
    }
}

impl Session {
    /// Builds a fresh run's net and opens a new log under `runs_dir` with its header.
    pub fn start(
        cfg: TrainConfig,
        data: Arc<Cifar>,
        device: Device,
        runs_dir: &Path,
    ) -> anyhow::Result<Self> {
        let started = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let trainer = Trainer::new(cfg, data, device)?;
        let (log, name) = RunLog::create(runs_dir, &run_name(trainer.config(), started))?;
        Self::open(trainer, log, name, "config", runs_dir)
    }

    /// Starts run `name` afresh, its name fixed by the caller (a study names runs by their
    /// settings). An existing log is continued with a new `config` header, which supersedes
    /// the records of an attempt that never reached a checkpoint.
    pub fn start_named(
        cfg: TrainConfig,
        data: Arc<Cifar>,
        device: Device,
        runs_dir: &Path,
        name: &str,
    ) -> anyhow::Result<Self> {
        let trainer = Trainer::new(cfg, data, device)?;
        let (log, repaired) = RunLog::reopen(runs_dir, name)?;
        note_repair(repaired);
        Self::open(trainer, log, name.to_string(), "config", runs_dir)
    }

    /// Continues the run saved in `checkpoint` (for `epochs` in all, if given); its records
    /// are appended to its log under `runs_dir`.
    pub fn resume(
        checkpoint: &Path,
        epochs: Option<usize>,
        data: Arc<Cifar>,
        device: Device,
        runs_dir: &Path,
    ) -> anyhow::Result<Self> {
        let restored = checkpoint::load(checkpoint, data, device)?;
        let mut trainer = restored.trainer;
        if let Some(epochs) = epochs {
            trainer.set_epochs(epochs)?;
        }
        let (log, repaired) = RunLog::reopen(runs_dir, &restored.run)?;
        note_repair(repaired);
        Self::open(trainer, log, restored.run, "resume", runs_dir)
    }

    fn open(
        trainer: Trainer,
        log: RunLog,
        name: String,
        kind: &'static str,
        runs_dir: &Path,
    ) -> anyhow::Result<Self> {
        let mut session = Self {
            trainer,
            log,
            name,
            kind,
            runs_dir: runs_dir.to_path_buf(),
            checkpoint_each_epoch: false,
        };
        let header = serde_json::to_vec(&session.header())?;
        session.log.append_raw(header)?;
        log::info!(
            "training run {} {}: {}",
            session.log.path().display(),
            if kind == "config" {
                "started"
            } else {
                "resumed"
            },
            serde_json::to_string(session.trainer.config()).unwrap_or_default()
        );
        Ok(session)
    }

    /// The record that opened this stretch of the run's log.
    pub fn header(&self) -> Header<'_> {
        Header {
            kind: self.kind,
            run: &self.name,
            seed: self.trainer.config().seed,
            step: self.trainer.progress().step,
            config: self.trainer.config(),
        }
    }

    pub fn trainer(&self) -> &Trainer {
        &self.trainer
    }

    pub fn log_path(&self) -> &Path {
        self.log.path()
    }

    /// Where `checkpoint` saves this run.
    pub fn checkpoint_path(&self) -> PathBuf {
        self.runs_dir.join(format!("{}.safetensors", self.name))
    }

    /// Saves the run so `--resume` can continue it.
    pub fn checkpoint(&self) -> anyhow::Result<()> {
        checkpoint::save(&self.trainer, &self.name, &self.checkpoint_path())
    }

    /// From now on, save a checkpoint at the end of every epoch.
    pub fn checkpoint_each_epoch(&mut self) {
        self.checkpoint_each_epoch = true;
    }

    /// One optimisation step; its records are in the log when this returns. An epoch
    /// record is logged only once the checkpoint it announces is on disk.
    pub fn step(&mut self) -> anyhow::Result<Vec<TrainEvent>> {
        let events = self.trainer.step()?;
        for event in &events {
            if self.checkpoint_each_epoch && matches!(event, TrainEvent::Epoch { .. }) {
                self.checkpoint()?;
            }
            self.log.append(event)?;
        }
        Ok(events)
    }

    /// Steps until the run ends by itself or `stop` is set (then it is `Cancelled`), handing
    /// each record to `sink`; the `end` record is left to [`Session::end`].
    pub fn run_until(
        &mut self,
        stop: &AtomicBool,
        mut sink: impl FnMut(&TrainEvent) -> anyhow::Result<()>,
    ) -> anyhow::Result<RunState> {
        loop {
            if stop.load(Ordering::Relaxed) {
                return Ok(RunState::Cancelled);
            }
            if let Some(state) = self.done() {
                return Ok(state);
            }
            for event in self.step().context("training step failed")? {
                sink(&event)?;
            }
        }
    }

    /// Whether the run has ended by itself (finished or diverged), and how.
    pub fn done(&self) -> Option<RunState> {
        let state = self.trainer.state();
        state.is_done().then_some(state)
    }

    /// Closes the run with its `end` record, returned for the front end beside whether the
    /// log took it: the run is over either way.
    pub fn end(mut self, state: RunState) -> (TrainEvent, anyhow::Result<()>) {
        let p = self.trainer.progress();
        let event = TrainEvent::End {
            step: p.step,
            epoch: p.epoch,
            state,
        };
        let logged = self.log.append(&event);
        if logged.is_ok() {
            log::info!(
                "training run {} ended ({state:?}) at step {}",
                self.log.path().display(),
                p.step
            );
        }
        (event, logged)
    }
}
