//! `shatterlab train` end to end: JSON lines on stdout and in the run log, checkpoints and
//! resume, and one-line errors for bad flags and data.

mod common;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

/// A tiny run's flags.
fn train(runs: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::cargo_bin("shatterlab").expect("binary");
    cmd.args(["train", "--train-subset", "64", "--test-subset", "50"])
        .args(["--log-every", "1", "--seed", "3", "--data-dir"])
        .arg(common::cifar_dir())
        .arg("--runs-dir")
        .arg(runs)
        .args(extra);
    cmd
}

fn json_lines(text: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(text)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn types(lines: &[Value]) -> Vec<&str> {
    lines
        .iter()
        .map(|v| v["type"].as_str().unwrap_or("?"))
        .collect()
}

/// The single run log in `runs` and its checkpoint, if any.
fn run_files(runs: &Path) -> (PathBuf, Option<PathBuf>) {
    let mut files: Vec<PathBuf> = std::fs::read_dir(runs)
        .expect("runs dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    let log = files
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .cloned();
    let ckpt = files
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .cloned();
    (log.expect("a run log"), ckpt)
}

#[test]
fn a_run_streams_json_lines_and_logs_them() {
    let runs = tempfile::tempdir().expect("tmp");
    let out = train(
        runs.path(),
        &[
            "--depth",
            "3",
            "--batch",
            "32",
            "--epochs",
            "1",
            "--checkpoint",
        ],
    )
    .output()
    .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = json_lines(&out.stdout);
    assert_eq!(types(&lines), ["config", "step", "step", "epoch", "end"]);
    assert_eq!(lines[0]["seed"], 3);
    assert_eq!(lines[0]["config"]["net"]["depth"], 3);
    assert!(lines[1]["loss"].as_f64().is_some_and(f64::is_finite));
    assert!(lines[1]["images_per_sec"].as_f64().is_some_and(|v| v > 0.0));
    assert!(
        lines[3]["test_accuracy"]
            .as_f64()
            .is_some_and(|a| (0.0..=1.0).contains(&a))
    );
    assert_eq!(lines[4]["state"], "finished");
    let (log, ckpt) = run_files(runs.path());
    assert_eq!(json_lines(&std::fs::read(&log).expect("log")).len(), 5);

    // Resuming the checkpoint for a second epoch appends to the same log.
    let ckpt = ckpt.expect("a checkpoint");
    let mut resume = Command::cargo_bin("shatterlab").expect("binary");
    resume
        .args(["train", "--epochs", "2", "--log-every", "1", "--data-dir"])
        .arg(common::cifar_dir())
        .arg("--runs-dir")
        .arg(runs.path())
        .arg("--resume")
        .arg(&ckpt);
    let out = resume.output().expect("resume");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = json_lines(&out.stdout);
    assert_eq!(types(&lines), ["resume", "step", "step", "epoch", "end"]);
    assert_eq!(lines[0]["step"], 2);
    assert_eq!(lines[3]["epoch"], 2);
    let all = json_lines(&std::fs::read(&log).expect("log"));
    assert_eq!(all.len(), 10);
}

/// Runs `train` with `extra` flags and returns its stderr, checking it failed in one line.
fn fails(extra: &[&str]) -> String {
    let runs = tempfile::tempdir().expect("tmp");
    fails_with(train(runs.path(), extra))
}

fn fails_with(mut cmd: Command) -> String {
    let out = cmd.output().expect("run");
    assert!(!out.status.success(), "{cmd:?} succeeded");
    let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn bad_flags_fail_in_one_line_naming_the_flag() {
    assert!(fails(&["--lr", "0"]).contains("invalid --lr 0"));
    assert!(fails(&["--lr", "-1"]).contains("invalid --lr -1"));
    assert!(fails(&["--momentum", "-0.5"]).contains("invalid --momentum -0.5"));
    assert!(
        fails(&["--depth", "500"]).contains("invalid --depth 500: expected an integer in 1..=198")
    );
    assert!(fails(&["--init", "glorot"]).contains("expected he or ll"));
    assert!(fails(&["--init", "ll"]).contains("crelu"));
    assert!(fails(&["--delta"]).contains("--delta"));
    assert!(fails(&["--batch", "0"]).contains("--batch 0"));
    assert!(fails(&["--batch", "128"]).contains("--batch 128"));
    assert!(fails(&["--optimizer", "rmsprop"]).contains("rmsprop"));
    assert!(fails(&["--arch", "ff", "--skip"]).contains("--skip"));
    let mut cmd = Command::cargo_bin("shatterlab").expect("binary");
    cmd.args(["train", "--data-dir", "/nonexistent/cifar"]);
    let e = fails_with(cmd);
    assert!(
        e.contains("/nonexistent/cifar") && e.contains("data_batch_1.bin"),
        "{e}"
    );
    let e = fails(&["--resume", "/nonexistent/run.safetensors"]);
    assert!(e.contains("/nonexistent/run.safetensors"), "{e}");
}

#[test]
fn lab_only_flags_are_refused_naming_the_commands_that_take_them() {
    for flag in [
        &["--beta", "0.5"][..],
        &["--width", "100"],
        &["--points", "64"],
        &["--nets", "4"],
        &["--dtype", "f32"],
        &["--first-bias"],
        &["--bn-grad", "through"],
    ] {
        let e = fails(flag);
        assert!(e.contains(flag[0]), "{e}");
        assert!(
            e.contains("`shatterlab grad`") && e.contains("`train` does not"),
            "{e}"
        );
    }
}

#[test]
fn train_reads_no_config_file() {
    let runs = tempfile::tempdir().expect("tmp");
    let mut cmd = train(runs.path(), &[]);
    cmd.args(["--config", "/nonexistent/config.toml"]);
    let e = fails_with(cmd);
    assert!(e.contains("--config") && e.contains("train"), "{e}");
    // A ./config.toml that the lab would reject does not stop a run.
    std::fs::write(runs.path().join("config.toml"), "lab = 'not a table'").expect("write");
    let out = train(
        runs.path(),
        &["--depth", "2", "--epochs", "1", "--batch", "32"],
    )
    .current_dir(runs.path())
    .output()
    .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Ctrl-C between two steps ends the run cleanly: the log and stdout both end with the
/// `end` record of a cancelled run, and the exit status says it did not finish.
#[test]
fn ctrl_c_ends_the_run_log_with_an_end_record() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let runs = tempfile::tempdir().expect("tmp");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_shatterlab"))
        .args(["train", "--train-subset", "64", "--test-subset", "10"])
        .args(["--log-every", "1", "--depth", "2", "--batch", "32"])
        .args(["--epochs", "10000", "--data-dir"])
        .arg(common::cifar_dir())
        .arg("--runs-dir")
        .arg(runs.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut lines = Vec::new();
    // The first step record means the run is under way (and the handler installed).
    while !lines
        .iter()
        .any(|l: &String| l.contains(r#""type":"step""#))
    {
        let mut line = String::new();
        assert!(stdout.read_line(&mut line).expect("read") > 0, "{lines:?}");
        lines.push(line);
    }
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(sent.success());
    let rest: Vec<String> = stdout.lines().map(|l| l.expect("read")).collect();
    let status = child.wait().expect("wait");
    assert!(!status.success(), "an interrupted run is not a success");
    let last = json_lines(rest.last().expect("records after Ctrl-C").as_bytes());
    assert_eq!(last[0]["type"], "end");
    assert_eq!(last[0]["state"], "cancelled");
    let (log, _) = run_files(runs.path());
    let logged = json_lines(&std::fs::read(&log).expect("log"));
    assert_eq!(logged.last().expect("records"), &last[0]);
    assert_eq!(logged[0]["type"], "config");
}

#[test]
fn the_data_directory_comes_from_shatterlab_data_when_no_flag_is_given() {
    let runs = tempfile::tempdir().expect("tmp");
    // The parent of cifar-10-batches-bin, as `data download` lays it out.
    let root = common::cifar_dir().parent().expect("parent").to_path_buf();
    let out = Command::cargo_bin("shatterlab")
        .expect("binary")
        .args(["train", "--depth", "2", "--epochs", "1", "--batch", "32"])
        .args(["--train-subset", "32", "--test-subset", "10", "--runs-dir"])
        .arg(runs.path())
        .env("SHATTERLAB_DATA", &root)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        types(&json_lines(&out.stdout)),
        ["config", "step", "epoch", "end"]
    );
}
