//! Activity of the rectifiers at the selected depth: the histogram of each unit's active
//! fraction over the grid, and of the lengths of its contiguous active runs (paper §3).

use ratatui::Frame;
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Bar, BarChart, BarGroup, Paragraph};

use super::PaneCtx;

pub(super) fn render(frame: &mut Frame, area: Rect, ctx: &PaneCtx) {
    let Some((view, block)) = ctx.at_shown_depth(frame, area, "activity") else {
        return;
    };
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let a = &view.activity;
    let [summary, charts] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(inner);
    frame.render_widget(
        Paragraph::new(format!(
            "on {:.2} · saturated {:.2} · run {:.1}",
            a.active_fraction, a.saturated_fraction, a.mean_run_length
        )),
        summary,
    );
    let direction = if charts.width >= 2 * charts.height + 30 {
        Direction::Horizontal
    } else {
        Direction::Vertical
    };
    let [left, right] = Layout::default()
        .direction(direction)
        .constraints([Constraint::Fill(1); 2])
        .areas(charts);
    let theme = &ctx.state.theme;
    histogram(
        frame,
        left,
        &a.fraction_histogram,
        "fraction active 0→1",
        theme.series(1, 4),
    );
    let runs = format!(
        "run length 1→{} (log₂)",
        1usize << a.run_histogram.len().saturating_sub(1)
    );
    histogram(frame, right, &a.run_histogram, &runs, theme.series(3, 4));
}

/// Bars as percentages of the total, filling the width, captioned underneath.
fn histogram(
    frame: &mut Frame,
    area: Rect,
    counts: &[usize],
    caption: &str,
    style: ratatui::style::Style,
) {
    if area.height < 2 || counts.is_empty() {
        return;
    }
    let [bars_area, caption_area] =
        Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(area);
    let total = counts.iter().sum::<usize>().max(1) as f64;
    let n = counts.len() as u16;
    let bar_width = (area.width.saturating_sub(n - 1) / n).max(1);
    let bars: Vec<Bar> = counts
        .iter()
        .map(|c| {
            Bar::default()
                .value((*c as f64 / total * 100.0).round() as u64)
                .text_value("")
        })
        .collect();
    let chart = BarChart::default()
        .data(BarGroup::default().bars(&bars))
        .bar_width(bar_width)
        .bar_gap(1)
        .bar_style(style);
    frame.render_widget(chart, bars_area);
    frame.render_widget(
        Paragraph::new(Line::from(caption.to_string())),
        caption_area,
    );
}
