//! UI hot paths: one full frame at 120x40 on the paper preset (target < 2 ms), one of the
//! training tab with four long runs' curves, and the latency from a toggle to the first result of the new settings at depth 50 while the
//! old sweep is still running (target < 100 ms on 2 cores).

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use shatterlab::config::{ColorMode, LabConfig, MarkerKind};
use shatterlab::lab::summary::DepthView;
use shatterlab::lab::sweep::sweep;
use shatterlab::train::datadir::DataStatus;
use shatterlab::train::trainer::{RunState, TrainEvent};
use shatterlab::ui::app::{Action, State, update};
use shatterlab::ui::command::Command;
use shatterlab::ui::effect::Effect;
use shatterlab::ui::lab::Toggle;
use shatterlab::ui::theme::Theme;
use shatterlab::ui::view::render;
use shatterlab::worker::sweep::{Job, Update, spawn as spawn_sweep_worker};
use shatterlab::worker::train::TrainUpdate;
use tokio::sync::mpsc;

fn theme() -> Theme {
    Theme::new(ColorMode::Truecolor, MarkerKind::Braille, None, None)
}

fn render_frame(c: &mut Criterion) {
    let cfg = LabConfig::default();
    let (mut state, jobs) = State::new(cfg.clone(), theme());
    let Some(Effect::Sweep(Job::Sweep {
        generation, side, ..
    })) = jobs.first().cloned()
    else {
        panic!("start-up sweeps side A");
    };
    sweep(&cfg, candle_core::Device::Cpu, |r| {
        let view = Box::new(DepthView::new(r, cfg.points));
        let u = Update::Depth {
            generation,
            side,
            view,
            compute: Duration::ZERO,
        };
        update(&mut state, Action::Sweep(u));
        ControlFlow::Continue(())
    })
    .expect("sweep");
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).expect("test backend");
    c.bench_function("render frame 120x40, paper preset", |b| {
        b.iter(|| {
            terminal.draw(|f| render(&state, f)).expect("draw");
        })
    });
}

fn toggle_latency(c: &mut Criterion) {
    let (job_tx, job_rx) = mpsc::channel(8);
    let (update_tx, mut updates) = mpsc::channel(64);
    spawn_sweep_worker(job_rx, update_tx).expect("worker thread");
    let (mut state, jobs) = State::new(LabConfig::default(), theme());
    let send = |effects: Vec<Effect>| {
        for effect in effects {
            if let Effect::Sweep(job) = effect {
                job_tx.blocking_send(job).expect("worker alive");
            }
        }
    };
    send(jobs);
    let mut group = c.benchmark_group("toggle");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(5));
    group.bench_function("toggle to first update, depth 50", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                send(update(&mut state, Action::Key(Command::Toggle(Toggle::Bn))));
                loop {
                    let u = updates.blocking_recv().expect("worker alive");
                    let fresh = u.generation() == state.lab.generation;
                    update(&mut state, Action::Sweep(u));
                    if fresh {
                        break;
                    }
                }
                total += start.elapsed();
            }
            total
        })
    });
    group.finish();
}

/// The training tab with four runs of 2000 logged steps each (loss EMA, decimation, table).
fn render_training_tab(c: &mut Criterion) {
    let (mut state, _) = State::new(LabConfig::default(), theme());
    let data = TrainUpdate::Data(DataStatus::Found {
        dir: "/data".into(),
    });
    update(&mut state, Action::Train(data));
    update(&mut state, Action::Key(Command::SwitchTab));
    for run in 1..=4u64 {
        update(&mut state, Action::Key(Command::QueueRun));
        let started = TrainUpdate::Started {
            run,
            log: "runs/r.jsonl".into(),
            steps_per_epoch: 62,
        };
        update(&mut state, Action::Train(started));
        for step in 1..=2000u64 {
            let event = TrainEvent::Step {
                step,
                epoch: (step / 62) as usize,
                loss: Some(2.3 / (1.0 + step as f64 / (100.0 * run as f64))),
                lr: 1e-3,
                images_per_sec: 300.0,
                state: RunState::Running,
            };
            update(&mut state, Action::Train(TrainUpdate::Event { run, event }));
        }
    }
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).expect("test backend");
    c.bench_function(
        "render frame 120x40, training tab, 4 runs x 2000 steps",
        |b| {
            b.iter(|| {
                terminal.draw(|f| render(&state, f)).expect("draw");
            })
        },
    );
}

criterion_group!(benches, render_frame, render_training_tab, toggle_latency);
criterion_main!(benches);
