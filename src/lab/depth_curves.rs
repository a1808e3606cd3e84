//! What the correlation-vs-depth pane draws, as data: the real nets' far-pair correlation
//! under the chosen estimator with its standard error, the matching theorem, the theorem's
//! idealised model by Monte Carlo, Theorem 3's centred variant, and the theorem scaled to
//! the real net's depth-1 value. Built here, not in the renderer, so tests check the numbers
//! on screen; the Monte Carlo itself is drawn by the sweep worker ([`Idealised::for_lab`]).

use crate::config::{Inputs, LabConfig};
use crate::lab::readout::{Estimator, PairStats};
use crate::lab::sweep::DepthStats;
use crate::lab::theory::{self, Measured, Model};

/// Depth x width x trials of the pane's Monte Carlo: about 0.05 s of one core (measured with
/// `theory` at depth 50, width 200, 200 trials), so a toggle's theory arrives with its first
/// depths.
const SCREEN_WORK: usize = 2_000_000;
/// Monte-Carlo markers drawn along the theorem.
const MARKERS: usize = 8;

/// The idealised model of the lab's settings, simulated for the screen.
#[derive(Clone, Debug, PartialEq)]
pub struct Idealised {
    pub model: Model,
    pub beta: f64,
    pub width: usize,
    pub seed: u64,
    pub trials: usize,
    /// Depths 1..=L.
    pub monte_carlo: Vec<Measured>,
}

impl Idealised {
    /// Trials for a sweep of `cfg`: as many as the screen's budget allows, 16 to 2000 (the
    /// largest lab, depth 1000 and width 4096, then takes about 1.5 s).
    pub fn trials(cfg: &LabConfig) -> usize {
        (SCREEN_WORK / (cfg.depth * cfg.width).max(1)).clamp(16, 2000)
    }

    /// Simulates the theorem's model of `cfg` (seconds at most; run it off the UI thread).
    pub fn for_lab(cfg: &LabConfig) -> Self {
        let model = Model::for_arch(cfg.arch, cfg.bn);
        let trials = Self::trials(cfg);
        Self {
            model,
            beta: cfg.beta,
            width: cfg.width,
            seed: cfg.seed,
            trials,
            monte_carlo: theory::simulate(model, cfg.depth, cfg.beta, cfg.width, trials, cfg.seed),
        }
    }

    /// Whether this simulation is the one `cfg` asks for (its first `cfg.depth` depths).
    pub fn serves(&self, cfg: &LabConfig) -> bool {
        self.model == Model::for_arch(cfg.arch, cfg.bn)
            && self.beta == cfg.beta
            && self.width == cfg.width
            && self.seed == cfg.seed
            && self.trials == Self::trials(cfg)
            && self.monte_carlo.len() == cfg.depth
    }
}

/// A measured or simulated value with its standard error.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    pub depth: usize,
    pub value: f64,
    pub se: f64,
}

/// Everything the pane draws, depths 1..=L.
#[derive(Clone, Debug, PartialEq)]
pub struct CorrVsDepth {
    pub estimator: Estimator,
    pub model: Model,
    /// The real nets' far-pair correlation (all pairs are alike with independent inputs).
    pub far: Vec<Point>,
    pub neighbour: Vec<Point>,
    /// Pairs [`Self::mid_distance`] grid steps apart: near enough to share most of their
    /// activation patterns at depth 1, so their decay with depth is the shattering on the
    /// grid.
    pub mid: Vec<Point>,
    pub mid_distance: usize,
    /// The theorem's R(L).
    pub theorem: Vec<(usize, f64)>,
    /// Theorem 3 with the centred stream variance (resnets with BN only).
    pub centred: Option<Vec<(usize, f64)>>,
    /// The theorem times the real nets' depth-1 far correlation over the theorem's: where the
    /// real net would be if only its start differed from the model.
    pub guide: Option<Vec<(usize, f64)>>,
    /// The idealised model's Monte Carlo at a few depths.
    pub monte_carlo: Vec<Point>,
    /// The far curve's largest standard error when three of them reach its scale (its
    /// largest |value|): too few nets to tell the curve from noise.
    pub too_noisy: Option<f64>,
}

impl CorrVsDepth {
    /// The pane's data for a sweep of `cfg` with the depths received so far.
    pub fn new(
        cfg: &LabConfig,
        depths: &[&DepthStats],
        idealised: Option<&Idealised>,
        estimator: Estimator,
    ) -> Self {
        let model = Model::for_arch(cfg.arch, cfg.bn);
        let mid_bin = depths.first().map_or(0, |s| {
            mid_bin(&estimated(s, estimator).corr_by_distance.from, cfg.points)
        });
        let mid_distance = depths.first().map_or(0, |s| {
            estimated(s, estimator)
                .corr_by_distance
                .from
                .get(mid_bin)
                .copied()
                .unwrap_or(0)
        });
        let mid = depths
            .iter()
            .filter_map(|s| {
                let curve = &estimated(s, estimator).corr_by_distance;
                Some(Point {
                    depth: s.depth,
                    value: *curve.corr.get(mid_bin)?,
                    se: *curve.se.get(mid_bin)?,
                })
            })
            .collect();
        let (far, neighbour): (Vec<Point>, Vec<Point>) = depths
            .iter()
            .map(|s| {
                let p = estimated(s, estimator);
                (
                    Point {
                        depth: s.depth,
                        value: p.corr_far,
                        se: p.corr_far_se,
                    },
                    Point {
                        depth: s.depth,
                        value: p.corr_neighbor,
                        se: p.corr_neighbor_se,
                    },
                )
            })
            .unzip();
        let curve = |model: Model| -> Vec<(usize, f64)> {
            (1..=cfg.depth)
                .map(|l| (l, theory::moments(model, l, cfg.beta).correlation()))
                .collect()
        };
        let theorem = curve(model);
        let guide = far.first().filter(|p| p.depth == 1).map(|first| {
            let scale = first.value / theorem[0].1;
            theorem.iter().map(|&(l, r)| (l, scale * r)).collect()
        });
        let monte_carlo = idealised
            .filter(|i| i.serves(cfg))
            .map(|i| {
                marker_depths(cfg.depth)
                    .into_iter()
                    .map(|l| Point {
                        depth: l,
                        value: i.monte_carlo[l - 1].correlation,
                        se: i.monte_carlo[l - 1].correlation_se,
                    })
                    .collect()
            })
            .unwrap_or_default();
        let scale = far.iter().map(|p| p.value.abs()).fold(0.0, f64::max);
        let worst_se = far
            .iter()
            .map(|p| p.se)
            .filter(|se| se.is_finite())
            .fold(0.0, f64::max);
        Self {
            estimator,
            model,
            far,
            neighbour,
            mid,
            mid_distance,
            theorem,
            centred: model.centred().map(curve),
            guide,
            monte_carlo,
            too_noisy: (worst_se > 0.0 && 3.0 * worst_se >= scale).then_some(worst_se),
        }
    }

    /// What the far curve is called: with independent inputs no pair is farther than another.
    pub fn far_name(cfg: &LabConfig) -> &'static str {
        match cfg.inputs {
            Inputs::Grid => "far",
            Inputs::Independent => "pairs",
        }
    }
}

/// The distance bin of the "mid" curve: the one starting nearest P/32 grid steps (8 of the
/// paper's 256 points, Δx = 1/8 on [-2, 2]).
fn mid_bin(from: &[usize], points: usize) -> usize {
    let target = (points / 32).max(2);
    (0..from.len())
        .min_by_key(|&b| from[b].abs_diff(target))
        .unwrap_or(0)
}

/// A depth's covariance summaries under `estimator`.
fn estimated(stats: &DepthStats, estimator: Estimator) -> &PairStats {
    match estimator {
        Estimator::Integrated => &stats.integrated,
        Estimator::Random => &stats.random,
    }
}

/// Up to `MARKERS` depths spread over 1..=L, always 1 and L.
pub fn marker_depths(depth: usize) -> Vec<usize> {
    let last = MARKERS - 1;
    let mut out: Vec<usize> = (0..MARKERS)
        .map(|k| 1 + (k * (depth - 1) + last / 2) / last)
        .collect();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mid_pairs_are_a_32nd_of_the_grid_apart() {
        let from = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192];
        assert_eq!(from[mid_bin(&from, 256)], 8);
        assert_eq!(from[mid_bin(&from[..6], 64)], 2);
    }

    #[test]
    fn markers_spread_from_one_to_the_last_depth() {
        assert_eq!(marker_depths(50), vec![1, 8, 15, 22, 29, 36, 43, 50]);
        assert_eq!(marker_depths(3), vec![1, 2, 3]);
        assert_eq!(marker_depths(1), vec![1]);
    }
}
