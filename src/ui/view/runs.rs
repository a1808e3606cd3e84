//! The run table: one row per training run with its settings, progress, latest loss and
//! accuracy, speed, time left and state; the selected row is highlighted, and its log path
//! (or error) is shown under the table.

use std::time::Duration;

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, TableState, Wrap};

use super::curves::run_style;
use crate::config::Activation;
use crate::nets::conv::ConvInit;
use crate::train::config::TrainConfig;
use crate::train::trainer::RunState;
use crate::ui::app::State;
use crate::ui::train::{Phase, RunView};

/// A run's toggles, e.g. `res+BN crelu/ll s0`.
pub(super) fn summary(cfg: &TrainConfig) -> String {
    let net = &cfg.net;
    let arch = if net.skip { "res" } else { "ff" };
    let bn = if net.bn { "+BN" } else { "" };
    let act = match net.act {
        Activation::Relu => "relu",
        Activation::Crelu => "crelu",
    };
    let init = match net.init {
        ConvInit::He => "he",
        ConvInit::Ll => "ll",
        ConvInit::LlDelta => "ll-δ",
    };
    format!("{arch}{bn} {act}/{init} s{}", cfg.seed)
}

/// The state column; a diverged run is the one thing worth shouting about.
fn state_cell(run: &RunView, state: &State) -> Cell<'static> {
    let (text, style) = match &run.phase {
        Phase::Starting => ("starting", Style::new()),
        Phase::Training if run.paused => ("paused", state.theme.dim()),
        Phase::Training => ("training", state.theme.accent()),
        Phase::Ended(RunState::Finished) => ("done", Style::new()),
        Phase::Ended(RunState::Diverged) => {
            ("DIVERGED", state.theme.alert().add_modifier(Modifier::BOLD))
        }
        Phase::Ended(RunState::Cancelled) => ("stopped", state.theme.dim()),
        Phase::Ended(RunState::Running) => ("training", Style::new()),
        Phase::Failed(_) => ("failed", state.theme.alert()),
    };
    Cell::from(Span::styled(text, style))
}

/// `1m05s`, `42s`, `2h03m`.
fn duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s / 60 % 60),
    }
}

fn row(run: &RunView, state: &State) -> Row<'static> {
    let dash = || "—".to_string();
    let mark = if run.shown { "●" } else { "○" };
    let step = match run.total_steps() {
        Some(total) => format!("{}/{total}", run.step),
        None => run.step.to_string(),
    };
    let eta = if run.is_stepping() && state.wall_clock {
        run.eta(state.train.stepping()).map_or_else(dash, duration)
    } else {
        dash()
    };
    Row::new(vec![
        Cell::from(Span::styled(
            format!("{mark}{}", run.id),
            run_style(&state.theme, run.id),
        )),
        Cell::from(summary(&run.cfg)),
        Cell::from(run.cfg.net.depth.to_string()),
        Cell::from(step),
        Cell::from(format!("{}/{}", run.epoch, run.cfg.epochs)),
        Cell::from(if run.phase == Phase::Ended(RunState::Diverged) {
            "NaN".to_string()
        } else {
            run.last_loss().map_or_else(dash, |l| format!("{l:.3}"))
        }),
        Cell::from(
            run.accuracy
                .last()
                .map_or_else(dash, |a| format!("{:.1}%", a.1 * 100.0)),
        ),
        Cell::from(
            run.images_per_sec
                .filter(|_| state.wall_clock)
                .map_or_else(dash, |v| format!("{v:.0}")),
        ),
        Cell::from(eta),
        state_cell(run, state),
    ])
}

pub(super) fn render(frame: &mut Frame, area: Rect, state: &State) {
    let tab = &state.train;
    let detail = match tab.selected_run() {
        Some(RunView {
            id,
            phase: Phase::Failed(e),
            ..
        }) => Line::from(Span::styled(
            format!(" run {id} failed: {e} "),
            state.theme.alert(),
        )),
        Some(RunView {
            id,
            phase: Phase::Ended(RunState::Diverged),
            step,
            ..
        }) => Line::from(Span::styled(
            format!(" run {id} diverged at step {step}: the loss is no longer finite "),
            state.theme.alert(),
        )),
        Some(RunView {
            id, log: Some(p), ..
        }) if state.wall_clock => Line::from(format!(" run {id} · log {} ", p.display())),
        _ => Line::from(""),
    };
    let block = Block::bordered()
        .title(" CIFAR-10 runs · ↑↓ select · c compare (●) ")
        .title_bottom(detail);
    if tab.runs.is_empty() {
        let hint = Paragraph::new(" no runs yet: n queues one with the toggles (s b l +/-)")
            .wrap(Wrap { trim: false })
            .block(block);
        return frame.render_widget(hint, area);
    }
    let header = Row::new([
        "#", "config", "L", "step", "epoch", "loss", "acc", "img/s", "ETA", "state",
    ])
    .style(Style::new().add_modifier(Modifier::BOLD));
    let widths = [
        Constraint::Length(3),
        Constraint::Length(18),
        Constraint::Length(3),
        Constraint::Length(8),
        Constraint::Length(5),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(5),
        Constraint::Length(6),
        Constraint::Length(8),
    ];
    let rows: Vec<Row> = tab.runs.iter().map(|r| row(r, state)).collect();
    let table = Table::new(rows, widths)
        .header(header)
        .flex(Flex::Start)
        .block(block)
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED));
    let mut table_state = TableState::default().with_selected(Some(tab.selected));
    frame.render_stateful_widget(table, area, &mut table_state);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_short() {
        assert_eq!(duration(Duration::from_secs(42)), "42s");
        assert_eq!(duration(Duration::from_secs(65)), "1m05s");
        assert_eq!(duration(Duration::from_secs(7380)), "2h03m");
    }
}
