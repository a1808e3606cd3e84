//! One training run's settings: serialised into its log so any run can be repeated exactly.

use serde::{Deserialize, Serialize};

use crate::config::InvalidSetting;
use crate::kernels::Kernels;
use crate::nets::conv::ConvNetConfig;
use crate::train::optim::OptimizerKind;

/// Everything that determines a run, given the data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub net: ConvNetConfig,
    pub optimizer: OptimizerKind,
    /// Initial learning rate.
    pub lr: f64,
    /// SGD momentum (unused by Adam).
    pub momentum: f64,
    pub batch: usize,
    pub epochs: usize,
    /// Train on the first N training images only (the files are in random order).
    pub train_subset: Option<usize>,
    /// Evaluate on the first N test images only.
    pub test_subset: Option<usize>,
    /// Random 4-px shifts and horizontal flips.
    pub augment: bool,
    /// Seeds the weights, the shuffling and the augmentation.
    pub seed: u64,
    /// Emit a step record every this many steps (and at each epoch's end).
    pub log_every: usize,
    /// Epochs without a 0.1% drop in training loss before the learning rate is cut.
    pub plateau_patience: usize,
    /// Factor applied to the learning rate on a plateau.
    pub plateau_factor: f64,
    /// The CPU kernels (default) or candle's ops; CUDA always uses candle's. Runs logged
    /// before the choice existed used candle's.
    #[serde(default = "legacy_kernels")]
    pub kernels: Kernels,
}

/// What a config without a `kernels` key ran on.
fn legacy_kernels() -> Kernels {
    Kernels::Candle
}

impl Default for TrainConfig {
    /// CPU-friendly defaults: a thin depth-8 net, small batches, a 5k-image subset.
    fn default() -> Self {
        Self {
            net: ConvNetConfig {
                depth: 8,
                act: crate::config::Activation::Relu,
                init: crate::nets::conv::ConvInit::He,
                bn: true,
                skip: false,
            },
            optimizer: OptimizerKind::Adam,
            lr: 1e-3,
            momentum: 0.9,
            batch: 64,
            epochs: 10,
            train_subset: Some(5000),
            test_subset: None,
            augment: true,
            seed: 0,
            log_every: 10,
            plateau_patience: 2,
            plateau_factor: 0.5,
            kernels: Kernels::Fast,
        }
    }
}

impl TrainConfig {
    /// Checks every setting; the error names the flag and what it expects.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.net.validate().map_err(anyhow::Error::msg)?;
        InvalidSetting::check(
            self.lr.is_finite() && self.lr > 0.0,
            "--lr",
            self.lr,
            "a finite number > 0",
        )?;
        InvalidSetting::check(
            self.momentum.is_finite() && (0.0..1.0).contains(&self.momentum),
            "--momentum",
            self.momentum,
            "a number in [0, 1)",
        )?;
        InvalidSetting::check_range("--batch", self.batch, 1..=4096)?;
        InvalidSetting::check_range("--epochs", self.epochs, 1..=10_000)?;
        if let Some(n) = self.train_subset {
            InvalidSetting::check(n >= 1, "--train-subset", n, "an integer >= 1")?;
        }
        if let Some(n) = self.test_subset {
            InvalidSetting::check(n >= 1, "--test-subset", n, "an integer >= 1")?;
        }
        InvalidSetting::check(
            self.log_every >= 1,
            "--log-every",
            self.log_every,
            "an integer >= 1",
        )?;
        InvalidSetting::check(
            self.plateau_factor > 0.0 && self.plateau_factor <= 1.0,
            "--plateau-factor",
            self.plateau_factor,
            "a number in (0, 1]",
        )?;
        Ok(())
    }
}
