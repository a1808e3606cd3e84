//! Statistics of gradients over the input grid (paper §7): autocorrelation, unit activity
//! and contiguity, and noise references computed with the same estimators (covariances and
//! correlations over nets: `readout`).

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

/// Largest ACF lag reported.
pub const MAX_LAG: usize = 32;

/// Biased, mean-subtracted autocorrelation r(0..=max_lag) of one series:
/// r(k) = sum_{p<P-k} (g_p - m)(g_{p+k} - m) / sum_p (g_p - m)^2.
///
/// A series constant up to round-off (spread below 1e-9 of its size, e.g. a looks-linear
/// net's gradient) counts as perfectly smooth, r(k) = 1: normalising its round-off would
/// otherwise paint it as white noise.
pub fn acf(g: &[f64], max_lag: usize) -> Vec<f64> {
    let n = g.len();
    let (lo, hi) = g
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    if hi - lo <= 1e-9 * lo.abs().max(hi.abs()) {
        return vec![1.0; max_lag.min(n - 1) + 1];
    }
    let mean = g.iter().sum::<f64>() / n as f64;
    let c: Vec<f64> = g.iter().map(|v| v - mean).collect();
    let denom: f64 = c.iter().map(|v| v * v).sum();
    (0..=max_lag.min(n - 1))
        .map(|k| {
            c[..n - k]
                .iter()
                .zip(&c[k..])
                .map(|(a, b)| a * b)
                .sum::<f64>()
                / denom
        })
        .collect()
}

/// Element-wise mean and standard error (sample std / sqrt(n)) of equal-length rows.
/// The standard error is NaN (JSON null) for fewer than two rows.
pub fn mean_and_se(rows: &[Vec<f64>]) -> (Vec<f64>, Vec<f64>) {
    let n = rows.len() as f64;
    let len = rows.first().map_or(0, Vec::len);
    let mean: Vec<f64> = (0..len)
        .map(|i| rows.iter().map(|r| r[i]).sum::<f64>() / n)
        .collect();
    let se = (0..len)
        .map(|i| {
            if rows.len() < 2 {
                return f64::NAN;
            }
            let ss: f64 = rows.iter().map(|r| (r[i] - mean[i]).powi(2)).sum();
            (ss / (n - 1.0) / n).sqrt()
        })
        .collect();
    (mean, se)
}

/// Activity of the rectifier units of one layer, pooled over nets.
#[derive(Clone, Debug, PartialEq)]
pub struct Activity {
    /// Mean over units of the fraction of grid points where the unit is active.
    pub active_fraction: f64,
    /// Fraction of units active at all points or at none.
    pub saturated_fraction: f64,
    /// Mean length of the maximal runs of consecutive active points (0 if none).
    pub mean_run_length: f64,
    /// Histogram of per-unit active fractions, `FRACTION_BINS` equal bins on [0, 1].
    pub fraction_histogram: Vec<usize>,
    /// Histogram of run lengths: bin b counts runs of length in [2^b, 2^(b+1)).
    pub run_histogram: Vec<usize>,
}

/// Bins of the active-fraction histogram.
pub const FRACTION_BINS: usize = 10;

/// Activity from signs laid out (nets x points x units), `true` where active.
pub fn activity(active: &[bool], points: usize, units: usize) -> Activity {
    let unit_count = active.len() / points;
    let run_bins = usize::BITS as usize - points.leading_zeros() as usize;
    // Nets are counted apart, in parallel, then summed.
    let counts = active
        .par_chunks_exact(points * units)
        .map(|net| UnitCounts::of_net(net, points, units, run_bins))
        .reduce(|| UnitCounts::new(run_bins), UnitCounts::add);
    Activity {
        // Integer sums: the same for any split of the nets over the cores.
        active_fraction: counts.on as f64 / (points * unit_count) as f64,
        saturated_fraction: counts.saturated as f64 / unit_count as f64,
        mean_run_length: if counts.runs == 0 {
            0.0
        } else {
            counts.on as f64 / counts.runs as f64
        },
        fraction_histogram: counts.fraction_histogram,
        run_histogram: counts.run_histogram,
    }
}

/// Sums behind `Activity` over some nets.
struct UnitCounts {
    on: usize,
    runs: usize,
    saturated: usize,
    fraction_histogram: Vec<usize>,
    run_histogram: Vec<usize>,
}

impl UnitCounts {
    fn new(run_bins: usize) -> Self {
        Self {
            on: 0,
            runs: 0,
            saturated: 0,
            fraction_histogram: vec![0; FRACTION_BINS],
            run_histogram: vec![0; run_bins],
        }
    }

    fn add(mut self, other: Self) -> Self {
        self.on += other.on;
        self.runs += other.runs;
        self.saturated += other.saturated;
        for (a, b) in [
            (&mut self.fraction_histogram, &other.fraction_histogram),
            (&mut self.run_histogram, &other.run_histogram),
        ] {
            a.iter_mut().zip(b).for_each(|(a, b)| *a += b);
        }
        self
    }

    /// One net's signs, (points x units).
    fn of_net(net: &[bool], points: usize, units: usize, run_bins: usize) -> Self {
        let mut counts = Self::new(run_bins);
        let run_bin = |run: usize| (usize::BITS - 1 - run.leading_zeros()) as usize;
        let mut on = vec![0usize; units];
        let mut run = vec![0usize; units];
        // Point-major rows: walk memory in order, one running count per unit. Branch-free:
        // in shattered layers activity flips at random, which defeats branch prediction.
        for row in net.chunks_exact(units) {
            for ((&a, on), run) in row.iter().zip(on.iter_mut()).zip(run.iter_mut()) {
                let a = usize::from(a);
                let ended = (1 - a) * usize::from(*run > 0);
                counts.run_histogram[run_bin(*run | 1)] += ended;
                counts.runs += ended;
                *on += a;
                *run = (*run + 1) * a;
            }
        }
        for (&on, &run) in on.iter().zip(&run) {
            if run > 0 {
                counts.run_histogram[run_bin(run)] += 1;
                counts.runs += 1;
            }
            counts.on += on;
            counts.saturated += usize::from(on == 0 || on == points);
            let fraction = on as f64 / points as f64;
            counts.fraction_histogram
                [((fraction * FRACTION_BINS as f64) as usize).min(FRACTION_BINS - 1)] += 1;
        }
        counts
    }
}

/// Reference noise processes, drawn from their own seeded stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Noise {
    /// Cumulative sum of Gaussian noise.
    Brown,
    /// Independent Gaussian samples.
    White,
}

/// `count` series of `points` samples of a noise process.
pub fn noise_series(kind: Noise, points: usize, count: usize, seed: u64) -> Vec<Vec<f64>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..count)
        .map(|_| {
            let white: Vec<f64> = (0..points)
                .map(|_| <StandardNormal as Distribution<f64>>::sample(&StandardNormal, &mut rng))
                .collect();
            match kind {
                Noise::White => white,
                Noise::Brown => white
                    .iter()
                    .scan(0.0, |s, v| {
                        *s += v;
                        Some(*s)
                    })
                    .collect(),
            }
        })
        .collect()
}

/// Mean and standard error of the ACF of `count` noise series, the same estimator as for
/// gradients.
pub fn noise_acf(kind: Noise, points: usize, count: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
    let acfs: Vec<Vec<f64>> = noise_series(kind, points, count, seed)
        .iter()
        .map(|s| acf(s, MAX_LAG))
        .collect();
    mean_and_se(&acfs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acf_of_alternating_series_is_minus_one_at_lag_one() {
        let g: Vec<f64> = (0..100)
            .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        let r = acf(&g, 2);
        assert_eq!(r[0], 1.0);
        assert!((r[1] + 0.99).abs() < 1e-12);
        assert!((r[2] - 0.98).abs() < 1e-12);
    }

    #[test]
    fn acf_of_constant_series_is_perfectly_smooth() {
        assert_eq!(acf(&[3.0, 3.0 + 1e-14, 3.0], 2), vec![1.0; 3]);
    }

    #[test]
    fn activity_counts_runs_and_saturation() {
        // one net, 6 points, 2 units: unit 0 pattern 110110 (2 runs of 2), unit 1 always on
        let pattern = [true, true, false, true, true, false];
        let active: Vec<bool> = pattern.iter().flat_map(|&a| [a, true]).collect();
        let a = activity(&active, 6, 2);
        assert_eq!(a.saturated_fraction, 0.5);
        assert!((a.active_fraction - (4.0 / 6.0 + 1.0) / 2.0).abs() < 1e-12);
        assert_eq!(a.mean_run_length, 10.0 / 3.0);
        assert_eq!(a.run_histogram, vec![0, 2, 1]);
    }
}
