//! `shatterlab grad` (and the lab without a terminal): the sweep's statistics per depth.

use std::ops::ControlFlow;
use std::path::PathBuf;

use crate::budget;
use crate::commands::{emit, selected_depths};
use crate::config::LabConfig;
use crate::device::device_for;
use crate::lab::sweep::sweep;
use crate::output::{self, Format, GradReport};

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
}

impl Default for GradOptions {
    /// Every depth, as JSON, on stdout.
    fn default() -> Self {
        Self {
            depths: Vec::new(),
            format: Format::Json,
            out: None,
            max_memory: None,
        }
    }
}

/// The sweep's statistics at the selected depths.
pub fn run(cfg: &LabConfig, opts: &GradOptions) -> anyhow::Result<()> {
    let wanted = selected_depths(&opts.depths, cfg.depth)?;
    budget::check(
        &budget::sweep(cfg),
        budget::limit(opts.max_memory, cfg.device),
    )
    .map_err(anyhow::Error::msg)?;
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
    let text = match opts.format {
        Format::Json => output::grad_json(&report)?,
        Format::Csv => output::grad_csv(&report)?,
    };
    emit(&text, opts.out.as_deref())
}
