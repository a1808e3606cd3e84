//! The lab's state and its only mutator, `update`: plain data in, jobs for the worker out,
//! no I/O, so key sequences can be tested without a terminal or threads.

use std::time::Duration;

use crate::config::{Activation, Arch, Init, LabConfig, MAX_DEPTH};
use crate::lab::stats::{self, Noise};
use crate::train_worker::TrainUpdate;
use crate::ui::theme::Theme;
use crate::ui::train::TrainTab;
use crate::worker::{DepthView, Job, Side, Update};

/// The two screens: the 1-D lab and CIFAR-10 training.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tab {
    Lab,
    Train,
}

/// Which tab a command acts on; the footer and help show only the current tab's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Both,
    Lab,
    Train,
}

impl Scope {
    pub fn includes(self, tab: Tab) -> bool {
        match self {
            Scope::Both => true,
            Scope::Lab => tab == Tab::Lab,
            Scope::Train => tab == Tab::Train,
        }
    }
}

/// The panes, in focus order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pane {
    Trace,
    Acf,
    Heatmap,
    Depth,
    Activity,
}

impl Pane {
    pub const ALL: [Pane; 5] = [
        Pane::Trace,
        Pane::Acf,
        Pane::Heatmap,
        Pane::Depth,
        Pane::Activity,
    ];

    fn step(self, by: isize) -> Pane {
        let i = Self::ALL.iter().position(|p| *p == self).unwrap_or(0) as isize;
        Self::ALL[(i + by).rem_euclid(Self::ALL.len() as isize) as usize]
    }
}

/// The settings a single key flips; the A/B view shows B with the last one flipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Toggle {
    Skip,
    Bn,
    Ll,
}

impl Toggle {
    /// `cfg` with this setting flipped. Looks-linear init needs CReLU, so the two move together.
    pub fn apply(self, cfg: &LabConfig) -> LabConfig {
        let mut c = cfg.clone();
        match self {
            Toggle::Skip => {
                c.arch = match c.arch {
                    Arch::Ff => Arch::Res,
                    Arch::Res => Arch::Ff,
                }
            }
            Toggle::Bn => c.bn = !c.bn,
            Toggle::Ll if c.init == Init::Ll => (c.init, c.act) = (Init::He, Activation::Relu),
            Toggle::Ll => (c.init, c.act) = (Init::Ll, Activation::Crelu),
        }
        c
    }

    pub fn name(self) -> &'static str {
        match self {
            Toggle::Skip => "skips",
            Toggle::Bn => "BN",
            Toggle::Ll => "LL init",
        }
    }
}

/// Views that recreate the paper's figures (paper §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    /// Fig. 1: gradients of a 1- and 24-layer feedforward net, a 50-layer resnet, brown and
    /// white noise.
    Fig1,
    /// Fig. 2a: ACF of feedforward nets of several depths.
    Fig2a,
    /// Fig. 2b: ACF of resnets of several depths.
    Fig2b,
    /// Fig. 2c: ACF of β-rescaled resnets (β = 0.1).
    Fig2c,
    /// Activity with and without batch norm, side by side.
    Activity,
    /// Correlation matrices of a feedforward net and a resnet, side by side.
    Covariance,
}

impl Preset {
    pub const ALL: [Preset; 6] = [
        Preset::Fig1,
        Preset::Fig2a,
        Preset::Fig2b,
        Preset::Fig2c,
        Preset::Activity,
        Preset::Covariance,
    ];

    pub const fn title(self) -> &'static str {
        match self {
            Preset::Fig1 => "Fig. 1: gradients and noises",
            Preset::Fig2a => "Fig. 2a: ACF, feedforward",
            Preset::Fig2b => "Fig. 2b: ACF, resnets",
            Preset::Fig2c => "Fig. 2c: ACF, resnets β=0.1",
            Preset::Activity => "activity: BN on vs off",
            Preset::Covariance => "covariance: ff vs resnet",
        }
    }

    /// The preset's settings on top of `base`, which keeps the sizes, seed and device.
    fn settings(self, base: &LabConfig) -> (LabConfig, Pairing, Pane, bool) {
        let mut c = base.clone();
        (c.bn, c.beta, c.act, c.init) = (true, 1.0, Activation::Relu, Init::He);
        let (arch, depth, pairing, pane, zoomed) = match self {
            Preset::Fig1 => (Arch::Ff, 24, Pairing::Fig1, Pane::Trace, true),
            Preset::Fig2a => (Arch::Ff, 24, Pairing::Single, Pane::Acf, true),
            Preset::Fig2b | Preset::Fig2c => (Arch::Res, 50, Pairing::Single, Pane::Acf, true),
            Preset::Activity => (
                Arch::Ff,
                24,
                Pairing::Flipped(Toggle::Bn),
                Pane::Activity,
                false,
            ),
            Preset::Covariance => (
                Arch::Ff,
                24,
                Pairing::Flipped(Toggle::Skip),
                Pane::Heatmap,
                false,
            ),
        };
        (c.arch, c.depth) = (arch, depth);
        if self == Preset::Fig2c {
            c.beta = 0.1;
        }
        (c, pairing, pane, zoomed)
    }
}

/// What runs beside the A settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pairing {
    Single,
    /// A/B view: B is A with one toggle flipped, same seed.
    Flipped(Toggle),
    /// Fig. 1: B is the 50-layer resnet of the figure.
    Fig1,
}

impl Pairing {
    /// B's settings for A's, if any.
    pub fn b_settings(self, a: &LabConfig) -> Option<LabConfig> {
        match self {
            Pairing::Single => None,
            Pairing::Flipped(t) => Some(t.apply(a)),
            Pairing::Fig1 => Some(LabConfig {
                arch: Arch::Res,
                depth: 50,
                ..a.clone()
            }),
        }
    }
}

/// Everything a key can ask for; `keys.rs` maps keys to these.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    Toggle(Toggle),
    BetaDown,
    BetaUp,
    DepthUp,
    DepthDown,
    Width,
    NewSeed,
    Reset,
    Pause,
    Step,
    AbView,
    Preset(Preset),
    FocusNext,
    FocusPrev,
    Zoom,
    Shallower,
    Deeper,
    LogY,
    Help,
    Close,
    Quit,
    SwitchTab,
    QueueRun,
    PauseRun,
    StopRun,
    SelectUp,
    SelectDown,
    Compare,
    Download,
}

impl Command {
    /// The tab the command acts on. The toggles, depth and seed act on both: on the training
    /// tab they set up the next run (and the lab's panes follow).
    pub fn scope(self) -> Scope {
        match self {
            Command::Toggle(_)
            | Command::DepthUp
            | Command::DepthDown
            | Command::NewSeed
            | Command::SwitchTab
            | Command::Help
            | Command::Close
            | Command::Quit => Scope::Both,
            Command::QueueRun
            | Command::PauseRun
            | Command::StopRun
            | Command::SelectUp
            | Command::SelectDown
            | Command::Compare
            | Command::Download => Scope::Train,
            Command::BetaDown
            | Command::BetaUp
            | Command::Width
            | Command::Reset
            | Command::Pause
            | Command::Step
            | Command::AbView
            | Command::Preset(_)
            | Command::FocusNext
            | Command::FocusPrev
            | Command::Zoom
            | Command::Shallower
            | Command::Deeper
            | Command::LogY => Scope::Lab,
        }
    }
}

#[derive(Clone, Debug)]
pub enum Action {
    Key(Command),
    Worker(Update),
    Train(TrainUpdate),
}

/// The results streamed in for one side's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    pub cfg: LabConfig,
    /// Depths 1..=n as they arrived.
    pub depths: Vec<DepthView>,
    pub done: bool,
    /// Engine time of the sweep so far, measured by the worker.
    pub compute: Duration,
    pub error: Option<String>,
}

impl Run {
    fn new(cfg: LabConfig) -> Self {
        Self {
            cfg,
            depths: Vec::new(),
            done: false,
            compute: Duration::ZERO,
            error: None,
        }
    }

    /// The result at `depth`, or the deepest one so far when it has not arrived yet.
    pub fn at(&self, depth: usize) -> Option<&DepthView> {
        self.depths
            .get(depth.clamp(1, self.depths.len().max(1)) - 1)
    }
}

/// Brown- and white-noise references drawn with the lab's estimator (paper §7), seeded
/// from the settings so every screen is reproducible.
#[derive(Clone, Debug, PartialEq)]
pub struct NoiseRefs {
    pub brown_acf: Vec<f64>,
    pub white_acf: Vec<f64>,
    pub brown_trace: Vec<f64>,
    pub white_trace: Vec<f64>,
}

impl NoiseRefs {
    fn new(cfg: &LabConfig) -> Self {
        let seed = cfg.seed ^ NOISE_SEED;
        let first = |kind| stats::noise_series(kind, cfg.points, 1, seed).swap_remove(0);
        Self {
            brown_acf: stats::noise_acf(Noise::Brown, cfg.points, cfg.nets, seed).0,
            white_acf: stats::noise_acf(Noise::White, cfg.points, cfg.nets, seed).0,
            brown_trace: first(Noise::Brown),
            white_trace: first(Noise::White),
        }
    }
}

/// Keeps the noise streams apart from the nets' weights drawn from the same seed.
const NOISE_SEED: u64 = 0x006e_6f69_7365;

#[derive(Clone, Debug, PartialEq)]
pub struct State {
    pub cfg: LabConfig,
    /// The start-up settings, restored by `R`.
    pub initial: LabConfig,
    /// Bumped by every settings change; updates of older generations are dropped.
    pub generation: u64,
    pub a: Run,
    pub b: Option<Run>,
    pub pairing: Pairing,
    /// The toggle pressed last: the one the A/B view flips.
    pub last_toggle: Toggle,
    pub preset: Option<Preset>,
    pub noise: NoiseRefs,
    pub focus: Pane,
    pub zoomed: bool,
    pub help: bool,
    pub log_y: bool,
    /// Depth shown by the trace, heatmap and activity panes; None follows the deepest.
    pub selected: Option<usize>,
    pub paused: bool,
    /// Depth bound the workers may compute to while paused.
    pub until: Option<usize>,
    pub quit: bool,
    /// Why the last settings change or training request was refused (or, at start-up,
    /// why there is no log file), until one is accepted.
    pub notice: Option<String>,
    pub theme: Theme,
    pub tab: Tab,
    pub train: TrainTab,
}

const DEPTHS: [usize; 22] = [
    1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 40, 50, 64, 80, 100, 128, 200, 500, MAX_DEPTH,
];
const WIDTHS: [usize; 6] = [25, 50, 100, 200, 400, 800];
const BETAS: [f64; 9] = [0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0];

impl State {
    /// The lab at start-up; `jobs` of the returned pair start the first sweep.
    pub fn new(cfg: LabConfig, theme: Theme) -> (Self, Vec<Job>) {
        let mut state = Self {
            noise: NoiseRefs::new(&cfg),
            a: Run::new(cfg.clone()),
            initial: cfg.clone(),
            cfg,
            generation: 0,
            b: None,
            pairing: Pairing::Single,
            last_toggle: Toggle::Skip,
            preset: None,
            focus: Pane::Trace,
            zoomed: false,
            help: false,
            log_y: false,
            selected: None,
            paused: false,
            until: None,
            quit: false,
            notice: None,
            theme,
            tab: Tab::Lab,
            train: TrainTab::default(),
        };
        let jobs = state.restart();
        (state, jobs)
    }

    /// The depth the single-depth panes show.
    pub fn shown_depth(&self) -> usize {
        self.selected.unwrap_or(self.cfg.depth).min(self.cfg.depth)
    }

    /// Whether a worker is still producing results for the current settings.
    pub fn computing(&self) -> bool {
        let busy = |r: &Run| !r.done;
        busy(&self.a) || self.b.as_ref().is_some_and(busy)
    }

    /// Deepest depth received on any side.
    fn received(&self) -> usize {
        let b = self.b.as_ref().map_or(0, |b| b.depths.len());
        self.a.depths.len().max(b)
    }

    /// Starts a new generation for the current settings: fresh runs, sweeps for both sides.
    fn restart(&mut self) -> Vec<Job> {
        self.generation += 1;
        self.noise = NoiseRefs::new(&self.cfg);
        self.a = Run::new(self.cfg.clone());
        let had_b = self.b.is_some();
        self.b = self.pairing.b_settings(&self.cfg).map(Run::new);
        if self.paused {
            self.until = Some(1);
        }
        let generation = self.generation;
        let sweep = |side, cfg: &LabConfig, until| Job::Sweep {
            generation,
            side,
            cfg: cfg.clone(),
            until,
        };
        let mut jobs = vec![sweep(Side::A, &self.cfg, self.until)];
        match &self.b {
            Some(b) => jobs.push(sweep(Side::B, &b.cfg, self.until)),
            None if had_b => jobs.push(Job::Cancel {
                generation,
                side: Side::B,
            }),
            None => {}
        }
        jobs
    }

    /// Sends the current depth bound to the sides that are running.
    fn limit(&self) -> Vec<Job> {
        let sides = if self.b.is_some() {
            &[Side::A, Side::B][..]
        } else {
            &[Side::A][..]
        };
        sides
            .iter()
            .map(|&side| Job::Limit {
                generation: self.generation,
                side,
                until: self.until,
            })
            .collect()
    }

    /// Moves to new settings when both sides' are valid, else keeps the current ones and
    /// says why. No jobs means refused (a restart always sweeps side A).
    fn apply(&mut self, cfg: LabConfig, pairing: Pairing) -> Vec<Job> {
        let b = pairing.b_settings(&cfg);
        let valid = cfg
            .validate()
            .and_then(|()| b.as_ref().map_or(Ok(()), LabConfig::validate));
        if let Err(e) = valid {
            self.notice = Some(format!("refused: {e}"));
            return Vec::new();
        }
        self.notice = None;
        (self.cfg, self.pairing) = (cfg, pairing);
        self.restart()
    }

    /// A settings change made by hand: it leaves any preset, and Fig. 1's pairing.
    fn edit(&mut self, edit: impl FnOnce(&mut LabConfig)) -> Vec<Job> {
        let mut cfg = self.cfg.clone();
        edit(&mut cfg);
        let pairing = match self.pairing {
            Pairing::Fig1 => Pairing::Single,
            p => p,
        };
        self.by_hand(cfg, pairing)
    }

    /// `apply` for a change that leaves the preset.
    fn by_hand(&mut self, cfg: LabConfig, pairing: Pairing) -> Vec<Job> {
        let jobs = self.apply(cfg, pairing);
        if !jobs.is_empty() {
            self.preset = None;
        }
        jobs
    }
}

/// Applies one action. Returns the jobs to hand to the workers; never blocks or does I/O.
pub fn update(state: &mut State, action: Action) -> Vec<Job> {
    match action {
        Action::Worker(u) => {
            receive(state, u);
            Vec::new()
        }
        Action::Train(u) => {
            state.train.receive(u);
            Vec::new()
        }
        Action::Key(command) => command_update(state, command),
    }
}

/// Files a worker update under its run, dropping those of older settings.
fn receive(state: &mut State, update: Update) {
    if update.generation() != state.generation {
        return;
    }
    let run = match update.side() {
        Side::A => &mut state.a,
        Side::B => match &mut state.b {
            Some(b) => b,
            None => return,
        },
    };
    match update {
        Update::Depth { view, compute, .. } => {
            run.depths.push(*view);
            run.compute = compute;
        }
        Update::Done { compute, .. } => {
            run.done = true;
            run.compute = compute;
        }
        Update::Failed { error, .. } => {
            run.done = true;
            run.error = Some(error);
        }
    }
}

fn command_update(state: &mut State, command: Command) -> Vec<Job> {
    if state.help && !matches!(command, Command::Help | Command::Close | Command::Quit) {
        return Vec::new();
    }
    if !command.scope().includes(state.tab) {
        return Vec::new();
    }
    match command {
        Command::Toggle(t) => {
            state.last_toggle = t;
            let pairing = match state.pairing {
                Pairing::Flipped(_) => Pairing::Flipped(t),
                Pairing::Single | Pairing::Fig1 => Pairing::Single,
            };
            state.by_hand(t.apply(&state.cfg), pairing)
        }
        Command::BetaDown => state.edit(|c| c.beta = ladder(&BETAS, c.beta, -1)),
        Command::BetaUp => state.edit(|c| c.beta = ladder(&BETAS, c.beta, 1)),
        Command::DepthUp => state.edit(|c| c.depth = ladder(&DEPTHS, c.depth, 1)),
        Command::DepthDown => state.edit(|c| c.depth = ladder(&DEPTHS, c.depth, -1)),
        Command::Width => state.edit(|c| c.width = cycle(&WIDTHS, c.width)),
        Command::NewSeed => state.edit(|c| c.seed = c.seed.wrapping_add(1)),
        Command::Reset => {
            state.selected = None;
            state.by_hand(state.initial.clone(), Pairing::Single)
        }
        Command::AbView => {
            let pairing = match state.pairing {
                Pairing::Single => Pairing::Flipped(state.last_toggle),
                Pairing::Flipped(_) | Pairing::Fig1 => Pairing::Single,
            };
            state.by_hand(state.cfg.clone(), pairing)
        }
        Command::Preset(p) => {
            let (cfg, pairing, pane, zoomed) = p.settings(&state.cfg);
            let jobs = state.apply(cfg, pairing);
            if !jobs.is_empty() {
                (state.focus, state.zoomed, state.preset, state.selected) =
                    (pane, zoomed, Some(p), None);
            }
            jobs
        }
        Command::Pause if state.paused => {
            state.paused = false;
            state.until = None;
            state.limit()
        }
        Command::Pause => {
            state.paused = true;
            state.until = Some(state.received() + 1);
            state.limit()
        }
        Command::Step => {
            state.paused = true;
            let at = state.until.unwrap_or(0).max(state.received());
            state.until = Some((at + 1).min(MAX_DEPTH));
            state.limit()
        }
        Command::FocusNext => {
            state.focus = state.focus.step(1);
            Vec::new()
        }
        Command::FocusPrev => {
            state.focus = state.focus.step(-1);
            Vec::new()
        }
        Command::Zoom => {
            state.zoomed = !state.zoomed;
            Vec::new()
        }
        Command::Shallower | Command::Deeper => {
            let by = if command == Command::Deeper { 1 } else { -1 };
            let depth = state
                .shown_depth()
                .saturating_add_signed(by)
                .clamp(1, state.cfg.depth);
            state.selected = (depth != state.cfg.depth).then_some(depth);
            Vec::new()
        }
        Command::LogY => {
            state.log_y = !state.log_y;
            Vec::new()
        }
        Command::Help => {
            state.help = !state.help;
            Vec::new()
        }
        Command::Close => {
            if state.help {
                state.help = false;
            } else {
                state.zoomed = false;
            }
            Vec::new()
        }
        Command::Quit => {
            state.quit = true;
            Vec::new()
        }
        Command::SwitchTab => {
            state.tab = match state.tab {
                Tab::Lab => Tab::Train,
                Tab::Train => Tab::Lab,
            };
            Vec::new()
        }
        Command::QueueRun => {
            let result = state.train.queue(&state.cfg);
            noticed(state, result)
        }
        Command::Download => {
            let result = state.train.download();
            noticed(state, result)
        }
        Command::PauseRun => state.train.toggle_pause(),
        Command::StopRun => state.train.stop(),
        Command::SelectUp => {
            state.train.select(-1);
            Vec::new()
        }
        Command::SelectDown => {
            state.train.select(1);
            Vec::new()
        }
        Command::Compare => {
            state.train.toggle_shown();
            Vec::new()
        }
    }
}

/// The jobs of an accepted request, or none and the reason in the status bar.
fn noticed(state: &mut State, result: Result<Vec<Job>, String>) -> Vec<Job> {
    match result {
        Ok(jobs) => {
            state.notice = None;
            jobs
        }
        Err(e) => {
            state.notice = Some(e);
            Vec::new()
        }
    }
}

/// The next value up (`dir` > 0) or down a ladder from `v`, which need not be on it.
fn ladder<T: PartialOrd + Copy>(steps: &[T], v: T, dir: i32) -> T {
    let found = if dir > 0 {
        steps.iter().find(|s| **s > v)
    } else {
        steps.iter().rev().find(|s| **s < v)
    };
    found.copied().unwrap_or(v)
}

/// The next value of a cycle after `v`, wrapping to the first.
fn cycle(steps: &[usize], v: usize) -> usize {
    steps.iter().copied().find(|s| *s > v).unwrap_or(steps[0])
}
