//! Colours for the chosen depth, and the fallbacks that keep every pane readable without
//! colour: heatmap cells become shade characters, reference curves get their own marker.

use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::Marker;

use crate::config::{ColorMode, MarkerKind};

/// The colour depth actually used once `auto` and `NO_COLOR` are resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Palette {
    Mono,
    Ansi16,
    Ansi256,
    Rgb,
}

/// Shade characters for heatmap levels when there is no colour, lightest first.
pub const SHADES: [char; 5] = [' ', '░', '▒', '▓', '█'];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Theme {
    pub palette: Palette,
    pub marker: Marker,
}

impl Theme {
    /// Resolves `--color`: `auto` honours a non-empty `NO_COLOR` and a `COLORTERM` that
    /// announces 24-bit colour, and otherwise assumes 256 colours.
    pub fn new(
        mode: ColorMode,
        marker: MarkerKind,
        no_color: Option<&str>,
        colorterm: Option<&str>,
    ) -> Self {
        let palette = match mode {
            ColorMode::Never => Palette::Mono,
            ColorMode::Ansi16 => Palette::Ansi16,
            ColorMode::Ansi256 => Palette::Ansi256,
            ColorMode::Truecolor => Palette::Rgb,
            ColorMode::Auto if no_color.is_some_and(|v| !v.is_empty()) => Palette::Mono,
            ColorMode::Auto if matches!(colorterm, Some("truecolor" | "24bit")) => Palette::Rgb,
            ColorMode::Auto => Palette::Ansi256,
        };
        let marker = match marker {
            MarkerKind::Braille => Marker::Braille,
            MarkerKind::Halfblock => Marker::HalfBlock,
            MarkerKind::Dot => Marker::Dot,
        };
        Self { palette, marker }
    }

    /// Reads `NO_COLOR` and `COLORTERM` from the environment.
    pub fn from_env(mode: ColorMode, marker: MarkerKind) -> Self {
        let no_color = std::env::var("NO_COLOR").ok();
        let colorterm = std::env::var("COLORTERM").ok();
        Self::new(mode, marker, no_color.as_deref(), colorterm.as_deref())
    }

    pub fn has_color(&self) -> bool {
        self.palette != Palette::Mono
    }

    /// Style of a foreground colour given as RGB, degraded to the palette.
    pub fn fg(&self, rgb: (u8, u8, u8)) -> Style {
        match self.color(rgb) {
            Some(c) => Style::new().fg(c),
            None => Style::new(),
        }
    }

    /// An RGB colour in the palette; None without colour.
    pub fn color(&self, (r, g, b): (u8, u8, u8)) -> Option<Color> {
        match self.palette {
            Palette::Mono => None,
            Palette::Rgb => Some(Color::Rgb(r, g, b)),
            Palette::Ansi256 => {
                let level = |v: u8| (u16::from(v) * 5 + 127) / 255;
                Some(Color::Indexed(
                    (16 + 36 * level(r) + 6 * level(g) + level(b)) as u8,
                ))
            }
            Palette::Ansi16 => Some(nearest_ansi16(r, g, b)),
        }
    }

    /// The i-th of `n` series ordered from shallow to deep: warm (shallow, smooth) to cool
    /// (deep, shattered).
    pub fn series(&self, i: usize, n: usize) -> Style {
        let t = if n <= 1 {
            0.0
        } else {
            i as f64 / (n - 1) as f64
        };
        self.fg(ramp(&SERIES_RAMP, t))
    }

    /// How the i-th training run (0-based) is drawn: each of the run colours that stay
    /// distinct in this palette once, then all of them again with the next chart glyph;
    /// without colour only the glyphs tell runs apart.
    pub fn run(&self, i: usize) -> RunLook {
        let mut colours: Vec<Color> = Vec::with_capacity(RUN_COLOURS.len());
        for c in RUN_COLOURS.iter().filter_map(|&rgb| self.color(rgb)) {
            if !colours.contains(&c) {
                colours.push(c);
            }
        }
        let mut markers = vec![self.marker];
        markers.extend(RUN_MARKERS.iter().filter(|&&m| m != self.marker));
        let n = colours.len().max(1);
        RunLook {
            style: colours
                .get(i % n)
                .map_or(Style::new(), |&c| Style::new().fg(c)),
            marker: markers[(i / n) % markers.len()],
        }
    }

    /// Secondary curves (depth-1 trace, reference noises): dimmed so the subject stands out.
    pub fn dim(&self) -> Style {
        Style::new().add_modifier(Modifier::DIM)
    }

    /// The marker of the i-th of several series: the theme's own where colours tell them
    /// apart, else a different glyph each, so curves stay distinct without colour.
    pub fn series_marker(&self, i: usize) -> Marker {
        const GLYPHS: [Marker; 5] = [
            Marker::Dot,
            Marker::Custom('+'),
            Marker::Custom('x'),
            Marker::Custom('o'),
            Marker::Custom('*'),
        ];
        match (self.has_color(), i) {
            (true, _) | (false, 0) => self.marker,
            (false, i) => GLYPHS[(i - 1) % GLYPHS.len()],
        }
    }

    /// The glyph a legend shows for a series drawn with `marker`: a line where colour
    /// tells series apart, else the marker's own character.
    pub fn legend_glyph(&self, marker: Marker) -> char {
        match (self.has_color(), marker) {
            (false, Marker::Dot) => '•',
            (false, Marker::Braille) => '⣀',
            (false, Marker::Custom(c)) => c,
            _ => '─',
        }
    }

    /// Axis lines, ticks and their labels.
    pub fn axis(&self) -> Style {
        Style::new()
    }

    /// Marker of reference curves: distinct from the data's when colour cannot tell them apart.
    pub fn reference_marker(&self) -> Marker {
        if self.has_color() {
            self.marker
        } else {
            Marker::Custom('·')
        }
    }

    /// Border of the focused pane.
    pub fn focus(&self) -> Style {
        self.fg(ACCENT).add_modifier(Modifier::BOLD)
    }

    pub fn accent(&self) -> Style {
        self.fg(ACCENT)
    }

    pub fn brown(&self) -> Style {
        self.fg((176, 120, 64))
    }

    pub fn white_noise(&self) -> Style {
        self.fg((170, 170, 170))
    }

    /// A run that diverged or failed.
    pub fn alert(&self) -> Style {
        self.fg((230, 40, 40))
    }

    /// The infinite-width limit of the lab's nets: the theory that holds on the grid.
    pub fn limit(&self) -> Style {
        self.fg((230, 110, 230))
    }

    pub fn theory(&self) -> Style {
        self.fg((240, 220, 90))
    }

    /// Colour of a correlation in [-1, 1] on a diverging blue - black - red scale.
    pub fn heat(&self, v: f64) -> Option<Color> {
        let t = ((v.clamp(-1.0, 1.0) + 1.0) / 2.0).clamp(0.0, 1.0);
        self.color(ramp(&HEAT_RAMP, t))
    }

    /// Shade character of a correlation in [-1, 1], for the colourless heatmap.
    pub fn shade(v: f64) -> char {
        let t = (v.clamp(-1.0, 1.0) + 1.0) / 2.0;
        SHADES[((t * SHADES.len() as f64) as usize).min(SHADES.len() - 1)]
    }
}

/// A training run's colour and chart glyph.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunLook {
    pub style: Style,
    pub marker: Marker,
}

impl RunLook {
    /// The glyph a flat stretch of the run's curve is drawn with, for its legend entry.
    pub fn glyph(&self) -> char {
        match self.marker {
            Marker::Dot => '•',
            Marker::Block => '█',
            Marker::Bar => '▄',
            Marker::Braille => '⣀',
            Marker::Quadrant => '▚',
            _ => '▀',
        }
    }
}

const ACCENT: (u8, u8, u8) = (90, 200, 250);
/// Qualitative run colours, on steps of the 256-colour cube (multiples of 51) so that
/// quantising keeps all eight apart: orange, blue, green, yellow, magenta, cyan, violet,
/// silver.
const RUN_COLOURS: [(u8, u8, u8); 8] = [
    (255, 153, 51),
    (51, 153, 255),
    (102, 204, 51),
    (255, 255, 51),
    (255, 51, 204),
    (51, 255, 255),
    (153, 102, 255),
    (204, 204, 204),
];
/// Chart glyphs that tell runs of one colour apart, after the user's own.
/// Thin ones first: a later run's curve is drawn over an earlier one's.
const RUN_MARKERS: [Marker; 4] = [Marker::Braille, Marker::Dot, Marker::Quadrant, Marker::Bar];
const SERIES_RAMP: [(u8, u8, u8); 4] = [
    (250, 110, 80),
    (245, 200, 70),
    (110, 210, 120),
    (90, 150, 250),
];
const HEAT_RAMP: [(u8, u8, u8); 5] = [
    (40, 80, 220),
    (80, 160, 240),
    (20, 20, 20),
    (240, 150, 60),
    (230, 40, 40),
];

/// Piecewise-linear interpolation along a colour ramp, t in [0, 1].
fn ramp(stops: &[(u8, u8, u8)], t: f64) -> (u8, u8, u8) {
    let x = t.clamp(0.0, 1.0) * (stops.len() - 1) as f64;
    let i = (x as usize).min(stops.len() - 2);
    let f = x - i as f64;
    let mix = |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * f).round() as u8;
    let (a, b) = (stops[i], stops[i + 1]);
    (mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

fn nearest_ansi16(r: u8, g: u8, b: u8) -> Color {
    const TABLE: [(Color, (u8, u8, u8)); 12] = [
        (Color::Black, (0, 0, 0)),
        (Color::Red, (205, 0, 0)),
        (Color::Green, (0, 205, 0)),
        (Color::Yellow, (205, 205, 0)),
        (Color::Blue, (0, 0, 238)),
        (Color::Cyan, (0, 205, 205)),
        (Color::Gray, (229, 229, 229)),
        (Color::DarkGray, (127, 127, 127)),
        (Color::LightRed, (255, 0, 0)),
        (Color::LightGreen, (0, 255, 0)),
        (Color::LightYellow, (255, 255, 0)),
        (Color::LightBlue, (92, 92, 255)),
    ];
    let dist = |(cr, cg, cb): (u8, u8, u8)| {
        let d = |a: u8, b: u8| (i32::from(a) - i32::from(b)).pow(2);
        d(r, cr) + d(g, cg) + d(b, cb)
    };
    TABLE
        .iter()
        .min_by_key(|(_, rgb)| dist(*rgb))
        .map_or(Color::Reset, |(c, _)| *c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_color_wins_under_auto_only() {
        let t = Theme::new(
            ColorMode::Auto,
            MarkerKind::Braille,
            Some("1"),
            Some("truecolor"),
        );
        assert_eq!(t.palette, Palette::Mono);
        let t = Theme::new(
            ColorMode::Auto,
            MarkerKind::Braille,
            Some(""),
            Some("truecolor"),
        );
        assert_eq!(t.palette, Palette::Rgb);
        let t = Theme::new(ColorMode::Ansi16, MarkerKind::Dot, Some("1"), None);
        assert_eq!((t.palette, t.marker), (Palette::Ansi16, Marker::Dot));
        assert_eq!(
            Theme::new(ColorMode::Auto, MarkerKind::Braille, None, None).palette,
            Palette::Ansi256
        );
    }

    #[test]
    fn eight_runs_differ_in_colour_then_in_glyph() {
        for mode in [ColorMode::Truecolor, ColorMode::Ansi256] {
            let t = Theme::new(mode, MarkerKind::Braille, None, None);
            let looks: Vec<RunLook> = (0..8).map(|i| t.run(i)).collect();
            for (i, a) in looks.iter().enumerate() {
                assert_eq!(a.marker, Marker::Braille);
                for b in &looks[i + 1..] {
                    assert_ne!(a.style.fg, b.style.fg, "{mode:?}: run colours repeat");
                }
            }
            // The ninth run takes the first colour with the next glyph.
            assert_eq!(t.run(8).style, looks[0].style);
            assert_eq!(t.run(8).marker, Marker::Dot);
        }
        // Sixteen colours merge some hues: the glyph changes where the colours run out.
        let t = Theme::new(ColorMode::Ansi16, MarkerKind::Dot, None, None);
        let n = (0..8)
            .map(|i| t.run(i))
            .take_while(|l| l.marker == Marker::Dot)
            .count();
        assert!((4..8).contains(&n), "{n} ANSI-16 run colours");
        assert_eq!(t.run(n).marker, Marker::Braille);
        assert_eq!(t.run(n).style, t.run(0).style);
        // Without colour the glyphs alone differ, the user's first.
        let t = Theme::new(ColorMode::Never, MarkerKind::Halfblock, None, None);
        let glyphs: Vec<char> = (0..5).map(|i| t.run(i).glyph()).collect();
        assert_eq!(glyphs, ['▀', '⣀', '•', '▚', '▄']);
        assert!((0..5).all(|i| t.run(i).style == Style::new()));
    }

    #[test]
    fn shades_span_the_correlation_range() {
        assert_eq!(Theme::shade(-1.0), ' ');
        assert_eq!(Theme::shade(0.0), '▒');
        assert_eq!(Theme::shade(1.0), '█');
        assert_eq!(Theme::shade(f64::NAN), ' ');
    }
}
