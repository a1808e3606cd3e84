//! The training tab's state: runs queued from the lab's toggles, their curves as the
//! training worker streams them in, and which run is selected and which are compared.
//! Changed only through `app::update`, so it does no I/O.

use std::path::PathBuf;
use std::time::Duration;

use crate::budget;
use crate::config::{Activation, Arch, Init, LabConfig};
use crate::nets::conv::{ConvInit, ConvNetConfig, MAX_CONV_DEPTH};
use crate::train::config::TrainConfig;
use crate::train::datadir::DataStatus;
use crate::train::download::Progress;
use crate::train::session::RunId;
use crate::train::trainer::{RunState, TrainEvent};
use crate::ui::effect::Effect;
use crate::worker::train::{PastRun, TrainJob, TrainUpdate};

/// Past runs drawn in the charts at start (the newest); the others can be added with `c`.
const PAST_SHOWN: usize = 8;

/// Settings of a run queued from the tab that the lab's toggles do not set (the screen says
/// what they are): on two cores the CPU kernels train a depth-20 resnet at several hundred
/// images/s, so a 10 000-image epoch takes under a minute at depth 20 and the curves update
/// several times a second; five epochs show the paper's depth effect in a few minutes.
pub fn cpu_defaults() -> TrainConfig {
    TrainConfig {
        batch: 64,
        epochs: 5,
        train_subset: Some(10_000),
        test_subset: Some(2000),
        log_every: 1,
        ..TrainConfig::default()
    }
}

/// The lab's settings carried over to a conv net: resnet ⇒ skips, LL init ⇒ CReLU + LL,
/// batch norm and seed as they are, depth clamped to what the conv nets allow. Other inits
/// (Glorot, orthogonal) have no conv counterpart and train with He.
pub fn draft(base: &TrainConfig, lab: &LabConfig) -> TrainConfig {
    let (act, init) = match lab.init {
        Init::Ll => (Activation::Crelu, ConvInit::Ll),
        _ => (lab.act, ConvInit::He),
    };
    TrainConfig {
        net: ConvNetConfig {
            depth: lab.depth.clamp(2, MAX_CONV_DEPTH),
            act,
            init,
            bn: lab.bn,
            skip: lab.arch == Arch::Res,
        },
        seed: lab.seed,
        ..base.clone()
    }
}

/// What `draft` had to change in the lab's settings, said in the status bar so a queued
/// run is never silently different from the lab.
pub fn draft_note(lab: &LabConfig) -> Option<String> {
    let mut notes = Vec::new();
    let depth = lab.depth.clamp(2, MAX_CONV_DEPTH);
    if depth != lab.depth {
        notes.push(format!(
            "depth {} is queued as {depth} (the conv nets take 2..={MAX_CONV_DEPTH})",
            lab.depth
        ));
    }
    if !matches!(lab.init, Init::He | Init::Ll) {
        notes.push(format!(
            "init {} trains as he (the conv nets take he or ll)",
            crate::config::spelling(lab.init)
        ));
    }
    (!notes.is_empty()).then(|| notes.join("; "))
}

/// Where a run is, as far as the UI knows.
#[derive(Clone, Debug, PartialEq)]
pub enum Phase {
    /// Queued; the worker is loading data or building the net.
    Starting,
    Training,
    /// Finished, diverged or stopped.
    Ended(RunState),
    Failed(String),
    /// A past run whose log stops without an `end` record (the process was killed, or it is
    /// still training elsewhere).
    Unended,
}

/// One run as the tab shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct RunView {
    pub id: RunId,
    pub cfg: TrainConfig,
    pub phase: Phase,
    pub paused: bool,
    /// Loaded from a log in the runs directory at start, not trained in this session.
    pub past: bool,
    /// Drawn in the charts (compare set).
    pub shown: bool,
    pub steps_per_epoch: Option<usize>,
    pub log: Option<PathBuf>,
    /// (step, mean training loss) of each step record with a finite loss.
    pub losses: Vec<(u64, f64)>,
    /// (epoch, test accuracy) at each epoch's end.
    pub accuracy: Vec<(usize, f64)>,
    pub step: u64,
    pub epoch: usize,
    pub images_per_sec: Option<f64>,
}

impl RunView {
    fn new(id: RunId, cfg: TrainConfig) -> Self {
        Self {
            id,
            cfg,
            phase: Phase::Starting,
            paused: false,
            past: false,
            shown: true,
            steps_per_epoch: None,
            log: None,
            losses: Vec::new(),
            accuracy: Vec::new(),
            step: 0,
            epoch: 0,
            images_per_sec: None,
        }
    }

    /// A run read back from its log: its records replayed as the worker would have sent
    /// them, the steps per epoch taken from its epoch records.
    fn from_log(id: RunId, past: PastRun) -> Self {
        let mut run = Self::new(id, past.cfg);
        run.past = true;
        run.log = Some(past.log);
        run.steps_per_epoch = past.events.iter().find_map(|e| match e {
            TrainEvent::Epoch { epoch, step, .. } if *epoch > 0 => {
                Some((*step / *epoch as u64) as usize).filter(|&s| s > 0)
            }
            _ => None,
        });
        for event in past.events {
            run.record(event);
        }
        // Speeds of another session mean nothing here.
        run.images_per_sec = None;
        if !matches!(run.phase, Phase::Ended(_)) {
            run.phase = Phase::Unended;
        }
        run
    }

    /// Whether the worker still holds the run.
    pub fn is_live(&self) -> bool {
        matches!(self.phase, Phase::Starting | Phase::Training)
    }

    /// Whether the run is using the worker now (live and not paused).
    pub fn is_stepping(&self) -> bool {
        self.is_live() && !self.paused
    }

    /// Steps of the whole run, once its size is known.
    pub fn total_steps(&self) -> Option<u64> {
        self.steps_per_epoch.map(|s| (s * self.cfg.epochs) as u64)
    }

    /// Time left at the measured speed, the worker being shared with `sharing` runs (it
    /// steps them in turn). Test evaluations are not counted.
    pub fn eta(&self, sharing: usize) -> Option<Duration> {
        let left = self.total_steps()?.saturating_sub(self.step);
        let ips = self.images_per_sec.filter(|v| *v > 0.0)?;
        let secs = left as f64 * self.cfg.batch as f64 / ips * sharing.max(1) as f64;
        Some(Duration::from_secs_f64(secs))
    }

    /// The latest logged loss.
    pub fn last_loss(&self) -> Option<f64> {
        self.losses.last().map(|p| p.1)
    }

    fn record(&mut self, event: TrainEvent) {
        match event {
            TrainEvent::Step {
                step,
                epoch,
                loss,
                images_per_sec,
                state,
                ..
            } => {
                (self.step, self.epoch) = (step, epoch);
                if let Some(l) = loss {
                    self.losses.push((step, l));
                    self.images_per_sec = Some(images_per_sec);
                }
                if state.is_done() {
                    self.phase = Phase::Ended(state);
                }
            }
            TrainEvent::Epoch {
                epoch,
                step,
                test_accuracy,
                state,
                ..
            } => {
                (self.step, self.epoch) = (step, epoch);
                self.accuracy.push((epoch, test_accuracy));
                if state.is_done() {
                    self.phase = Phase::Ended(state);
                }
            }
            TrainEvent::End { step, epoch, state } => {
                (self.step, self.epoch) = (step, epoch);
                self.phase = Phase::Ended(state);
            }
        }
    }
}

/// The training tab.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainTab {
    pub runs: Vec<RunView>,
    /// Index into `runs` of the run the keys act on.
    pub selected: usize,
    next_id: RunId,
    /// None until the worker has looked at the data directory.
    pub data: Option<DataStatus>,
    /// The settings the lab's toggles do not decide.
    pub base: TrainConfig,
    /// The latest news of a download in progress (a zero total: connecting).
    pub fetch: Option<Progress>,
}

impl Default for TrainTab {
    fn default() -> Self {
        Self {
            runs: Vec::new(),
            selected: 0,
            next_id: 1,
            data: None,
            base: cpu_defaults(),
            fetch: None,
        }
    }
}

impl TrainTab {
    pub fn selected_run(&self) -> Option<&RunView> {
        self.runs.get(self.selected)
    }

    /// Runs sharing the worker now.
    pub fn stepping(&self) -> usize {
        self.runs.iter().filter(|r| r.is_stepping()).count()
    }

    /// Queues a run of the lab's settings; refused (with the reason) without data. The
    /// effects come with a note when the run differs from the lab (see `draft_note`).
    pub fn queue(
        &mut self,
        lab: &LabConfig,
        memory_limit: Option<(u64, &'static str)>,
    ) -> Result<(Vec<Effect>, Option<String>), String> {
        if let Some(DataStatus::Missing { reason, .. }) = &self.data {
            return Err(format!("cannot train: {reason}"));
        }
        let cfg = draft(&self.base, lab);
        cfg.validate().map_err(|e| format!("{e:#}"))?;
        budget::check(&budget::train(&cfg), memory_limit)?;
        let run = self.next_id;
        self.next_id += 1;
        self.runs.push(RunView::new(run, cfg.clone()));
        self.selected = self.runs.len() - 1;
        let start = Effect::Train(TrainJob::Start {
            run,
            cfg,
            device: lab.device,
        });
        Ok((vec![start], draft_note(lab)))
    }

    /// Starts fetching the data into the data root, when it is missing and there is one.
    pub fn download(&mut self) -> Result<Vec<Effect>, String> {
        if self.fetch.is_some() {
            return Ok(Vec::new());
        }
        match &self.data {
            Some(DataStatus::Missing { root: Some(_), .. }) => {
                self.fetch = Some(Progress::Bytes { done: 0, total: 0 });
                Ok(vec![Effect::Train(TrainJob::Download)])
            }
            Some(DataStatus::Missing { reason, .. }) => Err(format!("cannot download: {reason}")),
            Some(DataStatus::Found { .. }) => Err("CIFAR-10 is already here".into()),
            None => Err("still looking for the data".into()),
        }
    }

    /// Pauses or resumes the selected run, if it is live.
    pub fn toggle_pause(&mut self) -> Vec<Effect> {
        match self.runs.get_mut(self.selected) {
            Some(r) if r.is_live() => {
                r.paused = !r.paused;
                vec![Effect::Train(TrainJob::Pause {
                    run: r.id,
                    paused: r.paused,
                })]
            }
            _ => Vec::new(),
        }
    }

    /// Stops the selected run, if it is live; its `End` comes back from the worker.
    pub fn stop(&self) -> Vec<Effect> {
        match self.selected_run() {
            Some(r) if r.is_live() => vec![Effect::Train(TrainJob::Stop { run: r.id })],
            _ => Vec::new(),
        }
    }

    /// Moves the selection by `by` rows, staying in the table.
    pub fn select(&mut self, by: isize) {
        let last = self.runs.len().saturating_sub(1);
        self.selected = self.selected.saturating_add_signed(by).min(last);
    }

    /// Adds the selected run to the charts, or takes it out.
    pub fn toggle_shown(&mut self) {
        if let Some(r) = self.runs.get_mut(self.selected) {
            r.shown = !r.shown;
        }
    }

    fn live_run(&mut self, id: RunId) -> Option<&mut RunView> {
        self.runs.iter_mut().find(|r| r.id == id && r.is_live())
    }

    /// Puts the runs logged before this session ahead of this session's, in the order of
    /// their logs. Only the newest few start in the charts.
    fn add_past(&mut self, past: Vec<PastRun>) {
        let count = past.len();
        let mut loaded = Vec::with_capacity(count);
        for (i, run) in past.into_iter().enumerate() {
            let mut view = RunView::from_log(self.next_id, run);
            view.shown = i + PAST_SHOWN >= count;
            self.next_id += 1;
            loaded.push(view);
        }
        if !self.runs.is_empty() {
            self.selected += count;
        }
        self.runs.splice(0..0, loaded);
    }

    /// Files a worker update under its run. Updates of runs the tab does not know, or of
    /// runs already ended, are stale and dropped. Returns a notice for the status bar (logs
    /// that could not be loaded).
    pub fn receive(&mut self, update: TrainUpdate) -> Option<String> {
        match update {
            TrainUpdate::Data(status) => {
                self.data = Some(status);
                self.fetch = None;
            }
            TrainUpdate::Fetch(event) => {
                if self.fetch.is_some() {
                    self.fetch = Some(event);
                }
            }
            TrainUpdate::Past { runs, notes } => {
                self.add_past(runs);
                return (!notes.is_empty()).then(|| notes.join("; "));
            }
            TrainUpdate::Started {
                run,
                log,
                steps_per_epoch,
            } => {
                if let Some(r) = self.live_run(run) {
                    r.phase = Phase::Training;
                    r.log = Some(log);
                    r.steps_per_epoch = Some(steps_per_epoch);
                }
            }
            TrainUpdate::Event { run, event } => {
                if let Some(r) = self.live_run(run) {
                    r.record(event);
                }
            }
            TrainUpdate::Failed { run, error } => {
                if let Some(r) = self.live_run(run) {
                    r.phase = Phase::Failed(error);
                }
            }
        }
        None
    }
}
