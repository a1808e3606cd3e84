//! The training tab: what the next run will be and the CPU defaults it uses (and how they
//! differ from `shatterlab train`'s), the run table, and the loss and accuracy charts; or,
//! without data, how to fetch it.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Gauge, Paragraph, Wrap};

use super::help::wrapped_rows;
use super::{curves, runs};
use crate::train::config::TrainConfig;
use crate::train::datadir::DataStatus;
use crate::train::download::Progress;
use crate::ui::app::State;
use crate::ui::train::draft;

/// Table rows shown before it scrolls, per height of the tab.
fn table_rows(height: u16) -> u16 {
    (height / 4).clamp(3, 10)
}

pub(super) fn render(frame: &mut Frame, area: Rect, state: &State) {
    let [header, body] = Layout::vertical([
        Constraint::Length(header_rows(state, area.width)),
        Constraint::Min(0),
    ])
    .areas(area);
    frame.render_widget(
        Paragraph::new(header_lines(state)).wrap(Wrap { trim: false }),
        header,
    );
    if let Some(DataStatus::Missing { root, reason }) = &state.train.data {
        return no_data(frame, body, state, root.as_deref(), reason);
    }
    let rows = table_rows(area.height).min(state.train.runs.len().max(1) as u16);
    let [table, charts] =
        Layout::vertical([Constraint::Length(rows + 3), Constraint::Min(0)]).areas(body);
    runs::render(frame, table, state);
    let [loss, accuracy] =
        Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)]).areas(charts);
    curves::loss(frame, loss, state);
    curves::accuracy(frame, accuracy, state);
}

/// The next run's settings (from the lab's toggles) and the defaults behind them.
fn header_lines(state: &State) -> Vec<Line<'static>> {
    let next = draft(&state.train.base, &state.lab.cfg);
    let key = state.theme.accent().add_modifier(Modifier::BOLD);
    let data = match &state.train.data {
        None => "checking data…".to_string(),
        Some(DataStatus::Found { dir }) => format!("data {}", dir.display()),
        Some(DataStatus::Missing { .. }) => "no data".to_string(),
    };
    vec![
        Line::from(vec![
            Span::raw(" next run ("),
            Span::styled("n", key),
            Span::raw(format!("): {} · {data}", runs::label(&next))),
        ]),
        Line::from(Span::styled(cpu_note(&next), state.theme.dim())),
    ]
}

/// The tab's small CPU defaults, said out loud so nobody takes the curves for full CIFAR-10
/// runs, and where they differ from `shatterlab train`'s, so nobody expects a headless run
/// with no flags to repeat them.
fn cpu_note(tab: &TrainConfig) -> String {
    let images = |n: Option<usize>| n.map_or("all".to_string(), |n| n.to_string());
    let headless = TrainConfig::default();
    let mut differ = Vec::new();
    if (tab.train_subset, tab.test_subset) != (headless.train_subset, headless.test_subset) {
        differ.push(format!(
            "{}/{} images",
            images(headless.train_subset),
            images(headless.test_subset)
        ));
    }
    if tab.batch != headless.batch {
        differ.push(format!("batch {}", headless.batch));
    }
    if tab.epochs != headless.epochs {
        differ.push(format!("{} epochs", headless.epochs));
    }
    let differ = if differ.is_empty() {
        String::new()
    } else {
        format!(" (`shatterlab train`: {})", differ.join(", "))
    };
    format!(
        " tab defaults: {}/{} train/test images, batch {}, {} epochs{differ}",
        images(tab.train_subset),
        images(tab.test_subset),
        tab.batch,
        tab.epochs,
    )
}

/// Rows of the header: the next run, then the defaults note as wrapped at `width`.
fn header_rows(state: &State, width: u16) -> u16 {
    let note = cpu_note(&draft(&state.train.base, &state.lab.cfg));
    1 + wrapped_rows(&note, usize::from(width.max(1)))
}

fn no_data(
    frame: &mut Frame,
    area: Rect,
    state: &State,
    root: Option<&std::path::Path>,
    reason: &str,
) {
    let command = match root {
        Some(r) => format!("shatterlab data download --dir {}", r.display()),
        None => "shatterlab data download --dir DIR".to_string(),
    };
    let block = Block::bordered().title(" CIFAR-10 training · no data ");
    if let Some(event) = &state.train.fetch {
        return fetching(frame, area, state, block, event);
    }
    let key = state.theme.accent().add_modifier(Modifier::BOLD);
    let mut text = vec![
        Line::from(format!("CIFAR-10 is not here: {reason}.")),
        Line::from(""),
    ];
    if root.is_some() {
        text.push(Line::from(vec![
            Span::raw("Press "),
            Span::styled("d", key),
            Span::raw(" to download it now (about 170 MB, checksums verified), or run:"),
        ]));
    } else {
        text.push(Line::from(
            "Fetch it (about 170 MB, checksums verified) with:",
        ));
    }
    text.extend([
        Line::from(Span::styled(format!("  {command}"), key)),
        Line::from(""),
        Line::from("and restart the lab, or point it at a copy with --data-dir DIR"),
        Line::from("(or SHATTERLAB_DATA)."),
    ]);
    frame.render_widget(
        Paragraph::new(text).wrap(Wrap { trim: false }).block(block),
        area,
    );
}

/// A download in progress: a gauge while bytes arrive, then the checks and the unpacking.
fn fetching(frame: &mut Frame, area: Rect, state: &State, block: Block, event: &Progress) {
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [text_area, _, gauge_area] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(inner);
    let mb = |b: u64| b as f64 / 1e6;
    let (text, ratio) = match event {
        Progress::Bytes { total: 0, .. } => ("connecting…".to_string(), 0.0),
        Progress::Bytes { done, total } => (
            format!("downloading {:.1} / {:.1} MB", mb(*done), mb(*total)),
            *done as f64 / *total as f64,
        ),
        Progress::Retrying { attempt, reason } => (
            format!(
                "transfer failed ({reason}); resuming, attempt {}",
                attempt + 1
            ),
            0.0,
        ),
        Progress::Verifying => ("verifying size, MD5 and SHA-256…".to_string(), 1.0),
        Progress::Extracting => ("unpacking…".to_string(), 1.0),
    };
    frame.render_widget(Paragraph::new(format!(" {text}")), text_area);
    frame.render_widget(
        Gauge::default()
            .ratio(ratio.clamp(0.0, 1.0))
            .gauge_style(state.theme.accent()),
        gauge_area,
    );
}
