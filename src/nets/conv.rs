//! The paper's thin CIFAR-10 conv nets (§6): 3x3 convs from 8 filters, doubling to 64 at each
//! stride-2 reduction, global average pooling, a dense layer to 10 classes; ReLU or CReLU,
//! He or looks-linear init, optional batch norm and skip connections every two modules.

use std::sync::Arc;

use candle_core::{DType, Device, Result, Tensor, Var};
use serde::{Deserialize, Serialize};

use crate::config::Activation;
use crate::nets::init::WeightRng;

/// Largest depth the paper trains.
pub const MAX_CONV_DEPTH: usize = 198;
/// Depth of the linear classifier: no convs, the dense layer reads the pixels (the paper's
/// ~40 % reference in Fig. 6).
pub const LINEAR_DEPTH: usize = 1;
/// Filters of the first stage (ReLU nets); each stride-2 reduction doubles them.
const BASE_FILTERS: usize = 8;
/// Stages of equal width: 8, 16, 32, 64 filters.
const STAGES: usize = 4;
const KERNEL: usize = 3;
const TAPS: usize = KERNEL * KERNEL;
/// Classifier outputs.
pub const CLASSES: usize = 10;
pub const BN_EPS: f64 = 1e-5;
/// Weight of the newest batch in the running BN statistics.
pub const BN_MOMENTUM: f64 = 0.1;

/// The one convolution every layer calls: candle's for now, behind a trait so a faster
/// kernel (candle's CPU backward is a naive loop) can be slotted in without touching the net.
pub trait Conv2d: Send + Sync {
    /// `x` (N, C, H, W) with `kernel` (O, C, k, k), zero padding `padding`, stride `stride`.
    fn conv2d(&self, x: &Tensor, kernel: &Tensor, stride: usize, padding: usize) -> Result<Tensor>;
}

/// candle's own convolution.
#[derive(Clone, Copy, Debug, Default)]
pub struct CandleConv;

impl Conv2d for CandleConv {
    fn conv2d(&self, x: &Tensor, kernel: &Tensor, stride: usize, padding: usize) -> Result<Tensor> {
        x.conv2d(kernel, padding, stride, 1, 1)
    }
}

/// Initialisation of the conv and dense weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ConvInit {
    /// Gaussian, variance 2/fan_in (1/fan_in for the classifier).
    He,
    /// Looks-linear: K = [K̃, −K̃] along input channels, K̃ with orthonormal (out, in·3·3)
    /// rows; the net is exactly linear at init. Needs CReLU.
    Ll,
    /// Looks-linear with delta-orthogonal kernels: only the centre tap non-zero.
    LlDelta,
}

/// Shape and init of one conv net.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConvNetConfig {
    /// Weight layers: the convolutions plus the dense classifier (1..=198; 1 is the linear
    /// classifier on the pixels, whose act, bn and skip have nothing to act on).
    pub depth: usize,
    pub act: Activation,
    pub init: ConvInit,
    pub bn: bool,
    /// Add each pair of modules' input to its output (a resnet).
    pub skip: bool,
}

/// One conv module: its filters and stride.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerSpec {
    pub in_channels: usize,
    pub filters: usize,
    pub stride: usize,
}

impl ConvNetConfig {
    /// Checks the depth and the init/activation pairing; the error names the setting.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if !(LINEAR_DEPTH..=MAX_CONV_DEPTH).contains(&self.depth) {
            return Err(format!(
                "invalid --depth {}: expected an integer in {LINEAR_DEPTH}..={MAX_CONV_DEPTH} (convs plus the dense layer; 1 is a linear classifier)",
                self.depth
            ));
        }
        if self.depth == LINEAR_DEPTH && self.init != ConvInit::He {
            return Err(
                "invalid --init ll with --depth 1: the linear classifier has no rectifier to mirror, expected --init he"
                    .to_string(),
            );
        }
        if self.init != ConvInit::He && self.act != Activation::Crelu {
            return Err(
                "invalid --init ll with --act relu: looks-linear init mirrors weights across the CReLU \
                 halves, expected --act crelu"
                    .to_string(),
            );
        }
        Ok(())
    }

    /// The linear classifier: the dense layer on the flattened, normalised pixels.
    pub fn is_linear(&self) -> bool {
        self.depth == LINEAR_DEPTH
    }

    /// Inputs of the dense layer: the last module's pooled channels, or every pixel of the
    /// linear classifier.
    pub fn features(&self) -> usize {
        self.layers()
            .last()
            .map_or(crate::train::cifar::IMAGE_BYTES, |l| {
                l.filters * self.act.multiplier()
            })
    }

    /// Filters of a stage: 8·2^s for ReLU, 1/√2 of that for CReLU (whose output has twice
    /// the channels), so both have about the same number of parameters.
    fn filters(&self, stage: usize) -> usize {
        let relu = BASE_FILTERS << stage;
        match self.act {
            Activation::Relu => relu,
            Activation::Crelu => (relu as f64 / std::f64::consts::SQRT_2).round() as usize,
        }
    }

    /// The conv modules in order: a stem at 8 filters, then the rest in pairs spread evenly
    /// over the four stages; a pair entering a new stage starts with a stride-2 conv.
    pub fn layers(&self) -> Vec<LayerSpec> {
        if self.is_linear() {
            return Vec::new();
        }
        let convs = self.depth - 1;
        let rest = convs - 1;
        let pairs = rest.div_ceil(2).max(1);
        let mult = self.act.multiplier();
        let mut layers = vec![LayerSpec {
            in_channels: 3,
            filters: self.filters(0),
            stride: 1,
        }];
        let mut stage = 0;
        for k in 0..rest {
            let want = ((k / 2) * STAGES / pairs).min(STAGES - 1);
            let in_channels = layers[layers.len() - 1].filters * mult;
            let stride = if want > stage { 2 } else { 1 };
            stage = want;
            layers.push(LayerSpec {
                in_channels,
                filters: self.filters(stage),
                stride,
            });
        }
        layers
    }
}

/// How the modules are wired: alone, or as a skip pair whose input is added to its output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Block {
    Single(usize),
    /// Modules i and i + 1 with the shortcut around them.
    Pair(usize),
}

impl ConvNetConfig {
    /// The stem alone, then (with skips) pairs, a leftover module at the end staying alone.
    pub fn blocks(&self) -> Vec<Block> {
        if self.is_linear() {
            return Vec::new();
        }
        let n = self.depth - 1;
        let mut blocks = vec![Block::Single(0)];
        let mut i = 1;
        while i < n {
            if self.skip && i + 1 < n {
                blocks.push(Block::Pair(i));
                i += 2;
            } else {
                blocks.push(Block::Single(i));
                i += 1;
            }
        }
        blocks
    }
}

/// Training uses batch statistics (and updates the running ones); evaluation the running ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Train,
    Eval,
}

struct BatchNorm {
    gamma: Var,
    beta: Var,
    running_mean: Var,
    running_var: Var,
}

impl BatchNorm {
    fn new(channels: usize, dtype: DType, device: &Device) -> Result<Self> {
        Ok(Self {
            gamma: Var::ones(channels, dtype, device)?,
            beta: Var::zeros(channels, dtype, device)?,
            running_mean: Var::zeros(channels, dtype, device)?,
            running_var: Var::ones(channels, dtype, device)?,
        })
    }

    /// Normalises each channel of `x` (N, C, H, W). Works on a (C, N·H·W) copy: candle
    /// reduces and broadcasts along the last dimension much faster than across (0, 2, 3).
    fn forward(&self, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let (n, c, h, w) = x.dims4()?;
        let xt = x.transpose(0, 1)?.contiguous()?.reshape((c, n * h * w))?;
        let (centered, var) = match mode {
            Mode::Train => {
                let mean = xt.mean_keepdim(1)?;
                let centered = xt.broadcast_sub(&mean)?;
                let var = centered.sqr()?.mean_keepdim(1)?;
                let m = BN_MOMENTUM;
                let update = |running: &Var, batch: &Tensor| -> Result<()> {
                    running.set(
                        &((running.as_tensor() * (1.0 - m))?
                            + (batch.detach().flatten_all()? * m)?)?,
                    )
                };
                update(&self.running_mean, &mean)?;
                update(&self.running_var, &var)?;
                (centered, var)
            }
            Mode::Eval => (
                xt.broadcast_sub(&self.running_mean.as_tensor().reshape((c, 1))?)?,
                self.running_var.as_tensor().reshape((c, 1))?,
            ),
        };
        let scale = (self.gamma.as_tensor().reshape((c, 1))? / (var + BN_EPS)?.sqrt()?)?;
        centered
            .broadcast_mul(&scale)?
            .broadcast_add(&self.beta.as_tensor().reshape((c, 1))?)?
            .reshape((c, n, h, w))?
            .transpose(0, 1)
    }
}

/// conv → (bias | BN) → rectifier.
struct Module {
    spec: LayerSpec,
    kernel: Var,
    bias: Option<Var>,
    bn: Option<BatchNorm>,
}

/// A thin conv net whose parameters are candle `Var`s drawn from `WeightRng`.
pub struct ConvNet {
    cfg: ConvNetConfig,
    conv: Arc<dyn Conv2d>,
    modules: Vec<Module>,
    dense_w: Var,
    dense_b: Var,
}

impl ConvNet {
    /// Draws every weight from `WeightRng::new(seed, layer)`, so a seed fixes the net.
    pub fn new(
        cfg: &ConvNetConfig,
        seed: u64,
        dtype: DType,
        device: &Device,
        conv: Arc<dyn Conv2d>,
    ) -> anyhow::Result<Self> {
        cfg.validate().map_err(anyhow::Error::msg)?;
        let mut modules = Vec::new();
        for (i, spec) in cfg.layers().into_iter().enumerate() {
            let mut rng = WeightRng::new(seed, i as u64);
            // The stem sees pixels, not a CReLU output, so it cannot be mirrored.
            let mirrored = i > 0;
            let w = kernel_weights(cfg.init, spec, mirrored, &mut rng);
            let kernel = Var::from_tensor(
                &Tensor::from_vec(w, (spec.filters, spec.in_channels, KERNEL, KERNEL), device)?
                    .to_dtype(dtype)?,
            )?;
            let (bias, bn) = if cfg.bn {
                (None, Some(BatchNorm::new(spec.filters, dtype, device)?))
            } else {
                (Some(Var::zeros(spec.filters, dtype, device)?), None)
            };
            modules.push(Module {
                spec,
                kernel,
                bias,
                bn,
            });
        }
        let features = cfg.features();
        let mut rng = WeightRng::new(seed, modules.len() as u64);
        let w = match cfg.init {
            ConvInit::He => rng.gaussian_matrix(features, CLASSES, 1.0 / features as f64),
            ConvInit::Ll | ConvInit::LlDelta => rng.mirrored_orthogonal(features, CLASSES),
        };
        let dense_w =
            Var::from_tensor(&Tensor::from_vec(w, (features, CLASSES), device)?.to_dtype(dtype)?)?;
        let dense_b = Var::zeros(CLASSES, dtype, device)?;
        Ok(Self {
            cfg: *cfg,
            conv,
            modules,
            dense_w,
            dense_b,
        })
    }

    /// Logits (N, 10) of images `x` (N, 3, 32, 32).
    pub fn forward(&self, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let mut h = x.clone();
        for block in self.cfg.blocks() {
            h = match block {
                Block::Single(i) => self.module(i, &h, mode)?,
                Block::Pair(i) => {
                    let branch = self.module(i + 1, &self.module(i, &h, mode)?, mode)?;
                    (shortcut(&h, &branch, self.cfg.act.multiplier())? + branch)?
                }
            };
        }
        let features = if self.cfg.is_linear() {
            h.flatten_from(1)?
        } else {
            h.mean((2, 3))?
        };
        features
            .matmul(self.dense_w.as_tensor())?
            .broadcast_add(self.dense_b.as_tensor())
    }

    fn module(&self, i: usize, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let m = &self.modules[i];
        let mut z = self
            .conv
            .conv2d(x, m.kernel.as_tensor(), m.spec.stride, KERNEL / 2)?;
        if let Some(b) = &m.bias {
            z = z.broadcast_add(&b.as_tensor().reshape((1, m.spec.filters, 1, 1))?)?;
        }
        if let Some(bn) = &m.bn {
            z = bn.forward(&z, mode)?;
        }
        match self.cfg.act {
            Activation::Relu => z.relu(),
            Activation::Crelu => Tensor::cat(&[z.relu()?, z.neg()?.relu()?], 1),
        }
    }

    /// Every tensor of the net by a stable name: trained parameters and BN running statistics.
    pub fn named_vars(&self) -> Vec<(String, Var)> {
        let mut out = Vec::new();
        for (i, m) in self.modules.iter().enumerate() {
            out.push((format!("conv{i}.weight"), m.kernel.clone()));
            if let Some(b) = &m.bias {
                out.push((format!("conv{i}.bias"), b.clone()));
            }
            if let Some(bn) = &m.bn {
                out.push((format!("bn{i}.gamma"), bn.gamma.clone()));
                out.push((format!("bn{i}.beta"), bn.beta.clone()));
                out.push((format!("bn{i}.running_mean"), bn.running_mean.clone()));
                out.push((format!("bn{i}.running_var"), bn.running_var.clone()));
            }
        }
        out.push(("dense.weight".to_string(), self.dense_w.clone()));
        out.push(("dense.bias".to_string(), self.dense_b.clone()));
        out
    }

    /// The parameters an optimiser updates (everything but the BN running statistics).
    pub fn trainable_vars(&self) -> Vec<Var> {
        self.named_vars()
            .into_iter()
            .filter(|(name, _)| !name.contains(".running_"))
            .map(|(_, v)| v)
            .collect()
    }
}

/// The identity path of a skip pair, matched to the branch: 2x2 average pooling where the
/// branch strided, zero channels where it widened (parameter-free, as in thin resnets). For
/// CReLU (`halves` = 2) each half is padded on its own, so channel j still pairs with its
/// mirror j + C/2 and a looks-linear net stays linear.
fn shortcut(x: &Tensor, branch: &Tensor, halves: usize) -> Result<Tensor> {
    let (_, c, h, _) = x.dims4()?;
    let (_, bc, bh, _) = branch.dims4()?;
    let s = if bh < h {
        x.avg_pool2d(h / bh)?
    } else {
        x.clone()
    };
    if bc == c {
        return Ok(s);
    }
    let pad = (bc - c) / halves;
    let parts = s
        .chunk(halves, 1)?
        .into_iter()
        .map(|part| part.pad_with_zeros(1, 0, pad))
        .collect::<Result<Vec<_>>>()?;
    Tensor::cat(&parts, 1)
}

/// OIHW kernel weights. `mirrored` layers read a CReLU output, whose second half of channels
/// is the negated first half: LL gives them [K̃, −K̃] so the pair cancels into K̃ z.
fn kernel_weights(
    init: ConvInit,
    spec: LayerSpec,
    mirrored: bool,
    rng: &mut WeightRng,
) -> Vec<f64> {
    let (o, c) = (spec.filters, spec.in_channels);
    match init {
        ConvInit::He => rng.gaussian(o * c * TAPS, (2.0 / (c * TAPS) as f64).sqrt()),
        ConvInit::Ll => {
            // (c·9 x o) with rows indexed (channel, tap): transpose to (o, c, tap).
            let m = if mirrored {
                rng.mirrored_orthogonal(c * TAPS, o)
            } else {
                rng.orthogonal(c * TAPS, o, 1.0)
            };
            let mut k = vec![0.0; o * c * TAPS];
            for (r, row) in m.chunks_exact(o).enumerate() {
                for (out, &v) in row.iter().enumerate() {
                    k[out * c * TAPS + r] = v;
                }
            }
            k
        }
        ConvInit::LlDelta => {
            let m = if mirrored {
                rng.mirrored_orthogonal(c, o)
            } else {
                rng.orthogonal(c, o, 1.0)
            };
            let mut k = vec![0.0; o * c * TAPS];
            for (ch, row) in m.chunks_exact(o).enumerate() {
                for (out, &v) in row.iter().enumerate() {
                    k[(out * c + ch) * TAPS + TAPS / 2] = v;
                }
            }
            k
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(depth: usize, act: Activation) -> ConvNetConfig {
        ConvNetConfig {
            depth,
            act,
            init: ConvInit::He,
            bn: true,
            skip: false,
        }
    }

    #[test]
    fn widths_double_at_each_reduction_up_to_64() {
        let layers = cfg(18, Activation::Relu).layers();
        assert_eq!(layers.len(), 17);
        let filters: Vec<usize> = layers.iter().map(|l| l.filters).collect();
        assert_eq!(
            filters,
            [
                8, 8, 8, 8, 8, 16, 16, 16, 16, 32, 32, 32, 32, 64, 64, 64, 64
            ]
        );
        assert_eq!(layers.iter().filter(|l| l.stride == 2).count(), 3);
        assert_eq!(layers.iter().map(|l| l.filters).max(), Some(64));
        let deep = cfg(MAX_CONV_DEPTH, Activation::Crelu).layers();
        assert_eq!(deep.len(), 197);
        assert_eq!(deep.last().map(|l| l.filters), Some(45));
        assert_eq!(deep[1].in_channels, 12);
    }

    #[test]
    fn validation_names_the_setting() {
        assert!(
            cfg(0, Activation::Relu)
                .validate()
                .unwrap_err()
                .contains("depth 0: expected an integer in 1..=198")
        );
        let mut ll = cfg(8, Activation::Relu);
        ll.init = ConvInit::Ll;
        assert!(ll.validate().unwrap_err().contains("crelu"));
        let mut linear_ll = cfg(LINEAR_DEPTH, Activation::Crelu);
        linear_ll.init = ConvInit::Ll;
        assert!(linear_ll.validate().unwrap_err().contains("--depth 1"));
    }

    #[test]
    fn depth_1_is_a_linear_classifier_on_the_pixels() {
        let linear = cfg(LINEAR_DEPTH, Activation::Relu);
        linear.validate().unwrap();
        assert!(linear.layers().is_empty() && linear.blocks().is_empty());
        assert_eq!(linear.features(), 3 * 32 * 32);
        assert_eq!(cfg(MAX_CONV_DEPTH, Activation::Crelu).features(), 2 * 45);
    }
}
