//! Append-only JSONL log of a run under the runs directory. Each record is written with a
//! single `write_all` on an unbuffered file, so a crash loses at most the line being written.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

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
    /// Opens (creating the directory and file as needed) `runs_dir/<run>.jsonl` for appending.
    pub fn open(runs_dir: &Path, run: &str) -> anyhow::Result<Self> {
        std::fs::create_dir_all(runs_dir).map_err(|e| {
            anyhow::anyhow!("cannot create runs directory {}: {e}", runs_dir.display())
        })?;
        let path = runs_dir.join(format!("{run}.jsonl"));
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| anyhow::anyhow!("cannot open run log {}: {e}", path.display()))?;
        Ok(Self { file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record as one line.
    pub fn append<T: Serialize>(&mut self, record: &T) -> anyhow::Result<()> {
        let mut line = serde_json::to_vec(record)?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .map_err(|e| anyhow::anyhow!("cannot write run log {}: {e}", self.path.display()))
    }
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
