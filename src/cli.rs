//! Command line: the lab's settings as flags (overriding `config.toml`), and the headless
//! subcommands that run the same engine as the TUI.

use std::ops::ControlFlow;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::budget;
use crate::config::{
    Activation, Arch, BnGrad, ColorMode, DeviceKind, FileConfig, Init, LabConfig, MarkerKind,
    Precision,
};
use crate::lab::forward::device_for;
use crate::lab::sweep::sweep;
use crate::lab::theory::{self, Model};
use crate::output::{self, Format, GradReport, TheoryReport, TheoryRow};

#[derive(Debug, Parser)]
#[command(
    name = "shatterlab",
    version,
    about = "Watch, poke and measure shattered gradients (Balduzzi et al. 2017)",
    after_help = "Without a subcommand, opens the interactive lab (or prints the grad report \
                  when stdout is not a terminal or --no-tui is given)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Settings file (default: ./config.toml when it exists).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub lab: LabArgs,
    #[command(flatten)]
    pub ui: UiArgs,
    /// Print the grad report instead of opening the terminal UI.
    #[arg(long)]
    pub no_tui: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Sweep R random nets and print per-depth gradient statistics.
    Grad(GradArgs),
    /// Print the theorems' covariances beside the idealised model's Monte-Carlo measurement.
    Theory(TheoryArgs),
    /// Train one of the paper's CIFAR-10 conv nets, streaming JSON lines.
    #[command(after_help = TRAIN_HELP)]
    Train(TrainArgs),
    /// Manage the CIFAR-10 data set.
    #[command(subcommand)]
    Data(DataCommand),
}

/// How `train` reads the lab's global flags.
const TRAIN_HELP: &str = "For train, the lab flags mean: --depth weight layers (the convs plus \
the dense layer, 2..=198; default 8); --act relu|crelu (default relu); --init he|ll (default he; \
ll needs --act crelu); --bn/--no-bn (default on); --arch ff|res (res = --skip); --seed (weights, \
shuffling, augmentation; default 0); --device. The other lab flags are ignored. CPU defaults are \
small on purpose (a 5000-image subset, batch 64). Records also go to RUNS_DIR/<run>.jsonl.";

/// Settings of `shatterlab train` beyond the global lab flags.
#[derive(Debug, Args)]
#[command(next_help_heading = "Training")]
pub struct TrainArgs {
    #[command(flatten)]
    pub lab: LabArgs,
    /// Skip connections every two modules (a resnet; same as --arch res).
    #[arg(long)]
    pub skip: bool,
    /// With --init ll: delta-orthogonal kernels (only the centre tap non-zero).
    #[arg(long)]
    pub delta: bool,
    /// Epochs to train [default: 10; with --resume, the checkpoint's].
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Images per step.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Initial learning rate.
    #[arg(long, default_value_t = 1e-3, allow_negative_numbers = true)]
    pub lr: f64,
    #[arg(long, default_value = "adam")]
    pub optimizer: crate::train::optim::OptimizerKind,
    /// SGD momentum.
    #[arg(long, default_value_t = 0.9, allow_negative_numbers = true)]
    pub momentum: f64,
    /// Train on the first N training images; 0 = all of them.
    #[arg(long, default_value_t = 5000, value_name = "N")]
    pub train_subset: usize,
    /// Evaluate on the first N test images; 0 = all of them.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub test_subset: usize,
    /// Turn off the random shifts and flips.
    #[arg(long)]
    pub no_augment: bool,
    /// Emit a step record every this many steps.
    #[arg(long, default_value_t = 10, value_name = "STEPS")]
    pub log_every: usize,
    /// Epochs without progress before the learning rate is cut.
    #[arg(long, default_value_t = 2, value_name = "EPOCHS")]
    pub plateau_patience: usize,
    /// Learning-rate factor applied on a plateau.
    #[arg(long, default_value_t = 0.5, allow_negative_numbers = true)]
    pub plateau_factor: f64,
    /// CIFAR-10 directory (the .bin batches, or a directory holding cifar-10-batches-bin);
    /// default: $SHATTERLAB_DATA, then the XDG data directory.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Where run logs (and checkpoints) are written.
    #[arg(long, value_name = "DIR", default_value = "runs")]
    pub runs_dir: PathBuf,
    #[arg(long, default_value = "jsonl")]
    pub format: crate::train::headless::TrainFormat,
    /// Save a checkpoint (RUNS_DIR/<run>.safetensors) at the end of every epoch.
    #[arg(long)]
    pub checkpoint: bool,
    /// Continue the run saved in this checkpoint (its settings win over the net and
    /// optimiser flags; --epochs may extend it); records are appended to its log.
    #[arg(long, value_name = "PATH")]
    pub resume: Option<PathBuf>,
}

/// `shatterlab data ...`
#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Download, verify and unpack the official CIFAR-10 binary archive (about 170 MB).
    #[command(
        after_help = "An interrupted download resumes from DIR/cifar-10-binary.tar.gz.part \
                      when run again."
    )]
    Download(DownloadArgs),
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Download")]
pub struct DownloadArgs {
    /// Data directory; the batches go to DIR/cifar-10-batches-bin. Default: $SHATTERLAB_DATA,
    /// then $XDG_DATA_HOME/shatterlab (or ~/.local/share/shatterlab).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Fetch the archive from this URL instead (a mirror; checksums must still match). Also
    /// read from SHATTERLAB_CIFAR_URL.
    #[arg(long, hide = true)]
    pub url: Option<String>,
}

/// The experiment's settings; each overrides the config file.
#[derive(Debug, Default, PartialEq, Args)]
pub struct LabArgs {
    /// Feedforward or resnet.
    #[arg(long)]
    pub arch: Option<Arch>,
    /// Batch norm on.
    #[arg(long, overrides_with = "no_bn")]
    pub bn: bool,
    /// Batch norm off.
    #[arg(long, overrides_with = "bn")]
    pub no_bn: bool,
    /// Batch statistics held constant (frozen) or differentiated (through).
    #[arg(long)]
    pub bn_grad: Option<BnGrad>,
    /// Residual branch scale β (>= 0).
    #[arg(long, allow_negative_numbers = true)]
    pub beta: Option<f64>,
    /// Rectifier.
    #[arg(long)]
    pub act: Option<Activation>,
    /// Initialisation of layers 2..L (ll needs --act crelu).
    #[arg(long)]
    pub init: Option<Init>,
    /// Rectifier layers, including layer 1 (1..=1000).
    #[arg(long)]
    pub depth: Option<usize>,
    /// Units per layer.
    #[arg(long)]
    pub width: Option<usize>,
    /// Grid points on [x-min, x-max].
    #[arg(long)]
    pub points: Option<usize>,
    #[arg(long, allow_negative_numbers = true)]
    pub x_min: Option<f64>,
    #[arg(long, allow_negative_numbers = true)]
    pub x_max: Option<f64>,
    /// Random nets averaged over.
    #[arg(long)]
    pub nets: Option<usize>,
    /// Seed of every weight.
    #[arg(long)]
    pub seed: Option<u64>,
    #[arg(long)]
    pub dtype: Option<Precision>,
    /// First-layer biases on.
    #[arg(long, overrides_with = "no_first_bias")]
    pub first_bias: bool,
    /// First-layer biases off (the net is then positively homogeneous).
    #[arg(long, overrides_with = "first_bias")]
    pub no_first_bias: bool,
    #[arg(long)]
    pub device: Option<DeviceKind>,
    /// Refuse requests estimated to need more memory than this (e.g. 4G; K/M/G/T are powers
    /// of 1024) [default: the memory available].
    #[arg(long, value_name = "SIZE", value_parser = crate::budget::parse_size)]
    pub max_memory: Option<u64>,
}

/// Terminal settings; each overrides the config file.
#[derive(Debug, Default, Args)]
pub struct UiArgs {
    /// Colour depth (NO_COLOR is honoured under auto).
    #[arg(long)]
    pub color: Option<ColorMode>,
    /// Glyphs for chart lines.
    #[arg(long)]
    pub marker: Option<MarkerKind>,
    /// Frame-rate cap (1..=120).
    #[arg(long)]
    pub fps: Option<u32>,
    /// CIFAR-10 directory for the training tab (the .bin batches, or a directory holding
    /// cifar-10-batches-bin); default: $SHATTERLAB_DATA, then the XDG data directory.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Where the training tab's run logs are written.
    #[arg(long, value_name = "DIR", default_value = "runs")]
    pub runs_dir: PathBuf,
    /// Log file of the lab [default: $XDG_STATE_HOME/shatterlab/shatterlab.log, or
    /// ~/.local/state/shatterlab/shatterlab.log].
    #[arg(long, value_name = "PATH")]
    pub log: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct GradArgs {
    #[command(flatten)]
    pub lab: LabArgs,
    /// Only report these depths (comma separated).
    #[arg(long, value_delimiter = ',')]
    pub depths: Vec<usize>,
    #[arg(long, default_value = "json")]
    pub format: Format,
    /// Write the report here (atomically) instead of stdout.
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct TheoryArgs {
    #[command(flatten)]
    pub lab: LabArgs,
    /// Monte-Carlo draws of the idealised model.
    #[arg(long, default_value_t = 2000)]
    pub trials: usize,
    /// Only report these depths (comma separated).
    #[arg(long, value_delimiter = ',')]
    pub depths: Vec<usize>,
    /// Write the report here (atomically) instead of stdout.
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
}

impl LabArgs {
    /// Applies the flags that were given on top of `cfg`.
    pub fn apply(&self, cfg: &mut LabConfig) {
        macro_rules! set {
            ($($field:ident),*) => { $( if let Some(v) = self.$field { cfg.$field = v; } )* };
        }
        set!(
            arch, bn_grad, beta, act, init, depth, width, points, x_min, x_max, nets, seed, dtype,
            device
        );
        if self.bn {
            cfg.bn = true;
        }
        if self.no_bn {
            cfg.bn = false;
        }
        if self.first_bias {
            cfg.first_bias = true;
        }
        if self.no_first_bias {
            cfg.first_bias = false;
        }
    }
}

impl Cli {
    /// The config file merged with the flags, validated. Errors name the file or the flag.
    pub fn settings(&self) -> anyhow::Result<FileConfig> {
        let mut file = match &self.config {
            Some(path) => FileConfig::load(path)?,
            None if std::path::Path::new("config.toml").exists() => {
                FileConfig::load(std::path::Path::new("config.toml"))?
            }
            None => FileConfig::default(),
        };
        // Lab flags belong to the command they are given with; before a subcommand they
        // would be silently ignored, so say so.
        let lab = match &self.command {
            Some(Command::Grad(a)) => &a.lab,
            Some(Command::Theory(a)) => &a.lab,
            Some(Command::Train(a)) => &a.lab,
            Some(Command::Data(_)) | None => &self.lab,
        };
        anyhow::ensure!(
            self.command.is_none() || self.lab == LabArgs::default(),
            "lab flags go after the subcommand, e.g. `shatterlab grad --depth 24`"
        );
        lab.apply(&mut file.lab);
        file.lab.validate().map_err(|e| {
            anyhow::anyhow!(
                "{e} (flag --{} or config key lab.{})",
                e.field.replace('_', "-"),
                e.field
            )
        })?;
        if let Some(c) = self.ui.color {
            file.ui.color = c;
        }
        if let Some(m) = self.ui.marker {
            file.ui.marker = m;
        }
        if let Some(fps) = self.ui.fps {
            anyhow::ensure!(
                (1..=120).contains(&fps),
                "invalid --fps {fps}: expected an integer in 1..=120"
            );
            file.ui.fps = fps;
        }
        Ok(file)
    }
}

/// Checks `--depths` against the sweep depth; empty means all.
fn selected_depths(depths: &[usize], max: usize) -> anyhow::Result<Vec<usize>> {
    if let Some(bad) = depths.iter().find(|d| !(1..=max).contains(*d)) {
        anyhow::bail!(
            "invalid --depths entry {bad}: expected depths in 1..={max} (the --depth setting)"
        );
    }
    Ok(if depths.is_empty() {
        (1..=max).collect()
    } else {
        depths.to_vec()
    })
}

fn emit(text: &str, out: Option<&PathBuf>) -> anyhow::Result<()> {
    match out {
        Some(path) => crate::fsio::write_file(path, text.as_bytes()),
        None => crate::fsio::Stdout::open()?.write(text.as_bytes()),
    }
}

/// `shatterlab grad`: the sweep's statistics at the selected depths.
pub fn run_grad(cfg: &LabConfig, args: &GradArgs) -> anyhow::Result<()> {
    let wanted = selected_depths(&args.depths, cfg.depth)?;
    let limit = budget::limit(args.lab.max_memory);
    budget::check(&budget::sweep(cfg), limit).map_err(anyhow::Error::msg)?;
    let last = wanted.iter().copied().max().unwrap_or(cfg.depth);
    let mut depths = Vec::with_capacity(wanted.len());
    sweep(cfg, device_for(cfg.device)?, |result| {
        let depth = result.stats.depth;
        if wanted.contains(&depth) {
            depths.push(result.stats);
        }
        // Deeper layers than the deepest wanted one are not computed.
        if depth >= last {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })?;
    depths.sort_by_key(|d| wanted.iter().position(|w| *w == d.depth));
    let report = GradReport {
        config: cfg,
        depths,
    };
    let text = match args.format {
        Format::Json => output::grad_json(&report)?,
        Format::Csv => output::grad_csv(&report)?,
    };
    emit(&text, args.out.as_ref())
}

/// `shatterlab theory`: theorem values beside the idealised Monte-Carlo.
pub fn run_theory(cfg: &LabConfig, args: &TheoryArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        (2..=1_000_000).contains(&args.trials),
        "invalid --trials {}: expected an integer in 2..=1000000",
        args.trials
    );
    let wanted = selected_depths(&args.depths, cfg.depth)?;
    let limit = budget::limit(args.lab.max_memory);
    budget::check(&budget::theory(cfg.depth, args.trials), limit).map_err(anyhow::Error::msg)?;
    let work = budget::theory_work(cfg.depth, args.trials, cfg.width);
    anyhow::ensure!(
        work <= budget::MAX_THEORY_WORK,
        "refused: theory with depth {}, trials {}, width {} draws {work} samples, over the \
         limit of {} (lower --trials, --depth or --width)",
        cfg.depth,
        args.trials,
        cfg.width,
        budget::MAX_THEORY_WORK
    );
    let model = Model::for_arch(cfg.arch, cfg.bn);
    let measured = theory::simulate(model, cfg.depth, cfg.beta, cfg.width, args.trials, cfg.seed);
    let depths = wanted
        .iter()
        .map(|&depth| {
            let theorem = theory::moments(model, depth, cfg.beta);
            TheoryRow {
                depth,
                theorem,
                theorem_correlation: theorem.correlation(),
                asymptote: (model == Model::ResnetBn)
                    .then(|| theory::resnet_bn_asymptote(depth, cfg.beta))
                    .flatten(),
                monte_carlo: measured[depth - 1],
                overflow: false,
            }
        })
        .map(|mut row: TheoryRow| {
            row.overflow = output::has_non_finite(&row);
            row
        })
        .collect();
    let report = TheoryReport {
        model,
        beta: cfg.beta,
        width: cfg.width,
        trials: args.trials,
        seed: cfg.seed,
        depths,
    };
    emit(
        &(serde_json::to_string_pretty(&report)? + "\n"),
        args.out.as_ref(),
    )
}
