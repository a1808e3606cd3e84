//! One sweep: R nets stepped through every depth, each depth summarised as it arrives.
//! Headless reports and the TUI worker both run this, so they cannot disagree.

use std::ops::ControlFlow;

use candle_core::Device;
use serde::Serialize;

use crate::config::LabConfig;
use crate::lab::bank::WeightBank;
use crate::lab::forward::{ForwardEngine, LayerOutput, StepKernel};
use crate::lab::stats::{self, Activity, MAX_LAG};

/// The per-depth statistics of a sweep, as reported in JSON/CSV.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DepthStats {
    pub depth: usize,
    /// Mean over nets of the ACF r(k), k = 0..=32.
    pub acf: Vec<f64>,
    /// Standard error of `acf` over nets.
    pub acf_se: Vec<f64>,
    /// E[g^2] over nets and points: C(i) of the theorems.
    pub grad_var: f64,
    /// Correlation over nets of gradients at neighbouring points.
    pub corr_neighbor: f64,
    /// Correlation over nets of gradients at points half the grid or more apart.
    pub corr_far: f64,
    pub active_fraction: f64,
    pub saturated_fraction: f64,
    pub mean_run_length: f64,
    /// Some gradient overflowed to Inf/NaN (deep BN nets in f32): the statistics above are
    /// then meaningless; f64 reaches far deeper.
    pub overflow: bool,
}

/// Everything one depth of a sweep yields: the statistics plus the raw material the panes
/// draw (gradients of every net, activity histograms).
#[derive(Clone, Debug)]
pub struct DepthResult {
    pub stats: DepthStats,
    /// g_l(x_p), net-major (nets x points).
    pub grads: Vec<f64>,
    pub activity: Activity,
}

impl DepthResult {
    /// Summarises one layer of the engine.
    pub fn from_layer(out: LayerOutput, points: usize) -> Self {
        let acfs: Vec<Vec<f64>> = out
            .grads
            .chunks_exact(points)
            .map(|g| stats::acf(g, MAX_LAG))
            .collect();
        let (acf, acf_se) = stats::mean_and_se(&acfs);
        let pairs = stats::pair_correlations(&out.grads, points);
        let activity = stats::activity(&out.active, points, out.units);
        Self {
            stats: DepthStats {
                depth: out.depth,
                acf,
                acf_se,
                grad_var: pairs.second_moment,
                corr_neighbor: pairs.neighbour,
                corr_far: pairs.far,
                active_fraction: activity.active_fraction,
                saturated_fraction: activity.saturated_fraction,
                mean_run_length: activity.mean_run_length,
                overflow: out.grads.iter().any(|g| !g.is_finite()),
            },
            grads: out.grads,
            activity,
        }
    }
}

/// Runs depths 1..=cfg.depth, handing each to `on_depth` as soon as it is computed;
/// `on_depth` returns `Break` to stop early (cancellation).
pub fn sweep(
    cfg: &LabConfig,
    device: Device,
    on_depth: impl FnMut(DepthResult) -> ControlFlow<()>,
) -> anyhow::Result<()> {
    sweep_with_bank(cfg, device, &mut WeightBank::new(0), on_depth)
}

/// As `sweep`, taking the nets' weights from `bank` and leaving every layer it drew there
/// for the next sweep of the same experiment.
pub fn sweep_with_bank(
    cfg: &LabConfig,
    device: Device,
    bank: &mut WeightBank,
    mut on_depth: impl FnMut(DepthResult) -> ControlFlow<()>,
) -> anyhow::Result<()> {
    let kernel = StepKernel::for_device(&device);
    let mut engine = ForwardEngine::with_bank(cfg, device, kernel, std::mem::take(bank))?;
    let mut outcome = Ok(());
    for _ in 0..cfg.depth {
        match engine.step() {
            Ok(layer) => {
                if on_depth(DepthResult::from_layer(layer, cfg.points)).is_break() {
                    break;
                }
            }
            Err(e) => {
                outcome = Err(e);
                break;
            }
        }
    }
    *bank = engine.into_bank();
    outcome
}
