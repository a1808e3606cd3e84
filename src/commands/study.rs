//! `shatterlab study plan|run|report SPEC`: the runs of a study, training this worker's share
//! of them into a runs directory, and the report (JSON or CSV, and the Fig. 6 figure) read
//! from that directory.

use std::path::PathBuf;

use serde::Serialize;

use crate::commands::train::{interrupt_flag, load_data, print_line};
use crate::config::DeviceKind;
use crate::device::device_for;
use crate::study::plan::{Plan, Shard};
use crate::study::report::{self, CSV_TABLES};
use crate::study::runner::{self, Outcome, Worker};
use crate::study::spec::{Overrides, Spec};
use crate::ui::cmdline::train_command_line;

/// A study subcommand's resolved settings.
#[derive(Debug, Clone, PartialEq)]
pub struct StudyOptions {
    pub spec: PathBuf,
    pub overrides: Overrides,
    pub action: StudyAction,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StudyAction {
    Plan {
        json: bool,
        shard: Option<Shard>,
        device: DeviceKind,
    },
    Run(RunOptions),
    Report(ReportOptions),
}

#[derive(Debug, Clone, PartialEq)]
pub struct RunOptions {
    /// None: from the job runner's environment, else the whole plan.
    pub shard: Option<Shard>,
    pub runs_dir: PathBuf,
    pub data_dir: Option<PathBuf>,
    pub device: DeviceKind,
    pub max_memory: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReportOptions {
    pub runs_dir: PathBuf,
    pub csv: bool,
    /// The JSON file, or with CSV the folder of runs.csv and groups.csv; None: stdout.
    pub out: Option<PathBuf>,
    /// Where accuracy-against-depth is drawn (SVG and PNG).
    pub figure: Option<PathBuf>,
    pub force: bool,
}

pub fn run(opts: &StudyOptions) -> anyhow::Result<()> {
    let plan = Plan::new(Spec::load(&opts.spec, &opts.overrides)?)?;
    match &opts.action {
        StudyAction::Plan {
            json,
            shard,
            device,
        } => print_plan(&plan, *json, *shard, *device),
        StudyAction::Run(o) => run_shard(&plan, o),
        StudyAction::Report(o) => write_report(&plan, o),
    }
}

/// One planned run as `plan --format json` prints it.
#[derive(Serialize)]
struct PlanLine<'a> {
    run: &'a str,
    family: &'a str,
    depth: usize,
    seed: u64,
    cost: u64,
    train: String,
}

fn print_plan(
    plan: &Plan,
    json: bool,
    shard: Option<Shard>,
    device: DeviceKind,
) -> anyhow::Result<()> {
    let mut text = String::new();
    for r in plan.select(shard) {
        let train = train_command_line(&r.config, device);
        if json {
            let line = PlanLine {
                run: &r.name,
                family: &plan.spec.families[r.family].name,
                depth: r.depth,
                seed: r.seed,
                cost: r.cost,
                train,
            };
            text.push_str(&serde_json::to_string(&line)?);
        } else {
            text.push_str(&format!("{}  {train}", r.name));
        }
        text.push('\n');
    }
    super::emit(&text, None)
}

/// A run's record on stdout, tagged with the run.
#[derive(Serialize)]
struct Tagged<'a, T: Serialize> {
    run: &'a str,
    #[serde(flatten)]
    record: &'a T,
}

/// How a run went, on stdout after its records.
#[derive(Serialize)]
struct RunDone<'a> {
    run: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

fn run_shard(plan: &Plan, o: &RunOptions) -> anyhow::Result<()> {
    let shard = match o.shard {
        Some(s) => Some(s),
        None => Shard::from_env(|k| std::env::var(k).ok())?,
    };
    let runs = plan.select(shard);
    let slice = shard.map_or_else(String::new, |s| format!(" (shard {}/{})", s.index, s.count));
    eprintln!(
        "study {}: {} of {} runs{slice} into {}",
        plan.spec.name,
        runs.len(),
        plan.runs.len(),
        o.runs_dir.display()
    );
    std::fs::create_dir_all(&o.runs_dir).map_err(|e| {
        anyhow::anyhow!("cannot create runs directory {}: {e}", o.runs_dir.display())
    })?;
    let stop = interrupt_flag()?;
    let worker = Worker {
        data: load_data(o.data_dir.as_deref())?,
        device: device_for(o.device)?,
        runs_dir: &o.runs_dir,
        limit: crate::budget::limit(o.max_memory, o.device),
        stop: &stop,
    };
    let mut failed = Vec::new();
    let mut interrupted = false;
    for r in runs {
        let outcome = runner::run_one(&worker, r, |event| {
            print_line(&Tagged {
                run: &r.name,
                record: event,
            })
        });
        let (word, error) = match &outcome {
            Ok(Outcome::Trained { resumed: true, .. }) => ("resumed and ended", None),
            Ok(Outcome::Trained { .. }) => ("trained", None),
            Ok(Outcome::AlreadyDone(_)) => ("already done", None),
            Ok(Outcome::Busy) => ("busy: another worker holds it", None),
            Ok(Outcome::Interrupted) => ("interrupted", None),
            Err(e) => ("failed", Some(format!("{e:#}"))),
        };
        print_line(&RunDone {
            run: &r.name,
            kind: "study",
            outcome: word,
            error: error.clone(),
        })?;
        if let Some(e) = error {
            eprintln!("run {} failed: {e}", r.name);
            failed.push(r.name.clone());
        }
        if outcome.as_ref().is_ok_and(|o| *o == Outcome::Interrupted) {
            interrupted = true;
            break;
        }
    }
    anyhow::ensure!(
        !interrupted,
        "interrupted: the current run was ended at Ctrl-C; run again to continue from its last checkpoint"
    );
    anyhow::ensure!(
        failed.is_empty(),
        "{} run(s) failed (each said why above): {}",
        failed.len(),
        failed.join(", ")
    );
    Ok(())
}

fn write_report(plan: &Plan, o: &ReportOptions) -> anyhow::Result<()> {
    if let Some(out) = &o.out {
        crate::output::check_new(out, o.csv.then_some(&CSV_TABLES[..]), o.force)?;
    }
    if let Some(dir) = &o.figure {
        for ext in ["svg", "png"] {
            let path = dir.join(format!("{}.{ext}", figure_name(plan)));
            crate::fsio::ensure_new(&path, o.force, "--figure")?;
        }
    }
    let report = report::read(plan, &o.runs_dir)?;
    for s in &report.skipped {
        eprintln!(
            "skipped {}: {}",
            o.runs_dir.join(&s.file).display(),
            s.reason
        );
    }
    match (&o.out, o.csv) {
        (Some(out), false) => crate::fsio::write_file(out, report.json()?.as_bytes())?,
        (None, false) => super::emit(&report.json()?, None)?,
        (Some(dir), true) => {
            crate::output::write_tables(dir, CSV_TABLES.into_iter().zip(report.csv()))?
        }
        (None, true) => super::emit(&report.csv().join("\n"), None)?,
    }
    if let Some(dir) = &o.figure {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
        let mut figure = crate::export::figures::study(&report);
        figure.name = figure_name(plan);
        figure.write(dir, true)?;
    }
    Ok(())
}

fn figure_name(plan: &Plan) -> String {
    format!("{}-accuracy-vs-depth", plan.spec.name)
}
