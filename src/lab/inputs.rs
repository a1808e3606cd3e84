//! Independent-inputs mode: the setting the theorems assume, with a real net. Instead of the
//! 1-D grid, P independent inputs x_p ~ N(0, I_D) meet a linear first layer z = W1 x,
//! W1 ~ N(0, 1/D), taken at D → ∞, where the z_p are independent N(0, I) across points.
//! The tangent along a random input direction d ~ N(0, I_D) is W1 d at every point (layer 1
//! is linear), an independent N(0, I) vector; since E_d[(∇f_p . d)(∇f_q . d)] = ∇f_p . ∇f_q,
//! covariances of these directional derivatives are those of the full gradients.
//!
//! A resnet's stream starts at z itself, so layer-1 gradients are identical across inputs
//! (R = 1 at depth 1, Theorems 2 and 3); a feedforward net rectifies z, giving each input an
//! independent mask (R = 1/2 at depth 1, Theorem 1).

use crate::config::Arch;
use crate::nets::init::WeightRng;
use crate::nets::scalar::NetShape;

/// The inputs' streams have the top bit set, above every net's weight stream, so switching
/// the input mode keeps every hidden weight and the readout.
const INPUT_STREAM: u64 = 1 << 63;

/// Layer 1 of one net at P independent inputs.
pub struct FirstLayer {
    /// z_p, point-major (points x width).
    pub values: Vec<f64>,
    /// dz/dx along the shared direction, the same at every point (width).
    pub tangent: Vec<f64>,
}

/// Whether layer 1's linear output is the net's first state (a resnet's stream) rather than
/// the input of a rectifier.
pub fn linear_stream(shape: &NetShape) -> bool {
    shape.arch == Arch::Res
}

/// Width of layer 1's linear output: the stream's for a resnet, the layer's otherwise.
pub fn linear_width(shape: &NetShape) -> usize {
    if linear_stream(shape) {
        shape.first_output_width()
    } else {
        shape.width
    }
}

/// Draws layer 1 of net `net` of the experiment seeded with `seed`.
pub fn first_layer(shape: &NetShape, seed: u64, net: u64, points: usize) -> FirstLayer {
    let width = linear_width(shape);
    let mut rng = WeightRng::new(seed, INPUT_STREAM | net);
    FirstLayer {
        values: rng.gaussian(points * width, 1.0),
        tangent: rng.gaussian(width, 1.0),
    }
}
