//! `shatterlab data download`: fetches CIFAR-10, progress on stderr, the directory on stdout.

use std::io::IsTerminal;
use std::path::PathBuf;

use crate::train::datadir::data_root;
use crate::train::download::{self, Progress, Retry, Source};

/// Where to put the data and, for a mirror, where to fetch it from.
#[derive(Debug, Clone, PartialEq)]
pub struct DownloadOptions {
    /// `--dir`; None: `$SHATTERLAB_DATA`, then the XDG data directory.
    pub dir: Option<PathBuf>,
    /// A mirror (`--url` or `$SHATTERLAB_CIFAR_URL`); None: the official archive.
    pub url: Option<String>,
}

/// Downloads, verifies and unpacks the archive.
pub fn download(opts: &DownloadOptions) -> anyhow::Result<()> {
    let root = data_root(opts.dir.as_deref(), "--dir", |k| std::env::var_os(k))?;
    let source = Source::official(opts.url.clone());
    eprintln!("fetching {} into {}", source.url, root.display());
    let tty = std::io::stderr().is_terminal();
    let mut shown = None;
    let dest = download::download(&source, &root, Retry::default(), |event| match event {
        Progress::Bytes { done, total } => {
            let pct = done * 100 / total.max(1);
            // A redrawn line on a terminal, a line per 10% in a log.
            let step = if tty { pct } else { pct / 10 * 10 };
            if shown != Some(step) {
                shown = Some(step);
                let mb = |b: u64| b as f64 / 1e6;
                let text = format!(
                    "downloading {:.1} / {:.1} MB ({step}%)",
                    mb(done),
                    mb(total)
                );
                if tty {
                    eprint!("\r{text}");
                } else {
                    eprintln!("{text}");
                }
            }
        }
        Progress::Retrying { attempt, reason } => {
            eprintln!(
                "\ntransfer failed ({reason}); resuming, attempt {}",
                attempt + 1
            );
        }
        Progress::Verifying => eprintln!("\nverifying size, MD5 and SHA-256"),
        Progress::Extracting => eprintln!("unpacking"),
    })?;
    eprintln!("CIFAR-10 is ready in {}", dest.display());
    println!("{}", dest.display());
    Ok(())
}
