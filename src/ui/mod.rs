//! The interactive lab: a `tokio::select!` loop over key events, sweep and training worker
//! updates and a capped frame clock. Keys and updates go through `app::update`; frames are
//! drawn only when something changed.

pub mod app;
pub mod cmdline;
pub mod command;
pub mod effect;
pub mod keys;
pub mod lab;
pub mod logfile;
pub mod record;
pub mod screenshot;
pub mod script;
pub mod terminal;
pub mod theme;
pub mod train;
pub mod view;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use crossterm::event::{Event, EventStream};
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;

use crate::config::{LabConfig, UiConfig};
use crate::export::figures::current_view;
use crate::export::{self, Export};
use crate::train::datadir::data_root;
use crate::train::download::{Source, URL_ENV};
use crate::ui::app::{Action, State, update};
use crate::ui::cmdline::command_line;
use crate::ui::command::Command;
use crate::ui::effect::Effect;
use crate::ui::record::Cast;
use crate::ui::screenshot::ShotFormat as ScreenFormat;
use crate::ui::script::{Runner, Script, Step};
use crate::ui::terminal::Tui;
use crate::ui::theme::Theme;
use crate::worker::sweep::{self, Side};
use crate::worker::train::{TrainJob, TrainPaths, TrainUpdate, spawn as spawn_training};

/// Jobs waiting per worker: a few keystrokes' worth; the UI keeps the rest in its outbox.
const JOB_QUEUE: usize = 8;
/// Depth results in flight: enough that a worker rarely waits for a frame.
const UPDATE_QUEUE: usize = 64;
/// How long quitting waits for the training worker to finish its step and write the `End`
/// record of runs still going; a slower step is abandoned (its log then lacks that line).
const TRAINING_CLOSE_WAIT: Duration = Duration::from_secs(5);

/// The terminal's settings, resolved from the flags and config.toml.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// Colours, chart glyphs and the frame-rate cap.
    pub look: UiConfig,
    /// CIFAR-10 for the training tab; None: `$SHATTERLAB_DATA`, then the XDG data directory.
    pub data_dir: Option<PathBuf>,
    /// Where the training tab's run logs go.
    pub runs_dir: PathBuf,
    /// The lab's log file; None: the XDG state directory.
    pub log: Option<PathBuf>,
    /// `--max-memory`: settings whose sweeps or runs would need more are refused.
    pub max_memory: Option<u64>,
    /// Recording, script and screenshots.
    pub capture: Capture,
}

/// What a session records and saves besides the lab's own logs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Capture {
    /// `--record`: the asciicast file.
    pub record: Option<PathBuf>,
    /// `--script`: parsed before the terminal is touched.
    pub script: Option<Script>,
    /// `--screenshot`: the screen once the script has run (format by extension).
    pub screenshot: Option<PathBuf>,
    /// Where `P`, `E` and a script's snapshots are saved.
    pub shots_dir: PathBuf,
    /// Replace existing files.
    pub force: bool,
}

impl Capture {
    /// Refuses, before the terminal is touched, every output that would replace a file
    /// without `--force`.
    pub fn check(&self) -> anyhow::Result<()> {
        if let Some(path) = &self.screenshot {
            ScreenFormat::of_path(path)?;
            crate::fsio::ensure_new(path, self.force, "--screenshot")?;
        }
        for name in self.script.iter().flat_map(Script::snapshots) {
            for path in screenshot::paths(&self.shots_dir.join(name)) {
                crate::fsio::ensure_new(&path, self.force, "snapshot")?;
            }
        }
        Ok(())
    }
}

/// Runs the lab until the user quits. The terminal is restored before this returns.
pub fn run(lab: LabConfig, opts: Options) -> anyhow::Result<()> {
    // Settings the machine cannot hold are refused before the terminal is touched; later
    // changes are refused in the status bar against the same limit.
    let memory_limit = crate::budget::limit(opts.max_memory, lab.device);
    crate::budget::check(&crate::budget::sweep(&lab), memory_limit).map_err(anyhow::Error::msg)?;
    let env = |k: &str| std::env::var_os(k);
    let log = logfile::log_path(opts.log.as_deref(), env).and_then(|p| logfile::open(&p));
    let argv: Vec<String> = std::env::args().collect();
    log::info!(
        "session start: {} (settings: {})",
        argv.join(" "),
        command_line(&lab)
    );
    let paths = TrainPaths {
        data_root: data_root(opts.data_dir.as_deref(), "--data-dir", env)
            .map_err(|e| format!("{e:#}")),
        runs_dir: opts.runs_dir,
        source: Source::official(std::env::var(URL_ENV).ok().filter(|u| !u.is_empty())),
    };
    let theme = Theme::from_env(opts.look.color, opts.look.marker);
    let capture = opts.capture;
    let terminal_size = || crossterm::terminal::size().context("cannot read the terminal's size");
    // A script draws at a size of its own (its leading `resize`, else the terminal's at
    // start), which later `resize` lines change and the real terminal's resizes do not.
    let size = match &capture.script {
        Some(script) => Some(match script.size {
            Some(size) => size,
            None => terminal_size()?,
        }),
        None => None,
    };
    let cast = match &capture.record {
        Some(path) => {
            let shown = match size {
                Some(size) => size,
                None => terminal_size()?,
            };
            Some(Cast::create(path, capture.force, shown, &argv.join(" "))?)
        }
        None => None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the event loop")?;
    let session = Session {
        fps: opts.look.fps,
        theme,
        paths,
        log_problem: log.err().map(|e| format!("{e:#}")),
        memory_limit,
        cast,
        size,
        script: capture.script.map(Runner::new),
        shots: Shots {
            dir: capture.shots_dir,
            force: capture.force,
            screenshot: capture.screenshot,
        },
    };
    let result = runtime.block_on(event_loop(lab, session));
    match &result {
        Ok(()) => log::info!("session end"),
        Err(e) => log::error!("session failed: {e:#}"),
    }
    result
}

/// Everything the event loop starts from besides the lab's settings.
struct Session {
    fps: u32,
    theme: Theme,
    paths: TrainPaths,
    log_problem: Option<String>,
    memory_limit: Option<(u64, &'static str)>,
    cast: Option<Cast>,
    /// The screen size a script fixes.
    size: Option<(u16, u16)>,
    script: Option<Runner>,
    shots: Shots,
}

async fn event_loop(lab: LabConfig, session: Session) -> anyhow::Result<()> {
    let Session {
        fps,
        theme,
        paths,
        log_problem,
        memory_limit,
        cast,
        size,
        mut script,
        shots,
    } = session;
    let (update_tx, mut updates) = mpsc::channel(UPDATE_QUEUE);
    let (train_tx, mut train_updates) = mpsc::channel(UPDATE_QUEUE);
    let mut workers = Workers::spawn(&update_tx, paths, train_tx)?;
    drop(update_tx);
    let (mut state, effects) = State::new(lab, theme);
    state.lab.memory_limit = memory_limit;
    // The TUI runs on without a log file, and says so.
    state.notice = log_problem;
    state.wall_clock = script.is_none();
    workers.outbox.extend(effects);
    let mut tui = Tui::enter(cast, size).context("cannot open the terminal UI")?;
    let mut events = EventStream::new();
    let mut frames = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(fps.max(1))));
    frames.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut dirty = true;
    let mut screenshot_due = shots.screenshot.is_some();
    while !state.quit {
        if let Some(runner) = &mut script {
            while let Some(step) = runner.poll(&state, tokio::time::Instant::now())? {
                dirty = true;
                match step {
                    Step::Key(command) => {
                        press(command, &mut state, &mut tui, &shots, &mut workers)?
                    }
                    Step::Resize(w, h) => tui.resize(w, h).context("cannot resize the screen")?,
                    Step::Snapshot(name) => {
                        let screen = tui.capture(&state).context("cannot draw")?;
                        screenshot::save_all(&screen, &shots.dir.join(&name), shots.force)?;
                    }
                    Step::Caption(text) => state.caption = text,
                    Step::Wait(_) => {}
                    Step::Quit => state.quit = true,
                }
                if state.quit {
                    break;
                }
            }
            if screenshot_due && (runner.finished() || state.quit) {
                screenshot_due = false;
                let screen = tui.capture(&state).context("cannot draw")?;
                shots.save_screenshot(&screen)?;
            }
        }
        if state.quit {
            break;
        }
        let deadline = script.as_ref().and_then(Runner::deadline);
        tokio::select! {
            event = events.next() => match event {
                Some(Ok(Event::Key(key))) => {
                    if let Some(command) = keys::command_for(key) {
                        press(command, &mut state, &mut tui, &shots, &mut workers)?;
                        dirty = true;
                    }
                }
                Some(Ok(Event::Resize(w, h))) => {
                    tui.resized(w, h).context("cannot record the new size")?;
                    dirty = true;
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e).context("cannot read the terminal"),
                None => break,
            },
            received = updates.recv() => {
                let u = received.context("the worker stopped")?;
                workers.outbox.extend(update(&mut state, Action::Sweep(u)));
                dirty = true;
            }
            received = train_updates.recv() => {
                let u = received.context("the training worker stopped")?;
                workers.outbox.extend(update(&mut state, Action::Train(u)));
                dirty = true;
            }
            sent = workers.flush(), if !workers.outbox.is_empty() => sent?,
            () = tokio::time::sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now)),
                if deadline.is_some() => {}
            _ = frames.tick() => {
                if dirty {
                    tui.draw(&state).context("cannot draw")?;
                    dirty = false;
                }
            }
        }
    }
    if dirty {
        // The last frame shows the state the session ended in (and ends the recording).
        tui.draw(&state).context("cannot draw")?;
    }
    drop(tui);
    // The terminal is back; give the training worker a moment to close its runs' logs.
    drop(train_updates);
    workers.close_training(TRAINING_CLOSE_WAIT);
    Ok(())
}

/// A key's command, typed or scripted. `P` is carried out here (it writes files); the
/// rest go through `update`.
fn press(
    command: Command,
    state: &mut State,
    tui: &mut Tui,
    shots: &Shots,
    workers: &mut Workers,
) -> anyhow::Result<()> {
    match command {
        Command::Screenshot => {
            let screen = tui.capture(state).context("cannot draw")?;
            state.notice = Some(match shots.save_numbered(&screen) {
                Ok(stem) => format!("saved {} (.txt .ansi .svg)", stem.display()),
                Err(e) => format!("screenshot failed: {e:#}"),
            });
        }
        Command::Export => {
            let runs = state.train.runs.iter().map(export::tab_run).collect();
            let saved = shots
                .free_path("shatterlab-export-", &["json", "svg", "png"])
                .and_then(|stem| {
                    let path = stem.with_extension("json");
                    Export::new(&state.lab, runs).write(&path, false, false)?;
                    let name = stem.file_name().map(|n| n.to_string_lossy().into_owned());
                    if let Some(figure) = current_view(&state.lab, &name.unwrap_or_default()) {
                        figure.write(&shots.dir, false)?;
                    }
                    Ok(path)
                });
            state.notice = Some(match saved {
                Ok(path) => format!("exported {} (and the view as .svg .png)", path.display()),
                Err(e) => format!("export failed: {e:#}"),
            });
        }
        _ => workers.outbox.extend(update(state, Action::Key(command))),
    }
    Ok(())
}

/// Where screens are saved.
struct Shots {
    dir: PathBuf,
    force: bool,
    /// `--screenshot`: saved once the script has run.
    screenshot: Option<PathBuf>,
}

impl Shots {
    /// `P`: the screen as `DIR/shatterlab-N.*`, N the first number whose files are all
    /// free, so a keypress never replaces anything. Returns the stem.
    fn save_numbered(&self, screen: &ratatui::buffer::Buffer) -> anyhow::Result<PathBuf> {
        let stem = self.free_path("shatterlab-", &["txt", "ansi", "svg"])?;
        screenshot::save_all(screen, &stem, false)?;
        Ok(stem)
    }

    /// `DIR/<prefix>N` for the first N with no file of any of `extensions`.
    fn free_path(&self, prefix: &str, extensions: &[&str]) -> anyhow::Result<PathBuf> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("cannot create {}", self.dir.display()))?;
        (1..=u32::MAX)
            .map(|n| self.dir.join(format!("{prefix}{n}")))
            .find(|stem| {
                extensions
                    .iter()
                    .all(|e| std::fs::symlink_metadata(stem.with_extension(e)).is_err())
            })
            .context("no free file name")
    }

    fn save_screenshot(&self, screen: &ratatui::buffer::Buffer) -> anyhow::Result<()> {
        let Some(path) = &self.screenshot else {
            return Ok(());
        };
        let text = ScreenFormat::of_path(path)?.render(screen);
        crate::fsio::ensure_new(path, self.force, "--screenshot")?;
        crate::fsio::write_file(path, text.as_bytes())
    }
}

/// The sweep workers' and the training worker's job channels, and the effects not yet
/// handed over.
struct Workers {
    a: mpsc::Sender<sweep::Job>,
    b: mpsc::Sender<sweep::Job>,
    train: mpsc::Sender<TrainJob>,
    train_thread: std::thread::JoinHandle<()>,
    outbox: VecDeque<Effect>,
}

impl Workers {
    fn spawn(
        updates: &mpsc::Sender<sweep::Update>,
        paths: TrainPaths,
        train_updates: mpsc::Sender<TrainUpdate>,
    ) -> anyhow::Result<Self> {
        let start = || -> anyhow::Result<mpsc::Sender<sweep::Job>> {
            let (tx, rx) = mpsc::channel(JOB_QUEUE);
            sweep::spawn(rx, updates.clone()).context("cannot start the worker thread")?;
            Ok(tx)
        };
        let (train, rx) = mpsc::channel(JOB_QUEUE);
        let train_thread = spawn_training(paths, rx, train_updates)
            .context("cannot start the training worker thread")?;
        Ok(Self {
            a: start()?,
            b: start()?,
            train,
            train_thread,
            outbox: VecDeque::new(),
        })
    }

    /// Closes the training worker's job channel and waits up to `wait` for it to end (it
    /// finishes the step in flight, then closes its runs' logs). The sweep workers are left
    /// to be stopped with the process: they hold no results.
    fn close_training(self, wait: Duration) {
        let Self {
            train,
            train_thread,
            ..
        } = self;
        drop(train);
        let deadline = std::time::Instant::now() + wait;
        while !train_thread.is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if train_thread.is_finished() && train_thread.join().is_err() {
            log::error!("the training worker panicked while closing its runs");
        }
    }

    /// Hands the oldest queued effect to its worker once it has room. Cancel-safe: the
    /// effect leaves the outbox only with a reserved slot.
    async fn flush(&mut self) -> anyhow::Result<()> {
        match self.outbox.front() {
            None => Ok(()),
            Some(Effect::Train(_)) => {
                let permit = self
                    .train
                    .reserve()
                    .await
                    .context("the training worker stopped")?;
                if let Some(Effect::Train(job)) = self.outbox.pop_front() {
                    permit.send(job);
                }
                Ok(())
            }
            Some(Effect::Sweep(job)) => {
                let worker = match job.side() {
                    Side::A => &self.a,
                    Side::B => &self.b,
                };
                let permit = worker.reserve().await.context("the worker stopped")?;
                if let Some(Effect::Sweep(job)) = self.outbox.pop_front() {
                    permit.send(job);
                }
                Ok(())
            }
        }
    }
}
