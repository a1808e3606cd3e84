//! Row-major matrix products on the `gemm` crate (AVX-512/AVX2/FMA kernels chosen at run time),
//! behind a safe, bounds-checked signature.

use gemm::Parallelism;

use crate::kernels::Real;

/// How an operand is read: as stored, or transposed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Stored row-major with the shape the product needs.
    N,
    /// Stored row-major as the transpose of what the product needs.
    T,
}

/// Row and column strides of an `rows x cols` operand stored row-major as `op` says.
fn strides(op: Op, rows: usize, cols: usize) -> (isize, isize) {
    match op {
        Op::N => (cols as isize, 1),
        Op::T => (1, rows as isize),
    }
}

/// `c (m x n) = op(a) (m x k) · op(b) (k x n)`, plus the old `c` when `accumulate`.
/// `threads` > 1 lets the crate split the product over rayon's pool.
#[allow(clippy::too_many_arguments)]
pub fn matmul<T: Real>(
    c: &mut [T],
    a: &[T],
    a_op: Op,
    b: &[T],
    b_op: Op,
    (m, k, n): (usize, usize, usize),
    accumulate: bool,
    threads: usize,
) {
    assert!(c.len() >= m * n && a.len() >= m * k && b.len() >= k * n);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            c[..m * n].fill(T::zero());
        }
        return;
    }
    let (a_rs, a_cs) = strides(a_op, m, k);
    let (b_rs, b_cs) = strides(b_op, k, n);
    let parallelism = if threads > 1 {
        Parallelism::Rayon(threads)
    } else {
        Parallelism::None
    };
    // SAFETY: the asserts above keep every index the strides reach inside the slices:
    // op(a) reaches (m-1)·a_rs + (k-1)·a_cs < m·k, and likewise b and c.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            a_cs,
            a_rs,
            b.as_ptr(),
            b_cs,
            b_rs,
            T::one(),
            T::one(),
            false,
            false,
            false,
            parallelism,
        );
    }
}
