//! Row-major matrix products on the `gemm` crate (AVX-512/AVX2/FMA kernels chosen at run time),
//! behind bounds-checked operands. Operands may be blocks of larger matrices (a row stride
//! longer than the row), so a convolution can multiply a few images' columns of a whole-batch
//! activation in place; an output block may be shared by threads that each write their own
//! columns ([`ColumnBlocks`]).

use std::marker::PhantomData;
use std::ops::Range;

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

/// An input operand: `data` stored row-major with `stride` elements between stored rows,
/// read as `op` says.
#[derive(Clone, Copy, Debug)]
pub struct Mat<'a, T> {
    pub data: &'a [T],
    pub op: Op,
    pub stride: usize,
}

impl<'a, T> Mat<'a, T> {
    /// A whole matrix whose stored rows are `stored_cols` long.
    pub fn dense(data: &'a [T], op: Op, stored_cols: usize) -> Self {
        Self {
            data,
            op,
            stride: stored_cols,
        }
    }

    /// (row, column) strides of the `rows x cols` matrix the product reads, after checking
    /// that every element it reaches lies in `data`.
    fn strides(&self, rows: usize, cols: usize) -> (isize, isize) {
        let (stored_rows, stored_cols) = match self.op {
            Op::N => (rows, cols),
            Op::T => (cols, rows),
        };
        assert!(
            stored_cols <= self.stride || stored_rows <= 1,
            "row stride too short"
        );
        assert!(
            stored_rows == 0 || (stored_rows - 1) * self.stride + stored_cols <= self.data.len(),
            "operand out of bounds"
        );
        let s = self.stride as isize;
        match self.op {
            Op::N => (s, 1),
            Op::T => (1, s),
        }
    }
}

/// An output block: `rows x cols` at `ptr`, rows `stride` apart, writable by one thread.
pub struct MatMut<'a, T> {
    ptr: *mut T,
    rows: usize,
    cols: usize,
    stride: usize,
    _borrow: PhantomData<&'a mut T>,
}

impl<'a, T> MatMut<'a, T> {
    /// A whole `rows x cols` matrix stored densely at the start of `data`.
    pub fn dense(data: &'a mut [T], rows: usize, cols: usize) -> Self {
        assert!(data.len() >= rows * cols, "output out of bounds");
        Self {
            ptr: data.as_mut_ptr(),
            rows,
            cols,
            stride: cols,
            _borrow: PhantomData,
        }
    }
}

/// A row-major matrix whose column ranges are filled by different threads at once: each
/// takes a [`MatMut`] over its own columns of every row.
pub struct ColumnBlocks<'a, T> {
    ptr: *mut T,
    rows: usize,
    cols: usize,
    _borrow: PhantomData<&'a mut [T]>,
}

// SAFETY: a `ColumnBlocks` only hands out blocks through the unsafe `block`, whose callers
// promise disjoint columns, so sharing it between threads shares no element.
unsafe impl<T: Send> Sync for ColumnBlocks<'_, T> {}
unsafe impl<T: Send> Send for ColumnBlocks<'_, T> {}

impl<'a, T> ColumnBlocks<'a, T> {
    /// The first `rows x cols` elements of `data`, row-major.
    pub fn new(data: &'a mut [T], rows: usize, cols: usize) -> Self {
        assert!(data.len() >= rows * cols, "output out of bounds");
        Self {
            ptr: data.as_mut_ptr(),
            rows,
            cols,
            _borrow: PhantomData,
        }
    }

    /// The block of columns `cols` of every row.
    ///
    /// # Safety
    /// Blocks alive at the same time must have disjoint column ranges.
    pub unsafe fn block(&self, cols: Range<usize>) -> MatMut<'_, T> {
        assert!(cols.start <= cols.end && cols.end <= self.cols);
        MatMut {
            // SAFETY: `cols.start <= self.cols`, inside the borrowed slice.
            ptr: unsafe { self.ptr.add(cols.start) },
            rows: self.rows,
            cols: cols.len(),
            stride: self.cols,
            _borrow: PhantomData,
        }
    }

    /// Mutable row `r`'s columns `cols` as a slice.
    ///
    /// # Safety
    /// As for [`block`](Self::block): no other live reference may cover these elements.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn row_part(&self, r: usize, cols: Range<usize>) -> &mut [T] {
        assert!(r < self.rows && cols.start <= cols.end && cols.end <= self.cols);
        // SAFETY: inside the borrowed slice; exclusivity is the caller's promise.
        unsafe {
            std::slice::from_raw_parts_mut(self.ptr.add(r * self.cols + cols.start), cols.len())
        }
    }
}

/// `c (m x n) = a (m x k) · b (k x n)`, plus the old `c` when `accumulate`, on this thread.
pub fn product<T: Real>(
    c: MatMut<'_, T>,
    a: Mat<'_, T>,
    b: Mat<'_, T>,
    (m, k, n): (usize, usize, usize),
    accumulate: bool,
) {
    run(c, a, b, (m, k, n), accumulate, Parallelism::None);
}

/// `c (m x n) = op(a) (m x k) · op(b) (k x n)` on dense operands, plus the old `c` when
/// `accumulate`. `threads` > 1 lets the crate split the product over rayon's pool.
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
    let stored_cols = |op, rows, cols| if op == Op::N { cols } else { rows };
    let a = Mat::dense(a, a_op, stored_cols(a_op, m, k));
    let b = Mat::dense(b, b_op, stored_cols(b_op, k, n));
    let parallelism = if threads > 1 {
        Parallelism::Rayon(threads)
    } else {
        Parallelism::None
    };
    run(
        MatMut::dense(c, m, n),
        a,
        b,
        (m, k, n),
        accumulate,
        parallelism,
    );
}

fn run<T: Real>(
    c: MatMut<'_, T>,
    a: Mat<'_, T>,
    b: Mat<'_, T>,
    (m, k, n): (usize, usize, usize),
    accumulate: bool,
    parallelism: Parallelism,
) {
    assert!(c.rows == m && c.cols == n && (n <= c.stride || m <= 1));
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for r in 0..m {
                // SAFETY: row r of the block lies inside the borrow `c` was made from.
                unsafe { std::slice::from_raw_parts_mut(c.ptr.add(r * c.stride), n) }
                    .fill(T::zero());
            }
        }
        return;
    }
    let (a_rs, a_cs) = a.strides(m, k);
    let (b_rs, b_cs) = b.strides(k, n);
    // SAFETY: `strides` checked that every element of a and b the product reads lies in
    // their slices; c's block was checked when it was made, and is ours alone.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.ptr,
            1,
            c.stride as isize,
            accumulate,
            a.data.as_ptr(),
            a_cs,
            a_rs,
            b.data.as_ptr(),
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
