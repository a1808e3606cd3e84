//! The run table: one row per training run with its name, progress, latest loss and
//! accuracy, speed, time left and state; the selected row is highlighted, and its log path
//! (or error) is shown under the table. Past runs (loaded from the runs directory) are
//! dimmed. Also how a run is named and drawn, for the table and the charts' legends alike.

use std::time::Duration;

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, TableState, Wrap};

use crate::config::Activation;
use crate::nets::conv::ConvInit;
use crate::train::config::TrainConfig;
use crate::train::trainer::RunState;
use crate::ui::app::State;
use crate::ui::theme::{RunLook, Theme};
use crate::ui::train::{Phase, RunView};

/// A run named by what sets it apart, as the table, the legends and the header write it:
/// `res+BN d20 s0`, `ff crelu/LL d50 s1` (rectifier and init only when not ReLU and He).
pub(super) fn label(cfg: &TrainConfig) -> String {
    let net = &cfg.net;
    let arch = if net.skip { "res" } else { "ff" };
    let bn = if net.bn { "+BN" } else { "" };
    let act = match net.act {
        Activation::Relu => "relu",
        Activation::Crelu => "crelu",
    };
    let init = match net.init {
        ConvInit::He => "He",
        ConvInit::Ll => "LL",
        ConvInit::LlDelta => "LL-δ",
    };
    let units = match (net.act, net.init) {
        (Activation::Relu, ConvInit::He) => String::new(),
        _ => format!(" {act}/{init}"),
    };
    format!("{arch}{bn}{units} d{} s{}", net.depth, cfg.seed)
}

/// How a run is drawn in the table and the charts: its colour and glyph by id, dimmed when
/// it is a past run loaded from the runs directory.
pub(super) fn look(theme: &Theme, run: &RunView) -> RunLook {
    let mut look = theme.run(run.id.saturating_sub(1) as usize);
    if run.past {
        look.style = look.style.add_modifier(Modifier::DIM);
    }
    look
}

/// A chart's legend: each run's glyph and name in its colour (with its number when another
/// run has the same settings), as many as fit in `width` columns, then how many more there
/// are (the table lists them all).
pub(super) fn legend<'a>(theme: &Theme, runs: &[&RunView], width: u16) -> Line<'a> {
    let labels: Vec<String> = runs.iter().map(|r| label(&r.cfg)).collect();
    let mut spans = vec![Span::raw(" ")];
    let mut used = 1;
    for (i, (run, name)) in runs.iter().zip(&labels).enumerate() {
        let look = look(theme, run);
        // Runs of the same settings are told apart by their number in the table.
        let twin = labels.iter().filter(|l| *l == name).count() > 1;
        let number = if twin {
            format!(" #{}", run.id)
        } else {
            String::new()
        };
        let entry = format!("{} {name}{number} ", look.glyph());
        let entry_width = entry.chars().count();
        let rest = runs.len() - i;
        // Room is kept for the "+N more" that a later run might need.
        let reserve = if rest > 1 { 8 } else { 0 };
        if used + entry_width + reserve > usize::from(width) {
            spans.push(Span::styled(format!("+{rest} more "), theme.dim()));
            break;
        }
        used += entry_width;
        spans.push(Span::styled(entry, look.style));
    }
    Line::from(spans)
}

/// The state column; a diverged run is the one thing worth shouting about.
fn state_cell(run: &RunView, state: &State) -> Cell<'static> {
    let (text, style) = match &run.phase {
        _ if run.past => ("past", state.theme.dim()),
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
        Phase::Unended => ("no end", state.theme.dim()),
    };
    Cell::from(Span::styled(text, style))
}

/// What the table cannot say of a past run: how it ended and which log it came from.
fn past_detail(run: &RunView) -> String {
    let ended = match run.phase {
        Phase::Ended(RunState::Finished) => "finished".to_string(),
        Phase::Ended(RunState::Diverged) => format!("diverged at step {}", run.step),
        Phase::Ended(RunState::Cancelled) => format!("stopped at step {}", run.step),
        _ => "no end record (killed, or still training elsewhere)".to_string(),
    };
    let log = run
        .log
        .as_ref()
        .and_then(|p| p.file_name())
        .map_or_else(String::new, |n| format!(" · {}", n.to_string_lossy()));
    format!(" run {} · past run, {ended}{log} ", run.id)
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
    let look = look(&state.theme, run);
    let row = Row::new(vec![
        Cell::from(Span::styled(
            format!("{mark}{}{}", look.glyph(), run.id),
            look.style,
        )),
        Cell::from(Span::styled(label(&run.cfg), look.style)),
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
    ]);
    if run.past {
        row.style(state.theme.dim())
    } else {
        row
    }
}

pub(super) fn render(frame: &mut Frame, area: Rect, state: &State) {
    let tab = &state.train;
    let detail = match tab.selected_run() {
        Some(run) if run.past => Line::from(Span::styled(past_detail(run), state.theme.dim())),
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
        "#", "run", "step", "epoch", "loss", "acc", "img/s", "ETA", "state",
    ])
    .style(Style::new().add_modifier(Modifier::BOLD));
    // The run's name takes what the fixed columns leave.
    let widths = [
        Constraint::Length(5),
        Constraint::Fill(1),
        Constraint::Length(8),
        Constraint::Length(5),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(5),
        Constraint::Length(5),
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
