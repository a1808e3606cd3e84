//! The interactive lab: a `tokio::select!` loop over key events, worker updates and a
//! capped frame clock. Keys and updates go through `app::update`; frames are drawn only
//! when something changed.

pub mod app;
pub mod cmdline;
pub mod keys;
pub mod terminal;
pub mod theme;
pub mod view;

use std::collections::VecDeque;
use std::time::Duration;

use anyhow::Context;
use crossterm::event::{Event, EventStream};
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;

use crate::config::FileConfig;
use crate::ui::app::{Action, State, update};
use crate::ui::terminal::Tui;
use crate::ui::theme::Theme;
use crate::worker::{self, Job, Side};

/// Jobs waiting per worker: a few keystrokes' worth; the UI keeps the rest in its outbox.
const JOB_QUEUE: usize = 8;
/// Depth results in flight: enough that a worker rarely waits for a frame.
const UPDATE_QUEUE: usize = 64;

/// Runs the lab until the user quits. The terminal is restored before this returns.
pub fn run(settings: FileConfig) -> anyhow::Result<()> {
    let theme = Theme::from_env(settings.ui.color, settings.ui.marker);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the event loop")?;
    runtime.block_on(event_loop(settings, theme))
}

async fn event_loop(settings: FileConfig, theme: Theme) -> anyhow::Result<()> {
    let (update_tx, mut updates) = mpsc::channel(UPDATE_QUEUE);
    let mut workers = Workers::spawn(&update_tx)?;
    drop(update_tx);
    let (mut state, jobs) = State::new(settings.lab, theme);
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
    Ok(())
}

/// The two workers' job channels and the jobs not yet handed over.
struct Workers {
    a: mpsc::Sender<Job>,
    b: mpsc::Sender<Job>,
    outbox: VecDeque<Job>,
}

impl Workers {
    fn spawn(updates: &mpsc::Sender<worker::Update>) -> anyhow::Result<Self> {
        let start = || -> anyhow::Result<mpsc::Sender<Job>> {
            let (tx, rx) = mpsc::channel(JOB_QUEUE);
            worker::spawn(rx, updates.clone()).context("cannot start the worker thread")?;
            Ok(tx)
        };
        Ok(Self {
            a: start()?,
            b: start()?,
            outbox: VecDeque::new(),
        })
    }

    /// Hands the oldest queued job to its worker once it has room. Cancel-safe: the job
    /// leaves the outbox only with a reserved slot.
    async fn flush(&mut self) -> anyhow::Result<()> {
        let Some(side) = self.outbox.front().map(Job::side) else {
            return Ok(());
        };
        let sender = match side {
            Side::A => &self.a,
            Side::B => &self.b,
        };
        let permit = sender.reserve().await.context("the worker stopped")?;
        if let Some(job) = self.outbox.pop_front() {
            permit.send(job);
        }
        Ok(())
    }
}
