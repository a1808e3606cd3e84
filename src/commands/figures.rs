//! `shatterlab figures`: the paper's 1-D figures computed by the engine (the sweeps the
//! TUI's presets run), and CIFAR-10 training curves from run logs, as SVG and PNG.

use std::ops::ControlFlow;
use std::path::PathBuf;

use crate::budget;
use crate::config::{Activation, Arch, Init, LabConfig};
use crate::device::device_for;
use crate::export::figures::{acf, correlation, covariance, fig1, training};
use crate::export::logged_runs;
use crate::lab::summary::DepthView;
use crate::lab::sweep::sweep;
use crate::ui::lab::LabTab;

#[derive(Debug, Clone, PartialEq)]
pub struct FiguresOptions {
    pub out: PathBuf,
    /// Run logs to draw training curves from.
    pub runs: Option<PathBuf>,
    pub force: bool,
    pub max_memory: Option<u64>,
}

pub fn run(base: &LabConfig, opts: &FiguresOptions) -> anyhow::Result<()> {
    let runs = match &opts.runs {
        Some(dir) => {
            let runs = logged_runs(dir)?;
            anyhow::ensure!(
                !runs.is_empty(),
                "invalid --runs {}: expected a directory of run logs (*.jsonl)",
                dir.display()
            );
            runs
        }
        None => Vec::new(),
    };
    let ff = paper(base, Arch::Ff, 24, 1.0);
    let res = paper(base, Arch::Res, 50, 1.0);
    let res_beta = paper(base, Arch::Res, 50, 0.1);
    let limit = budget::limit(opts.max_memory, base.device);
    budget::check(&budget::sweep(&res), limit).map_err(anyhow::Error::msg)?;
    let mut figures = Vec::new();
    let names = [
        "fig1-gradients",
        "fig2a-acf-feedforward",
        "fig2b-acf-resnet",
        "fig2c-acf-resnet-beta",
        "covariance",
        "correlation-vs-depth",
    ];
    let names = names
        .iter()
        .chain(opts.runs.as_ref().map(|_| &"cifar10-training"));
    // Refused before the sweeps, not after.
    for name in names {
        for ext in ["svg", "png"] {
            let path = opts.out.join(format!("{name}.{ext}"));
            crate::fsio::ensure_new(&path, opts.force, "figure")?;
        }
    }
    let ff_views = views(&ff)?;
    let res_views = views(&res)?;
    let beta_views = views(&res_beta)?;
    let noise = LabTab::new(ff.clone()).0.noise;
    figures.push(fig1(&ff, &ff_views, &res_views, &noise));
    for (name, title, cfg, v) in [
        (
            "fig2a-acf-feedforward",
            "Fig. 2a: ACF of feedforward nets",
            &ff,
            &ff_views,
        ),
        (
            "fig2b-acf-resnet",
            "Fig. 2b: ACF of resnets",
            &res,
            &res_views,
        ),
        (
            "fig2c-acf-resnet-beta",
            "Fig. 2c: ACF of resnets, β = 0.1",
            &res_beta,
            &beta_views,
        ),
    ] {
        figures.push(acf(name, title, cfg, v, &noise));
    }
    figures.push(covariance(&ff, &ff_views, &res_views));
    figures.push(correlation(&ff, &res, &ff_views, &res_views));
    if !runs.is_empty() {
        figures.push(training(&runs));
    }
    std::fs::create_dir_all(&opts.out)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", opts.out.display()))?;
    for f in &figures {
        f.write(&opts.out, opts.force)?;
    }
    Ok(())
}

/// The TUI presets' settings (batch norm, ReLU, He) on top of the sizes and seed of `base`.
fn paper(base: &LabConfig, arch: Arch, depth: usize, beta: f64) -> LabConfig {
    LabConfig {
        arch,
        depth,
        beta,
        bn: true,
        act: Activation::Relu,
        init: Init::He,
        ..base.clone()
    }
}

fn views(cfg: &LabConfig) -> anyhow::Result<Vec<DepthView>> {
    let mut out = Vec::with_capacity(cfg.depth);
    sweep(cfg, device_for(cfg.device)?, |r| {
        out.push(DepthView::new(r, cfg.points));
        ControlFlow::Continue(())
    })?;
    Ok(out)
}
