//! Figures as files: one drawing routine rendered twice by plotters, to SVG and to an RGB
//! buffer encoded as PNG. Text is laid out with the DejaVu Sans font shipped in `assets/`
//! (Bitstream Vera licence), so a PNG looks the same whatever fonts the machine has. Each
//! file carries its caption (settings and seed) in the image and in its metadata.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

/// The font every figure's text is set in.
static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";
/// Caption lines: their height, and the width of a character, roughly, at 13 px.
const CAPTION_LINE: u32 = 18;
const CAPTION_CHAR: u32 = 7;

/// Registers the embedded font with plotters; idempotent.
fn font() -> anyhow::Result<()> {
    static REGISTERED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    anyhow::ensure!(ok, "cannot load the embedded figure font");
    Ok(())
}

/// A curve: its name in the legend, its points and its colour.
pub struct Curve {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub color: RGBColor,
    /// Drawn dashed-light (references such as noise or theory).
    pub reference: bool,
    /// A shaded band (x, low, high) under the line, e.g. ± one standard error.
    pub band: Vec<(f64, f64, f64)>,
}

/// What one panel draws.
pub enum Panel {
    Lines {
        title: String,
        x_label: String,
        y_label: String,
        curves: Vec<Curve>,
        log_y: bool,
    },
    /// A square matrix, row-major, values in [-1, 1].
    Heatmap {
        title: String,
        side: usize,
        cells: Vec<f64>,
    },
}

/// A figure: panels in a grid of `columns`, a caption under them.
pub struct Figure {
    pub name: String,
    pub panels: Vec<Panel>,
    pub columns: usize,
    pub caption: String,
    pub size: (u32, u32),
}

impl Figure {
    /// Writes `DIR/name.svg` and `DIR/name.png`, atomically; existing files are kept unless
    /// `force`.
    pub fn write(&self, dir: &Path, force: bool) -> anyhow::Result<()> {
        let svg_path = dir.join(format!("{}.svg", self.name));
        let png_path = dir.join(format!("{}.png", self.name));
        crate::fsio::ensure_new(&svg_path, force, "figure")?;
        crate::fsio::ensure_new(&png_path, force, "figure")?;
        crate::fsio::write_file(&svg_path, self.svg()?.as_bytes())?;
        crate::fsio::write_file(&png_path, &self.png()?)
    }

    /// The SVG, with the caption also in `<desc>` for readers of the file.
    pub fn svg(&self) -> anyhow::Result<String> {
        font()?;
        let mut out = String::new();
        {
            let root = SVGBackend::with_string(&mut out, self.size).into_drawing_area();
            self.draw(&root)?;
            root.present().map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        let desc = format!("<desc>{}</desc>", xml_escape(&self.caption));
        Ok(match out.find('>') {
            Some(end) => format!("{}{desc}{}", &out[..=end], &out[end + 1..]),
            None => out,
        })
    }

    /// The PNG, with the caption in a `Description` text chunk.
    pub fn png(&self) -> anyhow::Result<Vec<u8>> {
        font()?;
        let (w, h) = self.size;
        let mut rgb = vec![0u8; (w * h * 3) as usize];
        {
            let root = BitMapBackend::with_buffer(&mut rgb, self.size).into_drawing_area();
            self.draw(&root)?;
            root.present().map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, w, h);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.add_itxt_chunk("Title".into(), self.name.clone())?;
        // UTF-8 (iTXt): captions hold β.
        encoder.add_itxt_chunk("Description".into(), self.caption.clone())?;
        encoder.add_text_chunk("Software".into(), "shatterlab figures".into())?;
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&rgb)?;
        writer.finish()?;
        Ok(out)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()>
    where
        DB::ErrorType: 'static,
    {
        let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow::anyhow!("drawing: {e:?}");
        root.fill(&WHITE).map_err(err)?;
        let caption_lines = wrap(&self.caption, (self.size.0 / CAPTION_CHAR).max(20) as usize);
        let caption_height = 12 + CAPTION_LINE * caption_lines.len() as u32;
        let (body, caption) = root.split_vertically(self.size.1.saturating_sub(caption_height));
        let style = (FAMILY, 13).into_font().color(&BLACK.mix(0.8));
        for (i, line) in caption_lines.iter().enumerate() {
            let y = 8 + (CAPTION_LINE * i as u32) as i32;
            caption.draw_text(line, &style, (10, y)).map_err(err)?;
        }
        let rows = self.panels.len().div_ceil(self.columns.max(1));
        let areas = body.split_evenly((rows, self.columns.max(1)));
        for (panel, area) in self.panels.iter().zip(&areas) {
            match panel {
                Panel::Lines {
                    title,
                    x_label,
                    y_label,
                    curves,
                    log_y,
                } => lines(area, title, x_label, y_label, curves, *log_y).map_err(err)?,
                Panel::Heatmap { title, side, cells } => {
                    heatmap(area, title, *side, cells).map_err(err)?
                }
            }
        }
        Ok(())
    }
}

type DrawResult<E> = Result<(), DrawingAreaErrorKind<E>>;

fn lines<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    x_label: &str,
    y_label: &str,
    curves: &[Curve],
    log_y: bool,
) -> DrawResult<DB::ErrorType> {
    let bands = curves
        .iter()
        .flat_map(|c| c.band.iter().flat_map(|&(x, lo, hi)| [(x, lo), (x, hi)]));
    let all = curves
        .iter()
        .flat_map(|c| c.points.iter().copied())
        .chain(bands);
    let finite: Vec<(f64, f64)> = all
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    // A log axis has no place for values at or below zero: rather than drop them, such a
    // panel is drawn on a linear axis, and its label says so.
    let wanted_log = log_y;
    let log_y = log_y && finite.iter().all(|p| p.1 > 0.0);
    let y_label = if wanted_log && !log_y {
        format!(
            "{} (linear: values ≤ 0)",
            y_label.trim_end_matches(" (log)")
        )
    } else {
        y_label.to_string()
    };
    let y_label = y_label.as_str();
    let (x0, x1) = range(finite.iter().map(|p| p.0));
    let (y0, y1) = range(finite.iter().map(|p| p.1));
    let mut builder = ChartBuilder::on(area);
    builder
        .caption(title, (FAMILY, 16))
        .margin(8)
        .x_label_area_size(36)
        .y_label_area_size(56);
    if log_y {
        let mut chart = builder.build_cartesian_2d(x0..x1, (y0..y1).log_scale())?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .y_label_formatter(&|v| format!("{v:.0e}"))
            .label_style((FAMILY, 12))
            .draw()?;
        draw_curves(&mut chart, curves, log_y)
    } else {
        let mut chart = builder.build_cartesian_2d(x0..x1, y0..y1)?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .label_style((FAMILY, 12))
            .draw()?;
        draw_curves(&mut chart, curves, log_y)
    }
}

/// The curves, with a dot on each point of short ones (a one-epoch curve is one point),
/// then the legend.
fn draw_curves<'a, DB, X, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    curves: &[Curve],
    log_y: bool,
) -> DrawResult<DB::ErrorType>
where
    DB: DrawingBackend + 'a,
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    let keep = |p: &&(f64, f64)| p.0.is_finite() && p.1.is_finite() && (!log_y || p.1 > 0.0);
    for c in curves.iter().filter(|c| c.band.len() >= 2) {
        // The band's outline: the upper edge left to right, then the lower one back.
        let outline: Vec<(f64, f64)> = c
            .band
            .iter()
            .map(|&(x, _, hi)| (x, hi))
            .chain(c.band.iter().rev().map(|&(x, lo, _)| (x, lo)))
            .collect();
        if outline.iter().all(|p| keep(&p)) {
            chart.draw_series(std::iter::once(Polygon::new(outline, c.color.mix(0.18))))?;
        }
    }
    for c in curves {
        let style = c.color.stroke_width(if c.reference { 1 } else { 2 });
        chart
            .draw_series(LineSeries::new(
                c.points.iter().filter(keep).copied(),
                style,
            ))?
            .label(c.name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], style));
        if c.points.len() <= SHORT && !c.reference {
            chart.draw_series(
                c.points
                    .iter()
                    .filter(keep)
                    .map(|p| Circle::new(*p, 3, c.color.filled())),
            )?;
        }
    }
    legend(chart, curves.len())
}

/// Curves with at most this many points get a dot on each.
const SHORT: usize = 40;

/// The legend, when there is more than one curve to tell apart.
fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    curves: usize,
) -> DrawResult<DB::ErrorType> {
    if curves < 2 {
        return Ok(());
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK.mix(0.3))
        .label_font((FAMILY, 12))
        .draw()
}

fn heatmap<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    side: usize,
    cells: &[f64],
) -> DrawResult<DB::ErrorType> {
    let n = side as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FAMILY, 16))
        .margin(8)
        .x_label_area_size(30)
        .y_label_area_size(40)
        .build_cartesian_2d(0.0..n, n..0.0)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("point j (pooled)")
        .y_desc("point i")
        .label_style((FAMILY, 12))
        .draw()?;
    chart.draw_series(cells.iter().enumerate().map(|(k, v)| {
        let (i, j) = ((k / side) as f64, (k % side) as f64);
        Rectangle::new([(j, i), (j + 1.0, i + 1.0)], diverging(*v).filled())
    }))?;
    Ok(())
}

/// Blue (-1) through white (0) to red (+1).
fn diverging(v: f64) -> RGBColor {
    let t = if v.is_finite() {
        v.clamp(-1.0, 1.0)
    } else {
        0.0
    };
    let fade = |c: f64| (255.0 - (255.0 - c) * t.abs()).round() as u8;
    if t >= 0.0 {
        RGBColor(fade(200.0), fade(30.0), fade(40.0))
    } else {
        RGBColor(fade(30.0), fade(70.0), fade(200.0))
    }
}

/// A padded range of `values`; (0, 1) when there are none.
fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !lo.is_finite() || !hi.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo < f64::EPSILON * hi.abs().max(1.0) {
        return (lo - 0.5, hi + 0.5);
    }
    (lo, hi)
}

/// `text` in lines of at most `width` characters, broken between words.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        match lines.last_mut() {
            Some(line) if line.chars().count() + 1 + word.chars().count() <= width => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_string()),
        }
    }
    lines
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The colour of series `i` of `n`: warm (shallow) to cool (deep), as in the TUI.
pub fn series_color(i: usize, n: usize) -> RGBColor {
    const RAMP: [(f64, f64, f64); 4] = [
        (230.0, 120.0, 30.0),
        (200.0, 40.0, 90.0),
        (110.0, 50.0, 170.0),
        (30.0, 90.0, 200.0),
    ];
    let t = if n <= 1 {
        0.0
    } else {
        i as f64 / (n - 1) as f64
    } * (RAMP.len() - 1) as f64;
    let k = (t.floor() as usize).min(RAMP.len() - 2);
    let f = t - k as f64;
    let mix = |a: f64, b: f64| (a + (b - a) * f).round() as u8;
    let (a, b) = (RAMP[k], RAMP[k + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

#[cfg(test)]
mod tests {
    #[test]
    fn captions_wrap_between_words() {
        assert_eq!(super::wrap("ab cd ef", 5), vec!["ab cd", "ef"]);
        assert_eq!(super::wrap("abcdefg h", 3), vec!["abcdefg", "h"]);
    }
}
