//! The command lines that reopen the lab on exactly the current settings, and that repeat a
//! training run headless (shown in help).

use crate::config::{DeviceKind, LabConfig, spelling as value_name};
use crate::nets::conv::ConvInit;
use crate::train::config::TrainConfig;

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
        format!("--device {}", cfg.device),
        format!("--inputs {}", value_name(cfg.inputs)),
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
        format!("--device {device}"),
    ]);
    if !cfg.augment {
        words.push("--no-augment".into());
    }
    words.join(" ")
}
