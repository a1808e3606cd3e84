//! The command line that reopens the lab on exactly the current settings (shown in help).

use clap::ValueEnum;

use crate::config::LabConfig;

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

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::Cli;
    use crate::config::{Arch, Init};

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
}
