//! The sweep the lab runs on every toggle, measured in one run beside the arithmetic bound
//! under it, so the figures compare as ratios:
//! - the machine's f64 GEMM peak (one large square `gemm`, every core);
//! - the full sweep (feedforward + BN, depths 1..200, 256 points, width 200, 20 nets, f64,
//!   every statistic at every depth) with He, orthogonal and looks-linear weights;
//! - the matmuls alone of that He sweep, in the engine's shapes and thread split, with the
//!   alternatives (each matmul split over the cores, one core);
//! - one net's layer drawn (He normals, orthogonal QR);
//! - the TUI worker redrawing after a batch-norm toggle at depth 50 and 200 (weights kept);
//! - candle's reverse-mode autograd doing one net's per-depth work.
//!
//! Run: `cargo bench --bench sweep`; GFLOP/s show as "Gelem/s".

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use candle_core::{Device, Tensor};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use faer::{Accum, MatMut, MatRef, Par};
use gemm::{Parallelism, gemm};
use rayon::prelude::*;
use shatterlab::config::{Activation, Init, LabConfig};
use shatterlab::lab::reverse::NetGraph;
use shatterlab::lab::sweep::sweep;
use shatterlab::nets::scalar::{NetShape, ScalarNetDraw};
use shatterlab::worker::sweep::{self as worker, Job, Side, Update};
use tokio::sync::mpsc;

fn full_sweep(cfg: &LabConfig) {
    sweep(cfg, Device::Cpu, |_| ControlFlow::Continue(())).expect("sweep runs");
}

/// The sweep: feedforward + BN, every depth 1..200, 256 points, width 200, 20 nets.
fn paper() -> LabConfig {
    LabConfig {
        depth: 200,
        nets: 20,
        ..LabConfig::default()
    }
}

/// c = a b, row-major, (m x k) (k x n), by the `gemm` crate (candle's CPU backend).
fn gemm_crate(
    a: &[f64],
    b: &[f64],
    c: &mut [f64],
    (m, k, n): (usize, usize, usize),
    par: Parallelism,
) {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n);
    // SAFETY: the slices hold the matrices the strides describe (asserted above).
    unsafe {
        gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            false,
            a.as_ptr(),
            1,
            k as isize,
            b.as_ptr(),
            1,
            n as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            par,
        )
    }
}

/// The same product by faer, as the engine does it.
fn faer_matmul(a: &[f64], b: &[f64], c: &mut [f64], (m, k, n): (usize, usize, usize), par: Par) {
    let a = MatRef::from_row_major_slice(a, m, k);
    let b = MatRef::from_row_major_slice(b, k, n);
    let c = MatMut::from_row_major_slice_mut(c, m, n);
    faer::linalg::matmul::matmul(c, Accum::Replace, a, b, 1.0, par);
}

fn filled(len: usize, seed: usize) -> Vec<f64> {
    (0..len)
        .map(|i| ((i * 7919 + seed) % 1000) as f64 / 1000.0 - 0.5)
        .collect()
}

fn gemm_peak(c: &mut Criterion) {
    let n = 2048;
    let (a, b) = (filled(n * n, 1), filled(n * n, 2));
    let mut out = vec![0.0; n * n];
    let threads = rayon::current_num_threads();
    let mut group = c.benchmark_group("gemm_peak");
    group.sample_size(10);
    group.throughput(Throughput::Elements(2 * (n * n * n) as u64));
    group.bench_function(format!("faer_f64_{n}x{n}x{n}_threads{threads}"), |bch| {
        bch.iter(|| faer_matmul(&a, &b, &mut out, (n, n, n), Par::rayon(threads)))
    });
    group.bench_function(
        format!("gemm_crate_f64_{n}x{n}x{n}_threads{threads}"),
        |bch| bch.iter(|| gemm_crate(&a, &b, &mut out, (n, n, n), Parallelism::Rayon(threads))),
    );
    group.finish();
}

fn sweeps(c: &mut Criterion) {
    let mut group = c.benchmark_group("sweep");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    let he = paper();
    group.bench_function("ff_bn_depths1-200_nets20_he", |b| {
        b.iter(|| full_sweep(&he))
    });
    let orthogonal = LabConfig {
        init: Init::Orthogonal,
        ..paper()
    };
    group.bench_function("ff_bn_depths1-200_nets20_orthogonal", |b| {
        b.iter(|| full_sweep(&orthogonal))
    });
    let ll = LabConfig {
        act: Activation::Crelu,
        init: Init::Ll,
        ..paper()
    };
    group.bench_function("ff_bn_depths1-200_nets20_ll", |b| {
        b.iter(|| full_sweep(&ll))
    });
    group.finish();
}

/// The He sweep's matmuls alone, (2 x 256, 200) x (200, 200) per net and layer, 199 layers
/// of 20 nets, into reused buffers.
fn matmuls(c: &mut Criterion) {
    let (nets, layers, rows, width) = (20, 199, 512, 200);
    let shape = (rows, width, width);
    let inputs: Vec<Vec<f64>> = (0..nets).map(|i| filled(rows * width, i)).collect();
    let weights: Vec<Vec<f64>> = (0..nets).map(|i| filled(width * width, 99 + i)).collect();
    let mut outputs = vec![vec![0.0; rows * width]; nets];
    let threads = rayon::current_num_threads();
    let mut group = c.benchmark_group("sweep_matmuls");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(
        (2 * nets * layers * rows * width * width) as u64,
    ));
    // The engine's split: each core takes whole nets, one single-threaded gemm each.
    group.bench_function("he_199_layers_nets_over_cores", |b| {
        b.iter(|| {
            for _ in 0..layers {
                outputs
                    .par_iter_mut()
                    .zip(&inputs)
                    .zip(&weights)
                    .for_each(|((o, a), w)| faer_matmul(a, w, o, shape, Par::Seq));
            }
        })
    });
    // Each matmul over every core, nets in turn.
    group.bench_function("he_199_layers_each_matmul_over_cores", |b| {
        b.iter(|| {
            for _ in 0..layers {
                for ((o, a), w) in outputs.iter_mut().zip(&inputs).zip(&weights) {
                    faer_matmul(a, w, o, shape, Par::rayon(threads));
                }
            }
        })
    });
    // One core: what two cores should double.
    group.bench_function("he_199_layers_one_core", |b| {
        b.iter(|| {
            for _ in 0..layers {
                for ((o, a), w) in outputs.iter_mut().zip(&inputs).zip(&weights) {
                    faer_matmul(a, w, o, shape, Par::Seq);
                }
            }
        })
    });
    // Before: candle's batched matmul, (20, 512, 200) x (20, 200, 200), `gemm` crate.
    let stacked =
        Tensor::from_vec(inputs.concat(), (nets, rows, width), &Device::Cpu).expect("tensor");
    let stacked_w =
        Tensor::from_vec(weights.concat(), (nets, width, width), &Device::Cpu).expect("tensor");
    group.bench_function("he_199_layers_candle_batched", |b| {
        b.iter(|| {
            for _ in 0..layers {
                stacked.matmul(&stacked_w).expect("matmul");
            }
        })
    });
    group.finish();
}

/// One net's hidden layer drawn, 200 x 200: ChaCha8 normals, and for orthogonal the QR.
fn draws(c: &mut Criterion) {
    let mut group = c.benchmark_group("draw_layer");
    group.warm_up_time(Duration::from_secs(1));
    for init in [Init::He, Init::Orthogonal] {
        let shape = NetShape::from_config(&LabConfig { init, ..paper() });
        let mut draw = ScalarNetDraw::new(shape, 0, 0);
        group.bench_function(format!("{init:?}_200x200"), |b| {
            b.iter(|| draw.next_hidden())
        });
    }
    group.finish();
}

/// The TUI's sweep worker: time from a batch-norm toggle to the last depth of the new
/// settings, the weights kept from the sweep before.
fn toggle_redraw(c: &mut Criterion) {
    let wait_done = |updates: &mut mpsc::Receiver<Update>, generation: u64| loop {
        match updates.blocking_recv().expect("worker alive") {
            Update::Done { generation: g, .. } if g == generation => return,
            Update::Failed { error, .. } => panic!("sweep failed: {error}"),
            _ => {}
        }
    };
    let mut group = c.benchmark_group("toggle");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    for depth in [50, 200] {
        let (job_tx, job_rx) = mpsc::channel(8);
        let (update_tx, mut updates) = mpsc::channel(1024);
        worker::spawn(job_rx, update_tx).expect("worker thread");
        let mut generation = 0;
        let mut cfg = LabConfig {
            depth,
            ..LabConfig::default()
        };
        let send = |cfg: &LabConfig, generation: u64| {
            job_tx
                .blocking_send(Job::Sweep {
                    generation,
                    side: Side::A,
                    cfg: cfg.clone(),
                    until: None,
                })
                .expect("worker takes jobs");
        };
        // The sweep the toggle interrupts draws the weights.
        generation += 1;
        send(&cfg, generation);
        wait_done(&mut updates, generation);
        group.bench_function(format!("bn_toggle_redraw_depth{depth}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    cfg.bn = !cfg.bn;
                    generation += 1;
                    let start = Instant::now();
                    send(&cfg, generation);
                    wait_done(&mut updates, generation);
                    total += start.elapsed();
                }
                total
            })
        });
    }
    group.finish();
}

fn autograd(c: &mut Criterion) {
    // Reverse mode needs one backward pass per depth (quadratic in depth), so compare both
    // on one net up to depth 50; the ratio carries over per net.
    let one = LabConfig {
        depth: 50,
        nets: 1,
        ..paper()
    };
    let mut group = c.benchmark_group("per_net");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
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
    group.finish();
}

criterion_group!(
    benches,
    gemm_peak,
    sweeps,
    matmuls,
    draws,
    toggle_redraw,
    autograd
);
criterion_main!(benches);
