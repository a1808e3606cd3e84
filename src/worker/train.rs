//! CIFAR-10 training off the UI thread. The UI sends [`TrainJob`]s tagged with a run id; the
//! worker thread steps every unpaused run in turn (one optimisation step each), so several
//! runs' curves grow side by side, and answers with [`TrainUpdate`]s tagged with the same id.
//! Each run appends its JSONL log under the runs directory, as headless runs do. Without
//! data, the worker can fetch it with the same downloader as `shatterlab data download`.
//! At start it reads back the runs already logged there, for the tab to show as past runs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::mpsc::{self, error::TryRecvError};

use crate::config::DeviceKind;
use crate::device::device_for;
use crate::train::cifar::{Cifar, TRAIN_FILES};
use crate::train::config::TrainConfig;
use crate::train::datadir::{DataStatus, batches_dir};
use crate::train::download::{self, Progress, Retry, Source};
use crate::train::runlog;
use crate::train::session::{RunId, Session};
use crate::train::trainer::{RunState, TrainEvent};

/// UI to training worker.
#[derive(Clone, Debug, PartialEq)]
pub enum TrainJob {
    /// Start a run; it trains until done, stopped or failed.
    Start {
        run: RunId,
        cfg: TrainConfig,
        device: DeviceKind,
    },
    /// Holds (or releases) a run between two steps.
    Pause { run: RunId, paused: bool },
    /// Ends a run between two steps; it reports `End` with `Cancelled`.
    Stop { run: RunId },
    /// Fetches CIFAR-10 into the data root; reports progress, then the data status again.
    Download,
}

/// Training worker to UI.
#[derive(Clone, Debug, PartialEq)]
pub enum TrainUpdate {
    Data(DataStatus),
    /// The run's net is built and its log opened.
    Started {
        run: RunId,
        log: PathBuf,
        steps_per_epoch: usize,
    },
    /// A record of the trainer (the same ones the headless command prints).
    Event {
        run: RunId,
        event: TrainEvent,
    },
    /// The run could not start or a step failed; it is gone from the worker.
    Failed {
        run: RunId,
        error: String,
    },
    /// How a download is going (progress at most once per 0.1%).
    Fetch(Progress),
    /// The runs logged in the runs directory before this session (sent once at start when
    /// there is anything to say), and notes on the logs left out, each with why.
    Past {
        runs: Vec<PastRun>,
        notes: Vec<String>,
    },
}

/// A run read back from its log in the runs directory.
#[derive(Clone, Debug, PartialEq)]
pub struct PastRun {
    pub log: PathBuf,
    pub cfg: TrainConfig,
    /// Its step, epoch and end records, in order.
    pub events: Vec<TrainEvent>,
}

/// The newest logs the tab loads at start; older ones stay on disk (`export` reads them all).
const MAX_PAST_RUNS: usize = 24;
/// Longest log the tab reads (a full-data run logging every step stays well below).
const MAX_PAST_LOG_BYTES: u64 = 16 << 20;

/// The newest logs in `dir` that hold a run's settings, oldest first. A log that cannot be
/// read or has no readable settings is skipped with a note; none of it is fatal.
pub fn past_runs(dir: &Path) -> (Vec<PastRun>, Vec<String>) {
    let mut notes = Vec::new();
    let paths = match runlog::log_paths(dir) {
        Ok(paths) => paths,
        Err(e) => return (Vec::new(), vec![format!("{e:#}")]),
    };
    if paths.len() > MAX_PAST_RUNS {
        notes.push(format!(
            "the training tab shows the newest {MAX_PAST_RUNS} of the {} runs logged in {}",
            paths.len(),
            dir.display()
        ));
    }
    let newest = &paths[paths.len().saturating_sub(MAX_PAST_RUNS)..];
    let mut runs = Vec::with_capacity(newest.len());
    for path in newest {
        match runlog::read_log(path, MAX_PAST_LOG_BYTES).and_then(|log| {
            let cfg = log.config()?;
            Ok(PastRun {
                log: log.path,
                cfg,
                events: log.events,
            })
        }) {
            Ok(run) => runs.push(run),
            Err(e) => {
                log::warn!("past run skipped: {e:#}");
                notes.push(format!("skipped {e:#}"));
            }
        }
    }
    (runs, notes)
}

/// Where the training worker finds data and writes logs.
#[derive(Clone, Debug)]
pub struct TrainPaths {
    /// The data root (`--data-dir`, `SHATTERLAB_DATA`, XDG), or why there is none.
    pub data_root: Result<PathBuf, String>,
    pub runs_dir: PathBuf,
    /// Where a download fetches the archive from (the official URL, or a mirror).
    pub source: Source,
}

/// Whether `root` holds the binary batches (directly or in `cifar-10-batches-bin`).
pub fn probe(paths: &TrainPaths) -> DataStatus {
    match &paths.data_root {
        Ok(root) => {
            let dir = batches_dir(root);
            if dir.join(TRAIN_FILES[0]).is_file() {
                DataStatus::Found { dir }
            } else {
                DataStatus::Missing {
                    root: Some(root.clone()),
                    reason: format!("no CIFAR-10 in {}", dir.display()),
                }
            }
        }
        Err(e) => DataStatus::Missing {
            root: None,
            reason: e.clone(),
        },
    }
}

/// Starts the training worker thread: it ends once `jobs` closes or `updates` is dropped,
/// after writing the `End` record of every run still going. It first reports whether the
/// data is there.
pub fn spawn(
    paths: TrainPaths,
    jobs: mpsc::Receiver<TrainJob>,
    updates: mpsc::Sender<TrainUpdate>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("shatterlab-train".into())
        .spawn(move || {
            let worker = Worker {
                paths,
                jobs,
                updates,
                data: None,
                runs: Vec::new(),
                turn: 0,
            };
            worker.run();
        })
}

/// A run in progress.
struct Active {
    id: RunId,
    session: Session,
    paused: bool,
}

struct Worker {
    paths: TrainPaths,
    jobs: mpsc::Receiver<TrainJob>,
    updates: mpsc::Sender<TrainUpdate>,
    /// Loaded on the first run and shared by all.
    data: Option<Arc<Cifar>>,
    runs: Vec<Active>,
    /// Round-robin position: the next run to step.
    turn: usize,
}

/// The UI has gone.
struct Gone;

impl Worker {
    fn run(mut self) {
        let status = probe(&self.paths);
        if self.send(TrainUpdate::Data(status)).is_err() {
            return;
        }
        let (runs, notes) = past_runs(&self.paths.runs_dir);
        if !(runs.is_empty() && notes.is_empty())
            && self.send(TrainUpdate::Past { runs, notes }).is_err()
        {
            return;
        }
        while self.tick().is_ok() {}
        // The UI has gone (the user quit): close every run's log as cancelled.
        for r in self.runs.drain(..) {
            log::info!(
                "training run {} cancelled on quit",
                r.session.log_path().display()
            );
            if let (_, Err(e)) = r.session.end(RunState::Cancelled) {
                log::error!("{e:#}");
            }
        }
    }

    /// Takes in the jobs that arrived (waiting for one when nothing can run), then steps
    /// the next unpaused run.
    fn tick(&mut self) -> Result<(), Gone> {
        if !self.runs.iter().any(|r| !r.paused) {
            let job = self.jobs.blocking_recv().ok_or(Gone)?;
            self.take(job)?;
        }
        loop {
            match self.jobs.try_recv() {
                Ok(job) => self.take(job)?,
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return Err(Gone),
            }
        }
        let n = self.runs.len();
        let next = (0..n)
            .map(|k| (self.turn + k) % n)
            .find(|&i| !self.runs[i].paused);
        match next {
            Some(i) => {
                self.turn = i + 1;
                self.step(i)
            }
            None => Ok(()),
        }
    }

    fn take(&mut self, job: TrainJob) -> Result<(), Gone> {
        match job {
            TrainJob::Start { run, cfg, device } => match self.start(run, cfg, device) {
                Ok(active) => {
                    let started = TrainUpdate::Started {
                        run,
                        log: active.session.log_path().to_path_buf(),
                        steps_per_epoch: active.session.trainer().steps_per_epoch(),
                    };
                    self.runs.push(active);
                    self.send(started)
                }
                Err(e) => self.fail(run, &e),
            },
            TrainJob::Pause { run, paused } => {
                if let Some(r) = self.runs.iter_mut().find(|r| r.id == run) {
                    r.paused = paused;
                }
                Ok(())
            }
            TrainJob::Stop { run } => match self.runs.iter().position(|r| r.id == run) {
                Some(i) => {
                    let r = self.runs.remove(i);
                    log::info!("training run {} stopped", r.session.log_path().display());
                    self.end(r, RunState::Cancelled)
                }
                None => Ok(()),
            },
            TrainJob::Download => self.download(),
        }
    }

    /// Fetches the data on this thread (nothing trains without it), then reports whether
    /// it is there now.
    fn download(&mut self) -> Result<(), Gone> {
        let Ok(root) = self.paths.data_root.clone() else {
            return self.send(TrainUpdate::Data(probe(&self.paths)));
        };
        log::info!(
            "downloading CIFAR-10 from {} into {}",
            self.paths.source.url,
            root.display()
        );
        let mut shown = None;
        let mut gone = false;
        let outcome = download::download(&self.paths.source, &root, Retry::default(), |event| {
            if let Progress::Bytes { done, total } = event {
                let permille = done * 1000 / total.max(1);
                if shown == Some(permille) {
                    return;
                }
                shown = Some(permille);
            }
            gone |= self.send(TrainUpdate::Fetch(event)).is_err();
        });
        if gone {
            return Err(Gone);
        }
        let status = match outcome {
            Ok(_) => probe(&self.paths),
            Err(e) => {
                log::error!("download failed: {e:#}");
                DataStatus::Missing {
                    root: Some(root),
                    reason: format!("download failed: {e:#}"),
                }
            }
        };
        self.send(TrainUpdate::Data(status))
    }

    /// Builds the run's trainer and opens its log with the config header.
    fn start(&mut self, id: RunId, cfg: TrainConfig, device: DeviceKind) -> anyhow::Result<Active> {
        let data = match &self.data {
            Some(d) => d.clone(),
            None => {
                let root = self.paths.data_root.clone().map_err(anyhow::Error::msg)?;
                let d = Arc::new(Cifar::load_dir(&batches_dir(&root))?);
                self.data = Some(d.clone());
                d
            }
        };
        let session = Session::start(cfg, data, device_for(device)?, &self.paths.runs_dir)?;
        Ok(Active {
            id,
            session,
            paused: false,
        })
    }

    /// One step of run `i`: its records go to the log and the UI; a finished run leaves.
    fn step(&mut self, i: usize) -> Result<(), Gone> {
        let r = &mut self.runs[i];
        let id = r.id;
        let events = match r.session.step() {
            Ok(events) => events,
            Err(e) => {
                self.runs.remove(i);
                return self.fail(id, &e.context("training step failed"));
            }
        };
        for event in events {
            self.send(TrainUpdate::Event { run: id, event })?;
        }
        if let Some(state) = self.runs[i].session.done() {
            let r = self.runs.remove(i);
            if state == RunState::Diverged {
                log::warn!(
                    "training run {} diverged at step {}",
                    r.session.log_path().display(),
                    r.session.trainer().progress().step
                );
            }
            self.end(r, state)?;
        }
        Ok(())
    }

    /// Closes a run: the `End` record in its log and to the UI.
    fn end(&mut self, r: Active, state: RunState) -> Result<(), Gone> {
        let (event, logged) = r.session.end(state);
        if let Err(e) = logged {
            log::error!("{e:#}");
        }
        self.send(TrainUpdate::Event { run: r.id, event })
    }

    fn fail(&mut self, run: RunId, e: &anyhow::Error) -> Result<(), Gone> {
        log::error!("training run {run} failed: {e:#}");
        self.send(TrainUpdate::Failed {
            run,
            error: format!("{e:#}"),
        })
    }

    fn send(&self, update: TrainUpdate) -> Result<(), Gone> {
        self.updates.blocking_send(update).map_err(|_| Gone)
    }
}
