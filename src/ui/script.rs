//! `--script FILE`: the lab driven by a text file, one step per line, for reproducible demos
//! and screenshots. The whole file is parsed before the terminal is touched; a bad line is
//! an error naming the file, the line and what is accepted there.
//!
//! ```text
//! # a comment; blank lines are skipped
//! resize 120 40      # draw at 120x40 (leading resizes set the starting size)
//! key b              # one key, written as the help shows it (Space, Tab, Esc, ←...)
//! keys 1 a ]         # several keys in turn
//! wait sweep         # until the current sweep has finished (or reached its pause bound)
//! wait step 20       # until the selected training run has logged step 20 (or ended)
//! wait 500ms         # pacing only (also 2s): screens never depend on it
//! snapshot fig1      # save the screen as fig1.txt, fig1.ansi and fig1.svg
//! caption "Fig. 1: gradients and noises"   # narration on screen until the next caption
//! caption            # takes it away (as does `caption ""`)
//! quit
//! ```
//!
//! Waits on sweeps and training steps follow the workers' results, not the clock, so a
//! script shows the same screens on a fast machine and a slow one.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use tokio::time::Instant;

use crate::ui::app::State;
use crate::ui::command::Command;
use crate::ui::keys::{BINDINGS, Key, label};
use crate::ui::lab::{LabTab, SweepResults};

/// Largest screen a script may ask for.
const MAX_SIZE: u16 = 1000;

/// One step of a script.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    Key(Command),
    Wait(Wait),
    Resize(u16, u16),
    Snapshot(String),
    /// Narration drawn above the status bar (and so recorded); None takes it away.
    Caption(Option<String>),
    Quit,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Wait {
    Sweep,
    TrainStep(u64),
    For(Duration),
}

/// A parsed script: its steps with their line numbers.
#[derive(Clone, Debug, PartialEq)]
pub struct Script {
    pub path: PathBuf,
    /// The size set by the resizes before any other step: the screen's starting size.
    pub size: Option<(u16, u16)>,
    pub steps: Vec<(usize, Step)>,
}

const ACCEPTED: &str = "expected `key K`, `keys K...`, `wait sweep`, `wait step N`, \
                        `wait DURATION` (e.g. 500ms, 2s), `resize W H`, `snapshot NAME`, \
                        `caption \"TEXT\"` or `quit`";

/// What a caption line may be.
const CAPTION: &str = "expected `caption \"TEXT\"` (in double quotes; \\\" and \\\\ inside), or \
                       `caption` alone to take the caption away";

/// Longest caption: three lines of an 80-column screen.
const MAX_CAPTION: usize = 230;

impl Script {
    /// Reads and parses `path`.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let bytes = crate::fsio::read_regular(path, "script")?;
        let text = String::from_utf8(bytes)
            .map_err(|_| anyhow::anyhow!("invalid script {}: not UTF-8 text", path.display()))?;
        Self::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> anyhow::Result<Self> {
        let mut steps = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let at = || format!("invalid script line {}:{}", path.display(), i + 1);
            // A caption's text may hold a '#'.
            if let Some(rest) = caption_args(raw) {
                steps.push((i + 1, caption(rest).with_context(at)?));
                continue;
            }
            let line = raw.split('#').next().unwrap_or("").trim();
            // `key #` is the one place a '#' is not a comment.
            let line = if raw.trim() == "key #" {
                raw.trim()
            } else {
                line
            };
            if line.is_empty() {
                continue;
            }
            let parsed = parse_line(line).with_context(at)?;
            steps.extend(parsed.into_iter().map(|s| (i + 1, s)));
        }
        let mut names: Vec<(&str, usize)> = Vec::new();
        for (line, step) in &steps {
            if let Step::Snapshot(name) = step {
                if let Some((_, first)) = names.iter().find(|(n, _)| n == name) {
                    anyhow::bail!(
                        "invalid script line {}:{line}: snapshot {name} is already taken on line {first}",
                        path.display()
                    );
                }
                names.push((name, *line));
            }
        }
        let leading = steps
            .iter()
            .take_while(|(_, s)| matches!(s, Step::Resize(..)))
            .count();
        let size = steps[..leading].last().and_then(|(_, s)| match s {
            Step::Resize(w, h) => Some((*w, *h)),
            _ => None,
        });
        steps.drain(..leading);
        Ok(Self {
            path: path.to_path_buf(),
            size,
            steps,
        })
    }

    /// The names of the script's snapshots.
    pub fn snapshots(&self) -> impl Iterator<Item = &str> {
        self.steps.iter().filter_map(|(_, s)| match s {
            Step::Snapshot(name) => Some(name.as_str()),
            _ => None,
        })
    }
}

fn parse_line(line: &str) -> anyhow::Result<Vec<Step>> {
    let mut words = line.split_whitespace();
    let verb = words.next().unwrap_or("");
    let args: Vec<&str> = words.collect();
    let one = |step| Ok(vec![step]);
    match (verb, args.as_slice()) {
        ("key", [k]) => one(Step::Key(command(k)?)),
        ("keys", ks) if !ks.is_empty() => ks.iter().map(|k| command(k).map(Step::Key)).collect(),
        ("wait", ["sweep"]) => one(Step::Wait(Wait::Sweep)),
        ("wait", ["step", n]) => match n.parse::<u64>() {
            Ok(n) if n > 0 => one(Step::Wait(Wait::TrainStep(n))),
            _ => anyhow::bail!("`wait step {n}`: expected a step number >= 1"),
        },
        ("wait", [d]) => one(Step::Wait(Wait::For(duration(d)?))),
        ("resize", [w, h]) => {
            let size = |s: &str| s.parse::<u16>().ok().filter(|v| (1..=MAX_SIZE).contains(v));
            match (size(w), size(h)) {
                (Some(w), Some(h)) => one(Step::Resize(w, h)),
                _ => anyhow::bail!(
                    "`resize {w} {h}`: expected a width and height in 1..={MAX_SIZE} cells"
                ),
            }
        }
        ("snapshot", [name]) => {
            let plain = name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                && !name.starts_with('.');
            anyhow::ensure!(
                plain,
                "`snapshot {name}`: expected a file-name stem (letters, digits, - _ .; no leading dot)"
            );
            one(Step::Snapshot(name.to_string()))
        }
        ("quit", []) => one(Step::Quit),
        _ => anyhow::bail!("`{line}`: {ACCEPTED}"),
    }
}

/// What follows the verb of a `caption` line; None for any other line.
fn caption_args(raw: &str) -> Option<&str> {
    let rest = raw.trim().strip_prefix("caption")?;
    let word_ends =
        rest.is_empty() || rest.starts_with(char::is_whitespace) || rest.starts_with('#');
    word_ends.then(|| rest.trim())
}

/// `caption "TEXT"` (a '#' in the quotes is text, `\"` a quote, `\\` a backslash), then at
/// most a comment; without text the caption is taken away.
fn caption(rest: &str) -> anyhow::Result<Step> {
    if rest.is_empty() || rest.starts_with('#') {
        return Ok(Step::Caption(None));
    }
    let Some(quoted) = rest.strip_prefix('"') else {
        anyhow::bail!("`caption {rest}`: {CAPTION}");
    };
    let mut text = String::new();
    let mut chars = quoted.char_indices();
    let mut end = None;
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => {
                end = Some(i + 1);
                break;
            }
            '\\' => match chars.next() {
                Some((_, escaped @ ('"' | '\\'))) => text.push(escaped),
                _ => anyhow::bail!(
                    "`caption {rest}`: a backslash must come before \" or \\; {CAPTION}"
                ),
            },
            c if c.is_control() => {
                anyhow::bail!("`caption {rest}`: a control character in the text; {CAPTION}")
            }
            c => text.push(c),
        }
    }
    let Some(end) = end else {
        anyhow::bail!("`caption {rest}`: the closing quote is missing; {CAPTION}");
    };
    let after = quoted[end..].trim();
    anyhow::ensure!(
        after.is_empty() || after.starts_with('#'),
        "`caption {rest}`: `{after}` after the closing quote; {CAPTION}"
    );
    let length = text.chars().count();
    anyhow::ensure!(
        length <= MAX_CAPTION,
        "`caption`: {length} characters, over the {MAX_CAPTION} a caption may have"
    );
    Ok(Step::Caption((!text.is_empty()).then_some(text)))
}

/// `500ms`, `2s`, `1.5s`.
fn duration(text: &str) -> anyhow::Result<Duration> {
    let parsed = if let Some(ms) = text.strip_suffix("ms") {
        ms.parse::<u64>().ok().map(Duration::from_millis)
    } else if let Some(s) = text.strip_suffix('s') {
        s.parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && (0.0..=3600.0).contains(s))
            .map(Duration::from_secs_f64)
    } else {
        None
    };
    parsed.ok_or_else(|| anyhow::anyhow!("`wait {text}`: {ACCEPTED}"))
}

/// Key names as the help writes them, plus plain names for the arrows.
fn key_named(name: &str) -> Option<Key> {
    use crossterm::event::KeyCode;
    let arrow = match name {
        "Left" => Some(KeyCode::Left),
        "Right" => Some(KeyCode::Right),
        "Up" => Some(KeyCode::Up),
        "Down" => Some(KeyCode::Down),
        _ => None,
    };
    if let Some(code) = arrow {
        return Some(Key { code, ctrl: false });
    }
    BINDINGS
        .iter()
        .flat_map(|b| b.keys.iter().copied())
        .find(|k| label(*k) == name)
}

fn command(name: &str) -> anyhow::Result<Command> {
    let key = key_named(name).ok_or_else(|| {
        let known: Vec<String> = BINDINGS
            .iter()
            .flat_map(|b| b.keys.iter().map(|k| label(*k)))
            .collect();
        anyhow::anyhow!(
            "unknown key `{name}`: expected one of {} (arrows also as Left Right Up Down)",
            known.join(" ")
        )
    })?;
    BINDINGS
        .iter()
        .find(|b| b.keys.contains(&key))
        .map(|b| b.command)
        .ok_or_else(|| anyhow::anyhow!("unknown key `{name}`"))
}

/// Where a running script is.
#[derive(Debug)]
pub struct Runner {
    script: Script,
    next: usize,
    /// The end of a `wait DURATION` in progress.
    deadline: Option<Instant>,
}

impl Runner {
    pub fn new(script: Script) -> Self {
        Self {
            script,
            next: 0,
            deadline: None,
        }
    }

    /// The next step to carry out now; None while a wait holds or once the script is done.
    /// Waits are passed here as soon as `state` satisfies them.
    pub fn poll(&mut self, state: &State, now: Instant) -> anyhow::Result<Option<Step>> {
        while let Some((line, step)) = self.script.steps.get(self.next) {
            let Step::Wait(wait) = step else {
                self.next += 1;
                return Ok(Some(step.clone()));
            };
            let passed = match wait {
                Wait::Sweep => sweep_settled(&state.lab),
                Wait::TrainStep(n) => match state.train.selected_run() {
                    Some(run) => run.step >= *n || !run.is_live(),
                    None => anyhow::bail!(
                        "script {}:{line}: `wait step {n}` without a training run (queue one \
                         with `key n` on the training tab first)",
                        self.script.path.display()
                    ),
                },
                Wait::For(d) => {
                    let end = *self.deadline.get_or_insert(now + *d);
                    now >= end
                }
            };
            if !passed {
                return Ok(None);
            }
            self.deadline = None;
            self.next += 1;
        }
        Ok(None)
    }

    /// When a `wait DURATION` in progress ends.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    pub fn finished(&self) -> bool {
        self.next >= self.script.steps.len()
    }
}

/// Whether the sweeps have delivered all they will: done, or at the pause bound.
fn sweep_settled(lab: &LabTab) -> bool {
    let settled = |r: &SweepResults| {
        r.done
            || lab
                .until
                .is_some_and(|u| r.depths.len() >= u.min(r.cfg.depth))
    };
    settled(&lab.a) && lab.b.as_ref().is_none_or(settled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::lab::Toggle;

    fn parse(text: &str) -> anyhow::Result<Script> {
        Script::parse(Path::new("demo.script"), text)
    }

    #[test]
    fn every_step_parses() {
        let s = parse(
            "resize 100 30\n# story\nkey b\nkeys 1 Space Left\nwait sweep\nwait step 3\n\
             wait 250ms\nwait 1.5s\nresize 90 30\nsnapshot fig-1\n\
             caption \"Fig. 1 # of 6: \\\"noise\\\" \\\\ \" # narration\ncaption\ncaption \"\"\n\
             quit # done\n",
        )
        .unwrap();
        assert_eq!(s.size, Some((100, 30)));
        let steps: Vec<Step> = s.steps.iter().map(|(_, s)| s.clone()).collect();
        assert_eq!(
            steps,
            vec![
                Step::Key(Command::Toggle(Toggle::Bn)),
                Step::Key(Command::Preset(crate::ui::lab::Preset::Fig1)),
                Step::Key(Command::Pause),
                Step::Key(Command::Shallower),
                Step::Wait(Wait::Sweep),
                Step::Wait(Wait::TrainStep(3)),
                Step::Wait(Wait::For(Duration::from_millis(250))),
                Step::Wait(Wait::For(Duration::from_millis(1500))),
                Step::Resize(90, 30),
                Step::Snapshot("fig-1".into()),
                Step::Caption(Some(r#"Fig. 1 # of 6: "noise" \ "#.into())),
                Step::Caption(None),
                Step::Caption(None),
                Step::Quit,
            ]
        );
        assert_eq!(s.steps[0].0, 3, "line numbers count comments and blanks");
    }

    #[test]
    fn the_demo_script_parses_and_narrates() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo.script");
        let script = Script::load(&path).unwrap();
        let captions = script
            .steps
            .iter()
            .filter(|(_, s)| matches!(s, Step::Caption(Some(_))))
            .count();
        assert!(captions >= 10, "{captions} captions");
    }

    #[test]
    fn bad_lines_name_the_file_line_and_what_is_accepted() {
        for (text, line, says) in [
            (
                "key b\nkey v\n",
                2,
                "unknown key `v`: expected one of s b l",
            ),
            ("\n\nwait forever\n", 3, "`wait DURATION`"),
            ("wait step 0\n", 1, "step number >= 1"),
            ("resize 0 10\n", 1, "width and height in 1..=1000"),
            ("snapshot ../x\n", 1, "file-name stem"),
            ("jump\n", 1, "expected `key K`"),
            ("quit now\n", 1, "or `quit`"),
            ("snapshot a\nsnapshot a\n", 2, "already taken on line 1"),
            ("key b\ncaption hello\n", 2, "expected `caption \"TEXT\"`"),
            ("caption \"open\n", 1, "closing quote is missing"),
            ("caption \"a\" b\n", 1, "`b` after the closing quote"),
            ("caption \"a\\q\"\n", 1, "a backslash must come before"),
            ("caption \"a\tb\"\n", 1, "control character"),
            ("captions\n", 1, "`caption \"TEXT\"` or `quit`"),
        ] {
            let err = format!("{:#}", parse(text).unwrap_err());
            assert!(
                err.contains(&format!("demo.script:{line}")) && err.contains(says),
                "{text:?}: {err}"
            );
        }
    }
}
