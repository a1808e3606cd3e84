//! Training throughput of the paper's conv nets, CPU kernels and candle's ops in one run, and
//! the machine's GEMM peak, so the table compares as ratios measured side by side.
//!
//! Run: `cargo bench --bench train` (all cells), or with a filter on the cell names, e.g.
//! `cargo bench --bench train -- fast` or `-- d20_resnet_bn`. Inputs are fixed random images (no
//! augmentation, no data loading), Adam, f32, test evaluation excluded, as in
//! `scripts/bench_pytorch.py`.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use candle_core::Device;
use criterion::{Criterion, SamplingMode};
use shatterlab::config::Activation;
use shatterlab::kernels::Kernels;
use shatterlab::kernels::net::FastNet;
use shatterlab::nets::conv::{ConvInit, ConvNetConfig};
use shatterlab::nets::init::WeightRng;
use shatterlab::train::config::TrainConfig;
use shatterlab::train::trainer::Engine;

const DEPTHS: [usize; 4] = [8, 20, 50, 110];
const BATCHES: [usize; 2] = [64, 128];
/// Side of the square f32 GEMM that measures the peak.
const PEAK_SIDE: usize = 1536;
/// Criterion samples per fast-path cell, each the mean step time of a few steps.
const SAMPLES: usize = 10;
/// Timed candle steps per cell (it is slow; one more step warms it up).
const CANDLE_STEPS: u32 = 2;

/// The three nets of the table: its name, the cell name (plain characters, since criterion
/// reads a filter as a regular expression), and the net.
#[allow(clippy::type_complexity)]
fn nets() -> [(&'static str, &'static str, Activation, ConvInit, bool, bool); 3] {
    [
        (
            "plain",
            "plain",
            Activation::Relu,
            ConvInit::He,
            false,
            false,
        ),
        (
            "resnet+BN",
            "resnet_bn",
            Activation::Relu,
            ConvInit::He,
            true,
            true,
        ),
        (
            "CReLU+LL",
            "crelu_ll",
            Activation::Crelu,
            ConvInit::Ll,
            true,
            false,
        ),
    ]
}

fn config(depth: usize, net: usize, batch: usize, kernels: Kernels) -> TrainConfig {
    let (_, _, act, init, bn, skip) = nets()[net];
    TrainConfig {
        net: ConvNetConfig {
            depth,
            act,
            init,
            bn,
            skip,
        },
        batch,
        kernels,
        ..TrainConfig::default()
    }
}

/// Multiply-adds x 2 of the convolutions' GEMMs per training image: forward, kernel
/// gradient, and input gradient (not for the stem).
fn gemm_flops_per_image(cfg: &ConvNetConfig) -> f64 {
    let mut side = 32;
    let mut flops = 0.0;
    for (i, l) in cfg.layers().iter().enumerate() {
        side = (side - 1) / l.stride + 1;
        let fwd = 2.0 * (side * side * 9 * l.in_channels * l.filters) as f64;
        flops += fwd * if i == 0 { 2.0 } else { 3.0 };
    }
    flops
}

/// Bytes the kernels' path holds while training at `batch`: the net's buffers plus Adam's
/// two moments per parameter.
fn fast_memory(cfg: &ConvNetConfig, batch: usize) -> usize {
    let mut net = FastNet::<f32>::new(cfg, batch, 2);
    let params = net.params_and_grads().0.len();
    net.bytes() + 2 * params * std::mem::size_of::<f32>()
}

/// Seconds per step of `engine` on fixed random images, over `steps` steps.
fn time_steps(engine: &mut Engine, batch: usize, steps: u32) -> Duration {
    let images = WeightRng::new(1, 2).gaussian(batch * 3 * 32 * 32, 1.0);
    let images: Vec<f32> = images.iter().map(|&v| v as f32).collect();
    let labels: Vec<u32> = (0..batch as u32).map(|i| i % 10).collect();
    let start = Instant::now();
    for _ in 0..steps {
        engine
            .train_step(images.clone(), labels.clone(), 1e-3)
            .expect("step");
    }
    start.elapsed()
}

/// GFLOP/s of one large square f32 GEMM on both cores.
fn gemm_peak(c: &mut Criterion) -> Option<f64> {
    let n = PEAK_SIDE;
    let a = vec![1.0f32; n * n];
    let mut out = vec![0.0f32; n * n];
    let best = RefCell::new(f64::INFINITY);
    let mut group = c.benchmark_group("gemm");
    group.sample_size(10);
    group.bench_function(format!("peak_f32_{n}"), |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                shatterlab::kernels::gemm::matmul(
                    &mut out,
                    &a,
                    shatterlab::kernels::gemm::Op::N,
                    &a,
                    shatterlab::kernels::gemm::Op::N,
                    (n, n, n),
                    false,
                    2,
                );
            }
            let t = start.elapsed();
            let mut best = best.borrow_mut();
            *best = best.min(t.as_secs_f64() / iters as f64);
            t
        })
    });
    group.finish();
    let best = best.into_inner();
    best.is_finite()
        .then(|| 2.0 * (n * n * n) as f64 / best / 1e9)
}

/// The median of the last `n` of `values`: criterion calls the routine for its warm-up
/// first, then once per sample. The median, not the best, is what `bench_pytorch.py` reports
/// too (the best of noisy samples flatters whichever side had the luckier one).
fn median_of_last(mut values: Vec<f64>, n: usize) -> Option<f64> {
    let tail = values.split_off(values.len().saturating_sub(n));
    let mut tail: Vec<f64> = tail.into_iter().filter(|v| v.is_finite()).collect();
    tail.sort_by(f64::total_cmp);
    let mid = tail.len() / 2;
    match tail.len() {
        0 => None,
        len if len % 2 == 1 => Some(tail[mid]),
        _ => Some((tail[mid - 1] + tail[mid]) / 2.0),
    }
}

fn matches(filter: &Option<String>, name: &str) -> bool {
    filter.as_ref().is_none_or(|f| name.contains(f.as_str()))
}

fn main() {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    let peak = if matches(&filter, "gemm") {
        gemm_peak(&mut c)
    } else {
        None
    };
    let mut rows = Vec::new();
    for (net, (name, cell_name, ..)) in nets().iter().enumerate() {
        for depth in DEPTHS {
            for batch in BATCHES {
                let cell = format!("d{depth}_{cell_name}_b{batch}");
                let cfg = config(depth, net, batch, Kernels::Fast);
                let flops = gemm_flops_per_image(&cfg.net);
                let mut fast_rate = None;
                if matches(&filter, &format!("fast/{cell}")) {
                    let mut engine = Engine::new(&cfg, &Device::Cpu).expect("engine");
                    let samples = RefCell::new(Vec::new());
                    let mut group = c.benchmark_group("fast");
                    group.sample_size(SAMPLES).sampling_mode(SamplingMode::Flat);
                    group.bench_function(&cell, |b| {
                        b.iter_custom(|iters| {
                            let t = time_steps(&mut engine, batch, iters as u32);
                            samples.borrow_mut().push(t.as_secs_f64() / iters as f64);
                            t
                        })
                    });
                    group.finish();
                    fast_rate = median_of_last(samples.into_inner(), SAMPLES)
                        .map(|step| batch as f64 / step);
                }
                let mut candle_rate = None;
                if matches(&filter, &format!("candle/{cell}")) {
                    let cfg = config(depth, net, batch, Kernels::Candle);
                    let mut engine = Engine::new(&cfg, &Device::Cpu).expect("engine");
                    time_steps(&mut engine, batch, 1);
                    let t = time_steps(&mut engine, batch, CANDLE_STEPS);
                    let rate = batch as f64 * f64::from(CANDLE_STEPS) / t.as_secs_f64();
                    println!("candle/{cell}: {rate:.0} images/s ({CANDLE_STEPS} steps)");
                    candle_rate = Some(rate);
                }
                if fast_rate.is_some() || candle_rate.is_some() {
                    let mib = fast_memory(&cfg.net, batch) as f64 / f64::from(1 << 20);
                    rows.push((depth, *name, batch, flops, fast_rate, candle_rate, mib));
                }
            }
        }
    }
    println!();
    match peak {
        Some(p) => println!("GEMM peak ({PEAK_SIDE}^3 f32, 2 threads): {p:.1} GFLOP/s"),
        None => println!("GEMM peak: not measured (filter)"),
    }
    println!(
        "| depth | net | batch | fast img/s | candle img/s | fast/candle | fast GFLOP/s | of peak | fast MiB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let show = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.0}"));
    for (depth, name, batch, flops, fast, candle, mib) in rows {
        let ratio = fast
            .zip(candle)
            .map_or("-".into(), |(f, c)| format!("{:.1}x", f / c));
        let gflops = fast.map(|f| f * flops / 1e9);
        let of_peak = gflops
            .zip(peak)
            .map_or("-".into(), |(g, p)| format!("{:.0}%", 100.0 * g / p));
        println!(
            "| {depth} | {name} | {batch} | {} | {} | {ratio} | {} | {of_peak} | {mib:.0} |",
            show(fast),
            show(candle),
            gflops.map_or("-".into(), |g| format!("{g:.1}")),
        );
    }
}
