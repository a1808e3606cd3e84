//! The training tab without a terminal: `update` driven through its keys, snapshots of
//! `render` on states fed with canned training updates (no threads, no clock), and the
//! training worker on its own thread on the real shared data.

mod common;

use std::path::{Path, PathBuf};

use crossterm::event::KeyCode;

use shatterlab::config::{Activation, Arch, ColorMode, DeviceKind, Init, LabConfig, MarkerKind};
use shatterlab::nets::conv::ConvInit;
use shatterlab::train::config::TrainConfig;
use shatterlab::train::datadir::DataStatus;
use shatterlab::train::download::{Progress, Source};
use shatterlab::train::runlog::{Header, RunLog, run_name};
use shatterlab::train::trainer::{RunState, TrainEvent};
use shatterlab::ui::app::{Action, State, update};
use shatterlab::ui::command::Tab;
use shatterlab::ui::effect::Effect;
use shatterlab::ui::theme::Theme;
use shatterlab::ui::train::{Phase, cpu_defaults, draft};
use shatterlab::worker::train::{self, TrainJob, TrainPaths, TrainUpdate};

use common::ui::{SIZES, draw, press_key, press_keys, theme, tiny};

/// The data status of a machine without CIFAR-10.
fn no_data() -> TrainUpdate {
    TrainUpdate::Data(DataStatus::Missing {
        root: Some(PathBuf::from("/home/u/.local/share/shatterlab")),
        reason: "no CIFAR-10 in /home/u/.local/share/shatterlab/cifar-10-batches-bin".into(),
    })
}

fn data_found() -> TrainUpdate {
    TrainUpdate::Data(DataStatus::Found {
        dir: PathBuf::from("/data/cifar-10-batches-bin"),
    })
}

/// The lab on the training tab, the data found, no sweep results (the tab does not need them).
fn on_tab() -> State {
    let (mut state, _) = State::new(tiny(), theme());
    send(&mut state, data_found());
    press_key(&mut state, KeyCode::Char('t'));
    assert_eq!(state.tab, Tab::Train);
    state
}

fn press(state: &mut State, keys: &str) -> Vec<Effect> {
    press_keys(state, keys)
}

fn send(state: &mut State, u: TrainUpdate) {
    assert!(update(state, Action::Train(u)).is_empty());
}

fn started(run: u64, steps_per_epoch: usize) -> TrainUpdate {
    TrainUpdate::Started {
        run,
        log: PathBuf::from(format!("runs/run-{run}.jsonl")),
        steps_per_epoch,
    }
}

/// A loss that falls with the step, with a deterministic wiggle for the raw curve.
fn loss_at(step: u64, rate: f64) -> f64 {
    let s = step as f64;
    2.3 * (-s * rate).exp() + 0.2 + 0.15 * (s * 1.7).sin().abs()
}

/// The records of `steps` steps of run `run` (and the epoch records due).
fn records(run: u64, steps: u64, per_epoch: u64, rate: f64) -> Vec<TrainEvent> {
    let mut events = Vec::new();
    for step in 1..=steps {
        let epoch = ((step - 1) / per_epoch) as usize;
        events.push(TrainEvent::Step {
            step,
            epoch,
            loss: Some(loss_at(step, rate)),
            lr: 1e-3,
            images_per_sec: 250.0 + run as f64 * 10.0,
            state: RunState::Running,
        });
        if step % per_epoch == 0 {
            events.push(TrainEvent::Epoch {
                epoch: (step / per_epoch) as usize,
                step,
                train_loss: loss_at(step, rate),
                test_accuracy: 0.1 + 0.5 * (1.0 - (-(step as f64) * rate).exp()),
                lr: 1e-3,
                seconds: 10.0,
                state: RunState::Running,
            });
        }
    }
    events
}

/// Feeds `steps` step records (and the epoch records due) to run `run`.
fn train(state: &mut State, run: u64, steps: u64, per_epoch: u64, rate: f64) {
    for event in records(run, steps, per_epoch, rate) {
        send(state, TrainUpdate::Event { run, event });
    }
}

// ---- update ------------------------------------------------------------------------

#[test]
fn the_lab_toggles_map_onto_the_queued_run() {
    let mut state = on_tab();
    // The toggles still act on the training tab (and restart the lab's sweep).
    let jobs = press(&mut state, "sl");
    assert!(jobs.iter().all(|j| matches!(j, Effect::Sweep(_))) && jobs.len() == 2);
    assert_eq!(
        (state.lab.cfg.arch, state.lab.cfg.init, state.lab.cfg.act),
        (Arch::Res, Init::Ll, Activation::Crelu)
    );
    let jobs = press(&mut state, "n");
    let expected = TrainConfig {
        net: shatterlab::nets::conv::ConvNetConfig {
            depth: 4,
            act: Activation::Crelu,
            init: ConvInit::Ll,
            bn: true,
            skip: true,
        },
        ..cpu_defaults()
    };
    assert_eq!(
        jobs,
        vec![Effect::Train(TrainJob::Start {
            run: 1,
            cfg: expected,
            device: DeviceKind::Cpu,
        })]
    );
    assert_eq!(state.train.runs[0].phase, Phase::Starting);
    // Depths beyond the conv nets' range are clamped; other inits train with He.
    let deep = LabConfig {
        depth: 1000,
        init: Init::Orthogonal,
        bn: false,
        seed: 7,
        ..tiny()
    };
    let cfg = draft(&cpu_defaults(), &deep);
    assert_eq!(
        (
            cfg.net.depth,
            cfg.net.init,
            cfg.net.act,
            cfg.net.bn,
            cfg.seed
        ),
        (198, ConvInit::He, Activation::Relu, false, 7)
    );
    // ... and the status bar says so when such a run is queued.
    let mut state = on_tab();
    state.lab.cfg = deep;
    assert_eq!(press(&mut state, "n").len(), 1);
    let note = state.notice.clone().expect("a note on the clamped run");
    assert!(note.contains("depth 1000 is queued as 198"), "{note}");
    assert!(note.contains("init orthogonal trains as he"), "{note}");
    // A run the lab describes exactly is queued without one.
    state.lab.cfg = tiny();
    press(&mut state, "n");
    assert_eq!(state.notice, None);
}

#[test]
fn training_keys_act_only_on_the_training_tab() {
    let (mut state, _) = State::new(tiny(), theme());
    assert!(press(&mut state, "npxc").is_empty());
    assert!(state.train.runs.is_empty());
    press(&mut state, "t");
    // Lab-only keys do nothing here.
    assert!(press(&mut state, "a1 ").is_empty());
    assert_eq!(state.tab, Tab::Train);
    press(&mut state, "t");
    assert_eq!(state.tab, Tab::Lab);
}

#[test]
fn pause_stop_and_select_act_on_the_selected_run() {
    let mut state = on_tab();
    press(&mut state, "nnn");
    assert_eq!(state.train.selected, 2, "a queued run is selected");
    for run in 1..=3 {
        send(&mut state, started(run, 10));
    }
    assert_eq!(
        press(&mut state, "p"),
        vec![Effect::Train(TrainJob::Pause {
            run: 3,
            paused: true
        })]
    );
    assert!(state.train.runs[2].paused);
    press_key(&mut state, KeyCode::Up);
    press(&mut state, "k");
    press(&mut state, "k");
    assert_eq!(state.train.selected, 0, "the selection stays in the table");
    assert_eq!(
        press(&mut state, "x"),
        vec![Effect::Train(TrainJob::Stop { run: 1 })]
    );
    let end = TrainEvent::End {
        step: 4,
        epoch: 0,
        state: RunState::Cancelled,
    };
    send(&mut state, TrainUpdate::Event { run: 1, event: end });
    assert_eq!(state.train.runs[0].phase, Phase::Ended(RunState::Cancelled));
    assert!(
        press(&mut state, "xp").is_empty(),
        "an ended run has no jobs"
    );
    press(&mut state, "c");
    assert!(!state.train.runs[0].shown);
    press_key(&mut state, KeyCode::Down);
    press(&mut state, "jj");
    assert_eq!(state.train.selected, 2);
    assert_eq!(
        press(&mut state, "p"),
        vec![Effect::Train(TrainJob::Pause {
            run: 3,
            paused: false
        })]
    );
}

#[test]
fn stale_training_updates_are_dropped() {
    let mut state = on_tab();
    press(&mut state, "n");
    send(&mut state, started(1, 10));
    let before = state.train.clone();
    train(&mut state, 9, 3, 10, 0.1);
    send(&mut state, started(9, 10));
    assert_eq!(
        state.train, before,
        "updates of an unknown run changed the tab"
    );
    train(&mut state, 1, 2, 10, 0.1);
    let end = TrainEvent::End {
        step: 2,
        epoch: 0,
        state: RunState::Cancelled,
    };
    send(&mut state, TrainUpdate::Event { run: 1, event: end });
    let ended = state.train.clone();
    train(&mut state, 1, 5, 10, 0.1);
    assert_eq!(state.train, ended, "a step after the end reached the tab");
    assert_eq!(state.train.runs[0].losses.len(), 2);
}

#[test]
fn without_data_queueing_is_refused_with_the_reason() {
    let (mut state, _) = State::new(tiny(), theme());
    send(&mut state, no_data());
    press(&mut state, "t");
    assert!(press(&mut state, "n").is_empty());
    assert!(
        state
            .notice
            .as_deref()
            .is_some_and(|n| n.contains("no CIFAR-10")),
        "{:?}",
        state.notice
    );
}

fn missing() -> TrainUpdate {
    TrainUpdate::Data(DataStatus::Missing {
        root: Some(PathBuf::from("/home/u/.local/share/shatterlab")),
        reason: "no CIFAR-10 in /home/u/.local/share/shatterlab/cifar-10-batches-bin".into(),
    })
}

#[test]
fn d_downloads_the_missing_data_once() {
    let (mut state, _) = State::new(tiny(), theme());
    press(&mut state, "t");
    assert!(press(&mut state, "d").is_empty(), "nothing known yet");
    send(&mut state, data_found());
    assert!(press(&mut state, "d").is_empty());
    assert_eq!(state.notice.as_deref(), Some("CIFAR-10 is already here"));
    send(&mut state, missing());
    assert_eq!(
        press(&mut state, "d"),
        vec![Effect::Train(TrainJob::Download)]
    );
    assert!(press(&mut state, "d").is_empty(), "one download at a time");
    let halfway = Progress::Bytes {
        done: 85_000_000,
        total: 170_052_171,
    };
    send(&mut state, TrainUpdate::Fetch(halfway.clone()));
    assert_eq!(state.train.fetch, Some(halfway));
    for (w, h) in SIZES {
        let backend = draw(&state, w, h);
        assert!(backend.to_string().contains("downloading 85.0 / 170.1 MB"));
        insta::assert_snapshot!(format!("train_downloading_{w}x{h}"), backend);
    }
    send(&mut state, data_found());
    assert_eq!(state.train.fetch, None);
    assert_eq!(press(&mut state, "n").len(), 1, "runs can be queued now");
}

#[test]
fn failures_and_divergence_end_a_run() {
    let mut state = on_tab();
    press(&mut state, "nn");
    send(
        &mut state,
        TrainUpdate::Failed {
            run: 1,
            error: "boom".into(),
        },
    );
    assert_eq!(state.train.runs[0].phase, Phase::Failed("boom".into()));
    send(&mut state, started(2, 10));
    let diverged = TrainEvent::Step {
        step: 3,
        epoch: 0,
        loss: None,
        lr: 10.0,
        images_per_sec: 0.0,
        state: RunState::Diverged,
    };
    send(
        &mut state,
        TrainUpdate::Event {
            run: 2,
            event: diverged,
        },
    );
    let run = &state.train.runs[1];
    assert_eq!(run.phase, Phase::Ended(RunState::Diverged));
    assert!(run.losses.is_empty(), "a lost loss is not plotted");
}

// ---- snapshots ---------------------------------------------------------------------

#[test]
fn snapshot_empty_tab() {
    let state = on_tab();
    for (w, h) in SIZES {
        insta::assert_snapshot!(format!("train_empty_{w}x{h}"), draw(&state, w, h));
    }
}

/// Three runs: a resnet done, a plain net still training, an LL net paused mid-epoch; one
/// more queued and starting.
fn several_runs() -> State {
    let mut state = on_tab();
    press(&mut state, "sn");
    press(&mut state, "sn");
    press(&mut state, "ln");
    for run in 1..=3 {
        send(&mut state, started(run, 20));
    }
    train(&mut state, 1, 100, 20, 0.05);
    let done = TrainEvent::End {
        step: 100,
        epoch: 5,
        state: RunState::Finished,
    };
    send(
        &mut state,
        TrainUpdate::Event {
            run: 1,
            event: done,
        },
    );
    train(&mut state, 2, 60, 20, 0.02);
    train(&mut state, 3, 50, 20, 0.04);
    press(&mut state, "p");
    press(&mut state, "n");
    state
}

#[test]
fn snapshot_several_runs_with_curves() {
    let state = several_runs();
    for (w, h) in SIZES {
        insta::assert_snapshot!(format!("train_runs_{w}x{h}"), draw(&state, w, h));
    }
}

/// Ten runs of ten settings, more than the eight run colours: each trained two epochs.
fn ten_runs(theme: shatterlab::ui::theme::Theme) -> State {
    let (mut state, _) = State::new(tiny(), theme);
    send(&mut state, data_found());
    press(&mut state, "t");
    for keys in ["n", "sn", "bn", "ln", "sn", "bn", "l+n", "sn", "+n", "bn"] {
        press(&mut state, keys);
    }
    assert_eq!(state.train.runs.len(), 10);
    for run in 1..=10 {
        send(&mut state, started(run, 20));
        train(&mut state, run, 40, 20, 0.01 * run as f64);
    }
    state
}

#[test]
fn snapshot_more_runs_than_colours() {
    let state = ten_runs(theme());
    let screen = draw(&state, 120, 40).to_string();
    // Named by their settings in the table and the legends, not numbered.
    for name in [
        "ff+BN d4 s0",
        "res crelu/LL d4 s0",
        "res+BN d6 s0",
        "res d6 s0",
    ] {
        assert!(screen.contains(name), "{name} missing:\n{screen}");
    }
    // The ninth and tenth runs reuse colours, so they are drawn with another glyph.
    assert!(
        screen.contains("●•9") && screen.contains("●•10"),
        "{screen}"
    );
    for (w, h) in SIZES {
        insta::assert_snapshot!(format!("train_ten_runs_{w}x{h}"), draw(&state, w, h));
    }
}

#[test]
fn snapshot_runs_without_colour() {
    let never = Theme::new(ColorMode::Never, MarkerKind::Braille, None, None);
    let mut state = ten_runs(never);
    // Four runs in the charts: four glyphs.
    for _ in 0..6 {
        press(&mut state, "c");
        press_key(&mut state, KeyCode::Up);
    }
    let screen = draw(&state, 120, 40).to_string();
    for glyph in ['⣀', '•', '▚', '▄'] {
        assert!(
            screen.lines().any(|l| l.contains(&format!("{glyph} "))),
            "no legend entry drawn with {glyph}:\n{screen}"
        );
    }
    for (w, h) in SIZES {
        insta::assert_snapshot!(format!("train_runs_no_colour_{w}x{h}"), draw(&state, w, h));
    }
}

/// Writes a run's log as `train` would: its header, `steps` steps and the end if any.
fn write_log(dir: &Path, started: u64, cfg: &TrainConfig, rate: f64, end: Option<RunState>) {
    let (mut log, name) = RunLog::create(dir, &run_name(cfg, started)).unwrap();
    let header = Header {
        kind: "config",
        run: &name,
        seed: cfg.seed,
        step: 0,
        config: cfg,
    };
    log.append(&header).unwrap();
    for event in records(1, 60, 20, rate) {
        log.append(&event).unwrap();
    }
    if let Some(state) = end {
        let end = TrainEvent::End {
            step: 60,
            epoch: 3,
            state,
        };
        log.append(&end).unwrap();
    }
}

/// A runs directory of three good logs (one without an end record), a corrupt one and one
/// without settings.
fn runs_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let res = TrainConfig {
        net: shatterlab::nets::conv::ConvNetConfig {
            depth: 20,
            skip: true,
            ..cpu_defaults().net
        },
        ..TrainConfig::default()
    };
    let ff = TrainConfig {
        seed: 1,
        net: shatterlab::nets::conv::ConvNetConfig {
            skip: false,
            ..res.net
        },
        ..res.clone()
    };
    write_log(
        dir.path(),
        1_700_000_000,
        &res,
        0.05,
        Some(RunState::Finished),
    );
    write_log(
        dir.path(),
        1_700_000_100,
        &ff,
        0.02,
        Some(RunState::Cancelled),
    );
    write_log(dir.path(), 1_700_000_200, &ff, 0.03, None);
    std::fs::write(
        dir.path().join("1700000300-bad.jsonl"),
        "\u{0}\u{1} garbage\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("1700000400-odd.jsonl"),
        r#"{"type":"config","config":{"net":"?"}}"#,
    )
    .unwrap();
    dir
}

#[test]
fn past_runs_are_loaded_from_the_runs_dir() {
    let dir = runs_dir();
    let (runs, notes) = train::past_runs(dir.path());
    assert_eq!(runs.len(), 3);
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(notes[0].contains("1700000300-bad.jsonl") && notes[0].contains("no config"));
    assert!(notes[1].contains("1700000400-odd.jsonl") && notes[1].contains("settings"));
    // The worker sends them right after the data status, before any job.
    let (_jobs, job_rx) = tokio::sync::mpsc::channel(1);
    let (update_tx, mut updates) = tokio::sync::mpsc::channel(4);
    let paths = TrainPaths {
        data_root: Err("no data here".into()),
        runs_dir: dir.path().to_path_buf(),
        source: Source::official(None),
    };
    train::spawn(paths, job_rx, update_tx).unwrap();
    assert!(matches!(
        updates.blocking_recv(),
        Some(TrainUpdate::Data(_))
    ));
    let past = updates.blocking_recv().unwrap();
    assert_eq!(
        past,
        TrainUpdate::Past {
            runs: runs.clone(),
            notes: notes.clone()
        }
    );
    // The tab puts them ahead of a run queued meanwhile, which stays selected.
    let mut state = on_tab();
    press(&mut state, "n");
    send(&mut state, past);
    let notice = state.notice.take().unwrap();
    assert!(notice.contains("1700000300-bad.jsonl"), "{notice}");
    let tab = &state.train;
    assert_eq!(tab.runs.len(), 4);
    assert_eq!((tab.selected, tab.runs[3].id), (3, 1));
    assert!(tab.runs[..3].iter().all(|r| r.past && !r.is_live()));
    assert_eq!(tab.runs[0].phase, Phase::Ended(RunState::Finished));
    assert_eq!(tab.runs[2].phase, Phase::Unended);
    assert_eq!(tab.runs[0].steps_per_epoch, Some(20));
    assert_eq!(tab.runs[0].losses.len(), 60);
    assert_eq!(tab.runs[0].accuracy.len(), 3);
    assert!(
        press(&mut state, "kkpx").is_empty(),
        "a past run takes no jobs"
    );
    for (w, h) in SIZES {
        let backend = draw(&state, w, h);
        assert!(backend.to_string().contains("past"));
        insta::assert_snapshot!(format!("train_past_runs_{w}x{h}"), backend);
    }
}

#[test]
fn only_the_newest_past_runs_are_loaded() {
    let dir = tempfile::tempdir().unwrap();
    for seed in 0..26 {
        let cfg = TrainConfig {
            seed,
            ..TrainConfig::default()
        };
        write_log(dir.path(), 1_700_000_000 + seed, &cfg, 0.05, None);
    }
    let (runs, notes) = train::past_runs(dir.path());
    let seeds: Vec<u64> = runs.iter().map(|r| r.cfg.seed).collect();
    assert_eq!(
        seeds,
        (2..26).collect::<Vec<u64>>(),
        "the newest, oldest first"
    );
    assert_eq!(notes.len(), 1);
    assert!(notes[0].contains("newest 24 of the 26 runs"), "{notes:?}");
    // Only the newest eight start in the charts.
    let mut state = on_tab();
    send(&mut state, TrainUpdate::Past { runs, notes });
    let shown: Vec<bool> = state.train.runs.iter().map(|r| r.shown).collect();
    assert_eq!(shown.iter().filter(|s| **s).count(), 8);
    assert!(shown[16..].iter().all(|s| *s));
}

#[test]
fn the_tab_says_where_its_defaults_differ_from_train() {
    let state = on_tab();
    for (w, h) in SIZES {
        let screen = draw(&state, w, h).to_string();
        let text: String = screen
            .lines()
            .flat_map(|l| l.trim_matches('"').split_whitespace())
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            text.contains("tab defaults: 10000/2000 train/test images, batch 64, 5 epochs"),
            "{screen}"
        );
        assert!(
            text.contains("(`shatterlab train`: 5000/all images, 10 epochs)"),
            "{screen}"
        );
    }
}

#[test]
fn snapshot_a_diverged_run() {
    let mut state = on_tab();
    press(&mut state, "nbn");
    send(&mut state, started(1, 20));
    send(&mut state, started(2, 20));
    train(&mut state, 1, 30, 20, 0.05);
    train(&mut state, 2, 7, 20, 0.0);
    let diverged = TrainEvent::Step {
        step: 8,
        epoch: 0,
        loss: None,
        lr: 1e-3,
        images_per_sec: 0.0,
        state: RunState::Diverged,
    };
    send(
        &mut state,
        TrainUpdate::Event {
            run: 2,
            event: diverged,
        },
    );
    for (w, h) in SIZES {
        let backend = draw(&state, w, h);
        assert!(backend.to_string().contains("DIVERGED"));
        insta::assert_snapshot!(format!("train_diverged_{w}x{h}"), backend);
    }
}

#[test]
fn snapshot_no_data() {
    let (mut state, _) = State::new(tiny(), theme());
    send(&mut state, no_data());
    press(&mut state, "t");
    for (w, h) in SIZES {
        let backend = draw(&state, w, h);
        assert!(backend.to_string().contains("shatterlab data download"));
        insta::assert_snapshot!(format!("train_no_data_{w}x{h}"), backend);
    }
}

#[test]
fn snapshot_help_on_the_training_tab() {
    let mut state = on_tab();
    press(&mut state, "?");
    insta::assert_snapshot!("train_help_80x24", draw(&state, 80, 24));
}

// ---- worker ------------------------------------------------------------------------

/// The real training worker: a small run trains to its end and logs JSONL under the runs
/// directory; a second is stopped; a missing data directory is reported up front.
#[test]
fn the_training_worker_runs_logs_and_stops() {
    let runs = tempfile::tempdir().unwrap();
    let (job_tx, job_rx) = tokio::sync::mpsc::channel(8);
    let (update_tx, mut updates) = tokio::sync::mpsc::channel(64);
    let paths = TrainPaths {
        data_root: Ok(common::cifar_dir()),
        runs_dir: runs.path().to_path_buf(),
        source: Source::official(None),
    };
    train::spawn(paths, job_rx, update_tx).unwrap();
    let mut next = || updates.blocking_recv().expect("worker alive");
    assert!(matches!(
        next(),
        TrainUpdate::Data(DataStatus::Found { .. })
    ));
    let small = TrainConfig {
        batch: 8,
        epochs: 1,
        train_subset: Some(32),
        test_subset: Some(16),
        net: shatterlab::nets::conv::ConvNetConfig {
            depth: 3,
            ..cpu_defaults().net
        },
        ..cpu_defaults()
    };
    let start = |run, cfg: &TrainConfig| TrainJob::Start {
        run,
        cfg: cfg.clone(),
        device: DeviceKind::Cpu,
    };
    job_tx.blocking_send(start(1, &small)).unwrap();
    let log = match next() {
        TrainUpdate::Started {
            run: 1,
            log,
            steps_per_epoch: 4,
        } => log,
        other => panic!("unexpected {other:?}"),
    };
    let mut steps = 0;
    loop {
        match next() {
            TrainUpdate::Event {
                run: 1,
                event: TrainEvent::Step { .. },
            } => steps += 1,
            TrainUpdate::Event {
                run: 1,
                event: TrainEvent::Epoch { epoch: 1, .. },
            } => {}
            TrainUpdate::Event {
                run: 1,
                event: TrainEvent::End { state, .. },
            } => {
                assert_eq!(state, RunState::Finished);
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(steps, 4);
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1 + 4 + 1 + 1, "{text}");
    assert!(lines[0].contains(r#""type":"config""#));
    assert!(lines[6].contains(r#""type":"end""#) && lines[6].contains("finished"));

    let long = TrainConfig {
        epochs: 1000,
        ..small
    };
    job_tx.blocking_send(start(2, &long)).unwrap();
    assert!(matches!(next(), TrainUpdate::Started { run: 2, .. }));
    job_tx.blocking_send(TrainJob::Stop { run: 2 }).unwrap();
    loop {
        match next() {
            TrainUpdate::Event {
                run: 2,
                event: TrainEvent::End { state, .. },
            } => {
                assert_eq!(state, RunState::Cancelled);
                break;
            }
            TrainUpdate::Event { run: 2, .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }

    let (_job_tx, job_rx) = tokio::sync::mpsc::channel(1);
    let (update_tx, mut updates) = tokio::sync::mpsc::channel(1);
    let empty = tempfile::tempdir().unwrap();
    let paths = TrainPaths {
        data_root: Ok(empty.path().to_path_buf()),
        runs_dir: runs.path().to_path_buf(),
        source: Source::official(None),
    };
    train::spawn(paths, job_rx, update_tx).unwrap();
    assert!(matches!(
        updates.blocking_recv(),
        Some(TrainUpdate::Data(DataStatus::Missing { root: Some(_), .. }))
    ));
}

#[test]
fn a_run_over_the_memory_limit_is_refused_in_the_status_bar() {
    let mut state = on_tab();
    let need = shatterlab::budget::train(&draft(&cpu_defaults(), &state.lab.cfg)).bytes;
    state.lab.memory_limit = Some((need - 1, "--max-memory"));
    assert!(press(&mut state, "n").is_empty());
    assert!(state.train.runs.is_empty());
    let notice = state.notice.clone().unwrap_or_default();
    for needle in ["refused", "--max-memory", "lower"] {
        assert!(notice.contains(needle), "{notice:?} lacks {needle:?}");
    }
    state.lab.memory_limit = Some((need, "--max-memory"));
    assert_eq!(press(&mut state, "n").len(), 1);
}
