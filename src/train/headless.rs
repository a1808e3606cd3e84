//! The headless front ends of training and data download: flags in, JSON lines (training) or
//! progress on stderr (download) out. The TUI drives the same `Trainer`.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::ValueEnum;
use serde::Serialize;

use crate::cli::{DownloadArgs, LabArgs, TrainArgs};
use crate::config::{Activation, Arch, DeviceKind, Init};
use crate::fsio::Stdout;
use crate::lab::forward::device_for;
use crate::nets::conv::{ConvInit, ConvNetConfig};
use crate::train::checkpoint;
use crate::train::cifar::Cifar;
use crate::train::config::TrainConfig;
use crate::train::datadir::{batches_dir, data_root};
use crate::train::download::{self, Event, Retry, Source, URL_ENV};
use crate::train::runlog::{Header, RunLog, run_name};
use crate::train::trainer::{Control, TrainEvent, Trainer};

/// Output format of `train`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TrainFormat {
    /// One JSON object per line: the config, each logged step, each epoch, the end.
    Jsonl,
}

/// The run's settings from the global lab flags and `train`'s own.
pub fn train_config(lab: &LabArgs, args: &TrainArgs) -> anyhow::Result<TrainConfig> {
    let skip = match (lab.arch, args.skip) {
        (Some(Arch::Ff), true) => {
            anyhow::bail!("conflicting --arch ff and --skip: --skip makes a resnet")
        }
        (Some(Arch::Res), _) | (_, true) => true,
        _ => false,
    };
    let init = match (lab.init, args.delta) {
        (None | Some(Init::He), false) => ConvInit::He,
        (Some(Init::Ll), false) => ConvInit::Ll,
        (Some(Init::Ll), true) => ConvInit::LlDelta,
        (_, true) => anyhow::bail!("invalid --delta: expected it only with --init ll"),
        (Some(other), false) => anyhow::bail!(
            "invalid --init {} for train: expected he or ll",
            other
                .to_possible_value()
                .map_or_else(String::new, |v| v.get_name().to_string())
        ),
    };
    let cfg = TrainConfig {
        net: ConvNetConfig {
            depth: lab.depth.unwrap_or(8),
            act: lab.act.unwrap_or(Activation::Relu),
            init,
            bn: !lab.no_bn,
            skip,
        },
        optimizer: args.optimizer,
        lr: args.lr,
        momentum: args.momentum,
        batch: args.batch,
        epochs: args.epochs.unwrap_or(10),
        train_subset: (args.train_subset > 0).then_some(args.train_subset),
        test_subset: (args.test_subset > 0).then_some(args.test_subset),
        augment: !args.no_augment,
        seed: lab.seed.unwrap_or(0),
        log_every: args.log_every,
        plateau_patience: args.plateau_patience,
        plateau_factor: args.plateau_factor,
    };
    cfg.validate().map_err(anyhow::Error::msg)?;
    Ok(cfg)
}

/// One JSON line on stdout, flushed so a reader sees it at once.
fn print_line<T: Serialize>(out: &mut Stdout, record: &T) -> anyhow::Result<()> {
    let mut line = serde_json::to_vec(record)?;
    line.push(b'\n');
    out.write(&line)
}

/// `shatterlab train`.
pub fn run_train(lab: &LabArgs, args: &TrainArgs) -> anyhow::Result<()> {
    let TrainFormat::Jsonl = args.format;
    let mut stdout = Stdout::open()?;
    // Flags and the memory budget are checked before the (slow) data load.
    if args.resume.is_none() {
        let cfg = train_config(lab, args)?;
        crate::budget::check(&crate::budget::train(&cfg), crate::budget::limit(lab.max_memory))
            .map_err(anyhow::Error::msg)?;
    }
    let root = data_root(args.data_dir.as_deref(), "--data-dir", |k| std::env::var_os(k))?;
    let data = Arc::new(Cifar::load_dir(&batches_dir(&root))?);
    let device = device_for(lab.device.unwrap_or(DeviceKind::Cpu))?;
    let (mut trainer, mut log, name, kind) = match &args.resume {
        None => {
            let cfg = train_config(lab, args)?;
            let started = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let trainer = Trainer::new(cfg, data, device)?;
            let (log, name) = RunLog::create(&args.runs_dir, &run_name(trainer.config(), started))?;
            (trainer, log, name, "config")
        }
        Some(path) => {
            let restored = checkpoint::load(path, data, device)?;
            let mut trainer = restored.trainer;
            if let Some(epochs) = args.epochs {
                trainer.set_epochs(epochs)?;
            }
            let need = crate::budget::train(trainer.config());
            crate::budget::check(&need, crate::budget::limit(lab.max_memory))
                .map_err(anyhow::Error::msg)?;
            let (log, repaired) = RunLog::reopen(&args.runs_dir, &restored.run)?;
            if let Some(note) = repaired {
                eprintln!("note: {note}");
            }
            (trainer, log, restored.run, "resume")
        }
    };
    eprintln!("run log: {}", log.path().display());
    let cfg = trainer.config().clone();
    let header = Header {
        kind,
        run: &name,
        seed: cfg.seed,
        step: trainer.progress().step,
        config: &cfg,
    };
    log.append(&header)?;
    print_line(&mut stdout, &header)?;
    let checkpoint_path = args.runs_dir.join(format!("{name}.safetensors"));
    trainer.run(&Control::default(), |trainer, event| {
        // The epoch record announces a checkpoint that already exists.
        if args.checkpoint && matches!(event, TrainEvent::Epoch { .. }) {
            checkpoint::save(trainer, &name, &checkpoint_path)?;
        }
        log.append(event)?;
        print_line(&mut stdout, event)
    })?;
    Ok(())
}

/// `shatterlab data download`.
pub fn run_download(args: &DownloadArgs) -> anyhow::Result<()> {
    let root = data_root(args.dir.as_deref(), "--dir", |k| std::env::var_os(k))?;
    let url = args
        .url
        .clone()
        .or_else(|| std::env::var(URL_ENV).ok().filter(|u| !u.is_empty()));
    let source = Source::official(url);
    eprintln!("fetching {} into {}", source.url, root.display());
    let tty = std::io::stderr().is_terminal();
    let mut shown = None;
    let dest = download::download(&source, &root, Retry::default(), |event| match event {
        Event::Progress { done, total } => {
            let pct = done * 100 / total.max(1);
            // A redrawn line on a terminal, a line per 10% in a log.
            let step = if tty { pct } else { pct / 10 * 10 };
            if shown != Some(step) {
                shown = Some(step);
                let mb = |b: u64| b as f64 / 1e6;
                let text = format!(
                    "downloading {:.1} / {:.1} MB ({step}%)",
                    mb(done),
                    mb(total)
                );
                if tty {
                    eprint!("\r{text}");
                } else {
                    eprintln!("{text}");
                }
            }
        }
        Event::Retrying { attempt, reason } => {
            eprintln!(
                "\ntransfer failed ({reason}); resuming, attempt {}",
                attempt + 1
            );
        }
        Event::Verifying => eprintln!("\nverifying size, MD5 and SHA-256"),
        Event::Extracting => eprintln!("unpacking"),
    })?;
    eprintln!("CIFAR-10 is ready in {}", dest.display());
    println!("{}", dest.display());
    Ok(())
}
