//! The P x P gradient correlation over the nets at the selected depth: two pixels per cell
//! with upper half blocks, a colour bar, and shade characters when there is no colour.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;

use super::PaneCtx;
use crate::lab::readout::Estimator;
use crate::lab::summary::Heat;
use crate::ui::theme::Theme;

/// Columns of the colour bar and its labels.
const BAR_WIDTH: u16 = 6;

/// Width of a pane `height` rows tall whose matrix is square (two pixels per row).
pub(super) fn width_for(height: u16) -> u16 {
    2 * height.saturating_sub(2) + BAR_WIDTH + 3
}

pub(super) fn render(frame: &mut Frame, area: Rect, ctx: &PaneCtx) {
    let estimator = ctx.state.lab.estimator;
    // The nets' infinite-width limit, where the worker has it, fills the upper triangle.
    let limit = ctx
        .run
        .limit
        .as_ref()
        .filter(|l| l.serves(&ctx.run.cfg))
        .and_then(|l| l.heat.get(ctx.state.lab.shown_depth().checked_sub(1)?));
    // The integrated readout is the default; the other is named.
    let name = match (estimator, limit.is_some()) {
        (Estimator::Integrated, false) => "correlation",
        (Estimator::Random, false) => "correlation, random v",
        (Estimator::Integrated, true) => "corr ◣nets ◥N→∞",
        (Estimator::Random, true) => "corr ◣random v ◥N→∞",
    };
    let Some((view, block)) = ctx.at_shown_depth(frame, area, name) else {
        return;
    };
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let theme = &ctx.state.theme;
    let heat = view.heat(estimator);
    let pixels = inner
        .width
        .saturating_sub(BAR_WIDTH + 1)
        .min(inner.height * 2);
    if pixels == 0 {
        return;
    }
    let levels = Levels::for_rows(inner.height);
    // Below the diagonal the nets, above it their limit.
    let at = |row: u16, col: u16| match limit {
        Some(limit) if col > row => sample(limit, row, col, pixels),
        _ => sample(heat, row, col, pixels),
    };
    let buf = frame.buffer_mut();
    for row in 0..pixels.div_ceil(2) {
        for col in 0..pixels {
            let top = levels.snap(at(2 * row, col));
            let bottom = if 2 * row + 1 < pixels {
                levels.snap(at(2 * row + 1, col))
            } else {
                top
            };
            let cell = &mut buf[(inner.x + col, inner.y + row)];
            match (theme.heat(top), theme.heat(bottom)) {
                (Some(t), Some(b)) => {
                    cell.set_char('▀').set_style(Style::new().fg(t).bg(b));
                }
                _ => {
                    cell.set_char(Theme::shade((top + bottom) / 2.0));
                }
            }
        }
    }
    colour_bar(
        buf,
        Rect::new(inner.x + pixels + 1, inner.y, BAR_WIDTH, inner.height),
        theme,
        levels,
    );
}

/// The colour bar's discrete levels: every cell is drawn in the colour of the level its
/// correlation falls in, so no cell shows a colour the bar does not (a continuous ramp,
/// quantised by a 256- or 16-colour terminal, made teal and olive cells of its own).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Levels(u16);

impl Levels {
    /// An odd number of levels (zero gets its own), at most 9 and at most one per row of
    /// the bar, so the bar shows every level.
    fn for_rows(rows: u16) -> Self {
        let n = rows.clamp(1, 9);
        Self(if n.is_multiple_of(2) { n - 1 } else { n })
    }

    /// The level of `v` in [-1, 1]: the centre of the level's interval.
    fn snap(self, v: f64) -> f64 {
        let n = f64::from(self.0);
        let i = ((v.clamp(-1.0, 1.0) + 1.0) / 2.0 * n).floor().min(n - 1.0);
        -1.0 + (2.0 * i + 1.0) / n
    }
}

/// The correlation at pixel (row, col) of a `pixels`-square image of the matrix.
fn sample(heat: &Heat, row: u16, col: u16, pixels: u16) -> f64 {
    let at = |p: u16| (usize::from(p) * heat.side / usize::from(pixels)).min(heat.side - 1);
    heat.cells[at(row) * heat.side + at(col)]
}

/// The levels from +1 at the top to -1 at the bottom, each row in its level's colour;
/// labelled at the ends and on the middle row of the level that holds 0.
fn colour_bar(buf: &mut ratatui::buffer::Buffer, area: Rect, theme: &Theme, levels: Levels) {
    if area.height < 2 {
        return;
    }
    let rows = f64::from(area.height);
    let level_of = |row: u16| levels.snap(1.0 - 2.0 * (f64::from(row) + 0.5) / rows);
    let zero_rows: Vec<u16> = (0..area.height).filter(|&r| level_of(r) == 0.0).collect();
    let zero_row = zero_rows.get(zero_rows.len() / 2).copied();
    for row in 0..area.height {
        let v = level_of(row);
        let swatch = &mut buf[(area.x, area.y + row)];
        match theme.heat(v) {
            Some(c) => swatch.set_char(' ').set_style(Style::new().bg(c)),
            None => swatch.set_char(Theme::shade(v)),
        };
        let label = if row == 0 {
            "+1"
        } else if row == area.height - 1 {
            "-1"
        } else if Some(row) == zero_row {
            "0"
        } else {
            continue;
        };
        buf.set_string(area.x + 2, area.y + row, label, Style::new());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_odd_and_centred() {
        let l = Levels::for_rows(20);
        assert_eq!(l, Levels(9));
        assert_eq!(l.snap(0.01), 0.0);
        assert_eq!(l.snap(1.0), 1.0 - 1.0 / 9.0);
        assert_eq!(l.snap(-1.0), -1.0 + 1.0 / 9.0);
        assert_eq!(Levels::for_rows(6), Levels(5));
    }

    /// Every colour a cell can take is one the bar shows.
    #[test]
    fn cells_use_only_the_bars_colours() {
        use crate::config::{ColorMode, MarkerKind};
        for mode in [ColorMode::Ansi16, ColorMode::Ansi256, ColorMode::Truecolor] {
            let theme = Theme::new(mode, MarkerKind::Braille, None, None);
            for rows in [7u16, 9, 12, 30] {
                let area = Rect::new(0, 0, BAR_WIDTH, rows);
                let mut buf = ratatui::buffer::Buffer::empty(area);
                let levels = Levels::for_rows(rows);
                colour_bar(&mut buf, area, &theme, levels);
                let bar: Vec<_> = (0..rows).map(|r| buf[(0, r)].bg).collect();
                for k in 0..=200 {
                    let v = -1.0 + f64::from(k) / 100.0;
                    let colour = theme.heat(levels.snap(v)).unwrap();
                    assert!(bar.contains(&colour), "{mode:?} {rows} rows: {v}");
                }
                let labels: String = (0..rows).map(|r| buf[(2, r)].symbol()).collect();
                assert_eq!(labels.replace(' ', ""), "+0-");
                // The "0" stands on a row of the level that holds zero.
                let zero = (0..rows).find(|&r| buf[(2, r)].symbol() == "0").unwrap();
                assert_eq!(buf[(0, zero)].bg, theme.heat(0.0).unwrap());
            }
        }
    }
}
