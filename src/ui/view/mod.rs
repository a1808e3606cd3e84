//! `render`: a pure function of the state. Lays out the panes for the current mode and
//! draws a script's caption, the status bar, the key hints and the help overlay.

mod acf;
mod activity;
mod axes;
mod caption;
mod curves;
mod depth;
mod heatmap;
mod help;
mod runs;
mod status;
mod trace;
mod train;

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Dataset, GraphType, Paragraph, Wrap};

use crate::lab::summary::DepthView;
use crate::ui::app::State;
use crate::ui::command::Tab;
use crate::ui::lab::{Pairing, Pane, SweepResults};

/// Smallest terminal the layout is designed for.
pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

/// Draws the whole screen.
pub fn render(state: &State, frame: &mut Frame) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        too_small(frame, area);
        return;
    }
    let [main, caption_area, status_area, footer] = Layout::vertical([
        Constraint::Min(0),
        Constraint::Length(caption::rows(state, area.width)),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    match (state.lab.pairing, &state.lab.b) {
        _ if state.tab == Tab::Train => train::render(frame, main, state),
        (Pairing::Fig1, Some(b)) => trace::figure1(frame, main, state, b),
        (Pairing::Flipped(toggle), Some(b)) => {
            let [left, right] = Layout::horizontal([Constraint::Fill(1); 2]).areas(main);
            column(frame, left, state, &state.lab.a, "A");
            column(frame, right, state, b, &format!("B ±{}", toggle.name()));
        }
        _ if state.lab.zoomed => pane(frame, main, state, &state.lab.a, state.lab.focus, ""),
        _ => grid(frame, main, state),
    }
    caption::render(frame, caption_area, state);
    status::render(frame, status_area, state);
    status::hints(frame, footer, state);
    if state.help {
        help::render(frame, area, state);
    }
}

/// All five panes: the two curves on top, the matrix and the per-depth panes below.
fn grid(frame: &mut Frame, area: Rect, state: &State) {
    let [top, bottom] = Layout::vertical([Constraint::Fill(1); 2]).areas(area);
    let [trace_area, acf_area] = Layout::horizontal([Constraint::Fill(1); 2]).areas(top);
    let [heat_area, depth_area, activity_area] = Layout::horizontal([
        Constraint::Length(heatmap::width_for(bottom.height)),
        Constraint::Fill(1),
        Constraint::Fill(1),
    ])
    .areas(bottom);
    for (p, a) in [
        (Pane::Trace, trace_area),
        (Pane::Acf, acf_area),
        (Pane::Heatmap, heat_area),
        (Pane::Depth, depth_area),
        (Pane::Activity, activity_area),
    ] {
        pane(frame, a, state, &state.lab.a, p, "");
    }
}

/// One side of the A/B view: the focused pane alone when zoomed, else under the trace.
fn column(frame: &mut Frame, area: Rect, state: &State, run: &SweepResults, side: &str) {
    if state.lab.zoomed {
        return pane(frame, area, state, run, state.lab.focus, side);
    }
    let below = if state.lab.focus == Pane::Trace {
        Pane::Acf
    } else {
        state.lab.focus
    };
    let [top, bottom] = Layout::vertical([Constraint::Fill(1); 2]).areas(area);
    pane(frame, top, state, run, Pane::Trace, side);
    pane(frame, bottom, state, run, below, side);
}

fn pane(frame: &mut Frame, area: Rect, state: &State, run: &SweepResults, which: Pane, side: &str) {
    let ctx = PaneCtx {
        state,
        run,
        focused: which == state.lab.focus,
        side,
    };
    match which {
        Pane::Trace => trace::render(frame, area, &ctx),
        Pane::Acf => acf::render(frame, area, &ctx),
        Pane::Heatmap => heatmap::render(frame, area, &ctx),
        Pane::Depth => depth::render(frame, area, &ctx),
        Pane::Activity => activity::render(frame, area, &ctx),
    }
}

/// What every pane draws from: the state, the run of its side, and whether it has focus.
struct PaneCtx<'a> {
    state: &'a State,
    run: &'a SweepResults,
    focused: bool,
    side: &'a str,
}

impl<'a> PaneCtx<'a> {
    /// The sweep's result at the lab's shown depth with the pane's frame titled
    /// `name · L=depth`; None, after drawing the wait (or the error), before it arrives.
    fn at_shown_depth<'b>(
        &self,
        frame: &mut Frame,
        area: Rect,
        name: &str,
    ) -> Option<(&'a DepthView, Block<'b>)> {
        let Some(view) = self.run.at(self.state.lab.shown_depth()) else {
            self.waiting(frame, area, self.block(name));
            return None;
        };
        // A depth made of rounding error says so on every pane that shows it.
        let flag = if view.stats.roundoff {
            " · ×round-off"
        } else {
            ""
        };
        Some((
            view,
            self.block(format!("{name} · L={}{flag}", view.stats.depth)),
        ))
    }

    /// The pane's frame, titled with its side (in the A/B view) and name.
    fn block<'b>(&self, title: impl Into<String>) -> Block<'b> {
        let title = title.into();
        let title = if self.side.is_empty() {
            title
        } else {
            format!("{} · {title}", self.side)
        };
        let block = Block::bordered().title(format!(" {title} "));
        if self.focused {
            block.border_style(self.state.theme.focus())
        } else {
            block
        }
    }

    /// The runs whose charts must share a scale with this one: both sides in the A/B view,
    /// else this pane's own.
    fn compared(&self) -> Vec<&'a SweepResults> {
        match (self.state.lab.pairing, &self.state.lab.b) {
            (Pairing::Flipped(_), Some(b)) => vec![&self.state.lab.a, b],
            _ => vec![self.run],
        }
    }

    /// The message a pane shows before its first result.
    fn waiting(&self, frame: &mut Frame, area: Rect, block: Block) {
        let text = match &self.run.error {
            Some(e) => format!("error: {e}"),
            None => "computing…".to_string(),
        };
        Self::note(frame, area, block, text);
    }

    /// Centred text in place of the pane's content.
    fn note(frame: &mut Frame, area: Rect, block: Block, text: String) {
        frame.render_widget(
            Paragraph::new(text)
                .wrap(Wrap { trim: true })
                .alignment(Alignment::Center)
                .block(block),
            area,
        );
    }
}

/// Draws a pane's frame and, inside it, `plot` (nothing where the pane is too small).
fn framed(frame: &mut Frame, area: Rect, block: Block, plot: axes::Plot) {
    let inner = block.inner(area);
    frame.render_widget(block, area);
    plot.render(inner, frame.buffer_mut());
}

/// A chart series drawn as a line: every pane's datasets are built here.
fn line<'a>(data: &'a [(f64, f64)], marker: Marker, style: Style) -> Dataset<'a> {
    Dataset::default()
        .data(data)
        .marker(marker)
        .graph_type(GraphType::Line)
        .style(style)
}

/// A legend line: coloured names separated by gaps, each behind a line (or, without
/// colour, the glyph its curve is drawn with: names may start with one).
fn legend<'a>(items: Vec<(String, ratatui::style::Style)>) -> Line<'a> {
    let mut spans = vec![Span::raw(" ")];
    for (name, style) in items {
        let marked = name.starts_with(['•', '+', 'x', 'o', '*', '─', '×', '·', '⣀']);
        let text = if marked { name } else { format!("─{name}") };
        spans.push(Span::styled(text, style));
        spans.push(Span::raw(" "));
    }
    Line::from(spans)
}

/// Reduces a series to at most ~2 points per column, keeping each column's min and max so
/// spikes survive (a shattered gradient is all spikes).
fn decimate(points: &[(f64, f64)], columns: usize) -> Vec<(f64, f64)> {
    if columns == 0 || points.len() <= 2 * columns {
        return points.to_vec();
    }
    let mut out = Vec::with_capacity(2 * columns);
    for c in 0..columns {
        let chunk = &points[c * points.len() / columns..(c + 1) * points.len() / columns];
        let lo = chunk.iter().copied().min_by(|a, b| a.1.total_cmp(&b.1));
        let hi = chunk.iter().copied().max_by(|a, b| a.1.total_cmp(&b.1));
        if let (Some(lo), Some(hi)) = (lo, hi) {
            let (first, second) = if lo.0 <= hi.0 { (lo, hi) } else { (hi, lo) };
            out.extend([first, second]);
        }
    }
    out
}

/// A short number for axis labels.
fn num(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 100.0 || v.abs() < 0.01 {
        format!("{v:.0e}")
    } else {
        format!("{v:.2}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    }
}

fn too_small(frame: &mut Frame, area: Rect) {
    let text = vec![
        Line::from("terminal too small"),
        Line::from(format!(
            "{}×{}, needs {MIN_WIDTH}×{MIN_HEIGHT}",
            area.width, area.height
        )),
        Line::from("q quits"),
    ];
    let top = area.height.saturating_sub(3) / 2;
    let [_, middle, _] = Layout::vertical([
        Constraint::Length(top),
        Constraint::Length(3),
        Constraint::Min(0),
    ])
    .areas(area);
    frame.render_widget(
        Paragraph::new(text)
            .alignment(Alignment::Center)
            .wrap(Wrap { trim: true }),
        middle,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimation_keeps_extremes() {
        let pts: Vec<(f64, f64)> = (0..100)
            .map(|i| (i as f64, if i == 37 { 9.0 } else { 0.0 }))
            .collect();
        let d = decimate(&pts, 10);
        assert_eq!(d.len(), 20);
        assert!(d.contains(&(37.0, 9.0)));
        assert_eq!(decimate(&pts, 60), pts);
    }

    #[test]
    fn numbers_are_short() {
        assert_eq!(num(0.5), "0.5");
        assert_eq!(num(1.0), "1");
        assert_eq!(num(1e-6), "1e-6");
        assert_eq!(num(-0.25), "-0.25");
    }
}
