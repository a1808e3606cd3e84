//! Lowering a 3x3, zero-padded (pad 1) convolution over channel-major activations to a matrix
//! product. Activations are stored CNHW: one row of N·H·W values per channel, so batch norm,
//! the rectifiers and CReLU's concatenation work on whole contiguous rows. The lowered matrix
//! has one row per (channel, tap) and one column per output pixel of the batch, so the
//! kernel is candle's OIHW tensor read as an (O x 9·C) matrix, without conversion.

use std::ops::Range;

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

    /// The stride-1 convolution from this one's output back to its input (the input
    /// gradient's, with the kernel flipped); only meaningful at stride 1.
    pub fn flipped(&self) -> ConvShape {
        ConvShape {
            c_in: self.c_out,
            c_out: self.c_in,
            ..*self
        }
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

/// Writes the lowered (9·C x pixels of `images`) matrix of `x` (the whole batch, CNHW)
/// into `col`.
pub fn im2col<T: Real>(s: &ConvShape, x: &[T], images: Range<usize>, col: &mut [T]) {
    let (oh, ow, plane) = (s.out_h(), s.out_w(), s.h * s.w);
    let cols = images.len() * oh * ow;
    for (r, dst_row) in col[..s.patch() * cols].chunks_exact_mut(cols).enumerate() {
        let (c, tap) = (r / TAPS, r % TAPS);
        let (ky, kx) = (tap / KERNEL, tap % KERNEL);
        let src_c = &x[c * s.in_pixels()..(c + 1) * s.in_pixels()];
        if s.stride == 1 {
            lower_planes(src_c, images.start * plane, dst_row, (s.h, s.w), (ky, kx));
            continue;
        }
        let (first, count, ix0) = s.columns(kx);
        for (img, dst_img) in images.clone().zip(dst_row.chunks_exact_mut(oh * ow)) {
            let src = &src_c[img * plane..(img + 1) * plane];
            for (oy, dst) in dst_img.chunks_exact_mut(ow).enumerate() {
                let Some(iy) = s.source_row(oy, ky) else {
                    dst.fill(T::zero());
                    continue;
                };
                let line = &src[iy * s.w..(iy + 1) * s.w];
                dst[..first].fill(T::zero());
                dst[first + count..].fill(T::zero());
                for (j, o) in dst[first..first + count].iter_mut().enumerate() {
                    *o = line[ix0 + j * s.stride];
                }
            }
        }
    }
}

/// The adjoint of `im2col` for a block of `images`: sums every lowered entry back onto the
/// input pixel it was read from. `channel(c)` gives channel c's pixels of those images
/// (overwritten). The entries that fell on the zero padding are discarded.
pub fn col2im<'a, T: Real>(
    s: &ConvShape,
    col: &[T],
    images: usize,
    mut channel: impl FnMut(usize) -> &'a mut [T],
) {
    let (oh, ow, plane) = (s.out_h(), s.out_w(), s.h * s.w);
    let cols = images * oh * ow;
    for (c, taps) in col[..s.patch() * cols]
        .chunks_exact(TAPS * cols)
        .enumerate()
    {
        let dst_c = channel(c);
        dst_c[..images * plane].fill(T::zero());
        for (tap, src_row) in taps.chunks_exact(cols).enumerate() {
            let (ky, kx) = (tap / KERNEL, tap % KERNEL);
            let (first, count, ix0) = s.columns(kx);
            for (src_img, dst) in src_row
                .chunks_exact(oh * ow)
                .zip(dst_c.chunks_exact_mut(plane))
            {
                for (oy, src) in src_img.chunks_exact(ow).enumerate() {
                    let Some(iy) = s.source_row(oy, ky) else {
                        continue;
                    };
                    let line = &mut dst[iy * s.w..(iy + 1) * s.w];
                    for (j, &g) in src[first..first + count].iter().enumerate() {
                        let d = &mut line[ix0 + j * s.stride];
                        *d = *d + g;
                    }
                }
            }
        }
    }
}

/// Stride 1 keeps the plane's shape, and a channel's images lie back to back in its row, so
/// tap (ky, kx) of a block of images is the row shifted by `(ky − 1)·w + kx − 1` elements: one
/// long copy for the whole block instead of a short copy per image (or per row), which on
/// the 4x4 and 8x8 stages was mostly call overhead. The entries that read across an edge
/// (the neighbouring image's row, or the neighbouring row's pixel for the padding column)
/// are zeroed after.
///
/// `src` is the channel's whole row, `start` the block's first pixel in it, and `dst` the
/// block's lowered row (whole `h x w` images).
fn lower_planes<T: Real>(
    src: &[T],
    start: usize,
    dst: &mut [T],
    (h, w): (usize, usize),
    (ky, kx): (usize, usize),
) {
    let d = (ky as isize - 1) * w as isize + kx as isize - 1;
    let from = start as isize + d;
    // Output positions whose source lies inside the row.
    let lo = (-from).max(0) as usize;
    let hi = ((src.len() as isize - from).max(0) as usize).min(dst.len());
    let lo = lo.min(hi);
    dst[..lo].fill(T::zero());
    dst[hi..].fill(T::zero());
    let at = (lo as isize + from) as usize;
    dst[lo..hi].copy_from_slice(&src[at..at + (hi - lo)]);
    // The first or last row of each image read its neighbour's (or nothing).
    let plane = h * w;
    let edge_row = match ky {
        0 => Some(0),
        k if k == KERNEL - 1 => Some(plane - w),
        _ => None,
    };
    if let Some(row) = edge_row {
        for image in dst.chunks_exact_mut(plane) {
            image[row..row + w].fill(T::zero());
        }
    }
    // The first or last column read the neighbouring row's pixel.
    let edge_column = match kx {
        0 => Some(0),
        k if k == KERNEL - 1 => Some(w - 1),
        _ => None,
    };
    if let Some(column) = edge_column {
        dst.iter_mut()
            .skip(column)
            .step_by(w)
            .for_each(|v| *v = T::zero());
    }
}
