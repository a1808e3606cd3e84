//! `shatterlab theory`: the theorems' values beside the idealised model's Monte-Carlo, and
//! with `--infinite-width` the limit of the lab's own nets as width → ∞ (no finite net is
//! sampled).

use std::path::PathBuf;

use crate::budget;
use crate::commands::{emit, selected_depths};
use crate::config::{DeviceKind, LabConfig};
use crate::lab::infinite::{Limit, LimitMode, WideNets};
use crate::lab::theory::{self, Model};
use crate::output::{self, TheoryReport, TheoryRow, TheoryVariant};

/// What `theory` reports and where.
#[derive(Debug, Clone, PartialEq)]
pub struct TheoryOptions {
    /// Monte-Carlo draws of the idealised model.
    pub trials: usize,
    /// Depths to report; empty means all.
    pub depths: Vec<usize>,
    /// Written atomically; None: stdout.
    pub out: Option<PathBuf>,
    /// `--max-memory`; the memory available is the limit either way.
    pub max_memory: Option<u64>,
    /// Which infinite-width limit to add (`Off`: none).
    pub limit: LimitMode,
    /// The limit's Monte Carlo, where it runs one.
    pub wide: WideNets,
}

/// Theorem values beside the idealised Monte-Carlo, as pretty JSON.
pub fn run(cfg: &LabConfig, opts: &TheoryOptions) -> anyhow::Result<()> {
    anyhow::ensure!(
        (2..=1_000_000).contains(&opts.trials),
        "invalid --trials {}: expected an integer in 2..=1000000",
        opts.trials
    );
    let wanted = selected_depths(&opts.depths, cfg.depth)?;
    let limit = budget::limit(opts.max_memory, DeviceKind::Cpu);
    budget::check(&budget::theory(cfg.depth, opts.trials), limit).map_err(anyhow::Error::msg)?;
    let model = Model::for_arch(cfg.arch, cfg.bn);
    // The centred variant, where there is one, is simulated too.
    let simulations = 1 + usize::from(model.centred().is_some());
    let work = simulations as u64 * budget::theory_work(cfg.depth, opts.trials, cfg.width);
    anyhow::ensure!(
        work <= budget::MAX_THEORY_WORK,
        "refused: theory with depth {}, trials {}, width {} draws {work} samples, over the \
         limit of {} (lower --trials, --depth or --width)",
        cfg.depth,
        opts.trials,
        cfg.width,
        budget::MAX_THEORY_WORK
    );
    // The limit to the deepest reported depth only.
    let deepest = LabConfig {
        depth: wanted.iter().copied().max().unwrap_or(cfg.depth),
        ..cfg.clone()
    };
    if opts.limit.samples(cfg) {
        budget::check_wide(&deepest, opts.wide, limit)?;
    }
    let infinite = Limit::for_mode(&deepest, opts.limit, opts.wide)?;
    let simulate =
        |model| theory::simulate(model, cfg.depth, cfg.beta, cfg.width, opts.trials, cfg.seed);
    let measured = simulate(model);
    let centred = model.centred().map(|m| (m, simulate(m)));
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
                centred: centred.as_ref().map(|(m, measured)| {
                    let theorem = theory::moments(*m, depth, cfg.beta);
                    TheoryVariant {
                        model: *m,
                        theorem,
                        theorem_correlation: theorem.correlation(),
                        monte_carlo: measured[depth - 1],
                    }
                }),
                overflow: false,
                infinite_width: infinite.as_ref().map(|l| l.depths[depth - 1].clone()),
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
        trials: opts.trials,
        seed: cfg.seed,
        infinite_width: infinite.as_ref(),
        depths,
    };
    emit(
        &(serde_json::to_string_pretty(&report)? + "\n"),
        opts.out.as_deref(),
    )
}
