//! `shatterlab study` end to end on a generated CIFAR-format data set: plans that are the
//! same everywhere, shards that partition the plan, a run killed and resumed, locks between
//! processes, the report's statistics on hand-written logs, and one-line errors for bad specs.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};

use assert_cmd::Command;
use serde_json::Value;
use shatterlab::study::lock;
use shatterlab::study::plan::{Plan, Shard};
use shatterlab::study::spec::{Overrides, Spec};

/// A study small enough for tests: two families, two depths, two seeds and the baseline.
const TINY: &str = r#"
description = "test study"
depths = [2, 3]
seeds = [0, 1]
epochs = 2
train_subset = 64
test_subset = 40
batch = 16
log_every = 1

[[family]]
name = "relu"
label = "ReLU"

[[family]]
name = "res"
label = "resnet"
skip = true
bn = false

[[family]]
name = "linear"
baseline = true
"#;

fn write_spec(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("spec");
    path
}

fn study(args: &[&str]) -> Command {
    let mut cmd = Command::cargo_bin("shatterlab").expect("binary");
    cmd.arg("study").args(args);
    for var in ["SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX"] {
        cmd.env_remove(var);
    }
    cmd
}

fn stdout_of(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn plan_of(spec: &Path, overrides: &Overrides) -> Plan {
    Plan::new(Spec::load(spec, overrides).expect("spec")).expect("plan")
}

fn quick_spec() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/studies/fig6-quick.toml")
}

#[test]
fn plans_are_the_same_every_time_and_runs_are_named_by_their_settings() {
    let spec = quick_spec();
    let spec = spec.to_str().expect("path");
    let first = stdout_of(&mut study(&["plan", spec, "--format", "json"]));
    assert_eq!(
        first,
        stdout_of(&mut study(&["plan", spec, "--format", "json"]))
    );
    let lines = json_lines(&first);
    let plan = plan_of(Path::new(spec), &Overrides::default());
    assert_eq!(lines.len(), plan.runs.len());
    // Four families at every depth and the baseline once, per seed.
    assert_eq!(
        plan.runs.len(),
        plan.spec.seeds.len() * (4 * plan.spec.depths.len() + 1)
    );
    let names: std::collections::BTreeSet<&str> =
        lines.iter().filter_map(|l| l["run"].as_str()).collect();
    assert_eq!(names.len(), lines.len(), "run names repeat");
    assert!(
        lines[0]["train"]
            .as_str()
            .is_some_and(|t| t.starts_with("shatterlab train --depth "))
    );
    // The epoch count is not part of a run's identity (raising it continues the runs); the
    // data subset is.
    let more = stdout_of(&mut study(&["plan", spec, "--epochs", "9"]));
    let text = stdout_of(&mut study(&["plan", spec]));
    let first_words = |t: &str| -> Vec<String> {
        t.lines()
            .map(|l| l.split_whitespace().next().unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(first_words(&more), first_words(&text));
    let other = stdout_of(&mut study(&["plan", spec, "--train-subset", "100"]));
    assert!(
        first_words(&other)
            .iter()
            .all(|n| !names.contains(n.as_str()))
    );
}

#[test]
fn shards_partition_the_plan_with_balanced_cost() {
    let plan = plan_of(&quick_spec(), &Overrides::default());
    let biggest = plan.runs.iter().map(|r| r.cost).max().expect("runs");
    let total: u64 = plan.runs.iter().map(|r| r.cost).sum();
    for count in 1..=7 {
        let mut seen = Vec::new();
        let mut loads = Vec::new();
        for index in 0..count {
            let runs = plan.shard(Shard { index, count });
            loads.push(runs.iter().map(|r| r.cost).sum::<u64>());
            seen.extend(runs.iter().map(|r| r.name.clone()));
        }
        seen.sort();
        let mut all: Vec<String> = plan.runs.iter().map(|r| r.name.clone()).collect();
        all.sort();
        assert_eq!(seen, all, "{count} shards do not partition the plan");
        let (lo, hi) = (loads.iter().min().unwrap(), loads.iter().max().unwrap());
        assert!(hi - lo <= biggest, "{count} shards: loads {loads:?}");
        assert!(*hi <= total / count as u64 + biggest, "{count}: {loads:?}");
    }
    // The CLI's slice is the library's.
    let spec = quick_spec();
    let spec = spec.to_str().expect("path");
    let text = stdout_of(&mut study(&["plan", spec, "--shard", "2/5"]));
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let want: Vec<&str> = plan
        .shard(Shard { index: 2, count: 5 })
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(names, want);
}

/// `study run` on the generated data; `extra` adds flags.
fn run_cmd(spec: &Path, data: &Path, runs: &Path, extra: &[&str]) -> Command {
    let mut cmd = study(&["run"]);
    cmd.arg(spec)
        .arg("--data-dir")
        .arg(data)
        .arg("--runs-dir")
        .arg(runs)
        .args(extra);
    cmd
}

/// Outcome per run of `study run`'s stdout.
fn outcomes(stdout: &str) -> Vec<(String, String)> {
    json_lines(stdout)
        .into_iter()
        .filter(|l| l["type"] == "study")
        .map(|l| {
            (
                l["run"].as_str().unwrap_or("").into(),
                l["outcome"].as_str().unwrap_or("").into(),
            )
        })
        .collect()
}

/// The complete records of a run's log (a killed writer may leave a torn last line).
fn log_of(runs: &Path, name: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(runs.join(format!("{name}.jsonl"))).expect("log");
    let complete = text.rfind('\n').map_or("", |end| &text[..end]);
    json_lines(complete)
}

#[test]
fn a_slurm_array_task_runs_its_shard_and_a_second_pass_finds_it_done() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = common::tiny_cifar(&tmp.path().join("data"), 64, 40);
    let spec = write_spec(tmp.path(), "tiny.toml", TINY);
    let runs = tmp.path().join("runs");
    let plan = plan_of(&spec, &Overrides::default());
    let mine: Vec<String> = plan
        .shard(Shard { index: 1, count: 3 })
        .iter()
        .map(|r| r.name.clone())
        .collect();
    let mut cmd = run_cmd(&spec, &data, &runs, &[]);
    cmd.env("SLURM_ARRAY_TASK_ID", "11")
        .env("SLURM_ARRAY_TASK_MIN", "10")
        .env("SLURM_ARRAY_TASK_COUNT", "3");
    let got = outcomes(&stdout_of(&mut cmd));
    let want: Vec<(String, String)> = mine.iter().map(|n| (n.clone(), "trained".into())).collect();
    assert_eq!(got, want);
    for name in &mine {
        let log = log_of(&runs, name);
        assert_eq!(log[0]["type"], "config");
        assert_eq!(log.last().expect("end")["state"], "finished");
    }
    let mut again = run_cmd(&spec, &data, &runs, &["--shard", "1/3"]);
    let got = outcomes(&stdout_of(&mut again));
    assert!(got.iter().all(|(_, o)| o == "already done"), "{got:?}");
}

/// Steps per epoch of the killed run.
const STEPS: usize = 192;

#[test]
fn a_killed_run_resumes_from_its_last_checkpoint_and_ends_as_if_never_stopped() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = common::tiny_cifar(&tmp.path().join("data"), STEPS * 8, 40);
    // One run of 4 epochs of STEPS steps, a record per step on stdout.
    let spec = write_spec(
        tmp.path(),
        "one.toml",
        &format!(
            "depths = [2]\nseeds = [5]\nepochs = 4\ntrain_subset = {}\ntest_subset = 40\n\
             batch = 8\nlog_every = 1\n[[family]]\nname = \"relu\"\n",
            STEPS * 8
        ),
    );
    let plan = plan_of(&spec, &Overrides::default());
    let name = plan.runs[0].name.clone();
    let killed = tmp.path().join("killed");
    let mut child = Process::new(assert_cmd::cargo::cargo_bin("shatterlab"))
        .arg("study")
        .arg("run")
        .arg(&spec)
        .arg("--data-dir")
        .arg(&data)
        .arg("--runs-dir")
        .arg(&killed)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    // Read until the first epoch's record (its checkpoint is saved before it), then stop
    // reading: the run blocks on its full stdout pipe (three more epochs print 576 lines of
    // ~160 bytes, over the pipe's 64 KiB and the reader's 8 KiB buffer) before it can end,
    // and is killed there.
    loop {
        let line = lines.next().expect("an epoch record").expect("line");
        if line.contains(r#""type":"epoch""#) {
            break;
        }
    }
    child.kill().expect("kill");
    child.wait().expect("wait");
    let before = log_of(&killed, &name);
    assert!(
        before.iter().all(|r| r["type"] != "end"),
        "the killed run logged an end record"
    );
    let resumed = stdout_of(&mut run_cmd(&spec, &data, &killed, &[]));
    assert_eq!(
        outcomes(&resumed),
        [(name.clone(), "resumed and ended".to_string())]
    );
    let after = log_of(&killed, &name);
    let resume = after
        .iter()
        .find(|r| r["type"] == "resume")
        .expect("a resume header");
    // At most the current epoch was lost: it continued from an epoch's end.
    let steps = STEPS as u64;
    assert!(
        resume["step"]
            .as_u64()
            .is_some_and(|s| s > 0 && s % steps == 0)
    );
    // A run never stopped gives the same epochs, to the bit.
    let straight = tmp.path().join("straight");
    stdout_of(&mut run_cmd(&spec, &data, &straight, &[]));
    let epochs = |log: &[Value]| -> Vec<(u64, String, String)> {
        let mut by_epoch: Vec<(u64, String, String)> = log
            .iter()
            .filter(|r| r["type"] == "epoch")
            .map(|r| {
                (
                    r["epoch"].as_u64().unwrap_or(0),
                    r["train_loss"].to_string(),
                    r["test_accuracy"].to_string(),
                )
            })
            .collect();
        // A record repeated by the resumption (the epoch in flight) keeps its last copy.
        by_epoch.reverse();
        by_epoch.dedup_by_key(|e| e.0);
        by_epoch.reverse();
        by_epoch
    };
    assert_eq!(epochs(&after), epochs(&log_of(&straight, &name)));
    assert_eq!(after.last().expect("end")["state"], "finished");
}

#[test]
fn a_run_held_by_another_process_is_left_to_it_and_concurrent_workers_train_each_once() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = common::tiny_cifar(&tmp.path().join("data"), 64, 40);
    let spec = write_spec(tmp.path(), "tiny.toml", TINY);
    let runs = tmp.path().join("runs");
    std::fs::create_dir_all(&runs).expect("runs");
    let plan = plan_of(&spec, &Overrides::default());
    let held = &plan.runs[1].name;
    // This test process holds one run's lock, as a worker training it would.
    let guard = lock::try_lock(&runs, held).expect("lock").expect("free");
    let got = outcomes(&stdout_of(&mut run_cmd(&spec, &data, &runs, &[])));
    for (run, outcome) in &got {
        let want = if run == held {
            "busy: another worker holds it"
        } else {
            "trained"
        };
        assert_eq!(outcome, want, "{run}");
    }
    assert!(!runs.join(format!("{held}.jsonl")).exists());
    // The report sees it held: running.
    let report: Value = serde_json::from_str(&stdout_of(
        study(&["report"]).arg(&spec).arg("--runs-dir").arg(&runs),
    ))
    .expect("report");
    assert_eq!(report["runs"][1]["state"], "running");
    drop(guard);
    let got = outcomes(&stdout_of(&mut run_cmd(&spec, &data, &runs, &[])));
    assert_eq!(got[1], (held.clone(), "trained".to_string()));

    // Two workers started together on a fresh directory: every run is trained once.
    let shared = tmp.path().join("shared");
    let spawn = || {
        Process::new(assert_cmd::cargo::cargo_bin("shatterlab"))
            .args(["study", "run"])
            .arg(&spec)
            .arg("--data-dir")
            .arg(&data)
            .arg("--runs-dir")
            .arg(&shared)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn")
    };
    let (a, b) = (spawn(), spawn());
    for child in [a, b] {
        let out = child.wait_with_output().expect("wait");
        assert!(out.status.success());
    }
    for r in &plan.runs {
        let log = log_of(&shared, &r.name);
        let starts = log.iter().filter(|l| l["type"] == "config").count();
        let ends = log.iter().filter(|l| l["type"] == "end").count();
        assert_eq!((starts, ends), (1, 1), "{}", r.name);
    }
}

/// A log of `run` with the given epoch accuracies and end state.
fn fake_log(
    dir: &Path,
    run: &shatterlab::study::plan::PlannedRun,
    accs: &[f64],
    end: Option<&str>,
) {
    let mut lines = vec![serde_json::json!({
        "type": "config", "run": run.name, "seed": run.seed, "step": 0, "config": run.config,
    })];
    for (i, a) in accs.iter().enumerate() {
        lines.push(serde_json::json!({
            "type": "epoch", "epoch": i + 1, "step": 4 * (i + 1), "train_loss": 1.0,
            "test_accuracy": a, "lr": 0.001, "seconds": 2.0, "state": "running",
        }));
    }
    if let Some(state) = end {
        lines.push(serde_json::json!({
            "type": "end", "step": 4 * accs.len(), "epoch": accs.len(), "state": state,
        }));
    }
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(dir.join(format!("{}.jsonl", run.name)), text).expect("log");
}

#[test]
fn the_report_averages_finished_seeds_and_skips_logs_it_cannot_use() {
    let tmp = tempfile::tempdir().expect("tmp");
    let spec = write_spec(
        tmp.path(),
        "tiny.toml",
        &TINY.replace("seeds = [0, 1]", "seeds = [0, 1, 2]"),
    );
    let runs = tmp.path().join("runs");
    std::fs::create_dir_all(&runs).expect("runs");
    let plan = plan_of(&spec, &Overrides::default());
    let find = |family: &str, depth: usize, seed: u64| {
        plan.runs
            .iter()
            .find(|r| {
                plan.spec.families[r.family].name == family && r.depth == depth && r.seed == seed
            })
            .expect("planned run")
    };
    // relu at depth 2: three finished seeds, 0.3 / 0.4 / 0.6 after epoch 2.
    for (seed, acc) in [(0, 0.3), (1, 0.4), (2, 0.6)] {
        fake_log(&runs, find("relu", 2, seed), &[0.9, acc], Some("finished"));
    }
    // relu at depth 3: one finished, one diverged, one half done (cancelled).
    fake_log(&runs, find("relu", 3, 0), &[0.2, 0.25], Some("finished"));
    fake_log(&runs, find("relu", 3, 1), &[0.1], Some("diverged"));
    fake_log(&runs, find("relu", 3, 2), &[0.15], Some("cancelled"));
    // The baseline: two seeds, one still being written (a torn last line).
    fake_log(&runs, find("linear", 1, 0), &[0.3, 0.35], Some("finished"));
    fake_log(&runs, find("linear", 1, 1), &[0.32, 0.41], Some("finished"));
    let torn = runs.join(format!("{}.jsonl", find("linear", 1, 2).name));
    fake_log(&runs, find("linear", 1, 2), &[0.3], None);
    std::fs::write(
        &torn,
        std::fs::read_to_string(&torn).expect("log") + r#"{"type":"st"#,
    )
    .expect("torn");
    // A corrupt log of a planned run, and a foreign one.
    let corrupt = find("res", 2, 0);
    std::fs::write(runs.join(format!("{}.jsonl", corrupt.name)), "garbage\n").expect("corrupt");
    std::fs::write(runs.join("1700000000-d8-relu-he-bn-ff-s0.jsonl"), "{}\n").expect("foreign");

    let out = study(&["report"])
        .arg(&spec)
        .arg("--runs-dir")
        .arg(&runs)
        .output()
        .expect("report");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("1700000000-d8-relu-he-bn-ff-s0.jsonl: not a run of this study"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{}.jsonl: run log", corrupt.name))
            && stderr.contains("line 1 is not JSON"),
        "{stderr}"
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let group = |family: &str, depth: u64| -> Value {
        report["groups"]
            .as_array()
            .and_then(|g| {
                g.iter()
                    .find(|g| g["family"] == family && g["depth"] == depth)
                    .cloned()
            })
            .expect("group")
    };
    let g = group("relu", 2);
    assert_eq!((g["n"].as_u64(), g["runs"].as_u64()), (Some(3), Some(3)));
    let close = |v: &Value, x: f64| v.as_f64().is_some_and(|v| (v - x).abs() < 1e-12);
    // mean 13/30; sample sd sqrt(0.0233..) = 0.15275; se = sd / sqrt(3) = 0.08819
    assert!(close(&g["mean"], 1.3 / 3.0), "{g}");
    assert!(close(&g["se"], (0.07f64 / 3.0 / 3.0).sqrt()), "{g}");
    let g = group("relu", 3);
    assert_eq!(
        (g["n"].as_u64(), g["diverged"].as_u64()),
        (Some(1), Some(1))
    );
    assert!(close(&g["mean"], 0.25) && g["se"].is_null(), "{g}");
    let g = group("linear", 1);
    assert_eq!(g["baseline"], true);
    assert!(close(&g["mean"], 0.38) && close(&g["se"], 0.03), "{g}");
    let state = |r: &shatterlab::study::plan::PlannedRun| {
        report["runs"]
            .as_array()
            .and_then(|rows| rows.iter().find(|x| x["run"] == r.name.as_str()))
            .map(|x| x["state"].as_str().unwrap_or("").to_string())
            .expect("row")
    };
    assert_eq!(state(find("relu", 3, 1)), "diverged");
    assert_eq!(state(find("relu", 3, 2)), "partial");
    assert_eq!(state(find("linear", 1, 2)), "partial");
    assert_eq!(state(corrupt), "unreadable");
    assert_eq!(state(find("res", 3, 1)), "pending");
    let skipped = report["skipped"].as_array().expect("skipped");
    assert_eq!(skipped.len(), 2);
    // Two epochs logged by 2 s each per done run: the rest is estimated at that rate.
    assert!(
        report["progress"]["eta_seconds"]
            .as_f64()
            .is_some_and(|s| s > 0.0)
    );
    // CSV tables and the figure.
    let csv = tmp.path().join("csv");
    let figs = tmp.path().join("figs");
    let status = study(&["report"])
        .arg(&spec)
        .arg("--runs-dir")
        .arg(&runs)
        .args(["--format", "csv", "--out"])
        .arg(&csv)
        .arg("--figure")
        .arg(&figs)
        .output()
        .expect("report");
    assert!(status.status.success());
    let groups = std::fs::read_to_string(csv.join("groups.csv")).expect("groups.csv");
    assert!(groups.starts_with("family,label,baseline,depth,mean,se,n,runs,diverged\n"));
    assert!(groups.contains("relu,ReLU,false,2,0.4333"), "{groups}");
    let svg = std::fs::read_to_string(figs.join("tiny-accuracy-vs-depth.svg")).expect("svg");
    assert!(
        svg.contains("ReLU (n = 3/1)") && svg.contains("linear (n = 2)"),
        "legend"
    );
    assert!(figs.join("tiny-accuracy-vs-depth.png").is_file());
}

/// Runs `study plan` on `text` and returns its one-line error.
fn refused(text: &str, extra: &[&str]) -> String {
    let tmp = tempfile::tempdir().expect("tmp");
    let spec = write_spec(tmp.path(), "bad.toml", text);
    let out = study(&["plan"])
        .arg(&spec)
        .args(extra)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "{text}");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("bad.toml") || !extra.is_empty(), "{stderr}");
    stderr
}

#[test]
fn bad_specs_are_one_line_naming_the_file_the_key_and_what_is_accepted() {
    let cases: [(&str, &str); 7] = [
        (
            "depths = [8]\nseeds = [0]\nepochs = 1\ndpeth = 3\n[[family]]\nname = \"a\"\n",
            "line 4 (key dpeth): unknown field `dpeth`, expected one of",
        ),
        (
            "depths = []\nseeds = [0]\nepochs = 1\n[[family]]\nname = \"a\"\n",
            "key depths: empty, expected depths in 2..=198",
        ),
        (
            "depths = [8, 500]\nseeds = [0]\nepochs = 1\n[[family]]\nname = \"a\"\n",
            "key depths: depth 500 is out of range, expected depths in 2..=198",
        ),
        (
            "depths = [8]\nseeds = [0]\nepochs = 1\n",
            "key family: no [[family]] tables, expected at least one",
        ),
        (
            "depths = [8]\nseeds = [0]\nepochs = 1\n[[family]]\nname = \"ll\"\ninit = \"ll\"\n",
            "key family.ll: train refuses these settings: invalid init ll with act relu",
        ),
        (
            "depths = [8]\nseeds = [0]\nepochs = 1\n[[family]]\nname = \"lin\"\nbaseline = true\nact = \"crelu\"\n",
            "key family.lin.act: a baseline family is the linear classifier",
        ),
        (
            "depths = [8]\nseeds = [0]\nepochs = 1\nlr = -1\n[[family]]\nname = \"a\"\n",
            "key lr: invalid --lr -1: expected a finite number > 0",
        ),
    ];
    for (text, want) in cases {
        let e = refused(text, &[]);
        assert!(
            e.starts_with("error: invalid study spec ") && e.contains(want),
            "{e}\nwanted: {want}"
        );
    }
    let ok = "depths = [8]\nseeds = [0]\nepochs = 1\n[[family]]\nname = \"a\"\n";
    let e = refused(ok, &["--depths", "1"]);
    assert!(
        e.contains("invalid --depths entry 1: expected depths in 2..=198"),
        "{e}"
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let spec = write_spec(tmp.path(), "ok.toml", ok);
    let out = study(&["plan"])
        .arg(&spec)
        .args(["--shard", "3/3"])
        .output()
        .expect("run");
    let e = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{e}");
    assert!(
        e.contains("--shard") && e.contains("expected I/N with 0 <= I < N"),
        "{e}"
    );
}

#[test]
fn the_memory_budget_applies_per_run_and_a_refused_run_does_not_stop_the_others() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = common::tiny_cifar(&tmp.path().join("data"), 64, 40);
    let spec = write_spec(tmp.path(), "tiny.toml", TINY);
    let runs = tmp.path().join("runs");
    let out = run_cmd(&spec, &data, &runs, &["--max-memory", "1M"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let got = outcomes(&stdout);
    let plan = plan_of(&spec, &Overrides::default());
    assert_eq!(got.len(), plan.runs.len(), "every run was tried");
    assert!(got.iter().all(|(_, o)| o == "failed"), "{got:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("refused: training with depth 2, batch 16 needs about")
            && stderr.contains("over the --max-memory limit of 1 MB"),
        "{stderr}"
    );
    assert!(stderr.trim_end().ends_with(&format!(
        "{} run(s) failed (each said why above): {}",
        plan.runs.len(),
        plan.runs
            .iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    )));
}
