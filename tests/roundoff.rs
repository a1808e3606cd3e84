//! The round-off guard (`lab::roundoff`): depths whose gradients are made of rounding error
//! are flagged, and exact results are not. A looks-linear net is affine at initialisation,
//! so its exact input-gradient is constant at every depth; with batch norm, each layer
//! renormalises the units of a rank-one signal and amplifies the rounding errors until they
//! are all that is left.

use std::ops::ControlFlow;

use shatterlab::config::{Activation, Arch, Init, LabConfig, Precision};
use shatterlab::lab::roundoff::ROUNDOFF_LIMIT;
use shatterlab::lab::sweep::{DepthStats, sweep};

fn stats(cfg: &LabConfig) -> Vec<DepthStats> {
    let mut out = Vec::new();
    sweep(cfg, candle_core::Device::Cpu, |r| {
        out.push(r.stats);
        ControlFlow::Continue(())
    })
    .unwrap();
    out
}

fn looks_linear(bn: bool, dtype: Precision, depth: usize) -> LabConfig {
    LabConfig {
        act: Activation::Crelu,
        init: Init::Ll,
        bn,
        dtype,
        depth,
        nets: 4,
        ..LabConfig::default()
    }
}

/// The first flagged depth, after checking the flag is the error passing the limit.
fn first_flagged(stats: &[DepthStats]) -> Option<usize> {
    for s in stats {
        assert_eq!(
            s.roundoff,
            s.roundoff_error > ROUNDOFF_LIMIT,
            "depth {}",
            s.depth
        );
    }
    stats.iter().find(|s| s.roundoff).map(|s| s.depth)
}

#[test]
fn looks_linear_with_batch_norm_is_flagged_where_rounding_takes_over() {
    // f64: exact to many digits for a dozen layers, then rounding error grows geometrically.
    let f64_stats = stats(&looks_linear(true, Precision::F64, 24));
    let first = first_flagged(&f64_stats).expect("f64 LL + BN flagged by depth 24");
    assert!((12..=18).contains(&first), "f64 flagged from {first}");
    assert!(f64_stats[..8].iter().all(|s| s.roundoff_error < 1e-6));
    // Once rounding has taken over it stays: the deepest layers are all flagged.
    assert!(f64_stats[20..].iter().all(|s| s.roundoff));
    // Where it is flagged, the constant gradient has been drawn as decorrelating.
    let last = f64_stats.last().unwrap();
    assert!(
        last.integrated.corr_far < 0.9,
        "{}",
        last.integrated.corr_far
    );
    // f32 runs out of digits far sooner.
    let f32_first = first_flagged(&stats(&looks_linear(true, Precision::F32, 16)))
        .expect("f32 LL + BN flagged by depth 16");
    assert!(
        (4..=10).contains(&f32_first),
        "f32 flagged from {f32_first}"
    );
    assert!(f32_first < first);
}

#[test]
fn exact_results_are_not_flagged() {
    // Without batch norm the looks-linear gradient stays constant: nothing to flag.
    for dtype in [Precision::F64, Precision::F32] {
        let s = stats(&looks_linear(false, dtype, 30));
        assert_eq!(first_flagged(&s), None, "{dtype:?}");
        let worst = s.iter().map(|s| s.roundoff_error).fold(0.0, f64::max);
        let bound = if dtype == Precision::F64 { 1e-12 } else { 1e-4 };
        assert!(worst < bound, "{dtype:?}: {worst}");
    }
    // Shattered but real: a feedforward ReLU net and a resnet with batch norm.
    let ff = LabConfig {
        bn: true,
        depth: 30,
        nets: 4,
        ..LabConfig::default()
    };
    assert_eq!(first_flagged(&stats(&ff)), None);
    let res = LabConfig {
        arch: Arch::Res,
        dtype: Precision::F32,
        ..ff
    };
    assert_eq!(first_flagged(&stats(&res)), None);
}
