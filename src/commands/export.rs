//! `shatterlab export`: the lab's panes' data for the given settings (a full sweep, as the
//! TUI shows it) and every run logged in the runs directory, as JSON or CSV tables.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::Duration;

use crate::budget;
use crate::config::LabConfig;
use crate::device::device_for;
use crate::export::{Export, check_outputs, logged_runs};
use crate::lab::summary::DepthView;
use crate::lab::sweep::sweep;
use crate::ui::lab::LabTab;
use crate::worker::sweep::{Side, Update};

#[derive(Debug, Clone, PartialEq)]
pub struct ExportOptions {
    /// The JSON file, or with `csv` the folder of tables.
    pub out: PathBuf,
    pub csv: bool,
    pub force: bool,
    /// Where the training runs' logs are read from.
    pub runs_dir: PathBuf,
    pub max_memory: Option<u64>,
}

pub fn run(cfg: &LabConfig, opts: &ExportOptions) -> anyhow::Result<()> {
    check_outputs(&opts.out, opts.csv, opts.force)?;
    budget::check(
        &budget::sweep(cfg),
        budget::limit(opts.max_memory, cfg.device),
    )
    .map_err(anyhow::Error::msg)?;
    let runs = logged_runs(&opts.runs_dir)?;
    // The lab tab's own bookkeeping, fed as its worker would feed it.
    let (mut lab, _jobs) = LabTab::new(cfg.clone());
    let generation = lab.generation;
    sweep(cfg, device_for(cfg.device)?, |result| {
        lab.receive(Update::Depth {
            generation,
            side: Side::A,
            view: Box::new(DepthView::new(result, cfg.points)),
            compute: Duration::ZERO,
        });
        ControlFlow::Continue(())
    })?;
    lab.receive(Update::Done {
        generation,
        side: Side::A,
        compute: Duration::ZERO,
    });
    Export::new(&lab, runs).write(&opts.out, opts.csv, opts.force)
}
