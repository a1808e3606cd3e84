//! One sweep: R nets stepped through every depth, each depth summarised as it arrives.
//! Headless reports and the TUI worker both run this, so they cannot disagree.

use std::ops::ControlFlow;

use candle_core::Device;
use serde::Serialize;

use crate::config::LabConfig;
use crate::lab::bank::WeightBank;
use crate::lab::forward::{ForwardEngine, LayerOutput, StepKernel};
use crate::lab::readout::{PairStats, PointVectors};
use crate::lab::roundoff::{ROUNDOFF_LIMIT, Shadow};
use crate::lab::stats::{self, Activity, MAX_LAG};

/// The per-depth statistics of a sweep, as reported in JSON/CSV.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DepthStats {
    pub depth: usize,
    /// Mean over nets of the ACF r(k), k = 0..=32.
    pub acf: Vec<f64>,
    /// Standard error of `acf` over nets.
    pub acf_se: Vec<f64>,
    /// Covariances and correlations over nets with each net's own random readout: what one
    /// net's gradient shows (`grad_var`, `corr_far`, ... at the top level of the JSON).
    #[serde(flatten)]
    pub random: PairStats,
    /// The same with the readout integrated out (E_v[g_p g_q] = u_p . u_q / N): the spread
    /// over nets is then the hidden layers' alone.
    pub integrated: PairStats,
    pub active_fraction: f64,
    pub saturated_fraction: f64,
    pub mean_run_length: f64,
    /// Some gradient overflowed to Inf/NaN (deep BN nets in f32): the statistics above are
    /// then meaningless; f64 reaches far deeper.
    pub overflow: bool,
    /// How much the gradients change when the rounding changes: the relative RMS change of
    /// the first nets' gradients under a perturbation of a few units in the last place
    /// ([`crate::lab::roundoff`]); 0 for exact arithmetic, about 1 for pure round-off.
    pub roundoff_error: f64,
    /// `roundoff_error` passed [`ROUNDOFF_LIMIT`]: the numbers at this depth are made of
    /// rounding error, not of the net.
    pub roundoff: bool,
}

/// Everything one depth of a sweep yields: the statistics plus the raw material the panes
/// draw (gradients of every net, activity histograms).
#[derive(Clone, Debug)]
pub struct DepthResult {
    pub stats: DepthStats,
    /// g_l(x_p), net-major (nets x points).
    pub grads: Vec<f64>,
    /// dh_l/dx at every point, the integrated-readout estimator's input (heatmap).
    pub integrated: PointVectors,
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
        let random = PointVectors::random(&out.grads, points).pair_stats();
        let integrated = PointVectors::integrated(
            out.tangents,
            points,
            out.tangent_width,
            out.mirrored_readout,
        );
        let activity = stats::activity(&out.active, points, out.units);
        let mut stats = DepthStats {
            depth: out.depth,
            acf,
            acf_se,
            random,
            integrated: integrated.pair_stats(),
            active_fraction: activity.active_fraction,
            saturated_fraction: activity.saturated_fraction,
            mean_run_length: activity.mean_run_length,
            overflow: out.grads.iter().chain(&out.values).any(|g| !g.is_finite()),
            roundoff_error: 0.0,
            roundoff: false,
        };
        // Statistics can overflow where the gradients do not (an extreme x range or β).
        stats.overflow |= crate::output::has_non_finite(&stats);
        Self {
            stats,
            grads: out.grads,
            integrated,
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
    let mut shadow = Shadow::new(cfg, device.clone(), kernel)?;
    let mut engine = ForwardEngine::with_bank(cfg, device, kernel, std::mem::take(bank))?;
    let mut step = || -> anyhow::Result<DepthResult> {
        let layer = engine.step()?;
        let change = shadow.step(&layer)?;
        let mut result = DepthResult::from_layer(layer, cfg.points);
        result.stats.roundoff_error = change;
        result.stats.roundoff = change > ROUNDOFF_LIMIT && !result.stats.overflow;
        Ok(result)
    };
    let mut outcome = Ok(());
    for _ in 0..cfg.depth {
        match step() {
            Ok(result) => {
                if on_depth(result).is_break() {
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
