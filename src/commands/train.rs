//! `shatterlab train`: one CIFAR-10 run, its records as JSON lines on stdout and in its run
//! log. Ctrl-C ends the run between two steps with its `end` record; a second one kills.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Context;
use serde::Serialize;

use crate::config::DeviceKind;
use crate::device::device_for;
use crate::train::cifar::Cifar;
use crate::train::config::TrainConfig;
use crate::train::datadir::{batches_dir, data_root};
use crate::train::session::Session;
use crate::train::trainer::RunState;

/// A new run, or the continuation of a saved one.
#[derive(Debug, Clone, PartialEq)]
pub enum TrainStart {
    New(TrainConfig),
    /// The checkpoint's settings win; `epochs` may extend the run.
    Resume {
        checkpoint: PathBuf,
        epochs: Option<usize>,
    },
}

/// `train`'s resolved settings.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainOptions {
    pub start: TrainStart,
    pub device: DeviceKind,
    /// `--data-dir`; None: `$SHATTERLAB_DATA`, then the XDG data directory.
    pub data_dir: Option<PathBuf>,
    pub runs_dir: PathBuf,
    /// Save a checkpoint at the end of every epoch.
    pub checkpoint: bool,
    /// `--max-memory`; the memory available is the limit either way.
    pub max_memory: Option<u64>,
}

/// One JSON line on stdout, flushed so a reader sees it at once.
pub(crate) fn print_line<T: Serialize>(record: &T) -> anyhow::Result<()> {
    let mut line = serde_json::to_vec(record)?;
    line.push(b'\n');
    crate::fsio::Stdout::open()?.write(&line)
}

/// Trains the run to its end, or until Ctrl-C.
pub fn run(opts: &TrainOptions) -> anyhow::Result<()> {
    let limit = crate::budget::limit(opts.max_memory, opts.device);
    if let TrainStart::New(cfg) = &opts.start {
        crate::budget::check(&crate::budget::train(cfg), limit).map_err(anyhow::Error::msg)?;
    }
    let data = load_data(opts.data_dir.as_deref())?;
    let device = device_for(opts.device)?;
    let mut session = match &opts.start {
        TrainStart::New(cfg) => Session::start(cfg.clone(), data, device, &opts.runs_dir)?,
        TrainStart::Resume { checkpoint, epochs } => {
            Session::resume(checkpoint, *epochs, data, device, &opts.runs_dir)?
        }
    };
    // A resumed run's settings are known only now, before its first (largest) allocation.
    crate::budget::check(&crate::budget::train(session.trainer().config()), limit)
        .map_err(anyhow::Error::msg)?;
    if opts.checkpoint {
        session.checkpoint_each_epoch();
    }
    eprintln!(
        "run log: {} (device {})",
        session.log_path().display(),
        opts.device
    );
    print_line(&session.header())?;
    let interrupted = interrupt_flag()?;
    let state = session.run_until(&interrupted, print_line)?;
    let (end, logged) = session.end(state);
    logged?;
    print_line(&end)?;
    anyhow::ensure!(
        state != RunState::Cancelled,
        "interrupted: the run was ended at Ctrl-C (its log ends with the `end` record)"
    );
    Ok(())
}

/// CIFAR-10 from `--data-dir`, `$SHATTERLAB_DATA` or the XDG data directory.
pub(crate) fn load_data(data_dir: Option<&Path>) -> anyhow::Result<Arc<Cifar>> {
    let root = data_root(data_dir, "--data-dir", |k| std::env::var_os(k))?;
    Ok(Arc::new(Cifar::load_dir(&batches_dir(&root))?))
}

/// Set by the first Ctrl-C (SIGINT); a second one exits at once, as without a handler.
pub(crate) fn interrupt_flag() -> anyhow::Result<Arc<AtomicBool>> {
    use signal_hook::consts::SIGINT;
    use signal_hook::flag;
    let interrupted = Arc::new(AtomicBool::new(false));
    flag::register_conditional_shutdown(SIGINT, 130, interrupted.clone())
        .and_then(|_| flag::register(SIGINT, interrupted.clone()))
        .context("cannot install the Ctrl-C handler")?;
    Ok(interrupted)
}
