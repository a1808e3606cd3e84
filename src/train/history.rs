//! What a run log says, read strictly: the latest attempt's settings, its epochs and how it
//! ended. A log being written may end in a torn line (ignored); any other line that is not a
//! record of `train` or `study run` makes the log unreadable, with the line named.

use std::path::Path;

use serde::Deserialize;

use crate::train::config::TrainConfig;
use crate::train::trainer::{RunState, TrainEvent};

/// The header of a log, or of a resumption.
#[derive(Deserialize)]
struct Header {
    #[serde(rename = "type")]
    kind: String,
    run: String,
    step: u64,
    config: TrainConfig,
}

/// One epoch's result.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochResult {
    pub epoch: usize,
    pub step: u64,
    pub test_accuracy: f64,
    pub seconds: f64,
}

/// A run log's latest attempt (records before a fresh `config` header are superseded; a
/// `resume` header drops the epochs past its checkpoint).
#[derive(Clone, Debug, PartialEq)]
pub struct History {
    pub run: String,
    pub config: TrainConfig,
    pub epochs: Vec<EpochResult>,
    /// How the attempt ended, if it has.
    pub end: Option<RunState>,
}

impl History {
    /// Epochs completed.
    pub fn epochs_done(&self) -> usize {
        self.epochs.last().map_or(0, |e| e.epoch)
    }
}

/// Reads the log at `path`: None when it does not exist or holds no complete record yet.
pub fn read(path: &Path) -> anyhow::Result<Option<History>> {
    if std::fs::symlink_metadata(path).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound) {
        return Ok(None);
    }
    // Checked first: a FIFO in the runs directory must not hang a report.
    let bytes = crate::fsio::read_regular(path, "run log")?;
    let text = String::from_utf8_lossy(&bytes);
    parse(&text).map_err(|e| anyhow::anyhow!("run log {}: {e}", path.display()))
}

/// Parses a log's text; the error names the line.
pub fn parse(text: &str) -> Result<Option<History>, String> {
    // Only newline-terminated lines are complete; a writer may be mid-line.
    let complete = text.rfind('\n').map_or("", |end| &text[..end]);
    let mut history: Option<History> = None;
    for (i, line) in complete.lines().enumerate() {
        let n = i + 1;
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("line {n} is not JSON ({e})"))?;
        let kind = value.get("type").and_then(serde_json::Value::as_str);
        match (kind, &mut history) {
            (Some("config" | "resume"), h) => {
                let header: Header = serde_json::from_value(value)
                    .map_err(|e| format!("line {n} is not a run header ({e})"))?;
                // A resumption drops the epochs past its checkpoint: a lost attempt's.
                let epochs = match (h.take(), header.kind.as_str()) {
                    (Some(prev), "resume") => prev
                        .epochs
                        .into_iter()
                        .filter(|e| e.step <= header.step)
                        .collect(),
                    _ => Vec::new(),
                };
                *h = Some(History {
                    run: header.run,
                    config: header.config,
                    epochs,
                    end: None,
                });
            }
            (_, None) => {
                return Err(format!(
                    "line {n} is not a run header (a run log starts with a config record)"
                ));
            }
            (_, Some(h)) => {
                let event: TrainEvent = serde_json::from_value(value)
                    .map_err(|e| format!("line {n} is not a training record ({e})"))?;
                match event {
                    TrainEvent::Epoch {
                        epoch,
                        step,
                        test_accuracy,
                        seconds,
                        ..
                    } => h.epochs.push(EpochResult {
                        epoch,
                        step,
                        test_accuracy,
                        seconds,
                    }),
                    TrainEvent::End { state, .. } => h.end = Some(state),
                    TrainEvent::Step { .. } => {}
                }
            }
        }
    }
    Ok(history)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(kind: &str, step: u64) -> String {
        let cfg = serde_json::to_string(&TrainConfig::default()).unwrap();
        format!(r#"{{"type":"{kind}","run":"r","seed":0,"step":{step},"config":{cfg}}}"#)
    }

    fn epoch(epoch: usize, step: u64, acc: f64) -> String {
        format!(
            r#"{{"type":"epoch","epoch":{epoch},"step":{step},"train_loss":1.0,"test_accuracy":{acc},"lr":0.001,"seconds":2.0,"state":"running"}}"#
        )
    }

    #[test]
    fn the_latest_attempt_counts_and_a_torn_line_is_ignored() {
        let text = [
            header("config", 0),
            epoch(1, 10, 0.2),
            epoch(2, 20, 0.3),
            // Resumed from epoch 1's checkpoint: the first epoch 2 is superseded.
            header("resume", 10),
            epoch(2, 20, 0.35),
            r#"{"type":"end","step":20,"epoch":2,"state":"cancelled"}"#.to_string(),
            r#"{"type":"ep"#.to_string(),
        ]
        .join("\n");
        let h = parse(&text).unwrap().unwrap();
        let accs: Vec<f64> = h.epochs.iter().map(|e| e.test_accuracy).collect();
        assert_eq!(accs, [0.2, 0.35]);
        assert_eq!((h.epochs_done(), h.end), (2, Some(RunState::Cancelled)));
        let whole = &text[..=text.rfind('\n').unwrap()];
        let restarted = format!("{whole}{}\n", header("config", 0));
        let h = parse(&restarted).unwrap().unwrap();
        assert_eq!((h.epochs_done(), h.end), (0, None));
        assert_eq!(parse("").unwrap(), None);
    }

    #[test]
    fn foreign_lines_are_named() {
        let e = parse("{\"type\":\"step\"}\n").unwrap_err();
        assert!(e.starts_with("line 1 is not a run header"), "{e}");
        let e = parse(&format!("{}\nnot json\n", header("config", 0))).unwrap_err();
        assert!(e.starts_with("line 2 is not JSON"), "{e}");
        let e = parse(&format!(
            "{}\n{{\"type\":\"epoch\"}}\n",
            header("config", 0)
        ))
        .unwrap_err();
        assert!(e.starts_with("line 2 is not a training record"), "{e}");
    }
}
