use shatterlab::config::LabConfig;
use shatterlab::lab::forward::ForwardEngine;
use shatterlab::lab::sweep::DepthResult;
use std::time::Instant;
fn main() {
    let cfg = LabConfig { depth: 200, ..LabConfig::default() };
    let t0 = Instant::now();
    let mut e = ForwardEngine::new(&cfg, candle_core::Device::Cpu).unwrap();
    let mut step = 0.0; let mut sum = 0.0;
    for _ in 0..cfg.depth {
        let t = Instant::now();
        let out = e.step().unwrap();
        step += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let _ = DepthResult::from_layer(out, cfg.points);
        sum += t.elapsed().as_secs_f64();
    }
    println!("total {:.2} step {:.2} stats {:.2}", t0.elapsed().as_secs_f64(), step, sum);
}
