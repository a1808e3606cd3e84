//! A study's runs: every family at every depth and seed (the baseline once per seed), each
//! named by its settings so the name is the same on every machine, and the deterministic
//! slices (`--shard I/N`) that spread them over workers with about equal cost.

use sha2::{Digest, Sha256};

use crate::nets::conv::LINEAR_DEPTH;
use crate::study::spec::Spec;
use crate::train::config::TrainConfig;
use crate::train::runlog::run_stem;

/// CIFAR-10's training and test images, for runs on the whole of a split.
const FULL_TRAIN: usize = 50_000;
const FULL_TEST: usize = 10_000;
/// Hex digits of the settings' digest in a run's name.
const DIGEST_CHARS: usize = 10;

/// One run of the plan.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedRun {
    /// `<toggles>-s<seed>-<digest of the settings>`: its log is `<name>.jsonl`.
    pub name: String,
    /// Index into the spec's families.
    pub family: usize,
    pub depth: usize,
    pub seed: u64,
    pub config: TrainConfig,
    /// Estimated cost: depth x images processed (training, plus a third per test image:
    /// evaluation is a forward pass only). Only ratios matter.
    pub cost: u64,
}

impl PlannedRun {
    /// Cost of one epoch.
    pub fn epoch_cost(&self) -> f64 {
        self.cost as f64 / self.config.epochs.max(1) as f64
    }
}

/// The spec and its runs, seed by seed (so a study half done already has whole curves),
/// then family by family, then depth by depth.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub spec: Spec,
    pub runs: Vec<PlannedRun>,
}

impl Plan {
    pub fn new(spec: Spec) -> anyhow::Result<Self> {
        let mut runs = Vec::new();
        for &seed in &spec.seeds {
            for (family, f) in spec.families.iter().enumerate() {
                let depths = if f.baseline {
                    vec![LINEAR_DEPTH]
                } else {
                    spec.depths.clone()
                };
                for depth in depths {
                    let mut config = f.template.clone();
                    config.net.depth = depth;
                    config.seed = seed;
                    runs.push(PlannedRun {
                        name: run_name(&config),
                        family,
                        depth,
                        seed,
                        cost: cost(&config),
                        config,
                    });
                }
            }
        }
        for (i, r) in runs.iter().enumerate() {
            if let Some(other) = runs[..i].iter().find(|o| o.name == r.name) {
                anyhow::bail!(
                    "invalid study spec {}: key family: families {} and {} have the same \
                     settings, expected each family to differ",
                    spec.path.display(),
                    spec.families[other.family].name,
                    spec.families[r.family].name
                );
            }
        }
        Ok(Self { spec, runs })
    }

    /// The runs of shard `shard`, in plan order.
    pub fn shard(&self, shard: Shard) -> Vec<&PlannedRun> {
        let owner = assign(&self.runs, shard.count);
        self.runs
            .iter()
            .zip(owner)
            .filter(|(_, s)| *s == shard.index)
            .map(|(r, _)| r)
            .collect()
    }

    /// The runs of `shard`, or all of them.
    pub fn select(&self, shard: Option<Shard>) -> Vec<&PlannedRun> {
        match shard {
            Some(s) => self.shard(s),
            None => self.runs.iter().collect(),
        }
    }
}

/// The shard of each run: longest first, each to the least loaded shard (ties to the lowest
/// index), which keeps every shard within one run's cost of the others.
fn assign(runs: &[PlannedRun], count: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..runs.len()).collect();
    order.sort_by(|&a, &b| runs[b].cost.cmp(&runs[a].cost).then(a.cmp(&b)));
    let mut load = vec![0u64; count.max(1)];
    let mut owner = vec![0; runs.len()];
    for i in order {
        let (shard, _) = load
            .iter()
            .enumerate()
            .min_by_key(|&(s, l)| (*l, s))
            .unwrap_or((0, &0));
        owner[i] = shard;
        load[shard] += runs[i].cost;
    }
    owner
}

/// The run's stable name: its toggles and seed for the reader, and a digest of every
/// setting but the epoch count (so raising `epochs` continues the same runs).
pub fn run_name(cfg: &TrainConfig) -> String {
    let identity = TrainConfig {
        epochs: 0,
        ..cfg.clone()
    };
    format!("{}-{}", run_stem(cfg), digest(&identity))
}

/// The same for runs that differ only in their seed (and epoch count): what groups seeds
/// into one point, for the report and for any list of runs (the training tab's).
pub fn group_key(cfg: &TrainConfig) -> String {
    digest(&TrainConfig {
        epochs: 0,
        seed: 0,
        ..cfg.clone()
    })
}

/// The first hex digits of a SHA-256 of the settings' JSON.
fn digest(cfg: &TrainConfig) -> String {
    let json = serde_json::to_vec(cfg).unwrap_or_default();
    let hex = format!("{:x}", Sha256::digest(&json));
    hex[..DIGEST_CHARS].to_string()
}

fn cost(cfg: &TrainConfig) -> u64 {
    let train = cfg.train_subset.unwrap_or(FULL_TRAIN).min(FULL_TRAIN) as u64;
    let test = cfg.test_subset.unwrap_or(FULL_TEST).min(FULL_TEST) as u64;
    cfg.net.depth as u64 * cfg.epochs as u64 * (train + test / 3)
}

/// Slice `index` of `count` (0 <= index < count).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;

    /// `I/N`, e.g. `0/4`.
    fn from_str(s: &str) -> Result<Self, String> {
        let parsed = s
            .split_once('/')
            .and_then(|(i, n)| Some((i.trim().parse().ok()?, n.trim().parse().ok()?)));
        match parsed {
            Some((index, count)) if index < count => Ok(Self { index, count }),
            _ => Err(format!(
                "invalid shard {s:?}: expected I/N with 0 <= I < N, e.g. 0/4"
            )),
        }
    }
}

/// Slurm's array variables, or a Kubernetes indexed Job's index with its count.
pub const SLURM_ID: &str = "SLURM_ARRAY_TASK_ID";
pub const SLURM_COUNT: &str = "SLURM_ARRAY_TASK_COUNT";
pub const SLURM_MIN: &str = "SLURM_ARRAY_TASK_MIN";
pub const SLURM_STEP: &str = "SLURM_ARRAY_TASK_STEP";
pub const K8S_INDEX: &str = "JOB_COMPLETION_INDEX";
/// Set to the Job's `completions` beside a Kubernetes indexed Job's index.
pub const SHARD_COUNT: &str = "SHATTERLAB_SHARD_COUNT";

impl Shard {
    /// The shard a job runner gives through the environment (read through `env`): a Slurm
    /// job array (its task's place among `--array`'s ids), or a Kubernetes indexed Job
    /// (`JOB_COMPLETION_INDEX` of `SHATTERLAB_SHARD_COUNT`). None outside both.
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> anyhow::Result<Option<Self>> {
        let num = |key: &str| -> anyhow::Result<Option<usize>> {
            env(key)
                .filter(|v| !v.trim().is_empty())
                .map(|v| {
                    v.trim().parse::<usize>().map_err(|_| {
                        anyhow::anyhow!("invalid {key}={v:?}: expected a non-negative integer")
                    })
                })
                .transpose()
        };
        let (index, count) = if let Some(id) = num(SLURM_ID)? {
            let count = num(SLURM_COUNT)?.ok_or_else(|| {
                anyhow::anyhow!("{SLURM_ID} is set but {SLURM_COUNT} is not: pass --shard I/N")
            })?;
            let min = num(SLURM_MIN)?.unwrap_or(0);
            let step = num(SLURM_STEP)?.unwrap_or(1).max(1);
            (id.saturating_sub(min) / step, count)
        } else if let Some(index) = num(K8S_INDEX)? {
            let count = num(SHARD_COUNT)?.ok_or_else(|| {
                anyhow::anyhow!(
                    "{K8S_INDEX} is set but {SHARD_COUNT} is not: set it to the Job's \
                     completions, or pass --shard I/N"
                )
            })?;
            (index, count)
        } else {
            return Ok(None);
        };
        anyhow::ensure!(
            index < count,
            "the job runner's shard {index} of {count} is out of range: expected an index \
             below the count"
        );
        Ok(Some(Self { index, count }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn shards_come_from_slurm_or_kubernetes() {
        assert_eq!(Shard::from_env(env(&[])).unwrap(), None);
        let slurm = [(SLURM_ID, "7"), (SLURM_COUNT, "4"), (SLURM_MIN, "5")];
        assert_eq!(
            Shard::from_env(env(&slurm)).unwrap(),
            Some(Shard { index: 2, count: 4 })
        );
        let k8s = [(K8S_INDEX, "1"), (SHARD_COUNT, "3")];
        assert_eq!(
            Shard::from_env(env(&k8s)).unwrap(),
            Some(Shard { index: 1, count: 3 })
        );
        let e = Shard::from_env(env(&[(K8S_INDEX, "1")])).unwrap_err();
        assert!(e.to_string().contains(SHARD_COUNT), "{e}");
        let e = Shard::from_env(env(&[(SLURM_ID, "4"), (SLURM_COUNT, "4")])).unwrap_err();
        assert!(e.to_string().contains("out of range"), "{e}");
    }

    #[test]
    fn names_follow_every_setting_but_the_epochs_and_groups_ignore_the_seed() {
        let cfg = TrainConfig::default();
        let name = run_name(&cfg);
        assert!(name.starts_with("d8-relu-he-bn-ff-s0-"), "{name}");
        let longer = TrainConfig {
            epochs: 40,
            ..cfg.clone()
        };
        assert_eq!(run_name(&longer), name);
        let seed = TrainConfig {
            seed: 3,
            ..cfg.clone()
        };
        let lr = TrainConfig {
            lr: 0.01,
            ..cfg.clone()
        };
        assert_ne!(run_name(&seed), name);
        assert_ne!(run_name(&lr), name);
        assert_eq!(group_key(&seed), group_key(&longer));
        assert_ne!(group_key(&lr), group_key(&cfg));
    }

    #[test]
    fn shard_flags_parse_or_say_what_is_expected() {
        assert_eq!("2/3".parse::<Shard>(), Ok(Shard { index: 2, count: 3 }));
        for bad in ["3/3", "1", "a/2", "1/0", "-1/2"] {
            assert!(bad.parse::<Shard>().unwrap_err().contains("expected I/N"));
        }
    }
}
