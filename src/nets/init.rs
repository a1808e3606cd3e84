//! Seeded weight initialisers. Matrices are returned row-major as (fan_in x fan_out), the
//! layout that right-multiplies a (points x fan_in) activation matrix.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// A deterministic random stream for one net: the seed picks the experiment, the stream the
/// net within it, so net r is the same whatever the number of nets drawn beside it.
pub struct WeightRng(ChaCha8Rng);

impl WeightRng {
    pub fn new(seed: u64, stream: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream);
        Self(rng)
    }

    /// `n` independent N(0, std^2) draws.
    pub fn gaussian(&mut self, n: usize, std: f64) -> Vec<f64> {
        (0..n)
            .map(|_| std * <StandardNormal as Distribution<f64>>::sample(&StandardNormal, &mut self.0))
            .collect()
    }

    /// Gaussian (fan_in x fan_out) matrix with variance `var`.
    pub fn gaussian_matrix(&mut self, fan_in: usize, fan_out: usize, var: f64) -> Vec<f64> {
        self.gaussian(fan_in * fan_out, var.sqrt())
    }

    /// `gain` times a Haar-random (fan_in x fan_out) matrix with orthonormal columns (if
    /// fan_in >= fan_out) or rows (otherwise).
    pub fn orthogonal(&mut self, fan_in: usize, fan_out: usize, gain: f64) -> Vec<f64> {
        if fan_in >= fan_out {
            // fan_out orthonormal vectors of length fan_in, stored as columns.
            let q = self.orthonormal_rows(fan_out, fan_in);
            let mut w = vec![0.0; fan_in * fan_out];
            for (c, row) in q.chunks_exact(fan_in).enumerate() {
                for (r, &v) in row.iter().enumerate() {
                    w[r * fan_out + c] = gain * v;
                }
            }
            w
        } else {
            self.orthonormal_rows(fan_in, fan_out)
                .into_iter()
                .map(|v| gain * v)
                .collect()
        }
    }

    /// Looks-linear matrix for a CReLU input: [W; -W] with W an orthogonal
    /// (fan_in/2 x fan_out) matrix, so that [relu(z), relu(-z)] . [W; -W] = z . W.
    pub fn mirrored_orthogonal(&mut self, fan_in: usize, fan_out: usize) -> Vec<f64> {
        let half = self.orthogonal(fan_in / 2, fan_out, 1.0);
        half.iter().copied().chain(half.iter().map(|v| -v)).collect()
    }

    /// `k` orthonormal rows of length `n` (k <= n): Gram-Schmidt (twice, for stability) on
    /// Gaussian rows, which is QR with a positive diagonal, hence Haar distributed.
    fn orthonormal_rows(&mut self, k: usize, n: usize) -> Vec<f64> {
        let mut q = self.gaussian(k * n, 1.0);
        for i in 0..k {
            let (done, rest) = q.split_at_mut(i * n);
            let row = &mut rest[..n];
            for _ in 0..2 {
                for prev in done.chunks_exact(n) {
                    let dot: f64 = prev.iter().zip(row.iter()).map(|(a, b)| a * b).sum();
                    row.iter_mut().zip(prev).for_each(|(r, p)| *r -= dot * p);
                }
            }
            let norm = row.iter().map(|v| v * v).sum::<f64>().sqrt();
            row.iter_mut().for_each(|v| *v /= norm);
        }
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gram(w: &[f64], rows: usize, cols: usize) -> Vec<f64> {
        // columns' Gram matrix W^T W
        let mut g = vec![0.0; cols * cols];
        for a in 0..cols {
            for b in 0..cols {
                g[a * cols + b] = (0..rows).map(|r| w[r * cols + a] * w[r * cols + b]).sum();
            }
        }
        g
    }

    #[test]
    fn orthogonal_columns_are_orthonormal() {
        let mut rng = WeightRng::new(1, 0);
        let w = rng.orthogonal(12, 5, 1.0);
        let g = gram(&w, 12, 5);
        for a in 0..5 {
            for b in 0..5 {
                let want = if a == b { 1.0 } else { 0.0 };
                assert!((g[a * 5 + b] - want).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn mirrored_orthogonal_cancels_on_crelu() {
        let mut rng = WeightRng::new(2, 3);
        let w = rng.mirrored_orthogonal(8, 4);
        for r in 0..4 {
            for c in 0..4 {
                assert_eq!(w[r * 4 + c], -w[(r + 4) * 4 + c]);
            }
        }
    }

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a = WeightRng::new(7, 0).gaussian(4, 1.0);
        assert_eq!(a, WeightRng::new(7, 0).gaussian(4, 1.0));
        assert_ne!(a, WeightRng::new(7, 1).gaussian(4, 1.0));
    }
}
