//! Independent-inputs mode: a real resnet with batch norm, fed inputs whose layer-1
//! gradients are identical (the theorems' assumption), tracks the theory.

use std::ops::ControlFlow;

use candle_core::Device;
use shatterlab::config::{Arch, Inputs, LabConfig};
use shatterlab::lab::sweep::{DepthStats, sweep};
use shatterlab::lab::theory::{Model, moments};

fn sweep_stats(cfg: &LabConfig) -> Vec<DepthStats> {
    let mut out = Vec::new();
    sweep(cfg, Device::Cpu, |d| {
        out.push(d.stats);
        ControlFlow::Continue(())
    })
    .unwrap();
    out
}

fn independent(arch: Arch, beta: f64, depth: usize) -> LabConfig {
    LabConfig {
        arch,
        beta,
        depth,
        inputs: Inputs::Independent,
        ..LabConfig::default()
    }
}

#[test]
fn layer_one_gradients_are_identical_for_a_resnet_and_half_shared_for_feedforward() {
    let res = sweep_stats(&LabConfig {
        width: 32,
        points: 32,
        nets: 4,
        ..independent(Arch::Res, 1.0, 1)
    });
    assert!((res[0].integrated.corr_far - 1.0).abs() < 1e-12);
    assert!((res[0].random.corr_far - 1.0).abs() < 1e-12);
    // feedforward rectifies layer 1: independent masks, R = 1/2 (Theorem 1 at depth 1)
    let ff = sweep_stats(&LabConfig {
        width: 200,
        points: 64,
        nets: 40,
        ..independent(Arch::Ff, 1.0, 1)
    });
    let far = &ff[0].integrated;
    assert!(
        (far.corr_far - 0.5).abs() <= 3.0 * far.corr_far_se,
        "{} ± {}",
        far.corr_far,
        far.corr_far_se
    );
}
