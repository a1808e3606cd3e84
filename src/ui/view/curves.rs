//! The compared runs' curves against epochs: training loss on a log scale (the raw records
//! dimmed behind an exponential moving average) and test accuracy per epoch.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::widgets::{Block, Dataset, Paragraph};

use super::axes::{AxisSpec, Plot, Scale, ticks_for};
use super::runs::{legend, look};
use super::{decimate, line};
use crate::ui::app::State;
use crate::ui::train::RunView;

/// Points of a curve; the loss chart keeps (run, raw, smoothed) in (epoch, log10 loss).
type Series = Vec<(f64, f64)>;

/// Weight of the past in the loss EMA (TensorBoard's smoothing, bias-corrected): about a
/// 20-step memory, which tames the noise of batch-32 losses logged every step.
const SMOOTHING: f64 = 0.95;

/// Exponential moving average of the y values, bias-corrected so it starts on the data.
fn ema(points: &[(f64, f64)], weight: f64) -> Vec<(f64, f64)> {
    let mut acc = 0.0;
    let mut norm = 0.0;
    points
        .iter()
        .map(|&(x, y)| {
            acc = weight * acc + (1.0 - weight) * y;
            norm = weight * norm + (1.0 - weight);
            (x, acc / norm)
        })
        .collect()
}

/// The runs in the compare set.
fn shown(state: &State) -> impl Iterator<Item = &RunView> {
    state.train.runs.iter().filter(|r| r.shown)
}

/// The x range: up to the longest compared run's last epoch.
fn epochs(state: &State) -> f64 {
    shown(state).map(|r| r.cfg.epochs).max().unwrap_or(1).max(1) as f64
}

fn x_axis(max: f64) -> AxisSpec {
    AxisSpec::linear(0.0, max, 6, "epoch")
}

fn empty(frame: &mut Frame, area: Rect, block: Block, text: &str) {
    frame.render_widget(Paragraph::new(format!(" {text}")).block(block), area);
}

/// Training loss per compared run, log-y.
pub(super) fn loss(frame: &mut Frame, area: Rect, state: &State) {
    let theme = &state.theme;
    let block = Block::bordered().title(" training loss (log) · EMA over raw ");
    let columns = usize::from(area.width.saturating_sub(8));
    let curves: Vec<(&RunView, Series, Series)> = shown(state)
        .filter_map(|r| {
            let per_epoch = r.steps_per_epoch? as f64;
            let pts: Vec<(f64, f64)> = r
                .losses
                .iter()
                .filter(|(_, l)| *l > 0.0)
                .map(|&(s, l)| (s as f64 / per_epoch, l))
                .collect();
            let log = |v: Vec<(f64, f64)>| v.into_iter().map(|(x, y)| (x, y.log10())).collect();
            let smooth = log(decimate(&ema(&pts, SMOOTHING), columns));
            (!pts.is_empty()).then(|| (r, log(decimate(&pts, columns)), smooth))
        })
        .collect();
    if curves.is_empty() {
        return empty(frame, area, block, "no losses yet");
    }
    // The smoothed curves set the scale; the raw ones are the noise band around them, and
    // their spikes are pinned to the edges.
    let ys = curves.iter().flat_map(|c| c.2.iter().map(|p| p.1));
    let (lo, hi) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), y| {
        (lo.min(y), hi.max(y))
    });
    // Room above and below, at least a factor of two in all.
    let pad = ((hi - lo) * 0.25).max((0.3 - (hi - lo)) / 2.0).max(0.0);
    let (lo, hi) = (lo - pad, hi + pad);
    let clamped: Vec<Series> = curves
        .iter()
        .map(|c| c.1.iter().map(|&(x, y)| (x, y.clamp(lo, hi))).collect())
        .collect();
    let mut datasets = Vec::new();
    for raw in &clamped {
        datasets.push(line(raw, theme.marker, theme.dim()));
    }
    for (r, _, smooth) in &curves {
        let look = look(theme, r);
        datasets.push(line(smooth, look.marker, look.style));
    }
    let runs: Vec<&RunView> = curves.iter().map(|c| c.0).collect();
    let (lo, hi) = (10f64.powf(lo), 10f64.powf(hi));
    draw(frame, area, state, block, datasets, &runs, |rows| {
        AxisSpec::scaled(Scale::Log, lo, hi, ticks_for(rows), "")
    });
}

/// Test accuracy at each epoch's end per compared run.
pub(super) fn accuracy(frame: &mut Frame, area: Rect, state: &State) {
    let theme = &state.theme;
    let block = Block::bordered().title(" test accuracy ");
    let curves: Vec<(&RunView, Series)> = shown(state)
        .filter(|r| !r.accuracy.is_empty())
        .map(|r| {
            let pts = r.accuracy.iter().map(|&(e, a)| (e as f64, a)).collect();
            (r, pts)
        })
        .collect();
    if curves.is_empty() {
        return empty(frame, area, block, "after the first epoch");
    }
    let datasets = curves
        .iter()
        .map(|(r, pts)| {
            let look = look(theme, r);
            line(pts, look.marker, look.style)
        })
        .collect();
    let runs: Vec<&RunView> = curves.iter().map(|c| c.0).collect();
    draw(frame, area, state, block, datasets, &runs, |rows| {
        AxisSpec::linear(0.0, 1.0, ticks_for(rows).min(5), "")
            .relabelled(|t| format!("{}%", (t.at * 100.0).round()))
    });
}

/// Draws the compared `runs`' chart in `block`: their legend under it, epochs along x and
/// the y axis `y` makes for the plot's rows.
fn draw(
    frame: &mut Frame,
    area: Rect,
    state: &State,
    block: Block,
    datasets: Vec<Dataset>,
    runs: &[&RunView],
    y: impl FnOnce(u16) -> AxisSpec,
) {
    let theme = &state.theme;
    let block = block.title_bottom(legend(theme, runs, area.width));
    let rows = block.inner(area).height.saturating_sub(2);
    let plot = Plot {
        datasets,
        x: x_axis(epochs(state)),
        y: y(rows),
        marker: theme.marker,
        axis_style: theme.axis(),
        cursor: None,
    };
    super::framed(frame, area, block, plot);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ema_starts_on_the_data_and_lags_behind_it() {
        let pts = [(0.0, 2.0), (1.0, 2.0), (2.0, 0.0)];
        let s = ema(&pts, 0.5);
        assert_eq!(s[0], (0.0, 2.0));
        assert_eq!(s[1], (1.0, 2.0));
        // Normalised weights 1/7, 2/7, 4/7 on 2, 2, 0.
        assert!((s[2].1 - 6.0 / 7.0).abs() < 1e-12, "{:?}", s[2]);
    }
}
