//! Lab settings: one struct shared by `config.toml`, the CLI flags, the TUI and the JSON
//! reports, so that any screen or result can be reproduced from a command line.

use std::ops::RangeInclusive;
use std::path::Path;

use anyhow::Context;
use clap::ValueEnum;
use serde::{Deserialize, Serialize};

/// Network family of the 1-D experiment (paper §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// Plain feedforward: z = W h, optional BN, rectifier.
    Ff,
    /// Pre-activation resnet: h <- h + beta * W act(BN(h)).
    Res,
}

/// How batch-norm statistics are treated when differentiating.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BnGrad {
    /// Statistics are constants (paper default): the Jacobian is diagonal.
    Frozen,
    /// Differentiate through the statistics: the exact per-point derivative, costing P
    /// tangent directions instead of one.
    Through,
}

/// Rectifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    Relu,
    /// Concatenated ReLU [relu(z); relu(-z)]: doubles the width.
    Crelu,
}

impl Activation {
    /// Post-activation units per pre-activation unit.
    pub fn multiplier(self) -> usize {
        match self {
            Activation::Relu => 1,
            Activation::Crelu => 2,
        }
    }
}

/// Weight initialisation of layers 2..L (layer 1 is always w ~ N(0,2), b ~ N(0,1)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Init {
    /// N(0, 2/fan_in).
    He,
    /// N(0, 2/(fan_in + fan_out)).
    Glorot,
    /// sqrt(2) times a matrix with orthonormal columns.
    Orthogonal,
    /// Looks-linear: mirrored orthogonal [W; -W], needs CReLU.
    Ll,
}

/// Floating-point precision of the computation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    F64,
    F32,
}

/// Where candle runs, spelled `auto`, `cpu` or `cuda[:N]` on the command line, in
/// config.toml and in reports. `device::resolve` turns `auto` into one of the others before
/// anything runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum DeviceKind {
    /// CUDA when the build has it and a GPU answers, else the CPU.
    #[default]
    Auto,
    Cpu,
    /// The NVIDIA GPU with this index; needs a build with `--features cuda`.
    Cuda(usize),
}

impl std::fmt::Display for DeviceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeviceKind::Auto => f.write_str("auto"),
            DeviceKind::Cpu => f.write_str("cpu"),
            DeviceKind::Cuda(index) => write!(f, "cuda:{index}"),
        }
    }
}

impl std::str::FromStr for DeviceKind {
    type Err = String;

    /// `cuda` alone is the first GPU, `cuda:0`.
    fn from_str(text: &str) -> Result<Self, String> {
        let index = |i: &str| i.parse().ok().map(DeviceKind::Cuda);
        match text {
            "auto" => Some(DeviceKind::Auto),
            "cpu" => Some(DeviceKind::Cpu),
            "cuda" => Some(DeviceKind::Cuda(0)),
            _ => text.strip_prefix("cuda:").and_then(index),
        }
        .ok_or_else(|| format!("invalid device {text:?}: expected auto, cpu, cuda or cuda:N"))
    }
}

impl TryFrom<String> for DeviceKind {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
    }
}

impl From<DeviceKind> for String {
    fn from(kind: DeviceKind) -> String {
        kind.to_string()
    }
}

/// What the nets are evaluated at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Inputs {
    /// P evenly spaced points on [x_min, x_max] (paper §2).
    Grid,
    /// P independent high-dimensional Gaussian inputs through a linear first layer: the
    /// theorems' assumption of identical layer-1 gradients; no spatial order.
    Independent,
}

/// Every setting of the 1-D shattering experiment. Defaults are the paper preset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LabConfig {
    pub arch: Arch,
    pub bn: bool,
    pub bn_grad: BnGrad,
    pub beta: f64,
    pub act: Activation,
    pub init: Init,
    pub depth: usize,
    pub width: usize,
    pub points: usize,
    pub x_min: f64,
    pub x_max: f64,
    pub nets: usize,
    pub seed: u64,
    pub dtype: Precision,
    pub first_bias: bool,
    pub device: DeviceKind,
    pub inputs: Inputs,
}

impl Default for LabConfig {
    fn default() -> Self {
        Self {
            arch: Arch::Ff,
            bn: true,
            bn_grad: BnGrad::Frozen,
            beta: 1.0,
            act: Activation::Relu,
            init: Init::He,
            depth: 50,
            width: 200,
            points: 256,
            x_min: -2.0,
            x_max: 2.0,
            nets: 20,
            seed: 0,
            dtype: Precision::F64,
            first_bias: true,
            device: DeviceKind::Auto,
            inputs: Inputs::Grid,
        }
    }
}

/// Largest depth the lab accepts.
pub const MAX_DEPTH: usize = 1000;
/// Largest width, point count and net count: beyond these a sweep no longer fits in memory.
pub const MAX_WIDTH: usize = 4096;
pub const MAX_POINTS: usize = 4096;
pub const MAX_NETS: usize = 1000;
/// Memory the through-BN tangents (R x P x P x width values) may take.
const MAX_THROUGH_BYTES: usize = 2 << 30;

/// How a setting is spelled on the command line and in config.toml, e.g. `crelu`.
pub fn spelling<T: ValueEnum>(v: T) -> String {
    v.to_possible_value()
        .map(|p| p.get_name().to_string())
        .unwrap_or_default()
}

/// A setting that is out of range: names it (as its caller spells it: `depth` for a lab field,
/// `--lr` for a `train` flag) and what is allowed. The lab, `train` and the CLI all report
/// invalid settings with it.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("invalid {key} {value}: expected {expected}")]
pub struct InvalidSetting {
    pub key: String,
    pub value: String,
    pub expected: String,
}

impl InvalidSetting {
    /// Ok when `ok`, else the error for `key` = `value`.
    pub fn check(
        ok: bool,
        key: &str,
        value: impl std::fmt::Display,
        expected: impl Into<String>,
    ) -> Result<(), Self> {
        if ok {
            Ok(())
        } else {
            Err(Self {
                key: key.to_string(),
                value: value.to_string(),
                expected: expected.into(),
            })
        }
    }

    /// Ok when the integer `value` lies in `range`.
    pub fn check_range<T>(key: &str, value: T, range: RangeInclusive<T>) -> Result<(), Self>
    where
        T: PartialOrd + std::fmt::Display,
    {
        let expected = format!("an integer in {}..={}", range.start(), range.end());
        Self::check(range.contains(&value), key, value, expected)
    }
}

/// Frame rates the terminal UI accepts (`--fps`, `ui.fps`).
pub const FPS: RangeInclusive<u32> = 1..=120;

impl LabConfig {
    /// Checks every field; the error names the first offending one.
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        InvalidSetting::check_range("depth", self.depth, 1..=MAX_DEPTH)?;
        InvalidSetting::check_range("width", self.width, 1..=MAX_WIDTH)?;
        InvalidSetting::check_range("points", self.points, 2..=MAX_POINTS)?;
        InvalidSetting::check_range("nets", self.nets, 1..=MAX_NETS)?;
        InvalidSetting::check(
            self.beta.is_finite() && self.beta >= 0.0,
            "beta",
            self.beta,
            "a finite number >= 0",
        )?;
        InvalidSetting::check(
            self.x_min.is_finite(),
            "x_min",
            self.x_min,
            "a finite number",
        )?;
        InvalidSetting::check(
            self.x_max.is_finite()
                && self.x_max > self.x_min
                && (self.x_max - self.x_min).is_finite(),
            "x_max",
            self.x_max,
            format!(
                "a finite number greater than x_min ({}), with x_max - x_min finite",
                self.x_min
            ),
        )?;
        InvalidSetting::check(
            !(self.init == Init::Ll && self.act != Activation::Crelu),
            "init",
            "ll",
            "act = crelu with looks-linear init (LL mirrors weights across the CReLU halves)",
        )?;
        if self.tangent_directions() > 1 {
            let bytes =
                self.nets * self.points * self.points * self.width * self.act.multiplier() * 8;
            InvalidSetting::check(
                bytes <= MAX_THROUGH_BYTES,
                "bn_grad",
                "through",
                "nets x points^2 x width <= 2^28 values (lower points or nets)",
            )?;
        }
        Ok(())
    }

    /// Number of forward-mode tangent directions carried per net: one when the Jacobian is
    /// diagonal (frozen or no BN), one per point when BN statistics are differentiated.
    pub fn tangent_directions(&self) -> usize {
        if self.bn && self.bn_grad == BnGrad::Through {
            self.points
        } else {
            1
        }
    }

    /// The evenly spaced input grid x_0..x_{P-1} on [x_min, x_max].
    pub fn grid(&self) -> Vec<f64> {
        let step = (self.x_max - self.x_min) / (self.points - 1) as f64;
        (0..self.points)
            .map(|p| self.x_min + step * p as f64)
            .collect()
    }

    /// Loads the `[lab]` table of a TOML file; unknown keys are errors.
    pub fn from_toml_file(path: &Path) -> anyhow::Result<Self> {
        Ok(FileConfig::load(path)?.lab)
    }
}

/// The whole `config.toml`: lab settings plus the terminal UI's.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileConfig {
    pub lab: LabConfig,
    pub ui: UiConfig,
}

/// Terminal settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UiConfig {
    pub color: ColorMode,
    pub marker: MarkerKind,
    pub fps: u32,
}

impl Default for UiConfig {
    fn default() -> Self {
        Self {
            color: ColorMode::Auto,
            marker: MarkerKind::Braille,
            fps: 15,
        }
    }
}

/// Colour depth of the terminal UI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ColorMode {
    Auto,
    Never,
    #[value(name = "16")]
    #[serde(rename = "16")]
    Ansi16,
    #[value(name = "256")]
    #[serde(rename = "256")]
    Ansi256,
    Truecolor,
}

/// Glyphs used to draw chart lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum MarkerKind {
    Braille,
    Halfblock,
    Dot,
}

impl FileConfig {
    /// Reads and validates a config file. Errors are one line naming the file, the line and
    /// the field.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let bytes = crate::fsio::read_regular(path, "config file")?;
        let text = String::from_utf8(bytes)
            .map_err(|e| anyhow::anyhow!("config file {} is not UTF-8: {e}", path.display()))?;
        Self::parse(&text).with_context(|| path.display().to_string())
    }

    /// Parses TOML text; the error is a single line.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let cfg: FileConfig = parse_toml(text)?;
        cfg.lab.validate().context("[lab]")?;
        cfg.ui.validate().context("[ui]")?;
        Ok(cfg)
    }
}

/// Deserialises TOML `text`; the error is a single line naming the line and key.
pub fn parse_toml<T: serde::de::DeserializeOwned>(text: &str) -> anyhow::Result<T> {
    toml::from_str(text).map_err(|e| {
        let place = e
            .span()
            .map(|s| format!("{}: ", place_of(text, s.start)))
            .unwrap_or_default();
        anyhow::anyhow!("{place}{}", e.message().replace('\n', " ").trim())
    })
}

/// "line N" of byte `offset` in TOML `text`, with the key written there when the line is a
/// `key = value` line: "line 2 (key lab.depth)". Tables are tracked from `[name]` headers.
fn place_of(text: &str, offset: usize) -> String {
    let before = &text[..offset.min(text.len())];
    let line_no = before.matches('\n').count() + 1;
    let line = text.lines().nth(line_no - 1).unwrap_or_default();
    let table = before
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('[') && l.ends_with(']'))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim());
    match line.split_once('=').map(|(k, _)| k.trim()) {
        Some(key) if !key.is_empty() && !key.starts_with('[') => {
            let full = table.map_or(key.to_string(), |t| format!("{t}.{key}"));
            format!("line {line_no} (key {full})")
        }
        _ => format!("line {line_no}"),
    }
}

impl UiConfig {
    /// Checks the frame rate (the only bounded terminal setting).
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        InvalidSetting::check_range("fps", self.fps, FPS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_match_the_paper_preset() {
        let c = LabConfig::default();
        c.validate().unwrap();
        assert_eq!((c.width, c.points, c.x_min, c.x_max), (200, 256, -2.0, 2.0));
        let g = c.grid();
        assert_eq!(g.len(), 256);
        assert_eq!(g[0], -2.0);
        assert!((g[255] - 2.0).abs() < 1e-12);
    }

    #[test]
    fn parse_errors_are_one_line_and_name_the_field() {
        let e = |text: &str| format!("{:#}", FileConfig::parse(text).unwrap_err());
        let depht = e("[lab]\ndepht = 3\n");
        assert!(
            depht.contains("line 2") && depht.contains("depht"),
            "{depht}"
        );
        assert!(!depht.contains('\n'));
        assert_eq!(
            e("[lab]\ndepth = 0\n"),
            "[lab]: invalid depth 0: expected an integer in 1..=1000"
        );
        let ll = e("[lab]\ninit = \"ll\"\n");
        assert!(
            ll.contains("invalid init ll") && ll.contains("crelu"),
            "{ll}"
        );
        let xavier = e("[lab]\ninit = \"xavier\"\n");
        assert!(
            xavier.contains("xavier") && xavier.contains("he"),
            "{xavier}"
        );
        assert_eq!(
            e("[ui]\nfps = 0\n"),
            "[ui]: invalid fps 0: expected an integer in 1..=120"
        );
        assert!(e("[lab\n").starts_with("line 1"));
        let depth = e("[lab]\ndepth = \"50\"\n");
        assert!(
            depth.starts_with("line 2 (key lab.depth): invalid type: string \"50\""),
            "{depth}"
        );
        let fps = e("[ui]\nfps = -3\n");
        assert!(fps.starts_with("line 2 (key ui.fps): "), "{fps}");
    }

    #[test]
    fn devices_are_spelled_auto_cpu_or_cuda_with_an_index() {
        for (text, kind) in [
            ("auto", DeviceKind::Auto),
            ("cpu", DeviceKind::Cpu),
            ("cuda:0", DeviceKind::Cuda(0)),
            ("cuda:3", DeviceKind::Cuda(3)),
        ] {
            assert_eq!(text.parse::<DeviceKind>(), Ok(kind));
            assert_eq!(kind.to_string(), text);
        }
        assert_eq!("cuda".parse::<DeviceKind>(), Ok(DeviceKind::Cuda(0)));
        for bad in ["gpu", "cuda:", "cuda:-1", "cuda:x", "CPU", "cuda0"] {
            let e = bad.parse::<DeviceKind>().unwrap_err();
            assert!(e.contains("auto, cpu, cuda or cuda:N"), "{bad}: {e}");
        }
        let cfg = FileConfig::parse("[lab]\ndevice = \"cuda:1\"\n").unwrap();
        assert_eq!(cfg.lab.device, DeviceKind::Cuda(1));
        let e = format!(
            "{:#}",
            FileConfig::parse("[lab]\ndevice = \"gpu\"\n").unwrap_err()
        );
        assert!(
            e.starts_with("line 2 (key lab.device): invalid device \"gpu\""),
            "{e}"
        );
    }
}
