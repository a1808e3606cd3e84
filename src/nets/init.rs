//! Seeded weight initialisers. Matrices are returned row-major as (fan_in x fan_out), the
//! layout that right-multiplies a (points x fan_in) activation matrix.

use faer::dyn_stack::{MemBuffer, MemStack, StackReq};
use faer::linalg::householder;
use faer::linalg::qr::no_pivoting::factor as qr;
use faer::prelude::{Reborrow, ReborrowMut};
use faer::{Conj, Mat, MatMut, Par};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// A deterministic random stream for one net: the seed picks the experiment, the stream the
/// net within it, so net r is the same whatever the number of nets drawn beside it.
#[derive(Clone)]
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
            .map(|_| {
                std * <StandardNormal as Distribution<f64>>::sample(&StandardNormal, &mut self.0)
            })
            .collect()
    }

    /// Gaussian (fan_in x fan_out) matrix with variance `var`.
    pub fn gaussian_matrix(&mut self, fan_in: usize, fan_out: usize, var: f64) -> Vec<f64> {
        self.gaussian(fan_in * fan_out, var.sqrt())
    }

    /// `gain` times a Haar-random (fan_in x fan_out) matrix with orthonormal columns (if
    /// fan_in >= fan_out) or rows (otherwise).
    pub fn orthogonal(&mut self, fan_in: usize, fan_out: usize, gain: f64) -> Vec<f64> {
        let (n, k) = (fan_in.max(fan_out), fan_in.min(fan_out));
        let q = self.orthonormal_columns(n, k);
        if fan_in >= fan_out {
            // Q's columns are W's columns: transpose column-major Q into row-major W.
            let mut w = vec![0.0; n * k];
            for (c, column) in q.chunks_exact(n).enumerate() {
                for (r, &v) in column.iter().enumerate() {
                    w[r * k + c] = gain * v;
                }
            }
            w
        } else {
            // Q's columns are W's rows: column-major Q is row-major W as it stands.
            q.into_iter().map(|v| gain * v).collect()
        }
    }

    /// Looks-linear matrix for a CReLU input: [W; -W] with W an orthogonal
    /// (fan_in/2 x fan_out) matrix, so that [relu(z), relu(-z)] . [W; -W] = z . W.
    pub fn mirrored_orthogonal(&mut self, fan_in: usize, fan_out: usize) -> Vec<f64> {
        let half = self.orthogonal(fan_in / 2, fan_out, 1.0);
        half.iter()
            .copied()
            .chain(half.iter().map(|v| -v))
            .collect()
    }

    /// `k` orthonormal columns of length `n` (k <= n), column-major: the Q of the QR
    /// decomposition of an (n x k) Gaussian matrix (blocked Householder, faer), each column
    /// signed so that R's diagonal is positive. That makes Q Haar distributed, and the same
    /// as Gram-Schmidt on the Gaussian columns would give.
    fn orthonormal_columns(&mut self, n: usize, k: usize) -> Vec<f64> {
        let mut a = self.gaussian(n * k, 1.0);
        let block = qr::recommended_block_size::<f64>(n, k);
        let mut coeff = Mat::<f64>::zeros(block, k);
        let mut memory = MemBuffer::new(StackReq::any_of(&[
            qr::qr_in_place_scratch::<f64>(n, k, block, Par::Seq, Default::default()),
            householder::apply_block_householder_sequence_on_the_left_in_place_scratch::<f64>(
                n, block, k,
            ),
        ]));
        let mut basis = MatMut::from_column_major_slice_mut(&mut a, n, k);
        qr::qr_in_place(
            basis.rb_mut(),
            coeff.as_mut(),
            Par::Seq,
            MemStack::new(&mut memory),
            Default::default(),
        );
        // R sits on and above the diagonal: keep its diagonal's signs, leave the unit lower
        // trapezoidal Householder basis.
        let signs: Vec<f64> = (0..k).map(|j| basis[(j, j)].signum()).collect();
        for j in 0..k {
            for i in 0..j {
                basis[(i, j)] = 0.0;
            }
            basis[(j, j)] = 1.0;
        }
        let mut q = vec![0.0; n * k];
        for j in 0..k {
            q[j * n + j] = 1.0;
        }
        householder::apply_block_householder_sequence_on_the_left_in_place_with_conj(
            basis.rb(),
            coeff.as_ref(),
            Conj::No,
            MatMut::from_column_major_slice_mut(&mut q, n, k),
            Par::Seq,
            MemStack::new(&mut memory),
        );
        for (column, sign) in q.chunks_exact_mut(n).zip(signs) {
            column.iter_mut().for_each(|v| *v *= sign);
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

    /// The QR with a positive diagonal is unique, so Q^T G upper triangular with a positive
    /// diagonal pins Q to the one Gram-Schmidt on G's columns gives.
    #[test]
    fn orthogonal_is_the_positive_diagonal_qr_of_the_gaussian_draw() {
        for (fan_in, fan_out) in [(40, 40), (30, 12), (12, 30)] {
            let (n, k) = (fan_in.max(fan_out), fan_in.min(fan_out));
            let g = WeightRng::new(5, 1).gaussian(n * k, 1.0);
            let w = WeightRng::new(5, 1).orthogonal(fan_in, fan_out, 1.0);
            // Column j of Q, whichever way W holds it.
            let q = |i: usize, j: usize| {
                if fan_in >= fan_out {
                    w[i * fan_out + j]
                } else {
                    w[j * fan_out + i]
                }
            };
            for a in 0..k {
                for b in 0..k {
                    let r: f64 = (0..n).map(|i| q(i, a) * g[b * n + i]).sum();
                    match a.cmp(&b) {
                        std::cmp::Ordering::Greater => assert!(r.abs() < 1e-12, "R[{a},{b}] = {r}"),
                        std::cmp::Ordering::Equal => assert!(r > 0.0, "R[{a},{a}] = {r}"),
                        std::cmp::Ordering::Less => {}
                    }
                }
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
