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
    // The integrated readout is the default; the other is named.
    let name = match estimator {
        Estimator::Integrated => "correlation",
        Estimator::Random => "correlation, random v",
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
    let buf = frame.buffer_mut();
    for row in 0..pixels.div_ceil(2) {
        for col in 0..pixels {
            let top = sample(heat, 2 * row, col, pixels);
            let bottom = if 2 * row + 1 < pixels {
                sample(heat, 2 * row + 1, col, pixels)
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
    );
}

/// The correlation at pixel (row, col) of a `pixels`-square image of the matrix.
fn sample(heat: &Heat, row: u16, col: u16, pixels: u16) -> f64 {
    let at = |p: u16| (usize::from(p) * heat.side / usize::from(pixels)).min(heat.side - 1);
    heat.cells[at(row) * heat.side + at(col)]
}

/// +1 at the top to -1 at the bottom, labelled at the ends and at 0.
fn colour_bar(buf: &mut ratatui::buffer::Buffer, area: Rect, theme: &Theme) {
    if area.height < 2 {
        return;
    }
    let last = area.height - 1;
    for row in 0..area.height {
        let v = 1.0 - 2.0 * f64::from(row) / f64::from(last);
        let swatch = &mut buf[(area.x, area.y + row)];
        match theme.heat(v) {
            Some(c) => swatch.set_char(' ').set_style(Style::new().bg(c)),
            None => swatch.set_char(Theme::shade(v)),
        };
        let label = if row == 0 {
            "+1"
        } else if row == last {
            "-1"
        } else if row == last / 2 {
            "0"
        } else {
            continue;
        };
        buf.set_string(area.x + 2, area.y + row, label, Style::new());
    }
}
