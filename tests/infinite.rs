//! The infinite-width limit against the lab's finite nets: the closed form where there is
//! one, the Monte Carlo of very wide nets elsewhere.

use std::ops::ControlFlow;

use candle_core::Device;
use shatterlab::config::{Arch, BnGrad, Inputs, LabConfig};
use shatterlab::lab::infinite::{Limit, WideNets};
use shatterlab::lab::readout::PairStats;
use shatterlab::lab::sweep::sweep;

fn integrated(cfg: &LabConfig) -> Vec<PairStats> {
    let mut out = Vec::new();
    sweep(cfg, Device::Cpu, |d| {
        out.push(d.stats.integrated);
        ControlFlow::Continue(())
    })
    .unwrap();
    out
}

fn wide(cfg: &LabConfig, width: usize, nets: usize) -> Vec<PairStats> {
    Limit::monte_carlo(cfg, WideNets { width, nets }, |_| ControlFlow::Continue(()))
        .unwrap()
        .unwrap()
        .depths
}

/// |a - b| within 3 combined standard errors, for the far and neighbour correlations.
fn assert_close(what: &str, depths: &[usize], a: &[PairStats], b: &[PairStats]) {
    for &d in depths {
        let (x, y) = (&a[d - 1], &b[d - 1]);
        for (name, u, su, v, sv) in [
            ("corr_far", x.corr_far, x.corr_far_se, y.corr_far, y.corr_far_se),
            (
                "corr_neighbor",
                x.corr_neighbor,
                x.corr_neighbor_se,
                y.corr_neighbor,
                y.corr_neighbor_se,
            ),
        ] {
            let se = (su * su + sv * sv).sqrt();
            eprintln!("{what} depth {d} {name}: {u:.4} ± {su:.4} vs {v:.4} ± {sv:.4}");
            assert!(
                (u - v).abs() <= 3.0 * se,
                "{what} depth {d} {name}: {u} ± {su} vs {v} ± {sv}"
            );
        }
    }
}

fn small(arch: Arch, bn: bool, beta: f64) -> LabConfig {
    LabConfig {
        arch,
        bn,
        beta,
        points: 32,
        depth: 50,
        ..LabConfig::default()
    }
}

#[test]
fn feedforward_without_bn_nets_of_width_200_match_the_closed_form_at_every_depth() {
    let cfg = LabConfig {
        nets: 20,
        ..small(Arch::Ff, false, 1.0)
    };
    let exact = Limit::closed_form(&cfg).unwrap().depths;
    let nets = integrated(&cfg);
    let all: Vec<usize> = (1..=50).collect();
    assert_close("ff width 200", &all, &nets, &exact);
}

#[test]
fn the_monte_carlo_meets_the_closed_form() {
    let cfg = small(Arch::Ff, false, 1.0);
    let exact = Limit::closed_form(&cfg).unwrap().depths;
    let sampled = wide(&cfg, 4096, 8);
    assert_close("ff wide", &[1, 2, 5, 10, 25, 50], &sampled, &exact);
}

#[test]
fn resnets_and_batch_norm_of_width_800_match_the_monte_carlo() {
    for (arch, bn, beta) in [
        (Arch::Res, true, 1.0),
        (Arch::Res, true, 0.5),
        (Arch::Res, true, 0.1),
        (Arch::Res, false, 1.0),
        (Arch::Ff, true, 1.0),
    ] {
        let cfg = small(arch, bn, beta);
        let limit = wide(&cfg, 4096, 8);
        let nets = integrated(&LabConfig {
            width: 800,
            nets: 10,
            ..cfg.clone()
        });
        let what = format!("{arch:?} bn={bn} β={beta}");
        assert_close(&what, &[2, 10, 25, 50], &nets, &limit);
    }
}
