//! The headless CLI: reports on stdout, one-line errors with non-zero exits on bad input.

use assert_cmd::Command;
use predicates::prelude::*;

fn lab() -> Command {
    let mut cmd = Command::cargo_bin("shatterlab").unwrap();
    // Run from an empty directory so a developer's ./config.toml cannot leak in.
    cmd.current_dir(std::env::temp_dir());
    cmd
}

/// Runs with `args`, expects failure, and returns stderr, checked to be a single line.
fn error_of(args: &[&str]) -> String {
    let out = lab().args(args).output().unwrap();
    assert!(!out.status.success(), "{args:?} should fail");
    assert!(out.stdout.is_empty(), "{args:?} printed to stdout");
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "{args:?}: not one line: {err:?}"
    );
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn grad_prints_the_documented_json() {
    let out = lab()
        .args([
            "grad", "--arch", "res", "--bn", "--depth", "6", "--width", "16", "--points", "40",
        ])
        .args(["--nets", "3", "--depths", "1,6"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["config"]["arch"], "res");
    assert_eq!(doc["config"]["seed"], 0);
    assert_eq!(doc["config"]["nets"], 3);
    let depths = doc["depths"].as_array().unwrap();
    assert_eq!(depths.len(), 2);
    assert_eq!(depths[1]["depth"], 6);
    // Exactly the fields the README documents, each with its type.
    let fields: std::collections::BTreeSet<&str> = depths[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let documented = [
        "depth",
        "acf",
        "acf_se",
        "grad_var",
        "corr_neighbor",
        "corr_far",
        "grad_var_se",
        "corr_neighbor_se",
        "corr_far_se",
        "corr_by_distance",
        "integrated",
        "active_fraction",
        "saturated_fraction",
        "mean_run_length",
        "overflow",
        "roundoff",
        "roundoff_error",
    ];
    assert_eq!(fields, documented.into_iter().collect());
    for key in [
        "grad_var",
        "corr_neighbor",
        "corr_far",
        "active_fraction",
        "saturated_fraction",
        "mean_run_length",
    ] {
        assert!(depths[0][key].is_f64(), "{key} is not a number");
    }
    assert_eq!(depths[0]["overflow"], false);
    assert_eq!(depths[0]["roundoff"], false);
    assert!(depths[1]["roundoff_error"].as_f64().unwrap() < 1e-6);
    assert_eq!(depths[0]["acf_se"].as_array().unwrap().len(), 33);
    // The config lists every setting, so the report reproduces itself.
    let config = doc["config"].as_object().unwrap();
    for key in [
        "arch",
        "bn",
        "bn_grad",
        "beta",
        "act",
        "init",
        "depth",
        "width",
        "points",
        "x_min",
        "x_max",
        "nets",
        "seed",
        "dtype",
        "first_bias",
        "device",
        "inputs",
    ] {
        assert!(config.contains_key(key), "config lacks {key}");
    }
    assert_eq!(depths[0]["acf"].as_array().unwrap().len(), 33);
    assert_eq!(depths[0]["acf"][0], 1.0);
}

#[test]
fn grad_is_reproducible_and_seed_dependent() {
    let run = |seed: &str| {
        lab()
            .args([
                "grad", "--depth", "3", "--width", "8", "--points", "16", "--nets", "2", "--seed",
                seed,
            ])
            .output()
            .unwrap()
            .stdout
    };
    assert_eq!(run("5"), run("5"));
    assert_ne!(run("5"), run("6"));
}

#[test]
fn grad_writes_csv_atomically_to_a_file() {
    let dir = tempdir();
    let path = dir.join("out.csv");
    lab()
        .args([
            "grad", "--depth", "4", "--width", "8", "--points", "16", "--nets", "2", "--format",
            "csv",
        ])
        .arg("--out")
        .arg(&path)
        .assert()
        .success()
        .stdout("");
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("# config: {"));
    assert!(lines[1].starts_with("depth,grad_var,corr_neighbor"));
    assert_eq!(lines.len(), 2 + 4);
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        1,
        "temporary file left behind"
    );
}

#[test]
fn theory_prints_formula_beside_measurement() {
    let out = lab()
        .args([
            "theory", "--arch", "res", "--bn", "--depth", "50", "--trials", "200", "--depths", "50",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["model"], "resnet_bn");
    let row = &doc["depths"][0];
    let r = row["theorem_correlation"].as_f64().unwrap();
    assert!((r - 0.159).abs() < 5e-4, "{r}");
    assert!(row["monte_carlo"]["c_ij"]["se"].as_f64().unwrap() > 0.0);
    assert!(row["asymptote"].as_f64().is_some());
}

#[test]
fn bad_flags_are_one_line_errors_naming_the_field() {
    let cases: &[(&[&str], &[&str])] = &[
        (&["grad", "--depth", "0"], &["depth", "1..=1000"]),
        (&["grad", "--beta", "-1"], &["beta", ">= 0"]),
        (&["grad", "--width", "0"], &["width"]),
        (
            &["grad", "--init", "xavier"],
            &["--init", "he", "glorot", "orthogonal", "ll"],
        ),
        (&["grad", "--init", "ll"], &["init", "crelu"]),
        (
            &["grad", "--depth", "5", "--depths", "6"],
            &["--depths", "1..=5"],
        ),
        (&["grad", "--format", "xml"], &["--format", "json", "csv"]),
        (&["grad", "--depth", "many"], &["--depth", "many"]),
        // A negative count is the flag's bad value, not an unknown argument `-1`.
        (
            &["grad", "--depth", "-1"],
            &["--depth", "-1", "non-negative"],
        ),
        (
            &["train", "--batch", "-3"],
            &["--batch", "-3", "non-negative"],
        ),
        (
            &["--seed", "-4", "--no-tui"],
            &["--seed", "-4", "non-negative"],
        ),
        (&["theory", "--trials", "1"], &["--trials"]),
        (&["--fps", "0", "--no-tui"], &["--fps"]),
        (
            &["grad", "--device", "gpu"],
            &["--device", "gpu", "auto, cpu, cuda or cuda:N"],
        ),
    ];
    for (args, needles) in cases {
        let err = error_of(args);
        for n in *needles {
            assert!(err.contains(n), "{args:?}: {err:?} lacks {n:?}");
        }
    }
}

#[test]
fn bad_config_files_are_one_line_errors_naming_file_and_key() {
    let dir = tempdir();
    let cases = [
        ("[lab]\ndepht = 3\n", vec!["line 2", "depht"]),
        ("[lab]\ndepth = 0\n", vec!["depth", "1..=1000"]),
        ("[lab]\ndepth = \"x\"\n", vec!["line 2"]),
        ("[lab\n", vec!["line 1"]),
        ("[lab]\ninit = \"ll\"\n", vec!["init", "crelu"]),
        ("[colour]\n", vec!["colour"]),
    ];
    for (i, (text, needles)) in cases.iter().enumerate() {
        let path = dir.join(format!("bad{i}.toml"));
        std::fs::write(&path, text).unwrap();
        let err = error_of(&["grad", "--config", path.to_str().unwrap()]);
        assert!(err.contains(&format!("bad{i}.toml")), "{err}");
        for n in needles {
            assert!(err.contains(n), "{text:?}: {err:?} lacks {n:?}");
        }
    }
    let err = error_of(&["grad", "--config", "/nonexistent/shatterlab.toml"]);
    assert!(err.contains("/nonexistent/shatterlab.toml"));
}

#[test]
fn flags_override_the_config_file() {
    let dir = tempdir();
    let path = dir.join("c.toml");
    std::fs::write(
        &path,
        "[lab]\ndepth = 3\nwidth = 8\npoints = 16\nnets = 2\nseed = 9\n",
    )
    .unwrap();
    let out = lab()
        .args(["grad", "--seed", "4", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["config"]["seed"], 4);
    assert_eq!(doc["config"]["depth"], 3);
    assert_eq!(doc["depths"].as_array().unwrap().len(), 3);
}

#[test]
fn without_a_terminal_the_lab_prints_json() {
    let out = lab()
        .args([
            "--depth", "2", "--width", "8", "--points", "16", "--nets", "2",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["depths"].as_array().unwrap().len(), 2);
}

/// A build without CUDA refuses a GPU in one line saying what to do (exit 1), for every
/// command and from config.toml alike, before any work; `auto` runs on the CPU and the
/// report says so.
#[cfg(not(feature = "cuda"))]
#[test]
fn a_cpu_build_refuses_cuda_saying_what_to_do_and_auto_runs_on_the_cpu() {
    let dir = tempdir();
    let config = dir.join("gpu.toml");
    std::fs::write(&config, "[lab]\ndevice = \"cuda\"\n").unwrap();
    let config = config.to_str().unwrap();
    let cases: &[&[&str]] = &[
        &["grad", "--device", "cuda:1", "--depth", "2"],
        &["--device", "cuda", "--no-tui"],
        &["theory", "--config", config],
        &["figures", "--device", "cuda", "--out", "/nonexistent/figs"],
        // Refused before the (missing) data would be looked at.
        &[
            "train",
            "--device",
            "cuda",
            "--data-dir",
            "/nonexistent/cifar",
        ],
    ];
    for args in cases {
        let out = lab().args(*args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = error_of(args);
        assert!(
            err.starts_with("error: invalid device cuda:")
                && err.contains("this build has no CUDA; build one with `--features cuda` (scripts/build-cuda.sh) or use --device cpu or auto"),
            "{args:?}: {err}"
        );
    }
    for device in ["auto", "cpu"] {
        let out = lab()
            .args([
                "grad", "--depth", "2", "--width", "8", "--points", "16", "--nets", "2",
            ])
            .args(["--device", device])
            .output()
            .unwrap();
        assert!(out.status.success(), "{device}");
        assert!(out.stderr.is_empty(), "{device}: {:?}", out.stderr);
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(doc["config"]["device"], "cpu", "{device}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A fresh directory under the system temp dir for one test.
fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "shatterlab-cli-{}-{}",
        std::process::id(),
        std::thread::current()
            .name()
            .unwrap_or("t")
            .replace("::", "-")
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn data_help_shows_only_its_own_flags() {
    lab()
        .args(["data", "download", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("--dir").and(predicate::str::contains("--depth").not()));
}

#[test]
fn help_lists_the_subcommands() {
    lab()
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("grad").and(predicate::str::contains("theory")));
}

#[test]
fn example_configs_in_assets_are_valid() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            shatterlab::config::FileConfig::load(&path).unwrap_or_else(|e| panic!("{e}"));
            checked += 1;
        }
    }
    assert!(
        checked >= 3,
        "expected the example configs in {}",
        dir.display()
    );
}

#[test]
fn shipped_config_toml_is_the_paper_preset_default() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml");
    let shipped = shatterlab::config::FileConfig::load(&path).unwrap();
    assert_eq!(shipped, shatterlab::config::FileConfig::default());
}

#[test]
fn bash_completion_offers_every_subcommand() {
    let out = lab().args(["completions", "bash"]).output().unwrap();
    assert!(out.status.success());
    let script = String::from_utf8(out.stdout).unwrap();
    assert!(
        script.contains("complete -F"),
        "not a bash completion script"
    );
    for sub in ["grad", "theory", "train", "data", "completions", "man"] {
        assert!(script.contains(sub), "completion lacks {sub}");
    }
    assert!(script.contains("--depth"), "completion lacks the lab flags");
}

#[test]
fn an_unknown_shell_is_a_one_line_error() {
    let err = error_of(&["completions", "tcsh"]);
    assert!(err.contains("tcsh") && err.contains("bash"), "{err}");
}

#[test]
fn the_man_page_has_name_synopsis_the_subcommands_and_every_key() {
    let out = lab().arg("man").output().unwrap();
    assert!(out.status.success());
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(page.contains(".TH shatterlab 1"), "not a roff man page");
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH SUBCOMMANDS", ".SH KEYS"] {
        assert!(page.contains(section), "man page lacks {section}");
    }
    for sub in [
        "grad",
        "theory",
        "train",
        "export",
        "figures",
        "data download",
    ] {
        assert!(
            page.contains(&format!("\\fBshatterlab {sub}\\fR")),
            "man page lacks {sub}"
        );
    }
    // No page of its own is installed for any subcommand, so none is referred to.
    assert!(!page.contains("(1)"), "man page refers to another page");
    let keys = &page[page.find(".SH KEYS").unwrap()..];
    for binding in shatterlab::ui::keys::BINDINGS {
        let label = shatterlab::ui::keys::labels(binding).replace('-', "\\-");
        assert!(
            keys.contains(&format!("\\fB{label}\\fR")),
            "KEYS lacks {label}"
        );
    }
}

#[test]
fn only_the_commands_that_read_a_settings_file_offer_config() {
    for args in [&["--help"][..], &["grad", "--help"], &["theory", "--help"]] {
        lab()
            .args(args)
            .assert()
            .success()
            .stdout(predicate::str::contains("--config"));
    }
    for args in [
        &["train", "--help"][..],
        &["data", "download", "--help"],
        &["man", "--help"],
        &["completions", "--help"],
    ] {
        lab()
            .args(args)
            .assert()
            .success()
            .stdout(predicate::str::contains("--config").not());
    }
    for args in [&["man", "--config", "x"][..], &["--config", "x", "man"]] {
        let err = error_of(args);
        assert!(
            err.contains("--config") && err.contains("man") && err.contains("reads no"),
            "{err}"
        );
    }
    // Before a subcommand that reads one, it is that subcommand's.
    let err = error_of(&["--config", "/nonexistent/shatterlab.toml", "grad"]);
    assert!(err.contains("/nonexistent/shatterlab.toml"), "{err}");
}

#[test]
fn a_lab_flag_given_to_man_names_man() {
    let err = error_of(&["man", "--depth", "3"]);
    assert!(
        err.contains("`shatterlab grad`") && err.contains("`man` does not"),
        "{err}"
    );
}

/// One net has no standard error (null in the JSON); that is not an overflow.
#[test]
fn a_single_net_is_not_flagged_as_overflow() {
    let out = lab()
        .args([
            "grad", "--depth", "3", "--nets", "1", "--width", "16", "--points", "32",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let depths = report["depths"].as_array().expect("depths");
    assert_eq!(depths.len(), 3);
    for d in depths {
        assert_eq!(d["overflow"], false, "{d}");
        assert!(d["corr_far"].is_number(), "{d}");
    }
}

/// `grad`'s JSON from `args`.
fn grad_json(args: &[&str]) -> serde_json::Value {
    let out = lab().arg("grad").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn grad_adds_the_closed_form_limit_beside_integrated() {
    let doc = grad_json(&["--no-bn", "--depth", "2", "--width", "16", "--nets", "2"]);
    assert_eq!(doc["infinite_width"]["method"], "closed_form");
    for depth in doc["depths"].as_array().unwrap() {
        let (limit, nets) = (&depth["infinite_width"], &depth["integrated"]);
        let keys =
            |v: &serde_json::Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(limit), keys(nets));
        assert_eq!(limit["corr_far_se"], 0.0);
    }
    // Issue 19's far-pair correlation at depth 1 on the preset grid.
    let far = doc["depths"][0]["infinite_width"]["corr_far"]
        .as_f64()
        .unwrap();
    assert!((far - 0.0896).abs() < 5e-5, "{far}");
    // The CSV ends with the limit's columns.
    let csv = lab()
        .args([
            "grad", "--no-bn", "--depth", "2", "--width", "16", "--nets", "2",
        ])
        .args(["--format", "csv"])
        .output()
        .unwrap();
    let csv = String::from_utf8(csv.stdout).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(
        lines[1].ends_with(",infinite_corr_far,infinite_corr_far_se"),
        "{}",
        lines[1]
    );
    let last: Vec<&str> = lines[2].rsplit(',').take(2).collect();
    assert_eq!(last[0], "0");
    assert!((last[1].parse::<f64>().unwrap() - far).abs() < 1e-12);
    // Batch norm has no closed form: nothing unless a Monte Carlo is asked for.
    let bn = grad_json(&["--bn", "--depth", "1", "--width", "8", "--nets", "2"]);
    assert!(bn.get("infinite_width").is_none() && bn["depths"][0].get("infinite_width").is_none());
    let sampled = grad_json(&[
        "--bn",
        "--depth",
        "2",
        "--width",
        "8",
        "--nets",
        "2",
        "--points",
        "8",
        "--infinite-width",
        "any",
        "--limit-width",
        "64",
        "--limit-nets",
        "3",
    ]);
    assert_eq!(sampled["infinite_width"]["method"], "monte_carlo");
    assert_eq!(sampled["infinite_width"]["wide"]["width"], 64);
    assert!(
        sampled["depths"][1]["infinite_width"]["corr_far_se"]
            .as_f64()
            .unwrap()
            > 0.0
    );
}

#[test]
fn grad_widths_approach_the_limit_like_one_over_width() {
    // Feedforward without BN at depth 6: (measured - limit) x width stays near 1.8 from
    // width 16 to 128, so the gap at 128 is the gap at 16 over 8, within the errors.
    let doc = grad_json(&[
        "--no-bn", "--depth", "6", "--depths", "6", "--points", "32", "--nets", "1000", "--width",
        "16", "--widths", "16,128",
    ]);
    let at = |i: usize| {
        let d = &doc["finite_width"][i]["depths"][0];
        let gap = d["corr_far_gap"].as_f64().unwrap();
        (gap, d["integrated"]["corr_far_se"].as_f64().unwrap())
    };
    let ((g16, se16), (g128, se128)) = (at(0), at(1));
    assert_eq!(doc["finite_width"][1]["width"], 128);
    assert!(g16 > 3.0 * se16, "no gap at width 16: {g16} ± {se16}");
    let se = (se128 * se128 + (se16 / 8.0).powi(2)).sqrt();
    assert!(
        (g128 - g16 / 8.0).abs() <= 3.0 * se,
        "gap {g128} ± {se128} at 128, {g16} ± {se16} at 16"
    );
}

#[test]
fn theory_prints_the_limit_without_sampling_nets() {
    let out = lab()
        .args([
            "theory", "--no-bn", "--depth", "10", "--depths", "1,10", "--trials", "20",
        ])
        .args(["--infinite-width", "closed"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["infinite_width"]["method"], "closed_form");
    let far = doc["depths"][1]["infinite_width"]["corr_far"]
        .as_f64()
        .unwrap();
    assert!((far + 0.595).abs() < 5e-4, "{far}");
    // Off by default.
    let plain = lab()
        .args(["theory", "--depth", "2", "--trials", "20"])
        .output()
        .unwrap();
    let plain: serde_json::Value = serde_json::from_slice(&plain.stdout).unwrap();
    assert!(plain.get("infinite_width").is_none());
}

#[test]
fn bad_limit_flags_are_one_line_errors_naming_the_flag() {
    let err = error_of(&["grad", "--depth", "1", "--widths", "0"]);
    assert!(err.contains("--widths"), "{err}");
    let err = error_of(&[
        "grad",
        "--depth",
        "1",
        "--infinite-width",
        "monte-carlo",
        "--limit-width",
        "1",
    ]);
    assert!(err.contains("--limit-width"), "{err}");
    let err = error_of(&[
        "theory",
        "--depth",
        "1",
        "--infinite-width",
        "any",
        "--limit-nets",
        "1",
    ]);
    assert!(err.contains("--limit-nets"), "{err}");
    // Looks-linear nets with batch norm have neither form: `any` adds nothing, an explicit
    // Monte Carlo says why not.
    let ll = [
        "--depth", "1", "--act", "crelu", "--init", "ll", "--bn", "--width", "8",
    ];
    let any = grad_json(&[&ll[..], &["--infinite-width", "any"]].concat());
    assert!(any.get("infinite_width").is_none());
    let err = error_of(&[&["grad"][..], &ll, &["--infinite-width", "monte-carlo"]].concat());
    assert!(err.contains("looks-linear"), "{err}");
    let err = error_of(&["grad", "--infinite-width", "sometimes"]);
    assert!(err.contains("sometimes"), "{err}");
    let err = error_of(&[
        "grad",
        "--depth",
        "1000",
        "--infinite-width",
        "monte-carlo",
        "--limit-width",
        "16384",
        "--limit-nets",
        "1000",
    ]);
    assert!(
        err.contains("refused") && err.contains("--limit-width"),
        "{err}"
    );
}
