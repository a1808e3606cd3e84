//! The identity path of a skip pair on CNHW activations: 2x2 average pooling where the branch
//! strided, zero channels where it widened (each CReLU half padded on its own, so channel j
//! keeps its mirror j + C/2), added onto the branch output; and its adjoint.

use rayon::prelude::*;

use crate::kernels::Real;

/// Geometry of one shortcut: `batch` images of `c` channels of `h x w` onto `out_c`
/// channels of `h/pool x w/pool`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shortcut {
    pub batch: usize,
    pub h: usize,
    pub w: usize,
    pub c: usize,
    pub out_c: usize,
    /// 1, or 2 where the branch strided.
    pub pool: usize,
    /// 2 for CReLU activations, else 1.
    pub halves: usize,
}

impl Shortcut {
    /// Output channel of input channel `ch`.
    fn target(&self, ch: usize) -> usize {
        let (half_in, half_out) = (self.c / self.halves, self.out_c / self.halves);
        (ch / half_in) * half_out + ch % half_in
    }

    /// Input channel whose identity lands on output channel `t`; none for a widened
    /// channel, which only the branch feeds.
    fn source(&self, t: usize) -> Option<usize> {
        let (half_in, half_out) = (self.c / self.halves, self.out_c / self.halves);
        let within = t % half_out;
        (within < half_in).then(|| (t / half_out) * half_in + within)
    }

    fn in_row(&self) -> usize {
        self.batch * self.h * self.w
    }

    fn out_row(&self) -> usize {
        self.in_row() / (self.pool * self.pool)
    }
}

/// `out += shortcut(x)`, output channels spread over the threads.
pub fn add_forward<T: Real>(s: &Shortcut, x: &[T], out: &mut [T]) {
    let area = T::from_usize(s.pool * s.pool).unwrap_or_else(T::one);
    let (ow, p) = (s.w / s.pool, s.pool);
    out[..s.out_c * s.out_row()]
        .par_chunks_exact_mut(s.out_row())
        .enumerate()
        .for_each(|(t, dst)| {
            let Some(ch) = s.source(t) else { return };
            let src = &x[ch * s.in_row()..(ch + 1) * s.in_row()];
            if p == 1 {
                dst.iter_mut().zip(src).for_each(|(d, &v)| *d = *d + v);
                return;
            }
            // Output pixel k = (image·oh + oy)·ow + ox reads input rows p·(image·oh + oy) + dy.
            for (row, dst_row) in dst.chunks_exact_mut(ow).enumerate() {
                for (ox, d) in dst_row.iter_mut().enumerate() {
                    let mut sum = T::zero();
                    for dy in 0..p {
                        let line = (row * p + dy) * s.w;
                        for dx in 0..p {
                            sum = sum + src[line + ox * p + dx];
                        }
                    }
                    *d = *d + sum / area;
                }
            }
        });
}

/// `g_in += shortcutᵀ(g_out)`, input channels spread over the threads.
pub fn add_backward<T: Real>(s: &Shortcut, g_out: &[T], g_in: &mut [T]) {
    let area = T::from_usize(s.pool * s.pool).unwrap_or_else(T::one);
    let (ow, p) = (s.w / s.pool, s.pool);
    g_in[..s.c * s.in_row()]
        .par_chunks_exact_mut(s.in_row())
        .enumerate()
        .for_each(|(ch, dst)| {
            let t = s.target(ch);
            let src = &g_out[t * s.out_row()..(t + 1) * s.out_row()];
            if p == 1 {
                dst.iter_mut().zip(src).for_each(|(d, &g)| *d = *d + g);
                return;
            }
            for (line, dst_line) in dst.chunks_exact_mut(s.w).enumerate() {
                let src_row = &src[(line / p) * ow..(line / p + 1) * ow];
                for (x, d) in dst_line.iter_mut().enumerate() {
                    *d = *d + src_row[x / p] / area;
                }
            }
        });
}
