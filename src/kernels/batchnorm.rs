//! Batch norm over each channel row (the pixels of the batch) of a (C x pixels) convolution
//! output: batch statistics and running statistics forward, and the backward pass through
//! the statistics. The normalisation itself is applied by `activation`'s fused affine map.
//! Channels are spread over the threads.

use rayon::prelude::*;

use crate::kernels::Real;
use crate::kernels::reduce::{centered_dot, centered_squares, sum};

/// Per-channel mean and biased variance of `z` (C rows), centred before squaring.
pub fn batch_stats<T: Real>(z: &[T], mean: &mut [T], var: &mut [T]) {
    let len = z.len() / mean.len();
    let n = T::from_usize(len).unwrap_or_else(T::one);
    z.par_chunks_exact(len)
        .zip(mean.par_iter_mut())
        .zip(var.par_iter_mut())
        .for_each(|((row, m), v)| {
            *m = sum(row) / n;
            *v = centered_squares(row, *m) / n;
        });
}

/// `γ/√(var + ε)` per channel.
pub fn scale<T: Real>(gamma: &[T], var: &[T], eps: T, out: &mut [T]) {
    for ((o, &g), &v) in out.iter_mut().zip(gamma).zip(var) {
        *o = g / (v + eps).sqrt();
    }
}

/// `running ← (1 − momentum)·running + momentum·batch`.
pub fn update_running<T: Real>(running: &mut [T], batch: &[T], momentum: T) {
    let keep = T::one() - momentum;
    for (r, &b) in running.iter_mut().zip(batch) {
        *r = *r * keep + b * momentum;
    }
}

/// Turns `gy` (the gradient of the normalised output, C rows) into the gradient of the
/// convolution output `z` in place, and writes the γ and β gradients:
/// `dz = γ/σ · (gy − mean(gy) − x̂·mean(gy·x̂))` with `x̂ = (z − μ)/σ`.
#[allow(clippy::too_many_arguments)]
pub fn backward<T: Real>(
    z: &[T],
    gy: &mut [T],
    mean: &[T],
    var: &[T],
    gamma: &[T],
    eps: T,
    d_gamma: &mut [T],
    d_beta: &mut [T],
) {
    let len = z.len() / mean.len();
    let n = T::from_usize(len).unwrap_or_else(T::one);
    z.par_chunks_exact(len)
        .zip(gy.par_chunks_exact_mut(len))
        .zip(d_gamma.par_iter_mut().zip(d_beta.par_iter_mut()))
        .enumerate()
        .for_each(|(ch, ((zr, gr), (d_gamma, d_beta)))| {
            let (mu, inv_std) = (mean[ch], T::one() / (var[ch] + eps).sqrt());
            *d_beta = sum(gr);
            *d_gamma = centered_dot(gr, zr, mu) * inv_std;
            let k = gamma[ch] * inv_std;
            let (mean_g, mean_gx) = (*d_beta / n, *d_gamma / n);
            for (g, &zv) in gr.iter_mut().zip(zr) {
                let xhat = (zv - mu) * inv_std;
                *g = k * (*g - mean_g - xhat * mean_gx);
            }
        });
}
