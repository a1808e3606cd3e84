//! UI hot paths: one full frame at 120x40 on the paper preset (target < 2 ms), one of the
//! training tab with four long runs' curves, the latency from a toggle to the first result of
//! the new settings at depth 50 while the old sweep is still running (target < 100 ms on 2
//! cores), and the training tab's pace: the time between two loss updates of a depth-20
//! resnet + BN at the tab's CPU defaults while the lab sweeps without pause beside it (target
//! < 500 ms, two updates a second). The last needs CIFAR-10 (`SHATTERLAB_TEST_CIFAR`, else
//! the test suite's default location, see tests/common).

// The tests' helpers: the CIFAR-10 location, with its message when the data is missing.
#[path = "../tests/common/mod.rs"]
mod common;

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use shatterlab::config::{Activation, DeviceKind, LabConfig};
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
use shatterlab::ui::view::render;
use shatterlab::worker::sweep::{Job, Update, spawn as spawn_sweep_worker};

use common::ui::theme;
use shatterlab::worker::train::{TrainJob, TrainPaths, TrainUpdate, spawn as spawn_train_worker};
use tokio::sync::mpsc;

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

/// The lab's state beside a live sweep worker.
struct Lab {
    state: State,
    jobs: mpsc::Sender<Job>,
    updates: mpsc::Receiver<Update>,
}

impl Lab {
    /// The paper preset, its start-up sweep sent.
    fn start() -> Self {
        let (jobs, job_rx) = mpsc::channel(8);
        let (update_tx, updates) = mpsc::channel(64);
        spawn_sweep_worker(job_rx, update_tx).expect("worker thread");
        let (state, effects) = State::new(LabConfig::default(), theme());
        let mut lab = Self {
            state,
            jobs,
            updates,
        };
        lab.send(effects);
        lab
    }

    fn send(&mut self, effects: Vec<Effect>) {
        for effect in effects {
            if let Effect::Sweep(job) = effect {
                self.jobs.blocking_send(job).expect("worker alive");
            }
        }
    }

    /// Toggles batch norm and waits for the first result of the new settings; returns how
    /// long that took.
    fn toggle_bn(&mut self) -> Duration {
        let start = Instant::now();
        let effects = update(&mut self.state, Action::Key(Command::Toggle(Toggle::Bn)));
        self.send(effects);
        loop {
            let u = self.updates.blocking_recv().expect("worker alive");
            let fresh = u.generation() == self.state.lab.generation;
            update(&mut self.state, Action::Sweep(u));
            if fresh {
                return start.elapsed();
            }
        }
    }
}

fn toggle_latency(c: &mut Criterion) {
    let mut lab = Lab::start();
    let mut group = c.benchmark_group("toggle");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(5));
    group.bench_function("toggle to first update, depth 50", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                total += lab.toggle_bn();
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

/// Toggles batch norm again as soon as each sweep's first fresh result arrives, until
/// `stop`: the lab never rests. Returns each toggle's latency.
fn sweep_without_pause(stop: Arc<AtomicBool>, latencies: Arc<Mutex<Vec<Duration>>>) {
    let mut lab = Lab::start();
    while !stop.load(Ordering::Relaxed) {
        let latency = lab.toggle_bn();
        latencies.lock().expect("latencies").push(latency);
    }
}

fn training_beside_sweeps(c: &mut Criterion) {
    let runs = tempfile::tempdir().expect("temporary runs directory");
    let paths = TrainPaths {
        data_root: Ok(common::cifar_dir()),
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
