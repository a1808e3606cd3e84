//! The lab's log file: nothing may reach stdout while the TUI is up, so sessions, sweeps,
//! training runs and errors are logged (through the `log` facade) to a file: `--log PATH`,
//! else `$XDG_STATE_HOME/shatterlab/shatterlab.log`, else
//! `~/.local/state/shatterlab/shatterlab.log`.

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

use anyhow::Context;
use simplelog::{ConfigBuilder, LevelFilter, WriteLogger};

const FILE: &str = "shatterlab.log";

/// The log file from the flag, else the environment (read through `env`, so tests need not
/// touch the process's own).
pub fn log_path(
    flag: Option<&Path>,
    env: impl Fn(&str) -> Option<OsString>,
) -> anyhow::Result<PathBuf> {
    if let Some(path) = flag {
        return Ok(path.to_path_buf());
    }
    crate::xdg::app_dir("XDG_STATE_HOME", ".local/state", env)
        .map(|dir| dir.join(FILE))
        .context("no log file: pass --log PATH (HOME is not set)")
}

/// Appends the process's log records to `path`, creating its directory. Err says why not;
/// the lab runs on without a log then.
pub fn open(path: &Path) -> anyhow::Result<()> {
    let why = || format!("cannot open log {}", path.display());
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(why)?;
    }
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(why)?;
    let config = ConfigBuilder::new()
        // candle and friends are quiet at info; keep their debug chatter out.
        .add_filter_allow_str("shatterlab")
        .build();
    WriteLogger::init(LevelFilter::Info, config, file).with_context(why)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xdg::fake_env;

    #[test]
    fn flag_then_xdg_state_then_home() {
        let all = [("XDG_STATE_HOME", "/s"), ("HOME", "/h")];
        let path =
            |flag: Option<&str>, vars| log_path(flag.map(Path::new), fake_env(vars)).unwrap();
        assert_eq!(path(Some("l.log"), &all), Path::new("l.log"));
        assert_eq!(path(None, &all), Path::new("/s/shatterlab/shatterlab.log"));
        assert_eq!(
            path(None, &[("XDG_STATE_HOME", "rel"), ("HOME", "/h")]),
            Path::new("/h/.local/state/shatterlab/shatterlab.log")
        );
        assert_eq!(
            path(None, &[("XDG_STATE_HOME", ""), ("HOME", "/h")]),
            Path::new("/h/.local/state/shatterlab/shatterlab.log")
        );
        let e = log_path(None, fake_env(&[])).unwrap_err();
        assert!(e.to_string().contains("--log"), "{e}");
    }

    #[test]
    fn an_unwritable_log_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, "").unwrap();
        let e = open(&blocker.join("sub/shatterlab.log")).unwrap_err();
        assert!(e.to_string().contains("cannot open log"), "{e:#}");
    }
}
