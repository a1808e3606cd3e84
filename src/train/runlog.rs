//! Append-only JSONL log of a run under the runs directory. Each record is written with a
//! single `write_all` on an unbuffered file, so a crash loses at most the line being written.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;

use crate::train::config::TrainConfig;

/// The line that opens a run's log, and each resumption of it.
#[derive(Serialize)]
pub struct Header<'a> {
    /// "config" for a fresh run, "resume" when continuing from a checkpoint.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub run: &'a str,
    pub seed: u64,
    /// Steps already taken (0 for a fresh run).
    pub step: u64,
    pub config: &'a TrainConfig,
}

/// An open run log.
pub struct RunLog {
    file: File,
    path: PathBuf,
}

impl RunLog {
    /// Starts a new log `runs_dir/<name>.jsonl`, adding `-2`, `-3`... to `name` if a run of
    /// that name exists (same settings started in the same second). Returns the name used.
    pub fn create(runs_dir: &Path, name: &str) -> anyhow::Result<(Self, String)> {
        create_runs_dir(runs_dir)?;
        let mut n = 1;
        loop {
            let candidate = if n == 1 {
                name.to_string()
            } else {
                format!("{name}-{n}")
            };
            let path = runs_dir.join(format!("{candidate}.jsonl"));
            match OpenOptions::new().create_new(true).append(true).open(&path) {
                Ok(file) => return Ok((Self { file, path }, candidate)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => n += 1,
                Err(e) => anyhow::bail!("cannot create run log {}: {e}", path.display()),
            }
        }
    }

    /// Opens the log of run `name` to continue it (a fresh file if it is gone).
    pub fn reopen(runs_dir: &Path, name: &str) -> anyhow::Result<Self> {
        create_runs_dir(runs_dir)?;
        let path = runs_dir.join(format!("{name}.jsonl"));
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot open run log {}", path.display()))?;
        Ok(Self { file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record as one line.
    pub fn append<T: Serialize>(&mut self, record: &T) -> anyhow::Result<()> {
        self.append_raw(serde_json::to_vec(record)?)
    }

    /// Appends one already serialised record (a JSON object without its newline) as one line.
    pub fn append_raw(&mut self, mut line: Vec<u8>) -> anyhow::Result<()> {
        line.push(b'\n');
        self.file
            .write_all(&line)
            .with_context(|| format!("cannot write run log {}", self.path.display()))
    }
}

fn create_runs_dir(runs_dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(runs_dir)
        .with_context(|| format!("cannot create runs directory {}", runs_dir.display()))
}

/// A run's name: start time, the net's toggles and the seed, readable in a directory listing.
pub fn run_name(cfg: &TrainConfig, unix_secs: u64) -> String {
    let net = &cfg.net;
    let init = serde_json::to_value(net.init)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    format!(
        "{unix_secs}-d{}-{}-{init}-{}-{}-s{}",
        net.depth,
        if net.act == crate::config::Activation::Crelu {
            "crelu"
        } else {
            "relu"
        },
        if net.bn { "bn" } else { "nobn" },
        if net.skip { "res" } else { "ff" },
        cfg.seed
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_get_distinct_logs_and_whole_lines() {
        let dir = tempfile::tempdir().unwrap();
        let runs = dir.path().join("runs");
        let (mut a, name_a) = RunLog::create(&runs, "r").unwrap();
        let (_, name_b) = RunLog::create(&runs, "r").unwrap();
        assert_eq!((name_a.as_str(), name_b.as_str()), ("r", "r-2"));
        a.append(&serde_json::json!({"step": 1})).unwrap();
        RunLog::reopen(&runs, "r")
            .unwrap()
            .append(&serde_json::json!({"step": 2}))
            .unwrap();
        let text = std::fs::read_to_string(a.path()).unwrap();
        assert_eq!(text, "{\"step\":1}\n{\"step\":2}\n");
    }

    #[test]
    fn run_names_show_the_toggles_and_seed() {
        let cfg = TrainConfig::default();
        assert_eq!(run_name(&cfg, 7), "7-d8-relu-he-bn-ff-s0");
    }
}
