//! The classifier: global average pooling of the last CNHW activation, the dense layer, and
//! the mean softmax cross-entropy, forward and backward.

use crate::kernels::Real;
use crate::kernels::gemm::{Op, matmul};
use crate::kernels::reduce::sum;

/// The head's geometry: `batch` images of `features` channels of `pixels` pixels to `classes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    pub batch: usize,
    pub pixels: usize,
    pub features: usize,
    pub classes: usize,
}

/// Pools `h` into `feat` (batch x features) and writes `logits = feat · w + b`.
pub fn logits<T: Real>(s: &Head, h: &[T], w: &[T], b: &[T], feat: &mut [T], logits: &mut [T]) {
    let pixels = T::from_usize(s.pixels).unwrap_or_else(T::one);
    let row = s.batch * s.pixels;
    for (ch, channel) in h.chunks_exact(row).take(s.features).enumerate() {
        for (n, image) in channel.chunks_exact(s.pixels).enumerate() {
            feat[n * s.features + ch] = sum(image) / pixels;
        }
    }
    dense(s, feat, w, b, logits);
}

/// `logits = feat · w + b` for features already in `feat` (batch x features): the pooled
/// channels, or the pixels themselves for the linear classifier.
pub fn dense<T: Real>(s: &Head, feat: &[T], w: &[T], b: &[T], logits: &mut [T]) {
    matmul(
        logits,
        feat,
        Op::N,
        w,
        Op::N,
        (s.batch, s.features, s.classes),
        false,
        1,
    );
    for row in logits.chunks_exact_mut(s.classes).take(s.batch) {
        row.iter_mut().zip(b).for_each(|(l, &bias)| *l = *l + bias);
    }
}

/// Mean cross-entropy of `logits` against `labels`; turns `logits` into the gradient of
/// that mean (softmax minus one-hot, over the batch).
pub fn cross_entropy<T: Real>(s: &Head, logits: &mut [T], labels: &[u32]) -> T {
    let batch = T::from_usize(s.batch).unwrap_or_else(T::one);
    let mut total = T::zero();
    for (row, &label) in logits.chunks_exact_mut(s.classes).zip(labels) {
        let max = row.iter().fold(T::neg_infinity(), |m, &v| m.max(v));
        let label = label as usize;
        let shifted = row[label] - max;
        let mut sum = T::zero();
        for v in row.iter_mut() {
            *v = (*v - max).exp();
            sum = sum + *v;
        }
        total = total + sum.ln() - shifted;
        for v in row.iter_mut() {
            *v = *v / sum / batch;
        }
        row[label] = row[label] - T::one() / batch;
    }
    total / batch
}

/// Spreads the pooled features' gradient `d_feat` evenly over each channel's pixels into
/// `dh`, the last activation's gradient.
pub fn unpool<T: Real>(s: &Head, d_feat: &[T], dh: &mut [T]) {
    let f = s.features;
    let pixels = T::from_usize(s.pixels).unwrap_or_else(T::one);
    let row = s.batch * s.pixels;
    for (ch, channel) in dh.chunks_exact_mut(row).take(f).enumerate() {
        for (n, image) in channel.chunks_exact_mut(s.pixels).enumerate() {
            image.fill(d_feat[n * f + ch] / pixels);
        }
    }
}

/// The dense layer's gradients, and into `d_feat` that of its input.
pub fn dense_backward<T: Real>(
    s: &Head,
    d_logits: &[T],
    feat: &[T],
    w: &[T],
    d_w: &mut [T],
    d_b: &mut [T],
    d_feat: &mut [T],
) {
    let (f, k) = (s.features, s.classes);
    matmul(d_w, feat, Op::T, d_logits, Op::N, (f, s.batch, k), false, 1);
    // The bias gradient sums the logits' gradient over the batch: its columns.
    for (j, d) in d_b.iter_mut().enumerate().take(k) {
        *d = d_logits[..s.batch * k]
            .iter()
            .skip(j)
            .step_by(k)
            .fold(T::zero(), |a, &v| a + v);
    }
    matmul(d_feat, d_logits, Op::N, w, Op::T, (s.batch, k, f), false, 1);
}
