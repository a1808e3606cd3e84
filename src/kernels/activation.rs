//! The per-channel affine map after a convolution (a bias, or batch norm's normalisation)
//! fused with the rectifier, on channel rows, so the pre-activation is never stored: the
//! backward pass recomputes it from the convolution output with the same arithmetic.

use rayon::prelude::*;

use crate::kernels::Real;
use crate::kernels::reduce::sum;

/// `y = (z − center) · scale + shift` per channel: a bias is center 0, scale 1; batch norm
/// is center = mean, scale = γ/√(var + ε), shift = β.
pub struct Affine<'a, T> {
    pub center: &'a [T],
    pub scale: &'a [T],
    pub shift: &'a [T],
}

/// `out = relu(y)` (C rows), or with `crelu` the 2C rows [relu(y); relu(−y)]. Channels are
/// spread over the threads.
pub fn forward<T: Real>(z: &[T], channels: usize, aff: &Affine<T>, crelu: bool, out: &mut [T]) {
    let len = z.len() / channels;
    let (pos, neg) = out.split_at_mut(channels * len);
    let zero = T::zero();
    let rows = z.par_chunks_exact(len).zip(pos.par_chunks_exact_mut(len));
    if crelu {
        rows.zip(neg.par_chunks_exact_mut(len))
            .enumerate()
            .for_each(|(ch, ((zr, pr), nr))| {
                let (c, k, b) = (aff.center[ch], aff.scale[ch], aff.shift[ch]);
                for ((&zv, p), n) in zr.iter().zip(pr.iter_mut()).zip(nr.iter_mut()) {
                    let y = (zv - c) * k + b;
                    *p = y.max(zero);
                    *n = (-y).max(zero);
                }
            });
    } else {
        rows.enumerate().for_each(|(ch, (zr, pr))| {
            let (c, k, b) = (aff.center[ch], aff.scale[ch], aff.shift[ch]);
            for (&zv, p) in zr.iter().zip(pr.iter_mut()) {
                *p = ((zv - c) * k + b).max(zero);
            }
        });
    }
}

/// Gradient of the pre-activation: `gy = g · [y ≥ 0]`, or for CReLU
/// `g⁺ · [y ≥ 0] − g⁻ · [y ≤ 0]` (at 0 both sides, as candle's ReLU gradient).
pub fn backward<T: Real>(
    z: &[T],
    g_out: &[T],
    channels: usize,
    aff: &Affine<T>,
    crelu: bool,
    gy: &mut [T],
) {
    let len = z.len() / channels;
    let (g_pos, g_neg) = g_out.split_at(channels * len);
    let zero = T::zero();
    z.par_chunks_exact(len)
        .zip(g_pos.par_chunks_exact(len))
        .zip(gy.par_chunks_exact_mut(len))
        .enumerate()
        .for_each(|(ch, ((zr, gr), dr))| {
            let (c, k, b) = (aff.center[ch], aff.scale[ch], aff.shift[ch]);
            if crelu {
                let nr = &g_neg[ch * len..(ch + 1) * len];
                for (((&zv, &gp), &gn), d) in zr.iter().zip(gr).zip(nr).zip(dr.iter_mut()) {
                    let y = (zv - c) * k + b;
                    let pos = if y >= zero { gp } else { zero };
                    *d = if y <= zero { pos - gn } else { pos };
                }
            } else {
                for ((&zv, &g), d) in zr.iter().zip(gr).zip(dr.iter_mut()) {
                    let y = (zv - c) * k + b;
                    *d = if y >= zero { g } else { zero };
                }
            }
        });
}

/// Sum of each of the `sums.len()` rows of `x` (a bias gradient).
pub fn row_sums<T: Real>(x: &[T], sums: &mut [T]) {
    let len = x.len() / sums.len();
    sums.par_iter_mut()
        .zip(x.par_chunks_exact(len))
        .for_each(|(s, row)| *s = sum(row));
}
