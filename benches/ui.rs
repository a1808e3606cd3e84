//! UI hot paths: one full frame at 120x40 on the paper preset (target < 2 ms), one of the
//! training tab with four long runs' curves, the latency from a toggle to the first result of
//! the new settings at depth 50 while the old sweep is still running (target < 100 ms on 2
//! cores), and the training tab's pace: the time between two loss updates of a depth-20
//! resnet + BN at the tab's CPU defaults while the lab sweeps without pause beside it (target
//! < 500 ms, two updates a second). The last needs CIFAR-10 (`../shared` beside the checkout,
//! or `SHATTERLAB_TEST_CIFAR`).

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use shatterlab::config::{Activation, ColorMode, DeviceKind, LabConfig, MarkerKind};
use shatterlab::lab::summary::DepthView;
use shatterlab::lab::sweep::sweep;
use shatterlab::nets::conv::{ConvInit, ConvNetConfig};
use shatterlab::train::config::TrainConfig;
use shatterlab::train::datadir::DataStatus;
use shatterlab::train::download::Source;
use shatterlab::train::trainer::{RunState, TrainEvent};
use shatterlab::ui::app::{Action, State, update};
use shatterlab::ui::command::Command;
use shatterlab::ui::effect::Effect;
use shatterlab::ui::lab::Toggle;
use shatterlab::ui::theme::Theme;
use shatterlab::ui::view::render;
use shatterlab::worker::sweep::{Job, Update, spawn as spawn_sweep_worker};
use shatterlab::worker::train::{TrainJob, TrainPaths, TrainUpdate, spawn as spawn_train_worker};
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

/// The CIFAR-10 batches: `$SHATTERLAB_TEST_CIFAR`, else the shared data beside the checkout.
fn cifar_dir() -> PathBuf {
    let dir = std::env::var_os("SHATTERLAB_TEST_CIFAR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/cifar-10-batches-bin")
        });
    assert!(
        dir.join("data_batch_1.bin").is_file(),
        "CIFAR-10 missing: expected the binary batches in {} (or set SHATTERLAB_TEST_CIFAR)",
        dir.display()
    );
    dir
}

/// Toggles batch norm again as soon as each sweep's first fresh result arrives, until
/// `stop`: the lab never rests. Returns each toggle's latency.
fn sweep_without_pause(stop: Arc<AtomicBool>, latencies: Arc<Mutex<Vec<Duration>>>) {
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
    while !stop.load(Ordering::Relaxed) {
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
        latencies.lock().expect("latencies").push(start.elapsed());
    }
}

fn training_beside_sweeps(c: &mut Criterion) {
    let runs = tempfile::tempdir().expect("temporary runs directory");
    let paths = TrainPaths {
        data_root: Ok(cifar_dir()),
        runs_dir: runs.path().to_path_buf(),
        source: Source::official(None),
    };
    let (job_tx, job_rx) = mpsc::channel(8);
    let (update_tx, mut updates) = mpsc::channel(1024);
    let _worker = spawn_train_worker(paths, job_rx, update_tx).expect("training worker");
    let cfg = TrainConfig {
        net: ConvNetConfig {
            depth: 20,
            act: Activation::Relu,
            init: ConvInit::He,
            bn: true,
            skip: true,
        },
        ..shatterlab::ui::train::cpu_defaults()
    };
    let start = TrainJob::Start {
        run: 1,
        cfg,
        device: DeviceKind::Cpu,
    };
    job_tx.blocking_send(start).expect("training worker alive");
    let mut next_step = move || loop {
        match updates.blocking_recv().expect("training worker alive") {
            TrainUpdate::Event {
                event: TrainEvent::Step { .. },
                ..
            } => return,
            TrainUpdate::Event {
                event: TrainEvent::End { state, .. },
                ..
            } => panic!("the run ended ({state:?}) before the measurement did"),
            TrainUpdate::Failed { error, .. } => panic!("the run failed: {error}"),
            _ => {}
        }
    };
    next_step();
    let stop = Arc::new(AtomicBool::new(false));
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let lab = {
        let (stop, latencies) = (stop.clone(), latencies.clone());
        std::thread::spawn(move || sweep_without_pause(stop, latencies))
    };
    let mut group = c.benchmark_group("training_tab");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    group.bench_function(
        "time between loss updates, depth-20 resnet+BN, batch 64, lab sweeping",
        |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    next_step();
                }
                start.elapsed()
            })
        },
    );
    group.finish();
    stop.store(true, Ordering::Relaxed);
    lab.join().expect("lab thread");
    let mut lat = latencies.lock().expect("latencies").clone();
    lat.sort();
    if let Some(median) = lat.get(lat.len() / 2) {
        println!(
            "lab beside training: {} toggles, median {:.0} ms to the first fresh result",
            lat.len(),
            median.as_secs_f64() * 1e3
        );
    }
}

criterion_group!(
    benches,
    render_frame,
    render_training_tab,
    toggle_latency,
    training_beside_sweeps
);
criterion_main!(benches);
