//! `shatterlab figures`: the paper's 1-D figures computed by the engine (the sweeps the
//! TUI's presets run), and CIFAR-10 training curves from run logs, as SVG and PNG.

use std::ops::ControlFlow;
use std::path::PathBuf;

use plotters::style::RGBColor;

use crate::budget;
use crate::config::{Activation, Arch, Init, LabConfig};
use crate::device::device_for;
use crate::export::logged_runs;
use crate::export::plot::{Curve, Figure, Panel, series_color};
use crate::lab::summary::DepthView;
use crate::lab::sweep::sweep;
use crate::lab::theory::{Model, moments};
use crate::ui::lab::{LabTab, NoiseRefs};

#[derive(Debug, Clone, PartialEq)]
pub struct FiguresOptions {
    pub out: PathBuf,
    /// Run logs to draw training curves from.
    pub runs: Option<PathBuf>,
    pub force: bool,
    pub max_memory: Option<u64>,
}

const SIZE: (u32, u32) = (960, 640);
const BROWN: RGBColor = RGBColor(140, 90, 40);
const WHITE_NOISE: RGBColor = RGBColor(150, 150, 150);
const THEORY: RGBColor = RGBColor(0, 0, 0);

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
    let limit = budget::limit(opts.max_memory);
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
    figures.push(correlation(&ff, &ff_views, &res_views));
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

/// The settings every figure shares, for its caption.
fn sizes(cfg: &LabConfig) -> String {
    format!(
        "width {}, {} points on [{}, {}], {} nets, seed {}, {:?}, batch norm, ReLU, He init",
        cfg.width, cfg.points, cfg.x_min, cfg.x_max, cfg.nets, cfg.seed, cfg.dtype
    )
    .replace("F64", "f64")
    .replace("F32", "f32")
}

fn at(views: &[DepthView], depth: usize) -> &DepthView {
    &views[depth.clamp(1, views.len()) - 1]
}

fn on_grid(cfg: &LabConfig, ys: &[f64]) -> Vec<(f64, f64)> {
    cfg.grid().into_iter().zip(ys.iter().copied()).collect()
}

fn curve(
    name: impl Into<String>,
    points: Vec<(f64, f64)>,
    color: RGBColor,
    reference: bool,
) -> Curve {
    Curve {
        name: name.into(),
        points,
        color,
        reference,
    }
}

fn fig1(ff: &LabConfig, ffv: &[DepthView], resv: &[DepthView], noise: &NoiseRefs) -> Figure {
    let trace = |title: &str, ys: &[f64], color| Panel::Lines {
        title: title.to_string(),
        x_label: "x".into(),
        y_label: "g(x)".into(),
        curves: vec![curve(title, on_grid(ff, ys), color, false)],
        log_y: false,
    };
    Figure {
        name: "fig1-gradients".into(),
        panels: vec![
            trace("1-layer feedforward", &at(ffv, 1).trace, series_color(0, 3)),
            trace(
                "24-layer feedforward",
                &at(ffv, 24).trace,
                series_color(1, 3),
            ),
            trace("50-layer resnet", &at(resv, 50).trace, series_color(2, 3)),
            trace("brown noise", &noise.brown_trace, BROWN),
            trace("white noise", &noise.white_trace, WHITE_NOISE),
        ],
        columns: 1,
        caption: format!("Fig. 1: gradient of net 0 against its input. {}", sizes(ff)),
        size: (960, 1000),
    }
}

fn acf(name: &str, title: &str, cfg: &LabConfig, v: &[DepthView], noise: &NoiseRefs) -> Figure {
    let lags = |r: &[f64]| -> Vec<(f64, f64)> {
        r.iter().enumerate().map(|(k, y)| (k as f64, *y)).collect()
    };
    let n = v.len();
    let depths: Vec<usize> = [1, n / 8, n / 4, n / 2, 3 * n / 4, n]
        .into_iter()
        .filter(|d| *d >= 1)
        .fold(Vec::new(), |mut acc, d| {
            if !acc.contains(&d) {
                acc.push(d);
            }
            acc
        });
    let mut curves: Vec<Curve> = depths
        .iter()
        .enumerate()
        .map(|(i, d)| {
            curve(
                format!("L={d}"),
                lags(&at(v, *d).stats.acf),
                series_color(i, depths.len()),
                false,
            )
        })
        .collect();
    curves.push(curve("brown noise", lags(&noise.brown_acf), BROWN, true));
    curves.push(curve(
        "white noise",
        lags(&noise.white_acf),
        WHITE_NOISE,
        true,
    ));
    Figure {
        name: name.into(),
        panels: vec![Panel::Lines {
            title: title.into(),
            x_label: "lag k".into(),
            y_label: "r(k), mean over nets".into(),
            curves,
            log_y: false,
        }],
        columns: 1,
        caption: format!("{title}, β = {}. {}", cfg.beta, sizes(cfg)),
        size: SIZE,
    }
}

fn covariance(ff: &LabConfig, ffv: &[DepthView], resv: &[DepthView]) -> Figure {
    let heat = |title: &str, v: &DepthView| Panel::Heatmap {
        title: title.into(),
        side: v.heat.side,
        cells: v.heat.cells.clone(),
    };
    Figure {
        name: "covariance".into(),
        panels: vec![
            heat("feedforward, L=24", at(ffv, 24)),
            heat("resnet, L=50", at(resv, 50)),
        ],
        columns: 2,
        caption: format!(
            "Gradient correlation between grid points (blue -1, white 0, red +1). {}",
            sizes(ff)
        ),
        size: (1100, 600),
    }
}

fn correlation(ff: &LabConfig, ffv: &[DepthView], resv: &[DepthView]) -> Figure {
    let measured = |v: &[DepthView]| -> Vec<(f64, f64)> {
        v.iter()
            .map(|d| (d.stats.depth as f64, d.stats.corr_far))
            .collect()
    };
    let theory = |model, n: usize| -> Vec<(f64, f64)> {
        (1..=n)
            .map(|l| (l as f64, moments(model, l, 1.0).correlation()))
            .collect()
    };
    Figure {
        name: "correlation-vs-depth".into(),
        panels: vec![Panel::Lines {
            title: "Correlation of far-apart gradients against depth".into(),
            x_label: "depth L".into(),
            y_label: "correlation (log)".into(),
            curves: vec![
                curve(
                    "feedforward, measured",
                    measured(ffv),
                    series_color(0, 2),
                    false,
                ),
                curve(
                    "Theorem 1",
                    theory(Model::Feedforward, ffv.len()),
                    THEORY,
                    true,
                ),
                curve(
                    "resnet, measured",
                    measured(resv),
                    series_color(1, 2),
                    false,
                ),
                curve(
                    "Theorem 3 (β = 1)",
                    theory(Model::ResnetBn, resv.len()),
                    RGBColor(90, 90, 90),
                    true,
                ),
            ],
            log_y: true,
        }],
        columns: 1,
        caption: format!(
            "Far-apart points (corr_far); values <= 0 left out. {}",
            sizes(ff)
        ),
        size: SIZE,
    }
}

fn training(runs: &[crate::export::Run]) -> Figure {
    let n = runs.len();
    let loss = runs
        .iter()
        .enumerate()
        .map(|(i, r)| {
            curve(
                &r.name,
                r.losses.iter().map(|(s, l)| (*s as f64, *l)).collect(),
                series_color(i, n),
                false,
            )
        })
        .collect();
    let acc = runs
        .iter()
        .enumerate()
        .map(|(i, r)| {
            curve(
                &r.name,
                r.accuracy.iter().map(|(e, a)| (*e as f64, *a)).collect(),
                series_color(i, n),
                false,
            )
        })
        .collect();
    let seeds: Vec<String> = runs
        .iter()
        .map(|r| {
            format!(
                "{}: seed {}",
                r.name,
                r.settings.get("seed").map_or("?".into(), |s| s.to_string())
            )
        })
        .collect();
    Figure {
        name: "cifar10-training".into(),
        panels: vec![
            Panel::Lines {
                title: "training loss".into(),
                x_label: "step".into(),
                y_label: "loss".into(),
                curves: loss,
                log_y: false,
            },
            Panel::Lines {
                title: "test accuracy".into(),
                x_label: "epoch".into(),
                y_label: "accuracy".into(),
                curves: acc,
                log_y: false,
            },
        ],
        columns: 2,
        caption: format!(
            "CIFAR-10 runs (full settings in each run log). {}",
            seeds.join("; ")
        ),
        size: (1200, 560),
    }
}
