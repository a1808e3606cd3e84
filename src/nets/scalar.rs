//! Parameters of the scalar-to-scalar nets of the 1-D experiment (paper §2).
//!
//! Every net draws, in this order, from its own stream: the readout v, the first layer's
//! w and b, then layers 2, 3, ... one at a time. So the depth-l net is a prefix of the
//! depth-L net, and flipping a toggle that does not change a shape (BN, first-layer bias,
//! β) keeps every weight: the A/B view compares like with like.

use crate::config::{Activation, Arch, Init, LabConfig};
use crate::nets::init::WeightRng;

/// Shapes of a scalar net, derived from the settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NetShape {
    pub arch: Arch,
    pub act: Activation,
    pub init: Init,
    /// Pre-activation units of layer 1 (and of every feedforward layer).
    pub width: usize,
    pub beta: f64,
    pub first_bias: bool,
}

impl NetShape {
    pub fn from_config(cfg: &LabConfig) -> Self {
        Self {
            arch: cfg.arch,
            act: cfg.act,
            init: cfg.init,
            width: cfg.width,
            beta: cfg.beta,
            first_bias: cfg.first_bias,
        }
    }

    /// Width of the representation after layer 1: the rectifier's output.
    pub fn first_output_width(&self) -> usize {
        self.width * self.act.multiplier()
    }

    /// (fan_in, fan_out) of the matrix of layers 2..L. Feedforward layers map the
    /// rectifier's output back to `width` units; residual branches map act(BN(h)) back to the
    /// residual stream, which keeps layer 1's output width.
    pub fn hidden_shape(&self) -> (usize, usize) {
        match self.arch {
            Arch::Ff => (self.first_output_width(), self.width),
            Arch::Res => {
                let stream = self.first_output_width();
                (stream * self.act.multiplier(), stream)
            }
        }
    }

    /// Looks-linear feedforward nets tie their readout's halves, [v; -v].
    pub fn mirrored_readout(&self) -> bool {
        self.init == Init::Ll && self.arch == Arch::Ff
    }

    /// Width of h_l, the vector the readout v is applied to.
    pub fn readout_width(&self) -> usize {
        self.first_output_width()
    }
}

/// The drawn parameters of one net, produced layer by layer.
#[derive(Clone)]
pub struct ScalarNetDraw {
    rng: WeightRng,
    shape: NetShape,
    /// Readout v (length `readout_width`).
    pub readout: Vec<f64>,
    /// Layer-1 weights w ~ N(0, 2) (length `width`).
    pub first_w: Vec<f64>,
    /// Layer-1 biases b ~ N(0, 1), zero when first-layer bias is off.
    pub first_b: Vec<f64>,
}

impl ScalarNetDraw {
    /// Draws the readout and layer 1 of net `index` of the experiment seeded with `seed`.
    pub fn new(shape: NetShape, seed: u64, index: u64) -> Self {
        let mut rng = WeightRng::new(seed, index);
        let d = shape.readout_width();
        let readout = if shape.mirrored_readout() {
            let half = rng.gaussian(d / 2, (2.0 / d as f64).sqrt());
            half.iter()
                .copied()
                .chain(half.iter().map(|v| -v))
                .collect()
        } else {
            rng.gaussian(d, (1.0 / d as f64).sqrt())
        };
        let first_w = rng.gaussian(shape.width, 2f64.sqrt());
        let mut first_b = rng.gaussian(shape.width, 1.0);
        if !shape.first_bias {
            first_b.iter_mut().for_each(|b| *b = 0.0);
        }
        Self {
            rng,
            shape,
            readout,
            first_w,
            first_b,
        }
    }

    /// The next hidden layer's matrix, (fan_in x fan_out) row-major, β already applied to
    /// residual branches.
    pub fn next_hidden(&mut self) -> Vec<f64> {
        let (fan_in, fan_out) = self.shape.hidden_shape();
        let mut w = match self.shape.init {
            Init::He => self
                .rng
                .gaussian_matrix(fan_in, fan_out, 2.0 / fan_in as f64),
            Init::Glorot => {
                self.rng
                    .gaussian_matrix(fan_in, fan_out, 2.0 / (fan_in + fan_out) as f64)
            }
            Init::Orthogonal => self.rng.orthogonal(fan_in, fan_out, 2f64.sqrt()),
            Init::Ll => self.rng.mirrored_orthogonal(fan_in, fan_out),
        };
        if self.shape.arch == Arch::Res {
            w.iter_mut().for_each(|v| *v *= self.shape.beta);
        }
        w
    }
}
