//! Entering and leaving the terminal UI. The terminal is restored on every way out: normal
//! return and `?` errors through the guard's Drop, panics and stop signals through
//! `shutdown`, which this guard tells when it holds the terminal. Everything the UI writes
//! goes through a [`Tee`], which copies it into the `--record` cast when there is one.

use std::cell::RefCell;
use std::io::{self, Stdout, Write};
use std::rc::Rc;

use crossterm::cursor::Show;
use crossterm::terminal::{
    BeginSynchronizedUpdate, EndSynchronizedUpdate, EnterAlternateScreen, LeaveAlternateScreen,
    disable_raw_mode, enable_raw_mode,
};
use crossterm::{execute, queue};
use ratatui::backend::CrosstermBackend;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::{Terminal, TerminalOptions, Viewport};

use crate::ui::app::State;
use crate::ui::record::{Cast, SharedCast, Tee};
use crate::ui::view::render;

type Backend = CrosstermBackend<Tee<Stdout>>;

/// Raw mode and the alternate screen, for as long as it lives.
pub struct Tui {
    terminal: Terminal<Backend>,
    /// A size set by a script: the screen keeps it whatever the real terminal's size.
    fixed: bool,
    cast: Option<SharedCast>,
}

impl Tui {
    /// Enters raw mode and the alternate screen. With `size`, the screen is drawn at that
    /// size whatever the terminal's (a script's screens must not depend on it).
    pub fn enter(cast: Option<Cast>, size: Option<(u16, u16)>) -> io::Result<Self> {
        enable_raw_mode()?;
        crate::shutdown::set_terminal_held(true);
        let cast = cast.map(|c| Rc::new(RefCell::new(c)));
        let entered = (|| {
            let mut backend = CrosstermBackend::new(Tee::new(io::stdout(), cast.clone()));
            execute!(backend, EnterAlternateScreen)?;
            match size {
                Some((w, h)) => Terminal::with_options(
                    backend,
                    TerminalOptions {
                        viewport: Viewport::Fixed(Rect::new(0, 0, w, h)),
                    },
                ),
                None => Terminal::new(backend),
            }
        })();
        match entered {
            Ok(terminal) => Ok(Self {
                terminal,
                fixed: size.is_some(),
                cast,
            }),
            Err(e) => {
                ratatui::restore();
                crate::shutdown::set_terminal_held(false);
                Err(e)
            }
        }
    }

    /// Draws one frame inside a synchronized update, so terminals show it whole.
    pub fn draw(&mut self, state: &State) -> io::Result<()> {
        self.draw_frame(state, false).map(drop)
    }

    /// Draws one frame and returns it as drawn: what screenshots save.
    pub fn capture(&mut self, state: &State) -> io::Result<Buffer> {
        self.draw_frame(state, true)
            .map(|b| b.unwrap_or_else(|| Buffer::empty(Rect::ZERO)))
    }

    fn draw_frame(&mut self, state: &State, keep: bool) -> io::Result<Option<Buffer>> {
        debug_panic();
        crate::shutdown::while_drawing(|| {
            queue!(self.terminal.backend_mut(), BeginSynchronizedUpdate)?;
            let frame = self.terminal.draw(|frame| render(state, frame))?;
            let kept = keep.then(|| frame.buffer.clone());
            execute!(self.terminal.backend_mut(), EndSynchronizedUpdate)?;
            Ok(kept)
        })
    }

    /// A script's `resize`: the screen takes this size from now on, and the recording says so.
    pub fn resize(&mut self, width: u16, height: u16) -> io::Result<()> {
        self.fixed = true;
        self.terminal.resize(Rect::new(0, 0, width, height))?;
        self.record_size(width, height)
    }

    /// The real terminal was resized: the recording follows, unless a script fixed the size.
    pub fn resized(&mut self, width: u16, height: u16) -> io::Result<()> {
        if self.fixed {
            return Ok(());
        }
        self.record_size(width, height)
    }

    fn record_size(&mut self, width: u16, height: u16) -> io::Result<()> {
        match &self.cast {
            Some(cast) => cast.borrow_mut().resize(width, height),
            None => Ok(()),
        }
    }
}

impl Drop for Tui {
    fn drop(&mut self) {
        // Through the tee, so a recording ends on the main screen too.
        let _ = execute!(self.terminal.backend_mut(), LeaveAlternateScreen, Show);
        let _ = self.terminal.backend_mut().flush();
        let _ = disable_raw_mode();
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
