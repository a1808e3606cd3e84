//! 3x3 convolution (pad 1, stride 1 or 2) over CNHW activations with an OIHW kernel read as
//! an (O x 9·C) matrix: forward and both gradients, each one lowering plus one GEMM whose
//! long dimension is the batch's pixels (so the vector lanes are full even at 8 channels).

use crate::kernels::Real;
use crate::kernels::gemm::{Op, matmul};
use crate::kernels::im2col::{ConvShape, col2im, im2col};

/// `z (O x pixels) = kernel · im2col(x)`, using `col` as scratch.
pub fn forward<T: Real>(
    s: &ConvShape,
    x: &[T],
    kernel: &[T],
    col: &mut [T],
    z: &mut [T],
    threads: usize,
) {
    im2col(s, x, col);
    let dims = (s.c_out, s.patch(), s.pixels());
    matmul(z, kernel, Op::N, col, Op::N, dims, false, threads);
}

/// Kernel gradient `dk (O x 9·C) = gz · im2col(x)ᵀ`; leaves the lowered `x` in `col`.
pub fn backward_kernel<T: Real>(
    s: &ConvShape,
    x: &[T],
    gz: &[T],
    col: &mut [T],
    dk: &mut [T],
    threads: usize,
) {
    im2col(s, x, col);
    let dims = (s.c_out, s.pixels(), s.patch());
    matmul(dk, gz, Op::N, col, Op::T, dims, false, threads);
}

/// Input gradient `dx = col2im(kernelᵀ · gz)`, using `col` as scratch.
pub fn backward_input<T: Real>(
    s: &ConvShape,
    gz: &[T],
    kernel: &[T],
    col: &mut [T],
    dx: &mut [T],
    threads: usize,
) {
    let dims = (s.patch(), s.c_out, s.pixels());
    matmul(col, kernel, Op::T, gz, Op::N, dims, false, threads);
    col2im(s, col, dx);
}
