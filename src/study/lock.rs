//! One lock per run, so two workers on one runs directory never train the same run at once.
//! It is an open-file-description lock (`F_OFD_SETLK`) on `<run>.lock`: the kernel drops it
//! when the holder's file is closed, so a killed worker never leaves a run stuck, and a
//! reader can ask whether a run is held (`F_OFD_GETLK`) without taking the lock itself.
//! The lock files stay: deleting one while another worker opens it would split the lock.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// A held run lock; dropping it (or the process dying) releases it.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

fn lock_path(runs_dir: &Path, run: &str) -> PathBuf {
    runs_dir.join(format!("{run}.lock"))
}

/// A whole-file lock request of `kind` (F_WRLCK, or F_UNLCK).
fn whole_file(kind: i32) -> libc::flock {
    // SAFETY: flock is plain data; all-zero is a valid value, every field is set below.
    let mut l: libc::flock = unsafe { std::mem::zeroed() };
    l.l_type = kind as libc::c_short;
    l.l_whence = libc::SEEK_SET as libc::c_short;
    l
}

/// Takes run `run`'s lock, or None when another worker holds it.
pub fn try_lock(runs_dir: &Path, run: &str) -> anyhow::Result<Option<RunLock>> {
    let path = lock_path(runs_dir, run);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| anyhow::anyhow!("cannot open run lock {}: {e}", path.display()))?;
    let mut request = whole_file(libc::F_WRLCK);
    // SAFETY: fcntl on a descriptor we own with a valid flock.
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_SETLK, &mut request) };
    if rc == 0 {
        return Ok(Some(RunLock { _file: file }));
    }
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EAGAIN) | Some(libc::EACCES) => Ok(None),
        _ => anyhow::bail!("cannot lock run {}: {e}", path.display()),
    }
}

/// Whether some worker holds run `run`'s lock now (false when there is no lock file).
pub fn is_held(runs_dir: &Path, run: &str) -> bool {
    let Ok(file) = File::open(lock_path(runs_dir, run)) else {
        return false;
    };
    let mut query = whole_file(libc::F_WRLCK);
    // SAFETY: fcntl on a descriptor we own with a valid flock.
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_GETLK, &mut query) };
    rc == 0 && i32::from(query.l_type) != libc::F_UNLCK
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_is_held_once_and_free_again_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!is_held(dir.path(), "r"));
        let held = try_lock(dir.path(), "r").unwrap().expect("free");
        assert!(is_held(dir.path(), "r"));
        assert!(try_lock(dir.path(), "r").unwrap().is_none());
        assert!(try_lock(dir.path(), "other").unwrap().is_some());
        drop(held);
        assert!(!is_held(dir.path(), "r"));
        assert!(try_lock(dir.path(), "r").unwrap().is_some());
    }
}
