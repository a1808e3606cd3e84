//! Checkpoints: the net, the optimiser's state and the run's counters in one safetensors
//! file (counters and config in its metadata), written atomically, so a run resumes exactly.
//! A checkpoint is data anyone may have edited or damaged: loading verifies a SHA-256 of the
//! tensors, refuses non-finite values, range-checks every counter and validates the run name
//! before it names a file.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use candle_core::{DType, Device, Tensor};
use safetensors::View;
use sha2::{Digest, Sha256};

use crate::fsio::write_file;
use crate::train::cifar::Cifar;
use crate::train::config::TrainConfig;
use crate::train::runlog::check_run_name;
use crate::train::trainer::{Progress, Trainer};

const CONFIG_KEY: &str = "config";
const PROGRESS_KEY: &str = "progress";
const OPT_STEPS_KEY: &str = "optimizer_steps";
const RUN_KEY: &str = "run";
const DIGEST_KEY: &str = "tensors_sha256";

/// SHA-256 over every tensor's name, dtype, shape and bytes, in name order: any flipped
/// byte, renamed or reshaped tensor changes it.
fn digest<V: View>(mut tensors: Vec<(&str, V)>) -> String {
    tensors.sort_by(|a, b| a.0.cmp(b.0));
    let mut sha = Sha256::new();
    for (name, t) in &tensors {
        sha.update((name.len() as u64).to_le_bytes());
        sha.update(name.as_bytes());
        sha.update(format!("{:?}{:?}", t.dtype(), t.shape()).as_bytes());
        sha.update(t.data());
    }
    format!("{:x}", sha.finalize())
}

/// Writes `trainer`'s state (best taken at an epoch's end) for run `run` to `path`.
pub fn save(trainer: &Trainer, run: &str, path: &Path) -> anyhow::Result<()> {
    let tensors = trainer.named_tensors()?;
    let sum = digest(tensors.iter().map(|(n, t)| (n.as_str(), t)).collect());
    let meta = HashMap::from([
        (DIGEST_KEY.to_string(), sum),
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
    let bytes = safetensors::serialize(tensors.iter().map(|(n, t)| (n.as_str(), t)), Some(meta))
        .with_context(|| format!("cannot encode checkpoint {}", path.display()))?;
    write_file(path, &bytes)
}

/// A run rebuilt from a checkpoint, and its name.
pub struct Restored {
    pub trainer: Trainer,
    pub run: String,
}

/// Rebuilds the run saved in `path` on `data`.
pub fn load(path: &Path, data: Arc<Cifar>, device: Device) -> anyhow::Result<Restored> {
    let bytes = crate::fsio::read_regular(path, "checkpoint")?;
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
    check_run_name(&run).map_err(|e| bad(&e))?;
    let views = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| bad(&e.to_string()))?;
    let stored = field(DIGEST_KEY)?;
    let actual = digest(views.iter().collect());
    if *stored != actual {
        return Err(bad(&format!(
            "tensor checksum mismatch (stored {stored}, computed {actual}): the file is damaged"
        )));
    }
    cfg.validate().map_err(|e| bad(&format!("config: {e}")))?;
    let tensors =
        candle_core::safetensors::load_buffer(&bytes, &device).map_err(|e| bad(&e.to_string()))?;
    let mut trainer = Trainer::new(cfg, data, device)?;
    check_progress(&progress, opt_steps, &trainer).map_err(|e| bad(&e))?;
    trainer
        .load_tensors(|name| {
            let t = tensors
                .get(name)
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("tensor {name} is missing"))?;
            check_finite(&t).with_context(|| format!("tensor {name}"))?;
            Ok(t)
        })
        .map_err(|e| bad(&format!("{e:#}")))?;
    trainer.restore(progress, opt_steps);
    Ok(Restored { trainer, run })
}

/// Refuses NaN and infinite values: a net holding them can only produce garbage.
fn check_finite(t: &Tensor) -> anyhow::Result<()> {
    let values = t.flatten_all()?.to_dtype(DType::F64)?.to_vec1::<f64>()?;
    match values.iter().position(|v| !v.is_finite()) {
        Some(i) => anyhow::bail!("holds a non-finite value ({}) at index {i}", values[i]),
        None => Ok(()),
    }
}

/// ChaCha's word position never exceeds 2^68 (2^64 blocks of 16 words).
const MAX_RNG_WORD_POS: u128 = 1 << 68;

/// Every counter must be one a run with `trainer`'s settings can reach at an epoch's end.
fn check_progress(p: &Progress, opt_steps: u64, trainer: &Trainer) -> Result<(), String> {
    let cfg = trainer.config();
    let out_of_range = |field: &str, value: String, expected: String| {
        Err(format!(
            "progress field {field} = {value} is out of range: expected {expected}"
        ))
    };
    if p.epoch > cfg.epochs {
        return out_of_range("epoch", p.epoch.to_string(), format!("0..={}", cfg.epochs));
    }
    let steps = p.epoch as u64 * trainer.steps_per_epoch() as u64;
    if p.step != steps {
        return out_of_range(
            "step",
            p.step.to_string(),
            format!(
                "{steps} (epoch {} x {} steps per epoch)",
                p.epoch,
                trainer.steps_per_epoch()
            ),
        );
    }
    if opt_steps > p.step {
        return out_of_range(
            "optimizer_steps",
            opt_steps.to_string(),
            format!("0..={}", p.step),
        );
    }
    if !(p.lr.is_finite() && p.lr > 0.0 && p.lr <= cfg.lr) {
        return out_of_range(
            "lr",
            p.lr.to_string(),
            format!("a number in (0, {}]", cfg.lr),
        );
    }
    if p.best_loss.is_nan() || p.best_loss < 0.0 {
        return out_of_range("best_loss", p.best_loss.to_string(), "a loss >= 0".into());
    }
    if p.bad_epochs > cfg.plateau_patience {
        return out_of_range(
            "bad_epochs",
            p.bad_epochs.to_string(),
            format!("0..={} (the plateau patience)", cfg.plateau_patience),
        );
    }
    if p.rng_word_pos > MAX_RNG_WORD_POS {
        return out_of_range(
            "rng_word_pos",
            p.rng_word_pos.to_string(),
            "0..=2^68".into(),
        );
    }
    Ok(())
}
