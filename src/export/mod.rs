//! The data behind the lab's panes and the training runs, for use elsewhere (a notebook, a
//! paper): one JSON document, or one CSV file per table. `shatterlab export` and the TUI's
//! `E` build the same [`Export`] from a [`LabTab`], so both write the same thing.

pub mod figures;
pub mod plot;

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::config::LabConfig;
use crate::lab::summary::DepthView;
use crate::output::csv_field;
use crate::train::runlog;
use crate::train::trainer::{RunState, TrainEvent};
use crate::ui::lab::{LabTab, SweepResults};
use crate::ui::train::{Phase, RunView};

/// Names the document's layout, for readers that check it.
const FORMAT: &str = "shatterlab-export/1";

/// The files of `--format csv`, in the order [`Export::csv`] returns their contents.
pub const TABLES: [&str; 10] = [
    "settings.csv",
    "depths.csv",
    "acf.csv",
    "trace.csv",
    "heatmap.csv",
    "activity.csv",
    "noise.csv",
    "runs.csv",
    "loss.csv",
    "accuracy.csv",
];

/// Everything exported: the lab's sides, its noise references and the training runs.
#[derive(Serialize)]
pub struct Export<'a> {
    pub format: &'static str,
    pub lab: Vec<Side<'a>>,
    pub noise: Noise<'a>,
    pub runs: Vec<Run>,
}

/// One side of the lab (A, or B of the A/B and Fig. 1 views): its full settings and every
/// depth received.
#[derive(Serialize)]
pub struct Side<'a> {
    pub side: &'static str,
    pub settings: &'a LabConfig,
    /// Whether the sweep reached its last depth.
    pub complete: bool,
    /// The input grid x_p of the traces and the correlation matrix.
    pub x: Vec<f64>,
    pub depths: Vec<Depth<'a>>,
}

/// One depth: the statistics of `shatterlab grad` (both estimators), net 0's gradient
/// trace, the activity histograms and the block-averaged correlation matrices (row-major,
/// `heat_side` square) with the readout integrated out and with each net's own.
#[derive(Serialize)]
pub struct Depth<'a> {
    #[serde(flatten)]
    pub stats: &'a crate::lab::sweep::DepthStats,
    pub trace: &'a [f64],
    pub active_fraction_histogram: &'a [usize],
    pub run_length_histogram: &'a [usize],
    pub heat_side: usize,
    pub heat_integrated: &'a [f64],
    pub heat_random: &'a [f64],
}

/// Brown and white noise drawn with the lab's estimator (the references of the ACF and
/// trace panes).
#[derive(Serialize)]
pub struct Noise<'a> {
    pub brown_acf: &'a [f64],
    pub white_acf: &'a [f64],
    pub brown_trace: &'a [f64],
    pub white_trace: &'a [f64],
}

/// One training run: its full settings and curves.
#[derive(Serialize)]
pub struct Run {
    pub name: String,
    pub state: String,
    pub settings: serde_json::Value,
    /// (step, mean training loss)
    pub losses: Vec<(u64, f64)>,
    /// (epoch, test accuracy)
    pub accuracy: Vec<(usize, f64)>,
}

impl<'a> Export<'a> {
    pub fn new(lab: &'a LabTab, runs: Vec<Run>) -> Self {
        let mut sides = vec![side("A", &lab.a)];
        sides.extend(lab.b.as_ref().map(|b| side("B", b)));
        Self {
            format: FORMAT,
            lab: sides,
            noise: Noise {
                brown_acf: &lab.noise.brown_acf,
                white_acf: &lab.noise.white_acf,
                brown_trace: &lab.noise.brown_trace,
                white_trace: &lab.noise.white_trace,
            },
            runs,
        }
    }

    pub fn json(&self) -> anyhow::Result<String> {
        Ok(serde_json::to_string_pretty(self)? + "\n")
    }

    /// The tables of `--format csv`, in the order of [`TABLES`].
    pub fn csv(&self) -> [String; 10] {
        let mut settings = String::from("side,key,value\n");
        let mut depths = String::from(
            "side,depth,estimator,grad_var,grad_var_se,corr_neighbor,corr_neighbor_se,corr_far,\
             corr_far_se,active_fraction,saturated_fraction,mean_run_length,overflow,roundoff,\
             roundoff_error\n",
        );
        let mut acf = String::from("side,depth,lag,r,se\n");
        let mut trace = String::from("side,depth,point,x,g\n");
        let mut heat = String::from("side,depth,estimator,row,col,corr\n");
        let mut activity = String::from("side,depth,histogram,bin,count\n");
        for s in &self.lab {
            if let Ok(serde_json::Value::Object(map)) = serde_json::to_value(s.settings) {
                for (k, v) in map {
                    let _ = writeln!(settings, "{},{k},{}", s.side, csv_field(&v.to_string()));
                }
            }
            for d in &s.depths {
                let (side, l) = (s.side, d.stats.depth);
                let st = d.stats;
                for (estimator, p) in [("random", &st.random), ("integrated", &st.integrated)] {
                    let _ = writeln!(
                        depths,
                        "{side},{l},{estimator},{},{},{},{},{},{},{},{},{},{},{},{}",
                        p.grad_var,
                        p.grad_var_se,
                        p.corr_neighbor,
                        p.corr_neighbor_se,
                        p.corr_far,
                        p.corr_far_se,
                        st.active_fraction,
                        st.saturated_fraction,
                        st.mean_run_length,
                        st.overflow,
                        st.roundoff,
                        st.roundoff_error
                    );
                }
                for (k, (r, se)) in st.acf.iter().zip(&st.acf_se).enumerate() {
                    let _ = writeln!(acf, "{side},{l},{k},{r},{se}");
                }
                for (p, (x, g)) in s.x.iter().zip(d.trace).enumerate() {
                    let _ = writeln!(trace, "{side},{l},{p},{x},{g}");
                }
                let side_len = d.heat_side.max(1);
                for (estimator, cells) in
                    [("integrated", d.heat_integrated), ("random", d.heat_random)]
                {
                    for (i, c) in cells.iter().enumerate() {
                        let (row, col) = (i / side_len, i % side_len);
                        let _ = writeln!(heat, "{side},{l},{estimator},{row},{col},{c}");
                    }
                }
                for (name, hist) in [
                    ("active_fraction", d.active_fraction_histogram),
                    ("run_length_log2", d.run_length_histogram),
                ] {
                    for (b, n) in hist.iter().enumerate() {
                        let _ = writeln!(activity, "{side},{l},{name},{b},{n}");
                    }
                }
            }
        }
        let mut noise = String::from("series,index,value\n");
        for (name, values) in [
            ("brown_acf", self.noise.brown_acf),
            ("white_acf", self.noise.white_acf),
            ("brown_trace", self.noise.brown_trace),
            ("white_trace", self.noise.white_trace),
        ] {
            for (i, v) in values.iter().enumerate() {
                let _ = writeln!(noise, "{name},{i},{v}");
            }
        }
        let mut runs = String::from("run,state,settings\n");
        let mut loss = String::from("run,step,loss\n");
        let mut accuracy = String::from("run,epoch,test_accuracy\n");
        for r in &self.runs {
            let name = csv_field(&r.name);
            let _ = writeln!(
                runs,
                "{name},{},{}",
                csv_field(&r.state),
                csv_field(&r.settings.to_string())
            );
            for (step, l) in &r.losses {
                let _ = writeln!(loss, "{name},{step},{l}");
            }
            for (epoch, a) in &r.accuracy {
                let _ = writeln!(accuracy, "{name},{epoch},{a}");
            }
        }
        [
            settings, depths, acf, trace, heat, activity, noise, runs, loss, accuracy,
        ]
    }

    /// Writes the export: JSON to `out`, or with `csv` one file per table into the folder
    /// `out`. Every file is written atomically; existing ones are kept unless `force`.
    pub fn write(&self, out: &Path, csv: bool, force: bool) -> anyhow::Result<()> {
        check_outputs(out, csv, force)?;
        if !csv {
            return crate::fsio::write_file(out, self.json()?.as_bytes());
        }
        crate::output::write_tables(out, TABLES.into_iter().zip(self.csv()))
    }
}

/// Refuses an export that would replace a file, unless `force`: call it before the work.
pub fn check_outputs(out: &Path, csv: bool, force: bool) -> anyhow::Result<()> {
    crate::output::check_new(out, csv.then_some(&TABLES[..]), force)
}

fn side<'a>(name: &'static str, r: &'a SweepResults) -> Side<'a> {
    Side {
        side: name,
        settings: &r.cfg,
        complete: r.done && r.error.is_none(),
        x: r.cfg.grid(),
        depths: r.depths.iter().map(depth).collect(),
    }
}

fn depth(v: &DepthView) -> Depth<'_> {
    Depth {
        stats: &v.stats,
        trace: &v.trace,
        active_fraction_histogram: &v.activity.fraction_histogram,
        run_length_histogram: &v.activity.run_histogram,
        heat_side: v.heat_integrated.side,
        heat_integrated: &v.heat_integrated.cells,
        heat_random: &v.heat_random.cells,
    }
}

/// A run of the training tab.
pub fn tab_run(r: &RunView) -> Run {
    let state = match &r.phase {
        Phase::Starting => "starting".to_string(),
        Phase::Training => "training".to_string(),
        Phase::Ended(s) => state_name(*s),
        Phase::Failed(e) => format!("failed: {e}"),
        Phase::Unended => "unfinished".to_string(),
    };
    Run {
        name: r
            .log
            .as_ref()
            .and_then(|p| p.file_stem())
            .map_or_else(|| format!("run {}", r.id), |s| s.to_string_lossy().into()),
        state,
        settings: serde_json::to_value(&r.cfg).unwrap_or(serde_json::Value::Null),
        losses: r.losses.clone(),
        accuracy: r.accuracy.clone(),
    }
}

/// The runs logged in `dir` (`*.jsonl`, as `train` and the training tab write them), by
/// name. A line that is not a record (a torn last line) is skipped.
pub fn logged_runs(dir: &Path) -> anyhow::Result<Vec<Run>> {
    runlog::log_paths(dir)?
        .iter()
        .map(|p| runlog::read_log(p, u64::MAX).map(logged_run))
        .collect()
}

fn logged_run(log: runlog::LoggedRun) -> Run {
    let mut run = Run {
        name: log
            .path
            .file_stem()
            .map_or_else(String::new, |s| s.to_string_lossy().into()),
        state: "unfinished".into(),
        settings: log.settings,
        losses: Vec::new(),
        accuracy: Vec::new(),
    };
    for event in log.events {
        match event {
            TrainEvent::Step {
                step,
                loss: Some(loss),
                ..
            } => run.losses.push((step, loss)),
            TrainEvent::Step { .. } => {}
            TrainEvent::Epoch {
                epoch,
                test_accuracy,
                ..
            } => run.accuracy.push((epoch, test_accuracy)),
            TrainEvent::End { state, .. } => run.state = state_name(state),
        }
    }
    run
}

/// A run state as the logs spell it.
fn state_name(state: RunState) -> String {
    serde_json::to_value(state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{state:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_log_gives_its_settings_and_curves() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("r1.jsonl"),
            concat!(
                r#"{"type":"config","run":"r1","seed":0,"step":0,"config":{"lr":0.001}}"#,
                "\n",
                r#"{"type":"step","step":1,"epoch":0,"loss":2.3,"lr":0.001,"images_per_sec":9,"state":"running"}"#,
                "\n",
                r#"{"type":"epoch","epoch":1,"step":1,"train_loss":2.3,"test_accuracy":0.1,"lr":0.001,"seconds":1,"state":"running"}"#,
                "\n",
                r#"{"type":"end","step":1,"epoch":1,"state":"finished"}"#,
                "\n",
                r#"{"type":"st"#,
            ),
        )
        .unwrap();
        let runs = logged_runs(dir.path()).unwrap();
        assert_eq!(runs.len(), 1);
        let r = &runs[0];
        assert_eq!((r.name.as_str(), r.state.as_str()), ("r1", "finished"));
        assert_eq!(r.settings["lr"], 0.001);
        assert_eq!(r.losses, vec![(1, 2.3)]);
        assert_eq!(r.accuracy, vec![(1, 0.1)]);
    }
}
