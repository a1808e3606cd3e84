//! The help overlay: the current tab's bindings from the table, and the command line that
//! reproduces what is on screen (the lab's settings, or a training run headless).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use crate::ui::app::State;
use crate::ui::cmdline::{command_line, train_command_line};
use crate::ui::command::Tab;
use crate::ui::keys::{BINDINGS, Binding, labels};
use crate::ui::train::draft;

/// Width of the key column.
const KEY_WIDTH: usize = 9;

/// The three regimes of the correlation-vs-depth pane, shown on the lab tab where they fit.
const REGIMES: &str = "corr vs depth: on the 1-D grid, pairs 1 and P/32 steps apart (Δ1, Δ8) \
    share their activation patterns at depth 1, so their fall with depth is the shattering: \
    fastest for feedforward nets with BN, slower for resnets, slowest at small β. Far pairs \
    start nearly independent. The theorems (dimmed there) describe inputs with independent \
    patterns: press i for independent inputs, where the pairs meet the theorem and its \
    idealised Monte Carlo (MC ± se), a resnet with BN following Theorem 3 at small β and its \
    centred variant (Thm3c) at large β. ×: depths made of rounding error. o: integrated ↔ \
    random readout.";

/// Rows `text` takes when wrapped at spaces into `width` columns.
pub(super) fn wrapped_rows(text: &str, width: usize) -> u16 {
    let mut rows = 1;
    let mut used = 0;
    for word in text.split(' ').map(|w| w.chars().count()) {
        let need = if used == 0 { word } else { used + 1 + word };
        if need > width && used > 0 {
            rows += 1;
            used = word;
        } else {
            used = need;
        }
    }
    rows
}

pub(super) fn render(frame: &mut Frame, area: Rect, state: &State) {
    let width = area.width.min(100);
    let (title, command) = match (state.tab, state.train.selected_run()) {
        (Tab::Lab, _) => ("reproduce this screen:", command_line(&state.lab.cfg)),
        (Tab::Train, Some(run)) => (
            "the selected run, headless:",
            train_command_line(&run.cfg, state.lab.cfg.device),
        ),
        (Tab::Train, None) => (
            "the next run, headless:",
            train_command_line(
                &draft(&state.train.base, &state.lab.cfg),
                state.lab.cfg.device,
            ),
        ),
    };
    let inner_width = usize::from(width.saturating_sub(2)).max(1);
    let command_rows = wrapped_rows(&command, inner_width);
    let bindings: Vec<&Binding> = BINDINGS
        .iter()
        .filter(|b| b.command.scope().includes(state.tab))
        .collect();
    let rows = bindings.len().div_ceil(2) as u16;
    let regime_rows = wrapped_rows(REGIMES, inner_width) + 1;
    let regimes = state.tab == Tab::Lab && rows + regime_rows + command_rows + 4 <= area.height;
    let regime_rows = if regimes { regime_rows } else { 0 };
    let height = (rows + regime_rows + command_rows + 4).min(area.height);
    let popup = Rect::new(
        area.x + (area.width - width) / 2,
        area.y + (area.height - height) / 2,
        width,
        height,
    );
    frame.render_widget(Clear, popup);
    let block = Block::bordered()
        .title(" keys · Esc closes ")
        .border_style(state.theme.focus());
    let inner = block.inner(popup);
    frame.render_widget(block, popup);
    let [keys_area, regimes_area, _, title_area, command_area] = Layout::vertical([
        Constraint::Length(rows),
        Constraint::Length(regime_rows),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(0),
    ])
    .areas(inner);
    let [left, _, right] = Layout::horizontal([
        Constraint::Fill(1),
        Constraint::Length(1),
        Constraint::Fill(1),
    ])
    .areas(keys_area);
    let key_style = state.theme.accent().add_modifier(Modifier::BOLD);
    let lines: Vec<Line> = bindings
        .iter()
        .map(|b| {
            Line::from(vec![
                Span::styled(format!("{:<KEY_WIDTH$}", labels(b)), key_style),
                Span::raw(b.help),
            ])
        })
        .collect();
    let (first, second) = lines.split_at(usize::from(rows).min(lines.len()));
    frame.render_widget(Paragraph::new(first.to_vec()), left);
    frame.render_widget(Paragraph::new(second.to_vec()), right);
    if regimes {
        frame.render_widget(
            Paragraph::new(REGIMES).wrap(Wrap { trim: true }),
            // A blank row above, between the keys and the text.
            Rect {
                y: regimes_area.y + 1,
                height: regimes_area.height.saturating_sub(1),
                ..regimes_area
            },
        );
    }
    frame.render_widget(Paragraph::new(title).style(state.theme.dim()), title_area);
    frame.render_widget(
        Paragraph::new(command).wrap(Wrap { trim: false }),
        command_area,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_counts_whole_words() {
        assert_eq!(wrapped_rows("ab cd", 5), 1);
        assert_eq!(wrapped_rows("ab cd ef", 5), 2);
        assert_eq!(wrapped_rows("abc def", 4), 2);
    }
}
