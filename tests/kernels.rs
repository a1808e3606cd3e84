//! The CPU kernels against candle's ops in f64: every convolution geometry of the paper nets
//! (forward and both gradients), whole nets (loss, every gradient, running statistics,
//! evaluation logits), finite differences, and a training run on both paths.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use candle_core::{DType, Device, Tensor, Var};
use shatterlab::config::Activation;
use shatterlab::kernels::Kernels;
use shatterlab::kernels::conv;
use shatterlab::kernels::im2col::ConvShape;
use shatterlab::kernels::net::FastNet;
use shatterlab::nets::conv::{CandleConv, ConvInit, ConvNet, ConvNetConfig, Mode};
use shatterlab::nets::init::WeightRng;
use shatterlab::train::cifar::Cifar;
use shatterlab::train::config::TrainConfig;
use shatterlab::train::trainer::{Control, TrainEvent, Trainer};

const TOL: f64 = 1e-10;

fn gaussian(n: usize, stream: u64) -> Vec<f64> {
    WeightRng::new(7, stream).gaussian(n, 1.0)
}

/// CNHW data (the kernels' layout) as a candle NCHW tensor.
fn nchw(x: &[f64], (n, c, h, w): (usize, usize, usize, usize)) -> Tensor {
    Tensor::from_vec(x.to_vec(), (c, n, h, w), &Device::Cpu)
        .and_then(|t| t.transpose(0, 1))
        .and_then(|t| t.contiguous())
        .expect("tensor")
}

/// A candle NCHW tensor as CNHW data.
fn cnhw(t: &Tensor) -> Vec<f64> {
    t.transpose(0, 1)
        .and_then(|t| t.flatten_all())
        .and_then(|t| t.to_vec1())
        .expect("data")
}

fn flat(t: &Tensor) -> Vec<f64> {
    t.flatten_all().and_then(|t| t.to_vec1()).expect("data")
}

/// max |a − b| / max |b|.
fn rel(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let diff = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max);
    let scale = b.iter().map(|y| y.abs()).fold(0.0, f64::max);
    diff / scale.max(f64::MIN_POSITIVE)
}

/// Every (side, in channels, filters, stride) the nets use at depths 2..=198.
fn paper_shapes() -> BTreeSet<(usize, usize, usize, usize)> {
    let mut shapes = BTreeSet::new();
    for depth in 2..=198 {
        for act in [Activation::Relu, Activation::Crelu] {
            let cfg = ConvNetConfig {
                depth,
                act,
                init: ConvInit::He,
                bn: true,
                skip: false,
            };
            let mut side = 32;
            for l in cfg.layers() {
                shapes.insert((side, l.in_channels, l.filters, l.stride));
                side = (side - 1) / l.stride + 1;
            }
        }
    }
    shapes
}

#[test]
fn convolutions_equal_candle_on_every_paper_shape() {
    let shapes = paper_shapes();
    assert!(shapes.contains(&(32, 3, 6, 1)) && shapes.contains(&(8, 46, 45, 2)));
    for (i, &(side, c_in, c_out, stride)) in shapes.iter().enumerate() {
        // Batches of 1 and 2, and now and then 5: several blocks of images per thread.
        let batch = if i % 5 == 0 { 5 } else { 1 + i % 2 };
        let s = ConvShape {
            batch,
            h: side,
            w: side,
            c_in,
            c_out,
            stride,
        };
        let x = gaussian(s.input_len(), 3 * i as u64);
        let k = gaussian(c_out * c_in * 9, 3 * i as u64 + 1);
        let r = gaussian(s.output_len(), 3 * i as u64 + 2);
        let (oh, ow) = (s.out_h(), s.out_w());

        let xv = Var::from_tensor(&nchw(&x, (s.batch, c_in, side, side))).expect("x");
        let kv = Var::from_tensor(
            &Tensor::from_vec(k.clone(), (c_out, c_in, 3, 3), &Device::Cpu).expect("k"),
        )
        .expect("k");
        let z = xv
            .as_tensor()
            .conv2d(kv.as_tensor(), 1, stride, 1, 1)
            .expect("conv");
        let grads = (&z * nchw(&r, (s.batch, c_out, oh, ow)))
            .and_then(|t| t.sum_all())
            .and_then(|t| t.backward())
            .expect("backward");

        // One thread and two: the batch split must not change the result beyond round-off.
        for threads in [1, 2] {
            let mut scratch = conv::Scratch::new([&s], threads);
            let mut out = vec![0.0; s.output_len()];
            conv::forward(&s, &x, &k, &mut scratch, &mut out);
            let what = format!("{s:?}, {threads} threads");
            assert!(rel(&out, &cnhw(&z)) < TOL, "forward {what}");

            let (mut dk, mut dx) = (vec![0.0; k.len()], vec![0.0; x.len()]);
            conv::backward(&s, &x, &r, &k, &mut scratch, &mut dk, Some(&mut dx));
            let want = flat(grads.get(kv.as_tensor()).expect("dk"));
            assert!(rel(&dk, &want) < TOL, "kernel gradient {what}");
            let want_dx = cnhw(grads.get(xv.as_tensor()).expect("dx"));
            assert!(rel(&dx, &want_dx) < TOL, "input gradient {what}");

            let mut dk_only = vec![0.0; k.len()];
            conv::backward(&s, &x, &r, &k, &mut scratch, &mut dk_only, None);
            assert_eq!(dk_only, dk, "kernel gradient without input gradient {what}");
        }
    }
}

fn net_cfg(depth: usize, act: Activation, init: ConvInit, bn: bool, skip: bool) -> ConvNetConfig {
    ConvNetConfig {
        depth,
        act,
        init,
        bn,
        skip,
    }
}

/// A candle net and the kernels' copy of it, in f64.
fn twin_nets(cfg: &ConvNetConfig, batch: usize) -> (ConvNet, FastNet<f64>) {
    let net = ConvNet::new(cfg, 11, DType::F64, &Device::Cpu, Arc::new(CandleConv)).expect("net");
    let mut fast = FastNet::new(cfg, batch, 2);
    for (slot, (name, var)) in fast.slots().to_vec().iter().zip(net.named_vars()) {
        assert_eq!(slot.name, name);
        assert_eq!(slot.shape, var.dims());
        fast.set(slot, &flat(var.as_tensor()));
    }
    (net, fast)
}

#[test]
fn whole_nets_equal_candle_in_loss_gradients_and_statistics() {
    let cases = [
        net_cfg(5, Activation::Relu, ConvInit::He, false, false),
        net_cfg(10, Activation::Relu, ConvInit::He, true, true),
        net_cfg(9, Activation::Crelu, ConvInit::Ll, true, true),
        net_cfg(7, Activation::Crelu, ConvInit::LlDelta, false, true),
        net_cfg(2, Activation::Relu, ConvInit::He, true, false),
        // The linear classifier: the dense layer on the pixels.
        net_cfg(1, Activation::Relu, ConvInit::He, true, false),
    ];
    for (c, cfg) in cases.iter().enumerate() {
        let batch = 1 + c % 3;
        let (net, mut fast) = twin_nets(cfg, batch);
        let x = gaussian(batch * 3 * 32 * 32, 100 + c as u64);
        let labels: Vec<u32> = (0..batch as u32).map(|i| (3 * i + c as u32) % 10).collect();
        let xt = Tensor::from_vec(x.clone(), (batch, 3, 32, 32), &Device::Cpu).expect("x");
        let yt = Tensor::from_vec(labels.clone(), batch, &Device::Cpu).expect("y");
        let logits = net.forward(&xt, Mode::Train).expect("forward");
        let loss = candle_nn::loss::cross_entropy(&logits, &yt).expect("loss");
        let grads = loss.backward().expect("backward");
        let want = loss.to_scalar::<f64>().expect("loss");
        let got = fast.train_step(&x, &labels);
        assert!(
            (got - want).abs() < TOL * want.abs(),
            "{cfg:?}: loss {got} vs {want}"
        );
        let vars = net.named_vars();
        for (slot, (name, var)) in fast.slots().iter().zip(&vars) {
            let (got, want) = if slot.trainable {
                let g = grads.get(var.as_tensor()).expect("gradient");
                (fast.grad(slot), flat(g))
            } else {
                (fast.get(slot), flat(var.as_tensor()))
            };
            assert!(rel(&got, &want) < TOL, "{cfg:?}: {name}");
        }
        let want = flat(&net.forward(&xt, Mode::Eval).expect("eval"));
        let got = fast.logits(&x, batch, Mode::Eval).to_vec();
        assert!(rel(&got, &want) < TOL, "{cfg:?}: evaluation logits");
    }
}

#[test]
fn gradients_match_finite_differences() {
    let cfg = net_cfg(6, Activation::Crelu, ConvInit::Ll, true, true);
    let (_, mut fast) = twin_nets(&cfg, 2);
    let x = gaussian(2 * 3 * 32 * 32, 500);
    let labels = [4, 9];
    fast.train_step(&x, &labels);
    let grads = fast.params_and_grads().1.to_vec();
    let step = 1e-6;
    let every = grads.len() / 40;
    for i in (0..grads.len()).step_by(every) {
        let mut loss_at = |delta: f64| {
            fast.params_and_grads().0[i] += delta;
            let loss = fast.train_step(&x, &labels);
            fast.params_and_grads().0[i] -= delta;
            loss
        };
        let fd = (loss_at(step) - loss_at(-step)) / (2.0 * step);
        assert!(
            (fd - grads[i]).abs() < 1e-6 * (1.0 + grads[i].abs()),
            "parameter {i}: finite difference {fd} vs gradient {}",
            grads[i]
        );
    }
}

fn data() -> Arc<Cifar> {
    let dir = common::cifar_dir();
    Arc::new(Cifar::load_dir(&dir).expect("CIFAR-10 test data"))
}

fn step_losses(cfg: &TrainConfig, data: &Arc<Cifar>) -> Vec<f64> {
    let mut trainer = Trainer::new(cfg.clone(), data.clone(), Device::Cpu).expect("trainer");
    let mut losses = Vec::new();
    trainer
        .run(&Control::default(), |_, e| {
            if let TrainEvent::Step { loss: Some(l), .. } = e {
                losses.push(*l);
            }
            Ok(())
        })
        .expect("run");
    losses
}

#[test]
fn training_matches_the_candle_path_and_repeats_exactly() {
    let data = data();
    let mut cfg = TrainConfig {
        batch: 16,
        epochs: 1,
        train_subset: Some(64),
        test_subset: Some(16),
        augment: true,
        log_every: 1,
        ..TrainConfig::default()
    };
    cfg.net.skip = true;
    let fast = step_losses(&cfg, &data);
    assert_eq!(fast.len(), 4);
    assert_eq!(fast, step_losses(&cfg, &data), "same seed, same losses");
    let candle = step_losses(
        &TrainConfig {
            kernels: Kernels::Candle,
            ..cfg.clone()
        },
        &data,
    );
    for (step, (f, c)) in fast.iter().zip(&candle).enumerate() {
        assert!((f - c).abs() < 1e-4 * c.abs(), "step {step}: {f} vs {c}");
    }
}

#[test]
fn both_paths_checkpoint_the_same_tensors() {
    let data = data();
    let cfg = TrainConfig {
        train_subset: Some(64),
        ..TrainConfig::default()
    };
    let tensors = |kernels| {
        Trainer::new(
            TrainConfig {
                kernels,
                ..cfg.clone()
            },
            data.clone(),
            Device::Cpu,
        )
        .and_then(|t| t.named_tensors())
        .expect("tensors")
    };
    let (fast, candle) = (tensors(Kernels::Fast), tensors(Kernels::Candle));
    assert_eq!(fast.len(), candle.len());
    for ((fname, ft), (cname, ct)) in fast.iter().zip(&candle) {
        assert_eq!((fname, ft.dims()), (cname, ct.dims()));
        let (f, c): (Vec<f32>, Vec<f32>) = (
            ft.flatten_all().and_then(|t| t.to_vec1()).expect("data"),
            ct.flatten_all().and_then(|t| t.to_vec1()).expect("data"),
        );
        assert_eq!(f, c, "{fname}");
    }
}
