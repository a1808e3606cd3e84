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
        let (first, count, ix0) = s.columns(kx);
        let src_c = &x[c * s.in_pixels()..(c + 1) * s.in_pixels()];
        for (img, dst_img) in images.clone().zip(dst_row.chunks_exact_mut(oh * ow)) {
            let src = &src_c[img * plane..(img + 1) * plane];
            if s.stride == 1 {
                lower_plane(src, dst_img, s.w, (ky, kx));
                continue;
            }
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

/// The adjoint of `im2col` for a block of `images`: sums every lowered entry back onto the
/// input pixel it was read from. `channel(c)` gives channel c's pixels of those images
/// (overwritten). The entries that fell on the zero padding are discarded (and zeroed in
/// `col`).
pub fn col2im<'a, T: Real>(
    s: &ConvShape,
    col: &mut [T],
    images: usize,
    mut channel: impl FnMut(usize) -> &'a mut [T],
) {
    let (oh, ow, plane) = (s.out_h(), s.out_w(), s.h * s.w);
    let cols = images * oh * ow;
    for (c, taps) in col[..s.patch() * cols]
        .chunks_exact_mut(TAPS * cols)
        .enumerate()
    {
        let dst_c = channel(c);
        dst_c[..images * plane].fill(T::zero());
        for (tap, src_row) in taps.chunks_exact_mut(cols).enumerate() {
            let (ky, kx) = (tap / KERNEL, tap % KERNEL);
            let (first, count, ix0) = s.columns(kx);
            for (src_img, dst) in src_row
                .chunks_exact_mut(oh * ow)
                .zip(dst_c.chunks_exact_mut(plane))
            {
                if s.stride == 1 {
                    fold_plane(src_img, dst, s.w, (ky, kx));
                    continue;
                }
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
}

/// Stride 1 keeps the plane's shape, so tap (ky, kx) reads the plane shifted by
/// `(ky − 1)·w + kx − 1` elements: one long copy instead of a short copy per row. Returns the
/// shift and the range of output positions whose source lies inside the plane.
fn shift(plane: usize, w: usize, (ky, kx): (usize, usize)) -> (isize, Range<usize>) {
    let d = (ky as isize - 1) * w as isize + kx as isize - 1;
    let lo = (-d).max(0) as usize;
    let hi = (plane as isize - d.max(0)) as usize;
    (d, lo..hi.max(lo))
}

/// The output column whose shifted source wrapped onto the neighbouring row (the padding
/// column), if the tap has one.
fn wrapped_column(w: usize, kx: usize) -> Option<usize> {
    match kx {
        0 => Some(0),
        k if k == KERNEL - 1 => Some(w - 1),
        _ => None,
    }
}

/// One channel's plane of one image lowered for tap (ky, kx), stride 1.
fn lower_plane<T: Real>(src: &[T], dst: &mut [T], w: usize, tap: (usize, usize)) {
    let (d, inside) = shift(src.len(), w, tap);
    dst[..inside.start].fill(T::zero());
    dst[inside.end..].fill(T::zero());
    let from = (inside.start as isize + d) as usize;
    dst[inside.clone()].copy_from_slice(&src[from..from + inside.len()]);
    if let Some(x) = wrapped_column(w, tap.1) {
        dst.iter_mut()
            .skip(x)
            .step_by(w)
            .for_each(|v| *v = T::zero());
    }
}

/// The adjoint of `lower_plane`: adds `src` (zeroing its padding entries) onto `dst`.
fn fold_plane<T: Real>(src: &mut [T], dst: &mut [T], w: usize, tap: (usize, usize)) {
    if let Some(x) = wrapped_column(w, tap.1) {
        src.iter_mut()
            .skip(x)
            .step_by(w)
            .for_each(|v| *v = T::zero());
    }
    let (d, inside) = shift(src.len(), w, tap);
    let to = (inside.start as isize + d) as usize;
    dst[to..to + inside.len()]
        .iter_mut()
        .zip(&src[inside])
        .for_each(|(o, &g)| *o = *o + g);
}
