//! Autocorrelation r(k) of the gradient for depths 1, 2, 4, …, L beside brown- and
//! white-noise references (paper Fig. 2).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::widgets::{Axis, Chart};

use super::{PaneCtx, legend, line};
use crate::config::Inputs;
use crate::lab::stats::MAX_LAG;

/// Depths 1, 2, 4, … below `max`, then `max` itself.
pub(super) fn depth_set(max: usize) -> Vec<usize> {
    let mut set: Vec<usize> = std::iter::successors(Some(1usize), |d| d.checked_mul(2))
        .take_while(|d| *d < max)
        .collect();
    set.push(max);
    set
}

pub(super) fn render(frame: &mut Frame, area: Rect, ctx: &PaneCtx) {
    let block = ctx.block("autocorrelation r(k)");
    if ctx.run.cfg.inputs == Inputs::Independent {
        let text = "independent inputs: no spatial order, so r(k) along the point index \
                    means nothing. Their correlations are in the corr-vs-depth pane (i: back \
                    to the grid)";
        return PaneCtx::note(frame, area, block, text.into());
    }
    if ctx.run.depths.is_empty() {
        return ctx.waiting(frame, area, block);
    }
    let theme = &ctx.state.theme;
    let depths: Vec<usize> = depth_set(ctx.run.cfg.depth)
        .into_iter()
        .filter(|d| *d <= ctx.run.depths.len())
        .collect();
    let as_points = |acf: &[f64]| -> Vec<(f64, f64)> {
        acf.iter()
            .enumerate()
            .map(|(k, r)| (k as f64, *r))
            .collect()
    };
    let curves: Vec<Vec<(f64, f64)>> = depths
        .iter()
        .map(|d| as_points(&ctx.run.depths[d - 1].stats.acf))
        .collect();
    let brown = as_points(&ctx.state.lab.noise.brown_acf);
    let white = as_points(&ctx.state.lab.noise.white_acf);
    let lowest = curves
        .iter()
        .chain([&brown, &white])
        .flat_map(|c| c.iter().map(|p| p.1))
        .fold(-0.2f64, f64::min);
    let reference = theme.reference_marker();
    let mut datasets = vec![
        line(&brown, reference, theme.brown()),
        line(&white, reference, theme.white_noise()),
    ];
    let mut items = vec![
        ("brown".to_string(), theme.brown()),
        ("white".into(), theme.white_noise()),
    ];
    for (i, (d, c)) in depths.iter().zip(&curves).enumerate() {
        let style = theme.series(i, depths.len());
        datasets.push(line(c, theme.marker, style));
        items.push((
            if i == 0 {
                format!("L={d}")
            } else {
                d.to_string()
            },
            style,
        ));
    }
    let chart = Chart::new(datasets)
        .block(block.title_bottom(legend(items)))
        .x_axis(Axis::default().bounds([0.0, MAX_LAG as f64]).labels(vec![
            "0".to_string(),
            "lag k".into(),
            MAX_LAG.to_string(),
        ]))
        .y_axis(Axis::default().bounds([lowest, 1.0]).labels(vec![
            super::num(lowest),
            "0".into(),
            "1".into(),
        ]));
    frame.render_widget(chart, area);
}
