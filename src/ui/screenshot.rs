//! A drawn screen (ratatui's cell buffer) as plain text, as ANSI text and as a
//! self-contained SVG: the cell grid with the theme's colours, every glyph (Braille, blocks,
//! box drawing) kept as the character it is. `P`, a script's `snapshot` and `--screenshot`
//! all go through here, so the three always agree.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crossterm::style::{ContentStyle, StyledContent};
use ratatui::buffer::{Buffer, Cell};
use ratatui::prelude::IntoCrossterm;
use ratatui::style::{Color, Modifier};

/// Cell size in SVG user units; a monospace font at 14 px fills it.
const CELL_W: f64 = 8.4;
const CELL_H: f64 = 17.0;
const FONT_SIZE: f64 = 14.0;
/// The terminal's default colours in the SVG (a dark theme).
const DEFAULT_FG: (u8, u8, u8) = (0xd4, 0xd4, 0xd4);
const DEFAULT_BG: (u8, u8, u8) = (0x1e, 0x1e, 0x1e);

/// The formats a screen is saved in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShotFormat {
    Text,
    Ansi,
    Svg,
}

impl ShotFormat {
    pub const ALL: [ShotFormat; 3] = [ShotFormat::Text, ShotFormat::Ansi, ShotFormat::Svg];

    pub fn extension(self) -> &'static str {
        match self {
            ShotFormat::Text => "txt",
            ShotFormat::Ansi => "ansi",
            ShotFormat::Svg => "svg",
        }
    }

    /// The format a file name asks for by its extension.
    pub fn of_path(path: &Path) -> anyhow::Result<Self> {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        Self::ALL
            .into_iter()
            .find(|f| f.extension() == ext)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "invalid --screenshot {}: expected a file ending in .txt, .ansi or .svg",
                    path.display()
                )
            })
    }

    pub fn render(self, buffer: &Buffer) -> String {
        match self {
            ShotFormat::Text => text(buffer),
            ShotFormat::Ansi => ansi(buffer),
            ShotFormat::Svg => svg(buffer),
        }
    }
}

/// `stem.txt`, `stem.ansi` and `stem.svg`.
pub fn paths(stem: &Path) -> Vec<PathBuf> {
    ShotFormat::ALL
        .iter()
        .map(|f| {
            let mut name = stem.as_os_str().to_owned();
            name.push(".");
            name.push(f.extension());
            PathBuf::from(name)
        })
        .collect()
}

/// Saves the screen in all three formats beside `stem`, atomically; an existing file is
/// kept unless `force`.
pub fn save_all(buffer: &Buffer, stem: &Path, force: bool) -> anyhow::Result<()> {
    if let Some(dir) = stem.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    }
    for (path, format) in paths(stem).iter().zip(ShotFormat::ALL) {
        crate::fsio::ensure_new(path, force, "screenshot")?;
        crate::fsio::write_file(path, format.render(buffer).as_bytes())?;
    }
    Ok(())
}

/// The rows of cells, each row's cells in order.
fn rows(buffer: &Buffer) -> impl Iterator<Item = &[Cell]> {
    buffer
        .content()
        .chunks(usize::from(buffer.area.width.max(1)))
}

/// The screen's characters, trailing blanks of each row dropped.
pub fn text(buffer: &Buffer) -> String {
    let mut out = String::new();
    for row in rows(buffer) {
        let line: String = row.iter().map(Cell::symbol).collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The screen with SGR colour and attribute codes, one line per row, for `cat` in a
/// terminal.
pub fn ansi(buffer: &Buffer) -> String {
    let mut out = String::new();
    for row in rows(buffer) {
        for run in runs(row) {
            let mut style: ContentStyle = run.cell.style().into_crossterm();
            // The terminal's own colours need no code.
            if run.cell.fg == Color::Reset {
                style.foreground_color = None;
            }
            if run.cell.bg == Color::Reset {
                style.background_color = None;
            }
            style.underline_color = None;
            let _ = write!(out, "{}", StyledContent::new(style, &run.text));
        }
        out.push('\n');
    }
    out
}

/// Consecutive cells of one style.
struct Run<'a> {
    cell: &'a Cell,
    start: usize,
    text: String,
    len: usize,
}

fn runs(row: &[Cell]) -> Vec<Run<'_>> {
    let mut out: Vec<Run> = Vec::new();
    for (x, cell) in row.iter().enumerate() {
        match out.last_mut() {
            Some(run)
                if run.cell.fg == cell.fg
                    && run.cell.bg == cell.bg
                    && run.cell.modifier == cell.modifier =>
            {
                run.text.push_str(cell.symbol());
                run.len += 1;
            }
            _ => out.push(Run {
                cell,
                start: x,
                text: cell.symbol().to_string(),
                len: 1,
            }),
        }
    }
    out
}

/// A self-contained SVG of the screen: a background, one rectangle per run of cells with a
/// background colour, one `<text>` per run of styled cells with every character placed on
/// its cell (so the grid holds whatever the font's glyph widths).
pub fn svg(buffer: &Buffer) -> String {
    let (w, h) = (buffer.area.width, buffer.area.height);
    let (width, height) = (num(f64::from(w) * CELL_W), num(f64::from(h) * CELL_H));
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="'DejaVu Sans Mono', 'Menlo', 'Consolas', monospace" font-size="{FONT_SIZE}">"#
    );
    let _ = writeln!(out, "<title>shatterlab {w}x{h}</title>");
    let _ = writeln!(
        out,
        r#"<rect width="100%" height="100%" fill="{}"/>"#,
        hex(DEFAULT_BG)
    );
    for (y, row) in rows(buffer).enumerate() {
        let top = y as f64 * CELL_H;
        let row_runs = runs(row);
        for run in &row_runs {
            let (_, bg) = colours(run.cell);
            if bg != DEFAULT_BG {
                let _ = writeln!(
                    out,
                    r#"<rect x="{}" y="{top}" width="{}" height="{CELL_H}" fill="{}"/>"#,
                    num(run.start as f64 * CELL_W),
                    num(run.len as f64 * CELL_W),
                    hex(bg)
                );
            }
        }
        let baseline = num(top + CELL_H * 0.78);
        for run in row_runs.iter().filter(|r| !r.text.trim().is_empty()) {
            let (fg, _) = colours(run.cell);
            let xs: Vec<String> = (0..run.text.chars().count())
                .map(|i| num((run.start + i) as f64 * CELL_W))
                .collect();
            let mut attrs = format!(r#"fill="{}""#, hex(fg));
            if run.cell.modifier.contains(Modifier::BOLD) {
                attrs.push_str(r#" font-weight="bold""#);
            }
            if run.cell.modifier.contains(Modifier::DIM) {
                attrs.push_str(r#" fill-opacity="0.55""#);
            }
            if run.cell.modifier.contains(Modifier::ITALIC) {
                attrs.push_str(r#" font-style="italic""#);
            }
            if run.cell.modifier.contains(Modifier::UNDERLINED) {
                attrs.push_str(r#" text-decoration="underline""#);
            }
            let _ = writeln!(
                out,
                r#"<text x="{}" y="{baseline}" {attrs} xml:space="preserve">{}</text>"#,
                xs.join(" "),
                escape(&run.text)
            );
        }
    }
    out.push_str("</svg>\n");
    out
}

/// Foreground and background of a cell as RGB, reverse video applied.
fn colours(cell: &Cell) -> ((u8, u8, u8), (u8, u8, u8)) {
    let fg = rgb(cell.fg).unwrap_or(DEFAULT_FG);
    let bg = rgb(cell.bg).unwrap_or(DEFAULT_BG);
    if cell.modifier.contains(Modifier::REVERSED) {
        (bg, fg)
    } else {
        (fg, bg)
    }
}

/// A coordinate with at most two decimals (no binary noise such as 25.200000000000003).
fn num(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn hex((r, g, b): (u8, u8, u8)) -> String {
    format!("#{r:02x}{g:02x}{b:02x}")
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// xterm's 16 colours, in ANSI order.
const ANSI16: [(u8, u8, u8); 16] = [
    (0, 0, 0),
    (205, 0, 0),
    (0, 205, 0),
    (205, 205, 0),
    (0, 0, 238),
    (205, 0, 205),
    (0, 205, 205),
    (229, 229, 229),
    (127, 127, 127),
    (255, 0, 0),
    (0, 255, 0),
    (255, 255, 0),
    (92, 92, 255),
    (255, 0, 255),
    (0, 255, 255),
    (255, 255, 255),
];

/// A terminal colour as xterm shows it; None for the default.
fn rgb(color: Color) -> Option<(u8, u8, u8)> {
    let ansi = |i: usize| Some(ANSI16[i]);
    match color {
        Color::Reset => None,
        Color::Black => ansi(0),
        Color::Red => ansi(1),
        Color::Green => ansi(2),
        Color::Yellow => ansi(3),
        Color::Blue => ansi(4),
        Color::Magenta => ansi(5),
        Color::Cyan => ansi(6),
        Color::Gray => ansi(7),
        Color::DarkGray => ansi(8),
        Color::LightRed => ansi(9),
        Color::LightGreen => ansi(10),
        Color::LightYellow => ansi(11),
        Color::LightBlue => ansi(12),
        Color::LightMagenta => ansi(13),
        Color::LightCyan => ansi(14),
        Color::White => ansi(15),
        Color::Rgb(r, g, b) => Some((r, g, b)),
        Color::Indexed(i) => Some(indexed(i)),
    }
}

/// xterm's 256-colour palette: the 16 colours, a 6x6x6 cube, 24 greys.
fn indexed(i: u8) -> (u8, u8, u8) {
    match i {
        0..16 => ANSI16[usize::from(i)],
        16..232 => {
            let level = |v: u8| if v == 0 { 0 } else { 55 + 40 * v };
            let c = i - 16;
            (level(c / 36), level(c / 6 % 6), level(c % 6))
        }
        _ => {
            let v = 8 + 10 * (i - 232);
            (v, v, v)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::layout::Rect;
    use ratatui::style::Style;

    fn screen() -> Buffer {
        let mut b = Buffer::empty(Rect::new(0, 0, 6, 2));
        b.set_string(0, 0, "a<⣿▒", Style::new().fg(Color::Rgb(255, 0, 0)));
        b.set_string(0, 1, "ok", Style::new().add_modifier(Modifier::REVERSED));
        b
    }

    #[test]
    fn text_keeps_glyphs_and_drops_trailing_blanks() {
        assert_eq!(text(&screen()), "a<⣿▒\nok\n");
    }

    #[test]
    fn ansi_colours_the_runs() {
        let a = ansi(&screen());
        assert!(a.contains("\x1b[38;2;255;0;0ma<⣿▒"), "{a:?}");
        assert!(a.contains("\x1b[7mok"), "{a:?}");
    }

    #[test]
    fn svg_places_each_character_on_its_cell() {
        let s = svg(&screen());
        assert!(s.contains(r##"fill="#ff0000""##), "{s}");
        assert!(s.contains(">a&lt;⣿▒</text>"), "{s}");
        assert!(s.contains(r#"x="0 8.4 16.8 25.2""#), "{s}");
        // The reversed run: a light rectangle under dark text.
        assert!(
            s.contains(r##"width="16.8" height="17" fill="#d4d4d4""##),
            "{s}"
        );
    }

    #[test]
    fn the_palette_is_xterms() {
        assert_eq!(indexed(16), (0, 0, 0));
        assert_eq!(indexed(196), (255, 0, 0));
        assert_eq!(indexed(231), (255, 255, 255));
        assert_eq!(indexed(244), (128, 128, 128));
    }

    #[test]
    fn a_format_comes_from_the_extension() {
        assert_eq!(
            ShotFormat::of_path(Path::new("a.svg")).unwrap(),
            ShotFormat::Svg
        );
        let err = ShotFormat::of_path(Path::new("a.png")).unwrap_err();
        assert!(err.to_string().contains(".txt, .ansi or .svg"), "{err}");
    }
}
