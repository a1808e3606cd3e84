//! Autocorrelation r(k) of the gradient for depths 1, 2, 4, …, L beside brown- and
//! white-noise references (paper Fig. 2).

use ratatui::Frame;
use ratatui::layout::Rect;

use super::axes::{AxisSpec, Plot, ticks_for};
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

/// r(k) against k as chart points.
fn as_points(acf: &[f64]) -> Vec<(f64, f64)> {
    acf.iter()
        .enumerate()
        .map(|(k, r)| (k as f64, *r))
        .collect()
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
    let shown = |run: &super::SweepResults| -> Vec<usize> {
        depth_set(run.cfg.depth)
            .into_iter()
            .filter(|d| *d <= run.depths.len())
            .collect()
    };
    let depths = shown(ctx.run);
    let curves: Vec<Vec<(f64, f64)>> = depths
        .iter()
        .map(|d| as_points(&ctx.run.depths[d - 1].stats.acf))
        .collect();
    let brown = as_points(&ctx.state.lab.noise.brown_acf);
    let white = as_points(&ctx.state.lab.noise.white_acf);
    // The lowest value of every compared side, so A and B share the scale.
    let lowest = ctx
        .compared()
        .into_iter()
        .flat_map(|run| {
            shown(run)
                .into_iter()
                .flat_map(move |d| run.depths[d - 1].stats.acf.clone())
        })
        .chain(brown.iter().chain(&white).map(|p| p.1))
        .fold(-0.2f64, f64::min)
        .max(-1.0);
    let reference = theme.reference_marker();
    let mut datasets = vec![
        line(&brown, reference, theme.brown()),
        line(&white, reference, theme.white_noise()),
    ];
    let glyph = theme.legend_glyph(reference);
    let mut items = vec![
        (format!("{glyph}brown"), theme.brown()),
        (format!("{glyph}white"), theme.white_noise()),
    ];
    for (i, (d, c)) in depths.iter().zip(&curves).enumerate() {
        let style = theme.series(i, depths.len());
        let marker = theme.series_marker(i);
        datasets.push(line(c, marker, style));
        let name = if i == 0 {
            format!("L={d}")
        } else {
            d.to_string()
        };
        items.push((format!("{}{name}", theme.legend_glyph(marker)), style));
    }
    let block = block.title_bottom(legend(items));
    let rows = block.inner(area).height.saturating_sub(2);
    let plot = Plot {
        datasets,
        x: AxisSpec::linear(0.0, MAX_LAG as f64, 5, "lag k"),
        y: AxisSpec::linear(lowest, 1.0, ticks_for(rows), ""),
        marker: theme.marker,
        axis_style: theme.axis(),
        cursor: None,
    };
    super::framed(frame, area, block, plot);
}
