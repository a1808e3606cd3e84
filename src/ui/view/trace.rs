//! Gradient trace g(x) over the grid at the selected depth, depth 1 dimmed behind it; and
//! the Fig. 1 panel of five such traces.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::widgets::{Axis, Block, Chart};

use super::axes::{AxisSpec, Plot};
use super::{PaneCtx, decimate, legend, line};
use crate::config::Inputs;
use crate::ui::app::State;
use crate::ui::lab::SweepResults;

/// Traces are scaled to unit RMS so shallow and deep ones share an axis: the shape is the
/// point, and the status bar reports the variance.
const Y_RANGE: f64 = 3.0;

pub(super) fn render(frame: &mut Frame, area: Rect, ctx: &PaneCtx) {
    if ctx.run.cfg.inputs == Inputs::Independent {
        let text = "independent inputs: the points have no spatial order, so g has no \
                    shape to trace. The correlation panes still apply (i: back to the grid)";
        return PaneCtx::note(frame, area, ctx.block("gradient g(x)"), text.into());
    }
    let Some((view, block)) = ctx.at_shown_depth(frame, area, "gradient g(x)") else {
        return;
    };
    let theme = &ctx.state.theme;
    let grid = ctx.run.cfg.grid();
    let columns = area.width.saturating_sub(8) as usize;
    let first = ctx
        .run
        .at(1)
        .map(|v| series(&grid, &v.trace, columns))
        .unwrap_or_default();
    let shown = series(&grid, &view.trace, columns);
    let main_style = theme.series(0, 1);
    let mut datasets = Vec::new();
    if view.stats.depth > 1 {
        datasets.push(line(&first, theme.marker, theme.dim()));
    }
    datasets.push(line(&shown, theme.marker, main_style));
    let mut items = vec![(format!("L={}", view.stats.depth), main_style)];
    if view.stats.depth > 1 {
        items.push(("L=1".to_string(), theme.dim()));
    }
    let block = block.title_bottom(legend(items));
    let cfg = &ctx.run.cfg;
    let sigma = AxisSpec::linear(-Y_RANGE, Y_RANGE, 3, "");
    let plot = Plot {
        datasets,
        x: AxisSpec::linear(cfg.x_min, cfg.x_max, 5, "x"),
        y: sigma.relabelled(|t| {
            if t.at == 0.0 {
                "0".into()
            } else {
                format!("{}σ", t.label)
            }
        }),
        marker: theme.marker,
        axis_style: theme.axis(),
        cursor: None,
    };
    super::framed(frame, area, block, plot);
}

/// Fig. 1: (a) 1-layer and (b) 24-layer feedforward nets, (c) the 50-layer resnet, (d)
/// brown and (e) white noise, one row each, every one on the same ±3σ scale (too few rows
/// for labels: the title says so).
pub(super) fn figure1(frame: &mut Frame, area: Rect, state: &State, resnet: &SweepResults) {
    let ff = &state.lab.a;
    let noise = &state.lab.noise;
    let rows: [(String, Option<&[f64]>); 5] = [
        (
            "(a) feedforward, L=1".into(),
            ff.depths.first().map(|v| &v.trace[..]),
        ),
        (
            format!("(b) feedforward, L={}", ff.cfg.depth),
            ff.depths.get(ff.cfg.depth - 1).map(|v| &v.trace[..]),
        ),
        (
            format!("(c) resnet, L={}", resnet.cfg.depth),
            resnet
                .depths
                .get(resnet.cfg.depth - 1)
                .map(|v| &v.trace[..]),
        ),
        ("(d) brown noise".into(), Some(&noise.brown_trace[..])),
        ("(e) white noise".into(), Some(&noise.white_trace[..])),
    ];
    let areas = Layout::vertical([Constraint::Fill(1); 5]).split(area);
    let grid = ff.cfg.grid();
    let columns = area.width.saturating_sub(2) as usize;
    for (i, ((title, trace), row)) in rows.into_iter().zip(areas.iter()).enumerate() {
        let focus = if i == 0 {
            format!(" Fig. 1 · each ±{Y_RANGE}σ · {title} ")
        } else {
            format!(" {title} ")
        };
        let block = Block::bordered().title(focus);
        match trace {
            Some(t) => {
                let data = series(&grid, t, columns);
                let style = if i < 3 {
                    state.theme.series(i, 3)
                } else {
                    state.theme.dim()
                };
                let chart = Chart::new(vec![line(&data, state.theme.marker, style)])
                    .x_axis(Axis::default().bounds([ff.cfg.x_min, ff.cfg.x_max]))
                    .y_axis(Axis::default().bounds([-Y_RANGE, Y_RANGE]));
                frame.render_widget(chart.block(block), *row);
            }
            None => frame.render_widget(
                ratatui::widgets::Paragraph::new("computing…").block(block),
                *row,
            ),
        }
    }
}

/// The trace against x, scaled to unit RMS and decimated to the chart's columns.
fn series(grid: &[f64], trace: &[f64], columns: usize) -> Vec<(f64, f64)> {
    let rms = (trace.iter().map(|g| g * g).sum::<f64>() / trace.len().max(1) as f64).sqrt();
    let scale = if rms > 0.0 { 1.0 / rms } else { 1.0 };
    let pts: Vec<(f64, f64)> = grid
        .iter()
        .zip(trace)
        .map(|(x, g)| (*x, (g * scale).clamp(-Y_RANGE, Y_RANGE)))
        .collect();
    decimate(&pts, columns)
}
