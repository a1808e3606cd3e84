//! The figures, from data to [`Figure`]: the paper's (for `shatterlab figures`), the
//! training curves of run logs, and the lab's current view (for `E` in the TUI).

use plotters::style::RGBColor;

use crate::config::LabConfig;
use crate::export::Run;
use crate::export::plot::{Curve, Figure, Panel, series_color};
use crate::lab::depth_curves::CorrVsDepth;
use crate::lab::readout::Estimator;
use crate::lab::summary::DepthView;
use crate::lab::theory::{Model, moments};
use crate::study::report::{Group, Report};
use crate::ui::cmdline::command_line;
use crate::ui::lab::{LabTab, NoiseRefs, SweepResults};

const SIZE: (u32, u32) = (960, 640);
const BROWN: RGBColor = RGBColor(140, 90, 40);
const WHITE_NOISE: RGBColor = RGBColor(150, 150, 150);
const THEORY: RGBColor = RGBColor(0, 0, 0);
/// The estimator of the paper's figures: the readout integrated out, the hidden layers'
/// spread alone (the TUI's default).
const EST: Estimator = Estimator::Integrated;

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
        band: Vec::new(),
    }
}

pub fn fig1(ff: &LabConfig, ffv: &[DepthView], resv: &[DepthView], noise: &NoiseRefs) -> Figure {
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

pub fn acf(name: &str, title: &str, cfg: &LabConfig, v: &[DepthView], noise: &NoiseRefs) -> Figure {
    Figure {
        name: name.into(),
        panels: vec![acf_panel(title, v, noise)],
        columns: 1,
        caption: format!("{title}, β = {}. {}", cfg.beta, sizes(cfg)),
        size: SIZE,
    }
}

/// r(k) at up to six depths spread over the sweep, beside brown and white noise.
fn acf_panel(title: &str, v: &[DepthView], noise: &NoiseRefs) -> Panel {
    let lags = |r: &[f64]| -> Vec<(f64, f64)> {
        r.iter().enumerate().map(|(k, y)| (k as f64, *y)).collect()
    };
    let n = v.len();
    let mut depths: Vec<usize> = Vec::new();
    for d in [1, n / 8, n / 4, n / 2, 3 * n / 4, n] {
        if d >= 1 && d <= n && !depths.contains(&d) {
            depths.push(d);
        }
    }
    let mut curves: Vec<Curve> = depths
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let color = series_color(i, depths.len());
            curve(format!("L={d}"), lags(&at(v, *d).stats.acf), color, false)
        })
        .collect();
    curves.push(curve("brown noise", lags(&noise.brown_acf), BROWN, true));
    curves.push(curve(
        "white noise",
        lags(&noise.white_acf),
        WHITE_NOISE,
        true,
    ));
    Panel::Lines {
        title: title.into(),
        x_label: "lag k".into(),
        y_label: "r(k), mean over nets".into(),
        curves,
        log_y: false,
    }
}

/// The measured far-apart correlation per depth under `estimator`.
fn measured(v: &[DepthView], estimator: Estimator) -> Vec<(f64, f64)> {
    v.iter()
        .map(|d| {
            let pairs = match estimator {
                Estimator::Integrated => &d.stats.integrated,
                Estimator::Random => &d.stats.random,
            };
            (d.stats.depth as f64, pairs.corr_far)
        })
        .collect()
}

/// The correlation of pairs P/32 grid steps apart against depth, and that distance (the
/// corr-vs-depth pane's middle curve).
fn mid_pairs(cfg: &LabConfig, v: &[DepthView]) -> (Vec<(f64, f64)>, usize) {
    let stats: Vec<_> = v.iter().map(|d| &d.stats).collect();
    let curves = CorrVsDepth::new(cfg, &stats, None, EST);
    let points = curves
        .mid
        .iter()
        .map(|p| (p.depth as f64, p.value))
        .collect();
    (points, curves.mid_distance)
}

/// How a figure names an estimator.
fn estimator_name(estimator: Estimator) -> &'static str {
    match estimator {
        Estimator::Integrated => "readout integrated out",
        Estimator::Random => "each net's own readout",
    }
}

/// The theorem of `cfg`'s architecture at depths 1..=n, and its name.
fn theorem(cfg: &LabConfig, n: usize) -> (String, Vec<(f64, f64)>) {
    let model = Model::for_arch(cfg.arch, cfg.bn);
    let name = match model {
        Model::Feedforward => "Theorem 1".to_string(),
        Model::ResnetNoBn => format!("Theorem 2 (β = {})", cfg.beta),
        Model::ResnetBn | Model::ResnetBnCentred => format!("Theorem 3 (β = {})", cfg.beta),
    };
    let points = (1..=n)
        .map(|l| (l as f64, moments(model, l, cfg.beta).correlation()))
        .collect();
    (name, points)
}

pub fn covariance(ff: &LabConfig, ffv: &[DepthView], resv: &[DepthView]) -> Figure {
    let heat = |title: &str, v: &DepthView| Panel::Heatmap {
        title: title.into(),
        side: v.heat_integrated.side,
        cells: v.heat_integrated.cells.clone(),
    };
    Figure {
        name: "covariance".into(),
        panels: vec![
            heat("feedforward, L=24", at(ffv, 24)),
            heat("resnet, L=50", at(resv, 50)),
        ],
        columns: 2,
        caption: format!(
            "Gradient correlation between grid points, readout integrated out (blue -1, white 0, red +1). {}",
            sizes(ff)
        ),
        size: (1100, 600),
    }
}

pub fn correlation(
    ff: &LabConfig,
    res: &LabConfig,
    ffv: &[DepthView],
    resv: &[DepthView],
) -> Figure {
    let (ff_theorem, ff_theory) = theorem(ff, ffv.len());
    let (res_theorem, res_theory) = theorem(res, resv.len());
    let (ff_mid, res_mid) = (mid_pairs(ff, ffv), mid_pairs(res, resv));
    let ffc = series_color(0, 2);
    let resc = series_color(1, 2);
    Figure {
        name: "correlation-vs-depth".into(),
        panels: vec![Panel::Lines {
            title: "Correlation of far-apart gradients against depth".into(),
            x_label: "depth L".into(),
            y_label: "correlation (log)".into(),
            curves: vec![
                curve(
                    format!("feedforward, pairs {} steps apart", ff_mid.1),
                    ff_mid.0,
                    ffc,
                    false,
                ),
                curve("feedforward, far pairs", measured(ffv, EST), ffc, true),
                curve(ff_theorem, ff_theory, THEORY, true),
                curve(
                    format!("resnet, pairs {} steps apart", res_mid.1),
                    res_mid.0,
                    resc,
                    false,
                ),
                curve("resnet, far pairs", measured(resv, EST), resc, true),
                curve(res_theorem, res_theory, RGBColor(90, 90, 90), true),
            ],
            log_y: true,
        }],
        columns: 1,
        caption: format!(
            "Pairs P/32 grid steps apart (their fall is the shattering) and far apart (corr_far; \
             the theorems describe inputs with independent patterns), {}; log scale where every \
             value is positive, else linear. {}",
            estimator_name(EST),
            sizes(ff)
        ),
        size: SIZE,
    }
}

/// The lab's current view as one figure (`E` in the TUI): per side, net 0's trace at the
/// shown depth, the ACFs beside the noise references, correlation against depth beside
/// its theorem, and the correlation matrix at the shown depth. None before any result.
pub fn current_view(lab: &LabTab, name: &str) -> Option<Figure> {
    let mut sides: Vec<(&str, &SweepResults)> = vec![("A", &lab.a)];
    sides.extend(lab.b.as_ref().map(|b| ("B", b)));
    let labelled = sides.len() > 1;
    let mut panels = Vec::new();
    let mut captions = Vec::new();
    for (side, r) in &sides {
        let Some(v) = r.at(lab.shown_depth()) else {
            continue;
        };
        let label = if labelled {
            format!("{side}: ")
        } else {
            String::new()
        };
        let l = v.stats.depth;
        let trace = curve(
            format!("L={l}"),
            on_grid(&r.cfg, &v.trace),
            series_color(0, 1),
            false,
        );
        panels.push(Panel::Lines {
            title: format!("{label}gradient of net 0, L={l}"),
            x_label: "x".into(),
            y_label: "g(x)".into(),
            curves: vec![trace],
            log_y: false,
        });
        panels.push(acf_panel(
            &format!("{label}autocorrelation"),
            &r.depths,
            &lab.noise,
        ));
        let (theorem_name, theory) = theorem(&r.cfg, r.depths.len());
        panels.push(Panel::Lines {
            title: format!("{label}correlation vs depth"),
            x_label: "depth L".into(),
            y_label: "correlation (log)".into(),
            curves: vec![
                curve(
                    format!("measured (far; {})", estimator_name(lab.estimator)),
                    measured(&r.depths, lab.estimator),
                    series_color(0, 1),
                    false,
                ),
                curve(theorem_name, theory, THEORY, true),
            ],
            log_y: true,
        });
        let heat = v.heat(lab.estimator);
        panels.push(Panel::Heatmap {
            title: format!("{label}correlation, L={l}"),
            side: heat.side,
            cells: heat.cells.clone(),
        });
        captions.push(format!("{label}{}", command_line(&r.cfg)));
    }
    let rows = (panels.len() / 4) as u32;
    (rows > 0).then(|| Figure {
        name: name.into(),
        panels,
        columns: 4,
        caption: captions.join("  "),
        size: (1800, 420 * rows + 60),
    })
}

pub fn training(runs: &[Run]) -> Figure {
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

/// Fig. 6: final test accuracy against depth, one line per family (mean over seeds with a
/// ± one standard error band), the baseline drawn across every depth.
pub fn study(report: &Report) -> Figure {
    let mut families: Vec<(&str, &str, bool)> = Vec::new();
    for g in &report.groups {
        if !families.iter().any(|f| f.0 == g.family) {
            families.push((&g.family, &g.label, g.baseline));
        }
    }
    let conv_depths: Vec<f64> = report
        .groups
        .iter()
        .filter(|g| !g.baseline)
        .map(|g| g.depth as f64)
        .collect();
    let (lo, hi) = conv_depths
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &d| {
            (a.min(d), b.max(d))
        });
    let lines = families.iter().filter(|f| !f.2).count();
    let mut curves = Vec::new();
    let mut line = 0;
    for (family, label, baseline) in &families {
        let all: Vec<&Group> = report
            .groups
            .iter()
            .filter(|g| g.family == *family)
            .collect();
        let groups: Vec<&&Group> = all.iter().filter(|g| g.mean.is_some()).collect();
        let at = |g: &Group| -> Vec<f64> {
            if *baseline && lo.is_finite() {
                vec![lo, hi]
            } else {
                vec![g.depth as f64]
            }
        };
        let mut points = Vec::new();
        let mut band = Vec::new();
        for g in &groups {
            let (mean, se) = (g.mean.unwrap_or(f64::NAN), g.se.unwrap_or(0.0));
            for x in at(g) {
                points.push((x, mean));
                band.push((x, mean - se, mean + se));
            }
        }
        let n: Vec<String> = all.iter().map(|g| g.n.to_string()).collect();
        let name = format!("{label} (n = {})", n.join("/"));
        let color = if *baseline {
            THEORY
        } else {
            line += 1;
            series_color(line - 1, lines)
        };
        curves.push(Curve {
            name,
            points,
            color,
            reference: *baseline,
            band,
        });
    }
    let p = &report.progress;
    Figure {
        name: format!("{}-accuracy-vs-depth", report.study),
        panels: vec![Panel::Lines {
            title: "CIFAR-10 test accuracy against depth".into(),
            x_label: "depth (weight layers)".into(),
            y_label: "test accuracy".into(),
            curves,
            log_y: false,
        }],
        columns: 1,
        caption: format!(
            "Study {}: mean final test accuracy over seeds after {} epochs, band ± one \
             standard error; n = finished runs per depth; {} of {} runs done. {} Balduzzi et \
             al. 2017, Fig. 6. Settings of every run in the report's JSON.",
            report.study, report.epochs, p.done, p.runs, report.description
        ),
        size: SIZE,
    }
}
