//! `shatterlab grad` (and the lab without a terminal): the sweep's statistics per depth, with
//! the infinite-width limit beside them and, with `--widths`, the same nets at other widths.

use std::ops::ControlFlow;
use std::path::PathBuf;

use crate::budget;
use crate::commands::{emit, selected_depths};
use crate::config::{LabConfig, MAX_WIDTH};
use crate::device::device_for;
use crate::lab::infinite::{Limit, LimitMode, WideNets};
use crate::lab::readout::PairStats;
use crate::lab::sweep::{DepthStats, sweep};
use crate::output::{self, Format, GradDepth, GradReport, WidthCurve, WidthDepth};

/// What `grad` reports and where.
#[derive(Debug, Clone, PartialEq)]
pub struct GradOptions {
    /// Depths to report; empty means all.
    pub depths: Vec<usize>,
    pub format: Format,
    /// Written atomically; None: stdout.
    pub out: Option<PathBuf>,
    /// `--max-memory`; the memory available is the limit either way.
    pub max_memory: Option<u64>,
    /// Which infinite-width limit to add.
    pub limit: LimitMode,
    /// The limit's Monte Carlo, where it runs one.
    pub wide: WideNets,
    /// `--widths`: other widths to sweep beside the limit.
    pub widths: Vec<usize>,
}

impl Default for GradOptions {
    /// Every depth, as JSON, on stdout, with the closed-form limit where there is one.
    fn default() -> Self {
        Self {
            depths: Vec::new(),
            format: Format::Json,
            out: None,
            max_memory: None,
            limit: LimitMode::Closed,
            wide: WideNets::DEFAULT,
            widths: Vec::new(),
        }
    }
}

/// The sweep's statistics at the selected depths.
pub fn run(cfg: &LabConfig, opts: &GradOptions) -> anyhow::Result<()> {
    let wanted = selected_depths(&opts.depths, cfg.depth)?;
    if let Some(bad) = opts.widths.iter().find(|w| !(1..=MAX_WIDTH).contains(*w)) {
        anyhow::bail!("invalid --widths entry {bad}: expected widths in 1..={MAX_WIDTH}");
    }
    let limit_memory = budget::limit(opts.max_memory, cfg.device);
    budget::check(&budget::sweep(cfg), limit_memory).map_err(anyhow::Error::msg)?;
    for &width in &opts.widths {
        budget::check(&budget::sweep(&at_width(cfg, width)), limit_memory)
            .map_err(anyhow::Error::msg)?;
    }
    // The limit to the deepest reported depth only, as the sweep.
    let deepest = LabConfig {
        depth: wanted.iter().copied().max().unwrap_or(cfg.depth),
        ..cfg.clone()
    };
    if opts.limit.samples(cfg) {
        budget::check_wide(&deepest, opts.wide, limit_memory)?;
    }
    let depths = sweep_depths(cfg, &wanted)?;
    let limit = Limit::for_mode(&deepest, opts.limit, opts.wide)?;
    let at = |depth: usize| limit.as_ref().map(|l| l.depths[depth - 1].clone());
    let finite_width = opts
        .widths
        .iter()
        .map(|&width| {
            let depths = sweep_depths(&at_width(cfg, width), &wanted)?
                .into_iter()
                .map(|d| width_depth(d.depth, d.integrated, at(d.depth)))
                .collect();
            Ok(WidthCurve { width, depths })
        })
        .collect::<anyhow::Result<_>>()?;
    let report = GradReport {
        config: cfg,
        infinite_width: limit.as_ref(),
        depths: depths
            .into_iter()
            .map(|stats| GradDepth {
                infinite_width: at(stats.depth),
                stats,
            })
            .collect(),
        finite_width,
    };
    let text = match opts.format {
        Format::Json => output::grad_json(&report)?,
        Format::Csv => output::grad_csv(&report)?,
    };
    emit(&text, opts.out.as_deref())
}

/// `cfg` with nets `width` wide.
fn at_width(cfg: &LabConfig, width: usize) -> LabConfig {
    LabConfig {
        width,
        ..cfg.clone()
    }
}

/// The sweep's statistics at the `wanted` depths, in their order; deeper layers than the
/// deepest wanted one are not computed.
fn sweep_depths(cfg: &LabConfig, wanted: &[usize]) -> anyhow::Result<Vec<DepthStats>> {
    let last = wanted.iter().copied().max().unwrap_or(cfg.depth);
    let mut depths = Vec::with_capacity(wanted.len());
    sweep(cfg, device_for(cfg.device)?, |result| {
        let depth = result.stats.depth;
        if wanted.contains(&depth) {
            depths.push(result.stats);
        }
        if depth >= last {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })?;
    depths.sort_by_key(|d| wanted.iter().position(|w| *w == d.depth));
    Ok(depths)
}

/// One width's depth beside the limit.
fn width_depth(depth: usize, integrated: PairStats, limit: Option<PairStats>) -> WidthDepth {
    WidthDepth {
        depth,
        corr_far_gap: limit.as_ref().map(|l| integrated.corr_far - l.corr_far),
        corr_neighbor_gap: limit.map(|l| integrated.corr_neighbor - l.corr_neighbor),
        integrated,
    }
}
