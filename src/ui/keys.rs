//! The key binding table: the handler, the footer hints and the help overlay all read it,
//! so they cannot disagree.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::ui::command::Command;
use crate::ui::lab::{Preset, Toggle};

/// A key with the modifiers that matter (Shift is implied by the character itself).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub ctrl: bool,
}

const fn key(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        ctrl: false,
    }
}

const fn code(code: KeyCode) -> Key {
    Key { code, ctrl: false }
}

pub struct Binding {
    pub keys: &'static [Key],
    pub command: Command,
    pub help: &'static str,
    /// Short label for the footer; None keeps the binding to the help overlay.
    pub hint: Option<&'static str>,
}

const fn bind(
    keys: &'static [Key],
    command: Command,
    help: &'static str,
    hint: Option<&'static str>,
) -> Binding {
    Binding {
        keys,
        command,
        help,
        hint,
    }
}

const fn preset(c: &'static [Key], p: Preset) -> Binding {
    bind(c, Command::Preset(p), p.title(), None)
}

pub const BINDINGS: &[Binding] = &[
    bind(
        &[key('s')],
        Command::Toggle(Toggle::Skip),
        "skip connections (ff ↔ resnet)",
        Some("skips"),
    ),
    bind(
        &[key('b')],
        Command::Toggle(Toggle::Bn),
        "batch norm on/off",
        Some("BN"),
    ),
    bind(
        &[key('l')],
        Command::Toggle(Toggle::Ll),
        "looks-linear init + CReLU",
        Some("LL"),
    ),
    bind(
        &[key('[')],
        Command::BetaDown,
        "β down (branch scale)",
        None,
    ),
    bind(&[key(']')], Command::BetaUp, "β up", Some("β")),
    bind(&[key('-')], Command::DepthDown, "depth down", None),
    bind(
        &[key('+'), key('=')],
        Command::DepthUp,
        "depth up",
        Some("depth"),
    ),
    bind(&[key('w')], Command::Width, "cycle width", None),
    bind(
        &[key('i')],
        Command::Inputs,
        "inputs: 1-D grid ↔ independent",
        None,
    ),
    // No footer hint: the 80-column footer keeps room for the tab key and help.
    bind(&[key('r')], Command::NewSeed, "new seed", None),
    bind(
        &[key('R')],
        Command::Reset,
        "reset to start-up settings",
        None,
    ),
    bind(
        &[code(KeyCode::Char(' '))],
        Command::Pause,
        "pause/resume the sweep",
        Some("pause"),
    ),
    bind(&[key('.')], Command::Step, "step one depth (pauses)", None),
    bind(
        &[key('a')],
        Command::AbView,
        "A/B: B flips the last toggle",
        Some("A/B"),
    ),
    preset(&[key('1')], Preset::Fig1),
    preset(&[key('2')], Preset::Fig2a),
    preset(&[key('3')], Preset::Fig2b),
    preset(&[key('4')], Preset::Fig2c),
    preset(&[key('5')], Preset::Activity),
    preset(&[key('6')], Preset::Covariance),
    bind(
        &[code(KeyCode::Tab)],
        Command::FocusNext,
        "focus next pane",
        None,
    ),
    bind(
        &[code(KeyCode::BackTab)],
        Command::FocusPrev,
        "focus previous pane",
        None,
    ),
    bind(
        &[key('z'), code(KeyCode::Enter)],
        Command::Zoom,
        "zoom the focused pane",
        Some("zoom"),
    ),
    bind(
        &[code(KeyCode::Left)],
        Command::Shallower,
        "show a shallower depth",
        None,
    ),
    bind(
        &[code(KeyCode::Right)],
        Command::Deeper,
        "show a deeper depth",
        None,
    ),
    bind(
        &[key('y')],
        Command::LogY,
        "log-y: correlation vs depth",
        None,
    ),
    bind(
        &[key('o')],
        Command::Estimator,
        "readout: integrated ↔ random",
        None,
    ),
    bind(
        &[key('t')],
        Command::SwitchTab,
        "lab ↔ CIFAR-10 training tab",
        Some("tab"),
    ),
    bind(
        &[key('n')],
        Command::QueueRun,
        "queue a run of the toggles",
        Some("queue"),
    ),
    bind(
        &[key('p')],
        Command::PauseRun,
        "pause/resume the selected run",
        Some("pause"),
    ),
    bind(
        &[key('x')],
        Command::StopRun,
        "stop the selected run",
        Some("stop"),
    ),
    bind(
        &[code(KeyCode::Up), key('k')],
        Command::SelectUp,
        "select the run above",
        None,
    ),
    bind(
        &[code(KeyCode::Down), key('j')],
        Command::SelectDown,
        "select the run below",
        None,
    ),
    bind(
        &[key('c')],
        Command::Compare,
        "compare: show/hide in charts",
        None,
    ),
    bind(
        &[key('d')],
        Command::Download,
        "download missing CIFAR-10",
        None,
    ),
    bind(
        &[key('P')],
        Command::Screenshot,
        "screenshot (txt, ansi, svg)",
        None,
    ),
    bind(
        &[key('E')],
        Command::Export,
        "export data (JSON) + figure",
        None,
    ),
    bind(&[key('?')], Command::Help, "this help", Some("help")),
    bind(
        &[code(KeyCode::Esc)],
        Command::Close,
        "close overlay / unzoom",
        None,
    ),
    bind(
        &[
            key('q'),
            Key {
                code: KeyCode::Char('c'),
                ctrl: true,
            },
        ],
        Command::Quit,
        "quit",
        Some("quit"),
    ),
];

/// The command bound to a key press; releases and repeats are ignored.
pub fn command_for(event: KeyEvent) -> Option<Command> {
    if event.kind != KeyEventKind::Press {
        return None;
    }
    let pressed = Key {
        code: event.code,
        ctrl: event.modifiers.contains(KeyModifiers::CONTROL),
    };
    BINDINGS
        .iter()
        .find(|b| b.keys.contains(&pressed))
        .map(|b| b.command)
}

/// How a key is written in the help and footer.
pub fn label(k: Key) -> String {
    let name = match k.code {
        KeyCode::Char(' ') => "Space".to_string(),
        KeyCode::Char(c) => c.to_string(),
        KeyCode::Tab => "Tab".to_string(),
        KeyCode::BackTab => "S-Tab".to_string(),
        KeyCode::Enter => "Enter".to_string(),
        KeyCode::Left => "←".to_string(),
        KeyCode::Right => "→".to_string(),
        KeyCode::Up => "↑".to_string(),
        KeyCode::Down => "↓".to_string(),
        KeyCode::Esc => "Esc".to_string(),
        other => format!("{other:?}"),
    };
    if k.ctrl {
        format!("Ctrl-{}", name.to_uppercase())
    } else {
        name
    }
}

/// All keys of a binding, e.g. "z/Enter".
pub fn labels(b: &Binding) -> String {
    b.keys
        .iter()
        .map(|k| label(*k))
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::KeyEventState;

    fn press(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent {
            code,
            modifiers,
            kind: KeyEventKind::Press,
            state: KeyEventState::NONE,
        }
    }

    #[test]
    fn every_key_is_bound_once() {
        let keys: Vec<Key> = BINDINGS
            .iter()
            .flat_map(|b| b.keys.iter().copied())
            .collect();
        for (i, k) in keys.iter().enumerate() {
            assert!(!keys[i + 1..].contains(k), "{} bound twice", label(*k));
        }
    }

    #[test]
    fn presses_map_and_releases_do_not() {
        assert_eq!(
            command_for(press(KeyCode::Char('R'), KeyModifiers::SHIFT)),
            Some(Command::Reset)
        );
        assert_eq!(
            command_for(press(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(Command::Quit)
        );
        assert_eq!(
            command_for(press(KeyCode::Char('c'), KeyModifiers::NONE)),
            Some(Command::Compare)
        );
        assert_eq!(
            command_for(press(KeyCode::Char('v'), KeyModifiers::NONE)),
            None
        );
        let mut release = press(KeyCode::Char('q'), KeyModifiers::NONE);
        release.kind = KeyEventKind::Release;
        assert_eq!(command_for(release), None);
    }
}
