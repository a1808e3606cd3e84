//! The round-off guard: a few of a sweep's nets are run a second time with layer 1's
//! pre-activations moved by a few units in the last place. A gradient that is a property of
//! the net barely moves; one made of amplified rounding error (batch norm renormalising a
//! looks-linear net's rank-one signal, say, whose exact gradient is constant) changes
//! completely. The relative change is reported per depth, and depths where it passes
//! [`ROUNDOFF_LIMIT`] are flagged: their numbers describe the arithmetic, not the net.

use std::borrow::Cow;

use candle_core::Device;

use crate::config::{LabConfig, Precision};
use crate::lab::bank::WeightBank;
use crate::lab::forward::{ForwardEngine, LayerOutput, StepKernel};
use crate::lab::readout::mirrored_difference;

/// Nets of a sweep that get a shadow: the first ones (the same weights, drawn from the
/// same streams).
pub const SHADOW_NETS: usize = 2;
/// How far the shadow's first layer is moved, in units of the precision's epsilon: the
/// size of the rounding error one layer's dot products commit.
const SHADOW_ULPS: f64 = 16.0;
/// Relative change of the gradients (RMS over points, worst shadowed net) from which a
/// depth counts as dominated by round-off: more than a tenth of its gradients changes when
/// the rounding does. Measured: a looks-linear net with batch norm (whose exact gradient is
/// constant) passes it from depth 15 in f64 and 8 in f32; a feedforward ReLU net with batch
/// norm from depth 36 in f32 and 137 in f64; resnets stay below 0.03.
pub const ROUNDOFF_LIMIT: f64 = 0.1;

/// The perturbed twin of a sweep's first nets.
pub struct Shadow {
    engine: ForwardEngine,
    points: usize,
}

impl Shadow {
    /// The shadow of a sweep of `cfg`.
    pub fn new(cfg: &LabConfig, device: Device, kernel: StepKernel) -> anyhow::Result<Self> {
        let shadowed = LabConfig {
            nets: cfg.nets.min(SHADOW_NETS),
            ..cfg.clone()
        };
        let epsilon = match cfg.dtype {
            Precision::F64 => f64::EPSILON,
            Precision::F32 => f64::from(f32::EPSILON),
        };
        let engine = ForwardEngine::with_bank(&shadowed, device, kernel, WeightBank::new(0))?
            .perturbed(SHADOW_ULPS * epsilon);
        Ok(Self {
            engine,
            points: cfg.points,
        })
    }

    /// Steps the shadow one depth and returns how much the sweep's `layer` changed: the
    /// larger change of its gradients and of its tangents as the integrated readout reads
    /// them.
    pub fn step(&mut self, layer: &LayerOutput) -> anyhow::Result<f64> {
        let shadow = self.engine.step()?;
        let grads = relative_change(&layer.grads, &shadow.grads, self.points);
        let (ours, theirs) = (read_tangents(layer), read_tangents(&shadow));
        let per_net = self.points * ours.len() / layer.grads.len().max(1);
        Ok(grads.max(relative_change(&ours, &theirs, per_net.max(1))))
    }
}

/// The tangents as the integrated readout sees them (see [`mirrored_difference`]).
fn read_tangents(layer: &LayerOutput) -> Cow<'_, [f64]> {
    if layer.mirrored_readout {
        Cow::Owned(mirrored_difference(&layer.tangents, layer.tangent_width))
    } else {
        Cow::Borrowed(&layer.tangents)
    }
}

/// The largest over nets of ||a - b|| / ||a|| (RMS over the `points` of each net), for the
/// nets both hold. Exact zeros that stay zero change by 0; a non-finite value counts as a
/// total change.
pub fn relative_change(a: &[f64], b: &[f64], points: usize) -> f64 {
    a.chunks_exact(points)
        .zip(b.chunks_exact(points))
        .map(|(a, b)| {
            let (diff, norm) = a.iter().zip(b).fold((0.0, 0.0), |(d, n), (x, y)| {
                (d + (x - y) * (x - y), n + x * x)
            });
            match (diff, norm) {
                (0.0, _) => 0.0,
                (d, n) if n > 0.0 && d.is_finite() => (d / n).sqrt(),
                _ => f64::INFINITY,
            }
        })
        .fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_is_relative_rms_worst_net() {
        let a = [1.0, -1.0, 2.0, 2.0];
        let b = [1.0, -1.0, 2.0, 2.2];
        // Net 0 unchanged; net 1: sqrt(0.04 / 8).
        assert!((relative_change(&a, &b, 2) - (0.04f64 / 8.0).sqrt()).abs() < 1e-15);
        assert_eq!(relative_change(&[0.0; 4], &[0.0; 4], 2), 0.0);
        assert_eq!(
            relative_change(&[0.0, 0.0], &[0.0, 1e-30], 2),
            f64::INFINITY
        );
        assert_eq!(
            relative_change(&[1.0, f64::NAN], &[1.0, 1.0], 2),
            f64::INFINITY
        );
    }
}
