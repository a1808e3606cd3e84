//! Gradient covariances over random nets, estimated two ways. With u_p = dh_L/dx at point p
//! and the readout v, the gradient is g_p = v . u_p, and:
//! - **random readout**: each net's own v, g_p g_q averaged over nets. It is what one net's
//!   gradient shows, but a single Gaussian v per net dominates the spread over seeds.
//! - **integrated readout**: v ~ N(0, I/N) averaged out exactly, E_v[g_p g_q] = u_p . u_q / N,
//!   so the spread over nets is that of their hidden layers alone.
//!
//! Both are one computation on per-point vectors z_p (z = g with one dimension, or z = u with
//! N), estimating E[g_p g_q] by `scale` times the mean over nets of z_p . z_q. Every summary is
//! linear in the points: sums over the pairs at a fixed distance use prefix sums of the
//! normalised vectors, and the pooled heatmap uses block sums, so no P x P Gram is formed.

use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::*;
use serde::Serialize;

/// Which estimate of the gradient covariances the lab shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Estimator {
    /// The readout integrated out: the hidden layers' spread alone.
    #[default]
    Integrated,
    /// Each net's own random readout: what one net's gradient shows.
    Random,
}

impl Estimator {
    pub fn flipped(self) -> Self {
        match self {
            Estimator::Integrated => Estimator::Random,
            Estimator::Random => Estimator::Integrated,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Estimator::Integrated => "integrated readout",
            Estimator::Random => "random readout",
        }
    }
}

/// Per-point vectors of R nets, net-major (nets x points x dim), with E[g_p g_q] estimated by
/// `scale` times the mean over nets of z_p . z_q.
#[derive(Clone, Debug, PartialEq)]
pub struct PointVectors {
    /// û_p = z_p / sqrt(mean over nets of |z_p|^2), normalised in place: û_p . û_q averaged
    /// over nets is the pooled correlation of p and q.
    unit: Vec<f64>,
    points: usize,
    dim: usize,
    scale: f64,
    /// |z_p|^2 of every net and point (nets x points), before normalising.
    norm2: Vec<f64>,
}

/// What a mirrored readout [v; -v] (looks-linear) reads of tangent rows `width` wide: the
/// difference of their two halves, which does not depend on which half of a CReLU a unit's
/// sign sent its tangent to.
pub fn mirrored_difference(tangents: &[f64], width: usize) -> Vec<f64> {
    let half = width / 2;
    tangents
        .chunks_exact(width)
        .flat_map(|u| u[..half].iter().zip(&u[half..]).map(|(a, b)| a - b))
        .collect()
}

/// Covariance and correlation summaries of one depth under one readout, each with its
/// standard error over nets (the spread of the per-net terms of the pooled mean).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PairStats {
    /// Mean over points of E[g_p^2]: C(i) of the theorems.
    pub grad_var: f64,
    pub grad_var_se: f64,
    /// Mean correlation between neighbouring points.
    pub corr_neighbor: f64,
    pub corr_neighbor_se: f64,
    /// Mean correlation between points at least half the grid apart: the regime of the
    /// theorems, whose inputs have independent activation patterns.
    pub corr_far: f64,
    pub corr_far_se: f64,
    /// Mean correlation over all pairs, by distance.
    pub corr_by_distance: DistanceCurve,
}

/// Mean correlation of the pairs in each distance bin: bin b holds the pairs (p, q) with
/// `from[b] <= q - p < to[b]`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DistanceCurve {
    pub from: Vec<usize>,
    pub to: Vec<usize>,
    pub corr: Vec<f64>,
    pub se: Vec<f64>,
}

/// Bin edges of the distance curve for `points` points: 1, 2, 3, 4, 6, 8, 12, ... (two per
/// octave), always including the far-pair threshold P/2 and ending at P.
pub fn distance_edges(points: usize) -> Vec<usize> {
    let gap = far_gap(points);
    let mut edges: Vec<usize> = (0..usize::BITS - 2)
        .flat_map(|k| [1usize << k, 3usize << k >> 1])
        .filter(|&e| e >= 1 && e < points)
        .chain([gap, points])
        .collect();
    edges.sort_unstable();
    edges.dedup();
    edges
}

impl PairStats {
    /// The summaries of known covariances, with the estimator's definitions: `grad_var` is the
    /// mean over points of E[g_p^2], and `by_distance[d]` (d = 1..P-1; entry 0 unused) the sum
    /// over the pairs q - p = d of their correlation. Exact, so every standard error is 0.
    pub fn exact(grad_var: f64, by_distance: &[f64]) -> Self {
        let points = by_distance.len();
        let edges = distance_edges(points);
        let bin = |lo: usize, hi: usize| {
            let pairs = (pairs_at_least(points, lo) - pairs_at_least(points, hi)) as f64;
            by_distance[lo..hi].iter().sum::<f64>() / pairs
        };
        let corr: Vec<f64> = edges.windows(2).map(|e| bin(e[0], e[1])).collect();
        PairStats {
            grad_var,
            grad_var_se: 0.0,
            corr_neighbor: bin(1, 2),
            corr_neighbor_se: 0.0,
            corr_far: bin(far_gap(points), points),
            corr_far_se: 0.0,
            corr_by_distance: DistanceCurve {
                from: edges[..edges.len() - 1].to_vec(),
                to: edges[1..].to_vec(),
                se: vec![0.0; corr.len()],
                corr,
            },
        }
    }
}

/// One net's part of the pooled sums: its mean of scale |z_p|^2 and, per distance edge e,
/// the sum over pairs q - p >= e of û_p . û_q.
type NetSums = (f64, Vec<f64>);

/// Far pairs are at least this far apart: half the grid.
fn far_gap(points: usize) -> usize {
    (points / 2).max(1)
}

/// Pairs (p, q), q - p >= d, among `points` points.
fn pairs_at_least(points: usize, d: usize) -> usize {
    let n = points.saturating_sub(d);
    n * (n + 1) / 2
}

impl PointVectors {
    /// The random-readout estimator: z_p = g_p, each net's own gradient (nets x points).
    pub fn random(grads: &[f64], points: usize) -> Self {
        Self::new(grads.to_vec(), points, 1, 1.0)
    }

    /// The integrated-readout estimator from the tangents u_p = dh/dx (nets x points x
    /// width). A Gaussian readout N(0, I/N) gives E_v[g_p g_q] = u_p . u_q / N. A mirrored
    /// (looks-linear) readout [v; -v], v ~ N(0, 2/N), gives (2/N) (a_p - b_p) . (a_q - b_q)
    /// for the halves u = [a; b].
    pub fn integrated(tangents: Vec<f64>, points: usize, width: usize, mirrored: bool) -> Self {
        if !mirrored {
            return Self::new(tangents, points, width, 1.0 / width as f64);
        }
        Self::new(
            mirrored_difference(&tangents, width),
            points,
            width / 2,
            2.0 / width as f64,
        )
    }

    fn new(mut data: Vec<f64>, points: usize, dim: usize, scale: f64) -> Self {
        let nets = (data.len() / (points * dim)).max(1) as f64;
        let norm2: Vec<f64> = data.par_chunks_exact(dim).map(|z| dot(z, z)).collect();
        let mut pooled = vec![0.0; points];
        for net in norm2.chunks_exact(points) {
            pooled.iter_mut().zip(net).for_each(|(p, n)| *p += n);
        }
        let inv_norm: Vec<f64> = pooled.iter().map(|n| (nets / n).sqrt()).collect();
        data.par_chunks_exact_mut(points * dim).for_each(|net| {
            for (z, s) in net.chunks_exact_mut(dim).zip(&inv_norm) {
                z.iter_mut().for_each(|v| *v *= s);
            }
        });
        Self {
            unit: data,
            points,
            dim,
            scale,
            norm2,
        }
    }

    fn nets(&self) -> usize {
        self.unit.len() / (self.points * self.dim)
    }

    /// Second moments, neighbour, far and by-distance correlations with standard errors.
    pub fn pair_stats(&self) -> PairStats {
        let (p, dim) = (self.points, self.dim);
        let edges = distance_edges(p);
        // Per net: its mean of scale |z_p|^2 and, per edge e, the sum over pairs q - p >= e
        // of û_p . û_q.
        let per_net: Vec<NetSums> = self
            .unit
            .par_chunks_exact(p * dim)
            .zip(self.norm2.par_chunks_exact(p))
            .map_init(Vec::new, |suffix, (u, norm2)| {
                let var = norm2.iter().sum::<f64>() * self.scale / p as f64;
                // suffix[k] = sum of û_q over q >= k. Pairs at distance >= e sum to
                // sum_q û_q . suffix[q + e]: rows are contiguous, so that is one long dot
                // product of two slices.
                suffix.clear();
                suffix.resize((p + 1) * dim, 0.0);
                for k in (0..p).rev() {
                    let (head, tail) = suffix.split_at_mut((k + 1) * dim);
                    head[k * dim..]
                        .iter_mut()
                        .zip(&tail[..dim])
                        .zip(&u[k * dim..(k + 1) * dim])
                        .for_each(|((out, next), v)| *out = next + v);
                }
                let beyond = edges
                    .iter()
                    .map(|&e| {
                        let n = (p - e) * dim;
                        long_dot(&u[..n], &suffix[e * dim..][..n])
                    })
                    .collect();
                (var, beyond)
            })
            .collect();
        let column = |f: &dyn Fn(&NetSums) -> f64| -> (f64, f64) {
            mean_se(&per_net.iter().map(f).collect::<Vec<_>>())
        };
        let edge = |e: usize| edges.iter().position(|&x| x == e).unwrap_or(0);
        let bin = |lo: usize, hi: usize| {
            let pairs = (pairs_at_least(p, edges[lo]) - pairs_at_least(p, edges[hi])) as f64;
            column(&|(_, b)| (b[lo] - b[hi]) / pairs)
        };
        let (grad_var, grad_var_se) = column(&|(v, _)| *v);
        let (corr_neighbor, corr_neighbor_se) = bin(0, 1);
        let gap = edge(far_gap(p));
        let (corr_far, corr_far_se) = bin(gap, edges.len() - 1);
        let (corr, se) = (0..edges.len() - 1).map(|b| bin(b, b + 1)).unzip();
        PairStats {
            grad_var,
            grad_var_se,
            corr_neighbor,
            corr_neighbor_se,
            corr_far,
            corr_far_se,
            corr_by_distance: DistanceCurve {
                from: edges[..edges.len() - 1].to_vec(),
                to: edges[1..].to_vec(),
                corr,
                se,
            },
        }
    }

    /// The correlation matrix block-averaged to `side` x `side` (row-major): the mean of
    /// û_p . û_q over a block is the dot product of the blocks' sums, so the cost is
    /// side^2 dot products per net instead of P^2.
    pub fn pooled_correlation(&self, side: usize) -> Vec<f64> {
        let (p, dim) = (self.points, self.dim);
        let span = |i: usize| (i * p / side)..((i + 1) * p / side);
        let sums = self
            .unit
            .par_chunks_exact(p * dim)
            .map(|net| {
                let blocks: Vec<Vec<f64>> = (0..side)
                    .map(|b| {
                        let mut sum = vec![0.0; dim];
                        for u in net[span(b).start * dim..span(b).end * dim].chunks_exact(dim) {
                            sum.iter_mut().zip(u).for_each(|(acc, v)| *acc += v);
                        }
                        sum
                    })
                    .collect();
                let mut cells = vec![0.0; side * side];
                for r in 0..side {
                    for c in r..side {
                        let v = dot(&blocks[r], &blocks[c]);
                        cells[r * side + c] = v;
                        cells[c * side + r] = v;
                    }
                }
                cells
            })
            .reduce(
                || vec![0.0; side * side],
                |mut a, b| {
                    a.iter_mut().zip(&b).for_each(|(a, b)| *a += b);
                    a
                },
            );
        let nets = self.nets() as f64;
        sums.iter()
            .enumerate()
            .map(|(i, s)| s / (nets * span(i / side).len() as f64 * span(i % side).len() as f64))
            .collect()
    }
}

/// Dot product of long slices by faer, whose kernels pick the CPU's widest vectors at run
/// time (AVX-512 where there is one); the distance sums are most of the estimator's cost.
fn long_dot(a: &[f64], b: &[f64]) -> f64 {
    let mut out = [0.0];
    faer::linalg::matmul::matmul(
        MatMut::from_row_major_slice_mut(&mut out, 1, 1),
        Accum::Replace,
        MatRef::from_row_major_slice(a, 1, a.len()),
        MatRef::from_row_major_slice(b, b.len(), 1),
        1.0,
        Par::Seq,
    );
    out[0]
}

/// Dot product with four accumulators, so the compiler can keep it in vector registers.
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..4 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f64>() + tail
}

/// Mean and standard error (NaN for fewer than two values).
fn mean_se(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return (mean, f64::NAN);
    }
    let ss: f64 = values.iter().map(|v| (v - mean).powi(2)).sum();
    (mean, (ss / (n - 1.0) / n).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The correlation matrix of the estimator, formed directly (O(P^2)).
    fn full_correlation(v: &PointVectors) -> Vec<f64> {
        let (p, dim) = (v.points, v.dim);
        let mut c = vec![0.0; p * p];
        for net in v.unit.chunks_exact(p * dim) {
            for i in 0..p {
                for j in 0..p {
                    c[i * p + j] += dot(&net[i * dim..][..dim], &net[j * dim..][..dim]);
                }
            }
        }
        let d: Vec<f64> = (0..p).map(|i| c[i * p + i]).collect();
        (0..p * p)
            .map(|k| c[k] / (d[k / p] * d[k % p]).sqrt())
            .collect()
    }

    fn vectors(points: usize, dim: usize) -> PointVectors {
        let data = (0..3 * points * dim)
            .map(|i| ((i * 7919) % 13) as f64 - 6.0)
            .collect();
        PointVectors::new(data, points, dim, 1.0)
    }

    #[test]
    fn edges_are_two_per_octave_with_the_far_threshold() {
        assert_eq!(
            distance_edges(256),
            vec![1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256]
        );
        assert_eq!(distance_edges(10), vec![1, 2, 3, 4, 5, 6, 8, 10]);
        assert_eq!(distance_edges(2), vec![1, 2]);
    }

    #[test]
    fn summaries_match_the_full_correlation_matrix() {
        for (points, dim) in [(9, 1), (10, 3), (2, 2)] {
            let v = vectors(points, dim);
            let corr = full_correlation(&v);
            let mean_over = |pairs: Vec<(usize, usize)>| {
                pairs
                    .iter()
                    .map(|&(i, j)| corr[i * points + j])
                    .sum::<f64>()
                    / pairs.len() as f64
            };
            let at = |lo: usize, hi: usize| {
                (0..points)
                    .flat_map(|i| (i + lo..(i + hi).min(points)).map(move |j| (i, j)))
                    .collect::<Vec<_>>()
            };
            let s = v.pair_stats();
            assert!((s.corr_neighbor - mean_over(at(1, 2))).abs() < 1e-12);
            assert!((s.corr_far - mean_over(at(far_gap(points), points))).abs() < 1e-12);
            let d = &s.corr_by_distance;
            for b in 0..d.corr.len() {
                assert!((d.corr[b] - mean_over(at(d.from[b], d.to[b]))).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn exact_summaries_match_the_estimator_on_the_same_correlations() {
        // One "net" whose vectors have the correlations of the estimator's own pooled matrix:
        // the exact summaries of that matrix are the estimator's.
        let points = 10;
        let v = vectors(points, 3);
        let corr = full_correlation(&v);
        let mut by_distance = vec![0.0; points];
        for p in 0..points {
            for q in p + 1..points {
                by_distance[q - p] += corr[p * points + q];
            }
        }
        let (want, got) = (v.pair_stats(), PairStats::exact(1.0, &by_distance));
        assert!((got.corr_far - want.corr_far).abs() < 1e-12);
        assert!((got.corr_neighbor - want.corr_neighbor).abs() < 1e-12);
        let (g, w) = (&got.corr_by_distance, &want.corr_by_distance);
        assert_eq!((&g.from, &g.to), (&w.from, &w.to));
        assert!(
            g.corr
                .iter()
                .zip(&w.corr)
                .all(|(a, b)| (a - b).abs() < 1e-12)
        );
    }

    #[test]
    fn pooled_heatmap_averages_blocks_of_the_full_matrix() {
        let (points, side) = (10, 4);
        let v = vectors(points, 3);
        let corr = full_correlation(&v);
        let heat = v.pooled_correlation(side);
        let span = |i: usize| (i * points / side)..((i + 1) * points / side);
        for r in 0..side {
            for c in 0..side {
                let cells: Vec<f64> = span(r)
                    .flat_map(|i| span(c).map(move |j| (i, j)))
                    .map(|(i, j)| corr[i * points + j])
                    .collect();
                let want = cells.iter().sum::<f64>() / cells.len() as f64;
                assert!((heat[r * side + c] - want).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn mirrored_readout_integrates_over_the_tied_halves() {
        // one net, two points, u = [a; b]: E[(v.a - v.b)^2] = (2/N) |a - b|^2
        let u = vec![1.0, 2.0, 4.0, 0.0, 1.0, 0.0, 0.0, 1.0];
        let v = PointVectors::integrated(u, 2, 4, true);
        assert_eq!(v.norm2, vec![13.0, 2.0]);
        let s = v.pair_stats();
        assert!((s.grad_var - 0.5 * (13.0 + 2.0) / 2.0).abs() < 1e-12);
        assert!((s.corr_far - (-5.0 / (13.0f64 * 2.0).sqrt())).abs() < 1e-12);
    }
}
