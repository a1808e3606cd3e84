//! Sums over long rows in sixteen interleaved partial sums, so the compiler keeps them in
//! vector registers (a single running sum is a serial chain of dependent additions). The
//! rows are read as fixed-size arrays, so no element access needs a bounds check.

use crate::kernels::Real;

const LANES: usize = 16;

/// Σ f(a_i, b_i) over two rows of equal length.
fn lanes<T: Real>(a: &[T], b: &[T], f: impl Fn(T, T) -> T) -> T {
    assert_eq!(a.len(), b.len());
    let (a_blocks, a_rest) = a.as_chunks::<LANES>();
    let (b_blocks, b_rest) = b.as_chunks::<LANES>();
    let mut acc = [T::zero(); LANES];
    for (x, y) in a_blocks.iter().zip(b_blocks) {
        for l in 0..LANES {
            acc[l] = acc[l] + f(x[l], y[l]);
        }
    }
    let total = acc.iter().fold(T::zero(), |s, &v| s + v);
    a_rest
        .iter()
        .zip(b_rest)
        .fold(total, |s, (&x, &y)| s + f(x, y))
}

/// Σ x.
pub fn sum<T: Real>(x: &[T]) -> T {
    lanes(x, x, |v, _| v)
}

/// Σ (x − c)².
pub fn centered_squares<T: Real>(x: &[T], c: T) -> T {
    lanes(x, x, |v, _| (v - c) * (v - c))
}

/// Σ g · (z − c).
pub fn centered_dot<T: Real>(g: &[T], z: &[T], c: T) -> T {
    lanes(g, z, |gv, zv| gv * (zv - c))
}
