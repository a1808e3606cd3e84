//! The non-linear half of a layer in forward mode: optional batch norm over the grid points,
//! then the rectifier, applied to the values and, alike, to their tangents d/dx.
//!
//! Tensors are (nets, (1 + K) * P, C): the first P rows of each net are the values at the P
//! grid points, the next K blocks of P rows are tangents along K input directions (K = 1
//! when the Jacobian is diagonal, K = P when batch statistics are differentiated). The
//! output has C * m columns, m = 2 for CReLU ([relu(y) | relu(-y)]).
//!
//! Two implementations of the same maths: `host` works on one net's rows in place of the
//! CPU engine's reused buffers (the hot path of every sweep), `composed` is built from candle
//! ops and so runs on any device; tests hold them equal.

use candle_core::{Result, Tensor};
use num_traits::Float;

use crate::config::{Activation, BnGrad, LabConfig};

/// Added to the batch variance before the square root, as in common BN layers.
pub const BN_EPS: f64 = 1e-5;

/// What to apply after a layer's matrix.
#[derive(Clone, Copy, Debug)]
pub struct Rectify {
    /// Grid points P.
    pub points: usize,
    /// Tangent directions K.
    pub directions: usize,
    /// Normalise each unit over the P points.
    pub batch_norm: bool,
    /// Differentiate through the batch statistics (else they are constants).
    pub through_stats: bool,
    /// CReLU instead of ReLU.
    pub crelu: bool,
}

impl Rectify {
    /// The lab's rectifier for `cfg`: its points, tangent directions, batch norm and
    /// activation.
    pub fn for_lab(cfg: &LabConfig) -> Self {
        Self {
            points: cfg.points,
            directions: cfg.tangent_directions(),
            batch_norm: cfg.bn,
            through_stats: cfg.bn_grad == BnGrad::Through,
            crelu: cfg.act == Activation::Crelu,
        }
    }

    /// Output units per input unit: the one CReLU factor, `Activation::multiplier`.
    pub(crate) fn multiplier(&self) -> usize {
        let act = if self.crelu {
            Activation::Crelu
        } else {
            Activation::Relu
        };
        act.multiplier()
    }

    /// The same maths from candle ops, for every device.
    pub fn composed(&self, z: &Tensor) -> Result<Tensor> {
        let (nets, _, c) = z.dims3()?;
        let (p, k) = (self.points, self.directions);
        let val = z.narrow(1, 0, p)?;
        let tan = z.narrow(1, p, k * p)?.reshape((nets, k, p, c))?;
        let (y, dy) = if self.batch_norm {
            let mu = val.mean_keepdim(1)?;
            let centred = val.broadcast_sub(&mu)?;
            let inv_std = (centred.sqr()?.mean_keepdim(1)? + BN_EPS)?
                .sqrt()?
                .recip()?;
            let y = centred.broadcast_mul(&inv_std)?;
            let inv_std = inv_std.unsqueeze(1)?;
            let dy = if self.through_stats {
                let y4 = y.unsqueeze(1)?;
                let mean_dz = tan.mean_keepdim(2)?;
                let mean_y_dz = tan.broadcast_mul(&y4)?.mean_keepdim(2)?;
                tan.broadcast_sub(&mean_dz)?
                    .sub(&y4.broadcast_mul(&mean_y_dz)?)?
                    .broadcast_mul(&inv_std)?
            } else {
                tan.broadcast_mul(&inv_std)?
            };
            (y, dy)
        } else {
            (val, tan)
        };
        let on = y.gt(0.0)?.to_dtype(z.dtype())?.unsqueeze(1)?;
        let mut values = vec![y.relu()?];
        let mut tangents = vec![dy.broadcast_mul(&on)?];
        if self.crelu {
            let off = y.lt(0.0)?.to_dtype(z.dtype())?.unsqueeze(1)?;
            values.push(y.neg()?.relu()?);
            tangents.push(dy.neg()?.broadcast_mul(&off)?);
        }
        let out_c = c * self.multiplier();
        let values = Tensor::cat(&values, 2)?;
        let tangents = Tensor::cat(&tangents, 3)?.reshape((nets, k * p, out_c))?;
        Tensor::cat(&[values, tangents], 1)
    }

    /// One net's block on the host: `z` is ((1 + K) P x c), `out` ((1 + K) P x c m).
    /// `y` is scratch for the normalised values, kept by the caller so that no layer
    /// allocates. Every inner loop runs along a row without branches, so it vectorises.
    pub fn host<T: Float>(&self, z: &[T], out: &mut [T], c: usize, y: &mut Vec<T>) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F, checked just above.
            unsafe { self.host_avx512(z, out, c, y) };
            return;
        }
        self.host_portable(z, out, c, y);
    }

    /// `host` compiled for AVX-512: eight f64 lanes instead of SSE2's two (the crate is
    /// built for baseline x86-64, so only code compiled this way uses the wide registers).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn host_avx512<T: Float>(&self, z: &[T], out: &mut [T], c: usize, y: &mut Vec<T>) {
        self.host_portable(z, out, c, y);
    }

    #[inline(always)]
    fn host_portable<T: Float>(&self, z: &[T], out: &mut [T], c: usize, y: &mut Vec<T>) {
        let (p, m) = (self.points, self.multiplier());
        let oc = c * m;
        let zero = T::zero();
        let n = T::from(p).unwrap_or(T::one());
        let (values, tangents) = z.split_at(p * c);
        let (out_values, out_tangents) = out.split_at_mut(p * oc);

        // Per-column mean, 1 / std and the two tangent corrections, in one buffer. Every
        // entry is written before it is read, so the buffer is only grown, never cleared
        // (clearing it was a tenth of this pass).
        if y.len() < p * c + 4 * c {
            y.resize(p * c + 4 * c, zero);
        }
        let (y, columns) = y.split_at_mut(p * c);
        let (mean, rest) = columns.split_at_mut(c);
        let (inv_std, rest) = rest.split_at_mut(c);
        let (mean_dz, mean_y_dz) = rest.split_at_mut(c);
        mean.fill(zero);
        if self.batch_norm {
            for row in values.chunks_exact(c) {
                mean.iter_mut().zip(row).for_each(|(s, &v)| *s = *s + v);
            }
            mean.iter_mut().for_each(|s| *s = *s / n);
            inv_std.fill(zero);
            for row in values.chunks_exact(c) {
                for ((s, &v), &mu) in inv_std.iter_mut().zip(row).zip(mean.iter()) {
                    *s = *s + (v - mu) * (v - mu);
                }
            }
            let eps = T::from(BN_EPS).unwrap_or(zero);
            for s in inv_std.iter_mut() {
                *s = (*s / n + eps).sqrt().recip();
            }
        } else {
            inv_std.fill(T::one());
        }
        // Normalised values y, kept for the tangents' masks.
        for ((y_row, row), o_row) in y
            .chunks_exact_mut(c)
            .zip(values.chunks_exact(c))
            .zip(out_values.chunks_exact_mut(oc))
        {
            for (((yv, &v), &mu), &inv) in y_row
                .iter_mut()
                .zip(row)
                .zip(mean.iter())
                .zip(inv_std.iter())
            {
                *yv = (v - mu) * inv;
            }
            let (on, off) = o_row.split_at_mut(c);
            on.iter_mut()
                .zip(y_row.iter())
                .for_each(|(o, &v)| *o = v.max(zero));
            off.iter_mut()
                .zip(y_row.iter())
                .for_each(|(o, &v)| *o = (-v).max(zero));
        }
        let through = self.batch_norm && self.through_stats;
        for (dz_block, o_block) in tangents
            .chunks_exact(p * c)
            .zip(out_tangents.chunks_exact_mut(p * oc))
        {
            if through {
                mean_dz.fill(zero);
                mean_y_dz.fill(zero);
                for (dz_row, y_row) in dz_block.chunks_exact(c).zip(y.chunks_exact(c)) {
                    for (((s, sy), &dz), &v) in mean_dz
                        .iter_mut()
                        .zip(mean_y_dz.iter_mut())
                        .zip(dz_row)
                        .zip(y_row)
                    {
                        *s = *s + dz;
                        *sy = *sy + v * dz;
                    }
                }
                mean_dz.iter_mut().for_each(|v| *v = *v / n);
                mean_y_dz.iter_mut().for_each(|v| *v = *v / n);
            }
            for ((dz_row, y_row), o_row) in dz_block
                .chunks_exact(c)
                .zip(y.chunks_exact(c))
                .zip(o_block.chunks_exact_mut(oc))
            {
                let (on, off) = o_row.split_at_mut(c);
                let (inv, md, myd) = (&inv_std[..c], &mean_dz[..c], &mean_y_dz[..c]);
                // dy = (dz - E[dz] - y E[y dz]) / std through the statistics, dz / std
                // frozen; indexed loops over slices of length c, so they vectorise.
                let dy = |j: usize| {
                    if through {
                        (dz_row[j] - md[j] - y_row[j] * myd[j]) * inv[j]
                    } else {
                        dz_row[j] * inv[j]
                    }
                };
                for (j, o) in on.iter_mut().enumerate() {
                    *o = if y_row[j] > zero { dy(j) } else { zero };
                }
                for (j, o) in off.iter_mut().enumerate() {
                    *o = if y_row[j] < zero { -dy(j) } else { zero };
                }
            }
        }
    }
}
