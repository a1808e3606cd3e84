//! The binary under hostile conditions: outputs through links and onto devices, stdout that
//! cannot be written, requests over the memory budget, damaged checkpoints, a full disk under
//! the run log, inputs that are not regular files, and arithmetic that overflows.

mod common;

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;

fn lab() -> Command {
    let mut cmd = Command::cargo_bin("shatterlab").expect("binary");
    cmd.current_dir(std::env::temp_dir());
    // Nothing here may hang: a FIFO or a stuck write fails the test instead.
    cmd.timeout(Duration::from_secs(60));
    cmd
}

/// A small, quick grad request.
const SMALL: [&str; 9] = [
    "grad", "--depth", "2", "--width", "8", "--points", "16", "--nets", "2",
];

/// Runs `cmd`, expects failure with one line on stderr (no panic), returns that line.
fn one_line_error(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run");
    assert!(!out.status.success(), "{cmd:?} succeeded");
    let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert_eq!(err.lines().count(), 1, "not one line: {err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

fn mkfifo(path: &Path) {
    let made = StdCommand::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo");
    assert!(made.success());
}

#[test]
fn outputs_follow_links_and_never_replace_devices_or_fifos() {
    let dir = tempfile::tempdir().expect("tmp");
    let target = dir.path().join("report.json");
    std::fs::write(&target, "old").expect("write");
    let link = dir.path().join("link.json");
    symlink(&target, &link).expect("symlink");
    lab().args(SMALL).arg("--out").arg(&link).assert().success();
    assert!(
        std::fs::symlink_metadata(&link)
            .expect("link")
            .file_type()
            .is_symlink()
    );
    let doc: Value = serde_json::from_slice(&std::fs::read(&target).expect("read")).expect("json");
    assert_eq!(doc["config"]["depth"], 2);

    let e = one_line_error(lab().args(SMALL).args(["--out", "/dev/full"]));
    assert!(
        e.contains("/dev/full") && e.contains("No space left"),
        "{e}"
    );
    assert!(std::os::unix::fs::FileTypeExt::is_char_device(
        &std::fs::metadata("/dev/full").expect("dev").file_type()
    ));
    let fifo = dir.path().join("fifo");
    mkfifo(&fifo);
    let e = one_line_error(lab().args(SMALL).arg("--out").arg(&fifo));
    assert!(e.contains("no process is reading the FIFO"), "{e}");
    let e = one_line_error(
        lab()
            .args(["theory", "--depth", "3", "--out"])
            .arg(dir.path()),
    );
    assert!(e.contains("directory"), "{e}");
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(left.len(), 3, "temp files left: {left:?}");
}

#[test]
fn stdout_that_cannot_be_written_is_an_error() {
    let bin = assert_cmd::cargo::cargo_bin("shatterlab");
    // Full.
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("full");
    let out = StdCommand::new(&bin)
        .args(SMALL)
        .stdout(full)
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot write to stdout") && err.contains("No space"),
        "{err}"
    );
    // Closed.
    let out = StdCommand::new("sh")
        .arg("-c")
        .arg("exec \"$0\" \"$@\" >&-")
        .arg(&bin)
        .args(SMALL)
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot write to stdout"));
    // A pipe whose reader has gone.
    let mut child = StdCommand::new(&bin)
        .args(SMALL)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Broken pipe"));
}

#[test]
fn requests_over_the_memory_budget_are_refused_before_allocating() {
    let e = one_line_error(
        lab()
            .args(["grad", "--nets", "1000", "--width", "4096", "--depth", "2"])
            .args(["--max-memory", "1G"]),
    );
    assert!(
        e.starts_with(
            "error: refused: a sweep of nets 1000, width 4096, points 256, depth 2, f64 needs \
             about"
        ) && e.contains("over the --max-memory limit of 1.1 GB"),
        "{e}"
    );
    let e = one_line_error(lab().args(["theory", "--depth", "1000", "--trials", "1000000"]));
    assert!(
        e.contains("refused: theory with depth 1000, trials 1000000"),
        "{e}"
    );
    let e = one_line_error(lab().args(["grad", "--max-memory", "lots"]));
    assert!(
        e.contains("--max-memory") && e.contains("invalid size"),
        "{e}"
    );
    let runs = tempfile::tempdir().expect("tmp");
    let e = one_line_error(
        lab()
            .args([
                "train",
                "--depth",
                "198",
                "--batch",
                "4096",
                "--max-memory",
                "2G",
            ])
            .arg("--runs-dir")
            .arg(runs.path()),
    );
    assert!(
        e.contains("refused: training with depth 198, batch 4096"),
        "{e}"
    );
}

/// A tiny training run in `runs` with `extra` flags.
fn train(runs: &Path, extra: &[&str]) -> Command {
    let mut cmd = lab();
    cmd.args([
        "train",
        "--train-subset",
        "64",
        "--test-subset",
        "20",
        "--depth",
        "3",
    ])
    .args(["--batch", "32", "--log-every", "1", "--data-dir"])
    .arg(common::cifar_dir())
    .arg("--runs-dir")
    .arg(runs)
    .args(extra);
    cmd
}

fn files_with(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    v.sort();
    v
}

fn assert_whole_json_lines(text: &str) {
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "torn last line: {text:?}"
    );
    for line in text.lines() {
        serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    }
}

/// Splits a safetensors file into its header JSON and the tensor bytes.
fn split_safetensors(bytes: &[u8]) -> (Value, Vec<u8>) {
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("len")) as usize;
    let header = serde_json::from_slice(&bytes[8..8 + n]).expect("header");
    (header, bytes[8 + n..].to_vec())
}

fn join_safetensors(header: &Value, data: &[u8]) -> Vec<u8> {
    let mut h = serde_json::to_vec(header).expect("json");
    while !h.len().is_multiple_of(8) {
        h.push(b' ');
    }
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend(h);
    out.extend(data);
    out
}

#[test]
fn damaged_checkpoints_are_refused_in_one_line_and_logs_are_repaired() {
    let runs = tempfile::tempdir().expect("tmp");
    train(runs.path(), &["--epochs", "1", "--checkpoint"])
        .assert()
        .success();
    let ckpt = files_with(runs.path(), "safetensors").remove(0);
    let log = files_with(runs.path(), "jsonl").remove(0);
    let good = std::fs::read(&ckpt).expect("ckpt");
    let (header, data) = split_safetensors(&good);
    let resume = |bytes: &[u8]| {
        let bad = runs.path().join("bad.safetensors");
        std::fs::write(&bad, bytes).expect("write");
        let mut cmd = train(runs.path(), &["--epochs", "2", "--resume"]);
        cmd.arg(&bad);
        let e = one_line_error(&mut cmd);
        assert!(
            e.contains("invalid checkpoint") && e.contains("bad.safetensors"),
            "{e}"
        );
        e
    };
    // A flipped byte in a tensor.
    let mut flipped = data.clone();
    flipped[data.len() / 2] ^= 0x40;
    assert!(resume(&join_safetensors(&header, &flipped)).contains("checksum mismatch"));
    // A run name that would put files outside the runs directory.
    for name in ["../escape", "/tmp/abs", ".hidden"] {
        let mut h = header.clone();
        h["__metadata__"]["run"] = Value::from(name);
        assert!(resume(&join_safetensors(&h, &data)).contains("invalid run name"));
    }
    // An absurd counter.
    let mut h = header.clone();
    let mut progress: Value =
        serde_json::from_str(h["__metadata__"]["progress"].as_str().expect("progress")).expect("p");
    progress["epoch"] = Value::from(1u64 << 63);
    h["__metadata__"]["progress"] = Value::from(progress.to_string());
    let e = resume(&join_safetensors(&h, &data));
    assert!(
        e.contains("progress field epoch = 9223372036854775808 is out of range"),
        "{e}"
    );
    assert!(
        !runs
            .path()
            .parent()
            .expect("parent")
            .join("escape.jsonl")
            .exists()
    );

    // A killed write left a torn line and a temp file: resuming repairs the one, removes
    // the other, and appends whole lines.
    let mut text = std::fs::read(&log).expect("log");
    text.extend_from_slice(b"{\"type\":\"st");
    std::fs::write(&log, &text).expect("write");
    let name = ckpt
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let stale = runs.path().join(format!(".{name}.tmp4194305-abcdef"));
    std::fs::write(&stale, "partial").expect("write");
    let mut cmd = train(runs.path(), &["--epochs", "2", "--checkpoint", "--resume"]);
    let out = cmd.arg(&ckpt).output().expect("resume");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("ended in an incomplete line (11 bytes"),
        "{err}"
    );
    assert_whole_json_lines(&std::fs::read_to_string(&log).expect("log"));
    assert!(!stale.exists());
}

#[test]
fn a_full_disk_leaves_the_run_log_whole() {
    let runs = tempfile::tempdir().expect("tmp");
    let bin = assert_cmd::cargo::cargo_bin("shatterlab");
    // The file-size limit makes the log's write fail part-way, as a full disk does.
    let out = StdCommand::new("sh")
        .arg("-c")
        .arg("trap '' XFSZ; exec prlimit --fsize=1500 \"$@\"")
        .arg("sh")
        .arg(&bin)
        .args([
            "train",
            "--train-subset",
            "64",
            "--test-subset",
            "20",
            "--depth",
            "3",
        ])
        .args([
            "--batch",
            "16",
            "--log-every",
            "1",
            "--epochs",
            "3",
            "--data-dir",
        ])
        .arg(common::cifar_dir())
        .arg("--runs-dir")
        .arg(runs.path())
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("cannot write run log") && err.contains("too large"),
        "{err}"
    );
    let log = files_with(runs.path(), "jsonl").remove(0);
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(text.len() <= 1500 && text.lines().count() >= 2, "{text}");
    assert_whole_json_lines(&text);
}

#[test]
fn inputs_that_are_not_regular_files_are_refused_with_their_own_words() {
    let dir = tempfile::tempdir().expect("tmp");
    let fifo = dir.path().join("config.toml");
    mkfifo(&fifo);
    let e = one_line_error(lab().arg("--config").arg(&fifo).args(SMALL));
    assert!(
        e.contains(&format!("config file {} is a FIFO", fifo.display())),
        "{e}"
    );
    let e = one_line_error(lab().arg("--config").arg(dir.path()).args(SMALL));
    assert!(e.contains("is a directory, expected a regular file"), "{e}");

    // A data directory with a usable first batch and faulty others.
    let data = dir.path().join("data");
    std::fs::create_dir(&data).expect("mkdir");
    let record = |label: u8| {
        let mut r = vec![0u8; 3073];
        r[0] = label;
        r
    };
    std::fs::write(data.join("data_batch_1.bin"), record(1)).expect("write");
    std::fs::create_dir(data.join("data_batch_2.bin")).expect("mkdir");
    let runs = dir.path().join("runs");
    let train = |data: &Path| {
        let mut cmd = lab();
        cmd.args(["train", "--data-dir"])
            .arg(data)
            .arg("--runs-dir")
            .arg(&runs);
        one_line_error(&mut cmd)
    };
    let e = train(&data);
    assert!(
        e.contains("data_batch_2.bin is a directory, expected a regular file"),
        "{e}"
    );
    std::fs::remove_dir(data.join("data_batch_2.bin")).expect("rmdir");
    symlink("nowhere.bin", data.join("test_batch.bin")).expect("symlink");
    let e = train(&data);
    assert!(
        e.contains("test_batch.bin is a dangling symbolic link (to nowhere.bin)"),
        "{e}"
    );
    std::fs::remove_file(data.join("test_batch.bin")).expect("rm");
    mkfifo(&data.join("test_batch.bin"));
    assert!(train(&data).contains("test_batch.bin is a FIFO"));
    std::fs::remove_file(data.join("test_batch.bin")).expect("rm");
    std::fs::write(data.join("test_batch.bin"), &record(1)[..100]).expect("write");
    assert!(train(&data).contains("size 100 bytes is not a positive multiple"));
    std::fs::write(data.join("test_batch.bin"), record(12)).expect("write");
    assert!(train(&data).contains("record 0 has label 12"));
}

#[test]
fn overflowing_arithmetic_is_flagged_and_infinite_ranges_refused() {
    let e = one_line_error(lab().args(SMALL).args(["--x-min=-1e308", "--x-max=1e308"]));
    assert!(e.contains("x_max - x_min finite"), "{e}");
    let out = lab()
        .args([
            "grad", "--width", "8", "--points", "16", "--nets", "2", "--depth", "3",
        ])
        .args(["--arch", "res", "--no-bn", "--beta", "1e200"])
        .output()
        .expect("run");
    assert!(out.status.success());
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    let depths = doc["depths"].as_array().expect("depths");
    assert_eq!(depths[0]["overflow"], false);
    assert_eq!(depths[2]["overflow"], true);
    let out = lab()
        .args([
            "theory", "--arch", "res", "--no-bn", "--beta", "1e200", "--depth", "4",
        ])
        .args(["--trials", "20"])
        .output()
        .expect("run");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["depths"][3]["overflow"], true);
}
