//! Memory and work budgets. An allocation failure aborts the process (and in the TUI leaves
//! the terminal raw), so each request's peak memory is estimated from its settings and
//! refused, before anything is allocated, when it exceeds the machine's available memory or
//! `--max-memory`. The estimates follow the engines' allocations, with a margin: they err
//! on the high side of measured peak RSS.

use crate::config::{Activation, Arch, DeviceKind, LabConfig, Precision};
use crate::lab::infinite::WideNets;
use crate::train::cifar::{IMAGE_BYTES, RECORD_BYTES, SIDE};
use crate::train::config::TrainConfig;

/// Memory of the process before any request: code, thread stacks, allocator and candle
/// state (measured peak RSS of a tiny `grad` run, rounded up).
const BASE_BYTES: u64 = 32 << 20;
/// Largest Monte-Carlo work `theory` accepts, in (trial x layer x unit) samples: under two
/// minutes of CPU (measured: 4·10⁸ samples, `theory --depth 200 --trials 10000 --width 200`,
/// took 10.6 s of CPU in a release build).
pub const MAX_THEORY_WORK: u64 = 4_000_000_000;

/// Largest work of the infinite-width Monte Carlo, in multiply-adds (`WideNets::work`): a
/// few minutes of two cores.
pub const MAX_WIDE_WORK: u64 = 5_000_000_000_000;

/// What a request needs, described by the settings that drive it.
#[derive(Clone, Debug, PartialEq)]
pub struct Need {
    /// E.g. "grad with nets 1000, width 4096, points 256, depth 2, f64".
    pub what: String,
    /// Which settings to lower, for the error message.
    pub lower: &'static str,
    pub bytes: u64,
}

impl Need {
    /// Two requests running at once.
    pub fn beside(self, other: Need) -> Need {
        Need {
            what: format!("{} beside {}", self.what, other.what),
            lower: self.lower,
            bytes: self.bytes + other.bytes,
        }
    }
}

/// Bytes per number of the lab's precision.
fn dtype_bytes(dtype: Precision) -> u64 {
    match dtype {
        Precision::F64 => 8,
        Precision::F32 => 4,
    }
}

/// Peak memory of one 1-D sweep (`ForwardEngine`): the state h (values and tangents of all
/// nets), the next layer's weights (drawn as f64, twice while flattened), the pre-activation
/// and the rectifier's output live at once; layer 1 builds its pre-activation on the host in
/// f64 first.
pub fn sweep(cfg: &LabConfig) -> Need {
    let e = dtype_bytes(cfg.dtype);
    let (r, p, n) = (cfg.nets as u64, cfg.points as u64, cfg.width as u64);
    let k = cfg.tangent_directions() as u64;
    let m = cfg.act.multiplier() as u64;
    let rows = r * (1 + k) * p;
    let stream = n * m;
    let (fan_in, fan_out, pre, post) = match cfg.arch {
        Arch::Ff => (stream, n, n, stream),
        Arch::Res => (stream * m, stream, stream, stream * m),
    };
    let weights = r * fan_in * fan_out;
    let convert = if e == 8 { 0 } else { 4 };
    let first = rows * n * (8 + convert) + rows * stream * e;
    // Drawn per net in f64, flattened into one f64 buffer (converted for f32).
    let drawing = rows * stream * e + weights * 16;
    let layer = match cfg.arch {
        Arch::Ff => rows * (stream + pre + post) * e + weights * e,
        // h, act(BN(h)), its product with W and the sum h + that.
        Arch::Res => rows * (stream + post + 2 * stream) * e + weights * e,
    };
    // The read-out copies the active units' signs to the host (as the dtype, f64, a Vec,
    // bools) and each point's tangent row (f64, the integrated readout's input) while the
    // new state is alive.
    let readout = rows * (stream + if cfg.arch == Arch::Res { post } else { 0 }) * e
        + r * p * n * (e + 8 + 8 + 1)
        + r * p * stream * 8;
    let peak = first.max(drawing).max(layer).max(readout);
    let dtype = match cfg.dtype {
        Precision::F64 => "f64",
        Precision::F32 => "f32",
    };
    let through = if k > 1 { ", bn-grad through" } else { "" };
    Need {
        what: format!(
            "a sweep of nets {}, width {}, points {}, depth {}, {dtype}{through}{}",
            cfg.nets,
            cfg.width,
            cfg.points,
            cfg.depth,
            if cfg.act == Activation::Crelu {
                ", crelu"
            } else {
                ""
            }
        ),
        lower: "--nets, --width or --points",
        bytes: BASE_BYTES + with_margin(peak),
    }
}

/// Allocator slack and buffers the formulas leave out: 10% on top (the measured peaks in
/// the README were all below estimate + margin).
fn with_margin(bytes: u64) -> u64 {
    bytes + bytes / 10
}

/// Memory of `theory`'s Monte-Carlo: three f64 sums per trial and depth, kept for the
/// standard errors.
pub fn theory(depth: usize, trials: usize) -> Need {
    Need {
        what: format!("theory with depth {depth}, trials {trials}"),
        lower: "--trials or --depth",
        bytes: BASE_BYTES + depth as u64 * trials as u64 * 3 * 8,
    }
}

/// Samples `theory` draws: per trial and layer, a handful of Gaussians per unit.
pub fn theory_work(depth: usize, trials: usize, width: usize) -> u64 {
    depth as u64 * trials as u64 * width as u64
}

/// Peak memory of a training run: the whole data set in memory, and for every layer the
/// activations autograd keeps for the backward pass (conv output, batch norm, rectifier
/// and their gradients: `ACTIVATION_COPIES` copies of each, measured), at `batch` images.
pub fn train(cfg: &TrainConfig) -> Need {
    const ACTIVATION_COPIES: u64 = 8;
    // All 60,000 records of the official files, loaded whole.
    let data = 60_000 * RECORD_BYTES as u64;
    let mult = cfg.net.act.multiplier() as u64;
    let mut side = SIDE as u64;
    let mut per_image = 0;
    for layer in cfg.net.layers() {
        side /= layer.stride as u64;
        per_image += layer.filters as u64 * mult * side * side;
    }
    let batch = cfg.batch as u64;
    let activations = batch * per_image * 4 * ACTIVATION_COPIES;
    let inputs = batch * IMAGE_BYTES as u64 * 4;
    Need {
        what: format!("training with depth {}, batch {}", cfg.net.depth, cfg.batch),
        lower: "--batch or --depth",
        bytes: BASE_BYTES + with_margin(data + activations + inputs),
    }
}

/// The memory a request on `device` may use: the smaller of `--max-memory` and what is
/// available there (the kernel's `MemAvailable`, or a GPU's free memory as its driver
/// reports it), with where the limit comes from.
pub fn limit(max_memory: Option<u64>, device: DeviceKind) -> Option<(u64, &'static str)> {
    let available = match device {
        DeviceKind::Cuda(index) => {
            crate::device::gpu_free_memory(index).map(|b| (b, "free GPU memory"))
        }
        DeviceKind::Auto | DeviceKind::Cpu => available_memory().map(|b| (b, "available memory")),
    };
    match (max_memory.map(|b| (b, "--max-memory")), available) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// Refuses `need` when it exceeds `limit`, in one line naming the settings, the estimate
/// and the limit.
pub fn check(need: &Need, limit: Option<(u64, &str)>) -> Result<(), String> {
    match limit {
        Some((bytes, source)) if need.bytes > bytes => Err(format!(
            "refused: {} needs about {} of memory, over the {} limit of {} (lower {})",
            need.what,
            human(need.bytes),
            source,
            human(bytes),
            need.lower
        )),
        _ => Ok(()),
    }
}

/// MemAvailable from /proc/meminfo: the memory that can be had without swapping.
pub fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    parse_mem_available(&text)
}

fn parse_mem_available(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Parses `--max-memory`: bytes, or a number with K, M, G or T (powers of 1024, an optional
/// trailing B or iB), e.g. `512M`, `1.5G`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let upper = t.to_ascii_uppercase();
    let body = upper
        .strip_suffix("IB")
        .or_else(|| upper.strip_suffix('B'))
        .unwrap_or(&upper);
    let (number, shift) = match body.chars().last() {
        Some('K') => (&body[..body.len() - 1], 10),
        Some('M') => (&body[..body.len() - 1], 20),
        Some('G') => (&body[..body.len() - 1], 30),
        Some('T') => (&body[..body.len() - 1], 40),
        _ => (body, 0),
    };
    let value: f64 = number
        .trim()
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite() && *v > 0.0)
        .ok_or_else(|| {
            format!("invalid size {text:?}: expected bytes or a number with K, M, G or T, e.g. 4G")
        })?;
    let bytes = value * (1u64 << shift) as f64;
    if bytes >= u64::MAX as f64 {
        return Err(format!("invalid size {text:?}: too large"));
    }
    Ok(bytes as u64)
}

/// Bytes as a short human figure, e.g. "16.8 GB".
pub fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1e9 {
        format!("{:.1} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.0} MB", b / 1e6)
    } else {
        format!("{:.0} kB", b / 1e3)
    }
}

/// Peak memory of the infinite-width Monte Carlo (`lab::infinite::wide`): every net keeps its
/// rows at the stream's width in four buffers (state, rectified, branch, scratch) and its own
/// tangent rows; each running net adds its noise, sample and Gram matrix with its root, or
/// the matrix it draws instead.
pub fn wide(cfg: &LabConfig, size: WideNets) -> Need {
    let rows = ((1 + cfg.tangent_directions()) * cfg.points) as u64;
    let stream = (size.width * cfg.act.multiplier()) as u64;
    let nets = size.nets as u64;
    let running = nets.min(rayon::current_num_threads() as u64);
    let kept =
        nets * (4 * rows * stream * cfg.act.multiplier() as u64 + cfg.points as u64 * stream);
    // Noise and sample, the Gram and its root, or a drawn matrix where that is cheaper.
    let transient = running * (2 * rows * stream + 3 * rows * rows + stream * stream);
    Need {
        what: format!(
            "the infinite-width Monte Carlo with {} nets of width {}, points {}{}",
            size.nets,
            size.width,
            cfg.points,
            if cfg.tangent_directions() > 1 {
                ", through-BN tangents"
            } else {
                ""
            }
        ),
        lower: "--limit-width, --limit-nets or --points",
        bytes: BASE_BYTES + 8 * (kept + transient),
    }
}

/// Refuses a Monte Carlo of the limit whose size is out of range, whose work is over
/// `MAX_WIDE_WORK` or whose memory is over `limit`, in one line naming the flags.
pub fn check_wide(
    cfg: &LabConfig,
    size: WideNets,
    limit: Option<(u64, &str)>,
) -> anyhow::Result<()> {
    size.validate("--limit-width", "--limit-nets")?;
    let work = size.work(cfg);
    anyhow::ensure!(
        work <= MAX_WIDE_WORK,
        "refused: the infinite-width Monte Carlo with {} nets of width {}, points {}, depth {} \
         takes {work} multiply-adds, over the limit of {MAX_WIDE_WORK} (lower --limit-width, \
         --limit-nets, --points or --depth)",
        size.nets,
        size.width,
        cfg.points,
        cfg.depth
    );
    check(&wide(cfg, size), limit).map_err(anyhow::Error::msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_monte_carlo_of_the_limit_is_refused_through_the_statistics_of_many_points() {
        let size = WideNets::DEFAULT;
        let preset = LabConfig::default();
        assert!(check_wide(&preset, size, Some((8 << 30, "test"))).is_ok());
        // P tangent directions: rows (1 + P) P, a Gram of 65792² values.
        let through = LabConfig {
            bn_grad: crate::config::BnGrad::Through,
            ..preset
        };
        let err = check_wide(&through, size, None).unwrap_err().to_string();
        assert!(
            err.contains("refused") && err.contains("--limit-width"),
            "{err}"
        );
        assert!(wide(&through, size).bytes > 30 * wide(&LabConfig::default(), size).bytes);
    }

    #[test]
    fn sizes_parse_with_binary_suffixes() {
        assert_eq!(parse_size("1024").unwrap(), 1024);
        assert_eq!(parse_size("4K").unwrap(), 4096);
        assert_eq!(parse_size("512M").unwrap(), 512 << 20);
        assert_eq!(parse_size("1.5GiB").unwrap(), 3 << 29);
        assert_eq!(parse_size("2gb").unwrap(), 2 << 30);
        for bad in ["", "-1G", "G", "1X", "nan", "0"] {
            assert!(parse_size(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn mem_available_is_read_in_kib() {
        let text = "MemTotal: 100 kB\nMemFree: 5 kB\nMemAvailable:   2048 kB\n";
        assert_eq!(parse_mem_available(text), Some(2 << 20));
        assert_eq!(parse_mem_available("MemTotal: 1 kB\n"), None);
    }

    #[test]
    fn the_issue_s_sweep_is_refused_with_settings_estimate_and_limit() {
        let cfg = LabConfig {
            nets: 1000,
            width: 4096,
            depth: 2,
            ..LabConfig::default()
        };
        let need = sweep(&cfg);
        // The layer-1 state alone is 1000 x 512 x 4096 f64 values: 16.8 GB.
        assert!(need.bytes > 16_700_000_000, "{}", need.bytes);
        let e = check(&need, Some((8 << 30, "--max-memory"))).unwrap_err();
        assert!(
            e.starts_with("refused: a sweep of nets 1000, width 4096, points 256, depth 2, f64")
                && e.contains("GB of memory, over the --max-memory limit of 8.6 GB"),
            "{e}"
        );
        check(&sweep(&LabConfig::default()), Some((1 << 30, "x"))).unwrap();
    }

    #[test]
    fn the_limit_is_the_smaller_of_flag_and_machine() {
        assert_eq!(limit(Some(1), DeviceKind::Cpu), Some((1, "--max-memory")));
        if let Some(avail) = available_memory() {
            assert_eq!(
                limit(Some(u64::MAX), DeviceKind::Cpu),
                Some((avail, "available memory"))
            );
        }
        assert_eq!(
            limit(Some(1), DeviceKind::Cuda(0)),
            Some((1, "--max-memory"))
        );
    }

    #[test]
    fn estimates_grow_with_every_setting_that_allocates() {
        let base = LabConfig::default();
        let bytes = |c: LabConfig| sweep(&c).bytes;
        let b0 = bytes(base.clone());
        for c in [
            LabConfig {
                nets: 40,
                ..base.clone()
            },
            LabConfig {
                width: 400,
                ..base.clone()
            },
            LabConfig {
                points: 512,
                ..base.clone()
            },
            LabConfig {
                act: Activation::Crelu,
                ..base.clone()
            },
            LabConfig {
                bn_grad: crate::config::BnGrad::Through,
                ..base.clone()
            },
        ] {
            assert!(bytes(c) > b0);
        }
        assert!(theory(1000, 1_000_000).bytes > 20_000_000_000);
        let deep = TrainConfig {
            batch: 4096,
            net: crate::nets::conv::ConvNetConfig {
                depth: 198,
                ..TrainConfig::default().net
            },
            ..TrainConfig::default()
        };
        assert!(train(&deep).bytes > 50 * train(&TrainConfig::default()).bytes);
    }
}
