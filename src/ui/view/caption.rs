//! A script's caption: its narration as a bar above the status bar, wrapped onto as many
//! rows as it needs (at most three), so it is in every frame a recording or a snapshot takes.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::widgets::{Paragraph, Wrap};

use super::help::wrapped_rows;
use crate::ui::app::State;

/// Most rows a caption takes from the panes.
const MAX_ROWS: u16 = 3;

/// The text as drawn: a space of margin on each side.
fn padded(text: &str) -> String {
    format!(" {text} ")
}

/// Rows the caption needs at `width` columns; none without one.
pub(super) fn rows(state: &State, width: u16) -> u16 {
    state.caption.as_deref().map_or(0, |text| {
        wrapped_rows(&padded(text), usize::from(width.max(1))).min(MAX_ROWS)
    })
}

pub(super) fn render(frame: &mut Frame, area: Rect, state: &State) {
    let Some(text) = &state.caption else {
        return;
    };
    // Reversed, so it reads as a bar with or without colour.
    let style = Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD);
    let bar = Paragraph::new(padded(text))
        .wrap(Wrap { trim: false })
        .style(style);
    frame.render_widget(bar, area);
}
