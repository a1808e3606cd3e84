//! The status bar (every active setting, the worker's progress and compute time) and the
//! key hints generated from the binding table.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::config::{Arch, BnGrad, Inputs, LabConfig, Precision, spelling as value_name};
use crate::ui::app::State;
use crate::ui::keys::{BINDINGS, label};
use crate::ui::lab::{Pairing, SweepResults};

/// The settings in a compact form, e.g. `ff+BN β=1 relu/he L=50 N=200 P=256 R=20 seed 0`.
pub(super) fn settings(cfg: &LabConfig) -> String {
    let arch = match cfg.arch {
        Arch::Ff => "ff",
        Arch::Res => "res",
    };
    let bn = match (cfg.bn, cfg.bn_grad) {
        (false, _) => "",
        (true, BnGrad::Frozen) => "+BN",
        (true, BnGrad::Through) => "+BN(through)",
    };
    let bias = if cfg.first_bias { "" } else { " nobias" };
    let inputs = match cfg.inputs {
        Inputs::Grid => "",
        Inputs::Independent => " indep",
    };
    format!(
        "{arch}{bn} β={} {}/{} L={} N={} P={} R={} seed {}{bias}{inputs}",
        cfg.beta,
        value_name(cfg.act),
        value_name(cfg.init),
        cfg.depth,
        cfg.width,
        cfg.points,
        cfg.nets,
        cfg.seed
    )
}

pub(super) fn render(frame: &mut Frame, area: Rect, state: &State) {
    let cfg = &state.lab.cfg;
    let mut left = format!(
        " {} · {} {}",
        settings(cfg),
        cfg.device,
        value_name(cfg.dtype)
    );
    match (state.lab.pairing, &state.lab.b) {
        (Pairing::Flipped(t), Some(_)) => left.push_str(&format!(" · B: {} flipped", t.name())),
        (Pairing::Fig1, _) => left.push_str(" · resnet L=50"),
        _ => {}
    }
    let compute = state.lab.a.compute
        + state
            .lab
            .b
            .as_ref()
            .map_or(Default::default(), |b| b.compute);
    let done = state.lab.a.depths.len();
    let first = |of: fn(&SweepResults) -> Option<usize>| {
        std::iter::once(&state.lab.a)
            .chain(&state.lab.b)
            .filter_map(of)
            .min()
    };
    let overflow = first(SweepResults::first_overflow);
    let roundoff = first(SweepResults::first_roundoff);
    // Only f32 has a deeper precision to offer.
    let deeper = if cfg.dtype == Precision::F32 {
        " (f64 goes deeper)"
    } else {
        ""
    };
    let progress = if let Some(notice) = &state.notice {
        notice.clone()
    } else if let Some(e) = state.lab.a.error.as_ref().or(state
        .lab
        .b
        .as_ref()
        .and_then(|b| b.error.as_ref()))
    {
        format!("error: {e}")
    } else if let Some(depth) = overflow {
        // The panes' numbers from there on are not numbers: say so, with the way out.
        format!("Inf/NaN from depth {depth}{deeper} · {done}/{}", cfg.depth)
    } else if let Some(depth) = roundoff {
        format!(
            "round-off from depth {depth}{deeper} · {done}/{}",
            cfg.depth
        )
    } else if state.lab.paused {
        format!("paused {done}/{}", cfg.depth)
    } else if state.lab.computing() {
        format!("computing… {done}/{}", cfg.depth)
    } else {
        format!("{done}/{}", cfg.depth)
    };
    let right = if state.wall_clock {
        format!("{progress} · {:.2} s ", compute.as_secs_f64())
    } else {
        format!("{progress} ")
    };
    let [l, r] = Layout::horizontal([
        Constraint::Min(0),
        Constraint::Length(right.chars().count() as u16),
    ])
    .areas(area);
    // Cut the settings visibly rather than let the progress overwrite them.
    let room = usize::from(l.width.saturating_sub(1));
    if left.chars().count() > room {
        left = left
            .chars()
            .take(room.saturating_sub(1))
            .collect::<String>()
            + "…";
    }
    let bar = Style::new().add_modifier(Modifier::REVERSED);
    frame.render_widget(Paragraph::new(left).style(bar), l);
    frame.render_widget(Paragraph::new(right).style(bar), r);
}

/// `key hint` pairs of the current tab's bindings that have a footer hint, as many whole
/// ones as fit.
pub(super) fn hints(frame: &mut Frame, area: Rect, state: &State) {
    let mut spans = vec![Span::raw(" ")];
    let mut used = 1;
    for b in BINDINGS
        .iter()
        .filter(|b| b.command.scope().includes(state.tab))
    {
        if let (Some(hint), Some(k)) = (b.hint, b.keys.first()) {
            used += label(*k).chars().count() + hint.chars().count() + 1;
            if used > usize::from(area.width) {
                break;
            }
            used += 2;
            spans.push(Span::styled(
                label(*k),
                state.theme.accent().add_modifier(Modifier::BOLD),
            ));
            spans.push(Span::raw(format!(" {hint}  ")));
        }
    }
    if let Some(p) = state.lab.preset {
        spans.push(Span::styled(p.title(), state.theme.dim()));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
