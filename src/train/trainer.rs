//! A CIFAR-10 training run driven one step at a time, so the same engine serves the headless
//! command and a TUI worker: each call to `step` does one update and returns the events it
//! produced; `run` loops with pause and cancellation checked between steps.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use candle_core::{D, DType, Device, Tensor};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::kernels::Kernels;
use crate::kernels::net::FastNet;
use crate::nets::conv::{CandleConv, ConvNet, Mode};
use crate::train::cifar::{self, Cifar, Normalizer};
use crate::train::config::TrainConfig;
use crate::train::optim::{FlatOptimizer, Optimizer};

/// RNG stream of the data order and augmentation (the weights use streams 0..depth).
const DATA_STREAM: u64 = 1 << 32;
/// Test images evaluated per forward pass.
const EVAL_CHUNK: usize = 500;
/// Relative drop in epoch loss that counts as progress for the plateau schedule.
const PLATEAU_THRESHOLD: f64 = 1e-3;

/// Where a run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    Running,
    Finished,
    /// The loss became NaN or infinite; the run stopped there.
    Diverged,
    Cancelled,
}

impl RunState {
    pub fn is_done(self) -> bool {
        self != RunState::Running
    }
}

/// What a run reports, one JSON object each.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum TrainEvent {
    /// Mean training loss over the steps since the previous record (null if not finite).
    Step {
        step: u64,
        epoch: usize,
        loss: Option<f64>,
        lr: f64,
        images_per_sec: f64,
        state: RunState,
    },
    /// End of an epoch: mean training loss and test accuracy.
    Epoch {
        epoch: usize,
        step: u64,
        train_loss: f64,
        test_accuracy: f64,
        lr: f64,
        seconds: f64,
        state: RunState,
    },
    /// The run stopped: finished, diverged or cancelled.
    End {
        step: u64,
        epoch: usize,
        state: RunState,
    },
}

/// Cancellation and pause flags shared with whoever drives the run (a TUI, Ctrl-C).
#[derive(Debug, Default)]
pub struct Control {
    cancel: AtomicBool,
    pause: AtomicBool,
}

impl Control {
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }

    pub fn set_paused(&self, paused: bool) {
        self.pause.store(paused, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    pub fn is_paused(&self) -> bool {
        self.pause.load(Ordering::Relaxed)
    }
}

/// Loss, images and time accumulated since the last record.
#[derive(Default)]
struct Window {
    loss: f64,
    steps: u64,
    images: usize,
    seconds: f64,
}

/// Counters a checkpoint saves so a resumed run continues exactly where it stopped.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub step: u64,
    pub epoch: usize,
    pub lr: f64,
    pub best_loss: f64,
    pub bad_epochs: usize,
    /// Position of the data RNG (ChaCha word offset).
    pub rng_word_pos: u128,
}

impl Progress {
    /// The plateau schedule: an epoch whose loss is not 0.1% below the best so far is a bad
    /// one; after more than `patience` bad epochs in a row the learning rate is multiplied
    /// by `factor`.
    fn observe_epoch_loss(&mut self, loss: f64, patience: usize, factor: f64) {
        if loss < self.best_loss * (1.0 - PLATEAU_THRESHOLD) {
            self.best_loss = loss;
            self.bad_epochs = 0;
        } else {
            self.bad_epochs += 1;
            if self.bad_epochs > patience {
                self.lr *= factor;
                self.bad_epochs = 0;
            }
        }
    }
}

/// Threads the CPU kernels' GEMMs use.
const FAST_THREADS: usize = 2;

/// The net and its optimiser on one of the two paths.
pub enum Engine {
    /// candle's ops and autograd (the reference, and CUDA).
    Candle {
        net: ConvNet,
        opt: Optimizer,
        device: Device,
    },
    /// The CPU kernels; boxed, as it owns every activation buffer.
    Fast {
        net: Box<FastNet<f32>>,
        opt: FlatOptimizer<f32>,
    },
}

impl Engine {
    /// Builds the net from `cfg.seed` (both paths draw the same weights through `ConvNet`).
    pub fn new(cfg: &TrainConfig, device: &Device) -> anyhow::Result<Self> {
        let net = ConvNet::new(&cfg.net, cfg.seed, DType::F32, device, Arc::new(CandleConv))?;
        if cfg.kernels == Kernels::Candle || !device.is_cpu() {
            let opt = Optimizer::new(cfg.optimizer, cfg.momentum, net.trainable_vars())?;
            return Ok(Self::Candle {
                net,
                opt,
                device: device.clone(),
            });
        }
        let mut fast = FastNet::new(&cfg.net, cfg.batch, FAST_THREADS);
        for (slot, (_, var)) in fast.slots().to_vec().iter().zip(net.named_vars()) {
            fast.set(slot, &var.as_tensor().flatten_all()?.to_vec1::<f32>()?);
        }
        let len = fast.params_and_grads().0.len();
        Ok(Self::Fast {
            net: Box::new(fast),
            opt: FlatOptimizer::new(cfg.optimizer, cfg.momentum, len),
        })
    }

    /// One step on NCHW images `inputs`: forward, loss, and (if the loss is finite)
    /// backward and update. Returns the loss.
    pub fn train_step(
        &mut self,
        inputs: Vec<f32>,
        labels: Vec<u32>,
        lr: f64,
    ) -> anyhow::Result<f64> {
        let n = labels.len();
        Ok(match self {
            Engine::Candle { net, opt, device } => {
                let x = Tensor::from_vec(
                    inputs,
                    (n, cifar::CHANNELS, cifar::SIDE, cifar::SIDE),
                    device,
                )?;
                let y = Tensor::from_vec(labels, n, device)?;
                let loss = candle_nn::loss::cross_entropy(&net.forward(&x, Mode::Train)?, &y)?;
                let value = f64::from(loss.to_scalar::<f32>()?);
                if value.is_finite() {
                    opt.step(&loss.backward()?, lr)?;
                }
                value
            }
            Engine::Fast { net, opt } => {
                let value = f64::from(net.train_step(&inputs, &labels));
                if value.is_finite() {
                    let (params, grads) = net.params_and_grads();
                    opt.step(params, grads, lr);
                }
                value
            }
        })
    }
}

/// One run: the net, its optimiser, the data order and the schedule.
pub struct Trainer {
    cfg: TrainConfig,
    data: Arc<Cifar>,
    n_train: usize,
    n_test: usize,
    norm: Normalizer,
    device: Device,
    engine: Engine,
    rng: ChaCha8Rng,
    order: Vec<usize>,
    cursor: usize,
    progress: Progress,
    window: Window,
    epoch_loss: f64,
    epoch_steps: u64,
    epoch_start: Option<Instant>,
    state: RunState,
}

impl Trainer {
    /// A fresh run of `cfg` on `data` (shared, so several runs can train on one copy).
    pub fn new(cfg: TrainConfig, data: Arc<Cifar>, device: Device) -> anyhow::Result<Self> {
        cfg.validate().map_err(anyhow::Error::msg)?;
        let n_train = cfg
            .train_subset
            .map_or(data.train.len(), |n| n.min(data.train.len()));
        let n_test = cfg
            .test_subset
            .map_or(data.test.len(), |n| n.min(data.test.len()));
        anyhow::ensure!(
            n_train >= cfg.batch,
            "invalid --batch {}: expected at most the {n_train} training images in use",
            cfg.batch
        );
        anyhow::ensure!(n_test >= 1, "the test split is empty");
        let norm = Normalizer::fit(&data.train, n_train);
        let engine = Engine::new(&cfg, &device)?;
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        rng.set_stream(DATA_STREAM);
        let progress = Progress {
            step: 0,
            epoch: 0,
            lr: cfg.lr,
            best_loss: f64::INFINITY,
            bad_epochs: 0,
            rng_word_pos: rng.get_word_pos(),
        };
        Ok(Self {
            cfg,
            data,
            n_train,
            n_test,
            norm,
            device,
            engine,
            rng,
            order: Vec::new(),
            cursor: 0,
            progress,
            window: Window::default(),
            epoch_loss: 0.0,
            epoch_steps: 0,
            epoch_start: None,
            state: RunState::Running,
        })
    }

    pub fn config(&self) -> &TrainConfig {
        &self.cfg
    }

    pub fn state(&self) -> RunState {
        self.state
    }

    pub fn progress(&self) -> &Progress {
        &self.progress
    }

    /// Optimisation steps in one epoch (the last partial batch is dropped, so batch-norm
    /// statistics never come from a handful of images).
    pub fn steps_per_epoch(&self) -> usize {
        self.n_train / self.cfg.batch
    }

    /// One optimisation step; at an epoch's end also the test evaluation and the schedule.
    /// Returns the records due. Does nothing once the run is done.
    pub fn step(&mut self) -> anyhow::Result<Vec<TrainEvent>> {
        if self.state.is_done() {
            return Ok(Vec::new());
        }
        let started = Instant::now();
        if self.cursor == 0 {
            self.order = cifar::shuffled(self.n_train, &mut self.rng);
            self.epoch_start = Some(started);
        }
        let indices = &self.order[self.cursor..self.cursor + self.cfg.batch];
        let rng = self.cfg.augment.then_some(&mut self.rng);
        let batch = cifar::make_batch(&self.data.train, indices, &self.norm, rng);
        let n = batch.labels.len();
        let value = self
            .engine
            .train_step(batch.inputs, batch.labels, self.progress.lr)?;
        self.cursor += n;
        self.progress.step += 1;
        let mut events = Vec::new();
        if !value.is_finite() {
            self.state = RunState::Diverged;
            events.push(self.step_event(None, 0.0));
            return Ok(events);
        }
        self.window.loss += value;
        self.window.steps += 1;
        self.window.images += n;
        self.window.seconds += started.elapsed().as_secs_f64();
        self.epoch_loss += value;
        self.epoch_steps += 1;
        let epoch_done = self.cursor + self.cfg.batch > self.n_train;
        if self.progress.step.is_multiple_of(self.cfg.log_every as u64) || epoch_done {
            let w = std::mem::take(&mut self.window);
            events.push(self.step_event(
                Some(w.loss / w.steps as f64),
                w.images as f64 / w.seconds.max(1e-9),
            ));
        }
        if epoch_done {
            events.push(self.finish_epoch()?);
        }
        Ok(events)
    }

    fn step_event(&self, loss: Option<f64>, images_per_sec: f64) -> TrainEvent {
        TrainEvent::Step {
            step: self.progress.step,
            epoch: self.progress.epoch,
            loss,
            lr: self.progress.lr,
            images_per_sec,
            state: self.state,
        }
    }

    /// Evaluates, applies the plateau schedule, and closes the epoch.
    fn finish_epoch(&mut self) -> anyhow::Result<TrainEvent> {
        let train_loss = self.epoch_loss / self.epoch_steps.max(1) as f64;
        let test_accuracy = self.test_accuracy()?;
        let lr_used = self.progress.lr;
        let p = &mut self.progress;
        p.observe_epoch_loss(
            train_loss,
            self.cfg.plateau_patience,
            self.cfg.plateau_factor,
        );
        p.epoch += 1;
        p.rng_word_pos = self.rng.get_word_pos();
        self.cursor = 0;
        self.epoch_loss = 0.0;
        self.epoch_steps = 0;
        if p.epoch >= self.cfg.epochs {
            self.state = RunState::Finished;
        }
        Ok(TrainEvent::Epoch {
            epoch: p.epoch,
            step: p.step,
            train_loss,
            test_accuracy,
            lr: lr_used,
            seconds: self.epoch_start.map_or(0.0, |t| t.elapsed().as_secs_f64()),
            state: self.state,
        })
    }

    /// Fraction of the test images (in use) classified correctly, BN in evaluation mode.
    /// The kernels' path evaluates in chunks of the training batch, reusing its buffers.
    pub fn test_accuracy(&mut self) -> anyhow::Result<f64> {
        let mut correct = 0usize;
        let indices: Vec<usize> = (0..self.n_test).collect();
        let chunk_len = match &self.engine {
            Engine::Candle { .. } => EVAL_CHUNK,
            Engine::Fast { net, .. } => net.capacity(),
        };
        for chunk in indices.chunks(chunk_len) {
            let batch = cifar::make_batch(&self.data.test, chunk, &self.norm, None);
            let n = chunk.len();
            let predicted = match &mut self.engine {
                Engine::Candle { net, .. } => {
                    let x = Tensor::from_vec(
                        batch.inputs,
                        (n, cifar::CHANNELS, cifar::SIDE, cifar::SIDE),
                        &self.device,
                    )?;
                    net.forward(&x, Mode::Eval)?
                        .argmax(D::Minus1)?
                        .to_vec1::<u32>()?
                }
                Engine::Fast { net, .. } => net
                    .logits(&batch.inputs, n, Mode::Eval)
                    .chunks_exact(crate::nets::conv::CLASSES)
                    .map(argmax)
                    .collect(),
            };
            correct += predicted
                .iter()
                .zip(&batch.labels)
                .filter(|(p, l)| p == l)
                .count();
        }
        Ok(correct as f64 / self.n_test as f64)
    }

    /// Steps until the run is done or `control` cancels it, waiting while it is paused.
    /// `sink` sees the trainer (to checkpoint it, say) with every record, then a closing
    /// `End`; its error stops the run.
    pub fn run(
        &mut self,
        control: &Control,
        mut sink: impl FnMut(&Trainer, &TrainEvent) -> anyhow::Result<()>,
    ) -> anyhow::Result<RunState> {
        while !self.state.is_done() {
            while control.is_paused() && !control.is_cancelled() {
                std::thread::sleep(Duration::from_millis(50));
            }
            if control.is_cancelled() {
                self.state = RunState::Cancelled;
                break;
            }
            for event in self.step().context("training step failed")? {
                sink(self, &event)?;
            }
        }
        sink(
            self,
            &TrainEvent::End {
                step: self.progress.step,
                epoch: self.progress.epoch,
                state: self.state,
            },
        )?;
        Ok(self.state)
    }

    /// Sets the total number of epochs (to extend a resumed run).
    pub fn set_epochs(&mut self, epochs: usize) -> anyhow::Result<()> {
        let cfg = TrainConfig {
            epochs,
            ..self.cfg.clone()
        };
        cfg.validate().map_err(anyhow::Error::msg)?;
        self.cfg = cfg;
        if self.state == RunState::Finished && self.progress.epoch < epochs {
            self.state = RunState::Running;
        } else if self.state == RunState::Running && self.progress.epoch >= epochs {
            self.state = RunState::Finished;
        }
        Ok(())
    }

    /// Every tensor a checkpoint holds, by name, in candle's layout on the CPU: the net's
    /// (`ConvNet::named_vars`) then the optimiser's (`opt.first.i`, `opt.second.i` for the
    /// i-th trained tensor), the same names and layouts on either path.
    pub fn named_tensors(&self) -> anyhow::Result<Vec<(String, Tensor)>> {
        match &self.engine {
            Engine::Candle { net, opt, .. } => {
                let mut vars = net.named_vars();
                vars.extend(opt.named_state());
                Ok(vars
                    .into_iter()
                    .map(|(name, var)| (name, var.as_tensor().clone()))
                    .collect())
            }
            Engine::Fast { net, opt } => {
                let tensor =
                    |data: Vec<f32>, shape: &[usize]| Tensor::from_vec(data, shape, &Device::Cpu);
                let mut out = Vec::new();
                for slot in net.slots() {
                    out.push((slot.name.clone(), tensor(net.get(slot), &slot.shape)?));
                }
                for (prefix, state) in [("first", &opt.first), ("second", &opt.second)] {
                    if state.is_empty() {
                        continue;
                    }
                    for (i, slot) in net.slots().iter().filter(|s| s.trainable).enumerate() {
                        let data = net.export(slot, state);
                        out.push((format!("opt.{prefix}.{i}"), tensor(data, &slot.shape)?));
                    }
                }
                Ok(out)
            }
        }
    }

    /// Sets every tensor `named_tensors` lists from `lookup` (an error names a missing or
    /// misshapen one).
    pub(crate) fn load_tensors(
        &mut self,
        lookup: impl Fn(&str) -> anyhow::Result<Tensor>,
    ) -> anyhow::Result<()> {
        match &mut self.engine {
            Engine::Candle { net, opt, .. } => {
                let mut vars = net.named_vars();
                vars.extend(opt.named_state());
                for (name, var) in vars {
                    let t = lookup(&name)?;
                    var.set(&t.to_dtype(var.dtype())?)
                        .with_context(|| format!("tensor {name}"))?;
                }
            }
            Engine::Fast { net, opt } => {
                let read = |name: &str, shape: &[usize]| -> anyhow::Result<Vec<f32>> {
                    let t = lookup(name)?;
                    anyhow::ensure!(
                        t.dims() == shape,
                        "tensor {name}: shape {:?}, expected {shape:?}",
                        t.dims()
                    );
                    Ok(t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?)
                };
                for slot in net.slots().to_vec() {
                    net.set(&slot, &read(&slot.name, &slot.shape)?);
                }
                for (prefix, state) in [("first", &mut opt.first), ("second", &mut opt.second)] {
                    if state.is_empty() {
                        continue;
                    }
                    for (i, slot) in net.slots().iter().filter(|s| s.trainable).enumerate() {
                        let data = read(&format!("opt.{prefix}.{i}"), &slot.shape)?;
                        FastNet::import(slot, &data, state);
                    }
                }
            }
        }
        Ok(())
    }

    /// Optimiser updates applied so far.
    pub fn optimizer_steps(&self) -> u64 {
        match &self.engine {
            Engine::Candle { opt, .. } => opt.steps(),
            Engine::Fast { opt, .. } => opt.steps(),
        }
    }

    /// Puts a restored run at the start of the epoch after `progress.epoch`.
    pub(crate) fn restore(&mut self, progress: Progress, opt_steps: u64) {
        self.rng.set_word_pos(progress.rng_word_pos);
        match &mut self.engine {
            Engine::Candle { opt, .. } => opt.set_steps(opt_steps),
            Engine::Fast { opt, .. } => opt.set_steps(opt_steps),
        }
        self.state = if progress.epoch >= self.cfg.epochs {
            RunState::Finished
        } else {
            RunState::Running
        };
        self.progress = progress;
        self.cursor = 0;
    }
}

/// Index of the largest value (the first of ties), as candle's `argmax`.
fn argmax(row: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_learning_rate_is_cut_after_a_plateau() {
        let mut p = Progress {
            step: 0,
            epoch: 0,
            lr: 1.0,
            best_loss: f64::INFINITY,
            bad_epochs: 0,
            rng_word_pos: 0,
        };
        let lrs: Vec<f64> = [2.0, 1.0, 1.0, 0.9995, 1.2, 0.5, 0.6]
            .into_iter()
            .map(|loss| {
                p.observe_epoch_loss(loss, 2, 0.5);
                p.lr
            })
            .collect();
        assert_eq!(lrs, [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5]);
    }

    #[test]
    fn a_trainer_can_move_to_a_worker_thread() {
        fn send<T: Send>() {}
        send::<Trainer>();
        send::<Arc<Control>>();
    }

    #[test]
    fn records_serialise_with_a_type_tag_and_null_for_a_lost_loss() {
        let e = TrainEvent::Step {
            step: 3,
            epoch: 0,
            loss: None,
            lr: 0.1,
            images_per_sec: 0.0,
            state: RunState::Diverged,
        };
        let json = serde_json::to_string(&e).unwrap();
        assert!(json.starts_with(r#"{"type":"step","step":3"#), "{json}");
        assert!(
            json.contains(r#""loss":null"#) && json.contains(r#""state":"diverged""#),
            "{json}"
        );
    }
}
