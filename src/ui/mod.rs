//! The interactive lab: a `tokio::select!` loop over key events, sweep and training worker
//! updates and a capped frame clock. Keys and updates go through `app::update`; frames are
//! drawn only when something changed.

pub mod app;
pub mod cmdline;
pub mod keys;
pub mod logfile;
pub mod terminal;
pub mod theme;
pub mod train;
pub mod view;

use std::collections::VecDeque;
use std::time::Duration;

use anyhow::Context;
use crossterm::event::{Event, EventStream};
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;

use crate::cli::UiArgs;
use crate::config::FileConfig;
use crate::train::datadir::data_root;
use crate::train::download::{Source, URL_ENV};
use crate::train_worker::{self, TrainJob, TrainPaths};
use crate::ui::app::{Action, State, update};
use crate::ui::cmdline::command_line;
use crate::ui::terminal::Tui;
use crate::ui::theme::Theme;
use crate::worker::{self, Job, Side};

/// Jobs waiting per worker: a few keystrokes' worth; the UI keeps the rest in its outbox.
const JOB_QUEUE: usize = 8;
/// Depth results in flight: enough that a worker rarely waits for a frame.
const UPDATE_QUEUE: usize = 64;
/// How long quitting waits for the training worker to finish its step and write the `End`
/// record of runs still going; a slower step is abandoned (its log then lacks that line).
const TRAINING_CLOSE_WAIT: Duration = Duration::from_secs(5);

/// Runs the lab until the user quits. The terminal is restored before this returns.
pub fn run(settings: FileConfig, args: &UiArgs) -> anyhow::Result<()> {
    let env = |k: &str| std::env::var_os(k);
    let log = logfile::log_path(args.log.as_deref(), env).and_then(|p| logfile::open(&p));
    let argv: Vec<String> = std::env::args().collect();
    log::info!(
        "session start: {} (settings: {})",
        argv.join(" "),
        command_line(&settings.lab)
    );
    let paths = TrainPaths {
        data_root: data_root(args.data_dir.as_deref(), "--data-dir", env).map_err(|e| format!("{e:#}")),
        runs_dir: args.runs_dir.clone(),
        source: Source::official(std::env::var(URL_ENV).ok().filter(|u| !u.is_empty())),
    };
    let theme = Theme::from_env(settings.ui.color, settings.ui.marker);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the event loop")?;
    let result = runtime.block_on(event_loop(settings, theme, paths, log.err()));
    match &result {
        Ok(()) => log::info!("session end"),
        Err(e) => log::error!("session failed: {e:#}"),
    }
    result
}

async fn event_loop(
    settings: FileConfig,
    theme: Theme,
    paths: TrainPaths,
    log_problem: Option<String>,
) -> anyhow::Result<()> {
    let (update_tx, mut updates) = mpsc::channel(UPDATE_QUEUE);
    let (train_tx, mut train_updates) = mpsc::channel(UPDATE_QUEUE);
    let mut workers = Workers::spawn(&update_tx, paths, train_tx)?;
    drop(update_tx);
    let (mut state, jobs) = State::new(settings.lab, theme);
    // The TUI runs on without a log file, and says so.
    state.notice = log_problem;
    workers.outbox.extend(jobs);
    let mut tui = Tui::enter().context("cannot open the terminal UI")?;
    let mut events = EventStream::new();
    let mut frames = tokio::time::interval(Duration::from_secs_f64(
        1.0 / f64::from(settings.ui.fps.max(1)),
    ));
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
                workers.outbox.extend(update(&mut state, Action::Worker(u)));
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

/// The sweep workers' and the training worker's job channels, and the jobs not yet
/// handed over.
struct Workers {
    a: mpsc::Sender<Job>,
    b: mpsc::Sender<Job>,
    train: mpsc::Sender<TrainJob>,
    train_thread: std::thread::JoinHandle<()>,
    outbox: VecDeque<Job>,
}

impl Workers {
    fn spawn(
        updates: &mpsc::Sender<worker::Update>,
        paths: TrainPaths,
        train_updates: mpsc::Sender<train_worker::TrainUpdate>,
    ) -> anyhow::Result<Self> {
        let start = || -> anyhow::Result<mpsc::Sender<Job>> {
            let (tx, rx) = mpsc::channel(JOB_QUEUE);
            worker::spawn(rx, updates.clone()).context("cannot start the worker thread")?;
            Ok(tx)
        };
        let (train, rx) = mpsc::channel(JOB_QUEUE);
        let train_thread = train_worker::spawn(paths, rx, train_updates)
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

    /// Hands the oldest queued job to its worker once it has room. Cancel-safe: the job
    /// leaves the outbox only with a reserved slot.
    async fn flush(&mut self) -> anyhow::Result<()> {
        let Some(job) = self.outbox.front() else {
            return Ok(());
        };
        let sweeps = match job.side() {
            Some(Side::A) => &self.a,
            Some(Side::B) => &self.b,
            None => {
                let permit = self
                    .train
                    .reserve()
                    .await
                    .context("the training worker stopped")?;
                if let Some(Job::Train(job)) = self.outbox.pop_front() {
                    permit.send(job);
                }
                return Ok(());
            }
        };
        let permit = sweeps.reserve().await.context("the worker stopped")?;
        if let Some(job) = self.outbox.pop_front() {
            permit.send(job);
        }
        Ok(())
    }
}
