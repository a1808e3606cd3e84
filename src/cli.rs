//! Command line: parsing only. [`resolve`] turns the parsed flags (over `config.toml` for the
//! lab) into plain, validated settings for one command; nothing past this module sees clap's
//! argument types.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use crate::commands::data::DownloadOptions;
use crate::commands::export::ExportOptions;
use crate::commands::figures::FiguresOptions;
use crate::commands::grad::GradOptions;
use crate::commands::study::{ReportOptions, RunOptions, StudyAction, StudyOptions};
use crate::commands::theory::TheoryOptions;
use crate::commands::train::{TrainOptions, TrainStart};
use crate::config::{
    Activation, Arch, BnGrad, ColorMode, DeviceKind, FPS, FileConfig, Init, Inputs, InvalidSetting,
    LabConfig, MarkerKind, Precision,
};
use crate::device;
use crate::lab::infinite::{LimitMode, WideNets};
use crate::nets::conv::{ConvInit, ConvNetConfig};
use crate::output::Format;
use crate::study::spec::Overrides;
use crate::train::config::TrainConfig;
use crate::train::download::URL_ENV;
use crate::ui;
use crate::ui::script::Script;

/// Output format of `train`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TrainFormat {
    /// One JSON object per line: the config, each logged step, each epoch, the end.
    Jsonl,
}

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
    pub command: Option<Headless>,
    #[command(flatten)]
    pub file: FileArgs,
    #[command(flatten)]
    pub lab: LabArgs,
    #[command(flatten)]
    pub ui: UiArgs,
    /// Print the grad report instead of opening the terminal UI.
    #[arg(long)]
    pub no_tui: bool,
}

/// The headless subcommands (`ui::command::Command` is what a key means, not this).
#[derive(Debug, Subcommand)]
pub enum Headless {
    /// Sweep R random nets and print per-depth gradient statistics.
    Grad(GradArgs),
    /// Print the theorems' covariances beside the idealised model's Monte-Carlo measurement
    /// (the theorems' regime), and with --infinite-width the limit of the lab's own nets as
    /// width → ∞ (the grid's regime), without sampling any finite net.
    Theory(TheoryArgs),
    /// Train one of the paper's CIFAR-10 conv nets, streaming JSON lines.
    #[command(after_help = TRAIN_HELP)]
    Train(TrainArgs),
    /// Write the data of the lab's panes and every logged training run (JSON, or CSV tables).
    Export(ExportArgs),
    /// Render the paper's 1-D figures (and CIFAR-10 curves from run logs) as SVG and PNG.
    Figures(FiguresArgs),
    /// Manage the CIFAR-10 data set.
    #[command(subcommand)]
    Data(DataCommand),
    /// A grid of training runs (families x depths x seeds) and its accuracy-against-depth
    /// report, the paper's Fig. 6; on one machine or spread over a job array.
    #[command(subcommand)]
    Study(StudyCommand),
    /// Print a shell completion script (e.g. `shatterlab completions bash > shatterlab.bash`).
    Completions { shell: clap_complete::Shell },
    /// Print the man page (roff), e.g. `shatterlab man > shatterlab.1`.
    Man,
}

/// What `train` does beyond its flags' own help.
const TRAIN_HELP: &str = "CPU defaults are small on purpose (a 5000-image subset, batch 64). \
Records also go to RUNS_DIR/<run>.jsonl. The 1-D lab's other flags (--beta, --width, ...) \
belong to the lab, `grad` and `theory`; config.toml is not read.";

/// The conv net of `shatterlab train`: the lab's flag names, the conv net's meanings.
#[derive(Debug, Default, PartialEq, Args)]
#[command(next_help_heading = "Net")]
pub struct TrainNetArgs {
    /// Feedforward or resnet (res = --skip).
    #[arg(long)]
    pub arch: Option<Arch>,
    /// Batch norm on (the default).
    #[arg(long, overrides_with = "no_bn")]
    pub bn: bool,
    /// Batch norm off.
    #[arg(long, overrides_with = "bn")]
    pub no_bn: bool,
    /// Rectifier [default: relu].
    #[arg(long)]
    pub act: Option<Activation>,
    /// Initialisation: he or ll (ll needs --act crelu) [default: he].
    #[arg(long)]
    pub init: Option<Init>,
    /// Weight layers: the convs plus the dense layer (1..=198; 1 is a linear classifier on
    /// the pixels) [default: 8].
    #[arg(long)]
    pub depth: Option<usize>,
    /// Seed of the weights, the shuffling and the augmentation [default: 0].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Where candle runs: auto (CUDA when built in and a GPU answers, else cpu), cpu,
    /// cuda or cuda:N [default: auto].
    #[arg(long, value_name = "DEVICE")]
    pub device: Option<DeviceKind>,
    /// Refuse requests estimated to need more memory than this (e.g. 4G; K/M/G/T are powers
    /// of 1024) [default: the memory available].
    #[arg(long, value_name = "SIZE", value_parser = crate::budget::parse_size)]
    pub max_memory: Option<u64>,
}

/// Settings of `shatterlab train`.
#[derive(Debug, Args)]
#[command(next_help_heading = "Training")]
pub struct TrainArgs {
    #[command(flatten)]
    pub net: TrainNetArgs,
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
    /// Convolution kernels on the CPU: fast (channel-major GEMMs) or candle (its ops, the
    /// reference). CUDA always runs candle's.
    #[arg(long, default_value = "fast")]
    pub kernels: crate::kernels::Kernels,
    /// CIFAR-10 directory (the .bin batches, or a directory holding cifar-10-batches-bin);
    /// default: $SHATTERLAB_DATA, then the XDG data directory.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Where run logs (and checkpoints) are written.
    #[arg(long, value_name = "DIR", default_value = "runs")]
    pub runs_dir: PathBuf,
    #[arg(long, default_value = "jsonl")]
    pub format: TrainFormat,
    /// Save a checkpoint (RUNS_DIR/<run>.safetensors) at the end of every epoch.
    #[arg(long)]
    pub checkpoint: bool,
    /// Continue the run saved in this checkpoint (its settings win over the net and
    /// optimiser flags; --epochs may extend it); records are appended to its log.
    #[arg(long, value_name = "PATH")]
    pub resume: Option<PathBuf>,
}

/// `shatterlab study ...`
#[derive(Debug, Subcommand)]
pub enum StudyCommand {
    /// List the runs, one per line: its name (from its settings and seed) and its `train`
    /// command line.
    Plan(StudyPlanArgs),
    /// Train the runs not yet finished (this worker's shard) into the runs directory,
    /// continuing interrupted ones from their last checkpoint.
    #[command(after_help = STUDY_RUN_HELP)]
    Run(StudyRunArgs),
    /// Read the runs directory (also while runs are going) into the report and its figure.
    Report(StudyReportArgs),
}

/// Where `study run` takes its shard from.
const STUDY_RUN_HELP: &str = "Without --shard, the shard comes from a Slurm job array \
(SLURM_ARRAY_TASK_ID of SLURM_ARRAY_TASK_COUNT) or a Kubernetes indexed Job \
(JOB_COMPLETION_INDEX of SHATTERLAB_SHARD_COUNT); outside both, every run is this worker's. \
Each run is locked while trained, so workers can share a runs directory.";

/// The spec and the overrides every study subcommand takes.
#[derive(Debug, Args)]
pub struct StudySpecArgs {
    /// The study spec (TOML; docs/study.md, assets/studies/).
    pub spec: PathBuf,
    /// These depths instead of the spec's (comma separated).
    #[arg(long, value_delimiter = ',')]
    pub depths: Option<Vec<usize>>,
    /// These seeds instead of the spec's (comma separated).
    #[arg(long, value_delimiter = ',')]
    pub seeds: Option<Vec<u64>>,
    /// Epochs per run instead of the spec's.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Train on the first N training images instead (0 = all).
    #[arg(long, value_name = "N")]
    pub train_subset: Option<usize>,
    /// Evaluate on the first N test images instead (0 = all).
    #[arg(long, value_name = "N")]
    pub test_subset: Option<usize>,
}

/// Output format of `study plan`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    /// The run's name and its `train` command line.
    Text,
    /// One JSON object per line: run, family, depth, seed, cost, train.
    Json,
}

#[derive(Debug, Args)]
pub struct StudyPlanArgs {
    #[command(flatten)]
    pub study: StudySpecArgs,
    #[arg(long, default_value = "text")]
    pub format: PlanFormat,
    /// Only shard I of N (0 <= I < N), balanced by estimated cost.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<crate::study::plan::Shard>,
    /// The device the printed `train` command lines name.
    #[arg(long)]
    pub device: Option<DeviceKind>,
}

#[derive(Debug, Args)]
pub struct StudyRunArgs {
    #[command(flatten)]
    pub study: StudySpecArgs,
    /// Only shard I of N (0 <= I < N), balanced by estimated cost [default: from the job
    /// runner, else all].
    #[arg(long, value_name = "I/N")]
    pub shard: Option<crate::study::plan::Shard>,
    /// Where run logs, checkpoints and locks are written [default: runs/<spec name>].
    #[arg(long, value_name = "DIR")]
    pub runs_dir: Option<PathBuf>,
    /// CIFAR-10 directory (as `train --data-dir`).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    #[arg(long)]
    pub device: Option<DeviceKind>,
    /// Refuse runs estimated to need more memory than this (e.g. 4G) [default: the memory
    /// available]; checked per run.
    #[arg(long, value_name = "SIZE", value_parser = crate::budget::parse_size)]
    pub max_memory: Option<u64>,
}

#[derive(Debug, Args)]
pub struct StudyReportArgs {
    #[command(flatten)]
    pub study: StudySpecArgs,
    /// Where the runs are read from [default: runs/<spec name>].
    #[arg(long, value_name = "DIR")]
    pub runs_dir: Option<PathBuf>,
    /// JSON (runs, groups, progress, skipped logs), or CSV (the runs table, then the groups).
    #[arg(long, default_value = "json")]
    pub format: Format,
    /// The JSON file, or with --format csv the folder that gets runs.csv and groups.csv
    /// [default: stdout].
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
    /// Also draw accuracy against depth (SVG and PNG) into this folder.
    #[arg(long, value_name = "DIR")]
    pub figure: Option<PathBuf>,
    /// Replace existing output files.
    #[arg(long)]
    pub force: bool,
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

/// The settings file, offered only by the commands that read one (the lab, `grad`,
/// `theory`, `export` and `figures`); before the subcommand it counts for that subcommand.
#[derive(Debug, Default, Args)]
pub struct FileArgs {
    /// Settings file (default: ./config.toml when it exists).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
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
    /// Where candle runs: auto (CUDA when built in and a GPU answers, else cpu), cpu,
    /// cuda or cuda:N.
    #[arg(long, value_name = "DEVICE")]
    pub device: Option<DeviceKind>,
    /// The 1-D grid, or P independent Gaussian inputs through a linear first layer (the
    /// theorems' assumption).
    #[arg(long)]
    pub inputs: Option<Inputs>,
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
    /// Record the session as an asciicast v2 file (`asciinema play FILE` plays it back).
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// Drive the lab from a script of keys, waits and snapshots (format: README, and
    /// assets/demo.script).
    #[arg(long, value_name = "FILE")]
    pub script: Option<PathBuf>,
    /// Save the screen once the script has run, as .txt, .ansi or .svg.
    #[arg(long, value_name = "FILE", requires = "script")]
    pub screenshot: Option<PathBuf>,
    /// Where `P` (screenshots), `E` (data exports) and a script's `snapshot` lines save.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub shots_dir: PathBuf,
    /// Replace existing files named by --record, --screenshot and snapshots.
    #[arg(long)]
    pub force: bool,
}

/// The infinite-width limit beside a report (`grad`, `theory`).
#[derive(Debug, Args)]
#[command(next_help_heading = "Infinite-width limit")]
pub struct LimitArgs {
    /// Add each depth's N → ∞ limit of the lab's nets (`infinite_width`, the fields of
    /// `integrated`): closed = the closed form, where the settings have one (feedforward or
    /// looks-linear nets without batch norm), exact and fast; any = the closed form, else a
    /// Monte Carlo of very wide nets with standard errors (batch norm, resnets; about a
    /// minute of CPU at the preset's 256 points); monte-carlo = the Monte Carlo even where a closed form
    /// exists; off [default: closed for grad, off for theory].
    #[arg(long, value_name = "MODE")]
    pub infinite_width: Option<LimitMode>,
    /// Width of the Monte Carlo's nets (its bias is about 1/width).
    #[arg(long, value_name = "N", default_value_t = WideNets::DEFAULT.width)]
    pub limit_width: usize,
    /// Number of the Monte Carlo's nets (its standard errors are over them).
    #[arg(long, value_name = "R", default_value_t = WideNets::DEFAULT.nets)]
    pub limit_nets: usize,
}

impl LimitArgs {
    /// The mode asked for, else `default`, and the Monte Carlo's size.
    fn resolve(&self, default: LimitMode) -> (LimitMode, WideNets) {
        (
            self.infinite_width.unwrap_or(default),
            WideNets {
                width: self.limit_width,
                nets: self.limit_nets,
            },
        )
    }
}

#[derive(Debug, Args)]
pub struct GradArgs {
    #[command(flatten)]
    pub file: FileArgs,
    #[command(flatten)]
    pub lab: LabArgs,
    #[command(flatten)]
    pub limit: LimitArgs,
    /// Also sweep the same nets at these widths (comma separated) and report each depth's
    /// integrated statistics with their gap to the infinite-width limit (`finite_width`):
    /// the gap shrinks roughly like 1/width.
    #[arg(long, value_delimiter = ',', value_name = "N,...")]
    pub widths: Vec<usize>,
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
pub struct ExportArgs {
    #[command(flatten)]
    pub file: FileArgs,
    #[command(flatten)]
    pub lab: LabArgs,
    /// The JSON file, or with --format csv the folder that gets one CSV file per table.
    #[arg(long, value_name = "PATH")]
    pub out: PathBuf,
    #[arg(long, default_value = "json")]
    pub format: Format,
    /// Where the training runs' logs are read from.
    #[arg(long, value_name = "DIR", default_value = "runs")]
    pub runs_dir: PathBuf,
    /// Replace existing files.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct FiguresArgs {
    /// Sizes, seed, precision and device of the sweeps (the architecture, depth, β and
    /// batch norm are each figure's own).
    #[command(flatten)]
    pub file: FileArgs,
    #[command(flatten)]
    pub lab: LabArgs,
    /// The folder the figures are written to.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Also draw the training curves of the run logs in this folder.
    #[arg(long, value_name = "DIR")]
    pub runs: Option<PathBuf>,
    /// Replace existing files.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct TheoryArgs {
    #[command(flatten)]
    pub file: FileArgs,
    #[command(flatten)]
    pub lab: LabArgs,
    #[command(flatten)]
    pub limit: LimitArgs,
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
    /// Sets the flags that were given on top of `cfg`.
    pub fn override_config(&self, cfg: &mut LabConfig) {
        macro_rules! set {
            ($($field:ident),*) => { $( if let Some(v) = self.$field { cfg.$field = v; } )* };
        }
        set!(
            arch, bn_grad, beta, act, init, depth, width, points, x_min, x_max, nets, seed, dtype,
            device, inputs
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

/// One command with its settings resolved and validated.
#[derive(Debug)]
pub enum Invocation {
    /// The interactive lab; `no_tui` asks for the grad report instead.
    Lab {
        lab: LabConfig,
        ui: ui::Options,
        no_tui: bool,
    },
    Grad(LabConfig, GradOptions),
    Theory(LabConfig, TheoryOptions),
    Export(LabConfig, ExportOptions),
    Figures(LabConfig, FiguresOptions),
    Train(TrainOptions),
    Study(StudyOptions),
    Download(DownloadOptions),
    /// A document generated from this command line's definition (a completion script or
    /// the man page), to print as is.
    Print(Vec<u8>),
}

/// The settings file: `--config`, else ./config.toml when it exists, else the defaults.
fn file_config(path: Option<&Path>) -> anyhow::Result<FileConfig> {
    match path {
        Some(path) => FileConfig::load(path),
        None if Path::new("config.toml").exists() => FileConfig::load(Path::new("config.toml")),
        None => Ok(FileConfig::default()),
    }
}

/// The config file's lab settings with `flags` on top, validated, with the device resolved
/// (`auto` made concrete, a GPU opened). Errors name the flag and the config key.
fn lab_config(file: &mut FileConfig, flags: &LabArgs) -> anyhow::Result<LabConfig> {
    flags.override_config(&mut file.lab);
    file.lab.validate().map_err(|e| {
        anyhow::anyhow!(
            "{e} (flag --{} or config key lab.{})",
            e.key.replace('_', "-"),
            e.key
        )
    })?;
    file.lab.device = device::resolve(file.lab.device)?;
    Ok(file.lab.clone())
}

/// Resolves the parsed command line into one command's settings. Errors name the file or
/// the flag.
pub fn resolve(cli: Cli) -> anyhow::Result<Invocation> {
    // Lab flags belong to the command they are given with; before a subcommand they
    // would be silently ignored, so say so.
    anyhow::ensure!(
        cli.command.is_none() || cli.lab == LabArgs::default(),
        "lab flags go after the subcommand, e.g. `shatterlab grad --depth 24`"
    );
    // Given before a subcommand, --config is that subcommand's.
    let before = cli.file.config;
    let file = |own: FileArgs| file_config(own.config.or(before.clone()).as_deref());
    if let (Some(name), Some(_)) = (cli.command.as_ref().and_then(reads_no_file), &before) {
        anyhow::bail!("invalid --config for {name}: {name} reads no settings file, only its flags");
    }
    match cli.command {
        Some(Headless::Train(args)) => train_options(args).map(Invocation::Train),
        Some(Headless::Study(command)) => study_options(command).map(Invocation::Study),
        Some(Headless::Data(DataCommand::Download(args))) => {
            Ok(Invocation::Download(DownloadOptions {
                dir: args.dir,
                url: args
                    .url
                    .or_else(|| std::env::var(URL_ENV).ok().filter(|u| !u.is_empty())),
            }))
        }
        Some(Headless::Completions { shell }) => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "shatterlab", &mut script);
            Ok(Invocation::Print(script))
        }
        Some(Headless::Man) => {
            let page = crate::manpage::render(Cli::command()).context("rendering the man page")?;
            Ok(Invocation::Print(page))
        }
        Some(Headless::Grad(args)) => {
            let mut file = file(args.file)?;
            let lab = lab_config(&mut file, &args.lab)?;
            let (limit, wide) = args.limit.resolve(LimitMode::Closed);
            let opts = GradOptions {
                depths: args.depths,
                format: args.format,
                out: args.out,
                max_memory: args.lab.max_memory,
                limit,
                wide,
                widths: args.widths,
            };
            Ok(Invocation::Grad(lab, opts))
        }
        Some(Headless::Export(args)) => {
            let mut file = file(args.file)?;
            let lab = lab_config(&mut file, &args.lab)?;
            let opts = ExportOptions {
                out: args.out,
                csv: args.format == Format::Csv,
                force: args.force,
                runs_dir: args.runs_dir,
                max_memory: args.lab.max_memory,
            };
            Ok(Invocation::Export(lab, opts))
        }
        Some(Headless::Figures(args)) => {
            let mut file = file(args.file)?;
            let lab = lab_config(&mut file, &args.lab)?;
            let opts = FiguresOptions {
                out: args.out,
                runs: args.runs,
                force: args.force,
                max_memory: args.lab.max_memory,
            };
            Ok(Invocation::Figures(lab, opts))
        }
        Some(Headless::Theory(args)) => {
            let mut file = file(args.file)?;
            let lab = lab_config(&mut file, &args.lab)?;
            let (limit, wide) = args.limit.resolve(LimitMode::Off);
            let opts = TheoryOptions {
                trials: args.trials,
                depths: args.depths,
                out: args.out,
                max_memory: args.lab.max_memory,
                limit,
                wide,
            };
            Ok(Invocation::Theory(lab, opts))
        }
        None => {
            let mut file = file(FileArgs::default())?;
            let lab = lab_config(&mut file, &cli.lab)?;
            let mut look = file.ui;
            if let Some(c) = cli.ui.color {
                look.color = c;
            }
            if let Some(m) = cli.ui.marker {
                look.marker = m;
            }
            if let Some(fps) = cli.ui.fps {
                InvalidSetting::check_range("--fps", fps, FPS)?;
                look.fps = fps;
            }
            let ui = ui::Options {
                look,
                data_dir: cli.ui.data_dir,
                runs_dir: cli.ui.runs_dir,
                log: cli.ui.log,
                capture: ui::Capture {
                    record: cli.ui.record,
                    script: cli.ui.script.as_deref().map(Script::load).transpose()?,
                    screenshot: cli.ui.screenshot,
                    shots_dir: cli.ui.shots_dir,
                    force: cli.ui.force,
                },
                max_memory: cli.lab.max_memory,
            };
            ui.capture.check()?;
            Ok(Invocation::Lab {
                lab,
                ui,
                no_tui: cli.no_tui,
            })
        }
    }
}

/// The subcommands that read no settings file (and so do not offer --config), by name.
fn reads_no_file(command: &Headless) -> Option<&'static str> {
    match command {
        Headless::Train(_) => Some("train"),
        Headless::Study(_) => Some("study"),
        Headless::Data(_) => Some("data"),
        Headless::Completions { .. } => Some("completions"),
        Headless::Man => Some("man"),
        Headless::Grad(_) | Headless::Theory(_) | Headless::Export(_) | Headless::Figures(_) => {
            None
        }
    }
}

/// `train`'s settings. A new run's flags are checked here, before the (slow) data load;
/// with `--resume` the checkpoint's settings win over them.
fn train_options(args: TrainArgs) -> anyhow::Result<TrainOptions> {
    let TrainFormat::Jsonl = args.format;
    let start = match &args.resume {
        None => TrainStart::New(train_config(&args)?),
        Some(path) => TrainStart::Resume {
            checkpoint: path.clone(),
            epochs: args.epochs,
        },
    };
    Ok(TrainOptions {
        start,
        device: device::resolve(args.net.device.unwrap_or_default())?,
        max_memory: args.net.max_memory,
        data_dir: args.data_dir,
        runs_dir: args.runs_dir,
        checkpoint: args.checkpoint,
    })
}

/// A study subcommand's settings; the spec itself is read when the command runs.
fn study_options(command: StudyCommand) -> anyhow::Result<StudyOptions> {
    let overrides = |a: &StudySpecArgs| Overrides {
        depths: a.depths.clone(),
        seeds: a.seeds.clone(),
        epochs: a.epochs,
        train_subset: a.train_subset,
        test_subset: a.test_subset,
    };
    // Each study's runs go beside each other's, not among the training tab's.
    let runs_dir = |a: &StudySpecArgs, dir: Option<PathBuf>| {
        dir.unwrap_or_else(|| {
            let stem = a.spec.file_stem().unwrap_or_default();
            Path::new("runs").join(stem)
        })
    };
    let (spec, overrides, action) = match command {
        StudyCommand::Plan(a) => (
            a.study.spec.clone(),
            overrides(&a.study),
            StudyAction::Plan {
                json: a.format == PlanFormat::Json,
                shard: a.shard,
                device: a.device.unwrap_or(DeviceKind::Cpu),
            },
        ),
        StudyCommand::Run(a) => (
            a.study.spec.clone(),
            overrides(&a.study),
            StudyAction::Run(RunOptions {
                shard: a.shard,
                runs_dir: runs_dir(&a.study, a.runs_dir),
                data_dir: a.data_dir,
                // Resolved here, as for every command, before any run starts.
                device: device::resolve(a.device.unwrap_or_default())?,
                max_memory: a.max_memory,
            }),
        ),
        StudyCommand::Report(a) => (
            a.study.spec.clone(),
            overrides(&a.study),
            StudyAction::Report(ReportOptions {
                runs_dir: runs_dir(&a.study, a.runs_dir),
                csv: a.format == Format::Csv,
                out: a.out,
                figure: a.figure,
                force: a.force,
            }),
        ),
    };
    Ok(StudyOptions {
        spec,
        overrides,
        action,
    })
}

/// A new run's settings from `train`'s flags.
pub fn train_config(args: &TrainArgs) -> anyhow::Result<TrainConfig> {
    let net = &args.net;
    let skip = match (net.arch, args.skip) {
        (Some(Arch::Ff), true) => {
            anyhow::bail!("conflicting --arch ff and --skip: --skip makes a resnet")
        }
        (Some(Arch::Res), _) | (_, true) => true,
        _ => false,
    };
    let init = match (net.init, args.delta) {
        (None | Some(Init::He), false) => ConvInit::He,
        (Some(Init::Ll), false) => ConvInit::Ll,
        (Some(Init::Ll), true) => ConvInit::LlDelta,
        (_, true) => anyhow::bail!("invalid --delta: expected it only with --init ll"),
        (Some(other), false) => anyhow::bail!(
            "invalid --init {} for train: expected he or ll",
            crate::config::spelling(other)
        ),
    };
    let cfg = TrainConfig {
        net: ConvNetConfig {
            depth: net.depth.unwrap_or(8),
            act: net.act.unwrap_or(Activation::Relu),
            init,
            bn: !net.no_bn,
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
        seed: net.seed.unwrap_or(0),
        log_every: args.log_every,
        plateau_patience: args.plateau_patience,
        plateau_factor: args.plateau_factor,
        kernels: args.kernels,
    };
    cfg.validate()?;
    Ok(cfg)
}

/// Parses the process's arguments. Every flag's value may start with `-`, so `--depth -1`
/// is refused by the flag's own parser, naming the flag, not as an unknown argument `-1`.
pub fn parse() -> Result<Cli, clap::Error> {
    fn negatives_as_values(cmd: clap::Command) -> clap::Command {
        cmd.mut_args(|a| {
            let takes_value = a.get_action().takes_values();
            a.allow_negative_numbers(takes_value)
        })
        .mut_subcommands(negatives_as_values)
    }
    let mut matches = negatives_as_values(Cli::command()).try_get_matches()?;
    Cli::from_arg_matches_mut(&mut matches)
}

/// Says why clap refused a negative value of an integer flag.
pub fn negative_value_hint(err: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if err.kind() != ErrorKind::ValueValidation {
        return None;
    }
    let Some(ContextValue::String(value)) = err.get(ContextKind::InvalidValue) else {
        return None;
    };
    let negative = value.starts_with('-') && value[1..].parse::<f64>().is_ok();
    negative.then(|| "(expected a non-negative integer)".to_string())
}

/// Names the commands that take a lab flag (or --config) another subcommand (`train`,
/// `man`, ...) rejected, for clap's "unexpected argument".
pub fn misplaced_flag_hint(err: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if err.kind() != ErrorKind::UnknownArgument {
        return None;
    }
    let Some(ContextValue::String(arg)) = err.get(ContextKind::InvalidArg) else {
        return None;
    };
    let flag = arg.split('=').next()?.trim_start_matches('-');
    let lab = LabArgs::augment_args(clap::Command::new("lab"));
    let is_lab_flag = lab.get_arguments().any(|a| a.get_long() == Some(flag));
    let is_file_flag = FileArgs::augment_args(clap::Command::new("file"))
        .get_arguments()
        .any(|a| a.get_long() == Some(flag));
    // The subcommand that refused it, from the usage line ("Usage: shatterlab man ...").
    let command = match err.get(ContextKind::Usage) {
        Some(ContextValue::StyledStr(usage)) => usage.to_string(),
        _ => String::new(),
    };
    let command = command
        .split_whitespace()
        .nth(2)
        .unwrap_or("train")
        .to_string();
    if is_file_flag {
        return Some(format!(
            "--{flag} names a settings file: `shatterlab`, `grad`, `theory`, `export` and \
             `figures` read one, `{command}` reads none, only its flags"
        ));
    }
    is_lab_flag.then(|| {
        format!("--{flag} is a 1-D lab flag: `shatterlab`, `shatterlab grad` and `shatterlab theory` take it, `{command}` does not")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::cmdline::{command_line, train_command_line};

    #[test]
    fn the_command_line_parses_back_to_the_same_settings() {
        let cfg = LabConfig {
            arch: Arch::Res,
            bn: false,
            beta: 0.1,
            init: Init::Ll,
            act: Activation::Crelu,
            x_min: -1.5,
            seed: 7,
            first_bias: false,
            ..LabConfig::default()
        };
        let line = command_line(&cfg);
        let cli = Cli::try_parse_from(line.split(' ')).unwrap();
        let mut parsed = LabConfig::default();
        cli.lab.override_config(&mut parsed);
        assert_eq!(parsed, cfg);
    }

    #[test]
    fn the_train_command_line_parses_back_to_the_same_run() {
        let mut cfg = crate::ui::train::cpu_defaults();
        for (init, act, skip, bn, augment) in [
            (ConvInit::He, Activation::Relu, false, true, true),
            (ConvInit::Ll, Activation::Crelu, true, false, false),
            (ConvInit::LlDelta, Activation::Crelu, true, true, true),
        ] {
            (cfg.net.init, cfg.net.act, cfg.net.skip, cfg.net.bn) = (init, act, skip, bn);
            (cfg.augment, cfg.seed, cfg.lr) = (augment, 3, 0.02);
            let line = train_command_line(&cfg, DeviceKind::Cpu);
            let cli = Cli::try_parse_from(line.split(' ')).unwrap();
            let Some(Headless::Train(args)) = &cli.command else {
                panic!("not a train command: {line}");
            };
            assert_eq!(train_config(args).unwrap(), cfg, "{line}");
        }
    }
}
