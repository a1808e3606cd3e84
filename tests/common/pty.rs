//! The real binary in a pseudo-terminal (util-linux `script`), its output replayed into a
//! vt100 emulator. Every wait polls the output against a generous deadline; nothing sleeps.

use std::io::{Read, Write};
use std::num::NonZeroU16;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const DEADLINE: Duration = Duration::from_secs(60);

/// The pty's output so far, fed by a reader thread, and the screen it draws.
pub struct Screen {
    chunks: mpsc::Receiver<Vec<u8>>,
    pub raw: Vec<u8>,
    pub vt: vt100::Parser,
}

impl Screen {
    /// Reads until `done` holds for the screen, or panics at the deadline.
    pub fn wait_until(&mut self, what: &str, done: impl Fn(&Self) -> bool) {
        let end = Instant::now() + DEADLINE;
        while !done(self) {
            let left = end.saturating_duration_since(Instant::now());
            match self.chunks.recv_timeout(left) {
                Ok(chunk) => {
                    self.vt.process(&chunk);
                    self.raw.extend_from_slice(&chunk);
                }
                Err(_) => panic!("never saw {what}; screen:\n{}", self.text()),
            }
        }
    }

    /// Waits until the screen shows every one of `needles`.
    pub fn wait_for(&mut self, needles: &[&str]) {
        self.wait_until(&format!("{needles:?}"), |s| {
            needles.iter().all(|n| s.text().contains(n))
        });
    }

    pub fn text(&self) -> String {
        self.vt.screen().contents()
    }

    pub fn raw_contains(&self, needle: &str) -> bool {
        String::from_utf8_lossy(&self.raw).contains(needle)
    }
}

/// Starts the shell command `inner` in an 80x24 pseudo-terminal; returns the process, its
/// screen and its keyboard.
pub fn start(inner: &str, env: &[(&str, &Path)]) -> (Child, Screen, ChildStdin) {
    let mut child = Command::new("script")
        .args(["-q", "-f", "-e", "-c", inner, "/dev/null"])
        .env("TERM", "xterm-256color")
        .env_remove("NO_COLOR")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("util-linux `script` runs the binary in a pseudo-terminal");
    let mut stdout = child.stdout.take().unwrap();
    let (tx, chunks) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let screen = Screen {
        chunks,
        raw: Vec::new(),
        vt: vt100::Parser::new(
            NonZeroU16::new(24).unwrap(),
            NonZeroU16::new(80).unwrap(),
            0,
        ),
    };
    let keys = child.stdin.take().unwrap();
    (child, screen, keys)
}

pub fn press(keys: &mut ChildStdin, k: &str) {
    keys.write_all(k.as_bytes()).unwrap();
    keys.flush().unwrap();
}
