//! The forward-mode engine against independent computations of the same gradients:
//! central finite differences and candle's reverse-mode autograd, on every architecture.

use candle_core::Device;
use shatterlab::config::{Activation, Arch, BnGrad, Init, LabConfig, Precision};
use shatterlab::lab::forward::{ForwardEngine, LayerOutput, StepKernel};
use shatterlab::lab::reverse::NetGraph;

fn small(arch: Arch, bn: bool, act: Activation) -> LabConfig {
    LabConfig {
        arch,
        bn,
        act,
        depth: 6,
        width: 16,
        points: 24,
        nets: 2,
        seed: 11,
        ..LabConfig::default()
    }
}

fn run(cfg: &LabConfig, kernel: StepKernel) -> Vec<LayerOutput> {
    let mut engine = ForwardEngine::with_kernel(cfg, Device::Cpu, kernel).unwrap();
    (0..cfg.depth).map(|_| engine.step().unwrap()).collect()
}

/// max |a - b| / (rms of b): relative to the gradient's scale, so that points where g
/// happens to be near zero do not dominate.
fn relative_error(a: &[f64], b: &[f64]) -> f64 {
    let rms = (b.iter().map(|v| v * v).sum::<f64>() / b.len() as f64).sqrt();
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
        / rms
}

fn every_config() -> Vec<LabConfig> {
    let mut out = Vec::new();
    for arch in [Arch::Ff, Arch::Res] {
        for bn in [false, true] {
            for act in [Activation::Relu, Activation::Crelu] {
                out.push(small(arch, bn, act));
                if bn {
                    out.push(LabConfig {
                        bn_grad: BnGrad::Through,
                        ..small(arch, bn, act)
                    });
                }
            }
        }
    }
    out
}

#[test]
fn forward_mode_matches_finite_differences_and_autograd() {
    for cfg in every_config() {
        let through = cfg.bn_grad == BnGrad::Through;
        let layers = run(&cfg, StepKernel::Fused);
        let grid = cfg.grid();
        for net in 0..cfg.nets {
            for depth in [1, 3, cfg.depth] {
                let ours = &layers[depth - 1].grads[net * cfg.points..(net + 1) * cfg.points];
                let graph = NetGraph::draw(&cfg, net as u64, depth).unwrap();
                let fd = graph
                    .finite_difference_gradients(&grid, 1e-6, through)
                    .unwrap();
                let rev = graph.reverse_gradients(&grid, through).unwrap();
                let e_fd = relative_error(ours, &fd);
                let e_rev = relative_error(ours, &rev);
                assert!(
                    e_fd <= 1e-6,
                    "{cfg:?} net {net} depth {depth}: finite differences off by {e_fd:e}"
                );
                assert!(
                    e_rev <= 1e-10,
                    "{cfg:?} net {net} depth {depth}: autograd off by {e_rev:e}"
                );
                // The forward pass itself agrees with the graph's.
                let values = graph.values(&grid).unwrap();
                let ours_f = &layers[depth - 1].values[net * cfg.points..(net + 1) * cfg.points];
                assert!(relative_error(ours_f, &values) <= 1e-10);
            }
        }
    }
}

#[test]
fn through_statistics_differ_from_frozen() {
    // Differentiating through batch statistics is a different derivative, not a no-op.
    let frozen = small(Arch::Ff, true, Activation::Relu);
    let through = LabConfig {
        bn_grad: BnGrad::Through,
        ..frozen.clone()
    };
    let a = run(&frozen, StepKernel::Fused);
    let b = run(&through, StepKernel::Fused);
    assert!(relative_error(&a[5].grads, &b[5].grads) > 1e-3);
}

#[test]
fn fused_kernel_equals_candle_ops() {
    for cfg in every_config() {
        for dtype in [Precision::F64, Precision::F32] {
            let cfg = LabConfig {
                dtype,
                ..cfg.clone()
            };
            let fused = run(&cfg, StepKernel::Fused);
            let composed = run(&cfg, StepKernel::Composed);
            let tol = if dtype == Precision::F64 { 1e-12 } else { 1e-4 };
            for (a, b) in fused.iter().zip(&composed) {
                assert!(relative_error(&a.grads, &b.grads) <= tol, "{cfg:?}");
                assert!(relative_error(&a.values, &b.values) <= tol, "{cfg:?}");
                assert_eq!(a.active, b.active, "{cfg:?}");
            }
        }
    }
}

/// Relative spread (max - min) / max|g| of each net's gradient over the grid.
fn spread(grads: &[f64], points: usize) -> f64 {
    grads
        .chunks_exact(points)
        .map(|g| {
            let lo = g.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = g.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            (hi - lo) / lo.abs().max(hi.abs())
        })
        .fold(0.0, f64::max)
}

#[test]
fn looks_linear_net_has_constant_gradient_at_any_depth() {
    for dtype in [Precision::F64, Precision::F32] {
        let cfg = LabConfig {
            bn: false,
            act: Activation::Crelu,
            init: Init::Ll,
            depth: 200,
            width: 32,
            points: 64,
            nets: 2,
            dtype,
            ..LabConfig::default()
        };
        let layers = run(&cfg, StepKernel::Fused);
        // f32: exact in exact arithmetic, but the matmul sums the CReLU halves' terms in an
        // order that depends on each point's mask, so round-off (~1e-7 per layer) differs
        // from point to point and accumulates with depth.
        let tol = if dtype == Precision::F64 { 1e-12 } else { 1e-4 };
        for depth in [1, 50, 200] {
            let s = spread(&layers[depth - 1].grads, cfg.points);
            assert!(s < tol, "{dtype:?} depth {depth}: relative spread {s:e}");
        }
    }
    // The same net with ordinary init does shatter-free but not constant gradients.
    let he = LabConfig {
        bn: false,
        act: Activation::Crelu,
        depth: 5,
        width: 32,
        points: 64,
        nets: 2,
        ..LabConfig::default()
    };
    assert!(spread(&run(&he, StepKernel::Fused)[4].grads, 64) > 0.1);
}

#[test]
fn zero_bias_relu_net_gradient_takes_exactly_two_values() {
    let cfg = LabConfig {
        bn: false,
        first_bias: false,
        depth: 12,
        width: 32,
        nets: 3,
        ..LabConfig::default()
    };
    let grid = cfg.grid();
    for layer in run(&cfg, StepKernel::Fused) {
        for g in layer.grads.chunks_exact(cfg.points) {
            let mut distinct: Vec<f64> = g.to_vec();
            distinct.sort_by(f64::total_cmp);
            distinct.dedup();
            assert_eq!(distinct.len(), 2, "depth {}: {distinct:?}", layer.depth);
            // one value left of zero, the other right of it
            let neg = g[0];
            assert!(grid.iter().zip(g).all(|(x, v)| (*x < 0.0) == (*v == neg)));
        }
    }
}

#[test]
fn f32_overflow_in_deep_batch_norm_nets_is_flagged() {
    use std::ops::ControlFlow;
    let cfg = LabConfig {
        depth: 400,
        width: 16,
        points: 16,
        nets: 2,
        dtype: Precision::F32,
        ..LabConfig::default()
    };
    let mut flags = Vec::new();
    shatterlab::lab::sweep::sweep(&cfg, Device::Cpu, |d| {
        flags.push(d.stats.overflow);
        ControlFlow::Continue(())
    })
    .unwrap();
    assert!(!flags[0], "depth 1 cannot overflow");
    assert!(
        flags[399],
        "BN gradients grow geometrically: f32 overflows by depth 400"
    );
    let f64_cfg = LabConfig {
        dtype: Precision::F64,
        ..cfg
    };
    let mut last = None;
    shatterlab::lab::sweep::sweep(&f64_cfg, Device::Cpu, |d| {
        last = Some(d.stats.overflow);
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(last, Some(false));
}
