//! Chart axes whose labels sit at their values. ratatui's `Chart` spaces the labels it is
//! given evenly, whatever they say; here every tick is placed on the row (or column) where
//! the chart draws a point of that value, using the canvas's own mapping, so a label can
//! only be as wrong as one dot of the marker.
//!
//! Scales: linear (ticks at 1, 2, 5 × 10^k), log10 (ticks at decades) and symmetric log
//! (linear through zero, logarithmic beyond a threshold), which keeps values ≤ 0 on a log
//! view instead of dropping them.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::symbols::Marker;
use ratatui::widgets::{Axis, Chart, Dataset, Widget};

/// How data values map onto an axis.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scale {
    Linear,
    /// log10 of the value; values ≤ 0 have no place and must not be given.
    Log,
    /// sign(v) · log10(1 + |v| / threshold): linear near zero, logarithmic beyond.
    SymLog {
        threshold: f64,
    },
}

impl Scale {
    /// The plot coordinate of a data value.
    pub fn map(self, v: f64) -> f64 {
        match self {
            Scale::Linear => v,
            Scale::Log => v.log10(),
            Scale::SymLog { threshold } => v.signum() * (v.abs() / threshold).ln_1p() / 10f64.ln(),
        }
    }

    /// The data value at a plot coordinate (inverse of [`Scale::map`]).
    #[cfg(test)]
    pub fn unmap(self, y: f64) -> f64 {
        match self {
            Scale::Linear => y,
            Scale::Log => 10f64.powf(y),
            Scale::SymLog { threshold } => y.signum() * threshold * (10f64.powf(y.abs()) - 1.0),
        }
    }
}

/// One labelled tick: where (in plot coordinates) and what it says.
#[derive(Clone, Debug, PartialEq)]
pub struct Tick {
    pub at: f64,
    pub label: String,
}

/// An axis: its bounds in plot coordinates, its ticks and its name.
#[derive(Clone, Debug, PartialEq)]
pub struct AxisSpec {
    pub bounds: [f64; 2],
    pub ticks: Vec<Tick>,
    pub name: String,
}

impl AxisSpec {
    /// A linear axis over `[lo, hi]` with at most `most` ticks at round values.
    pub fn linear(lo: f64, hi: f64, most: usize, name: impl Into<String>) -> Self {
        let ticks = nice_ticks(lo, hi, most)
            .into_iter()
            .map(|(at, decimals)| Tick {
                at,
                label: linear_label(at, decimals),
            })
            .collect();
        Self {
            bounds: [lo, hi],
            ticks,
            name: name.into(),
        }
    }

    /// The same axis with every label rewritten by `relabel` (units, percentages).
    pub fn relabelled(mut self, relabel: impl Fn(&Tick) -> String) -> Self {
        for tick in &mut self.ticks {
            tick.label = relabel(tick);
        }
        self
    }

    /// An axis over data values in `[lo, hi]` on `scale`, with at most `most` ticks.
    pub fn scaled(scale: Scale, lo: f64, hi: f64, most: usize, name: impl Into<String>) -> Self {
        match scale {
            Scale::Linear => Self::linear(lo, hi, most, name),
            Scale::Log => Self::log(lo, hi, most, name),
            Scale::SymLog { threshold } => Self::symlog(threshold, lo, hi, most, name),
        }
    }

    /// A log10 axis over positive data values `[lo, hi]`, ticked at decades, or at round
    /// values where the range holds fewer than two decades.
    fn log(lo: f64, hi: f64, most: usize, name: impl Into<String>) -> Self {
        let (a, b) = (lo.log10(), hi.log10());
        let decades: Vec<i32> = (a.ceil() as i32..=b.floor() as i32).collect();
        if decades.len() < 2 {
            let ticks = nice_ticks(lo, hi, most)
                .into_iter()
                .filter(|(v, _)| *v > 0.0)
                .map(|(v, decimals)| Tick {
                    at: v.log10(),
                    label: linear_label(v, decimals),
                })
                .collect();
            return Self {
                bounds: [a, b],
                ticks,
                name: name.into(),
            };
        }
        let ticks = thin(&decades, most)
            .into_iter()
            .map(|k| Tick {
                at: f64::from(k),
                label: decade_label(k, 1.0),
            })
            .collect();
        Self {
            bounds: [a, b],
            ticks,
            name: name.into(),
        }
    }

    /// A symmetric-log axis over data values `[lo, hi]`: zero, then ± decades from the
    /// threshold outward.
    fn symlog(threshold: f64, lo: f64, hi: f64, most: usize, name: impl Into<String>) -> Self {
        let scale = Scale::SymLog { threshold };
        let first = threshold.log10().ceil() as i32;
        let mut values = vec![0.0];
        for k in first..=(hi.max(lo.abs()).log10().floor() as i32) {
            let v = 10f64.powi(k);
            values.extend([-v, v]);
        }
        values.retain(|v| (lo..=hi).contains(v));
        // Where they do not all fit, zero and the largest decades stay: the decades next to
        // the threshold crowd around zero.
        values.sort_by(|a, b| b.abs().total_cmp(&a.abs()));
        let zero = values.pop();
        values.truncate(most.saturating_sub(1));
        values.extend(zero);
        values.sort_by(f64::total_cmp);
        let ticks = values
            .into_iter()
            .map(|v| Tick {
                at: scale.map(v),
                label: if v == 0.0 {
                    "0".into()
                } else {
                    decade_label(v.abs().log10().round() as i32, v.signum())
                },
            })
            .collect();
        Self {
            bounds: [scale.map(lo), scale.map(hi)],
            ticks,
            name: name.into(),
        }
    }
}

/// Ticks at multiples of 1, 2 or 5 × 10^k inside `[lo, hi]`, at most `most` of them (at
/// least 2 where the range allows), each with the decimals its step needs.
pub fn nice_ticks(lo: f64, hi: f64, most: usize) -> Vec<(f64, usize)> {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo || most == 0 {
        return Vec::new();
    }
    let span = hi - lo;
    let mut best = Vec::new();
    // From the coarsest useful step down: the finest step that still fits in `most`.
    let top = span.log10().ceil() as i32 + 1;
    for k in (top - 12..=top).rev() {
        for m in [5.0, 2.0, 1.0] {
            let step = m * 10f64.powi(k);
            let first = (lo / step - 1e-9).ceil() as i64;
            let last = (hi / step + 1e-9).floor() as i64;
            let count = (last - first + 1).max(0) as usize;
            if count > most {
                return best;
            }
            if count >= 1 {
                let decimals = (-k).max(0) as usize;
                best = (first..=last)
                    .map(|i| {
                        // Dividing by 10^-k keeps 0.6 from becoming 0.6000000000000001.
                        let v = if k < 0 {
                            i as f64 * m / 10f64.powi(-k)
                        } else {
                            i as f64 * step
                        };
                        (if v == 0.0 { 0.0 } else { v }, decimals)
                    })
                    .collect();
            }
        }
    }
    best
}

/// A linear tick's label: at most `decimals` places, trailing zeros dropped ("-0.2", "0",
/// "1", "20").
fn linear_label(v: f64, decimals: usize) -> String {
    if v == 0.0 {
        return "0".into();
    }
    if v.abs() >= 1e5 || decimals > 4 {
        return format!("{v:.0e}");
    }
    let text = format!("{v:.decimals$}");
    if decimals == 0 {
        return text;
    }
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The label of `sign` · 10^k: "1", "0.1", "0.01", "1e-3", "10", "100", "1e3".
fn decade_label(k: i32, sign: f64) -> String {
    let body = match k {
        -2..=2 => format!("{}", 10f64.powi(k)),
        _ => format!("1e{k}"),
    };
    if sign < 0.0 { format!("-{body}") } else { body }
}

/// At most `most` of `items`, evenly thinned, keeping the first and the last.
fn thin<T: Copy>(items: &[T], most: usize) -> Vec<T> {
    if items.len() <= most || most < 2 {
        return items.iter().copied().take(most).collect();
    }
    let stride = (items.len() - 1).div_ceil(most - 1);
    let mut out: Vec<T> = items.iter().copied().step_by(stride).collect();
    if !(items.len() - 1).is_multiple_of(stride) {
        out.pop();
        out.extend(items.last().copied());
    }
    out
}

/// How many y ticks a plot `rows` rows tall can label with a blank row between them.
pub fn ticks_for(rows: u16) -> usize {
    usize::from(rows / 2 + 1).clamp(2, 7)
}

/// Dots per cell of a marker: (columns, rows).
fn resolution(marker: Marker) -> (u16, u16) {
    match marker {
        Marker::Braille | Marker::Octant => (2, 4),
        Marker::Sextant => (2, 3),
        Marker::Quadrant => (2, 2),
        Marker::HalfBlock => (1, 2),
        _ => (1, 1),
    }
}

/// The cell, counted from `0` at the low end (left or top edge), where a chart of `cells`
/// cells draws a point at `v` of `bounds`: the canvas's own rounding, then the marker's
/// dots per cell. `from_top` flips the axis (rows count down from the top).
fn cell_of(v: f64, bounds: [f64; 2], cells: u16, dots_per_cell: u16, from_top: bool) -> u16 {
    let [lo, hi] = bounds;
    let dots = f64::from(cells * dots_per_cell);
    let offset = if from_top { hi - v } else { v - lo };
    let dot = (offset * (dots - 1.0) / (hi - lo)).round().max(0.0) as u16;
    (dot / dots_per_cell).min(cells.saturating_sub(1))
}

/// A chart drawn with its own axes: the datasets (in plot coordinates) fill the plot area,
/// with labelled y ticks on the left and x ticks underneath.
pub struct Plot<'a> {
    pub datasets: Vec<Dataset<'a>>,
    pub x: AxisSpec,
    pub y: AxisSpec,
    /// The marker whose dots the labels are placed by (the main series').
    pub marker: Marker,
    pub axis_style: Style,
    /// A vertical cursor line at this x (plot coordinates).
    pub cursor: Option<f64>,
}

/// Where a plot's parts landed: the data area and its bounds, for overlays and tests.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PlotArea {
    pub data: Rect,
}

impl Plot<'_> {
    /// Draws into `area` (inside any border); None when too small for a plot.
    pub fn render(self, area: Rect, buf: &mut Buffer) -> Option<PlotArea> {
        let label_width = self
            .y
            .ticks
            .iter()
            .map(|t| t.label.chars().count() as u16)
            .max()
            .unwrap_or(0);
        // Label column, the axis line, then the data; the x axis line and its labels below.
        let left = label_width + 1;
        if area.width <= left + 2 || area.height < 4 {
            return None;
        }
        let data = Rect::new(area.x + left, area.y, area.width - left, area.height - 2);
        let (dx, dy) = resolution(self.marker);
        let axis_col = data.x - 1;
        let axis_row = data.bottom();
        // The axes and their ticks.
        for row in data.top()..data.bottom() {
            buf[(axis_col, row)]
                .set_char('│')
                .set_style(self.axis_style);
        }
        for col in data.left()..data.right() {
            buf[(col, axis_row)]
                .set_char('─')
                .set_style(self.axis_style);
        }
        buf[(axis_col, axis_row)]
            .set_char('└')
            .set_style(self.axis_style);
        let mut labelled_rows = Vec::new();
        for tick in &self.y.ticks {
            if !in_bounds(tick.at, self.y.bounds) {
                continue;
            }
            let row = data.y + cell_of(tick.at, self.y.bounds, data.height, dy, true);
            buf[(axis_col, row)]
                .set_char('┤')
                .set_style(self.axis_style);
            // Two ticks on one row: the first keeps the label.
            if labelled_rows.contains(&row) {
                continue;
            }
            labelled_rows.push(row);
            let w = tick.label.chars().count() as u16;
            buf.set_string(area.x + label_width - w, row, &tick.label, self.axis_style);
        }
        // x labels: centred on their column, skipped where they would touch a neighbour.
        let label_row = axis_row + 1;
        let mut free_from = area.x;
        for tick in &self.x.ticks {
            if !in_bounds(tick.at, self.x.bounds) {
                continue;
            }
            let col = data.x + cell_of(tick.at, self.x.bounds, data.width, dx, false);
            buf[(col, axis_row)]
                .set_char('┬')
                .set_style(self.axis_style);
            let w = tick.label.chars().count() as u16;
            let start = col
                .saturating_sub(w / 2)
                .max(area.x)
                .min(area.right().saturating_sub(w));
            if start < free_from {
                continue;
            }
            buf.set_string(start, label_row, &tick.label, self.axis_style);
            free_from = start + w + 1;
        }
        // The axis name at the right end of the label row, where it fits.
        let name_w = self.x.name.chars().count() as u16;
        if name_w > 0 && area.right() >= free_from + name_w {
            let start = area.right() - name_w;
            if start >= free_from {
                buf.set_string(start, label_row, &self.x.name, self.axis_style);
            }
        }
        Chart::new(self.datasets)
            .x_axis(Axis::default().bounds(self.x.bounds))
            .y_axis(Axis::default().bounds(self.y.bounds))
            .render(data, buf);
        if let Some(x) = self.cursor.filter(|x| in_bounds(*x, self.x.bounds)) {
            let col = data.x + cell_of(x, self.x.bounds, data.width, dx, false);
            for row in data.top()..data.bottom() {
                let cell = &mut buf[(col, row)];
                if cell.symbol() == " " {
                    cell.set_char('┊').set_style(self.axis_style);
                }
            }
            buf[(col, axis_row)]
                .set_char('▲')
                .set_style(self.axis_style);
        }
        Some(PlotArea { data })
    }
}

fn in_bounds(v: f64, [lo, hi]: [f64; 2]) -> bool {
    v >= lo - 1e-12 * (hi - lo).abs() && v <= hi + 1e-12 * (hi - lo).abs()
}

#[cfg(test)]
/// The row (from the data area's top) at which a plot of `height` rows draws `v` with
/// `marker`: what a tick label of `v` must be on.
pub fn row_of(v: f64, bounds: [f64; 2], height: u16, marker: Marker) -> u16 {
    cell_of(v, bounds, height, resolution(marker).1, true)
}

#[cfg(test)]
/// The column (from the data area's left) at which a plot of `width` columns draws `v`.
pub fn col_of(v: f64, bounds: [f64; 2], width: u16, marker: Marker) -> u16 {
    cell_of(v, bounds, width, resolution(marker).0, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::widgets::GraphType;

    fn values(ticks: &[(f64, usize)]) -> Vec<f64> {
        ticks.iter().map(|t| t.0).collect()
    }

    #[test]
    fn ticks_are_round_and_inside() {
        assert_eq!(values(&nice_ticks(-0.23, 1.0, 6)), [0.0, 0.5, 1.0]);
        assert_eq!(
            values(&nice_ticks(-0.23, 1.0, 7)),
            [-0.2, 0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
        );
        assert_eq!(
            values(&nice_ticks(1.0, 50.0, 6)),
            [10.0, 20.0, 30.0, 40.0, 50.0]
        );
        assert_eq!(
            values(&nice_ticks(-2.0, 2.0, 5)),
            [-2.0, -1.0, 0.0, 1.0, 2.0]
        );
        assert!(nice_ticks(1.0, 1.0, 5).is_empty());
        assert!(nice_ticks(0.0, f64::NAN, 5).is_empty());
    }

    #[test]
    fn labels_say_their_value() {
        let axis = AxisSpec::linear(-0.4, 1.0, 4, "");
        let labels: Vec<&str> = axis.ticks.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(labels, ["0", "0.5", "1"]);
        for t in &axis.ticks {
            assert!((t.label.parse::<f64>().unwrap() - t.at).abs() < 1e-12);
        }
        let narrow = AxisSpec::scaled(Scale::Log, 1.2, 2.6, 4, "");
        let labels: Vec<&str> = narrow.ticks.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(labels, ["1.5", "2", "2.5"]);
        for t in &narrow.ticks {
            assert!((t.label.parse::<f64>().unwrap().log10() - t.at).abs() < 1e-12);
        }
        let log = AxisSpec::scaled(Scale::Log, 1e-6, 1.0, 4, "");
        let labels: Vec<&str> = log.ticks.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(labels, ["1e-6", "1e-4", "0.01", "1"]);
        for t in &log.ticks {
            assert!((t.label.parse::<f64>().unwrap().log10() - t.at).abs() < 1e-12);
        }
    }

    #[test]
    fn symlog_keeps_zero_and_negatives() {
        let s = Scale::SymLog { threshold: 1e-3 };
        for v in [-0.7, -1e-3, 0.0, 2e-4, 0.5, 1.0] {
            assert!((s.unmap(s.map(v)) - v).abs() < 1e-12, "{v}");
        }
        assert!(s.map(-0.5) < s.map(0.0) && s.map(0.0) < s.map(1e-3));
        let axis = AxisSpec::scaled(s, -0.5, 1.0, 9, "");
        let labels: Vec<&str> = axis.ticks.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(
            labels,
            ["-0.1", "-0.01", "-1e-3", "0", "1e-3", "0.01", "0.1", "1"]
        );
        for t in &axis.ticks {
            let v: f64 = t.label.parse().unwrap();
            assert!((s.map(v) - t.at).abs() < 1e-12, "{}", t.label);
        }
    }

    /// Draws a flat line at every tick's value and checks that the label's row is the row
    /// the line is drawn on, and each x label sits on the column of a vertical line.
    #[test]
    fn every_label_sits_where_its_value_is_drawn() {
        for marker in [Marker::Braille, Marker::HalfBlock, Marker::Dot] {
            for (w, h) in [(40u16, 12u16), (57, 17), (30, 7)] {
                let x = AxisSpec::linear(1.0, 50.0, 5, "L");
                let most = ticks_for(h - 2);
                let y = AxisSpec::scaled(Scale::SymLog { threshold: 1e-3 }, -0.6, 1.0, most, "");
                let lines: Vec<Vec<(f64, f64)>> = y
                    .ticks
                    .iter()
                    .map(|t| vec![(1.0, t.at), (50.0, t.at)])
                    .collect();
                let verticals: Vec<Vec<(f64, f64)>> = x
                    .ticks
                    .iter()
                    .map(|t| vec![(t.at, y.bounds[0]), (t.at, y.bounds[1])])
                    .collect();
                let datasets = lines
                    .iter()
                    .chain(&verticals)
                    .map(|l| {
                        Dataset::default()
                            .data(l)
                            .marker(marker)
                            .graph_type(GraphType::Line)
                    })
                    .collect();
                let area = Rect::new(0, 0, w, h);
                let mut buf = Buffer::empty(area);
                let plot = Plot {
                    datasets,
                    x: x.clone(),
                    y: y.clone(),
                    marker,
                    axis_style: Style::new(),
                    cursor: None,
                }
                .render(area, &mut buf)
                .unwrap();
                let d = plot.data;
                let cell = |c: u16, r: u16| buf[(c, r)].symbol().to_string();
                let mut drawn = 0;
                for (i, t) in y.ticks.iter().enumerate() {
                    // The label's row: where its text stands left of the axis.
                    let text_row = (0..h).find(|&r| {
                        buf.content[(r * w) as usize..(r * w + d.x - 1) as usize]
                            .iter()
                            .map(|c| c.symbol())
                            .collect::<String>()
                            .trim()
                            == t.label
                    });
                    let expected = row_of(t.at, y.bounds, d.height, marker);
                    let Some(text_row) = text_row else {
                        // Only a tick sharing its row with an earlier, labelled one goes
                        // without its label.
                        assert!(
                            y.ticks[..i]
                                .iter()
                                .any(|u| row_of(u.at, y.bounds, d.height, marker) == expected),
                            "{marker:?} {w}x{h}: label {} not drawn",
                            t.label
                        );
                        continue;
                    };
                    drawn += 1;
                    // A flat line at the value: the data area's middle column is inked there.
                    let mid = d.x + d.width / 2;
                    assert_ne!(
                        cell(mid, text_row).trim(),
                        "",
                        "{marker:?} {w}x{h} {}",
                        t.label
                    );
                    assert_eq!(
                        text_row - d.y,
                        row_of(t.at, y.bounds, d.height, marker),
                        "{marker:?} {w}x{h} label {}",
                        t.label
                    );
                }
                assert!(drawn >= 3, "{marker:?} {w}x{h}: {drawn} labels");
                for t in &x.ticks {
                    let col = d.x + col_of(t.at, x.bounds, d.width, marker);
                    assert_eq!(
                        cell(col, d.bottom()),
                        "┬",
                        "{marker:?} {w}x{h} x={}",
                        t.label
                    );
                    // The vertical line at the value is inked in that column.
                    assert_ne!(cell(col, d.y + d.height / 2).trim(), "");
                }
            }
        }
    }
}
