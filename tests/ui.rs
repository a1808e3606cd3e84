//! The lab's UI without a terminal: `update` driven through key sequences, snapshots of
//! `render` on states fed with canned worker updates (real sweeps of a tiny seeded
//! config, no threads, no clock), and the worker protocol on its own thread.

mod common;

use std::ops::ControlFlow;
use std::time::Duration;

use crossterm::event::KeyCode;
use shatterlab::config::{Activation, Arch, ColorMode, Init, LabConfig, MarkerKind};
use shatterlab::lab::depth_curves::Idealised;
use shatterlab::lab::infinite::Limit;
use shatterlab::lab::summary::DepthView;
use shatterlab::lab::sweep::sweep;
use shatterlab::ui::app::{Action, State, update};
use shatterlab::ui::effect::Effect;
use shatterlab::ui::keys::command_for;
use shatterlab::ui::lab::{Pairing, Pane, Preset, Toggle};
use shatterlab::ui::script::{Script, Step};
use shatterlab::ui::theme::Theme;
use shatterlab::worker::sweep::{Job, Side, Update};

use common::ui::{SIZES, draw, key, press_keys, theme, tiny};

/// The sweep jobs among `effects`; the lab tab asks nothing of the training worker.
fn sweeps(effects: Vec<Effect>) -> Vec<Job> {
    effects
        .into_iter()
        .map(|e| match e {
            Effect::Sweep(job) => job,
            other => panic!("not a sweep job: {other:?}"),
        })
        .collect()
}

/// `State::new` with its start-up sweep jobs.
fn new_state(cfg: LabConfig, theme: Theme) -> (State, Vec<Job>) {
    let (state, effects) = State::new(cfg, theme);
    (state, sweeps(effects))
}

/// Every depth of a sweep of `cfg`, reduced as the worker does.
fn views(cfg: &LabConfig) -> Vec<DepthView> {
    let mut out = Vec::new();
    sweep(cfg, candle_core::Device::Cpu, |r| {
        out.push(DepthView::new(r, cfg.points));
        ControlFlow::Continue(())
    })
    .unwrap();
    out
}

/// Plays the worker for `jobs` by hand: each sweep's Monte Carlo, its depths up to its bound
/// (or `max`), then Done when it got to the end. Compute times are canned.
fn feed(state: &mut State, jobs: &[Job], max: usize) {
    for job in jobs {
        if let Job::Sweep {
            generation,
            side,
            cfg,
            until,
        } = job
        {
            let limit = until.unwrap_or(usize::MAX).min(max);
            let idealised = Box::new(Idealised::for_lab(cfg));
            let theory = Update::Theory {
                generation: *generation,
                side: *side,
                idealised,
            };
            assert!(update(state, Action::Sweep(theory)).is_empty());
            // The nets' infinite-width limit, as the worker sends it (a closed form where
            // there is one, else the screen's Monte Carlo).
            if let Some(limit) = Limit::for_screen(cfg, |_| ControlFlow::Continue(())) {
                let limit = Update::Limit {
                    generation: *generation,
                    side: *side,
                    limit: Box::new(limit),
                };
                assert!(update(state, Action::Sweep(limit)).is_empty());
            }
            let all = views(cfg);
            let total = all.len();
            for (i, view) in all.into_iter().take(limit).enumerate() {
                let compute = Duration::from_millis(12 * (i as u64 + 1));
                let u = Update::Depth {
                    generation: *generation,
                    side: *side,
                    view: Box::new(view),
                    compute,
                };
                assert!(update(state, Action::Sweep(u)).is_empty());
            }
            if limit >= total {
                let done = Update::Done {
                    generation: *generation,
                    side: *side,
                    compute: Duration::from_millis(12 * total as u64),
                };
                update(state, Action::Sweep(done));
            }
        }
    }
}

/// Presses the keys of `keys` in order; returns their sweep jobs.
fn press(state: &mut State, keys: &str) -> Vec<Job> {
    sweeps(press_keys(state, keys))
}

/// A state with every depth of the start-up sweep in.
fn started(cfg: LabConfig, theme: Theme) -> State {
    let (mut state, jobs) = new_state(cfg, theme);
    feed(&mut state, &jobs, usize::MAX);
    state
}

// ---- update ------------------------------------------------------------------------

#[test]
fn start_up_sweeps_the_configured_settings() {
    let (state, jobs) = new_state(tiny(), theme());
    assert_eq!(
        jobs,
        vec![Job::Sweep {
            generation: 1,
            side: Side::A,
            cfg: tiny(),
            until: None
        }]
    );
    assert!(state.lab.computing());
}

#[test]
fn toggles_restart_with_a_new_generation() {
    let mut state = started(tiny(), theme());
    assert!(!state.lab.computing());
    let jobs = press(&mut state, "s");
    assert_eq!(state.lab.generation, 2);
    assert_eq!(state.lab.cfg.arch, Arch::Res);
    assert!(state.lab.a.depths.is_empty() && state.lab.computing());
    assert!(
        matches!(&jobs[..], [Job::Sweep { generation: 2, side: Side::A, cfg, until: None }] if cfg.arch == Arch::Res)
    );

    press(&mut state, "b");
    assert!(!state.lab.cfg.bn);
    press(&mut state, "l");
    assert_eq!(
        (state.lab.cfg.init, state.lab.cfg.act),
        (Init::Ll, Activation::Crelu)
    );
    press(&mut state, "l");
    assert_eq!(
        (state.lab.cfg.init, state.lab.cfg.act),
        (Init::He, Activation::Relu)
    );
    press(&mut state, "]]");
    assert_eq!(state.lab.cfg.beta, 2.0);
    press(&mut state, "[[[");
    assert_eq!(state.lab.cfg.beta, 0.7);
    press(&mut state, "++");
    assert_eq!(state.lab.cfg.depth, 6);
    press(&mut state, "-");
    assert_eq!(state.lab.cfg.depth, 5);
    press(&mut state, "w");
    assert_eq!(state.lab.cfg.width, 25);
    press(&mut state, "rr");
    assert_eq!(state.lab.cfg.seed, 2);
    assert_eq!(state.lab.generation, 16);
    let jobs = press(&mut state, "R");
    assert_eq!(state.lab.cfg, tiny());
    assert!(matches!(&jobs[..], [Job::Sweep { cfg, .. }] if *cfg == tiny()));
}

#[test]
fn updates_of_older_settings_are_dropped() {
    let (mut state, first) = new_state(tiny(), theme());
    let second = press(&mut state, "s");
    feed(&mut state, &first, usize::MAX);
    assert!(
        state.lab.a.depths.is_empty(),
        "a stale sweep reached the panes"
    );
    assert!(state.lab.computing());
    feed(&mut state, &second, 2);
    assert_eq!(state.lab.a.depths.len(), 2);
    assert_eq!(state.lab.a.compute, Duration::from_millis(24));
    assert!(state.lab.a.depths.iter().all(|d| d.stats.depth <= 2));
}

#[test]
fn pause_and_step_move_the_depth_bound() {
    let (mut state, jobs) = new_state(tiny(), theme());
    feed(&mut state, &jobs, 1);
    let limit = |until| Job::Limit {
        generation: 1,
        side: Side::A,
        until,
    };
    assert_eq!(press(&mut state, " "), vec![limit(Some(2))]);
    assert!(state.lab.paused);
    assert_eq!(press(&mut state, "."), vec![limit(Some(3))]);
    assert_eq!(press(&mut state, "."), vec![limit(Some(4))]);
    // A toggle while paused computes only the first depth of the new settings.
    let jobs = press(&mut state, "b");
    assert!(matches!(
        &jobs[..],
        [Job::Sweep {
            generation: 2,
            until: Some(1),
            ..
        }]
    ));
    feed(&mut state, &jobs, usize::MAX);
    assert_eq!(state.lab.a.depths.len(), 1);
    let resume = press(&mut state, " ");
    assert_eq!(
        resume,
        vec![Job::Limit {
            generation: 2,
            side: Side::A,
            until: None
        }]
    );
    assert!(!state.lab.paused);
}

#[test]
fn ab_view_flips_the_last_toggle_and_cancels_b_when_left() {
    let mut state = started(tiny(), theme());
    let jobs = press(&mut state, "a");
    assert_eq!(state.lab.pairing, Pairing::Flipped(Toggle::Skip));
    let b_cfg = Toggle::Skip.flipped(&tiny());
    assert!(
        matches!(&jobs[..], [Job::Sweep { side: Side::A, .. }, Job::Sweep { side: Side::B, cfg, .. }] if *cfg == b_cfg)
    );
    let jobs = press(&mut state, "b");
    assert_eq!(state.lab.pairing, Pairing::Flipped(Toggle::Bn));
    assert!(!state.lab.cfg.bn);
    assert!(matches!(&jobs[1], Job::Sweep { side: Side::B, cfg, .. } if cfg.bn));
    let jobs = press(&mut state, "a");
    assert!(state.lab.b.is_none());
    assert!(matches!(
        &jobs[..],
        [
            Job::Sweep { side: Side::A, .. },
            Job::Cancel { side: Side::B, .. }
        ]
    ));
}

#[test]
fn views_focus_zoom_and_overlays() {
    let mut state = started(tiny(), theme());
    let tab = command_for(key(KeyCode::Tab)).unwrap();
    assert!(update(&mut state, Action::Key(tab)).is_empty());
    assert_eq!(state.lab.focus, Pane::Acf);
    assert!(press(&mut state, "z").is_empty());
    assert!(state.lab.zoomed);
    assert!(press(&mut state, "?").is_empty());
    assert!(state.help);
    assert!(
        press(&mut state, "s").is_empty(),
        "keys under the help overlay do nothing"
    );
    let esc = command_for(key(KeyCode::Esc)).unwrap();
    update(&mut state, Action::Key(esc));
    assert!(!state.help && state.lab.zoomed);
    update(&mut state, Action::Key(esc));
    assert!(!state.lab.zoomed);
    let left = command_for(key(KeyCode::Left)).unwrap();
    update(&mut state, Action::Key(left));
    assert_eq!(state.lab.shown_depth(), 3);
    press(&mut state, "q");
    assert!(state.quit);
}

#[test]
fn presets_set_the_figures_settings() {
    let mut state = started(tiny(), theme());
    let jobs = press(&mut state, "4");
    assert_eq!(state.lab.preset, Some(Preset::Fig2c));
    assert_eq!(
        (state.lab.cfg.arch, state.lab.cfg.depth, state.lab.cfg.beta),
        (Arch::Res, 50, 0.1)
    );
    assert_eq!((state.lab.focus, state.lab.zoomed), (Pane::Acf, true));
    assert_eq!(state.lab.cfg.width, 16, "presets keep the sizes");
    assert_eq!(jobs.len(), 1);
    let jobs = press(&mut state, "1");
    assert_eq!(state.lab.pairing, Pairing::Fig1);
    assert!(
        matches!(&jobs[1], Job::Sweep { side: Side::B, cfg, .. } if cfg.arch == Arch::Res && cfg.depth == 50)
    );
    press(&mut state, "s");
    assert_eq!(
        (state.lab.preset, state.lab.pairing),
        (None, Pairing::Single)
    );
}

// ---- snapshots ---------------------------------------------------------------------

#[test]
fn snapshot_start_up() {
    let state = started(tiny(), theme());
    for (w, h) in SIZES {
        insta::assert_snapshot!(format!("start_up_{w}x{h}"), draw(&state, w, h));
    }
    let (mut computing, jobs) = new_state(tiny(), theme());
    feed(&mut computing, &jobs, 2);
    insta::assert_snapshot!("start_up_streaming_80x24", draw(&computing, 80, 24));
}

#[test]
fn snapshot_each_pane_zoomed() {
    let mut state = started(tiny(), theme());
    for pane in Pane::ALL {
        state.lab.focus = pane;
        state.lab.zoomed = true;
        for (w, h) in SIZES {
            insta::assert_snapshot!(
                format!("zoom_{pane:?}_{w}x{h}").to_lowercase(),
                draw(&state, w, h)
            );
        }
    }
    state.lab.focus = Pane::Depth;
    press(&mut state, "y");
    insta::assert_snapshot!("zoom_depth_log_80x24", draw(&state, 80, 24));
}

#[test]
fn snapshot_help_overlay() {
    let mut state = started(tiny(), theme());
    press(&mut state, "?");
    for (w, h) in SIZES {
        insta::assert_snapshot!(format!("help_{w}x{h}"), draw(&state, w, h));
    }
}

#[test]
fn snapshot_ab_view() {
    let mut state = started(tiny(), theme());
    let jobs = press(&mut state, "a");
    feed(&mut state, &jobs, usize::MAX);
    for (w, h) in SIZES {
        insta::assert_snapshot!(format!("ab_{w}x{h}"), draw(&state, w, h));
    }
}

#[test]
fn snapshot_figure_1() {
    let mut state = started(tiny(), theme());
    let jobs = press(&mut state, "1");
    feed(&mut state, &jobs, usize::MAX);
    for (w, h) in SIZES {
        insta::assert_snapshot!(format!("figure1_{w}x{h}"), draw(&state, w, h));
    }
}

/// A script's `caption` lines, as the event loop carries them out.
fn run_captions(state: &mut State, script: &str) {
    let script = Script::parse(std::path::Path::new("t.script"), script).unwrap();
    for (_, step) in script.steps {
        let Step::Caption(text) = step else {
            panic!("not a caption: {step:?}");
        };
        state.caption = text;
    }
}

#[test]
fn snapshot_a_script_caption() {
    let mut state = started(tiny(), theme());
    let plain = draw(&state, 80, 24);
    run_captions(
        &mut state,
        "caption \"A 4-layer feedforward net with batch norm: its gradient is already rough # 1\"",
    );
    for (w, h) in SIZES {
        let screen = draw(&state, w, h).to_string();
        assert!(screen.contains("already rough # 1"), "{screen}");
        // Above the status bar and the key hints, which stay.
        let rows: Vec<&str> = screen.lines().collect();
        assert!(rows[rows.len() - 1].contains("? help"), "{screen}");
        assert!(rows[rows.len() - 2].contains("seed 0"), "{screen}");
        insta::assert_snapshot!(format!("caption_{w}x{h}"), draw(&state, w, h));
    }
    run_captions(&mut state, "caption");
    assert_eq!(
        draw(&state, 80, 24),
        plain,
        "an empty caption takes it away"
    );
}

#[test]
fn snapshot_too_small() {
    let state = started(tiny(), theme());
    insta::assert_snapshot!("too_small_79x24", draw(&state, 79, 24));
    insta::assert_snapshot!("too_small_40x10", draw(&state, 40, 10));
}

#[test]
fn snapshot_no_color_heatmap() {
    let theme = Theme::new(ColorMode::Auto, MarkerKind::Braille, Some("1"), None);
    let mut state = started(tiny(), theme);
    state.lab.focus = Pane::Heatmap;
    state.lab.zoomed = true;
    for (w, h) in SIZES {
        let backend = draw(&state, w, h);
        let text = backend.to_string();
        assert!(!text.contains('▀'), "half blocks need colour");
        assert!(text.contains('█'), "the diagonal is fully correlated");
        insta::assert_snapshot!(format!("no_color_heatmap_{w}x{h}"), backend);
    }
}

/// Without colour the curves of one chart keep apart by their glyphs, and each legend
/// entry carries its curve's glyph.
#[test]
fn snapshot_no_color_charts() {
    let theme = Theme::new(ColorMode::Never, MarkerKind::Braille, None, None);
    let mut state = started(LabConfig { depth: 8, ..tiny() }, theme);
    for pane in [Pane::Acf, Pane::Depth] {
        state.lab.focus = pane;
        state.lab.zoomed = true;
        let backend = draw(&state, 80, 24);
        let text = backend.to_string();
        for glyph in ['•', '+'] {
            assert!(
                text.matches(glyph).count() >= 3,
                "{pane:?}: {glyph} in the legend and on the curve"
            );
        }
        insta::assert_snapshot!(format!("no_color_{pane:?}_80x24").to_lowercase(), backend);
    }
}

// ---- worker ------------------------------------------------------------------------

/// The real worker thread: streaming, the depth bound, and supersession by a newer job.
#[test]
fn worker_streams_pauses_and_is_superseded() {
    let (job_tx, job_rx) = tokio::sync::mpsc::channel(8);
    let (update_tx, mut updates) = tokio::sync::mpsc::channel(64);
    shatterlab::worker::sweep::spawn(job_rx, update_tx).unwrap();
    let send = |job| job_tx.blocking_send(job).unwrap();
    let mut next = || updates.blocking_recv().expect("worker alive");

    send(Job::Sweep {
        generation: 1,
        side: Side::B,
        cfg: tiny(),
        until: Some(2),
    });
    // The theorem's Monte Carlo comes first.
    assert!(matches!(next(), Update::Theory { generation: 1, .. }));
    for depth in 1..=2 {
        match next() {
            Update::Depth {
                generation: 1,
                side: Side::B,
                view,
                ..
            } => assert_eq!(view.stats.depth, depth),
            other => panic!("unexpected {other:?}"),
        }
    }
    // Held at depth 2 until the bound moves.
    send(Job::Limit {
        generation: 1,
        side: Side::B,
        until: None,
    });
    let expected = views(&tiny());
    for depth in 3..=4 {
        match next() {
            Update::Depth { view, .. } => assert_eq!(*view, expected[depth - 1]),
            other => panic!("unexpected {other:?}"),
        }
    }
    // The nets' infinite-width limit (a Monte Carlo for batch norm) comes just before Done.
    assert!(matches!(next(), Update::Limit { generation: 1, .. }));
    assert!(matches!(next(), Update::Done { generation: 1, .. }));

    // A long sweep held at depth 1 is abandoned for a newer generation.
    let long = LabConfig {
        depth: 1000,
        ..tiny()
    };
    send(Job::Sweep {
        generation: 2,
        side: Side::A,
        cfg: long,
        until: Some(1),
    });
    // The theorem's Monte Carlo comes first.
    assert!(matches!(next(), Update::Theory { generation: 2, .. }));
    assert!(matches!(next(), Update::Depth { generation: 2, .. }));
    send(Job::Sweep {
        generation: 3,
        side: Side::A,
        cfg: tiny(),
        until: None,
    });
    // The theorem's Monte Carlo comes first.
    assert!(matches!(next(), Update::Theory { generation: 3, .. }));
    let mut depths = 0;
    loop {
        match next() {
            Update::Depth { generation: 3, .. } => depths += 1,
            // Generation 2's other settings dropped the kept limit: a new one comes, after
            // the depths and before Done.
            Update::Limit { generation: 3, .. } => assert_eq!(depths, 4),
            Update::Done { generation: 3, .. } => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(depths, 4);

    // A bound at the last depth does not hold the sweep back from finishing.
    send(Job::Sweep {
        generation: 4,
        side: Side::A,
        cfg: tiny(),
        until: Some(4),
    });
    // The theorem's Monte Carlo comes first.
    assert!(matches!(next(), Update::Theory { generation: 4, .. }));
    // The limit kept from generation 3 goes out before the sweep.
    assert!(matches!(next(), Update::Limit { generation: 4, .. }));
    for _ in 1..=4 {
        assert!(matches!(next(), Update::Depth { generation: 4, .. }));
    }
    assert!(matches!(next(), Update::Done { generation: 4, .. }));
}

/// With colour the heatmap is half blocks whose two colours are the two pixels' values:
/// the top-left cell holds the diagonal, fully correlated, in the colour bar's top level.
#[test]
fn colour_heatmap_uses_half_blocks_coloured_by_correlation() {
    let mut state = started(tiny(), theme());
    state.lab.focus = Pane::Heatmap;
    state.lab.zoomed = true;
    let backend = draw(&state, 80, 24);
    let buf = backend.buffer();
    let corner = &buf[(1, 1)];
    assert_eq!(corner.symbol(), "▀");
    // The colour bar's top swatch stands two columns left of its "+1" label.
    let plus = (0..80).find(|&x| buf[(x, 1)].symbol() == "+").unwrap();
    assert_eq!(corner.fg, buf[(plus - 2, 1)].bg);
}

/// With the nets' infinite-width limit in, the heatmap shows it above the diagonal and
/// leaves the nets' own correlations below it as they were.
#[test]
fn heatmap_shows_the_limit_above_the_diagonal_only() {
    let mut state = started(tiny(), theme());
    assert!(state.lab.a.limit.is_some(), "the feed sends the limit");
    state.lab.focus = Pane::Heatmap;
    state.lab.zoomed = true;
    let with = draw(&state, 80, 24).buffer().clone();
    state.lab.a.limit = None;
    let without = draw(&state, 80, 24).buffer().clone();
    // The matrix: rows 1.., two pixels a row, columns 1..=2 * rows.
    let rows = 22u16;
    let (mut above, mut below) = (0, 0);
    for row in 0..rows {
        for col in 0..2 * rows {
            let (a, b) = (&with[(1 + col, 1 + row)], &without[(1 + col, 1 + row)]);
            // A cell holds pixels 2 row and 2 row + 1 of column col.
            if col < 2 * row {
                assert_eq!(
                    (a.fg, a.bg),
                    (b.fg, b.bg),
                    "below the diagonal: {row},{col}"
                );
                below += 1;
            } else if col > 2 * row + 1 && (a.fg, a.bg) != (b.fg, b.bg) {
                above += 1;
            }
        }
    }
    assert!(
        below > 100 && above > 0,
        "{below} cells below, {above} changed above"
    );
    assert!(
        draw(&state, 80, 24)
            .to_string()
            .contains("correlation · L=")
    );
}

/// A key that would leave the valid settings (here the memory bound of differentiating
/// through batch norm) is refused with the reason, and nothing restarts.
#[test]
fn invalid_settings_are_refused_with_the_reason() {
    let cfg = LabConfig {
        bn_grad: shatterlab::config::BnGrad::Through,
        points: 512,
        nets: 4,
        width: 200,
        ..tiny()
    };
    cfg.validate().unwrap();
    let (mut state, _) = new_state(cfg.clone(), theme());
    assert!(press(&mut state, "w").is_empty());
    assert!(press(&mut state, "l").is_empty(), "CReLU doubles the width");
    assert_eq!((state.lab.cfg.clone(), state.lab.generation), (cfg, 1));
    assert!(
        state
            .notice
            .as_deref()
            .is_some_and(|n| n.contains("bn_grad")),
        "{:?}",
        state.notice
    );
    assert_eq!(press(&mut state, "r").len(), 1);
    assert_eq!(state.notice, None);
}

#[test]
fn a_change_over_the_memory_limit_is_refused_in_the_status_bar() {
    let (mut state, _) = new_state(tiny(), theme());
    let need = |cfg: &LabConfig| shatterlab::budget::sweep(cfg).bytes;
    let wider = LabConfig {
        width: 25,
        ..tiny()
    };
    // Room for the tiny lab, not for the next width.
    state.lab.memory_limit = Some(((need(&tiny()) + need(&wider)) / 2, "--max-memory"));
    assert!(need(&wider) > need(&tiny()));
    assert!(press(&mut state, "w").is_empty());
    assert_eq!((state.lab.cfg.clone(), state.lab.generation), (tiny(), 1));
    let notice = state.notice.clone().unwrap_or_default();
    for needle in ["refused", "width 25", "--max-memory", "lower"] {
        assert!(notice.contains(needle), "{notice:?} lacks {needle:?}");
    }
    // What fits still goes through.
    assert_eq!(press(&mut state, "r").len(), 1);
    assert_eq!(state.notice, None);
}

/// A depth whose numbers became Inf/NaN is named in the status bar, never drawn silently.
#[test]
fn overflow_is_named_in_the_status_bar() {
    let (mut state, jobs) = new_state(tiny(), theme());
    let Job::Sweep {
        generation, side, ..
    } = jobs[0].clone()
    else {
        panic!("a sweep job");
    };
    for mut view in views(&tiny()) {
        view.stats.overflow = view.stats.depth >= 3;
        let u = Update::Depth {
            generation,
            side,
            view: Box::new(view),
            compute: Duration::ZERO,
        };
        update(&mut state, Action::Sweep(u));
    }
    let backend = draw(&state, 120, 40);
    let bar: String = (0..120)
        .map(|x| backend.buffer()[(x, 38)].symbol().to_string())
        .collect();
    assert!(bar.contains("Inf/NaN from depth 3"), "{bar:?}");
}

// ---- axes --------------------------------------------------------------------------

/// An axis's labelled ticks: (row or column, label).
type Ticks = Vec<(f64, String)>;

/// The labelled ticks of every axis drawn in `buf`: for each corner `└`, the y ticks `┤`
/// above it and the x ticks `┬` right of it.
fn axes(buf: &ratatui::buffer::Buffer) -> Vec<(Ticks, Ticks)> {
    let (w, h) = (buf.area.width, buf.area.height);
    let cell = |c: u16, r: u16| buf[(c, r)].symbol().to_string();
    // A label's characters: a number, maybe with a unit.
    let in_label = |c: u16, r: u16| {
        cell(c, r)
            .chars()
            .all(|ch| ch.is_ascii_digit() || "-.eσ%".contains(ch))
            && !cell(c, r).trim().is_empty()
    };
    let token_at = |c: u16, r: u16| -> Option<String> {
        if !in_label(c, r) {
            return None;
        }
        let start = (0..=c).rev().take_while(|&x| in_label(x, r)).last()?;
        let end = (c..w).take_while(|&x| in_label(x, r)).last()?;
        Some((start..=end).map(|x| cell(x, r)).collect())
    };
    let mut out = Vec::new();
    for r in 0..h {
        for c in 0..w {
            if cell(c, r) != "└" || c == 0 || r + 1 >= h {
                continue;
            }
            let y: Ticks = (0..r)
                .rev()
                .take_while(|&row| matches!(cell(c, row).as_str(), "│" | "┤"))
                .filter(|&row| cell(c, row) == "┤")
                .filter_map(|row| token_at(c - 1, row).map(|t| (f64::from(row), t)))
                .collect();
            let x: Ticks = (c + 1..w)
                .take_while(|&col| matches!(cell(col, r).as_str(), "─" | "┬" | "▲"))
                .filter(|&col| cell(col, r) == "┬")
                .filter_map(|col| token_at(col, r + 1).map(|t| (f64::from(col), t)))
                .collect();
            // A frame's corner has no ticks; a chart's axes always have some.
            let ticked = (0..r).any(|row| cell(c, row) == "┤");
            if ticked {
                out.push((y, x));
            }
        }
    }
    out
}

/// Whether the labelled positions are one affine function of the labels' values under
/// `f`, to the cell the value rounds into.
fn at_their_values(
    ticks: &[(f64, String)],
    f: &dyn Fn(f64) -> f64,
    fewest: usize,
) -> Result<(), String> {
    let parsed: Vec<(f64, f64)> = ticks
        .iter()
        .map(|(pos, label)| {
            let number = label.trim_end_matches(['σ', '%']);
            let v: f64 = number.parse().map_err(|_| format!("label {label:?}"))?;
            Ok((*pos, f(v)))
        })
        .collect::<Result<_, String>>()?;
    if parsed.len() < fewest {
        return Err(format!("only {} labels: {ticks:?}", parsed.len()));
    }
    let ((p0, v0), (p1, v1)) = (parsed[0], parsed[parsed.len() - 1]);
    if parsed
        .windows(2)
        .any(|w| (w[1].0 - w[0].0) * (v1 - v0) * (p1 - p0) < 0.0)
    {
        return Err(format!("{ticks:?}: out of order"));
    }
    for &(p, v) in &parsed {
        let expected = p0 + (v - v0) * (p1 - p0) / (v1 - v0);
        if (p - expected).abs() > 1.0 {
            return Err(format!("{ticks:?}: {v} at {p}, expected {expected:.1}"));
        }
    }
    Ok(())
}

/// Every chart's labels stand where their values are: zoomed and in the grid, at both
/// sizes, on the linear, log and symmetric-log views, for the feedforward net and the
/// resnet (whose far correlation crosses zero).
#[test]
fn every_axis_label_sits_at_its_value() {
    let symlog = |v: f64| v.signum() * (v.abs() / 1e-3).ln_1p();
    for cfg in [
        LabConfig {
            depth: 12,
            ..tiny()
        },
        LabConfig {
            arch: Arch::Res,
            depth: 12,
            ..tiny()
        },
    ] {
        let mut state = started(cfg, theme());
        for log in [false, true] {
            if log {
                press(&mut state, "y");
            }
            let mut checked = 0;
            for zoom in [None, Some(Pane::Trace), Some(Pane::Acf), Some(Pane::Depth)] {
                state.lab.zoomed = zoom.is_some();
                state.lab.focus = zoom.unwrap_or(Pane::Trace);
                for (w, h) in SIZES {
                    let screen = draw(&state, w, h);
                    for (y, x) in axes(screen.buffer()) {
                        let linear = at_their_values(&y, &|v| v, 3);
                        let logarithmic = if y.iter().all(|t| !t.1.starts_with('-')) {
                            at_their_values(&y, &|v| v.log10(), 3)
                        } else {
                            at_their_values(&y, &symlog, 3)
                        };
                        assert!(
                            linear.is_ok() || (log && logarithmic.is_ok()),
                            "{w}x{h} {zoom:?} log {log}: {linear:?} / {logarithmic:?}"
                        );
                        at_their_values(&x, &|v| v, 2)
                            .unwrap_or_else(|e| panic!("{w}x{h} {zoom:?} x axis: {e}"));
                        checked += 1;
                    }
                }
            }
            assert!(checked >= 10, "{checked} axes found");
        }
    }
}
