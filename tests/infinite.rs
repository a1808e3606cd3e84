//! The infinite-width limit against the lab's finite nets: the closed form where there is
//! one, the Monte Carlo of very wide nets elsewhere. Small grids (16 to 32 points) keep each
//! test to seconds; docs/theory-infinite-width.md has the preset-size figures.

use std::ops::ControlFlow;

use candle_core::Device;
use shatterlab::config::{Activation, Arch, BnGrad, Init, Inputs, LabConfig};
use shatterlab::lab::infinite::{Limit, Method, WideNets};
use shatterlab::lab::readout::PairStats;
use shatterlab::lab::sweep::sweep;
use shatterlab::lab::theory::{Model, moments};

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
    let limit = Limit::monte_carlo(cfg, WideNets { width, nets }, |_| ControlFlow::Continue(()))
        .unwrap()
        .unwrap();
    assert_eq!(limit.method, Method::MonteCarlo);
    limit.depths
}

fn exact(cfg: &LabConfig) -> Vec<PairStats> {
    let limit = Limit::closed_form(cfg).expect("a closed form");
    assert_eq!(limit.method, Method::ClosedForm);
    limit.depths
}

/// |a - b| within 3 combined standard errors, for the far and neighbour correlations.
fn assert_close(what: &str, depths: &[usize], a: &[PairStats], b: &[PairStats]) {
    for &d in depths {
        let (x, y) = (&a[d - 1], &b[d - 1]);
        for (name, u, su, v, sv) in [
            (
                "corr_far",
                x.corr_far,
                x.corr_far_se,
                y.corr_far,
                y.corr_far_se,
            ),
            (
                "corr_neighbor",
                x.corr_neighbor,
                x.corr_neighbor_se,
                y.corr_neighbor,
                y.corr_neighbor_se,
            ),
        ] {
            let se = (su * su + sv * sv).sqrt();
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
fn feedforward_nets_without_bn_of_width_200_match_the_closed_form_at_every_depth() {
    let all: Vec<usize> = (1..=50).collect();
    let base = small(Arch::Ff, false, 1.0);
    for cfg in [
        base.clone(),
        LabConfig {
            act: Activation::Crelu,
            ..base.clone()
        },
        LabConfig {
            init: Init::Orthogonal,
            ..base.clone()
        },
        LabConfig {
            init: Init::Glorot,
            ..base.clone()
        },
        LabConfig {
            first_bias: false,
            ..base.clone()
        },
    ] {
        let what = format!(
            "{:?} {:?} bias={} {:?}",
            cfg.act, cfg.init, cfg.first_bias, cfg.inputs
        );
        assert_close(&what, &all, &integrated(&cfg), &exact(&cfg));
    }
}

#[test]
fn feedforward_nets_with_independent_inputs_of_width_800_match_the_closed_form() {
    // Their finite-width gap is about 2.5 / width at every depth (`grad --widths`): larger
    // than the standard errors of nets of width 200 beyond depth 20, so wider nets here.
    let cfg = LabConfig {
        inputs: Inputs::Independent,
        points: 16,
        ..small(Arch::Ff, false, 1.0)
    };
    let nets = integrated(&LabConfig {
        width: 800,
        nets: 8,
        ..cfg.clone()
    });
    assert_close("independent", &[1, 2, 5, 10, 26, 50], &nets, &exact(&cfg));
}

#[test]
fn looks_linear_nets_without_bn_match_their_linear_closed_form() {
    for arch in [Arch::Ff, Arch::Res] {
        let cfg = LabConfig {
            act: Activation::Crelu,
            init: Init::Ll,
            depth: 10,
            nets: 10,
            ..small(arch, false, 0.5)
        };
        let (nets, limit) = (integrated(&cfg), exact(&cfg));
        let depths = [1, 2, 5, 10];
        assert_close(&format!("LL {arch:?}"), &depths, &nets, &limit);
        for d in depths {
            let (n, l) = (&nets[d - 1], &limit[d - 1]);
            assert!(
                (n.grad_var - l.grad_var).abs() <= 3.0 * n.grad_var_se,
                "LL {arch:?} depth {d} grad_var: {} ± {} vs {}",
                n.grad_var,
                n.grad_var_se,
                l.grad_var
            );
        }
    }
    // The feedforward net is linear: every pair fully correlated, E[g^2] = E[w^2] = 2.
    let ff = exact(&LabConfig {
        act: Activation::Crelu,
        init: Init::Ll,
        ..small(Arch::Ff, false, 1.0)
    });
    assert!(ff.iter().all(|s| s.corr_far == 1.0 && s.grad_var == 2.0));
}

#[test]
fn the_monte_carlo_meets_the_closed_form() {
    let cfg = small(Arch::Ff, false, 1.0);
    let sampled = Limit::monte_carlo(
        &cfg,
        WideNets {
            width: 2048,
            nets: 8,
        },
        |_| ControlFlow::Continue(()),
    )
    .unwrap()
    .unwrap();
    let exact = Limit::closed_form(&cfg).unwrap();
    assert_close(
        "ff wide",
        &[1, 2, 5, 10, 25, 50],
        &sampled.depths,
        &exact.depths,
    );
    // Their heatmaps: the same blocks, cells apart by the Monte Carlo's noise.
    for d in [1, 2, 5, 10] {
        let (s, e) = (&sampled.heat[d - 1], &exact.heat[d - 1]);
        assert_eq!((s.side, e.side), (32, 32));
        let gap = s
            .cells
            .iter()
            .zip(&e.cells)
            .map(|(a, b)| (a - b).abs())
            .sum::<f64>()
            / s.cells.len() as f64;
        eprintln!("depth {d}: mean |heat gap| {gap}");
        assert!(gap < 0.03, "depth {d}: mean |heat gap| {gap}");
    }
}

/// The Monte Carlo at width 2048 against 10 nets of width 800, on 16 points.
fn check_against_width_800(cfg: LabConfig) {
    let cfg = LabConfig { points: 16, ..cfg };
    let limit = wide(&cfg, 2048, 8);
    let nets = integrated(&LabConfig {
        width: 800,
        nets: 10,
        ..cfg.clone()
    });
    let what = format!("{:?} bn={} β={}", cfg.arch, cfg.bn, cfg.beta);
    assert_close(&what, &[1, 2, 10, 25, 50], &nets, &limit);
}

#[test]
fn resnets_with_bn_of_width_800_match_the_monte_carlo_at_beta_one() {
    check_against_width_800(small(Arch::Res, true, 1.0));
}

#[test]
fn resnets_with_bn_of_width_800_match_the_monte_carlo_at_beta_one_half() {
    check_against_width_800(small(Arch::Res, true, 0.5));
}

#[test]
fn resnets_with_bn_of_width_800_match_the_monte_carlo_at_beta_one_tenth() {
    check_against_width_800(small(Arch::Res, true, 0.1));
}

#[test]
fn resnets_without_bn_and_feedforward_with_bn_of_width_800_match_the_monte_carlo() {
    check_against_width_800(small(Arch::Res, false, 1.0));
    check_against_width_800(small(Arch::Ff, true, 1.0));
}

#[test]
fn gradients_through_the_batch_statistics_match_the_monte_carlo() {
    let cfg = LabConfig {
        points: 8,
        depth: 10,
        bn_grad: BnGrad::Through,
        ..small(Arch::Ff, true, 1.0)
    };
    let limit = wide(&cfg, 2048, 8);
    let nets = integrated(&LabConfig {
        width: 800,
        nets: 20,
        ..cfg.clone()
    });
    assert_close("through", &[1, 2, 5, 10], &nets, &limit);
    // Through the statistics is not frozen: the limits differ.
    let frozen = wide(
        &LabConfig {
            bn_grad: BnGrad::Frozen,
            ..cfg.clone()
        },
        2048,
        8,
    );
    let (t, f) = (&limit[1], &frozen[1]);
    let se = (t.corr_neighbor_se.powi(2) + f.corr_neighbor_se.powi(2)).sqrt();
    assert!(
        (t.corr_neighbor - f.corr_neighbor).abs() > 3.0 * se,
        "{} vs {}",
        t.corr_neighbor,
        f.corr_neighbor
    );
}

#[test]
fn with_independent_inputs_the_resnet_limit_meets_the_centred_theorem_three() {
    // As tests/independent.rs holds the nets: β = 0.1 near Theorem 3's 0.80, β = 0.5 and 1
    // on the centred product, within max(0.02, 3 se). Batch norm over fewer points moves
    // the limit (0.76 at 16 points for β = 0.1), hence 64.
    for beta in [0.1, 0.5, 1.0] {
        let cfg = LabConfig {
            points: 64,
            inputs: Inputs::Independent,
            ..small(Arch::Res, true, beta)
        };
        let far = &wide(&cfg, 1024, 8)[49];
        let want = if beta == 0.1 {
            0.80
        } else {
            moments(Model::ResnetBnCentred, 50, beta).correlation()
        };
        let allowed = 0.02f64.max(3.0 * far.corr_far_se);
        assert!(
            (far.corr_far - want).abs() <= allowed,
            "β={beta}: {} ± {}, expected {want}",
            far.corr_far,
            far.corr_far_se
        );
    }
}

#[test]
fn the_screens_limit_serves_the_settings_it_was_computed_for() {
    let cfg = LabConfig {
        bn: false,
        points: 16,
        depth: 4,
        ..LabConfig::default()
    };
    let limit = Limit::for_screen(&cfg, |_| ControlFlow::Continue(())).unwrap();
    assert_eq!(limit.method, Method::ClosedForm);
    // Width, nets and seed do not change a closed form; depth does.
    assert!(limit.serves(&LabConfig {
        width: 50,
        nets: 3,
        seed: 9,
        ..cfg.clone()
    }));
    assert!(!limit.serves(&LabConfig {
        depth: 5,
        ..cfg.clone()
    }));
    // With batch norm the screen runs a Monte Carlo, which stops when told to.
    let bn = LabConfig { bn: true, ..cfg };
    assert!(Limit::for_screen(&bn, |_| ControlFlow::Break(())).is_none());
    let sampled = Limit::for_screen(&bn, |_| ControlFlow::Continue(())).unwrap();
    assert_eq!(sampled.method, Method::MonteCarlo);
    assert_eq!(sampled.depths.len(), 4);
    assert!(sampled.serves(&bn) && !sampled.serves(&LabConfig { seed: 1, ..bn }));
}
