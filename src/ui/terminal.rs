//! Entering and leaving the terminal UI. The terminal is restored on every way out: normal
//! return and `?` errors through the guard's Drop, panics through ratatui's panic hook, stop
//! signals through `shutdown`, which this guard tells when it holds the terminal.

use std::io;

use crossterm::terminal::{BeginSynchronizedUpdate, EndSynchronizedUpdate};
use crossterm::{execute, queue};
use ratatui::DefaultTerminal;

use crate::ui::app::State;
use crate::ui::view::render;

/// Raw mode and the alternate screen, for as long as it lives.
pub struct Tui {
    terminal: DefaultTerminal,
}

impl Tui {
    /// Enters raw mode and the alternate screen, and installs the restoring panic hook.
    pub fn enter() -> io::Result<Self> {
        match ratatui::try_init() {
            Ok(terminal) => {
                crate::shutdown::set_terminal_held(true);
                Ok(Self { terminal })
            }
            Err(e) => {
                // try_init may fail after raw mode is on.
                ratatui::restore();
                Err(e)
            }
        }
    }

    /// Draws one frame inside a synchronized update, so terminals show it whole.
    pub fn draw(&mut self, state: &State) -> io::Result<()> {
        debug_panic();
        crate::shutdown::while_drawing(|| {
            queue!(self.terminal.backend_mut(), BeginSynchronizedUpdate)?;
            self.terminal.draw(|frame| render(state, frame))?;
            execute!(self.terminal.backend_mut(), EndSynchronizedUpdate)
        })
    }
}

impl Drop for Tui {
    fn drop(&mut self) {
        ratatui::restore();
        crate::shutdown::set_terminal_held(false);
    }
}

/// Debug builds only: panics at the next frame once the file named by
/// `SHATTERLAB_DEBUG_PANIC` exists, so tests can check what a panic leaves behind.
fn debug_panic() {
    if cfg!(debug_assertions)
        && std::env::var_os("SHATTERLAB_DEBUG_PANIC")
            .is_some_and(|p| std::path::Path::new(&p).exists())
    {
        panic!("debug panic requested through SHATTERLAB_DEBUG_PANIC");
    }
}
