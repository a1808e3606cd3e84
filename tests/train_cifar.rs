//! The trainer on the real shared data: a small net overfits 256 images, a seed reproduces a
//! run, a huge learning rate ends as "diverged" instead of crashing.

mod common;

use std::sync::{Arc, OnceLock};

use candle_core::Device;
use shatterlab::config::Activation;
use shatterlab::nets::conv::{ConvInit, ConvNetConfig};
use shatterlab::train::checkpoint;
use shatterlab::train::cifar::Cifar;
use shatterlab::train::config::TrainConfig;
use shatterlab::train::optim::OptimizerKind;
use shatterlab::train::trainer::{Control, RunState, TrainEvent, Trainer};

/// The shared data, loaded once per test binary; its absence is a failure, never a skip.
fn data() -> Arc<Cifar> {
    static DATA: OnceLock<Arc<Cifar>> = OnceLock::new();
    DATA.get_or_init(|| {
        let dir = common::cifar_dir();
        let data = Cifar::load_dir(&dir).unwrap_or_else(|e| {
            panic!(
                "CIFAR-10 test data missing or unreadable at {}: {e:#}",
                dir.display()
            )
        });
        Arc::new(data)
    })
    .clone()
}

fn small(depth: usize) -> TrainConfig {
    TrainConfig {
        net: ConvNetConfig {
            depth,
            act: Activation::Relu,
            init: ConvInit::He,
            bn: true,
            skip: false,
        },
        optimizer: OptimizerKind::Adam,
        lr: 1e-2,
        batch: 64,
        epochs: 1,
        train_subset: Some(256),
        test_subset: Some(100),
        augment: false,
        log_every: 1,
        ..TrainConfig::default()
    }
}

fn run(cfg: TrainConfig) -> (RunState, Vec<TrainEvent>) {
    let mut trainer = Trainer::new(cfg, data(), Device::Cpu).expect("trainer");
    let mut events = Vec::new();
    let state = trainer
        .run(&Control::default(), |_, e| {
            events.push(e.clone());
            Ok(())
        })
        .expect("run");
    (state, events)
}

#[test]
fn a_small_net_overfits_256_images() {
    // Depth 10 is the shallowest net reaching 64 filters (thinner ones memorise too slowly
    // for a quick test); skips make it fit in about 12 epochs.
    let mut cfg = TrainConfig {
        epochs: 30,
        batch: 32,
        lr: 5e-3,
        ..small(10)
    };
    cfg.net.skip = true;
    let mut trainer = Trainer::new(cfg, data(), Device::Cpu).expect("trainer");
    let control = Control::default();
    let mut losses = Vec::new();
    trainer
        .run(&control, |_, e| {
            if let TrainEvent::Epoch { train_loss, .. } = e {
                losses.push(*train_loss);
                if *train_loss < 0.1 {
                    control.cancel();
                }
            }
            Ok(())
        })
        .expect("run");
    let last = *losses.last().expect("epochs ran");
    assert!(
        last < 0.1,
        "training loss on 256 images stayed at {last}: {losses:?}"
    );
}

#[test]
fn a_seed_reproduces_the_run() {
    let cfg = TrainConfig {
        augment: true,
        train_subset: Some(128),
        batch: 32,
        ..small(4)
    };
    let strip = |events: Vec<TrainEvent>| -> Vec<(Option<f64>, f64)> {
        events
            .into_iter()
            .filter_map(|e| match e {
                TrainEvent::Step { loss, lr, .. } => Some((loss, lr)),
                TrainEvent::Epoch {
                    train_loss,
                    test_accuracy,
                    ..
                } => Some((Some(train_loss), test_accuracy)),
                TrainEvent::End { .. } => None,
            })
            .collect()
    };
    let a = strip(run(cfg.clone()).1);
    assert_eq!(a.len(), 5, "4 steps and an epoch: {a:?}");
    assert_eq!(a, strip(run(cfg.clone()).1));
    let other = TrainConfig { seed: 1, ..cfg };
    assert_ne!(a, strip(run(other).1));
}

#[test]
fn a_huge_learning_rate_is_reported_as_diverged() {
    let mut cfg = small(4);
    cfg.optimizer = OptimizerKind::Sgd;
    cfg.lr = 1e8;
    cfg.net.bn = false;
    cfg.epochs = 3;
    let (state, events) = run(cfg);
    assert_eq!(state, RunState::Diverged);
    match events.last() {
        Some(TrainEvent::End { state, .. }) => assert_eq!(*state, RunState::Diverged),
        other => panic!("expected an End record, got {other:?}"),
    }
    assert!(events.iter().any(|e| matches!(
        e,
        TrainEvent::Step {
            loss: None,
            state: RunState::Diverged,
            ..
        }
    )));
}

#[test]
fn cancel_and_pause_are_honoured_between_steps() {
    let control = Control::default();
    control.cancel();
    let mut trainer = Trainer::new(small(3), data(), Device::Cpu).expect("trainer");
    let state = trainer.run(&control, |_, _| Ok(())).expect("run");
    assert_eq!(state, RunState::Cancelled);
    assert_eq!(trainer.progress().step, 0);

    // Paused before the first step: nothing happens until another thread resumes it.
    let control = Control::default();
    control.set_paused(true);
    let cfg = TrainConfig {
        train_subset: Some(32),
        batch: 32,
        ..small(3)
    };
    let mut trainer = Trainer::new(cfg, data(), Device::Cpu).expect("trainer");
    assert_eq!(trainer.steps_per_epoch(), 1);
    let started = std::time::Instant::now();
    let mut first_event = None;
    let state = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(std::time::Duration::from_millis(300));
            control.set_paused(false);
        });
        trainer
            .run(&control, |_, _| {
                first_event.get_or_insert_with(|| started.elapsed());
                Ok(())
            })
            .expect("run")
    });
    let waited = first_event.expect("events after resuming");
    assert!(
        waited.as_millis() >= 300,
        "stepped while paused: first record after {waited:?}"
    );
    assert_eq!(state, RunState::Finished);
    assert_eq!(trainer.progress().step, 1);
}

#[test]
fn a_checkpoint_resumes_the_run_exactly() {
    let cfg = TrainConfig {
        epochs: 2,
        augment: true,
        train_subset: Some(128),
        batch: 32,
        ..small(3)
    };
    let (_, straight) = run(cfg.clone());
    let epochs = |events: &[TrainEvent]| -> Vec<TrainEvent> {
        events
            .iter()
            .filter_map(|e| match e {
                TrainEvent::Epoch {
                    epoch,
                    step,
                    train_loss,
                    test_accuracy,
                    lr,
                    state,
                    ..
                } => Some(TrainEvent::Epoch {
                    epoch: *epoch,
                    step: *step,
                    train_loss: *train_loss,
                    test_accuracy: *test_accuracy,
                    lr: *lr,
                    seconds: 0.0,
                    state: *state,
                }),
                _ => None,
            })
            .collect()
    };

    let mut first = Trainer::new(cfg, data(), Device::Cpu).expect("trainer");
    let mut seen = Vec::new();
    while !seen.iter().any(|e| matches!(e, TrainEvent::Epoch { .. })) {
        seen.extend(first.step().expect("step"));
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let path = tmp.path().join("run.safetensors");
    checkpoint::save(&first, "run", &path).expect("save");
    let restored = checkpoint::load(&path, data(), Device::Cpu).expect("load");
    assert_eq!(restored.run, "run");
    let mut second = restored.trainer;
    second
        .run(&Control::default(), |_, e| {
            seen.push(e.clone());
            Ok(())
        })
        .expect("resumed run");
    assert_eq!(epochs(&seen), epochs(&straight));
    assert_eq!(epochs(&seen).len(), 2);
}
