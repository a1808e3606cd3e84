//! A study's results from its runs directory alone: each planned run's state and test
//! accuracy, and per family and depth the mean over seeds with its standard error. It reads
//! logs that are still being written, reports (and skips) logs it cannot use, and is cheap
//! enough to poll: a study pane can call [`read`] once a second.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::study::lock;
use crate::study::plan::Plan;
use crate::study::runner::same_run;
use crate::train::config::TrainConfig;
use crate::train::history::{self, History};
use crate::train::trainer::RunState;

/// Names the document's layout, for readers that check it.
const FORMAT: &str = "shatterlab-study/1";

/// Where a planned run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// No log yet.
    Pending,
    /// A worker holds it now.
    Running,
    /// Started, not complete, and nobody on it: `study run` continues it.
    Partial,
    /// Every planned epoch done.
    Finished,
    /// Its loss became NaN or infinite; it stopped there.
    Diverged,
    /// Its log is corrupt or not this run's (see `skipped`).
    Unreadable,
}

/// One planned run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunRow {
    pub run: String,
    pub family: String,
    pub depth: usize,
    pub seed: u64,
    pub state: Status,
    pub epochs_done: usize,
    pub epochs: usize,
    /// After the planned epochs (or the last epoch so far).
    pub test_accuracy: Option<f64>,
    pub best_test_accuracy: Option<f64>,
    pub settings: TrainConfig,
}

/// One family at one depth, over its seeds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Group {
    pub family: String,
    pub label: String,
    /// The linear classifier, drawn across all depths.
    pub baseline: bool,
    pub depth: usize,
    /// Mean final test accuracy of the finished runs.
    pub mean: Option<f64>,
    /// Standard error of that mean (sample standard deviation / sqrt(n)); null below 2.
    pub se: Option<f64>,
    /// Finished runs averaged.
    pub n: usize,
    /// Runs planned.
    pub runs: usize,
    /// Runs that diverged (left out of the mean).
    pub diverged: usize,
}

/// Counts for a progress line.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Progress {
    pub runs: usize,
    /// Finished or diverged.
    pub done: usize,
    pub running: usize,
    pub epochs_done: usize,
    pub epochs_total: usize,
    /// Time left for one worker at the rate of the epochs logged so far (their cost-weighted
    /// seconds); null before any epoch.
    pub eta_seconds: Option<f64>,
}

/// A log the report could not use.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Skipped {
    pub file: String,
    pub reason: String,
}

/// The whole report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub format: &'static str,
    pub study: String,
    pub description: String,
    pub epochs: usize,
    pub progress: Progress,
    pub runs: Vec<RunRow>,
    pub groups: Vec<Group>,
    pub skipped: Vec<Skipped>,
}

/// Reads `runs_dir` against `plan`. Only a runs directory that cannot be listed is an error.
pub fn read(plan: &Plan, runs_dir: &Path) -> anyhow::Result<Report> {
    let mut skipped = foreign_logs(plan, runs_dir)?;
    let mut rows = Vec::new();
    let (mut seconds, mut cost_done, mut cost_left) = (0.0, 0.0, 0.0);
    for run in &plan.runs {
        let file = format!("{}.jsonl", run.name);
        let loaded = match history::read(&runs_dir.join(&file)) {
            Ok(Some(h)) if !same_run(&h.config, &run.config) || h.run != run.name => {
                Err("its settings are not the plan's run of that name (edited?)".to_string())
            }
            Ok(h) => Ok(h),
            Err(e) => Err(format!("{e:#}")),
        };
        let history = loaded.unwrap_or_else(|reason| {
            skipped.push(Skipped {
                file: file.clone(),
                reason,
            });
            None
        });
        let unreadable = skipped.iter().any(|s| s.file == file);
        let epochs = run.config.epochs;
        let row = row(plan, run, history.as_ref(), unreadable, || {
            lock::is_held(runs_dir, &run.name)
        });
        if let Some(h) = &history {
            let counted = h.epochs.iter().filter(|e| e.epoch <= epochs);
            for e in counted {
                seconds += e.seconds;
                cost_done += run.epoch_cost();
            }
        }
        if !matches!(row.state, Status::Finished | Status::Diverged) {
            cost_left += (epochs - row.epochs_done.min(epochs)) as f64 * run.epoch_cost();
        }
        rows.push(row);
    }
    let progress = Progress {
        runs: rows.len(),
        done: rows
            .iter()
            .filter(|r| matches!(r.state, Status::Finished | Status::Diverged))
            .count(),
        running: rows.iter().filter(|r| r.state == Status::Running).count(),
        epochs_done: rows.iter().map(|r| r.epochs_done.min(r.epochs)).sum(),
        epochs_total: rows.iter().map(|r| r.epochs).sum(),
        eta_seconds: (cost_done > 0.0).then(|| cost_left * seconds / cost_done),
    };
    Ok(Report {
        format: FORMAT,
        study: plan.spec.name.clone(),
        description: plan.spec.description.clone(),
        epochs: plan.spec.epochs,
        progress,
        groups: groups(plan, &rows),
        runs: rows,
        skipped,
    })
}

fn row(
    plan: &Plan,
    run: &crate::study::plan::PlannedRun,
    history: Option<&History>,
    unreadable: bool,
    held: impl Fn() -> bool,
) -> RunRow {
    let epochs = run.config.epochs;
    let results: Vec<f64> = history.map_or_else(Vec::new, |h| {
        h.epochs
            .iter()
            .filter(|e| e.epoch <= epochs)
            .map(|e| e.test_accuracy)
            .collect()
    });
    let epochs_done = history.map_or(0, History::epochs_done);
    let state = match history {
        _ if unreadable => Status::Unreadable,
        None if held() => Status::Running,
        None => Status::Pending,
        Some(h) if h.end == Some(RunState::Diverged) => Status::Diverged,
        Some(_) if epochs_done >= epochs => Status::Finished,
        Some(_) if held() => Status::Running,
        Some(_) => Status::Partial,
    };
    RunRow {
        run: run.name.clone(),
        family: plan.spec.families[run.family].name.clone(),
        depth: run.depth,
        seed: run.seed,
        state,
        epochs_done,
        epochs,
        test_accuracy: results.last().copied(),
        best_test_accuracy: results.iter().copied().reduce(f64::max),
        settings: run.config.clone(),
    }
}

/// Logs in `runs_dir` that are no run of the plan.
fn foreign_logs(plan: &Plan, runs_dir: &Path) -> anyhow::Result<Vec<Skipped>> {
    let entries = match std::fs::read_dir(runs_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => anyhow::bail!("cannot read the runs directory {}: {e}", runs_dir.display()),
    };
    let planned: BTreeSet<String> = plan
        .runs
        .iter()
        .map(|r| format!("{}.jsonl", r.name))
        .collect();
    let mut foreign: Vec<Skipped> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".jsonl") && !n.starts_with('.') && !planned.contains(n))
        .map(|file| Skipped {
            file,
            reason: "not a run of this study (another study's, or `train`'s)".into(),
        })
        .collect();
    foreign.sort_by(|a, b| a.file.cmp(&b.file));
    Ok(foreign)
}

/// Mean and standard error of `values` (None for the mean of none, and the se of fewer than 2).
pub fn mean_se(values: &[f64]) -> (Option<f64>, Option<f64>) {
    let n = values.len();
    if n == 0 {
        return (None, None);
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    if n < 2 {
        return (Some(mean), None);
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    (Some(mean), Some((var / n as f64).sqrt()))
}

/// Per family (spec order) and depth: the finished runs' final accuracy over seeds.
fn groups(plan: &Plan, rows: &[RunRow]) -> Vec<Group> {
    let mut out = Vec::new();
    for f in &plan.spec.families {
        let depths: BTreeSet<usize> = rows
            .iter()
            .filter(|r| r.family == f.name)
            .map(|r| r.depth)
            .collect();
        for depth in depths {
            let members: Vec<&RunRow> = rows
                .iter()
                .filter(|r| r.family == f.name && r.depth == depth)
                .collect();
            let finished: Vec<f64> = members
                .iter()
                .filter(|r| r.state == Status::Finished)
                .filter_map(|r| r.test_accuracy)
                .collect();
            let (mean, se) = mean_se(&finished);
            out.push(Group {
                family: f.name.clone(),
                label: f.label.clone(),
                baseline: f.baseline,
                depth,
                mean,
                se,
                n: finished.len(),
                runs: members.len(),
                diverged: members
                    .iter()
                    .filter(|r| r.state == Status::Diverged)
                    .count(),
            });
        }
    }
    out
}

impl Report {
    pub fn json(&self) -> anyhow::Result<String> {
        Ok(serde_json::to_string_pretty(self)? + "\n")
    }

    /// The two tables of `--format csv`: runs, then groups.
    pub fn csv(&self) -> [String; 2] {
        let opt = |v: Option<f64>| v.map_or_else(String::new, |v| v.to_string());
        let mut runs = String::from(
            "run,family,depth,seed,state,epochs_done,epochs,test_accuracy,best_test_accuracy\n",
        );
        for r in &self.runs {
            let state = serde_json::to_value(r.state)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            let _ = writeln!(
                runs,
                "{},{},{},{},{state},{},{},{},{}",
                r.run,
                r.family,
                r.depth,
                r.seed,
                r.epochs_done,
                r.epochs,
                opt(r.test_accuracy),
                opt(r.best_test_accuracy)
            );
        }
        let mut groups = String::from("family,label,baseline,depth,mean,se,n,runs,diverged\n");
        for g in &self.groups {
            let _ = writeln!(
                groups,
                "{},{},{},{},{},{},{},{},{}",
                g.family,
                crate::output::csv_field(&g.label),
                g.baseline,
                g.depth,
                opt(g.mean),
                opt(g.se),
                g.n,
                g.runs,
                g.diverged
            );
        }
        [runs, groups]
    }
}

/// The files of `--format csv` with `--out DIR`, in the order of [`Report::csv`].
pub const CSV_TABLES: [&str; 2] = ["runs.csv", "groups.csv"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_error_is_the_sample_deviation_over_root_n() {
        assert_eq!(mean_se(&[]), (None, None));
        assert_eq!(mean_se(&[0.5]), (Some(0.5), None));
        let (m, se) = mean_se(&[0.2, 0.4, 0.6]);
        assert!((m.unwrap() - 0.4).abs() < 1e-12);
        // sd = 0.2, se = 0.2 / sqrt(3)
        assert!((se.unwrap() - 0.2 / 3f64.sqrt()).abs() < 1e-12);
    }
}
