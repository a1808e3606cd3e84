//! The correlation-vs-depth pane: what it draws on the 1-D grid and with independent inputs
//! (snapshots), the estimator and input-mode keys, and the numbers behind it (the theorem
//! against its Monte Carlo).

mod common;

use std::ops::ControlFlow;

use shatterlab::config::{Arch, Inputs, LabConfig};
use shatterlab::lab::depth_curves::{CorrVsDepth, Idealised};
use shatterlab::lab::infinite::Limit;
use shatterlab::lab::readout::Estimator;
use shatterlab::lab::summary::DepthView;
use shatterlab::lab::sweep::sweep;
use shatterlab::ui::app::{Action, State, update};
use shatterlab::ui::effect::Effect;
use shatterlab::ui::lab::Pane;
use shatterlab::worker::sweep::{Job, Update};

use common::ui::{SIZES, draw, press_keys, theme, tiny};

/// A resnet with BN (so Theorem 3 and its centred variant both show), small enough for
/// milliseconds per sweep; 40 nets keep the integrated estimator's se below the curve.
fn resnet() -> LabConfig {
    LabConfig {
        arch: Arch::Res,
        depth: 12,
        width: 32,
        points: 32,
        nets: 40,
        ..tiny()
    }
}

/// Plays the worker for the sweep jobs among `effects`: the Monte Carlo, then every depth.
fn feed(state: &mut State, effects: Vec<Effect>) {
    for effect in effects {
        let Effect::Sweep(Job::Sweep {
            generation,
            side,
            cfg,
            ..
        }) = effect
        else {
            continue;
        };
        let idealised = Box::new(Idealised::for_lab(&cfg));
        let mut updates = vec![Update::Theory {
            generation,
            side,
            idealised,
        }];
        // The nets' infinite-width limit, as the worker sends it.
        updates.extend(
            Limit::for_screen(&cfg, |_| ControlFlow::Continue(())).map(|limit| Update::Limit {
                generation,
                side,
                limit: Box::new(limit),
            }),
        );
        sweep(&cfg, candle_core::Device::Cpu, |r| {
            updates.push(Update::Depth {
                generation,
                side,
                view: Box::new(DepthView::new(r, cfg.points)),
                compute: std::time::Duration::from_millis(5),
            });
            ControlFlow::Continue(())
        })
        .unwrap();
        updates.push(Update::Done {
            generation,
            side,
            compute: std::time::Duration::from_millis(5),
        });
        for u in updates {
            update(state, Action::Sweep(u));
        }
    }
}

/// The depth pane zoomed, every depth of `cfg` in.
fn zoomed_depth_pane(cfg: LabConfig) -> State {
    let (mut state, effects) = State::new(cfg, theme());
    feed(&mut state, effects);
    state.lab.focus = Pane::Depth;
    state.lab.zoomed = true;
    state
}

#[test]
fn snapshot_depth_pane_on_the_grid_and_with_independent_inputs() {
    let mut state = zoomed_depth_pane(resnet());
    for (w, h) in SIZES {
        insta::assert_snapshot!(format!("depth_grid_{w}x{h}"), draw(&state, w, h));
    }
    let effects = press_keys(&mut state, "i");
    assert_eq!(state.lab.cfg.inputs, Inputs::Independent);
    feed(&mut state, effects);
    for (w, h) in SIZES {
        insta::assert_snapshot!(format!("depth_independent_{w}x{h}"), draw(&state, w, h));
    }
    // Unzoomed, the trace and ACF panes say why they have nothing to show.
    state.lab.zoomed = false;
    let text = draw(&state, 120, 40).to_string();
    assert!(text.contains("no spatial order"), "{text}");
}

#[test]
fn the_readout_key_switches_the_estimator_without_a_new_sweep() {
    let mut state = zoomed_depth_pane(resnet());
    assert_eq!(state.lab.estimator, Estimator::Integrated);
    assert!(draw(&state, 80, 24).to_string().contains("integrated"));
    assert!(press_keys(&mut state, "o").is_empty());
    assert_eq!(state.lab.estimator, Estimator::Random);
    let text = draw(&state, 80, 24).to_string();
    assert!(text.contains("random readout"), "{text}");
    // One random readout per net is too noisy for 40 nets: the pane says so.
    assert!(text.contains("raise nets"), "{text}");
    // The heatmap follows, and says which it shows (the limit fills its upper triangle).
    state.lab.zoomed = false;
    let text = draw(&state, 120, 40).to_string();
    assert!(text.contains("corr ◣random v ◥N→∞"), "{text}");
    state.lab.zoomed = true;
    insta::assert_snapshot!("depth_random_readout_80x24", draw(&state, 80, 24));
}

/// The Monte-Carlo markers the pane draws lie within 3 se of the theorem's curve it draws,
/// for each theorem at the paper preset's depth and width.
#[test]
fn theorem_and_monte_carlo_on_screen_agree_within_three_standard_errors() {
    for (arch, bn) in [(Arch::Ff, true), (Arch::Res, false), (Arch::Res, true)] {
        let cfg = LabConfig {
            arch,
            bn,
            ..LabConfig::default()
        };
        let idealised = Idealised::for_lab(&cfg);
        let curves = CorrVsDepth::new(&cfg, &[], Some(&idealised), Estimator::Integrated);
        assert!(curves.monte_carlo.len() >= 5);
        for mc in &curves.monte_carlo {
            let theorem = curves.theorem[mc.depth - 1].1;
            assert!(
                (mc.value - theorem).abs() <= 3.0 * mc.se,
                "{arch:?} bn={bn} L={}: MC {} ± {}, theorem {theorem}",
                mc.depth,
                mc.value,
                mc.se
            );
        }
    }
}

#[test]
fn the_guide_is_the_theorem_scaled_to_the_depth_one_value() {
    let state = zoomed_depth_pane(resnet());
    let run = &state.lab.a;
    let stats: Vec<_> = run.depths.iter().map(|d| &d.stats).collect();
    let curves = CorrVsDepth::new(
        &run.cfg,
        &stats,
        run.idealised.as_ref(),
        Estimator::Integrated,
    );
    let guide = curves.guide.expect("depth 1 is in");
    let first = stats[0].integrated.corr_far;
    for ((l, g), (_, t)) in guide.iter().zip(&curves.theorem) {
        assert!((g - first * t / curves.theorem[0].1).abs() < 1e-12, "L={l}");
    }
    assert!(curves.centred.is_some());
    assert_eq!(curves.too_noisy, None);
}
