//! The non-linear half of a layer in forward mode: optional batch norm over the grid points,
//! then the rectifier, applied to the values and, alike, to their tangents d/dx.
//!
//! Tensors are (nets, (1 + K) * P, C): the first P rows of each net are the values at the P
//! grid points, the next K blocks of P rows are tangents along K input directions (K = 1
//! when the Jacobian is diagonal, K = P when batch statistics are differentiated). The
//! output has C * m columns, m = 2 for CReLU ([relu(y) | relu(-y)]).
//!
//! Two implementations of the same maths: `fused` is one pass over memory on the CPU (the
//! hot path of every sweep), `composed` is built from candle ops and so runs on any device;
//! tests hold them equal.

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor, WithDType};
use num_traits::Float;
use rayon::prelude::*;

use crate::config::Activation;

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
    /// Output units per input unit: the one CReLU factor, `Activation::multiplier`.
    pub(crate) fn multiplier(&self) -> usize {
        let act = if self.crelu {
            Activation::Crelu
        } else {
            Activation::Relu
        };
        act.multiplier()
    }

    /// The fused CPU kernel (errors on other devices).
    pub fn fused(&self, z: &Tensor) -> Result<Tensor> {
        z.apply_op1_no_bwd(self)
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

    /// One net's block: `z` is ((1 + K) P x c), `out` ((1 + K) P x c m).
    fn net_block<T: WithDType + Float>(&self, z: &[T], out: &mut [T], c: usize) {
        let (p, m) = (self.points, self.multiplier());
        let oc = c * m;
        let zero = T::zero();
        let n = T::from_f64(p as f64);
        let (values, tangents) = z.split_at(p * c);
        let (out_values, out_tangents) = out.split_at_mut(p * oc);

        let mut mean = vec![zero; c];
        let mut inv_std = vec![T::one(); c];
        if self.batch_norm {
            for row in values.chunks_exact(c) {
                mean.iter_mut().zip(row).for_each(|(s, &v)| *s += v);
            }
            mean.iter_mut().for_each(|s| *s /= n);
            let mut var = vec![zero; c];
            for row in values.chunks_exact(c) {
                for ((s, &v), &mu) in var.iter_mut().zip(row).zip(&mean) {
                    *s += (v - mu) * (v - mu);
                }
            }
            for (inv, v) in inv_std.iter_mut().zip(var) {
                *inv = (v / n + T::from_f64(BN_EPS)).sqrt().recip();
            }
        }
        // Normalised values y, kept for the tangents' masks.
        let mut y = vec![zero; p * c];
        for (y_row, row) in y.chunks_exact_mut(c).zip(values.chunks_exact(c)) {
            for (j, (yv, &v)) in y_row.iter_mut().zip(row).enumerate() {
                *yv = (v - mean[j]) * inv_std[j];
            }
        }
        for (o_row, y_row) in out_values.chunks_exact_mut(oc).zip(y.chunks_exact(c)) {
            for (j, &v) in y_row.iter().enumerate() {
                o_row[j] = if v > zero { v } else { zero };
                if m == 2 {
                    o_row[c + j] = if v < zero { -v } else { zero };
                }
            }
        }
        let through = self.batch_norm && self.through_stats;
        let mut mean_dz = vec![zero; c];
        let mut mean_y_dz = vec![zero; c];
        for (dz_block, o_block) in tangents
            .chunks_exact(p * c)
            .zip(out_tangents.chunks_exact_mut(p * oc))
        {
            if through {
                mean_dz.iter_mut().for_each(|v| *v = zero);
                mean_y_dz.iter_mut().for_each(|v| *v = zero);
                for (dz_row, y_row) in dz_block.chunks_exact(c).zip(y.chunks_exact(c)) {
                    for j in 0..c {
                        mean_dz[j] += dz_row[j];
                        mean_y_dz[j] += y_row[j] * dz_row[j];
                    }
                }
                mean_dz.iter_mut().for_each(|v| *v /= n);
                mean_y_dz.iter_mut().for_each(|v| *v /= n);
            }
            for ((dz_row, y_row), o_row) in dz_block
                .chunks_exact(c)
                .zip(y.chunks_exact(c))
                .zip(o_block.chunks_exact_mut(oc))
            {
                for j in 0..c {
                    let mut dy = dz_row[j];
                    if through {
                        dy = dy - mean_dz[j] - y_row[j] * mean_y_dz[j];
                    }
                    dy *= inv_std[j];
                    let v = y_row[j];
                    o_row[j] = if v > zero { dy } else { zero };
                    if m == 2 {
                        o_row[c + j] = if v < zero { -dy } else { zero };
                    }
                }
            }
        }
    }

    fn run<T: WithDType + Float>(&self, z: &[T], layout: &Layout) -> Result<(Vec<T>, Shape)> {
        let (nets, rows, c) = layout.shape().dims3()?;
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("rectify: input must be contiguous")
        };
        let z = &z[start..end];
        let oc = c * self.multiplier();
        let mut out = vec![T::zero(); nets * rows * oc];
        out.par_chunks_mut(rows * oc)
            .zip(z.par_chunks(rows * c))
            .for_each(|(o, zi)| self.net_block(zi, o, c));
        Ok((out, Shape::from((nets, rows, oc))))
    }
}

impl CustomOp1 for Rectify {
    fn name(&self) -> &'static str {
        "shatterlab-rectify"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        match storage {
            CpuStorage::F64(z) => {
                let (out, shape) = self.run(z, layout)?;
                Ok((CpuStorage::F64(out), shape))
            }
            CpuStorage::F32(z) => {
                let (out, shape) = self.run(z, layout)?;
                Ok((CpuStorage::F32(out), shape))
            }
            _ => candle_core::bail!("rectify: only f32 and f64 are supported"),
        }
    }
}
