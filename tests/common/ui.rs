//! The UI without a terminal: a tiny lab, a fixed theme, key presses through the binding
//! table and frames drawn on ratatui's `TestBackend`.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use shatterlab::config::{ColorMode, DeviceKind, LabConfig, MarkerKind};
use shatterlab::ui::app::{Action, State, update};
use shatterlab::ui::effect::Effect;
use shatterlab::ui::keys::command_for;
use shatterlab::ui::theme::Theme;
use shatterlab::ui::view::render;

/// Small enough that a whole sweep takes milliseconds; on the CPU, as `cli::resolve` leaves
/// the default `auto` in a build without CUDA.
pub fn tiny() -> LabConfig {
    LabConfig {
        depth: 4,
        width: 16,
        points: 32,
        nets: 4,
        device: DeviceKind::Cpu,
        ..LabConfig::default()
    }
}

/// Truecolor with braille markers, whatever the environment says.
pub fn theme() -> Theme {
    Theme::new(ColorMode::Truecolor, MarkerKind::Braille, None, None)
}

/// The key event of `code`, with Shift for upper-case letters.
pub fn key(code: KeyCode) -> KeyEvent {
    let modifiers = match code {
        KeyCode::Char(c) if c.is_ascii_uppercase() => KeyModifiers::SHIFT,
        _ => KeyModifiers::NONE,
    };
    KeyEvent::new(code, modifiers)
}

/// Presses one key through the binding table; returns its effects.
pub fn press_key(state: &mut State, code: KeyCode) -> Vec<Effect> {
    let command = command_for(key(code)).unwrap_or_else(|| panic!("{code:?} is unbound"));
    update(state, Action::Key(command))
}

/// Presses the keys of `keys` in order; returns all their effects.
pub fn press_keys(state: &mut State, keys: &str) -> Vec<Effect> {
    keys.chars()
        .flat_map(|c| press_key(state, KeyCode::Char(c)))
        .collect()
}

/// One frame of `state` at `width` x `height`.
pub fn draw(state: &State, width: u16, height: u16) -> TestBackend {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|f| render(state, f)).unwrap();
    terminal.backend().clone()
}

/// The sizes every snapshot is taken at.
pub const SIZES: [(u16, u16); 2] = [(80, 24), (120, 40)];
