//! The sweep the lab runs on every toggle, and candle's reverse-mode autograd doing the same
//! per-depth work, measured in one run so the figures compare as ratios.
//!
//! Run: `cargo bench --bench sweep`.

use std::ops::ControlFlow;

use candle_core::{Device, Tensor};
use criterion::{Criterion, criterion_group, criterion_main};
use shatterlab::config::LabConfig;
use shatterlab::lab::reverse::NetGraph;
use shatterlab::lab::sweep::sweep;

fn full_sweep(cfg: &LabConfig) {
    sweep(cfg, Device::Cpu, |_| ControlFlow::Continue(())).expect("sweep runs");
}

fn sweeps(c: &mut Criterion) {
    // Issue target: feedforward + BN, every depth 1..200, 256 points, width 200, 20 nets, f64.
    let paper = LabConfig {
        depth: 200,
        nets: 20,
        ..LabConfig::default()
    };
    let mut group = c.benchmark_group("sweep");
    group.sample_size(10);
    group.bench_function("forward_ff_bn_depths1-200_nets20", |b| {
        b.iter(|| full_sweep(&paper))
    });

    // Reverse mode needs one backward pass per depth (quadratic in depth), so compare both
    // on one net up to depth 50; the ratio carries over per net.
    let one = LabConfig {
        depth: 50,
        nets: 1,
        ..paper.clone()
    };
    group.bench_function("forward_ff_bn_depths1-50_net1", |b| {
        b.iter(|| full_sweep(&one))
    });
    let grid = one.grid();
    let graph = NetGraph::draw(&one, 0, one.depth).expect("net draws");
    group.bench_function("autograd_ff_bn_depths1-50_net1", |b| {
        b.iter(|| {
            for depth in 1..=one.depth {
                graph
                    .prefix(depth)
                    .reverse_gradients(&grid, false)
                    .expect("autograd runs");
            }
        })
    });

    // The floor under the sweep: one layer's batched matmul of values and tangents,
    // (20, 2 x 256, 200) x (20, 200, 200) in f64, done 199 times per sweep.
    let stacked = Tensor::randn(0f64, 1.0, (20, 512, 200), &Device::Cpu).expect("tensor");
    let weights = Tensor::randn(0f64, 1.0, (20, 200, 200), &Device::Cpu).expect("tensor");
    group.bench_function("matmul_one_layer_nets20", |b| {
        b.iter(|| stacked.matmul(&weights).expect("matmul"))
    });
    group.finish();
}

criterion_group!(benches, sweeps);
criterion_main!(benches);
