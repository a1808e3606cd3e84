//! The closed-form limit over the lab's inputs: every pair of points through every depth.
//! Pairs are independent of each other given the points' own moments, so each runs its own
//! recursion and adds its correlation to its distance's sum at every depth.

use rayon::prelude::*;

use crate::config::{Arch, Init, Inputs, LabConfig};
use crate::lab::infinite::hidden_sigma2;
use crate::lab::infinite::kernel::{PairMoments, PointMoments};
use crate::lab::readout::PairStats;
use crate::lab::summary::{HEAT_CELLS, Heat};
use crate::nets::scalar::NetShape;

/// Which closed form the settings have.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ClosedForm {
    /// Gaussian pre-activations through rectifiers; hidden matrices of variance σ²/fan_in.
    Rectified { sigma2: f64 },
    /// Looks-linear nets, exactly linear from their first state on. Feedforward: the
    /// readout [v; -v] sees relu(z) - relu(-z) = z, and z_L = z_1 times orthogonal matrices,
    /// so the covariance is layer 1's z' at every depth (`gain` 1, `rectified_start` false).
    /// Resnet: h_L = h_1 prod (I + β Q_l) with Q_l orthogonal, E[(I + βQ)(I + βQ)^T] =
    /// (1 + β²) I, and at infinite width h_1' A A^T h_1' / N concentrates on its mean: layer
    /// 1's covariance times `gain` = 1 + β² per module. Its stream h_1 is CReLU(z) on the
    /// grid (`rectified_start`) and z itself with independent inputs.
    Linear { gain: f64, rectified_start: bool },
}

impl ClosedForm {
    /// The closed form of `cfg`'s nets, None where there is none (batch norm couples the
    /// points; a rectified resnet's stream is not Gaussian).
    pub fn of(cfg: &LabConfig) -> Option<Self> {
        if cfg.bn {
            return None;
        }
        match (cfg.init, cfg.arch) {
            (Init::Ll, Arch::Ff) => Some(Self::Linear {
                gain: 1.0,
                rectified_start: false,
            }),
            (Init::Ll, Arch::Res) => Some(Self::Linear {
                gain: 1.0 + cfg.beta * cfg.beta,
                rectified_start: cfg.inputs == Inputs::Grid,
            }),
            (_, Arch::Ff) => Some(Self::Rectified {
                sigma2: hidden_sigma2(&NetShape::from_config(cfg)),
            }),
            (_, Arch::Res) => None,
        }
    }

    /// The limit's summaries and pooled correlation matrices at depths 1..=`cfg.depth`.
    pub fn summaries(self, cfg: &LabConfig) -> Vec<(PairStats, Heat)> {
        let points = cfg.points;
        let grid = cfg.grid();
        let first = |p: usize, q: usize| match cfg.inputs {
            Inputs::Grid => PairMoments::first_layer(grid[p], grid[q], cfg.first_bias),
            Inputs::Independent => PairMoments::independent(p == q),
        };
        // Every point's own moments per depth, (depth x points).
        let diagonal: Vec<Vec<PointMoments>> = (0..points)
            .map(|p| self.point_curve(first(p, p).at_x(), cfg))
            .collect();
        let var = |l: usize, p: usize| self.gradient_variance(&diagonal[p][l], l, first(p, p));
        let correlations = |p: usize, q: usize| -> Vec<f64> {
            self.pair_curve(first(p, q), &diagonal[p], &diagonal[q], cfg)
                .into_iter()
                .enumerate()
                .map(|(l, c)| c / (var(l, p) * var(l, q)).sqrt())
                .collect()
        };
        let blocks = Blocks::new(points);
        let sums: Vec<Sums> = match cfg.inputs {
            // Every pair of distinct inputs is alike.
            Inputs::Independent => correlations(0, 1)
                .into_iter()
                .map(|c| Sums::alike(&blocks, c))
                .collect(),
            Inputs::Grid => (0..points)
                .into_par_iter()
                .fold(
                    || vec![Sums::new(&blocks); cfg.depth],
                    |mut acc, p| {
                        for q in p + 1..points {
                            for (sums, c) in acc.iter_mut().zip(correlations(p, q)) {
                                sums.add(&blocks, p, q, c);
                            }
                        }
                        acc
                    },
                )
                .reduce(
                    || vec![Sums::new(&blocks); cfg.depth],
                    |mut a, b| {
                        a.iter_mut().zip(&b).for_each(|(x, y)| x.merge(y));
                        a
                    },
                ),
        };
        sums.into_iter()
            .enumerate()
            .map(|(l, sums)| {
                let grad_var = (0..points).map(|p| var(l, p)).sum::<f64>() / points as f64;
                (
                    PairStats::exact(grad_var, &sums.by_distance),
                    sums.heat(&blocks),
                )
            })
            .collect()
    }

    /// A point's post-activation moments at depths 1..=L (rectified nets; the linear forms
    /// need only layer 1's).
    fn point_curve(self, first: PointMoments, cfg: &LabConfig) -> Vec<PointMoments> {
        let mut m = first.relu();
        (0..cfg.depth)
            .map(|l| {
                if let (Self::Rectified { sigma2 }, true) = (self, l > 0) {
                    m = m.scaled(sigma2).relu();
                }
                m
            })
            .collect()
    }

    /// E[g_x^2] at depth index `l` (0 for depth 1).
    fn gradient_variance(self, point: &PointMoments, l: usize, first: PairMoments) -> f64 {
        match self {
            Self::Rectified { .. } => point.dd,
            Self::Linear {
                gain,
                rectified_start,
            } => linear(first, l, gain, rectified_start),
        }
    }

    /// E[g_x g_y] at depths 1..=L.
    fn pair_curve(
        self,
        first: PairMoments,
        x: &[PointMoments],
        y: &[PointMoments],
        cfg: &LabConfig,
    ) -> Vec<f64> {
        match self {
            Self::Rectified { sigma2 } => {
                let mut post = first.relu();
                (0..cfg.depth)
                    .map(|l| {
                        if l > 0 {
                            post = PairMoments::next(x[l - 1], y[l - 1], post, sigma2).relu();
                        }
                        post.dx_dy
                    })
                    .collect()
            }
            Self::Linear {
                gain,
                rectified_start,
            } => (0..cfg.depth)
                .map(|l| linear(first, l, gain, rectified_start))
                .collect(),
        }
    }
}

/// The heatmap's blocks of points, as the estimator pools them
/// ([`crate::lab::readout::PointVectors::pooled_correlation`]).
struct Blocks {
    side: usize,
    /// Block of each point.
    of: Vec<usize>,
    /// Points in each block.
    size: Vec<usize>,
}

impl Blocks {
    fn new(points: usize) -> Self {
        let side = HEAT_CELLS.min(points);
        let of: Vec<usize> = (0..points)
            .map(|p| (0..side).rfind(|&b| b * points / side <= p).unwrap_or(0))
            .collect();
        let size = (0..side)
            .map(|b| (b + 1) * points / side - b * points / side)
            .collect();
        Self { side, of, size }
    }
}

/// One depth's sums of correlations: by distance, and by pair of blocks.
#[derive(Clone)]
struct Sums {
    by_distance: Vec<f64>,
    /// Block pairs (side x side), the diagonal's own points excluded.
    cells: Vec<f64>,
}

impl Sums {
    fn new(blocks: &Blocks) -> Self {
        Self {
            by_distance: vec![0.0; blocks.of.len()],
            cells: vec![0.0; blocks.side * blocks.side],
        }
    }

    /// Every pair of distinct points with correlation `c`.
    fn alike(blocks: &Blocks, c: f64) -> Self {
        let points = blocks.of.len();
        let mut sums = Self::new(blocks);
        for (d, s) in sums.by_distance.iter_mut().enumerate() {
            *s = (points - d) as f64 * c;
        }
        for (i, cell) in sums.cells.iter_mut().enumerate() {
            let (r, k) = (blocks.size[i / blocks.side], blocks.size[i % blocks.side]);
            let pairs = if i / blocks.side == i % blocks.side {
                r * (r - 1)
            } else {
                r * k
            };
            *cell = pairs as f64 * c;
        }
        sums
    }

    fn add(&mut self, blocks: &Blocks, p: usize, q: usize, c: f64) {
        self.by_distance[q - p] += c;
        let (a, b) = (blocks.of[p], blocks.of[q]);
        self.cells[a * blocks.side + b] += c;
        self.cells[b * blocks.side + a] += c;
    }

    fn merge(&mut self, other: &Self) {
        self.by_distance
            .iter_mut()
            .zip(&other.by_distance)
            .for_each(|(x, y)| *x += y);
        self.cells
            .iter_mut()
            .zip(&other.cells)
            .for_each(|(x, y)| *x += y);
    }

    /// The mean correlation of each block pair, each point's own (1) included.
    fn heat(&self, blocks: &Blocks) -> Heat {
        let side = blocks.side;
        let cells = self
            .cells
            .iter()
            .enumerate()
            .map(|(i, sum)| {
                let (r, k) = (i / side, i % side);
                let own = if r == k { blocks.size[r] as f64 } else { 0.0 };
                (sum + own) / (blocks.size[r] * blocks.size[k]) as f64
            })
            .collect();
        Heat { side, cells }
    }
}

/// A linear net's E[g_x g_y] at depth index `l`: its first state's, times `gain` per layer.
fn linear(first: PairMoments, l: usize, gain: f64, rectified_start: bool) -> f64 {
    let start = if rectified_start {
        first.relu().dx_dy
    } else {
        first.dx_dy
    };
    gain.powi(l as i32) * start
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::infinite::kernel::PostMoments;

    /// Post-activation moments of the pair (x, y) at depths 1..=depth of a ReLU He net.
    fn pair_moments(x: f64, y: f64, depth: usize) -> Vec<PostMoments> {
        let point = |x: f64| {
            let mut m = PairMoments::first_layer(x, x, true).at_x().relu();
            let mut out = vec![m];
            for _ in 1..depth {
                m = m.scaled(2.0).relu();
                out.push(m);
            }
            out
        };
        let (px, py) = (point(x), point(y));
        let mut post = PairMoments::first_layer(x, y, true).relu();
        let mut out = vec![post];
        for l in 1..depth {
            post = PairMoments::next(px[l - 1], py[l - 1], post, 2.0).relu();
            out.push(post);
        }
        out
    }

    #[test]
    fn the_gradient_covariance_is_the_kernels_mixed_derivative() {
        // E[h'_x h'_y] = d²K/dx dy and E[h'_x h_y] = dK/dx, by central differences of the
        // kernel recursion alone, at every depth to 50.
        let (x, y, h) = (-0.7, 1.1, 1e-4);
        let k = |dx: f64, dy: f64| pair_moments(x + dx, y + dy, 50);
        let (pp, pm, mp, mm) = (k(h, h), k(h, -h), k(-h, h), k(-h, -h));
        let (p0, m0) = (k(h, 0.0), k(-h, 0.0));
        for (l, exact) in pair_moments(x, y, 50).iter().enumerate() {
            let mixed = (pp[l].hx_hy - pm[l].hx_hy - mp[l].hx_hy + mm[l].hx_hy) / (4.0 * h * h);
            let slope = (p0[l].hx_hy - m0[l].hx_hy) / (2.0 * h);
            assert!(
                (mixed - exact.dx_dy).abs() < 1e-6,
                "depth {}: {mixed} vs {}",
                l + 1,
                exact.dx_dy
            );
            assert!(
                (slope - exact.dx_hy).abs() < 1e-6,
                "depth {}: {slope} vs {}",
                l + 1,
                exact.dx_hy
            );
        }
    }

    #[test]
    fn feedforward_far_correlations_on_the_preset_grid() {
        // issue 19: 0.0896 at depth 1 (the value the lab checks), -0.179 at 2, -0.595 at 10
        let cfg = LabConfig {
            bn: false,
            depth: 10,
            ..LabConfig::default()
        };
        let stats: Vec<PairStats> = ClosedForm::of(&cfg)
            .unwrap()
            .summaries(&cfg)
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        for (depth, want, tol) in [(1, 0.0896, 5e-5), (2, -0.179, 5e-4), (10, -0.595, 5e-4)] {
            let got = stats[depth - 1].corr_far;
            assert!((got - want).abs() < tol, "depth {depth}: {got}");
        }
        // He layers keep E[g^2] from depth 1 on.
        assert!((stats[9].grad_var - stats[0].grad_var).abs() < 1e-12);
    }

    #[test]
    fn the_heatmap_holds_the_pairs_the_summaries_average() {
        // Eight points, one per block: the cells are the pairs' correlations.
        for inputs in [Inputs::Grid, Inputs::Independent] {
            let cfg = LabConfig {
                bn: false,
                points: 8,
                depth: 3,
                inputs,
                ..LabConfig::default()
            };
            for (stats, heat) in ClosedForm::of(&cfg).unwrap().summaries(&cfg) {
                let cell = |p: usize, q: usize| heat.cells[p * heat.side + q];
                assert_eq!(heat.side, 8);
                let mean =
                    |d: usize| (0..8 - d).map(|p| cell(p, p + d)).sum::<f64>() / (8 - d) as f64;
                assert!((mean(1) - stats.corr_neighbor).abs() < 1e-12);
                let far: f64 = (0..4)
                    .flat_map(|p| (p + 4..8).map(move |q| (p, q)))
                    .map(|(p, q)| cell(p, q))
                    .sum();
                assert!((far / 10.0 - stats.corr_far).abs() < 1e-12);
                for p in 0..8 {
                    assert!((cell(p, p) - 1.0).abs() < 1e-12);
                    for q in 0..8 {
                        assert_eq!(cell(p, q), cell(q, p));
                    }
                }
            }
        }
    }
}
