//! The UI's state and its only mutator, `update`: plain data in, effects for the workers
//! out, no I/O, so key sequences can be tested without a terminal or threads. `State` is
//! the two tabs (`lab`, `train`) plus what they share; `update` dispatches to them.

use crate::ui::command::{Command, Tab};
use crate::ui::effect::Effect;
use crate::ui::lab::{Change, LabTab};
use crate::ui::theme::Theme;
use crate::ui::train::TrainTab;
use crate::worker::sweep::Update;
use crate::worker::train::TrainUpdate;

#[derive(Clone, Debug)]
pub enum Action {
    Key(Command),
    Sweep(Update),
    Train(TrainUpdate),
}

#[derive(Clone, Debug, PartialEq)]
pub struct State {
    pub tab: Tab,
    pub lab: LabTab,
    pub train: TrainTab,
    pub help: bool,
    pub quit: bool,
    /// Why the last settings change or training request was refused (or, at start-up,
    /// why there is no log file), until one is accepted.
    pub notice: Option<String>,
    pub theme: Theme,
    /// A script's narration, drawn above the status bar until the next `caption` line.
    pub caption: Option<String>,
    /// Show what the wall clock decides (compute time, images/s, ETA, log names); a script
    /// turns it off so its screens are the same on every machine.
    pub wall_clock: bool,
}

impl State {
    /// The UI at start-up; the effects of the returned pair start the first sweep.
    pub fn new(cfg: crate::config::LabConfig, theme: Theme) -> (Self, Vec<Effect>) {
        let (lab, effects) = LabTab::new(cfg);
        let state = Self {
            tab: Tab::Lab,
            lab,
            train: TrainTab::default(),
            help: false,
            quit: false,
            notice: None,
            caption: None,
            theme,
            wall_clock: true,
        };
        (state, effects)
    }
}

/// Applies one action. Returns the effects to hand to the workers; never blocks or does I/O.
pub fn update(state: &mut State, action: Action) -> Vec<Effect> {
    match action {
        Action::Sweep(u) => {
            state.lab.receive(u);
            Vec::new()
        }
        Action::Train(u) => {
            if let Some(notice) = state.train.receive(u) {
                state.notice = Some(notice);
            }
            Vec::new()
        }
        Action::Key(command) => dispatch(state, command),
    }
}

/// Hands a key's command to the tab it acts on.
fn dispatch(state: &mut State, command: Command) -> Vec<Effect> {
    if state.help && !matches!(command, Command::Help | Command::Close | Command::Quit) {
        return Vec::new();
    }
    if !command.scope().includes(state.tab) {
        return Vec::new();
    }
    let lab = &mut state.lab;
    let change = match command {
        Command::Toggle(t) => lab.toggle(t),
        Command::BetaDown => lab.beta(-1),
        Command::BetaUp => lab.beta(1),
        Command::DepthUp => lab.depth(1),
        Command::DepthDown => lab.depth(-1),
        Command::Width => lab.next_width(),
        Command::Inputs => lab.flip_inputs(),
        Command::NewSeed => lab.new_seed(),
        Command::Reset => lab.reset(),
        Command::AbView => lab.ab_view(),
        Command::Preset(p) => lab.preset(p),
        Command::QueueRun => match state.train.queue(&state.lab.cfg, state.lab.memory_limit) {
            Ok((effects, note)) => {
                state.notice = note;
                return effects;
            }
            Err(e) => Err(e),
        },
        Command::Download => state.train.download(),
        Command::Pause => return lab.pause(),
        Command::Step => return lab.step(),
        Command::PauseRun => return state.train.toggle_pause(),
        Command::StopRun => return state.train.stop(),
        _ => {
            view_command(state, command);
            return Vec::new();
        }
    };
    noticed(state, change)
}

/// Commands that change only what is shown.
fn view_command(state: &mut State, command: Command) {
    let lab = &mut state.lab;
    match command {
        Command::FocusNext => lab.focus_by(1),
        Command::FocusPrev => lab.focus_by(-1),
        Command::Zoom => lab.zoomed = !lab.zoomed,
        Command::Shallower => lab.select_depth(-1),
        Command::Deeper => lab.select_depth(1),
        Command::LogY => lab.log_y = !lab.log_y,
        Command::Estimator => lab.estimator = lab.estimator.flipped(),
        Command::Help => state.help = !state.help,
        Command::Close if state.help => state.help = false,
        Command::Close => lab.zoomed = false,
        Command::Quit => state.quit = true,
        Command::SwitchTab => {
            state.tab = match state.tab {
                Tab::Lab => Tab::Train,
                Tab::Train => Tab::Lab,
            }
        }
        Command::SelectUp => state.train.select(-1),
        Command::SelectDown => state.train.select(1),
        Command::Compare => state.train.toggle_shown(),
        _ => {}
    }
}

/// The effects of an accepted request, or none and the reason in the status bar.
fn noticed(state: &mut State, change: Change) -> Vec<Effect> {
    match change {
        Ok(effects) => {
            state.notice = None;
            effects
        }
        Err(e) => {
            state.notice = Some(e);
            Vec::new()
        }
    }
}
