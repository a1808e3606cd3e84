//! Files in and out without collateral damage. Results are written through a symlink to its
//! target, atomically (a temp file beside the target, renamed over it), so a crash leaves the
//! old file or the new one and a link is never replaced by a copy; devices and FIFOs are
//! written in place, never replaced. Inputs are checked before they are opened, so a FIFO
//! given as a data file cannot hang the program and each fault gets its own words.

use std::fs::{File, Metadata, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;

/// Marks a temp file of ours: `.<name>.tmp<pid>-<random>` beside `<name>`. The pid tells a
/// live writer's temp file from a killed one's.
const TEMP_TAG: &str = ".tmp";
/// Symlink hops followed before giving up (the kernel's own limit).
const MAX_LINK_HOPS: usize = 40;

/// Writes `contents` to `path`. A symlink is followed and its target written; a regular
/// file (or none) is replaced atomically, keeping its permissions; a character device or a
/// FIFO is written in place; anything else is refused. Temp files never outlive the call,
/// and stale ones of killed runs beside the target are removed.
pub fn write_file(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let target = resolve_links(path)?;
    match std::fs::metadata(&target) {
        Ok(meta) if meta.is_file() => replace_atomically(&target, contents, Some(&meta)),
        Ok(meta) => write_in_place(path, &meta, contents),
        Err(e) if e.kind() == ErrorKind::NotFound => replace_atomically(&target, contents, None),
        Err(e) => Err(e).with_context(|| format!("cannot write {}", path.display())),
    }
    .with_context(|| describe_target(path, &target))
}

/// Refuses to go on when `path` exists (a dangling link counts), unless `force`: outputs
/// that a user names are never replaced by surprise. `flag` names the option in the error.
pub fn ensure_new(path: &Path, force: bool, flag: &str) -> anyhow::Result<()> {
    if !force && std::fs::symlink_metadata(path).is_ok() {
        anyhow::bail!(
            "{flag} {} already exists: pass --force to replace it",
            path.display()
        );
    }
    Ok(())
}

/// "`path`" or "`path` (a link to `target`)", for error messages.
fn describe_target(path: &Path, target: &Path) -> String {
    if path == target {
        format!("cannot write {}", path.display())
    } else {
        format!(
            "cannot write {} (a link to {})",
            path.display(),
            target.display()
        )
    }
}

/// Follows symlinks (dangling ones too: a link to a file not yet written names where the
/// file should go). Magic links such as /dev/stdout are left alone: their `read_link` text
/// is not a path.
fn resolve_links(path: &Path) -> anyhow::Result<PathBuf> {
    let mut current = path.to_path_buf();
    for _ in 0..MAX_LINK_HOPS {
        match std::fs::symlink_metadata(&current) {
            Ok(m) if m.file_type().is_symlink() => {
                if std::fs::metadata(&current).is_ok_and(|m| !m.is_file()) {
                    return Ok(current);
                }
                let link = std::fs::read_link(&current)
                    .with_context(|| format!("cannot read link {}", current.display()))?;
                current = match current.parent() {
                    Some(dir) if link.is_relative() => dir.join(link),
                    _ => link,
                };
            }
            _ => return Ok(current),
        }
    }
    anyhow::bail!(
        "{}: more than {MAX_LINK_HOPS} symbolic links (a loop?)",
        path.display()
    )
}

/// Temp file in the target's directory, synced, renamed over the target.
fn replace_atomically(
    target: &Path,
    contents: &[u8],
    existing: Option<&Metadata>,
) -> anyhow::Result<()> {
    let name = target
        .file_name()
        .ok_or_else(|| anyhow::anyhow!("expected a file name, not a directory"))?;
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    anyhow::ensure!(dir.is_dir(), "directory {} does not exist", dir.display());
    let name = name.to_string_lossy();
    remove_stale_temps(dir, &name);
    let mut builder = tempfile::Builder::new();
    let prefix = format!(".{name}{TEMP_TAG}{}-", std::process::id());
    builder.prefix(&prefix).rand_bytes(6);
    // New files get the usual 0666-minus-umask; replaced ones keep their mode.
    let mode = existing.map_or(0o666, |m| m.permissions().mode());
    builder.permissions(std::fs::Permissions::from_mode(mode));
    let mut tmp = builder.tempfile_in(dir)?;
    tmp.write_all(contents)?;
    tmp.as_file().sync_all()?;
    if existing.is_some() {
        // The umask applied at creation; a replaced file keeps exactly its old mode.
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    // On failure the returned NamedTempFile is dropped, which deletes it.
    tmp.persist(target).map_err(|e| e.error)?;
    // The rename is durable once the directory is synced; a failure here loses nothing.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// A device or FIFO: written through, never replaced. A FIFO is opened without blocking so
/// that one nobody reads is an error, not a hang.
fn write_in_place(path: &Path, meta: &Metadata, contents: &[u8]) -> anyhow::Result<()> {
    let kind = meta.file_type();
    if kind.is_dir() {
        anyhow::bail!("it is a directory");
    }
    if !(kind.is_char_device() || kind.is_fifo()) {
        anyhow::bail!(
            "it is a {}, not a regular file, character device or FIFO",
            kind_name(meta)
        );
    }
    let file = OpenOptions::new()
        .write(true)
        .custom_flags(if kind.is_fifo() { libc::O_NONBLOCK } else { 0 })
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ENXIO) => anyhow::anyhow!("no process is reading the FIFO"),
            _ => e.into(),
        })?;
    if kind.is_fifo() {
        set_blocking(&file)?;
    }
    (&file).write_all(contents)?;
    Ok(())
}

/// Clears O_NONBLOCK so writes wait for a slow reader instead of failing.
fn set_blocking(file: &File) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on a descriptor we own, with flag arguments only.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Deletes `.<name>.tmp<pid>-*` files in `dir` whose writer is no longer running: what a
/// killed run left behind. A live writer's temp file (its pid still exists) is left alone.
pub fn remove_stale_temps(dir: &Path, name: &str) {
    let prefix = format!(".{name}{TEMP_TAG}");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(rest) = file_name.to_str().and_then(|n| n.strip_prefix(&prefix)) else {
            continue;
        };
        let pid: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        let alive = pid != std::process::id() && Path::new(&format!("/proc/{pid}")).exists();
        if !alive && entry.file_type().is_ok_and(|t| t.is_file()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Set when the process started with descriptor 1 closed.
static STDOUT_CLOSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Call first thing in `main`. A process started with descriptor 1 closed finds it on
/// /dev/null, opened read-write by Rust's runtime (a shell's `>/dev/null` opens it
/// write-only): note that stdout is closed, so a report sent there is an error, not lost.
pub fn guard_stdout() {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: F_GETFL only queries the descriptor's flags.
    let flags = unsafe { libc::fcntl(1, libc::F_GETFL) };
    let read_write = flags >= 0 && flags & libc::O_ACCMODE == libc::O_RDWR;
    let on_null = |fd: &str| std::fs::metadata(fd).map(|m| m.rdev()).ok();
    if read_write
        && on_null("/proc/self/fd/1").is_some()
        && on_null("/proc/self/fd/1") == on_null("/dev/null")
    {
        STDOUT_CLOSED.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Standard output as a plain file: unlike `std::io::stdout`, a closed stdout is an error,
/// not silently swallowed, so a report that went nowhere never exits 0.
pub struct Stdout(File);

impl Stdout {
    pub fn open() -> anyhow::Result<Self> {
        anyhow::ensure!(
            !STDOUT_CLOSED.load(std::sync::atomic::Ordering::Relaxed),
            "cannot write to stdout: it is closed"
        );
        let fd = std::io::stdout()
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| anyhow::anyhow!("cannot write to stdout: {e} (is it closed?)"))?;
        Ok(Self(File::from(fd)))
    }

    /// Writes all of `bytes`; a full disk, a closed pipe or a closed descriptor is an error.
    pub fn write(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.0
            .write_all(bytes)
            .map_err(|e| anyhow::anyhow!("cannot write to stdout: {e}"))
    }
}

/// Checks that `path` is a regular file (following links) before anything opens it, so a
/// FIFO cannot block the program; the error says exactly what is wrong with `what` (e.g.
/// "config file") at `path`.
pub fn check_regular(path: &Path, what: &str) -> anyhow::Result<Metadata> {
    let shown = path.display();
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            if std::fs::symlink_metadata(path).is_ok() {
                let to = std::fs::read_link(path)
                    .map(|t| t.display().to_string())
                    .unwrap_or_default();
                anyhow::bail!("{what} {shown} is a dangling symbolic link (to {to})");
            }
            anyhow::bail!("{what} {shown} not found");
        }
        Err(e) => anyhow::bail!("cannot read {what} {shown}: {e}"),
    };
    anyhow::ensure!(
        meta.is_file(),
        "{what} {shown} is a {}, expected a regular file",
        kind_name(&meta)
    );
    Ok(meta)
}

/// Reads a whole input file after [`check_regular`]; errors name `what` and `path`.
pub fn read_regular(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    check_regular(path, what)?;
    std::fs::read(path).map_err(|e| match e.kind() {
        ErrorKind::PermissionDenied => {
            anyhow::anyhow!(
                "{what} {} is not readable (permission denied)",
                path.display()
            )
        }
        _ => anyhow::anyhow!("cannot read {what} {}: {e}", path.display()),
    })
}

fn kind_name(meta: &Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        "directory"
    } else if t.is_fifo() {
        "FIFO"
    } else if t.is_socket() {
        "socket"
    } else if t.is_char_device() {
        "character device"
    } else if t.is_block_device() {
        "block device"
    } else if t.is_file() {
        "regular file"
    } else {
        "special file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn temps_in(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(TEMP_TAG))
            .collect()
    }

    #[test]
    fn a_symlink_is_followed_and_its_target_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("real.json");
        std::fs::write(&target, "old").unwrap();
        let link = dir.path().join("link.json");
        symlink("real.json", &link).unwrap();
        write_file(&link, b"new").unwrap();
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
        // A dangling link names where the file goes.
        let dangling = dir.path().join("later.json");
        symlink("made.json", &dangling).unwrap();
        write_file(&dangling, b"x").unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("made.json")).unwrap(),
            "x"
        );
        assert!(temps_in(dir.path()).is_empty());
    }

    #[test]
    fn a_replaced_file_keeps_its_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_file(&path, b"new").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
    }

    #[test]
    fn devices_are_written_in_place_and_failures_leave_no_temp_file() {
        write_file(Path::new("/dev/null"), b"x").unwrap();
        assert!(
            std::fs::metadata("/dev/null")
                .unwrap()
                .file_type()
                .is_char_device()
        );
        let e = format!(
            "{:#}",
            write_file(Path::new("/dev/full"), b"x").unwrap_err()
        );
        assert!(e.contains("/dev/full") && e.contains("No space"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let e = format!("{:#}", write_file(dir.path(), b"x").unwrap_err());
        assert!(e.contains("directory"), "{e}");
        let e = format!(
            "{:#}",
            write_file(&dir.path().join("no/such/dir.json"), b"x").unwrap_err()
        );
        assert!(e.contains("does not exist"), "{e}");
        assert!(temps_in(dir.path()).is_empty());
    }

    #[test]
    fn a_fifo_without_a_reader_is_an_error_not_a_hang() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("f");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let e = format!("{:#}", write_file(&fifo, b"x").unwrap_err());
        assert!(e.contains("no process is reading"), "{e}");
        assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
        let e = check_regular(&fifo, "config file").unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "config file {} is a FIFO, expected a regular file",
                fifo.display()
            )
        );
    }

    #[test]
    fn stale_temps_of_dead_writers_are_removed_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        // pid 4194305 is above Linux's largest pid_max, so never alive; 1 (init) always is.
        let dead = dir.path().join(".r.json.tmp4194305-abc");
        let live = dir.path().join(".r.json.tmp1-abc");
        let other = dir.path().join(".other.tmp4194305-abc");
        for p in [&dead, &live, &other] {
            std::fs::write(p, "").unwrap();
        }
        write_file(&dir.path().join("r.json"), b"{}").unwrap();
        assert!(!dead.exists());
        assert!(live.exists() && other.exists());
    }

    #[test]
    fn input_faults_get_their_own_words() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let missing = d.join("missing.bin");
        assert_eq!(
            check_regular(&missing, "data file")
                .unwrap_err()
                .to_string(),
            format!("data file {} not found", missing.display())
        );
        let e = check_regular(d, "data file").unwrap_err().to_string();
        assert!(
            e.ends_with("is a directory, expected a regular file"),
            "{e}"
        );
        let link = d.join("link.bin");
        symlink("gone.bin", &link).unwrap();
        let e = check_regular(&link, "data file").unwrap_err().to_string();
        assert!(e.contains("dangling symbolic link (to gone.bin)"), "{e}");
        std::fs::write(d.join("ok"), "1").unwrap();
        assert_eq!(read_regular(&d.join("ok"), "x").unwrap(), b"1");
    }
}
