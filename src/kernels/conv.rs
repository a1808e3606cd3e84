//! 3x3 convolution (pad 1, stride 1 or 2) over CNHW activations with an OIHW kernel read as
//! an (O x 9·C) matrix: forward and both gradients as GEMMs over lowered blocks of images.
//!
//! Why blocks: lowering the whole batch at once writes a (9·C x pixels) matrix many times the
//! size of the core's L2 cache, and the GEMM then streams it from memory again (profiled:
//! lowering, packing and copying took twice the time of the arithmetic). A block of a few
//! images is lowered, multiplied and (for the input gradient) folded back while it is still in
//! cache. The threads split the batch, each with its own scratch, and run single-threaded
//! GEMMs: no synchronisation inside a product, whose dimensions are small.

use std::ops::Range;

use rayon::prelude::*;

use crate::kernels::Real;
use crate::kernels::gemm::{ColumnBlocks, Mat, MatMut, Op, product};
use crate::kernels::im2col::{ConvShape, TAPS, col2im, im2col};
use crate::kernels::inner::{Rows, accumulate_dots};

/// Lowered elements per block: a few hundred KiB, well inside one core's L2 cache.
const BLOCK_ELEMS: usize = 1 << 16;

/// Layers with at most this many filters get the kernel gradient as dot products
/// ([`accumulate_dots`]): the GEMM's 16-row micro-kernels would run at most half full.
/// Measured on a 32x32 stage of 8 filters and 8 channels: 1.7x the GEMM's rate, lowering
/// included; from 16 filters on the GEMM is as fast or faster.
const DOTS_MAX_FILTERS: usize = 8;

/// How a layer's kernel gradient is computed, and so how a thread's part is laid out.
#[derive(Clone, Copy, PartialEq, Eq)]
enum KernelGradient {
    /// (O x 9·C) += gz · im2col(x)ᵀ as dot products along the pixels.
    Dots,
    /// (9·C x O) += im2col(x) · gzᵀ as a GEMM: this way it repacks the short gz block, not
    /// the lowered one (9·C/O times larger).
    Transposed,
}

impl KernelGradient {
    fn for_shape(s: &ConvShape) -> Self {
        if s.c_out <= DOTS_MAX_FILTERS {
            Self::Dots
        } else {
            Self::Transposed
        }
    }

    /// Where element (o, p) of the (O x 9·C) kernel gradient sits in a thread's part.
    fn index(self, o: usize, p: usize, s: &ConvShape) -> usize {
        match self {
            Self::Dots => o * s.patch() + p,
            Self::Transposed => p * s.c_out + o,
        }
    }
}

/// One thread's scratch: a lowered block and its part of the kernel gradient.
struct Part<T> {
    col: Vec<T>,
    d_kernel: Vec<T>,
}

/// Scratch for the convolutions of a net, allocated once: one part per thread, and the
/// kernel flipped for the stride-1 input gradient.
pub struct Scratch<T> {
    parts: Vec<Part<T>>,
    flipped: Vec<T>,
}

impl<T: Real> Scratch<T> {
    /// Room for any of `shapes` (at their batch or less), split over `threads` threads.
    pub fn new<'a>(shapes: impl IntoIterator<Item = &'a ConvShape>, threads: usize) -> Self {
        let (mut col, mut kernel) = (0, 0);
        for s in shapes {
            col = col.max(lowered_rows(s) * block_images(s) * s.out_h() * s.out_w());
            kernel = kernel.max(s.c_out * s.patch());
        }
        let parts = (0..threads.max(1))
            .map(|_| Part {
                col: vec![T::zero(); col],
                d_kernel: vec![T::zero(); kernel],
            })
            .collect();
        Self {
            parts,
            flipped: vec![T::zero(); kernel],
        }
    }
}

impl<T> Scratch<T> {
    /// Elements held, over all threads.
    pub fn elements(&self) -> usize {
        self.parts
            .iter()
            .map(|p| p.col.len() + p.d_kernel.len())
            .sum::<usize>()
            + self.flipped.len()
    }
}

/// Rows of the largest lowered block: 9·C of the input, or at stride 1 also 9·O of the
/// output gradient (lowered for the input gradient).
fn lowered_rows(s: &ConvShape) -> usize {
    match s.stride {
        1 => s.patch().max(s.flipped().patch()),
        _ => s.patch(),
    }
}

/// Images lowered together: the most whose lowered block fits `BLOCK_ELEMS` (at least one).
fn block_images(s: &ConvShape) -> usize {
    let per_image = lowered_rows(s) * s.out_h() * s.out_w();
    (BLOCK_ELEMS / per_image).clamp(1, s.batch.max(1))
}

/// The blocks of images thread `t` of `threads` handles: an even, fixed share of the batch,
/// so the arithmetic (and its rounding) does not depend on scheduling.
fn blocks(s: &ConvShape, t: usize, threads: usize) -> impl Iterator<Item = Range<usize>> {
    let (start, end) = (s.batch * t / threads, s.batch * (t + 1) / threads);
    let step = block_images(s);
    (start..end)
        .step_by(step)
        .map(move |b| b..(b + step).min(end))
}

/// The kernel of the stride-1 input gradient: `flipped[c, o, ky, kx] = kernel[o, c, 2 − ky,
/// 2 − kx]`, a (C x 9·O) matrix.
fn flip<T: Real>(kernel: &[T], c_out: usize, c_in: usize, flipped: &mut [T]) {
    for o in 0..c_out {
        for c in 0..c_in {
            let src = &kernel[(o * c_in + c) * TAPS..][..TAPS];
            let dst = &mut flipped[(c * c_out + o) * TAPS..][..TAPS];
            for (tap, d) in dst.iter_mut().enumerate() {
                *d = src[TAPS - 1 - tap];
            }
        }
    }
}

/// `z (O x pixels) = kernel · im2col(x)`.
pub fn forward<T: Real>(
    s: &ConvShape,
    x: &[T],
    kernel: &[T],
    scratch: &mut Scratch<T>,
    z: &mut [T],
) {
    let (patch, image_px) = (s.patch(), s.out_h() * s.out_w());
    let out = ColumnBlocks::new(z, s.c_out, s.pixels());
    let threads = scratch.parts.len();
    scratch
        .parts
        .par_iter_mut()
        .enumerate()
        .for_each(|(t, part)| {
            for images in blocks(s, t, threads) {
                let cols = images.len() * image_px;
                let col = &mut part.col[..patch * cols];
                im2col(s, x, images.clone(), col);
                // SAFETY: threads take disjoint images, hence disjoint output columns.
                let dst = unsafe { out.block(images.start * image_px..images.end * image_px) };
                let k = Mat::dense(kernel, Op::N, patch);
                product(
                    dst,
                    k,
                    Mat::dense(col, Op::N, cols),
                    (s.c_out, patch, cols),
                    false,
                );
            }
        });
}

/// From `gz`, the gradient of `z`: the kernel gradient `dk = gz · im2col(x)ᵀ`, and when `dx` is
/// given the input gradient: at stride 1 the convolution of `gz` with the flipped kernel,
/// else `col2im(kernelᵀ · gz)`. Each block of images is done whole before the next.
pub fn backward<T: Real>(
    s: &ConvShape,
    x: &[T],
    gz: &[T],
    kernel: &[T],
    scratch: &mut Scratch<T>,
    dk: &mut [T],
    dx: Option<&mut [T]>,
) {
    let (patch, image_px, plane) = (s.patch(), s.out_h() * s.out_w(), s.h * s.w);
    let k_len = s.c_out * patch;
    let dx = dx.map(|d| ColumnBlocks::new(d, s.c_in, s.in_pixels()));
    if dx.is_some() && s.stride == 1 {
        flip(kernel, s.c_out, s.c_in, &mut scratch.flipped[..k_len]);
    }
    let flipped = &scratch.flipped;
    let gradient = KernelGradient::for_shape(s);
    let threads = scratch.parts.len();
    scratch
        .parts
        .par_iter_mut()
        .enumerate()
        .for_each(|(t, part)| {
            let d_kernel = &mut part.d_kernel[..k_len];
            d_kernel.fill(T::zero());
            for images in blocks(s, t, threads) {
                let cols = images.len() * image_px;
                let col = &mut part.col[..patch * cols];
                im2col(s, x, images.clone(), col);
                // This block's columns of gz: O rows, a whole batch's pixels apart.
                let g = Mat {
                    data: &gz[images.start * image_px..],
                    op: Op::N,
                    stride: s.pixels(),
                };
                match gradient {
                    KernelGradient::Dots => {
                        let g_rows = Rows {
                            data: g.data,
                            count: s.c_out,
                            stride: g.stride,
                            len: cols,
                        };
                        let lowered = Rows {
                            data: &*col,
                            count: patch,
                            stride: cols,
                            len: cols,
                        };
                        accumulate_dots(d_kernel, g_rows, lowered);
                    }
                    KernelGradient::Transposed => product(
                        MatMut::dense(d_kernel, patch, s.c_out),
                        Mat::dense(&*col, Op::N, cols),
                        Mat { op: Op::T, ..g },
                        (patch, cols, s.c_out),
                        true,
                    ),
                }
                let Some(dx) = &dx else { continue };
                let pixels = images.start * plane..images.end * plane;
                if s.stride == 1 {
                    // dx is the convolution of gz with the flipped kernel: one lowering of gz
                    // and a GEMM writing dx itself, instead of folding 9·C lowered rows back.
                    let f = s.flipped();
                    let col = &mut part.col[..f.patch() * cols];
                    im2col(&f, gz, images.clone(), col);
                    // SAFETY: threads take disjoint images, hence disjoint columns of dx.
                    let dst = unsafe { dx.block(pixels) };
                    let k = Mat::dense(&flipped[..], Op::N, f.patch());
                    product(
                        dst,
                        k,
                        Mat::dense(col, Op::N, cols),
                        (s.c_in, f.patch(), cols),
                        false,
                    );
                    continue;
                }
                let k_t = Mat::dense(kernel, Op::T, patch);
                product(
                    MatMut::dense(col, patch, cols),
                    k_t,
                    g,
                    (patch, s.c_out, cols),
                    false,
                );
                // SAFETY: threads take disjoint images, hence disjoint pixels of each channel.
                col2im(s, col, images.len(), |c| unsafe {
                    dx.row_part(c, pixels.clone())
                });
            }
        });
    // The threads' parts summed in a fixed order, so the result does not depend on
    // scheduling, into (O x 9·C).
    for (o, row) in dk[..k_len].chunks_exact_mut(patch).enumerate() {
        for (p, d) in row.iter_mut().enumerate() {
            let at = gradient.index(o, p, s);
            *d = scratch
                .parts
                .iter()
                .fold(T::zero(), |acc, part| acc + part.d_kernel[at]);
        }
    }
}
