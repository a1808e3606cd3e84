//! Leaving cleanly when the process is told to stop. SIGINT, SIGTERM, SIGHUP and SIGQUIT
//! are taken by a thread of their own: it closes every live training run's log with an
//! `end` record, gives the terminal back if the TUI holds it (alternate screen, raw mode,
//! cursor), and exits with the conventional status 128 + the signal's number. A panic closes
//! the logs and restores the terminal the same way before the usual report.

use std::io::Write;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};

use crate::train::runlog::{Busy, close_live_logs};
use crate::train::trainer::RunState;

/// The signals that end the process cleanly.
pub const SIGNALS: [i32; 4] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT];

/// How long the panic hook retries a run log another thread is writing.
const PANIC_PATIENCE: Duration = Duration::from_millis(500);

/// Whether the TUI holds the terminal. Held while a frame is drawn, so the terminal is
/// never restored in the middle of a frame (whose rest would land on the main screen).
static TERMINAL: Mutex<bool> = Mutex::new(false);

/// Takes the stop signals and installs the panic hook; call once, before anything else.
/// With `own_sigint`, SIGINT is left to a caller that ends its work gracefully at Ctrl-C
/// (headless `train` finishes its step and prints the `end` record).
pub fn install(own_sigint: bool) -> anyhow::Result<()> {
    let taken: Vec<i32> = SIGNALS
        .into_iter()
        .filter(|&s| !(own_sigint && s == SIGINT))
        .collect();
    let mut signals = signal_hook::iterator::Signals::new(taken)
        .map_err(|e| anyhow::anyhow!("cannot install signal handlers: {e}"))?;
    std::thread::Builder::new()
        .name("shatterlab-signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                stop(signal);
            }
        })
        .map_err(|e| anyhow::anyhow!("cannot start the signal thread: {e}"))?;
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        // The panicking thread may hold a log's or the terminal's lock: never wait for
        // good here. Another thread's write in flight takes microseconds; half a second
        // covers it being preempted mid-line on a loaded machine.
        close_live_logs(RunState::Cancelled, Busy::RetryFor(PANIC_PATIENCE));
        if let Ok(mut held) = TERMINAL.try_lock() {
            give_back(&mut held);
        }
        previous(info);
    }));
    Ok(())
}

fn stop(signal: i32) -> ! {
    let name = signal_hook::low_level::signal_name(signal).unwrap_or("a signal");
    log::warn!("stopped by {name}");
    close_live_logs(RunState::Cancelled, Busy::Wait);
    give_back(&mut TERMINAL.lock().unwrap_or_else(PoisonError::into_inner));
    // Never `eprintln!` here: it panics when stderr is gone (a hung-up terminal, the usual
    // reason for SIGHUP), which would end this thread and leave the process running.
    let _ = writeln!(std::io::stderr(), "shatterlab: stopped by {name}");
    std::process::exit(128 + signal)
}

/// Raw mode off, the main screen back and the cursor shown (ratatui's restore leaves the
/// cursor to its Terminal's Drop, which an exiting process never runs).
fn give_back(held: &mut bool) {
    if *held {
        // `ratatui::restore` prints its error with `eprintln!`, which panics on a hung-up
        // terminal; a terminal that is gone needs no restoring.
        let _ = ratatui::try_restore();
        let _ = crossterm::execute!(std::io::stdout(), crossterm::cursor::Show);
        *held = false;
    }
}

/// Marks the terminal as taken by the TUI (after entering raw mode and the alternate
/// screen) or given back (after restoring it).
pub fn set_terminal_held(held: bool) {
    *TERMINAL.lock().unwrap_or_else(PoisonError::into_inner) = held;
}

/// Runs `draw` with the terminal's lock held, so a signal waits for the frame to finish.
pub fn while_drawing<T>(draw: impl FnOnce() -> T) -> T {
    let _held = TERMINAL.lock().unwrap_or_else(PoisonError::into_inner);
    draw()
}
