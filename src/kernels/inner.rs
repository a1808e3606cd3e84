//! Products with a tiny output and a long inner dimension, `c (m x n) += a (m x k) · bᵀ`
//! with `a` and `b` both stored as rows of length k: the kernel gradient of the narrow layers
//! (8 or 16 filters against a block's thousands of pixels). A general GEMM tiles the output
//! and broadcasts along k, so with m = 8 its 16-lane kernels run half empty and broadcast-bound
//! (profiled at a quarter of the GEMM peak); here each output element is a dot product
//! vectorised along k, a tile of them accumulated in registers while both rows stream by.

use crate::kernels::Real;

/// Rows of `a` and of `b` per tile: 4 x 6 accumulators plus the operands fit the 32 vector
/// registers of AVX-512.
const TILE_A: usize = 4;
const TILE_B: usize = 6;

/// `count` row-major rows of length `len`, `stride` apart.
#[derive(Clone, Copy, Debug)]
pub struct Rows<'a, T> {
    pub data: &'a [T],
    pub count: usize,
    pub stride: usize,
    pub len: usize,
}

impl<'a, T> Rows<'a, T> {
    fn row(&self, i: usize) -> &'a [T] {
        &self.data[i * self.stride..][..self.len]
    }

    /// Whether every row lies inside `data`.
    fn in_bounds(&self) -> bool {
        self.count == 0 || (self.count - 1) * self.stride + self.len <= self.data.len()
    }
}

/// `c[i·n + j] += a_i · b_j` for the m rows of `a` and the n rows of `b`.
pub fn accumulate_dots<T: Real>(c: &mut [T], a: Rows<'_, T>, b: Rows<'_, T>) {
    assert!(
        a.len == b.len && c.len() >= a.count * b.count,
        "operands disagree"
    );
    assert!(a.in_bounds() && b.in_bounds(), "rows out of bounds");
    T::accumulate_dots(c, a, b);
}

/// One tile's dot products: rows `i..i + MA` of `a` with rows `j..j + MB` of `b`, added to
/// `c` (m x n).
trait Tile<T> {
    fn tile<const MA: usize, const MB: usize>(&self, c: &mut [T], i: usize, j: usize);
}

/// Every tile of the m x n product: whole ones, then the edges.
#[inline(always)]
fn for_each_tile<T>(c: &mut [T], m: usize, n: usize, k: &impl Tile<T>) {
    let (full_a, full_b) = (m - m % TILE_A, n - n % TILE_B);
    for i in (0..full_a).step_by(TILE_A) {
        for j in (0..full_b).step_by(TILE_B) {
            k.tile::<TILE_A, TILE_B>(c, i, j);
        }
        for j in full_b..n {
            k.tile::<TILE_A, 1>(c, i, j);
        }
    }
    for i in full_a..m {
        for j in (0..full_b).step_by(TILE_B) {
            k.tile::<1, TILE_B>(c, i, j);
        }
        for j in full_b..n {
            k.tile::<1, 1>(c, i, j);
        }
    }
}

/// The operands of one product.
struct Operands<'a, T> {
    a: Rows<'a, T>,
    b: Rows<'a, T>,
    n: usize,
}

/// Plain dot products, for any float type (f64 runs only in the tests).
impl<T: Real> Tile<T> for Operands<'_, T> {
    #[inline(always)]
    fn tile<const MA: usize, const MB: usize>(&self, c: &mut [T], i: usize, j: usize) {
        for p in i..i + MA {
            for q in j..j + MB {
                let sum = self
                    .a
                    .row(p)
                    .iter()
                    .zip(self.b.row(q))
                    .fold(T::zero(), |s, (&x, &y)| s + x * y);
                let out = &mut c[p * self.n + q];
                *out = *out + sum;
            }
        }
    }
}

/// Any float type, one dot product at a time.
pub fn portable<T: Real>(c: &mut [T], a: Rows<'_, T>, b: Rows<'_, T>) {
    for_each_tile(c, a.count, b.count, &Operands { a, b, n: b.count });
}

/// f32: AVX-512 tiles where the CPU has them, else the portable loop.
pub fn f32_dots(c: &mut [f32], a: Rows<'_, f32>, b: Rows<'_, f32>) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        let operands = Operands { a, b, n: b.count };
        // SAFETY: the CPU has AVX-512F, checked just above.
        unsafe { avx512::run(c, a.count, &avx512::Avx512(operands)) };
        return;
    }
    portable(c, a, b);
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::{
        __m512, _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_reduce_add_ps, _mm512_setzero_ps,
    };

    use super::{Operands, Tile};

    const LANES: usize = 16;

    /// The operands, multiplied with AVX-512 registers.
    pub(super) struct Avx512<'a>(pub(super) Operands<'a, f32>);

    /// Every tile, in a function compiled for AVX-512 so the intrinsics inline into it.
    ///
    /// # Safety
    /// The CPU must have AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn run(c: &mut [f32], m: usize, k: &Avx512<'_>) {
        super::for_each_tile(c, m, k.0.n, k);
    }

    impl Tile<f32> for Avx512<'_> {
        #[inline(always)]
        fn tile<const MA: usize, const MB: usize>(&self, c: &mut [f32], i: usize, j: usize) {
            let Operands { a, b, n } = self.0;
            let a_rows: [&[f32]; MA] = std::array::from_fn(|r| a.row(i + r));
            let b_rows: [&[f32]; MB] = std::array::from_fn(|r| b.row(j + r));
            let whole = a.len - a.len % LANES;
            // SAFETY: only `run` calls this, on a CPU with AVX-512F; every load reads LANES
            // elements at an offset below `whole <= len` of a row slice of length `len`.
            unsafe {
                let mut acc: [[__m512; MB]; MA] = [[_mm512_setzero_ps(); MB]; MA];
                let mut at = 0;
                while at < whole {
                    let av: [__m512; MA] =
                        std::array::from_fn(|r| _mm512_loadu_ps(a_rows[r].as_ptr().add(at)));
                    for q in 0..MB {
                        let bv = _mm512_loadu_ps(b_rows[q].as_ptr().add(at));
                        for p in 0..MA {
                            acc[p][q] = _mm512_fmadd_ps(av[p], bv, acc[p][q]);
                        }
                    }
                    at += LANES;
                }
                for p in 0..MA {
                    for q in 0..MB {
                        let tail = a_rows[p][whole..]
                            .iter()
                            .zip(&b_rows[q][whole..])
                            .fold(0.0, |s, (&x, &y)| s + x * y);
                        c[(i + p) * n + j + q] += _mm512_reduce_add_ps(acc[p][q]) + tail;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check<T: Real>(tolerance: f64) {
        for (m, n, len, stride) in [
            (8, 72, 1024, 1030),
            (6, 99, 37, 40),
            (1, 1, 5, 5),
            (11, 7, 16, 16),
        ] {
            let value = |v: usize, p: usize, q: usize| ((v * p % q) as f64) / 50.0 - 1.0;
            let a: Vec<f64> = (0..m * stride).map(|v| value(v, 37, 101)).collect();
            let b: Vec<f64> = (0..n * len).map(|v| value(v, 53, 97)).collect();
            let cast =
                |v: &[f64]| -> Vec<T> { v.iter().map(|&x| T::from_f64(x).unwrap()).collect() };
            let (a_t, b_t) = (cast(&a), cast(&b));
            let mut c = vec![T::from_f64(0.5).unwrap(); m * n];
            let a_rows = Rows {
                data: &a_t,
                count: m,
                stride,
                len,
            };
            let b_rows = Rows {
                data: &b_t,
                count: n,
                stride: len,
                len,
            };
            accumulate_dots(&mut c, a_rows, b_rows);
            for i in 0..m {
                for j in 0..n {
                    let want = 0.5
                        + (0..len)
                            .map(|k| a[i * stride + k] * b[j * len + k])
                            .sum::<f64>();
                    let got = c[i * n + j].to_f64().unwrap();
                    assert!(
                        (got - want).abs() <= tolerance * (len as f64),
                        "{m}x{n}x{len} at ({i},{j}): {got} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn f64_dots_equal_the_naive_sums_on_ragged_shapes() {
        check::<f64>(1e-14);
    }

    #[test]
    fn f32_dots_equal_the_naive_sums_to_single_precision() {
        check::<f32>(1e-6);
    }
}
