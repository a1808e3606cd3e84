//! The downloader against a local HTTP server on 127.0.0.1 serving generated archives:
//! a good archive, a checksum mismatch, truncated transfers (resumed, and given up on) and
//! unsafe entries. No external network.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use md5::Md5;
use sha2::{Digest, Sha256};
use shatterlab::train::cifar::{Cifar, RECORD_BYTES};
use shatterlab::train::download::{Retry, Source, download};

const FILES: [&str; 6] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
    "test_batch.bin",
];

/// Two valid records per file, labels from `i`.
fn records(i: usize) -> Vec<u8> {
    (0..2)
        .flat_map(|r| {
            std::iter::once(((i + r) % 10) as u8)
                .chain(std::iter::repeat_n(r as u8, RECORD_BYTES - 1))
        })
        .collect()
}

/// A gzipped tar of `cifar-10-batches-bin/` plus, optionally, one raw extra entry.
fn archive(extra: Option<(&[u8], tar::EntryType)>) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut b = tar::Builder::new(gz);
    for (i, name) in FILES.iter().enumerate() {
        let data = records(i);
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(
            &mut h,
            format!("cifar-10-batches-bin/{name}"),
            data.as_slice(),
        )
        .expect("append");
    }
    if let Some((name, kind)) = extra {
        // Written by hand: the tar crate refuses to build unsafe names.
        let mut h = tar::Header::new_old();
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        h.set_entry_type(kind);
        h.set_size(if kind == tar::EntryType::Regular {
            4
        } else {
            0
        });
        if kind == tar::EntryType::Symlink {
            h.set_link_name("/etc/passwd").expect("link name");
        }
        h.set_mode(0o644);
        h.set_cksum();
        let body: &[u8] = if kind == tar::EntryType::Regular {
            b"evil"
        } else {
            b""
        };
        b.append(&h, body).expect("append raw");
    }
    b.into_inner().expect("tar").finish().expect("gzip")
}

fn source_for(url: String, bytes: &[u8]) -> Source {
    Source {
        url,
        size: bytes.len() as u64,
        md5: format!("{:x}", Md5::digest(bytes)),
        sha256: format!("{:x}", Sha256::digest(bytes)),
    }
}

/// How the server answers each request, in order (the last repeats).
#[derive(Clone, Copy)]
enum Reply {
    /// The body (from the Range start, with 206, when asked).
    Full,
    /// Headers promising the whole rest, then only half of it, then a closed connection.
    Truncated,
    /// Headers promising the whole rest, half of it, then silence on an open connection.
    Stalled,
    /// An error status and no body.
    Status(u16),
}

struct Server {
    url: String,
    /// The Range header of each request ("" when absent).
    ranges: Arc<Mutex<Vec<String>>>,
}

/// Serves `body` on 127.0.0.1; the thread ends after `replies.len() + 4` connections or 20 s.
fn serve(body: Vec<u8>, replies: Vec<Reply>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let url = format!(
        "http://{}/cifar-10-binary.tar.gz",
        listener.local_addr().expect("addr")
    );
    let ranges = Arc::new(Mutex::new(Vec::new()));
    let log = ranges.clone();
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut served = 0;
        // Stalled connections stay open (and silent) until the server thread ends.
        let mut held = Vec::new();
        while served < replies.len() + 4 && Instant::now() < deadline {
            match listener.accept() {
                Ok((stream, _)) => {
                    let reply = replies[served.min(replies.len() - 1)];
                    served += 1;
                    if let Ok(Some(open)) = answer(stream, &body, reply, &log) {
                        held.push(open);
                    }
                }
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    });
    Server { url, ranges }
}

fn answer(
    stream: TcpStream,
    body: &[u8],
    reply: Reply,
    log: &Mutex<Vec<String>>,
) -> std::io::Result<Option<TcpStream>> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut start = 0usize;
    let mut range = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
            range = v.trim().to_string();
            start = range.trim_end_matches('-').parse().unwrap_or(0);
        }
    }
    log.lock().expect("log").push(range.clone());
    let mut out = stream;
    if let Reply::Status(code) = reply {
        write!(
            out,
            "HTTP/1.1 {code} Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )?;
        out.flush()?;
        return Ok(None);
    }
    let rest = &body[start.min(body.len())..];
    let status = if range.is_empty() {
        "200 OK"
    } else {
        "206 Partial Content"
    };
    write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        rest.len()
    )?;
    if !range.is_empty() {
        write!(
            out,
            "Content-Range: bytes {start}-{}/{}\r\n",
            body.len() - 1,
            body.len()
        )?;
    }
    out.write_all(b"\r\n")?;
    match reply {
        Reply::Truncated | Reply::Stalled => out.write_all(&rest[..rest.len() / 2])?,
        _ => out.write_all(rest)?,
    }
    out.flush()?;
    if let Reply::Stalled = reply {
        return Ok(Some(out));
    }
    out.shutdown(std::net::Shutdown::Both)?;
    Ok(None)
}

fn quick() -> Retry {
    Retry {
        attempts: 3,
        delay: Duration::from_millis(10),
        stall: Duration::from_millis(300),
    }
}

/// Names left in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn a_good_archive_is_verified_and_unpacked() {
    let body = archive(None);
    let server = serve(body.clone(), vec![Reply::Full]);
    let root = tempfile::tempdir().expect("tmp");
    let dest = download(
        &source_for(server.url.clone(), &body),
        root.path(),
        quick(),
        |_| {},
    )
    .expect("download");
    assert_eq!(dest, root.path().join("cifar-10-batches-bin"));
    assert_eq!(listing(root.path()), ["cifar-10-batches-bin"]);
    let data = Cifar::load_dir(&dest).expect("unpacked data loads");
    assert_eq!((data.train.len(), data.test.len()), (10, 2));
    // A second call finds the data and fetches nothing.
    download(&source_for(server.url, &body), root.path(), quick(), |_| {}).expect("again");
    assert_eq!(server.ranges.lock().expect("log").len(), 1);
}

#[test]
fn a_checksum_mismatch_is_rejected_and_cleaned_up() {
    let body = archive(None);
    let server = serve(body.clone(), vec![Reply::Full]);
    let root = tempfile::tempdir().expect("tmp");
    let mut source = source_for(server.url, &body);
    source.sha256 = "0".repeat(64);
    let e = format!(
        "{:#}",
        download(&source, root.path(), quick(), |_| {}).unwrap_err()
    );
    assert!(e.contains("SHA-256 checksum mismatch"), "{e}");
    assert!(
        listing(root.path()).is_empty(),
        "left behind: {:?}",
        listing(root.path())
    );
}

#[test]
fn a_truncated_transfer_is_resumed_with_a_range_request() {
    let body = archive(None);
    let server = serve(body.clone(), vec![Reply::Truncated, Reply::Full]);
    let root = tempfile::tempdir().expect("tmp");
    let mut retries = 0;
    let dest = download(&source_for(server.url, &body), root.path(), quick(), |e| {
        if matches!(e, shatterlab::train::download::Progress::Retrying { .. }) {
            retries += 1;
        }
    })
    .expect("download resumes");
    assert_eq!(retries, 1);
    let ranges = server.ranges.lock().expect("log").clone();
    assert_eq!(ranges, ["".to_string(), format!("{}-", body.len() / 2)]);
    assert!(Cifar::load_dir(&dest).is_ok());
    assert_eq!(listing(root.path()), ["cifar-10-batches-bin"]);
}

#[test]
fn a_stalled_transfer_times_out_and_is_resumed() {
    let body = archive(None);
    let server = serve(body.clone(), vec![Reply::Stalled, Reply::Full]);
    let root = tempfile::tempdir().expect("tmp");
    let mut reasons = Vec::new();
    let dest = download(&source_for(server.url, &body), root.path(), quick(), |e| {
        if let shatterlab::train::download::Progress::Retrying { reason, .. } = e {
            reasons.push(reason);
        }
    })
    .expect("download resumes after the stall");
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    let ranges = server.ranges.lock().expect("log").clone();
    assert_eq!(ranges, ["".to_string(), format!("{}-", body.len() / 2)]);
    assert!(Cifar::load_dir(&dest).is_ok());
}

#[test]
fn a_transfer_that_keeps_failing_gives_up_and_keeps_only_the_part_file() {
    let body = archive(None);
    let server = serve(body.clone(), vec![Reply::Truncated]);
    let root = tempfile::tempdir().expect("tmp");
    let e = format!(
        "{:#}",
        download(&source_for(server.url, &body), root.path(), quick(), |_| {}).unwrap_err()
    );
    assert!(
        e.contains("failed after 3 attempts") && e.contains("run again to resume"),
        "{e}"
    );
    assert_eq!(listing(root.path()), ["cifar-10-binary.tar.gz.part"]);
}

#[test]
fn permanent_failures_are_not_retried_and_name_the_url_and_status() {
    let body = archive(None);
    let server = serve(body.clone(), vec![Reply::Status(404)]);
    let root = tempfile::tempdir().expect("tmp");
    let mut events = Vec::new();
    let url = server.url.clone();
    let e = format!(
        "{:#}",
        download(
            &source_for(url.clone(), &body),
            root.path(),
            quick(),
            |ev| { events.push(ev) }
        )
        .unwrap_err()
    );
    assert!(
        e.contains(&format!(
            "download from {url} failed: HTTP status 404 (not retried"
        )),
        "{e}"
    );
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(server.ranges.lock().expect("log").len(), 1);
    let e = format!(
        "{:#}",
        download(
            &source_for("not a url".into(), &body),
            root.path(),
            quick(),
            |_| {}
        )
        .unwrap_err()
    );
    assert!(e.contains("not a url") && e.contains("not retried"), "{e}");
    assert!(!e.contains(".part"), "{e}");
    // A transient status is retried; with nothing fetched no .part file is claimed.
    let server = serve(body.clone(), vec![Reply::Status(503)]);
    let e = format!(
        "{:#}",
        download(&source_for(server.url, &body), root.path(), quick(), |_| {}).unwrap_err()
    );
    assert!(
        e.contains("after 3 attempts: HTTP status 503 (run again to retry)"),
        "{e}"
    );
    assert!(listing(root.path()).is_empty());
}

#[test]
fn unsafe_entries_are_refused_and_nothing_is_unpacked() {
    let cases: [(&[u8], tar::EntryType, &str); 3] = [
        (b"../evil.bin", tar::EntryType::Regular, "ParentDir"),
        (b"/tmp/evil.bin", tar::EntryType::Regular, "RootDir"),
        (
            b"cifar-10-batches-bin/link",
            tar::EntryType::Symlink,
            "Symlink",
        ),
    ];
    for (name, kind, why) in cases {
        let body = archive(Some((name, kind)));
        let server = serve(body.clone(), vec![Reply::Full]);
        let root = tempfile::tempdir().expect("tmp");
        let inner = root.path().join("data");
        let e = format!(
            "{:#}",
            download(&source_for(server.url, &body), &inner, quick(), |_| {}).unwrap_err()
        );
        assert!(e.contains("unsafe archive") && e.contains(why), "{e}");
        assert!(
            listing(&inner).is_empty(),
            "left behind: {:?}",
            listing(&inner)
        );
        assert_eq!(listing(root.path()), ["data"], "escaped the data directory");
    }
}

#[test]
fn the_cli_reports_a_mismatch_in_one_line() {
    let body = archive(None);
    let server = serve(body, vec![Reply::Full]);
    let root = tempfile::tempdir().expect("tmp");
    let out = assert_cmd::Command::cargo_bin("shatterlab")
        .expect("binary")
        .args(["data", "download", "--dir"])
        .arg(root.path())
        .env("SHATTERLAB_CIFAR_URL", &server.url)
        .output()
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: ")
            && last.contains("expected 170052171: not the CIFAR-10 archive"),
        "{stderr}"
    );
    assert!(listing(root.path()).is_empty());
}

/// The TUI's training worker fetches through the same downloader: progress, the checks,
/// the unpacking, then the data reported found.
#[test]
fn the_training_worker_downloads_on_request() {
    use shatterlab::train::datadir::DataStatus;
    use shatterlab::train::download::Progress;
    use shatterlab::worker::train::{self, TrainJob, TrainPaths, TrainUpdate};

    let body = archive(None);
    let server = serve(body.clone(), vec![Reply::Full]);
    let root = tempfile::tempdir().expect("tmp");
    let (jobs, job_rx) = tokio::sync::mpsc::channel(1);
    let (update_tx, mut updates) = tokio::sync::mpsc::channel(8);
    let paths = TrainPaths {
        data_root: Ok(root.path().to_path_buf()),
        runs_dir: root.path().join("runs"),
        source: source_for(server.url, &body),
    };
    train::spawn(paths, job_rx, update_tx).expect("spawn");
    let mut next = || updates.blocking_recv().expect("worker alive");
    assert!(matches!(
        next(),
        TrainUpdate::Data(DataStatus::Missing { .. })
    ));
    jobs.blocking_send(TrainJob::Download).expect("send");
    let mut seen = Vec::new();
    let found = loop {
        match next() {
            TrainUpdate::Fetch(event) => seen.push(event),
            TrainUpdate::Data(status) => break status,
            other => panic!("unexpected {other:?}"),
        }
    };
    let total = body.len() as u64;
    assert!(seen.contains(&Progress::Bytes { done: total, total }));
    assert!(
        seen.ends_with(&[Progress::Verifying, Progress::Extracting]),
        "{seen:?}"
    );
    assert_eq!(
        found,
        DataStatus::Found {
            dir: root.path().join("cifar-10-batches-bin")
        }
    );
}
