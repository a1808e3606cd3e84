//! Sums over long rows in eight interleaved partial sums, so the compiler can keep them in
//! one vector register (a single running sum is a serial chain of dependent additions).

use crate::kernels::Real;

const LANES: usize = 8;

/// Σ f(i) over a row, f reading element i of one or two rows.
fn lanes<T: Real>(len: usize, f: impl Fn(usize) -> T) -> T {
    let mut acc = [T::zero(); LANES];
    let whole = len / LANES * LANES;
    for base in (0..whole).step_by(LANES) {
        for (l, a) in acc.iter_mut().enumerate() {
            *a = *a + f(base + l);
        }
    }
    let mut total = acc.iter().fold(T::zero(), |s, &a| s + a);
    for i in whole..len {
        total = total + f(i);
    }
    total
}

/// Σ x.
pub fn sum<T: Real>(x: &[T]) -> T {
    lanes(x.len(), |i| x[i])
}

/// Σ (x − c)².
pub fn centered_squares<T: Real>(x: &[T], c: T) -> T {
    lanes(x.len(), |i| (x[i] - c) * (x[i] - c))
}

/// Σ g · (z − c).
pub fn centered_dot<T: Real>(g: &[T], z: &[T], c: T) -> T {
    assert_eq!(g.len(), z.len());
    lanes(g.len(), |i| g[i] * (z[i] - c))
}
