//! Lowering a 3x3, zero-padded (pad 1) convolution over channel-major activations to a matrix
//! product. Activations are stored CNHW: one row of N·H·W values per channel, so batch norm,
//! the rectifiers and CReLU's concatenation work on whole contiguous rows. The lowered matrix
//! has one row per (channel, tap) and one column per output pixel of the batch, so the
//! kernel is candle's OIHW tensor read as an (O x 9·C) matrix, without conversion.

use crate::kernels::Real;

/// Kernel side and taps of the paper's convolutions.
pub const KERNEL: usize = 3;
pub const TAPS: usize = KERNEL * KERNEL;

/// One convolution's geometry: `batch` images of `c_in` channels of `h x w` to `c_out`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvShape {
    pub batch: usize,
    pub h: usize,
    pub w: usize,
    pub c_in: usize,
    pub c_out: usize,
    pub stride: usize,
}

impl ConvShape {
    pub fn out_h(&self) -> usize {
        (self.h - 1) / self.stride + 1
    }

    pub fn out_w(&self) -> usize {
        (self.w - 1) / self.stride + 1
    }

    /// Output pixels over the batch: the lowered matrix's columns.
    pub fn pixels(&self) -> usize {
        self.batch * self.out_h() * self.out_w()
    }

    /// 9·C: the lowered matrix's rows.
    pub fn patch(&self) -> usize {
        TAPS * self.c_in
    }

    /// Input pixels over the batch (one channel row).
    pub fn in_pixels(&self) -> usize {
        self.batch * self.h * self.w
    }

    pub fn input_len(&self) -> usize {
        self.in_pixels() * self.c_in
    }

    pub fn output_len(&self) -> usize {
        self.pixels() * self.c_out
    }

    /// Output columns `ox` whose tap `kx` reads inside the image, and the input column
    /// of the first: `ix = ox·stride + kx − 1`.
    fn columns(&self, kx: usize) -> (usize, usize, usize) {
        let first = usize::from(kx == 0);
        let last = ((self.w - kx) / self.stride).min(self.out_w() - 1);
        let count = (last + 1).saturating_sub(first);
        (first, count, first * self.stride + kx - 1)
    }

    /// The input row tap `ky` of output row `oy` reads, if inside.
    fn source_row(&self, oy: usize, ky: usize) -> Option<usize> {
        let iy = (oy * self.stride + ky).checked_sub(1)?;
        (iy < self.h).then_some(iy)
    }
}

/// Writes the lowered (9·C x pixels) matrix of `x` (CNHW) into `col`.
pub fn im2col<T: Real>(s: &ConvShape, x: &[T], col: &mut [T]) {
    let (oh, ow, plane) = (s.out_h(), s.out_w(), s.h * s.w);
    let cols = s.pixels();
    for (r, dst_row) in col[..s.patch() * cols].chunks_exact_mut(cols).enumerate() {
        let (c, tap) = (r / TAPS, r % TAPS);
        let (ky, kx) = (tap / KERNEL, tap % KERNEL);
        let (first, count, ix0) = s.columns(kx);
        let src_c = &x[c * s.in_pixels()..(c + 1) * s.in_pixels()];
        for (img, dst_img) in dst_row.chunks_exact_mut(oh * ow).enumerate() {
            let src = &src_c[img * plane..(img + 1) * plane];
            for (oy, dst) in dst_img.chunks_exact_mut(ow).enumerate() {
                let Some(iy) = s.source_row(oy, ky) else {
                    dst.fill(T::zero());
                    continue;
                };
                let line = &src[iy * s.w..(iy + 1) * s.w];
                dst[..first].fill(T::zero());
                dst[first + count..].fill(T::zero());
                let out = &mut dst[first..first + count];
                if s.stride == 1 {
                    out.copy_from_slice(&line[ix0..ix0 + count]);
                } else {
                    for (j, o) in out.iter_mut().enumerate() {
                        *o = line[ix0 + j * s.stride];
                    }
                }
            }
        }
    }
}

/// The adjoint of `im2col`: sums every lowered entry back onto the input pixel it was read
/// from, overwriting `dx` (CNHW).
pub fn col2im<T: Real>(s: &ConvShape, col: &[T], dx: &mut [T]) {
    let (oh, ow, plane) = (s.out_h(), s.out_w(), s.h * s.w);
    let cols = s.pixels();
    dx[..s.input_len()].fill(T::zero());
    for (r, src_row) in col[..s.patch() * cols].chunks_exact(cols).enumerate() {
        let (c, tap) = (r / TAPS, r % TAPS);
        let (ky, kx) = (tap / KERNEL, tap % KERNEL);
        let (first, count, ix0) = s.columns(kx);
        let dst_c = &mut dx[c * s.in_pixels()..(c + 1) * s.in_pixels()];
        for (img, src_img) in src_row.chunks_exact(oh * ow).enumerate() {
            let dst = &mut dst_c[img * plane..(img + 1) * plane];
            for (oy, src) in src_img.chunks_exact(ow).enumerate() {
                let Some(iy) = s.source_row(oy, ky) else {
                    continue;
                };
                let line = &mut dst[iy * s.w..(iy + 1) * s.w];
                let src = &src[first..first + count];
                if s.stride == 1 {
                    line[ix0..ix0 + count]
                        .iter_mut()
                        .zip(src)
                        .for_each(|(d, &g)| *d = *d + g);
                } else {
                    for (j, &g) in src.iter().enumerate() {
                        let d = &mut line[ix0 + j * s.stride];
                        *d = *d + g;
                    }
                }
            }
        }
    }
}
