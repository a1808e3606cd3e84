//! Correlation against depth (paper §4). On the grid, the story is told by distance: pairs
//! one and a few grid steps apart start out correlated and fall as the gradient shatters,
//! while far pairs start with different activation patterns; the theorems describe inputs
//! with independent patterns and are drawn dimmed there, named for that regime. With
//! independent inputs, the pairs' correlation ± se sits beside the theorem, its idealised
//! model by Monte Carlo (markers ± se), Theorem 3's centred variant and the theorem scaled to
//! the real net's depth-1 value (dashed). Depths dominated by round-off are drawn apart,
//! dimmed, and named in the caption. The numbers come from [`CorrVsDepth`].

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::Line;
use ratatui::widgets::{Dataset, GraphType, Paragraph};

use super::axes::{AxisSpec, Plot, Scale, ticks_for};
use super::{PaneCtx, SweepResults, legend};
use crate::config::Inputs;
use crate::lab::depth_curves::{CorrVsDepth, Point};
use crate::lab::readout::{Estimator, PairStats};
use crate::lab::theory::Model;

/// Lowest decade of the log scale: the feedforward theorem reaches 1e-15 at depth 50.
const LOG_FLOOR: f64 = 1e-12;
/// Where the symmetric-log scale turns linear, when values at or below zero are shown.
const SYMLOG_THRESHOLD: f64 = 1e-3;

/// The pane's curves of one run, in data units (depth, value).
struct Curves {
    data: CorrVsDepth,
    /// Depths whose numbers are rounding error.
    roundoff: Vec<usize>,
    /// The nets' infinite-width limit: (near, mid, far) per depth, each ± its Monte-Carlo
    /// standard error (0 for a closed form).
    limit: Option<[Vec<Point>; 3]>,
}

impl Curves {
    fn of(run: &SweepResults, estimator: Estimator) -> Self {
        let stats: Vec<_> = run.depths.iter().map(|d| &d.stats).collect();
        let data = CorrVsDepth::new(&run.cfg, &stats, run.idealised.as_ref(), estimator);
        let limit = run
            .limit
            .as_ref()
            .filter(|l| l.serves(&run.cfg))
            .map(|l| limit_curves(&l.depths, data.mid_distance));
        Self {
            data,
            limit,
            roundoff: stats
                .iter()
                .filter(|s| s.roundoff)
                .map(|s| s.depth)
                .collect(),
        }
    }

    /// Every measured value with its band, and the theory shown: what the y range must hold.
    fn values(&self, grid: bool) -> Vec<f64> {
        let d = &self.data;
        let measured: Vec<&Point> = if grid {
            d.far.iter().chain(&d.mid).chain(&d.neighbour).collect()
        } else {
            d.far.iter().chain(&d.monte_carlo).collect()
        };
        let limit = self.limit.iter().flat_map(|[near, mid, far]| {
            let shown: Vec<&Point> = if grid {
                near.iter().chain(mid).chain(far).collect()
            } else {
                far.iter().collect()
            };
            shown
        });
        measured
            .into_iter()
            .chain(limit)
            .flat_map(|p| [p.value - p.se, p.value + p.se])
            .chain(d.theorem.iter().map(|t| t.1))
            .filter(|v| v.is_finite())
            .collect()
    }
}

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
    let grid = cfg.inputs == Inputs::Grid;
    let curves = Curves::of(ctx.run, estimator);
    // One scale for every compared side.
    let all: Vec<f64> = ctx
        .compared()
        .into_iter()
        .flat_map(|run| Curves::of(run, estimator).values(grid))
        .collect();
    let scale = y_scale(log, &all);
    let y = |v: f64| scale.map(v);
    let d = &curves.data;
    let sound = |p: &&Point| !curves.roundoff.contains(&p.depth);
    let points = |pts: &[Point], f: &dyn Fn(&Point) -> f64, keep: &dyn Fn(&&Point) -> bool| {
        pts.iter()
            .filter(keep)
            .map(|p| (p.depth as f64, y(f(p))))
            .filter(|p| p.1.is_finite())
            .collect::<Vec<_>>()
    };
    let value = |p: &Point| p.value;
    let all_depths = |_: &&Point| true;
    let rounded = |p: &&Point| !sound(p);
    let line_of = |c: &[(usize, f64)]| -> Vec<(f64, f64)> {
        c.iter()
            .map(|&(l, v)| (l as f64, y(v)))
            .filter(|p| p.1.is_finite())
            .collect()
    };
    let far = points(&d.far, &value, &sound);
    let far_lo = points(&d.far, &|p| p.value - p.se, &sound);
    let far_hi = points(&d.far, &|p| p.value + p.se, &sound);
    let mid = points(&d.mid, &value, &sound);
    let neighbour = points(&d.neighbour, &value, &sound);
    // Round-off depths of every measured curve, as one dimmed scatter.
    let noise: Vec<(f64, f64)> = if grid {
        [&d.far, &d.mid, &d.neighbour]
            .iter()
            .flat_map(|c| points(c, &value, &rounded))
            .collect()
    } else {
        points(&d.far, &value, &rounded)
    };
    let theorem = line_of(&d.theorem);
    let centred = d.centred.as_deref().map(line_of).unwrap_or_default();
    // Dashes: every other unit step of the guide as its own two-point line.
    let guide = d.guide.as_deref().map(line_of).unwrap_or_default();
    let dashes: Vec<&[(f64, f64)]> = guide.windows(2).step_by(2).collect();
    let monte_carlo = points(&d.monte_carlo, &value, &all_depths);
    let error_bars: Vec<[(f64, f64); 2]> = d
        .monte_carlo
        .iter()
        .map(|p| {
            let l = p.depth as f64;
            [(l, y(p.value - p.se)), (l, y(p.value + p.se))]
        })
        .filter(|b| b[0].1.is_finite() && b[1].1.is_finite())
        .collect();
    let set = |data, style: Style, graph| {
        Dataset::default()
            .data(data)
            .marker(theme.marker)
            .graph_type(graph)
            .style(style)
    };
    let far_style = theme.series(3, 4);
    let (near_style, mid_style) = (theme.series(0, 4), theme.series(1, 4));
    let centred_style = theme.brown();
    let guide_style = theme.theory().add_modifier(Modifier::DIM);
    // On the grid the theorem is another regime's: drawn dimmed.
    let theorem_style = if grid {
        theme.theory().add_modifier(Modifier::DIM)
    } else {
        theme.theory()
    };
    let mc_style = theme.accent();
    let reference =
        |data, style| set(data, style, GraphType::Line).marker(theme.reference_marker());
    let mut datasets = Vec::new();
    if !grid {
        datasets.push(set(&far_lo, theme.dim(), GraphType::Line));
        datasets.push(set(&far_hi, theme.dim(), GraphType::Line));
        datasets.extend(dashes.iter().map(|d| reference(d, guide_style)));
        datasets.push(reference(&centred, centred_style));
    }
    datasets.push(reference(&theorem, theorem_style));
    // Without colour each measured curve has its own glyph.
    let (near_marker, mid_marker, far_marker) = (
        theme.series_marker(0),
        theme.series_marker(1),
        theme.series_marker(2),
    );
    if grid {
        datasets.push(set(&neighbour, near_style, GraphType::Line).marker(near_marker));
        datasets.push(set(&mid, mid_style, GraphType::Line).marker(mid_marker));
    }
    datasets.push(set(&far, far_style, GraphType::Line).marker(far_marker));
    // The infinite-width limit: solid, in its own colour, ± se where it is a Monte Carlo.
    let limit_style = theme.limit();
    let limit_marker = theme.series_marker(5);
    let limit_lines: Vec<Vec<(f64, f64)>> = curves
        .limit
        .iter()
        .flat_map(|[near, mid, far]| {
            let shown: Vec<&Vec<Point>> = if grid {
                vec![near, mid, far]
            } else {
                vec![far]
            };
            shown
                .into_iter()
                .flat_map(|c| {
                    let band = c.iter().any(|p| p.se > 0.0);
                    let mut lines = vec![points(c, &value, &all_depths)];
                    if band {
                        lines.push(points(c, &|p| p.value - p.se, &all_depths));
                        lines.push(points(c, &|p| p.value + p.se, &all_depths));
                    }
                    lines
                })
                .collect::<Vec<_>>()
        })
        .collect();
    datasets.extend(
        limit_lines
            .iter()
            .map(|l| set(l, limit_style, GraphType::Line).marker(limit_marker)),
    );
    if !grid {
        datasets.extend(error_bars.iter().map(|b| set(b, mc_style, GraphType::Line)));
        datasets.push(set(&monte_carlo, mc_style, GraphType::Scatter).marker(Marker::Dot));
    }
    datasets.push(set(&noise, theme.dim(), GraphType::Scatter).marker(Marker::Custom('×')));
    let full = area.width.saturating_sub(2) >= 48;
    let name = theorem_name(d.model);
    let mut items = Vec::new();
    let glyph = |m| theme.legend_glyph(m);
    let ref_glyph = glyph(theme.reference_marker());
    if grid {
        items.push((format!("{}Δ1", glyph(near_marker)), near_style));
        items.push((
            format!("{}Δ{}", glyph(mid_marker), d.mid_distance),
            mid_style,
        ));
        items.push((
            format!(
                "{}{}",
                glyph(far_marker),
                if full { "far±se" } else { "far" }
            ),
            far_style,
        ));
        items.push((
            if full {
                format!("{ref_glyph}{name}: indep.")
            } else {
                format!("{ref_glyph}{name}")
            },
            theorem_style,
        ));
    } else {
        items.push((
            format!(
                "{}{}",
                glyph(far_marker),
                if full { "pairs±se" } else { "pairs" }
            ),
            far_style,
        ));
        items.push((format!("{ref_glyph}{name}"), theorem_style));
        if !d.monte_carlo.is_empty() {
            items.push((if full { "MC±se" } else { "MC" }.to_string(), mc_style));
        }
        if d.centred.is_some() {
            items.push((
                if full {
                    format!("{name}c")
                } else {
                    "cent".into()
                },
                centred_style,
            ));
        }
        if d.guide.is_some() {
            items.push((
                if full {
                    format!("d1×{name}")
                } else {
                    "d1".into()
                },
                guide_style,
            ));
        }
    }
    if curves.limit.is_some() {
        items.push((format!("{}N→∞", glyph(limit_marker)), limit_style));
    }
    if !noise.is_empty() {
        items.push(("×round-off".to_string(), theme.dim()));
    }
    let mut block = block.title_bottom(legend(items));
    if let Some(se) = d.too_noisy {
        block = block.title(
            Line::styled(format!(" ±{}: raise nets ", super::num(se)), theme.alert())
                .right_aligned(),
        );
    }
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height < 3 {
        return;
    }
    // The caption; in a tall pane also the values at the cursor (the shown depth, ←/→).
    let text_rows = if inner.height >= 12 { 2 } else { 1 };
    let [text_area, plot_area] =
        Layout::vertical([Constraint::Length(text_rows), Constraint::Min(0)]).areas(inner);
    let shown = ctx.state.lab.shown_depth();
    let mut lines = vec![Line::from(caption(
        grid,
        curves.roundoff.first().copied(),
        full,
        d,
    ))];
    if text_rows == 2 {
        lines.push(Line::from(readout(&curves, grid, shown)));
    }
    frame.render_widget(Paragraph::new(lines).style(theme.axis()), text_area);
    let rows = plot_area.height.saturating_sub(2);
    let (lo, hi) = y_range(scale, &all);
    let plot = Plot {
        datasets,
        x: AxisSpec::linear(1.0, cfg.depth.max(2) as f64, 5, "L"),
        y: AxisSpec::scaled(scale, lo, hi, ticks_for(rows), ""),
        marker: theme.marker,
        axis_style: theme.axis(),
        cursor: Some(shown as f64),
    };
    plot.render(plot_area, frame.buffer_mut());
}

/// The measured values at depth `depth` (the cursor), each ± its standard error.
fn readout(curves: &Curves, grid: bool, depth: usize) -> String {
    let (d, limit) = (&curves.data, curves.limit.as_ref());
    let at = |c: &[Point]| c.iter().find(|p| p.depth == depth).copied();
    let value = |p: Point| format!("{:.3}±{}", p.value, super::num(p.se));
    let mut parts = vec![format!("▲ L={depth}")];
    let named: Vec<(String, Option<Point>)> = if grid {
        vec![
            ("Δ1".into(), at(&d.neighbour)),
            (format!("Δ{}", d.mid_distance), at(&d.mid)),
            ("far".into(), at(&d.far)),
        ]
    } else {
        vec![("pairs".into(), at(&d.far))]
    };
    for (name, point) in named {
        if let Some(p) = point {
            parts.push(format!("{name} {}", value(p)));
        }
    }
    if let Some(far) = limit.and_then(|[_, _, far]| at(far)) {
        parts.push(format!("N→∞ far {}", value(far)));
    }
    if let Some(t) = d.theorem.iter().find(|t| t.0 == depth) {
        parts.push(format!("{} {}", theorem_name(d.model), super::num(t.1)));
    }
    if curves.roundoff.contains(&depth) {
        parts.push("×round-off".into());
    }
    parts.join("  ")
}

/// The limit's near (neighbour), mid (`mid_distance` apart) and far curves.
fn limit_curves(depths: &[PairStats], mid_distance: usize) -> [Vec<Point>; 3] {
    let point = |depth: usize, value: f64, se: f64| Point { depth, value, se };
    let mut curves: [Vec<Point>; 3] = Default::default();
    for (i, p) in depths.iter().enumerate() {
        let depth = i + 1;
        curves[0].push(point(depth, p.corr_neighbor, p.corr_neighbor_se));
        let bins = &p.corr_by_distance;
        if let Some(b) = bins.from.iter().position(|&f| f == mid_distance) {
            curves[1].push(point(depth, bins.corr[b], bins.se[b]));
        }
        curves[2].push(point(depth, p.corr_far, p.corr_far_se));
    }
    curves
}

/// The one line that says which regime the curves are in.
fn caption(grid: bool, roundoff: Option<usize>, full: bool, d: &CorrVsDepth) -> String {
    let regime = match (grid, full) {
        (true, true) => format!(
            "grid: near pairs (Δ1, Δ{}) lose correlation as g shatters",
            d.mid_distance
        ),
        (true, false) => "grid: near pairs decay".to_string(),
        (false, true) => "independent inputs: the theorems' regime".to_string(),
        (false, false) => "independent inputs".to_string(),
    };
    match roundoff {
        Some(l) => format!("{regime} · ×: round-off from L={l}"),
        None => regime,
    }
}

/// The y scale: linear, or on the log view a log10 scale, symmetric where some value is at
/// or below zero (nothing is dropped).
fn y_scale(log: bool, values: &[f64]) -> Scale {
    if !log {
        Scale::Linear
    } else if values.iter().any(|v| *v <= 0.0) {
        Scale::SymLog {
            threshold: SYMLOG_THRESHOLD,
        }
    } else {
        Scale::Log
    }
}

/// The y range in data units: up to 1 (a correlation), down to the lowest value shown (at
/// most -1; at least 0 on a linear scale, at least [`LOG_FLOOR`] on a log one).
fn y_range(scale: Scale, values: &[f64]) -> (f64, f64) {
    let lowest = values.iter().copied().fold(f64::INFINITY, f64::min);
    match scale {
        Scale::Log => {
            let decade = 10f64.powf(lowest.max(LOG_FLOOR).log10().floor());
            (decade.min(0.1), 1.0)
        }
        _ => (lowest.clamp(-1.0, 0.0), 1.0),
    }
}

fn theorem_name(model: Model) -> &'static str {
    match model {
        Model::Feedforward => "Thm1",
        Model::ResnetNoBn => "Thm2",
        Model::ResnetBn => "Thm3",
        Model::ResnetBnCentred => "Thm3c",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_view_keeps_values_at_or_below_zero() {
        assert_eq!(y_scale(false, &[-0.5, 1.0]), Scale::Linear);
        assert_eq!(y_scale(true, &[1e-4, 1.0]), Scale::Log);
        assert!(matches!(y_scale(true, &[-0.2, 0.3]), Scale::SymLog { .. }));
        assert_eq!(y_range(Scale::Log, &[3e-5, 1.0]), (1e-5, 1.0));
        assert_eq!(y_range(Scale::Log, &[1e-30, 1.0]), (LOG_FLOOR, 1.0));
        let sym = Scale::SymLog { threshold: 1e-3 };
        assert_eq!(y_range(sym, &[-0.4, 0.9]), (-0.4, 1.0));
        assert_eq!(y_range(Scale::Linear, &[0.2, 0.9]), (0.0, 1.0));
    }
}
