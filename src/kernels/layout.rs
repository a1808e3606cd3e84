//! Images arrive NCHW (candle's layout); the kernels keep activations CNHW (a row of N·H·W
//! pixels per channel). Converted once per batch.

use num_traits::ToPrimitive;

use crate::kernels::Real;

/// `n` NCHW images of `channels` planes of `pixels` into CNHW, converting the element type.
pub fn nchw_to_cnhw<X: ToPrimitive + Copy, T: Real>(
    x: &[X],
    n: usize,
    channels: usize,
    pixels: usize,
    out: &mut [T],
) {
    for c in 0..channels {
        for img in 0..n {
            let src = &x[(img * channels + c) * pixels..][..pixels];
            let dst = &mut out[(c * n + img) * pixels..][..pixels];
            for (d, &v) in dst.iter_mut().zip(src) {
                *d = T::from(v).unwrap_or_else(T::nan);
            }
        }
    }
}
