//! A study's spec: families of `train` settings crossed with depths and seeds, in TOML
//! (`assets/studies/`, documented in docs/study.md). Every key is checked before anything
//! runs: an unknown key, an empty grid, a depth out of range or settings `train` refuses are
//! one line naming the file, the key and what is accepted.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::{Activation, InvalidSetting};
use crate::nets::conv::{ConvInit, ConvNetConfig, LINEAR_DEPTH, MAX_CONV_DEPTH};
use crate::train::config::TrainConfig;
use crate::train::optim::OptimizerKind;

/// Depths a conv family takes (the baseline family is the depth-1 linear classifier).
pub const CONV_DEPTHS: std::ops::RangeInclusive<usize> = 2..=MAX_CONV_DEPTH;

/// The file as written; settings left out take `train`'s defaults.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecFile {
    description: Option<String>,
    depths: Vec<usize>,
    seeds: Vec<u64>,
    epochs: usize,
    /// 0 = all the training images.
    train_subset: Option<usize>,
    /// 0 = all the test images.
    test_subset: Option<usize>,
    batch: Option<usize>,
    augment: Option<bool>,
    optimizer: Option<OptimizerKind>,
    lr: Option<f64>,
    momentum: Option<f64>,
    plateau_patience: Option<usize>,
    plateau_factor: Option<f64>,
    log_every: Option<usize>,
    #[serde(rename = "family", default)]
    families: Vec<FamilyFile>,
}

/// One `[[family]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FamilyFile {
    name: String,
    label: Option<String>,
    /// The linear classifier (depth 1), run once per seed and drawn across all depths.
    #[serde(default)]
    baseline: bool,
    act: Option<Activation>,
    init: Option<ConvInit>,
    bn: Option<bool>,
    skip: Option<bool>,
    lr: Option<f64>,
}

/// A named set of `train` settings, run at every depth (or, for the baseline, once).
#[derive(Clone, Debug, PartialEq)]
pub struct Family {
    pub name: String,
    /// Its name in the report's figure.
    pub label: String,
    pub baseline: bool,
    /// Every setting but the depth and the seed, which the plan fills in.
    pub template: TrainConfig,
}

/// A checked spec with any command-line overrides applied.
#[derive(Clone, Debug, PartialEq)]
pub struct Spec {
    /// The file's stem: the study's name.
    pub name: String,
    pub path: PathBuf,
    pub description: String,
    pub depths: Vec<usize>,
    pub seeds: Vec<u64>,
    pub epochs: usize,
    pub families: Vec<Family>,
}

/// `--depths`, `--seeds`, `--epochs`, `--train-subset`, `--test-subset`: quick checks on a
/// smaller grid than the file's.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Overrides {
    pub depths: Option<Vec<usize>>,
    pub seeds: Option<Vec<u64>>,
    pub epochs: Option<usize>,
    /// 0 = all.
    pub train_subset: Option<usize>,
    /// 0 = all.
    pub test_subset: Option<usize>,
}

impl Spec {
    /// Reads, checks and overrides the spec at `path`.
    pub fn load(path: &Path, overrides: &Overrides) -> anyhow::Result<Self> {
        let bytes = crate::fsio::read_regular(path, "study spec")?;
        let text = String::from_utf8(bytes)
            .map_err(|e| anyhow::anyhow!("study spec {} is not UTF-8: {e}", path.display()))?;
        Self::parse(&text, path, overrides)
    }

    /// Parses spec `text` (from `path`, named in errors).
    pub fn parse(text: &str, path: &Path, overrides: &Overrides) -> anyhow::Result<Self> {
        let file: SpecFile = crate::config::parse_toml(text)
            .map_err(|e| anyhow::anyhow!("invalid study spec {}: {e}", path.display()))?;
        let bad = |key: &str, what: String| {
            anyhow::anyhow!("invalid study spec {}: key {key}: {what}", path.display())
        };
        check_overrides(overrides)?;
        let depths = overrides.depths.clone().unwrap_or(file.depths);
        let seeds = overrides.seeds.clone().unwrap_or(file.seeds);
        let epochs = overrides.epochs.unwrap_or(file.epochs);
        let range = format!("{}..={}", CONV_DEPTHS.start(), CONV_DEPTHS.end());
        if depths.is_empty() {
            return Err(bad("depths", format!("empty, expected depths in {range}")));
        }
        if let Some(d) = depths.iter().find(|d| !CONV_DEPTHS.contains(d)) {
            return Err(bad(
                "depths",
                format!(
                    "depth {d} is out of range, expected depths in {range} (the baseline \
                     family is the depth-{LINEAR_DEPTH} linear classifier)"
                ),
            ));
        }
        if let Some(d) = first_repeat(&depths) {
            return Err(bad("depths", format!("depth {d} is listed twice")));
        }
        if seeds.is_empty() {
            return Err(bad("seeds", "empty, expected at least one seed".into()));
        }
        if let Some(s) = first_repeat(&seeds) {
            return Err(bad("seeds", format!("seed {s} is listed twice")));
        }
        if file.families.is_empty() {
            return Err(bad(
                "family",
                "no [[family]] tables, expected at least one".into(),
            ));
        }
        let subset = |o: Option<usize>, f: Option<usize>, default: Option<usize>| match o.or(f) {
            Some(0) => None,
            Some(n) => Some(n),
            None => default,
        };
        let defaults = TrainConfig::default();
        let shared = TrainConfig {
            epochs,
            train_subset: subset(
                overrides.train_subset,
                file.train_subset,
                defaults.train_subset,
            ),
            test_subset: subset(overrides.test_subset, file.test_subset, None),
            batch: file.batch.unwrap_or(defaults.batch),
            augment: file.augment.unwrap_or(defaults.augment),
            optimizer: file.optimizer.unwrap_or(defaults.optimizer),
            lr: file.lr.unwrap_or(defaults.lr),
            momentum: file.momentum.unwrap_or(defaults.momentum),
            plateau_patience: file.plateau_patience.unwrap_or(defaults.plateau_patience),
            plateau_factor: file.plateau_factor.unwrap_or(defaults.plateau_factor),
            log_every: file.log_every.unwrap_or(defaults.log_every),
            ..defaults
        };
        shared
            .validate()
            .map_err(|e| bad(&key_of(&e, "epochs"), e.to_string()))?;
        if let Some(n) = shared.train_subset
            && n < shared.batch
        {
            return Err(bad(
                "train_subset",
                format!(
                    "{n} images is fewer than one batch of {}, expected at least {}",
                    shared.batch, shared.batch
                ),
            ));
        }
        let mut names = HashSet::new();
        let mut families = Vec::new();
        for f in file.families {
            let key = format!("family.{}", f.name);
            let plain = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
            if f.name.is_empty() || !f.name.chars().all(plain) {
                return Err(bad(
                    "family.name",
                    format!("{:?}, expected lower-case letters, digits and '-'", f.name),
                ));
            }
            if !names.insert(f.name.clone()) {
                return Err(bad("family.name", format!("{:?} is used twice", f.name)));
            }
            let net_keys = [
                ("act", f.act.is_some()),
                ("init", f.init.is_some()),
                ("bn", f.bn.is_some()),
                ("skip", f.skip.is_some()),
            ];
            if let (true, Some((k, _))) = (f.baseline, net_keys.iter().find(|(_, set)| *set)) {
                return Err(bad(
                    &format!("{key}.{k}"),
                    "a baseline family is the linear classifier on the pixels, expected no \
                     net settings (act, init, bn, skip)"
                        .into(),
                ));
            }
            let template = TrainConfig {
                net: ConvNetConfig {
                    depth: if f.baseline { LINEAR_DEPTH } else { depths[0] },
                    act: f.act.unwrap_or(Activation::Relu),
                    init: f.init.unwrap_or(ConvInit::He),
                    bn: f.bn.unwrap_or(true),
                    skip: f.skip.unwrap_or(false),
                },
                lr: f.lr.unwrap_or(shared.lr),
                ..shared.clone()
            };
            template.validate().map_err(|e| {
                bad(
                    &key,
                    format!("train refuses these settings: {e}").replace("--", ""),
                )
            })?;
            families.push(Family {
                label: f.label.unwrap_or_else(|| f.name.clone()),
                name: f.name,
                baseline: f.baseline,
                template,
            });
        }
        Ok(Self {
            name: path
                .file_stem()
                .map_or_else(|| "study".into(), |s| s.to_string_lossy().into_owned()),
            path: path.to_path_buf(),
            description: file.description.unwrap_or_default(),
            depths,
            seeds,
            epochs,
            families,
        })
    }
}

/// The spec key of a setting `train` refused (`--train-subset` -> `train_subset`).
fn key_of(e: &anyhow::Error, fallback: &str) -> String {
    e.downcast_ref::<InvalidSetting>().map_or_else(
        || fallback.to_string(),
        |s| s.key.trim_start_matches("--").replace('-', "_"),
    )
}

/// The first value that appears twice.
fn first_repeat<T: std::hash::Hash + Eq + Copy>(values: &[T]) -> Option<T> {
    let mut seen = HashSet::new();
    values.iter().copied().find(|v| !seen.insert(*v))
}

/// The overrides' own ranges, named by their flags.
fn check_overrides(o: &Overrides) -> anyhow::Result<()> {
    if let Some(depths) = &o.depths {
        let range = format!("{}..={}", CONV_DEPTHS.start(), CONV_DEPTHS.end());
        InvalidSetting::check(
            !depths.is_empty(),
            "--depths",
            "(empty)",
            format!("depths in {range}"),
        )?;
        if let Some(d) = depths.iter().find(|d| !CONV_DEPTHS.contains(d)) {
            InvalidSetting::check(false, "--depths entry", d, format!("depths in {range}"))?;
        }
    }
    if let Some(seeds) = &o.seeds {
        InvalidSetting::check(!seeds.is_empty(), "--seeds", "(empty)", "at least one seed")?;
    }
    if let Some(e) = o.epochs {
        InvalidSetting::check_range("--epochs", e, 1..=10_000)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "depths = [4, 8]\nseeds = [0, 1]\nepochs = 2\ntrain_subset = 256\n\
                           [[family]]\nname = \"relu\"\n";

    fn parse(text: &str) -> anyhow::Result<Spec> {
        Spec::parse(text, Path::new("s.toml"), &Overrides::default())
    }

    #[test]
    fn left_out_settings_take_train_s_defaults() {
        let spec = parse(MINIMAL).unwrap();
        assert_eq!(spec.name, "s");
        let t = &spec.families[0].template;
        assert_eq!((t.batch, t.lr, t.augment), (64, 1e-3, true));
        assert_eq!(
            (t.train_subset, t.test_subset, t.epochs),
            (Some(256), None, 2)
        );
        assert_eq!(spec.families[0].label, "relu");
    }

    #[test]
    fn overrides_replace_the_grid() {
        let o = Overrides {
            depths: Some(vec![3]),
            seeds: Some(vec![7]),
            epochs: Some(1),
            train_subset: Some(0),
            test_subset: Some(10),
        };
        let spec = Spec::parse(MINIMAL, Path::new("s.toml"), &o).unwrap();
        assert_eq!(
            (spec.depths, spec.seeds, spec.epochs),
            (vec![3], vec![7], 1)
        );
        let t = &spec.families[0].template;
        assert_eq!((t.train_subset, t.test_subset), (None, Some(10)));
    }
}
