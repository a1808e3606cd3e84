//! Append-only JSONL log of a run under the runs directory. A record is written whole or
//! not at all: a write that fails part-way (a full disk) is rolled back to the previous
//! length, and a log left with a torn last line by a killed process is repaired before
//! anything is appended to it. Every open log is registered so that a signal or a panic
//! can close it with an `end` record from any thread (`close_live_logs`). `read_log` reads
//! one back.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, TryLockError, Weak};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::train::config::TrainConfig;
use crate::train::trainer::{RunState, TrainEvent};

/// The line that opens a run's log, and each resumption of it.
#[derive(Serialize)]
pub struct Header<'a> {
    /// "config" for a fresh run, "resume" when continuing from a checkpoint.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub run: &'a str,
    pub seed: u64,
    /// Steps already taken (0 for a fresh run).
    pub step: u64,
    pub config: &'a TrainConfig,
}

/// An open run log.
pub struct RunLog {
    shared: Arc<Mutex<LogFile>>,
    path: PathBuf,
}

/// The file and what an `end` record written on the run's behalf needs, behind one lock so
/// a closing thread and the run's own appends never interleave.
struct LogFile {
    file: File,
    path: PathBuf,
    /// The last step and epoch any record carried.
    step: u64,
    epoch: usize,
    /// An `end` record is written: nothing more is appended.
    closed: bool,
}

/// Every log opened by this process (dead entries are pruned as logs open).
static LIVE: Mutex<Vec<Weak<Mutex<LogFile>>>> = Mutex::new(Vec::new());

/// What closing does with a log another thread is writing at that moment.
#[derive(Clone, Copy, Debug)]
pub enum Busy {
    /// Wait for the write to finish (a signal's own thread holds no log).
    Wait,
    /// Retry for at most this long, then leave the log (a panic hook: the panicking thread
    /// may hold that very lock, mid-write, and would never let go). Skipping at once lost
    /// the `end` record whenever the panic met a step's write, which a loaded machine that
    /// preempts the writer mid-line makes likely.
    RetryFor(Duration),
}

/// Writes an `end` record with `state` to every open log not yet ended, and ends them: for
/// a signal or a panic, from any thread.
pub fn close_live_logs(state: RunState, busy: Busy) {
    let live = LIVE.lock().unwrap_or_else(PoisonError::into_inner).clone();
    for log in live.iter().filter_map(Weak::upgrade) {
        close(&log, state, busy);
    }
}

fn close(log: &Mutex<LogFile>, state: RunState, busy: Busy) {
    let mut f = match busy {
        Busy::Wait => log.lock().unwrap_or_else(PoisonError::into_inner),
        Busy::RetryFor(patience) => {
            let deadline = Instant::now() + patience;
            loop {
                match log.try_lock() {
                    Ok(f) => break f,
                    Err(TryLockError::Poisoned(p)) => break p.into_inner(),
                    Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Err(TryLockError::WouldBlock) => return,
                }
            }
        }
    };
    if f.closed {
        return;
    }
    let end = TrainEvent::End {
        step: f.step,
        epoch: f.epoch,
        state,
    };
    let written = serde_json::to_vec(&end)
        .map_err(anyhow::Error::from)
        .and_then(|line| f.append_line(line));
    if let Err(e) = written {
        eprintln!("{e:#}");
    }
}

impl LogFile {
    /// Writes one record as one line, or nothing.
    fn append_line(&mut self, mut line: Vec<u8>) -> anyhow::Result<()> {
        if self.closed {
            return Ok(());
        }
        let value: serde_json::Value = serde_json::from_slice(&line)?;
        line.push(b'\n');
        let failed = |e: std::io::Error| {
            anyhow::anyhow!("cannot write run log {}: {e}", self.path.display())
        };
        let before = self.file.metadata().map_err(failed)?.len();
        if let Err(e) = self.file.write_all(&line) {
            // A partial line would corrupt the log for every later reader and appender.
            return Err(match self.file.set_len(before) {
                Ok(()) => failed(e),
                Err(undo) => anyhow::anyhow!(
                    "cannot write run log {}: {e}; removing the partial line failed too: {undo}",
                    self.path.display()
                ),
            });
        }
        if let Some(step) = value.get("step").and_then(serde_json::Value::as_u64) {
            self.step = step;
        }
        if let Some(epoch) = value.get("epoch").and_then(serde_json::Value::as_u64) {
            self.epoch = epoch as usize;
        }
        self.closed = value.get("type").and_then(serde_json::Value::as_str) == Some("end");
        Ok(())
    }

    /// Truncates the log to its last complete line.
    fn repair(&mut self) -> std::io::Result<Option<String>> {
        let mut text = Vec::new();
        self.file.seek(SeekFrom::Start(0))?;
        (&self.file).read_to_end(&mut text)?;
        if text.is_empty() || text.ends_with(b"\n") {
            return Ok(None);
        }
        let keep = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        self.file.set_len(keep as u64)?;
        Ok(Some(format!(
            "run log {} ended in an incomplete line ({} bytes from an interrupted write); \
             removed it before appending",
            self.path.display(),
            text.len() - keep
        )))
    }
}

impl RunLog {
    /// Wraps an open file and registers it as live.
    fn register(file: File, path: PathBuf) -> Self {
        let shared = Arc::new(Mutex::new(LogFile {
            file,
            path: path.clone(),
            step: 0,
            epoch: 0,
            closed: false,
        }));
        let mut live = LIVE.lock().unwrap_or_else(PoisonError::into_inner);
        live.retain(|w| w.strong_count() > 0);
        live.push(Arc::downgrade(&shared));
        Self { shared, path }
    }

    /// Starts a new log `runs_dir/<name>.jsonl`, adding `-2`, `-3`... to `name` if a run of
    /// that name exists (same settings started in the same second). Returns the name used.
    pub fn create(runs_dir: &Path, name: &str) -> anyhow::Result<(Self, String)> {
        check_run_name(name).map_err(anyhow::Error::msg)?;
        create_runs_dir(runs_dir)?;
        let mut n = 1;
        loop {
            let candidate = if n == 1 {
                name.to_string()
            } else {
                format!("{name}-{n}")
            };
            let path = runs_dir.join(format!("{candidate}.jsonl"));
            match OpenOptions::new().create_new(true).append(true).open(&path) {
                Ok(file) => return Ok((Self::register(file, path), candidate)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => n += 1,
                Err(e) => anyhow::bail!("cannot create run log {}: {e}", path.display()),
            }
        }
    }

    /// Opens the log of run `name` to continue it (a fresh file if it is gone). A torn last
    /// line (the process died mid-write) is cut off first; the note says so.
    pub fn reopen(runs_dir: &Path, name: &str) -> anyhow::Result<(Self, Option<String>)> {
        check_run_name(name).map_err(anyhow::Error::msg)?;
        create_runs_dir(runs_dir)?;
        let path = runs_dir.join(format!("{name}.jsonl"));
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot open run log {}", path.display()))?;
        let log = Self::register(file, path);
        let note = log
            .lock()
            .repair()
            .map_err(|e| anyhow::anyhow!("cannot repair run log {}: {e}", log.path.display()))?;
        Ok((log, note))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LogFile> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record as one line, or nothing (a full disk). Records carrying `step`
    /// and `epoch` keep what a closing `end` record reports; an `end` record ends the log.
    pub fn append<T: Serialize>(&mut self, record: &T) -> anyhow::Result<()> {
        self.append_raw(serde_json::to_vec(record)?)
    }

    /// Appends one already serialised record (a JSON object without its newline) as one line.
    pub fn append_raw(&mut self, line: Vec<u8>) -> anyhow::Result<()> {
        self.lock().append_line(line)
    }
}

fn create_runs_dir(runs_dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(runs_dir)
        .with_context(|| format!("cannot create runs directory {}", runs_dir.display()))
}

/// A run log read back.
#[derive(Clone, Debug, PartialEq)]
pub struct LoggedRun {
    pub path: PathBuf,
    /// The first header's settings as written (null without a header). Kept as JSON so that
    /// a reader can list a run whose settings this build no longer parses.
    pub settings: serde_json::Value,
    /// Its step, epoch and end records, in order.
    pub events: Vec<TrainEvent>,
}

impl LoggedRun {
    /// The run's settings, or why they cannot be read.
    pub fn config(&self) -> anyhow::Result<TrainConfig> {
        anyhow::ensure!(
            !self.settings.is_null(),
            "run log {}: no config record",
            self.path.display()
        );
        TrainConfig::deserialize(&self.settings)
            .with_context(|| format!("run log {}: unreadable settings", self.path.display()))
    }
}

/// The run logs (`*.jsonl`) in `dir`, by name: oldest first, as names start with the start
/// time. A missing directory holds none.
pub fn log_paths(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => anyhow::bail!("cannot read the runs directory {}: {e}", dir.display()),
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl") && p.is_file())
        .collect();
    paths.sort();
    Ok(paths)
}

/// Reads the log at `path`, refusing one longer than `max_bytes`. A line that is not a
/// record (a torn last line, a foreign line) is skipped.
pub fn read_log(path: &Path, max_bytes: u64) -> anyhow::Result<LoggedRun> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("cannot read run log {}", path.display()))?
        .len();
    anyhow::ensure!(
        size <= max_bytes,
        "run log {}: {} MiB, over the {} MiB read",
        path.display(),
        size >> 20,
        max_bytes >> 20
    );
    let bytes = crate::fsio::read_regular(path, "run log")?;
    let mut run = LoggedRun {
        path: path.to_path_buf(),
        settings: serde_json::Value::Null,
        events: Vec::new(),
    };
    for line in String::from_utf8_lossy(&bytes).lines() {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        match value.get("type").and_then(serde_json::Value::as_str) {
            Some("config" | "resume") => {
                if run.settings.is_null() {
                    run.settings = value.get("config").cloned().unwrap_or_default();
                }
            }
            _ => run.events.extend(TrainEvent::deserialize(&value).ok()),
        }
    }
    Ok(run)
}

/// Longest run name accepted (file systems allow 255 bytes; the suffixes need room).
const MAX_RUN_NAME: usize = 200;

/// A run name becomes a file name under the runs directory, and names come from
/// checkpoints and logs that anyone may have edited: only a plain stem is accepted (ASCII
/// letters, digits, `-`, `_`, `.`, `+`; no leading dot), so no name can reach outside the
/// runs directory or hide its files.
pub fn check_run_name(name: &str) -> Result<(), String> {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_.+".contains(c);
    if name.is_empty()
        || name.len() > MAX_RUN_NAME
        || name.starts_with('.')
        || !name.chars().all(plain)
    {
        return Err(format!(
            "invalid run name {name:?}: expected 1..={MAX_RUN_NAME} letters, digits, '-', '_', \
             '.' or '+', not starting with '.'"
        ));
    }
    Ok(())
}

/// A run's name: start time, the net's toggles and the seed, readable in a directory listing.
pub fn run_name(cfg: &TrainConfig, unix_secs: u64) -> String {
    format!("{unix_secs}-{}", run_stem(cfg))
}

/// The net's toggles and the seed, e.g. `d8-relu-he-bn-ff-s0` (`d1-linear-s0` for the
/// linear classifier, which has none of them).
pub fn run_stem(cfg: &TrainConfig) -> String {
    let net = &cfg.net;
    if net.is_linear() {
        return format!("d{}-linear-s{}", net.depth, cfg.seed);
    }
    let init = serde_json::to_value(net.init)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    format!(
        "d{}-{}-{init}-{}-{}-s{}",
        net.depth,
        if net.act == crate::config::Activation::Crelu {
            "crelu"
        } else {
            "relu"
        },
        if net.bn { "bn" } else { "nobn" },
        if net.skip { "res" } else { "ff" },
        cfg.seed
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_get_distinct_logs_and_whole_lines() {
        let dir = tempfile::tempdir().unwrap();
        let runs = dir.path().join("runs");
        let (mut a, name_a) = RunLog::create(&runs, "r").unwrap();
        let (_, name_b) = RunLog::create(&runs, "r").unwrap();
        assert_eq!((name_a.as_str(), name_b.as_str()), ("r", "r-2"));
        a.append(&serde_json::json!({"step": 1})).unwrap();
        RunLog::reopen(&runs, "r")
            .unwrap()
            .0
            .append(&serde_json::json!({"step": 2}))
            .unwrap();
        let text = std::fs::read_to_string(a.path()).unwrap();
        assert_eq!(text, "{\"step\":1}\n{\"step\":2}\n");
    }

    #[test]
    fn a_torn_last_line_is_cut_before_appending() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        std::fs::write(&path, "{\"step\":1}\n{\"ste").unwrap();
        let (mut log, note) = RunLog::reopen(dir.path(), "r").unwrap();
        assert!(note.unwrap().contains("incomplete line (5 bytes"));
        log.append(&serde_json::json!({"step": 2})).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "{\"step\":1}\n{\"step\":2}\n");
        assert!(RunLog::reopen(dir.path(), "r").unwrap().1.is_none());
    }

    #[test]
    fn live_logs_are_closed_once_with_their_last_progress() {
        let dir = tempfile::tempdir().unwrap();
        let (mut open, _) = RunLog::create(dir.path(), "open").unwrap();
        let (mut ended, _) = RunLog::create(dir.path(), "ended").unwrap();
        open.append(&serde_json::json!({"type": "step", "step": 7, "epoch": 1}))
            .unwrap();
        ended
            .append(&serde_json::json!({"type": "end", "step": 2, "epoch": 0}))
            .unwrap();
        // Other tests' logs are live too: close only this test's, as close_live_logs would.
        let live = LIVE.lock().unwrap().clone();
        for log in [&open, &ended] {
            assert!(live.iter().any(|w| w.as_ptr() == Arc::as_ptr(&log.shared)));
            close(&log.shared, RunState::Cancelled, Busy::Wait);
            close(
                &log.shared,
                RunState::Cancelled,
                Busy::RetryFor(Duration::ZERO),
            );
        }
        // Appends after the end (a run's thread still stepping) are dropped.
        open.append(&serde_json::json!({"type": "step", "step": 8}))
            .unwrap();
        let read = |log: &RunLog| std::fs::read_to_string(log.path()).unwrap();
        assert_eq!(
            read(&open).lines().last().unwrap(),
            r#"{"type":"end","step":7,"epoch":1,"state":"cancelled"}"#
        );
        assert_eq!(read(&open).lines().count(), 2);
        assert_eq!(read(&ended).lines().count(), 1);
    }

    #[test]
    fn a_panic_close_waits_out_a_write_in_flight_but_not_a_held_lock() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = RunLog::create(dir.path(), "busy").unwrap();
        log.append(&serde_json::json!({"type": "step", "step": 3, "epoch": 0}))
            .unwrap();
        let (held, release) = std::sync::mpsc::channel::<()>();
        let (taken, wait_taken) = std::sync::mpsc::channel::<()>();
        let shared = Arc::clone(&log.shared);
        // Another thread in the middle of a write: it holds the lock until told to let go.
        let writer = std::thread::spawn(move || {
            let _guard = shared.lock().unwrap();
            taken.send(()).unwrap();
            release.recv().unwrap();
        });
        wait_taken.recv().unwrap();
        // Held for good: a bounded close gives up and writes nothing.
        close(
            &log.shared,
            RunState::Cancelled,
            Busy::RetryFor(Duration::ZERO),
        );
        let before = std::fs::read_to_string(log.path()).unwrap();
        assert_eq!(before.lines().count(), 1, "{before}");
        held.send(()).unwrap();
        writer.join().unwrap();
        // Let go: the same close now ends the log.
        close(
            &log.shared,
            RunState::Cancelled,
            Busy::RetryFor(Duration::from_secs(5)),
        );
        let text = std::fs::read_to_string(log.path()).unwrap();
        assert_eq!(
            text.lines().last().unwrap(),
            r#"{"type":"end","step":3,"epoch":0,"state":"cancelled"}"#
        );
    }

    #[test]
    fn run_names_are_plain_stems() {
        for bad in [
            "",
            "../x",
            "/abs",
            "a/b",
            ".hidden",
            "a\\b",
            "x\0",
            "é",
            &"a".repeat(201),
        ] {
            assert!(check_run_name(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["7-d8-relu-he-bn-ff-s0", "r-2", "a.b+c_d"] {
            check_run_name(good).unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        let e = RunLog::reopen(dir.path(), "../escape").err().unwrap();
        assert!(
            e.to_string().starts_with("invalid run name \"../escape\""),
            "{e}"
        );
    }

    #[test]
    fn a_log_reads_back_its_settings_and_records() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = TrainConfig::default();
        let (mut log, _) = RunLog::create(dir.path(), "r").unwrap();
        let header = Header {
            kind: "config",
            run: "r",
            seed: 0,
            step: 0,
            config: &cfg,
        };
        log.append(&header).unwrap();
        let end = TrainEvent::End {
            step: 3,
            epoch: 1,
            state: RunState::Finished,
        };
        log.append(&end).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a log").unwrap();
        let mut torn = std::fs::read(log.path()).unwrap();
        torn.extend_from_slice(br#"{"type":"st"#);
        std::fs::write(dir.path().join("s.jsonl"), &torn).unwrap();
        let paths = log_paths(dir.path()).unwrap();
        assert_eq!(
            paths,
            [dir.path().join("r.jsonl"), dir.path().join("s.jsonl")]
        );
        for path in &paths {
            let run = read_log(path, 1 << 20).unwrap();
            assert_eq!(run.config().unwrap(), cfg);
            assert_eq!(run.events, std::slice::from_ref(&end));
        }
        let e = read_log(&paths[0], 10).unwrap_err().to_string();
        assert!(e.contains("r.jsonl") && e.contains("over the"), "{e}");
        assert!(log_paths(&dir.path().join("none")).unwrap().is_empty());
    }

    #[test]
    fn run_names_show_the_toggles_and_seed() {
        let mut cfg = TrainConfig::default();
        assert_eq!(run_name(&cfg, 7), "7-d8-relu-he-bn-ff-s0");
        cfg.net.depth = 1;
        assert_eq!(run_name(&cfg, 7), "7-d1-linear-s0");
    }
}
