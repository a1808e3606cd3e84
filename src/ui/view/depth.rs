//! Correlation against depth: the measured far-apart and neighbour correlations and the
//! lag-1 ACF (± its standard error over nets) beside the matching theorem (paper §4). The
//! theorems' R is the correlation of inputs with independent activation patterns, so it
//! belongs with the far-apart curve; the neighbour curves are larger by nature.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::widgets::{Axis, Chart, Dataset, GraphType};

use super::{PaneCtx, legend};
use crate::lab::theory::{self, Model};

/// Floor of the log scale: the feedforward theorem reaches 1e-15 at depth 50.
const LOG_FLOOR: f64 = 1e-6;

pub(super) fn render(frame: &mut Frame, area: Rect, ctx: &PaneCtx) {
    let log = ctx.state.lab.log_y;
    let title = if area.width >= 48 {
        "correlation vs depth: theorem ↔ far points"
    } else {
        "corr vs depth"
    };
    let block = ctx.block(if log {
        format!("{title} (log)")
    } else {
        title.to_string()
    });
    if ctx.run.depths.is_empty() {
        return ctx.waiting(frame, area, block);
    }
    let theme = &ctx.state.theme;
    let cfg = &ctx.run.cfg;
    let y = |v: f64| if log { v.max(LOG_FLOOR).log10() } else { v };
    let measured = |f: &dyn Fn(&crate::lab::sweep::DepthStats) -> f64| -> Vec<(f64, f64)> {
        ctx.run
            .depths
            .iter()
            .map(|d| (d.stats.depth as f64, f(&d.stats)))
            // On the log scale a measurement at or below zero has no place: leave it out.
            .filter(|(_, v)| !log || *v > LOG_FLOOR)
            .map(|(l, v)| (l, y(v)))
            .collect()
    };
    let far = measured(&|s| s.corr_far);
    let neighbour = measured(&|s| s.corr_neighbor);
    let lag1 = measured(&|s| s.acf[1]);
    let lag1_lo = measured(&|s| s.acf[1] - s.acf_se[1]);
    let lag1_hi = measured(&|s| s.acf[1] + s.acf_se[1]);
    let model = Model::for_arch(cfg.arch, cfg.bn);
    let theorem: Vec<(f64, f64)> = (1..=cfg.depth)
        .map(|l| {
            (
                l as f64,
                y(theory::moments(model, l, cfg.beta).correlation()),
            )
        })
        .collect();
    let (lo, hi) = if log {
        (LOG_FLOOR.log10(), 0.0)
    } else {
        let lowest = [&far, &neighbour, &lag1_lo]
            .iter()
            .flat_map(|c| c.iter().map(|p| p.1))
            .fold(0.0f64, f64::min);
        (lowest, 1.0)
    };
    // Measurements with gaps are drawn as points: a line would bridge the gaps.
    let measured_type = if log {
        GraphType::Scatter
    } else {
        GraphType::Line
    };
    let set = |data, style: Style| {
        Dataset::default()
            .data(data)
            .marker(theme.marker)
            .graph_type(measured_type)
            .style(style)
    };
    let (far_style, nbr_style, lag_style) =
        (theme.series(3, 4), theme.series(2, 4), theme.series(0, 4));
    let datasets = vec![
        set(&lag1_lo, theme.dim()),
        set(&lag1_hi, theme.dim()),
        set(&theorem, theme.theory())
            .marker(theme.reference_marker())
            .graph_type(GraphType::Line),
        set(&lag1, lag_style),
        set(&neighbour, nbr_style),
        set(&far, far_style),
    ];
    let items = vec![
        ("far".into(), far_style),
        (theorem_name(model).into(), theme.theory()),
        ("nbr".into(), nbr_style),
        ("r(1)±se".into(), lag_style),
    ];
    let y_labels = if log {
        vec!["1e-6".to_string(), "1e-3".into(), "1".into()]
    } else {
        vec![super::num(lo), "0.5".into(), "1".into()]
    };
    let chart = Chart::new(datasets)
        .block(block.title_bottom(legend(items)))
        .x_axis(
            Axis::default()
                .bounds([1.0, cfg.depth.max(2) as f64])
                .labels(vec!["1".to_string(), "L".into(), cfg.depth.to_string()]),
        )
        .y_axis(Axis::default().bounds([lo, hi]).labels(y_labels));
    frame.render_widget(chart, area);
}

fn theorem_name(model: Model) -> &'static str {
    match model {
        Model::Feedforward => "Thm1",
        Model::ResnetNoBn => "Thm2",
        Model::ResnetBn => "Thm3",
    }
}
