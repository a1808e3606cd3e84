//! The lab tab's state: the settings, the A/B sweeps streamed in for them, the panes'
//! focus and zoom, presets and the pause bound. Changed only through `app::update`, so it
//! does no I/O; settings changes answer with the sweep jobs they need.

use std::time::Duration;

use crate::budget;
use crate::config::{Activation, Arch, Init, Inputs, LabConfig, MAX_DEPTH};
use crate::lab::depth_curves::Idealised;
use crate::lab::readout::Estimator;
use crate::lab::stats::{self, Noise};
use crate::lab::summary::DepthView;
use crate::ui::effect::Effect;
use crate::worker::sweep::{Job, Side, Update};

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
    pub fn flipped(self, cfg: &LabConfig) -> LabConfig {
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
        // The figures are on the 1-D grid.
        c.inputs = Inputs::Grid;
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
            Pairing::Flipped(t) => Some(t.flipped(a)),
            Pairing::Fig1 => Some(LabConfig {
                arch: Arch::Res,
                depth: 50,
                ..a.clone()
            }),
        }
    }
}

/// The results streamed in for one side's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepResults {
    pub cfg: LabConfig,
    /// Depths 1..=n as they arrived.
    pub depths: Vec<DepthView>,
    /// The theorem's idealised model by Monte Carlo, once the worker has simulated it.
    pub idealised: Option<Idealised>,
    /// The nets' infinite-width limit, once the worker has it.
    pub limit: Option<crate::lab::infinite::Limit>,
    pub done: bool,
    /// Engine time of the sweep so far, measured by the worker.
    pub compute: Duration,
    pub error: Option<String>,
}

impl SweepResults {
    /// The shallowest depth whose gradients or statistics became Inf/NaN.
    pub fn first_overflow(&self) -> Option<usize> {
        self.depths
            .iter()
            .find(|d| d.stats.overflow)
            .map(|d| d.stats.depth)
    }

    /// The shallowest depth whose numbers are made of rounding error (see
    /// [`crate::lab::roundoff`]).
    pub fn first_roundoff(&self) -> Option<usize> {
        self.depths
            .iter()
            .find(|d| d.stats.roundoff)
            .map(|d| d.stats.depth)
    }

    fn new(cfg: LabConfig) -> Self {
        Self {
            cfg,
            depths: Vec::new(),
            idealised: None,
            limit: None,
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
    drawn_for: NoiseKey,
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
            drawn_for: NoiseKey::of(cfg),
        }
    }

    /// Redraws the references only when `cfg` changed what they depend on: most keys
    /// change only the nets, so most restarts draw no noise on the UI thread.
    fn refresh(&mut self, cfg: &LabConfig) {
        if self.drawn_for != NoiseKey::of(cfg) {
            *self = Self::new(cfg);
        }
    }
}

/// The settings the noise references depend on.
#[derive(Clone, Copy, Debug, PartialEq)]
struct NoiseKey {
    seed: u64,
    points: usize,
    nets: usize,
}

impl NoiseKey {
    fn of(cfg: &LabConfig) -> Self {
        Self {
            seed: cfg.seed,
            points: cfg.points,
            nets: cfg.nets,
        }
    }
}

/// Keeps the noise streams apart from the nets' weights drawn from the same seed.
const NOISE_SEED: u64 = 0x006e_6f69_7365;

const DEPTHS: [usize; 22] = [
    1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 40, 50, 64, 80, 100, 128, 200, 500, MAX_DEPTH,
];
const WIDTHS: [usize; 6] = [25, 50, 100, 200, 400, 800];
const BETAS: [f64; 9] = [0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0];

/// The lab tab.
#[derive(Clone, Debug, PartialEq)]
pub struct LabTab {
    pub cfg: LabConfig,
    /// The start-up settings, restored by `R`.
    pub initial: LabConfig,
    /// Bumped by every settings change; updates of older generations are dropped.
    pub generation: u64,
    pub a: SweepResults,
    pub b: Option<SweepResults>,
    pub pairing: Pairing,
    /// The toggle pressed last: the one the A/B view flips.
    pub last_toggle: Toggle,
    pub preset: Option<Preset>,
    pub noise: NoiseRefs,
    pub focus: Pane,
    pub zoomed: bool,
    pub log_y: bool,
    /// How the gradient covariances are estimated on screen.
    pub estimator: Estimator,
    /// Depth shown by the trace, heatmap and activity panes; None follows the deepest.
    pub selected: Option<usize>,
    pub paused: bool,
    /// Depth bound the workers may compute to while paused.
    pub until: Option<usize>,
    /// The memory a sweep may take (`--max-memory` or the memory available at start-up);
    /// settings whose sweeps need more are refused. None: no limit known.
    pub memory_limit: Option<(u64, &'static str)>,
}

/// A settings change: the sweeps it starts, or why it was refused.
pub type Change = Result<Vec<Effect>, String>;

impl LabTab {
    /// The lab at start-up, with the jobs of its first sweep.
    pub fn new(cfg: LabConfig) -> (Self, Vec<Effect>) {
        let mut lab = Self {
            noise: NoiseRefs::new(&cfg),
            a: SweepResults::new(cfg.clone()),
            initial: cfg.clone(),
            cfg,
            generation: 0,
            b: None,
            pairing: Pairing::Single,
            last_toggle: Toggle::Skip,
            preset: None,
            focus: Pane::Trace,
            zoomed: false,
            log_y: false,
            estimator: Estimator::default(),
            selected: None,
            paused: false,
            until: None,
            memory_limit: None,
        };
        let jobs = lab.restart();
        (lab, jobs)
    }

    /// The depth the single-depth panes show.
    pub fn shown_depth(&self) -> usize {
        self.selected.unwrap_or(self.cfg.depth).min(self.cfg.depth)
    }

    /// Whether a worker is still producing results for the current settings.
    pub fn computing(&self) -> bool {
        let busy = |r: &SweepResults| !r.done;
        busy(&self.a) || self.b.as_ref().is_some_and(busy)
    }

    /// Deepest depth received on any side.
    fn received(&self) -> usize {
        let b = self.b.as_ref().map_or(0, |b| b.depths.len());
        self.a.depths.len().max(b)
    }

    /// Starts a new generation for the current settings: fresh results, sweeps for both
    /// sides.
    fn restart(&mut self) -> Vec<Effect> {
        self.generation += 1;
        self.noise.refresh(&self.cfg);
        self.a = SweepResults::new(self.cfg.clone());
        let had_b = self.b.is_some();
        self.b = self.pairing.b_settings(&self.cfg).map(SweepResults::new);
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
        jobs.into_iter().map(Effect::Sweep).collect()
    }

    /// Sends the current depth bound to the sides that are running.
    fn limit(&self) -> Vec<Effect> {
        let sides = if self.b.is_some() {
            &[Side::A, Side::B][..]
        } else {
            &[Side::A][..]
        };
        sides
            .iter()
            .map(|&side| {
                Effect::Sweep(Job::Limit {
                    generation: self.generation,
                    side,
                    until: self.until,
                })
            })
            .collect()
    }

    /// Moves to new settings when both sides' are valid and their sweeps fit the memory
    /// limit, else keeps the current ones and says why.
    fn switch_to(&mut self, cfg: LabConfig, pairing: Pairing) -> Change {
        let b = pairing.b_settings(&cfg);
        cfg.validate()
            .and_then(|()| b.as_ref().map_or(Ok(()), LabConfig::validate))
            .map_err(|e| format!("refused: {e}"))?;
        // Both sides sweep at once.
        let need = match &b {
            None => budget::sweep(&cfg),
            Some(b) => budget::sweep(&cfg).beside(budget::sweep(b)),
        };
        budget::check(&need, self.memory_limit)?;
        (self.cfg, self.pairing) = (cfg, pairing);
        Ok(self.restart())
    }

    /// A settings change made by hand: it leaves any preset, and Fig. 1's pairing.
    pub fn edit(&mut self, edit: impl FnOnce(&mut LabConfig)) -> Change {
        let mut cfg = self.cfg.clone();
        edit(&mut cfg);
        let pairing = match self.pairing {
            Pairing::Fig1 => Pairing::Single,
            p => p,
        };
        self.by_hand(cfg, pairing)
    }

    /// `switch_to` for a change that leaves the preset.
    fn by_hand(&mut self, cfg: LabConfig, pairing: Pairing) -> Change {
        let jobs = self.switch_to(cfg, pairing)?;
        self.preset = None;
        Ok(jobs)
    }

    pub fn toggle(&mut self, t: Toggle) -> Change {
        self.last_toggle = t;
        let pairing = match self.pairing {
            Pairing::Flipped(_) => Pairing::Flipped(t),
            Pairing::Single | Pairing::Fig1 => Pairing::Single,
        };
        self.by_hand(t.flipped(&self.cfg), pairing)
    }

    pub fn beta(&mut self, dir: i32) -> Change {
        self.edit(|c| c.beta = ladder(&BETAS, c.beta, dir))
    }

    pub fn depth(&mut self, dir: i32) -> Change {
        self.edit(|c| c.depth = ladder(&DEPTHS, c.depth, dir))
    }

    pub fn next_width(&mut self) -> Change {
        self.edit(|c| c.width = cycle(&WIDTHS, c.width))
    }

    /// The 1-D grid or independent inputs.
    pub fn flip_inputs(&mut self) -> Change {
        self.edit(|c| {
            c.inputs = match c.inputs {
                Inputs::Grid => Inputs::Independent,
                Inputs::Independent => Inputs::Grid,
            }
        })
    }

    pub fn new_seed(&mut self) -> Change {
        self.edit(|c| c.seed = c.seed.wrapping_add(1))
    }

    /// Back to the start-up settings, single view.
    pub fn reset(&mut self) -> Change {
        self.selected = None;
        self.by_hand(self.initial.clone(), Pairing::Single)
    }

    /// The A/B view on or off.
    pub fn ab_view(&mut self) -> Change {
        let pairing = match self.pairing {
            Pairing::Single => Pairing::Flipped(self.last_toggle),
            Pairing::Flipped(_) | Pairing::Fig1 => Pairing::Single,
        };
        self.by_hand(self.cfg.clone(), pairing)
    }

    pub fn preset(&mut self, p: Preset) -> Change {
        let (cfg, pairing, pane, zoomed) = p.settings(&self.cfg);
        let jobs = self.switch_to(cfg, pairing)?;
        (self.focus, self.zoomed, self.preset, self.selected) = (pane, zoomed, Some(p), None);
        Ok(jobs)
    }

    /// Pauses the sweeps after the next depth, or lets them run on.
    pub fn pause(&mut self) -> Vec<Effect> {
        if self.paused {
            self.paused = false;
            self.until = None;
        } else {
            self.paused = true;
            self.until = Some(self.received() + 1);
        }
        self.limit()
    }

    /// One more depth, paused.
    pub fn step(&mut self) -> Vec<Effect> {
        self.paused = true;
        let at = self.until.unwrap_or(0).max(self.received());
        self.until = Some((at + 1).min(MAX_DEPTH));
        self.limit()
    }

    pub fn focus_by(&mut self, by: isize) {
        self.focus = self.focus.step(by);
    }

    /// Moves the shown depth by one layer, within the sweep.
    pub fn select_depth(&mut self, by: isize) {
        let depth = self
            .shown_depth()
            .saturating_add_signed(by)
            .clamp(1, self.cfg.depth);
        self.selected = (depth != self.cfg.depth).then_some(depth);
    }

    /// Files a sweep worker's update under its side, dropping those of older settings.
    pub fn receive(&mut self, update: Update) {
        if update.generation() != self.generation {
            return;
        }
        let results = match update.side() {
            Side::A => &mut self.a,
            Side::B => match &mut self.b {
                Some(b) => b,
                None => return,
            },
        };
        match update {
            Update::Depth { view, compute, .. } => {
                results.depths.push(*view);
                results.compute = compute;
            }
            Update::Theory { idealised, .. } => results.idealised = Some(*idealised),
            Update::Limit { limit, .. } => results.limit = Some(*limit),
            Update::Done { compute, .. } => {
                results.done = true;
                results.compute = compute;
            }
            Update::Failed { error, .. } => {
                results.done = true;
                results.error = Some(error);
            }
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
