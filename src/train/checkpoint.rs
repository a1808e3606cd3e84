//! Checkpoints: the net, the optimiser's state and the run's counters in one safetensors
//! file (counters and config in its metadata), written atomically, so a run resumes exactly.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use candle_core::Device;

use crate::output::write_atomic;
use crate::train::cifar::Cifar;
use crate::train::config::TrainConfig;
use crate::train::trainer::{Progress, Trainer};

const CONFIG_KEY: &str = "config";
const PROGRESS_KEY: &str = "progress";
const OPT_STEPS_KEY: &str = "optimizer_steps";
const RUN_KEY: &str = "run";

/// Writes `trainer`'s state (best taken at an epoch's end) for run `run` to `path`.
pub fn save(trainer: &Trainer, run: &str, path: &Path) -> anyhow::Result<()> {
    let meta = HashMap::from([
        (
            CONFIG_KEY.to_string(),
            serde_json::to_string(trainer.config())?,
        ),
        (
            PROGRESS_KEY.to_string(),
            serde_json::to_string(trainer.progress())?,
        ),
        (
            OPT_STEPS_KEY.to_string(),
            trainer.optimizer_steps().to_string(),
        ),
        (RUN_KEY.to_string(), run.to_string()),
    ]);
    let tensors = trainer.named_tensors()?;
    let bytes = safetensors::serialize(tensors.iter().map(|(n, t)| (n.as_str(), t)), Some(meta))
        .with_context(|| format!("cannot encode checkpoint {}", path.display()))?;
    write_atomic(path, &bytes)
}

/// A run rebuilt from a checkpoint, and its name.
pub struct Restored {
    pub trainer: Trainer,
    pub run: String,
}

/// Rebuilds the run saved in `path` on `data`.
pub fn load(path: &Path, data: Arc<Cifar>, device: Device) -> anyhow::Result<Restored> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read checkpoint {}", path.display()))?;
    let bad = |what: &str| anyhow::anyhow!("invalid checkpoint {}: {what}", path.display());
    let (_, header) =
        safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| bad(&e.to_string()))?;
    let meta = header
        .metadata()
        .as_ref()
        .ok_or_else(|| bad("no metadata"))?;
    let field = |key: &str| {
        meta.get(key)
            .ok_or_else(|| bad(&format!("no {key} in its metadata")))
    };
    let cfg: TrainConfig =
        serde_json::from_str(field(CONFIG_KEY)?).map_err(|e| bad(&e.to_string()))?;
    let progress: Progress =
        serde_json::from_str(field(PROGRESS_KEY)?).map_err(|e| bad(&e.to_string()))?;
    let opt_steps: u64 = field(OPT_STEPS_KEY)?
        .parse()
        .map_err(|_| bad("optimizer_steps is not an integer"))?;
    let run = field(RUN_KEY)?.clone();
    let tensors =
        candle_core::safetensors::load_buffer(&bytes, &device).map_err(|e| bad(&e.to_string()))?;
    let mut trainer = Trainer::new(cfg, data, device)?;
    trainer
        .load_tensors(|name| {
            tensors
                .get(name)
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("tensor {name} is missing"))
        })
        .map_err(|e| bad(&format!("{e:#}")))?;
    trainer.restore(progress, opt_steps);
    Ok(Restored { trainer, run })
}
