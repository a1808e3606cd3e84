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
use crate::train::datadir::data_root;
use crate::train::download::{Source, URL_ENV};
use crate::ui::app::{Action, State, update};
use crate::ui::cmdline::command_line;
use crate::ui::effect::Effect;
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
}

/// Runs the lab until the user quits. The terminal is restored before this returns.
pub fn run(lab: LabConfig, opts: Options) -> anyhow::Result<()> {
    // Settings the machine cannot hold are refused before the terminal is touched; later
    // changes are refused in the status bar against the same limit.
    let memory_limit = crate::budget::limit(opts.max_memory);
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
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the event loop")?;
    let result = runtime.block_on(event_loop(
        lab,
        opts.look.fps,
        theme,
        paths,
        log.err().map(|e| format!("{e:#}")),
        memory_limit,
    ));
    match &result {
        Ok(()) => log::info!("session end"),
        Err(e) => log::error!("session failed: {e:#}"),
    }
    result
}

async fn event_loop(
    lab: LabConfig,
    fps: u32,
    theme: Theme,
    paths: TrainPaths,
    log_problem: Option<String>,
    memory_limit: Option<(u64, &'static str)>,
) -> anyhow::Result<()> {
    let (update_tx, mut updates) = mpsc::channel(UPDATE_QUEUE);
    let (train_tx, mut train_updates) = mpsc::channel(UPDATE_QUEUE);
    let mut workers = Workers::spawn(&update_tx, paths, train_tx)?;
    drop(update_tx);
    let (mut state, effects) = State::new(lab, theme);
    state.lab.memory_limit = memory_limit;
    // The TUI runs on without a log file, and says so.
    state.notice = log_problem;
    workers.outbox.extend(effects);
    let mut tui = Tui::enter().context("cannot open the terminal UI")?;
    let mut events = EventStream::new();
    let mut frames = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(fps.max(1))));
    frames.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut dirty = true;
    while !state.quit {
        tokio::select! {
            event = events.next() => match event {
                Some(Ok(Event::Key(key))) => {
                    if let Some(command) = keys::command_for(key) {
                        workers.outbox.extend(update(&mut state, Action::Key(command)));
                        dirty = true;
                    }
                }
                Some(Ok(Event::Resize(..))) => dirty = true,
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
            _ = frames.tick() => {
                if dirty {
                    tui.draw(&state).context("cannot draw")?;
                    dirty = false;
                }
            }
        }
    }
    drop(tui);
    // The terminal is back; give the training worker a moment to close its runs' logs.
    drop(train_updates);
    workers.close_training(TRAINING_CLOSE_WAIT);
    Ok(())
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
