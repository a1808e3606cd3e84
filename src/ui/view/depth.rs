//! Correlation against depth (paper §4): the real nets' far-pair correlation ± its standard
//! error under the chosen estimator, beside the matching theorem, its idealised model by
//! Monte Carlo (markers ± se), Theorem 3's centred variant, and the theorem scaled to the
//! real net's depth-1 value (dashed). The theorems' R is the correlation of inputs with
//! independent activation patterns, so it belongs with the far-apart curve; neighbours and
//! the lag-1 ACF are larger by nature and are drawn only in a wide pane. The numbers come
//! from [`CorrVsDepth`]; this module only draws them.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::Line;
use ratatui::widgets::{Axis, Chart, Dataset, GraphType};

use super::{PaneCtx, legend};
use crate::config::Inputs;
use crate::lab::depth_curves::{CorrVsDepth, Point};
use crate::lab::readout::Estimator;
use crate::lab::theory::Model;

/// Floor of the log scale: the feedforward theorem reaches 1e-15 at depth 50.
const LOG_FLOOR: f64 = 1e-6;
/// Inner width from which the neighbour and lag-1 curves join the far one.
const WIDE: u16 = 60;

pub(super) fn render(frame: &mut Frame, area: Rect, ctx: &PaneCtx) {
    let log = ctx.state.lab.log_y;
    let estimator = ctx.state.lab.estimator;
    // Narrow panes keep room for the "raise nets" note.
    let title = match (area.width >= 48, estimator) {
        (true, e) => format!("correlation vs depth · {}", e.name()),
        (false, Estimator::Integrated) => "R vs L · integrated".to_string(),
        (false, Estimator::Random) => "R vs L · random v".to_string(),
    };
    let block = ctx.block(if log { format!("{title} (log)") } else { title });
    if ctx.run.depths.is_empty() {
        return ctx.waiting(frame, area, block);
    }
    let theme = &ctx.state.theme;
    let cfg = &ctx.run.cfg;
    let stats: Vec<_> = ctx.run.depths.iter().map(|d| &d.stats).collect();
    let curves = CorrVsDepth::new(cfg, &stats, ctx.run.idealised.as_ref(), estimator);
    let wide = area.width.saturating_sub(2) >= WIDE && cfg.inputs == Inputs::Grid;
    let y = |v: f64| if log { v.max(LOG_FLOOR).log10() } else { v };
    // On the log scale a value at or below zero has no place: leave it out.
    let shown = |v: f64| !log || v > LOG_FLOOR;
    let points = |pts: &[Point], f: &dyn Fn(&Point) -> f64| -> Vec<(f64, f64)> {
        pts.iter()
            .map(|p| (p.depth as f64, f(p)))
            .filter(|(_, v)| shown(*v))
            .map(|(l, v)| (l, y(v)))
            .collect()
    };
    let line_of = |c: &[(usize, f64)]| -> Vec<(f64, f64)> {
        c.iter()
            .filter(|(_, v)| shown(*v))
            .map(|&(l, v)| (l as f64, y(v)))
            .collect()
    };
    let far = points(&curves.far, &|p| p.value);
    let far_lo = points(&curves.far, &|p| p.value - p.se);
    let far_hi = points(&curves.far, &|p| p.value + p.se);
    let neighbour = points(&curves.neighbour, &|p| p.value);
    let lag1: Vec<(f64, f64)> = stats
        .iter()
        .map(|s| (s.depth as f64, s.acf[1]))
        .filter(|(_, v)| shown(*v))
        .map(|(l, v)| (l, y(v)))
        .collect();
    let theorem = line_of(&curves.theorem);
    let centred = curves.centred.as_deref().map(line_of).unwrap_or_default();
    // Dashes: every other unit step of the guide as its own two-point line.
    let guide = curves.guide.as_deref().map(line_of).unwrap_or_default();
    let dashes: Vec<&[(f64, f64)]> = guide.windows(2).step_by(2).collect();
    let monte_carlo = points(&curves.monte_carlo, &|p| p.value);
    let error_bars: Vec<[(f64, f64); 2]> = curves
        .monte_carlo
        .iter()
        .filter(|p| shown(p.value - p.se))
        .map(|p| {
            let l = p.depth as f64;
            [(l, y(p.value - p.se)), (l, y(p.value + p.se))]
        })
        .collect();
    let (lo, hi) = if log {
        (LOG_FLOOR.log10(), 0.0)
    } else {
        let lowest = [&far_lo, &neighbour, &lag1]
            .iter()
            .flat_map(|c| c.iter().map(|p| p.1))
            .fold(0.0f64, f64::min);
        (lowest.max(-1.0), 1.0)
    };
    // Measurements with gaps are drawn as points: a line would bridge the gaps.
    let measured_type = if log {
        GraphType::Scatter
    } else {
        GraphType::Line
    };
    let set = |data, style: Style, graph| {
        Dataset::default()
            .data(data)
            .marker(theme.marker)
            .graph_type(graph)
            .style(style)
    };
    let far_style = theme.series(3, 4);
    let (nbr_style, lag_style) = (theme.series(2, 4), theme.series(0, 4));
    let centred_style = theme.brown();
    let guide_style = theme.theory().add_modifier(Modifier::DIM);
    let mc_style = theme.accent();
    let reference =
        |data, style| set(data, style, GraphType::Line).marker(theme.reference_marker());
    let mut datasets = vec![
        set(&far_lo, theme.dim(), measured_type),
        set(&far_hi, theme.dim(), measured_type),
    ];
    datasets.extend(dashes.iter().map(|d| reference(d, guide_style)));
    datasets.push(reference(&centred, centred_style));
    datasets.push(reference(&theorem, theme.theory()));
    if wide {
        datasets.push(set(&lag1, lag_style, measured_type));
        datasets.push(set(&neighbour, nbr_style, measured_type));
    }
    datasets.push(set(&far, far_style, measured_type));
    datasets.extend(error_bars.iter().map(|b| set(b, mc_style, GraphType::Line)));
    datasets.push(set(&monte_carlo, mc_style, GraphType::Scatter).marker(Marker::Dot));
    // Full names where the legend fits, else one word each (the help overlay spells them out).
    let full = area.width.saturating_sub(2) >= 48;
    let name = theorem_name(curves.model);
    let far_name = CorrVsDepth::far_name(cfg);
    let pick = |long: String, brief: &str| if full { long } else { brief.to_string() };
    let mut items = vec![
        (pick(format!("{far_name}±se"), far_name), far_style),
        (name.to_string(), theme.theory()),
    ];
    if !curves.monte_carlo.is_empty() {
        items.push((pick("MC±se".into(), "MC"), mc_style));
    }
    if curves.centred.is_some() {
        items.push((pick(format!("{name}c"), "cent"), centred_style));
    }
    if curves.guide.is_some() {
        items.push((pick(format!("d1×{name}"), "d1"), guide_style));
    }
    if wide {
        items.push(("nbr".into(), nbr_style));
        items.push(("r(1)".into(), lag_style));
    }
    let mut block = block.title_bottom(legend(items));
    if let Some(se) = curves.too_noisy {
        block = block.title(
            Line::styled(format!(" ±{}: raise nets ", super::num(se)), theme.alert())
                .right_aligned(),
        );
    }
    let y_labels = if log {
        vec!["1e-6".to_string(), "1e-3".into(), "1".into()]
    } else {
        vec![super::num(lo), "0.5".into(), "1".into()]
    };
    let chart = Chart::new(datasets)
        .block(block)
        .x_axis(
            Axis::default()
                .bounds([1.0, cfg.depth.max(2) as f64])
                .labels(vec!["1".to_string(), "L".into(), cfg.depth.to_string()]),
        )
        .y_axis(Axis::default().bounds([lo, hi]).labels(y_labels));
    frame.render_widget(chart, area);
}

fn theorem_name(model: Model) -> &'static str {
    match model {
        Model::Feedforward => "Thm1",
        Model::ResnetNoBn => "Thm2",
        Model::ResnetBn => "Thm3",
        Model::ResnetBnCentred => "Thm3c",
    }
}
