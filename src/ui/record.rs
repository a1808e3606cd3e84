//! `--record FILE.cast`: an asciicast v2 recording of exactly the bytes the TUI writes to
//! the terminal. [`Tee`] sits between the terminal backend and stdout; every flush of the
//! backend (one per frame) becomes one `[seconds, "o", data]` line, written whole and
//! flushed at once, so a killed session leaves a file that is valid up to its last line.
//! Resizes become `"r"` lines. Times come from a monotonic clock.

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use serde::Serialize;

/// The recording file and the clock its event times are measured on.
pub struct Cast {
    file: File,
    path: PathBuf,
    start: Instant,
}

/// The asciicast v2 header line.
#[derive(Serialize)]
struct Header<'a> {
    version: u8,
    width: u16,
    height: u16,
    timestamp: u64,
    command: &'a str,
    title: &'a str,
}

impl Cast {
    /// Creates `path` (refused when it exists, unless `force`) and writes the header for a
    /// `width` x `height` terminal.
    pub fn create(
        path: &Path,
        force: bool,
        (width, height): (u16, u16),
        command: &str,
    ) -> anyhow::Result<Self> {
        crate::fsio::ensure_new(path, force, "--record")?;
        let file = File::create(path)
            .with_context(|| format!("cannot create the recording {}", path.display()))?;
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let header = Header {
            version: 2,
            width,
            height,
            timestamp,
            command,
            title: "shatterlab",
        };
        let mut cast = Self {
            file,
            path: path.to_path_buf(),
            start: Instant::now(),
        };
        let line = serde_json::to_vec(&header).context("encoding the cast header")?;
        cast.line(line)
            .with_context(|| format!("cannot write the recording {}", path.display()))?;
        Ok(cast)
    }

    /// Records bytes written to the terminal.
    fn output(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.event("o", &String::from_utf8_lossy(bytes))
    }

    /// Records a new terminal size.
    pub fn resize(&mut self, width: u16, height: u16) -> io::Result<()> {
        self.event("r", &format!("{width}x{height}"))
    }

    fn event(&mut self, kind: &str, data: &str) -> io::Result<()> {
        let time = self.start.elapsed().as_secs_f64();
        // Microseconds, as asciinema writes them.
        let time = (time * 1e6).round() / 1e6;
        let line = serde_json::to_vec(&(time, kind, data)).map_err(io::Error::other)?;
        self.line(line).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot write the recording {}: {e}", self.path.display()),
            )
        })
    }

    /// One whole line per write, so a kill cannot tear it.
    fn line(&mut self, mut line: Vec<u8>) -> io::Result<()> {
        line.push(b'\n');
        self.file.write_all(&line)?;
        self.file.flush()
    }
}

/// The recording, shared by the tee (output) and the terminal guard (resizes).
pub type SharedCast = Rc<RefCell<Cast>>;

/// A writer that passes everything to `inner` and, when recording, copies each flushed
/// batch of bytes into the cast as one output event.
pub struct Tee<W: Write> {
    inner: W,
    cast: Option<SharedCast>,
    pending: Vec<u8>,
}

impl<W: Write> Tee<W> {
    pub fn new(inner: W, cast: Option<SharedCast>) -> Self {
        Self {
            inner,
            cast,
            pending: Vec::new(),
        }
    }
}

impl<W: Write> Write for Tee<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        if self.cast.is_some() {
            self.pending.extend_from_slice(&buf[..n]);
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()?;
        if let Some(cast) = &self.cast
            && !self.pending.is_empty()
        {
            let bytes = std::mem::take(&mut self.pending);
            cast.borrow_mut().output(&bytes)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_flush_is_one_output_line_after_the_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.cast");
        let cast = Cast::create(&path, false, (80, 24), "shatterlab --seed 1").unwrap();
        let cast = Rc::new(RefCell::new(cast));
        let mut tee = Tee::new(Vec::new(), Some(cast.clone()));
        tee.write_all(b"\x1b[1;1Hab").unwrap();
        tee.write_all("c⣿".as_bytes()).unwrap();
        tee.flush().unwrap();
        tee.flush().unwrap();
        cast.borrow_mut().resize(100, 30).unwrap();
        assert_eq!(tee.inner, "\x1b[1;1Habc⣿".as_bytes());
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(lines[0]["version"], 2);
        assert_eq!(
            (lines[0]["width"].as_u64(), lines[0]["height"].as_u64()),
            (Some(80), Some(24))
        );
        assert_eq!(lines[0]["command"], "shatterlab --seed 1");
        assert_eq!(lines[1][1], "o");
        assert_eq!(lines[1][2], "\x1b[1;1Habc⣿");
        assert_eq!(lines[2][1], "r");
        assert_eq!(lines[2][2], "100x30");
        assert!(lines[1][0].as_f64() <= lines[2][0].as_f64());
    }

    #[test]
    fn an_existing_recording_is_kept_without_force() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.cast");
        std::fs::write(&path, "old").unwrap();
        let err = Cast::create(&path, false, (80, 24), "x").err().unwrap();
        assert!(format!("{err:#}").contains("--force"), "{err:#}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        Cast::create(&path, true, (80, 24), "x").unwrap();
        assert!(std::fs::read_to_string(&path).unwrap().starts_with('{'));
    }
}
