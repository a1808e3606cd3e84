//! The command table: everything a key can ask for, and the tab each acts on. `keys.rs`
//! binds keys to these; `app::update` carries them out.

use crate::ui::lab::{Preset, Toggle};

/// The two screens: the 1-D lab and CIFAR-10 training.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tab {
    Lab,
    Train,
}

/// Which tab a command acts on; the footer and help show only the current tab's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Both,
    Lab,
    Train,
}

impl Scope {
    pub fn includes(self, tab: Tab) -> bool {
        match self {
            Scope::Both => true,
            Scope::Lab => tab == Tab::Lab,
            Scope::Train => tab == Tab::Train,
        }
    }
}

/// Everything a key can ask for; `keys.rs` maps keys to these.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    Toggle(Toggle),
    BetaDown,
    BetaUp,
    DepthUp,
    DepthDown,
    Width,
    NewSeed,
    Reset,
    Pause,
    Step,
    AbView,
    Preset(Preset),
    FocusNext,
    FocusPrev,
    Zoom,
    Shallower,
    Deeper,
    LogY,
    Estimator,
    Inputs,
    Help,
    Close,
    Quit,
    SwitchTab,
    QueueRun,
    PauseRun,
    StopRun,
    SelectUp,
    SelectDown,
    Compare,
    Download,
    /// Save the screen (text, ANSI and SVG); the event loop does the writing.
    Screenshot,
    /// Export the panes' data and the runs as JSON; the event loop does the writing.
    Export,
}

impl Command {
    /// The tab the command acts on. The toggles, depth and seed act on both: on the training
    /// tab they set up the next run (and the lab's panes follow).
    pub fn scope(self) -> Scope {
        match self {
            Command::Toggle(_)
            | Command::DepthUp
            | Command::DepthDown
            | Command::NewSeed
            | Command::SwitchTab
            | Command::Help
            | Command::Screenshot
            | Command::Export
            | Command::Close
            | Command::Quit => Scope::Both,
            Command::QueueRun
            | Command::PauseRun
            | Command::StopRun
            | Command::SelectUp
            | Command::SelectDown
            | Command::Compare
            | Command::Download => Scope::Train,
            Command::BetaDown
            | Command::BetaUp
            | Command::Width
            | Command::Inputs
            | Command::Reset
            | Command::Pause
            | Command::Step
            | Command::AbView
            | Command::Preset(_)
            | Command::FocusNext
            | Command::FocusPrev
            | Command::Zoom
            | Command::Shallower
            | Command::Deeper
            | Command::LogY
            | Command::Estimator => Scope::Lab,
        }
    }
}
