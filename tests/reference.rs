//! The paper preset against reference values from an independent simulation of it: lag-1
//! autocorrelation r(1), mean ± standard error over random nets, compared with
//! |ours - ref| <= max(0.05, 3 sqrt(se_ref^2 + se_ours^2)).

use candle_core::Device;
use shatterlab::config::{Arch, LabConfig};
use shatterlab::lab::sweep::{DepthStats, sweep};

fn lag1_by_depth(cfg: &LabConfig) -> Vec<DepthStats> {
    let mut out = Vec::new();
    sweep(cfg, Device::Cpu, |d| {
        out.push(d.stats);
        std::ops::ControlFlow::Continue(())
    })
    .unwrap();
    out
}

fn check(label: &str, stats: &DepthStats, reference: f64, reference_se: f64) {
    let (ours, se) = (stats.acf[1], stats.acf_se[1]);
    let tol = f64::max(0.05, 3.0 * (reference_se.powi(2) + se.powi(2)).sqrt());
    assert!(
        (ours - reference).abs() <= tol,
        "{label} L={}: r(1) = {ours:.3} ± {se:.3}, reference {reference} ± {reference_se} (tolerance {tol:.3})",
        stats.depth
    );
}

fn preset(arch: Arch, bn: bool, beta: f64, depth: usize, nets: usize) -> LabConfig {
    LabConfig {
        arch,
        bn,
        beta,
        depth,
        nets,
        seed: 2017,
        ..LabConfig::default()
    }
}

#[test]
fn feedforward_with_batch_norm_turns_white_by_depth_sixteen() {
    let s = lag1_by_depth(&preset(Arch::Ff, true, 1.0, 24, 40));
    for (depth, r, se) in [
        (1, 0.973, 0.005),
        (2, 0.956, 0.006),
        (4, 0.884, 0.004),
        (8, 0.616, 0.007),
        (12, 0.215, 0.008),
        (24, -0.03, 0.02),
    ] {
        check("ff+BN", &s[depth - 1], r, se);
    }
}

#[test]
fn feedforward_without_batch_norm_stays_smooth() {
    let s = lag1_by_depth(&preset(Arch::Ff, false, 1.0, 24, 40));
    check("ff", &s[23], 0.854, 0.020);
    // most last-layer units are always on or always off over the grid (reference: ~76%)
    assert!(
        (s[23].saturated_fraction - 0.76).abs() < 0.1,
        "{}",
        s[23].saturated_fraction
    );
}

#[test]
fn resnet_with_batch_norm_decays_slowly() {
    let s = lag1_by_depth(&preset(Arch::Res, true, 1.0, 50, 40));
    for (depth, r, se) in [(10, 0.680, 0.022), (24, 0.585, 0.025), (50, 0.474, 0.026)] {
        check("res+BN β=1", &s[depth - 1], r, se);
    }
}

#[test]
fn beta_rescaling_keeps_deep_resnets_smooth() {
    for (beta, r, se) in [(0.5, 0.520, 0.026), (0.1, 0.799, 0.018)] {
        let s = lag1_by_depth(&preset(Arch::Res, true, beta, 50, 40));
        check(&format!("res+BN β={beta}"), &s[49], r, se);
    }
}
