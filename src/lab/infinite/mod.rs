//! The infinite-width limit of the lab's own nets: the theory that holds on the grid.
//!
//! As width N → ∞ a net's gradient covariance over its inputs, with the readout integrated
//! out, tends to a deterministic matrix; its summaries are those of the integrated-readout
//! estimator ([`PairStats`]: the same definitions, so the two compare directly). Nets whose
//! pre-activations stay Gaussian have it in closed form ([`closed`], [`kernel`]); batch norm
//! and rectified resnets get it by Monte Carlo over very wide nets ([`wide`]), with standard
//! errors. Docs: docs/theory-infinite-width.md.

pub mod closed;
pub mod kernel;
pub mod wide;

use std::ops::ControlFlow;

use serde::Serialize;

use crate::config::{Init, Inputs, LabConfig};
use crate::lab::readout::PairStats;
use crate::lab::summary::Heat;
use crate::nets::scalar::NetShape;

use closed::ClosedForm;
pub use wide::WideNets;

/// Work of the screen's Monte Carlo, in multiply-adds (`WideNets::work`): seconds of a few
/// cores at the preset.
const SCREEN_WORK: u64 = 200_000_000_000;
/// Pair-steps (points² x depth / 2) of the largest closed form the screen computes: about
/// 2.5 s of one core (measured 50 ns a step; 1024 points at depth 100).
const SCREEN_PAIR_STEPS: u64 = 50_000_000;

/// How a limit was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Exact: standard errors are 0.
    ClosedForm,
    /// Very wide nets: standard errors over them, bias O(1/width).
    MonteCarlo,
}

/// Which limit a command asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LimitMode {
    /// No limit.
    Off,
    /// The closed form where the settings have one, else none.
    Closed,
    /// The closed form where there is one, else the Monte Carlo.
    Any,
    /// The Monte Carlo even where a closed form exists (a cross-check).
    MonteCarlo,
}

impl LimitMode {
    /// Whether this mode runs the Monte Carlo for `cfg` (`Any` only where there is no
    /// closed form and the Monte Carlo covers the settings).
    pub fn samples(self, cfg: &LabConfig) -> bool {
        match self {
            LimitMode::Off | LimitMode::Closed => false,
            LimitMode::Any => ClosedForm::of(cfg).is_none() && wide::covers(cfg),
            LimitMode::MonteCarlo => true,
        }
    }
}

/// The infinite-width limit of `cfg`'s nets at depths 1..=L.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Limit {
    pub method: Method,
    /// The Monte Carlo's nets; None for a closed form.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wide: Option<WideNets>,
    /// Integrated-readout summaries at depths 1..=L.
    #[serde(skip)]
    pub depths: Vec<PairStats>,
    /// The pooled correlation matrix at depths 1..=L, as the heatmap pools the nets'.
    #[serde(skip)]
    pub heat: Vec<Heat>,
    /// The settings the limit depends on.
    #[serde(skip)]
    key: LabConfig,
}

impl Limit {
    /// The closed form of `cfg`, None where it has none (milliseconds at the preset; O(P² L)).
    pub fn closed_form(cfg: &LabConfig) -> Option<Self> {
        let (depths, heat) = ClosedForm::of(cfg)?.summaries(cfg).into_iter().unzip();
        Some(Self {
            method: Method::ClosedForm,
            wide: None,
            depths,
            heat,
            key: key(cfg, None),
        })
    }

    /// The Monte Carlo of `cfg` with `size` nets, depth by depth; `proceed` is asked after
    /// each depth and stops it with `Break` (then Ok(None)). Errors on settings it does not
    /// cover ([`wide::covers`]).
    pub fn monte_carlo(
        cfg: &LabConfig,
        size: WideNets,
        mut proceed: impl FnMut(usize) -> ControlFlow<()>,
    ) -> anyhow::Result<Option<Self>> {
        let (mut depths, mut heat) = (Vec::new(), Vec::new());
        wide::simulate(cfg, size, |depth, stats, cells| {
            depths.push(stats);
            heat.push(cells);
            proceed(depth)
        })?;
        Ok((depths.len() == cfg.depth).then(|| Self {
            method: Method::MonteCarlo,
            wide: Some(size),
            depths,
            heat,
            key: key(cfg, Some(size)),
        }))
    }

    /// The limit `mode` asks for: None for `Off`, and where the mode has none for the
    /// settings. Errors where `MonteCarlo` meets settings it does not cover.
    pub fn for_mode(
        cfg: &LabConfig,
        mode: LimitMode,
        size: WideNets,
    ) -> anyhow::Result<Option<Self>> {
        if mode.samples(cfg) {
            Self::monte_carlo(cfg, size, |_| ControlFlow::Continue(()))
        } else if mode == LimitMode::Off {
            Ok(None)
        } else {
            Ok(Self::closed_form(cfg))
        }
    }

    /// The Monte Carlo the screen runs for `cfg`: 4 nets, the widest of 4096, 2048, ...,
    /// 256 units whose work `SCREEN_WORK` allows.
    pub fn screen_size(cfg: &LabConfig) -> WideNets {
        let size = |width| WideNets { width, nets: 4 };
        (8..=12)
            .rev()
            .map(|k| size(1 << k))
            .find(|s| s.work(cfg) <= SCREEN_WORK)
            .unwrap_or(size(256))
    }

    /// The limit for the screen, computed off the UI thread: the closed form, else the Monte
    /// Carlo of [`Limit::screen_size`] (seconds; `proceed` cancels it between depths). None
    /// where there is none, when cancelled, and for closed forms over `SCREEN_PAIR_STEPS`
    /// (`theory --infinite-width closed` computes those).
    pub fn for_screen(
        cfg: &LabConfig,
        proceed: impl FnMut(usize) -> ControlFlow<()>,
    ) -> Option<Self> {
        if ClosedForm::of(cfg).is_some() {
            let pairs = match cfg.inputs {
                Inputs::Grid => cfg.points * cfg.points / 2,
                // Every pair of distinct inputs is alike: one runs.
                Inputs::Independent => cfg.points,
            };
            let steps = (pairs * cfg.depth) as u64;
            return (steps <= SCREEN_PAIR_STEPS)
                .then(|| Self::closed_form(cfg))
                .flatten();
        }
        if !wide::covers(cfg) {
            return None;
        }
        Self::monte_carlo(cfg, Self::screen_size(cfg), proceed)
            .ok()
            .flatten()
    }

    /// Whether this limit is the one `cfg` asks for (the screen's, for a Monte Carlo).
    pub fn serves(&self, cfg: &LabConfig) -> bool {
        let size = (self.method == Method::MonteCarlo).then(|| Self::screen_size(cfg));
        self.key == key(cfg, size) && self.wide == size
    }
}

/// The settings a limit depends on: not the nets' width, count, precision or device, and for
/// a closed form not the seed.
fn key(cfg: &LabConfig, size: Option<WideNets>) -> LabConfig {
    let base = LabConfig::default();
    LabConfig {
        width: base.width,
        nets: base.nets,
        dtype: base.dtype,
        device: base.device,
        seed: if size.is_some() { cfg.seed } else { base.seed },
        ..cfg.clone()
    }
}

/// σ² of the hidden matrices: fan_in times their entries' variance. Orthogonal matrices
/// enter with the Gaussian limit of their entries' variance, gain² / max(fan_in, fan_out).
pub(crate) fn hidden_sigma2(shape: &NetShape) -> f64 {
    let (fan_in, fan_out) = shape.hidden_shape();
    let (fan_in, fan_out) = (fan_in as f64, fan_out as f64);
    match shape.init {
        Init::He => 2.0,
        Init::Glorot => 2.0 * fan_in / (fan_in + fan_out),
        Init::Orthogonal | Init::Ll => 2.0 * fan_in / fan_in.max(fan_out),
    }
}
