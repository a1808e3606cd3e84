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
use crate::kernels::im2col::{ConvShape, col2im, im2col};

/// Lowered elements per block: a few hundred KiB, well inside one core's L2 cache.
const BLOCK_ELEMS: usize = 1 << 16;

/// One thread's scratch: a lowered block and its part of the kernel gradient, transposed.
struct Part<T> {
    col: Vec<T>,
    d_kernel_t: Vec<T>,
}

/// Scratch for the convolutions of a net, allocated once: one part per thread.
pub struct Scratch<T> {
    parts: Vec<Part<T>>,
}

impl<T: Real> Scratch<T> {
    /// Room for any of `shapes` (at their batch or less), split over `threads` threads.
    pub fn new<'a>(shapes: impl IntoIterator<Item = &'a ConvShape>, threads: usize) -> Self {
        let (mut col, mut kernel) = (0, 0);
        for s in shapes {
            col = col.max(s.patch() * block_images(s) * s.out_h() * s.out_w());
            kernel = kernel.max(s.c_out * s.patch());
        }
        let parts = (0..threads.max(1))
            .map(|_| Part {
                col: vec![T::zero(); col],
                d_kernel_t: vec![T::zero(); kernel],
            })
            .collect();
        Self { parts }
    }
}

impl<T> Scratch<T> {
    /// Elements held, over all threads.
    pub fn elements(&self) -> usize {
        self.parts
            .iter()
            .map(|p| p.col.len() + p.d_kernel_t.len())
            .sum()
    }
}

/// Images lowered together: the most whose lowered block fits `BLOCK_ELEMS` (at least one).
fn block_images(s: &ConvShape) -> usize {
    let per_image = s.patch() * s.out_h() * s.out_w();
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
/// given the input gradient `dx = col2im(kernelᵀ · gz)`, both from one lowering per block.
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
    let threads = scratch.parts.len();
    scratch
        .parts
        .par_iter_mut()
        .enumerate()
        .for_each(|(t, part)| {
            let d_kernel_t = &mut part.d_kernel_t[..k_len];
            d_kernel_t.fill(T::zero());
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
                // The kernel gradient transposed, (9·C x O) += im2col(x) · gzᵀ: this way the
                // GEMM repacks the short gz block, not the lowered one (9·C/O times larger).
                let g_t = Mat { op: Op::T, ..g };
                let dims = (patch, cols, s.c_out);
                let lowered = Mat::dense(&*col, Op::N, cols);
                product(
                    MatMut::dense(d_kernel_t, patch, s.c_out),
                    lowered,
                    g_t,
                    dims,
                    true,
                );
                let Some(dx) = &dx else { continue };
                let k_t = Mat::dense(kernel, Op::T, patch);
                product(
                    MatMut::dense(col, patch, cols),
                    k_t,
                    g,
                    (patch, s.c_out, cols),
                    false,
                );
                let pixels = images.start * plane..images.end * plane;
                // SAFETY: threads take disjoint images, hence disjoint pixels of each channel.
                col2im(s, col, images.len(), |c| unsafe {
                    dx.row_part(c, pixels.clone())
                });
            }
        });
    // The threads' parts summed in a fixed order, so the result does not depend on
    // scheduling, and transposed back to (O x 9·C).
    for (o, row) in dk[..k_len].chunks_exact_mut(patch).enumerate() {
        for (p, d) in row.iter_mut().enumerate() {
            *d = scratch.parts.iter().fold(T::zero(), |acc, part| {
                acc + part.d_kernel_t[p * s.c_out + o]
            });
        }
    }
}
