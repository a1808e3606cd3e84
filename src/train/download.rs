//! `shatterlab data download`: fetch the official CIFAR-10 binary archive, resuming an
//! interrupted transfer, verify its size and checksums, and unpack it safely: entries are
//! checked (no absolute paths, no `..`, no links), written into a temporary directory and
//! renamed into place only when complete, so a failure never leaves a half-made data set.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use md5::Md5;
use sha2::{Digest, Sha256};

use crate::train::cifar::{TEST_FILE, TRAIN_FILES};
use crate::train::datadir::BATCHES_DIR;

/// The official archive.
pub const CIFAR_URL: &str = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";
const CIFAR_SIZE: u64 = 170_052_171;
const CIFAR_MD5: &str = "c32a1d4ab5d03f1284b67883e8d87530";
const CIFAR_SHA256: &str = "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd";
/// Environment variable that replaces the archive's URL (a mirror, or a test server).
pub const URL_ENV: &str = "SHATTERLAB_CIFAR_URL";
/// Name of the archive while it downloads; it is resumed from where it stopped.
const PART_NAME: &str = "cifar-10-binary.tar.gz.part";
/// Name of the verified archive until it is unpacked.
const ARCHIVE_NAME: &str = "cifar-10-binary.tar.gz";

/// What to fetch and how to recognise it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    pub url: String,
    pub size: u64,
    pub md5: String,
    pub sha256: String,
}

impl Source {
    /// The official archive, possibly from another URL (same bytes expected).
    pub fn official(url: Option<String>) -> Self {
        Self {
            url: url.unwrap_or_else(|| CIFAR_URL.to_string()),
            size: CIFAR_SIZE,
            md5: CIFAR_MD5.to_string(),
            sha256: CIFAR_SHA256.to_string(),
        }
    }
}

/// How hard to try.
#[derive(Clone, Copy, Debug)]
pub struct Retry {
    /// Transfers attempted (each resuming the last) before giving up.
    pub attempts: u32,
    pub delay: Duration,
    /// A transfer that receives nothing for this long is abandoned (and resumed by the next
    /// attempt), so a stalled server cannot hang the download.
    pub stall: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Self {
            attempts: 4,
            delay: Duration::from_secs(2),
            stall: Duration::from_secs(60),
        }
    }
}

/// What the downloader reports as it goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    /// `done` of `total` bytes are on disk.
    Bytes {
        done: u64,
        total: u64,
    },
    /// A transfer failed and will be resumed.
    Retrying {
        attempt: u32,
        reason: String,
    },
    Verifying,
    Extracting,
}

/// Every file the unpacked directory must hold.
fn expected_files() -> impl Iterator<Item = &'static str> {
    TRAIN_FILES.into_iter().chain([TEST_FILE])
}

fn missing_files(dir: &Path) -> Vec<&'static str> {
    expected_files()
        .filter(|f| !dir.join(f).is_file())
        .collect()
}

/// Makes `root/cifar-10-batches-bin` hold the data set, downloading it if needed; returns
/// that directory.
pub fn download(
    source: &Source,
    root: &Path,
    retry: Retry,
    mut report: impl FnMut(Progress),
) -> anyhow::Result<PathBuf> {
    let dest = root.join(BATCHES_DIR);
    if dest.exists() {
        let missing = missing_files(&dest);
        anyhow::ensure!(
            missing.is_empty(),
            "{} exists but lacks {}: remove it and run `shatterlab data download` again",
            dest.display(),
            missing.join(", ")
        );
        return Ok(dest);
    }
    std::fs::create_dir_all(root)
        .with_context(|| format!("cannot create data directory {}", root.display()))?;
    let archive = root.join(ARCHIVE_NAME);
    if !archive.is_file() {
        let part = root.join(PART_NAME);
        fetch(source, &part, retry, &mut report)?;
        report(Progress::Verifying);
        if let Err(e) = verify(&part, source) {
            // A corrupt file must not be resumed: start over next time.
            let _ = std::fs::remove_file(&part);
            return Err(e.context(format!(
                "download from {} rejected; the partial file was deleted, run again to retry",
                source.url
            )));
        }
        std::fs::rename(&part, &archive).with_context(|| {
            format!("cannot rename {} to {}", part.display(), archive.display())
        })?;
    }
    report(Progress::Extracting);
    let result = extract(&archive, root, &dest);
    // Unpacked or unusable: either way the archive has done its job.
    let _ = std::fs::remove_file(&archive);
    result.map(|()| dest)
}

/// Downloads into `part`, resuming what is there, retrying failed transfers.
fn fetch(
    source: &Source,
    part: &Path,
    retry: Retry,
    report: &mut impl FnMut(Progress),
) -> anyhow::Result<()> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .timeout_per_read(Some(retry.stall))
        .build()
        .into();
    let mut attempt = 1;
    loop {
        match fetch_once(&agent, source, part, report) {
            Ok(()) => return Ok(()),
            Err(Failure::Fatal(e)) => return Err(e),
            Err(Failure::Transfer(reason)) if attempt < retry.attempts => {
                report(Progress::Retrying { attempt, reason });
                std::thread::sleep(retry.delay);
                attempt += 1;
            }
            Err(Failure::Transfer(reason)) => {
                let kept = std::fs::metadata(part).is_ok_and(|m| m.len() > 0);
                let resume = if kept {
                    format!("{} kept; run again to resume", part.display())
                } else {
                    "run again to retry".to_string()
                };
                anyhow::bail!(
                    "download from {} failed after {attempt} attempts: {reason} ({resume})",
                    source.url
                )
            }
        }
    }
}

/// A failed transfer (worth retrying) or a problem retrying cannot fix.
enum Failure {
    Transfer(String),
    Fatal(anyhow::Error),
}

/// Sorts an HTTP failure: a server or network hiccup is retried; a bad URL, a missing file
/// (404), a refused request or a TLS problem will fail the same way every time.
fn classify(url: &str, e: ureq::Error) -> Failure {
    use ureq::Error as E;
    match e {
        E::StatusCode(code) if code == 408 || code == 429 || code >= 500 => {
            Failure::Transfer(format!("HTTP status {code}"))
        }
        E::StatusCode(code) => Failure::Fatal(anyhow::anyhow!(
            "download from {url} failed: HTTP status {code} (not retried: the server will \
             answer the same again; check the URL)"
        )),
        E::Io(_)
        | E::Timeout(_)
        | E::HostNotFound
        | E::ConnectionFailed
        | E::Protocol(_)
        | E::BodyStalled => Failure::Transfer(e.to_string()),
        other => Failure::Fatal(anyhow::anyhow!(
            "download from {url} failed: {other} (not retried)"
        )),
    }
}

fn local(path: &Path) -> impl FnOnce(std::io::Error) -> Failure + '_ {
    move |e| Failure::Fatal(anyhow::anyhow!("cannot write {}: {e}", path.display()))
}

/// One HTTP transfer appended to `part` (a Range request when it already has bytes).
fn fetch_once(
    agent: &ureq::Agent,
    source: &Source,
    part: &Path,
    report: &mut impl FnMut(Progress),
) -> Result<(), Failure> {
    let mut have = std::fs::metadata(part).map_or(0, |m| m.len());
    if have > source.size {
        std::fs::remove_file(part).map_err(local(part))?;
        have = 0;
    }
    if have == source.size {
        return Ok(());
    }
    let mut request = agent.get(&source.url);
    if have > 0 {
        request = request.header("Range", format!("bytes={have}-"));
    }
    let response = request.call().map_err(|e| classify(&source.url, e))?;
    let resumed = response.status().as_u16() == 206;
    if !resumed {
        have = 0;
    }
    // A server announcing another length serves another file: fail before writing anything.
    let announced = response
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(len) = announced.filter(|&len| have + len != source.size) {
        return Err(Failure::Fatal(anyhow::anyhow!(
            "{} serves {} bytes, expected {}: not the CIFAR-10 archive",
            source.url,
            have + len,
            source.size
        )));
    }
    let mut file = OpenOptions::new()
        .create(true)
        .write(true)
        .append(resumed)
        .truncate(!resumed)
        .open(part)
        .map_err(local(part))?;
    let mut body = response.into_body().into_reader();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = body
            .read(&mut buf)
            .map_err(|e| Failure::Transfer(e.to_string()))?;
        if n == 0 {
            break;
        }
        have += n as u64;
        if have > source.size {
            drop(file);
            let _ = std::fs::remove_file(part);
            return Err(Failure::Fatal(anyhow::anyhow!(
                "{} sent more than the expected {} bytes: not the CIFAR-10 archive",
                source.url,
                source.size
            )));
        }
        file.write_all(&buf[..n]).map_err(local(part))?;
        report(Progress::Bytes {
            done: have,
            total: source.size,
        });
    }
    file.sync_all().map_err(local(part))?;
    if have < source.size {
        return Err(Failure::Transfer(format!(
            "transfer truncated at {have} of {} bytes",
            source.size
        )));
    }
    Ok(())
}

/// Checks size, MD5 and SHA-256.
fn verify(path: &Path, source: &Source) -> anyhow::Result<()> {
    let mut file = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let (mut md5, mut sha) = (Md5::new(), Sha256::new());
    let mut buf = vec![0u8; 1 << 16];
    let mut len = 0u64;
    loop {
        let n = file
            .read(&mut buf)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        len += n as u64;
        md5.update(&buf[..n]);
        sha.update(&buf[..n]);
    }
    anyhow::ensure!(
        len == source.size,
        "size is {len} bytes, expected {}",
        source.size
    );
    let sha = format!("{:x}", sha.finalize());
    anyhow::ensure!(
        sha == source.sha256,
        "SHA-256 checksum mismatch: got {sha}, expected {}",
        source.sha256
    );
    let md5 = format!("{:x}", md5.finalize());
    anyhow::ensure!(
        md5 == source.md5,
        "MD5 checksum mismatch: got {md5}, expected {}",
        source.md5
    );
    Ok(())
}

/// Unpacks `archive` into a temporary directory beside `dest`, then renames its
/// `cifar-10-batches-bin` into `dest`. The temporary directory is removed on any error.
fn extract(archive: &Path, root: &Path, dest: &Path) -> anyhow::Result<()> {
    let file = File::open(archive).with_context(|| format!("cannot read {}", archive.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix(".shatterlab-extract")
        .tempdir_in(root)
        .with_context(|| format!("cannot create a temporary directory in {}", root.display()))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let bad = |what: String| anyhow::anyhow!("unsafe archive {}: {what}", archive.display());
    for entry in tar
        .entries()
        .with_context(|| format!("cannot read archive {}", archive.display()))?
    {
        let mut entry = entry.with_context(|| format!("corrupt archive {}", archive.display()))?;
        let path = entry
            .path()
            .map_err(|e| bad(format!("unreadable entry name: {e}")))?
            .into_owned();
        if let Some(c) = path
            .components()
            .find(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return Err(bad(format!(
                "entry {} has a {c:?} component",
                path.display()
            )));
        }
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Directory => {}
            tar::EntryType::XGlobalHeader => continue,
            other => {
                return Err(bad(format!(
                    "entry {} is a {other:?}, not a file or directory",
                    path.display()
                )));
            }
        }
        let unpacked = entry.unpack_in(tmp.path()).with_context(|| {
            format!(
                "cannot unpack {} from {}",
                path.display(),
                archive.display()
            )
        })?;
        anyhow::ensure!(
            unpacked,
            bad(format!(
                "entry {} escapes the target directory",
                path.display()
            ))
        );
    }
    let unpacked = tmp.path().join(BATCHES_DIR);
    let missing = missing_files(&unpacked);
    anyhow::ensure!(
        missing.is_empty(),
        "archive {} lacks {BATCHES_DIR}/{}",
        archive.display(),
        missing.join(", ")
    );
    std::fs::rename(&unpacked, dest)
        .with_context(|| format!("cannot move the unpacked data to {}", dest.display()))
}
