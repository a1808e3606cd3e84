//! The command lines that reopen the lab on exactly the current settings, and that repeat a
//! training run headless (shown in help).

use clap::ValueEnum;

use crate::config::{DeviceKind, LabConfig};
use crate::nets::conv::ConvInit;
use crate::train::config::TrainConfig;

/// How a setting is spelled on the command line, e.g. `crelu`.
pub fn value_name<T: ValueEnum>(v: T) -> String {
    v.to_possible_value()
        .map(|p| p.get_name().to_string())
        .unwrap_or_default()
}

/// `shatterlab --arch … --depth …` with every lab setting spelled out, so the screen is
/// reproducible whatever config.toml says.
pub fn command_line(cfg: &LabConfig) -> String {
    let on_off = |on: bool, flag: &str| {
        if on {
            format!("--{flag}")
        } else {
            format!("--no-{flag}")
        }
    };
    [
        "shatterlab".to_string(),
        format!("--arch {}", value_name(cfg.arch)),
        on_off(cfg.bn, "bn"),
        format!("--bn-grad {}", value_name(cfg.bn_grad)),
        format!("--beta {}", cfg.beta),
        format!("--act {}", value_name(cfg.act)),
        format!("--init {}", value_name(cfg.init)),
        format!("--depth {}", cfg.depth),
        format!("--width {}", cfg.width),
        format!("--points {}", cfg.points),
        format!("--x-min={}", cfg.x_min),
        format!("--x-max={}", cfg.x_max),
        format!("--nets {}", cfg.nets),
        format!("--seed {}", cfg.seed),
        format!("--dtype {}", value_name(cfg.dtype)),
        on_off(cfg.first_bias, "first-bias"),
        format!("--device {}", value_name(cfg.device)),
    ]
    .join(" ")
}

/// `shatterlab train …` with every setting of the run spelled out.
pub fn train_command_line(cfg: &TrainConfig, device: DeviceKind) -> String {
    let net = &cfg.net;
    let init = match net.init {
        ConvInit::He => "--init he",
        ConvInit::Ll => "--init ll",
        ConvInit::LlDelta => "--init ll --delta",
    };
    let mut words = vec![
        "shatterlab train".to_string(),
        format!("--depth {}", net.depth),
        format!("--act {}", value_name(net.act)),
        init.to_string(),
        if net.bn { "--bn" } else { "--no-bn" }.to_string(),
    ];
    if net.skip {
        words.push("--skip".into());
    }
    words.extend([
        format!("--seed {}", cfg.seed),
        format!("--epochs {}", cfg.epochs),
        format!("--batch {}", cfg.batch),
        format!("--lr {}", cfg.lr),
        format!("--optimizer {}", value_name(cfg.optimizer)),
        format!("--momentum {}", cfg.momentum),
        format!("--train-subset {}", cfg.train_subset.unwrap_or(0)),
        format!("--test-subset {}", cfg.test_subset.unwrap_or(0)),
        format!("--log-every {}", cfg.log_every),
        format!("--plateau-patience {}", cfg.plateau_patience),
        format!("--plateau-factor {}", cfg.plateau_factor),
        format!("--device {}", value_name(device)),
    ]);
    if !cfg.augment {
        words.push("--no-augment".into());
    }
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};
    use crate::config::{Arch, Init};
    use crate::train::headless::train_config;

    #[test]
    fn the_command_line_parses_back_to_the_same_settings() {
        let cfg = LabConfig {
            arch: Arch::Res,
            bn: false,
            beta: 0.1,
            init: Init::Ll,
            act: crate::config::Activation::Crelu,
            x_min: -1.5,
            seed: 7,
            first_bias: false,
            ..LabConfig::default()
        };
        let line = command_line(&cfg);
        let cli = Cli::try_parse_from(line.split(' ')).unwrap();
        let mut parsed = LabConfig::default();
        cli.lab.apply(&mut parsed);
        assert_eq!(parsed, cfg);
    }

    #[test]
    fn the_train_command_line_parses_back_to_the_same_run() {
        let mut cfg = crate::ui::train::cpu_defaults();
        for (init, act, skip, bn, augment) in [
            (
                ConvInit::He,
                crate::config::Activation::Relu,
                false,
                true,
                true,
            ),
            (
                ConvInit::Ll,
                crate::config::Activation::Crelu,
                true,
                false,
                false,
            ),
            (
                ConvInit::LlDelta,
                crate::config::Activation::Crelu,
                true,
                true,
                true,
            ),
        ] {
            (cfg.net.init, cfg.net.act, cfg.net.skip, cfg.net.bn) = (init, act, skip, bn);
            (cfg.augment, cfg.seed, cfg.lr) = (augment, 3, 0.02);
            let line = train_command_line(&cfg, DeviceKind::Cpu);
            let cli = Cli::try_parse_from(line.split(' ')).unwrap();
            let Some(Command::Train(args)) = &cli.command else {
                panic!("not a train command: {line}");
            };
            assert_eq!(train_config(&args.lab, args).unwrap(), cfg, "{line}");
        }
    }
}
