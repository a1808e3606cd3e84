//! Where the CIFAR-10 data lives: `--data-dir`, else `SHATTERLAB_DATA`, else the XDG data
//! directory (`$XDG_DATA_HOME/shatterlab`, or `~/.local/share/shatterlab`).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::train::cifar::TRAIN_FILES;

/// Environment variable naming the data directory.
pub const DATA_ENV: &str = "SHATTERLAB_DATA";
/// Directory the official archive unpacks into.
pub const BATCHES_DIR: &str = "cifar-10-batches-bin";

/// Whether the data directory holds CIFAR-10 (what the training tab shows and the worker
/// reports when it starts).
#[derive(Clone, Debug, PartialEq)]
pub enum DataStatus {
    Found {
        dir: PathBuf,
    },
    /// `root` is the data root the download command would fill.
    Missing {
        root: Option<PathBuf>,
        reason: String,
    },
}

/// The data root from the flag (spelt `flag_name` in errors), else the environment (read
/// through `env`, so tests need not touch the process's own).
pub fn data_root(
    flag: Option<&Path>,
    flag_name: &str,
    env: impl Fn(&str) -> Option<OsString>,
) -> anyhow::Result<PathBuf> {
    if let Some(dir) = flag {
        return Ok(dir.to_path_buf());
    }
    if let Some(dir) = env(DATA_ENV).filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    crate::xdg::app_dir("XDG_DATA_HOME", ".local/share", env).ok_or_else(|| {
        anyhow::anyhow!("no data directory: pass {flag_name} or set {DATA_ENV} (HOME is not set)")
    })
}

/// The directory holding the `.bin` batches: `root` itself when it has them (a path straight
/// to the batches), else `root/cifar-10-batches-bin` (where `data download` puts them).
pub fn batches_dir(root: &Path) -> PathBuf {
    if root.join(TRAIN_FILES[0]).is_file() {
        root.to_path_buf()
    } else {
        root.join(BATCHES_DIR)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xdg::fake_env;

    #[test]
    fn flag_then_env_then_xdg_then_home() {
        let all = [
            ("SHATTERLAB_DATA", "/d"),
            ("XDG_DATA_HOME", "/x"),
            ("HOME", "/h"),
        ];
        let root = |flag: Option<&str>, vars| {
            data_root(flag.map(Path::new), "--data-dir", fake_env(vars)).unwrap()
        };
        assert_eq!(root(Some("/f"), &all), Path::new("/f"));
        assert_eq!(root(None, &all), Path::new("/d"));
        assert_eq!(root(None, &all[1..]), Path::new("/x/shatterlab"));
        assert_eq!(
            root(None, &[("XDG_DATA_HOME", "rel"), ("HOME", "/h")]),
            Path::new("/h/.local/share/shatterlab")
        );
        assert_eq!(
            root(None, &[("SHATTERLAB_DATA", ""), ("HOME", "/h")]),
            Path::new("/h/.local/share/shatterlab")
        );
        assert!(
            data_root(None, "--dir", fake_env(&[]))
                .unwrap_err()
                .to_string()
                .contains("pass --dir")
        );
    }
}
