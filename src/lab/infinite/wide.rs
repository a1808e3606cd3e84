//! The limit by Monte Carlo where no closed form exists: batch norm, which couples the P
//! points of each unit, and resnets, whose stream is not Gaussian.
//!
//! At infinite width every unit of a layer's pre-activation is an independent draw of a
//! Gaussian process over the points (values and tangents) whose covariance is the previous
//! layer's kernel. Drawing M such units from the kernel of the previous layer's M units is,
//! in distribution, exactly a net of width M with Gaussian weights (the columns of h W are
//! independent N(0, σ²/fan_in h h^T) given h), so the Monte Carlo is a set of very wide
//! nets run through the lab's own layer-1 draw, rectifier, batch norm and readout, with
//! their weights integrated into the Gram matrix: a layer costs rows² M instead of the
//! weights' rows M², rows = (1 + K) P. Its bias is that of width M, O(1/M); its standard
//! errors are the spread over the independent nets. Orthogonal layers are replaced by
//! Gaussian ones of the same entry variance, which have the same limit.

use std::ops::ControlFlow;

use faer::{Accum, Mat, MatMut, MatRef, Par, Side};
use rayon::prelude::*;
use serde::Serialize;

use crate::config::{Arch, Init, Inputs, LabConfig};
use crate::lab::forward::{FirstLayer, own_tangent_row};
use crate::lab::infinite::hidden_sigma2;
use crate::lab::inputs;
use crate::lab::readout::{PairStats, PointVectors};
use crate::lab::rectify::Rectify;
use crate::lab::summary::{HEAT_CELLS, Heat};
use crate::nets::init::WeightRng;
use crate::nets::scalar::{NetShape, ScalarNetDraw};

/// The Monte Carlo's size: nets of `width` units, `nets` of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct WideNets {
    pub width: usize,
    pub nets: usize,
}

/// Largest width the Monte Carlo takes: its buffers hold rows x width values per net.
pub const MAX_WIDE_WIDTH: usize = 16384;

/// The sampling streams have bit 62 set, apart from every net's weights and the inputs'.
const SAMPLE_STREAM: u64 = 1 << 62;

impl WideNets {
    /// `grad` and `theory`'s default: bias about 1/4096, eight nets for the standard errors.
    pub const DEFAULT: Self = Self {
        width: 4096,
        nets: 8,
    };

    /// Checks the size; the error names the field.
    pub fn validate(&self, flag_width: &str, flag_nets: &str) -> anyhow::Result<()> {
        anyhow::ensure!(
            (2..=MAX_WIDE_WIDTH).contains(&self.width),
            "invalid {flag_width} {}: expected an integer in 2..={MAX_WIDE_WIDTH}",
            self.width
        );
        anyhow::ensure!(
            (2..=crate::config::MAX_NETS).contains(&self.nets),
            "invalid {flag_nets} {}: expected an integer in 2..={}",
            self.nets,
            crate::config::MAX_NETS
        );
        Ok(())
    }

    /// Multiply-adds of a run for `cfg`: per net and layer the cheaper of the Gram route
    /// and the weights' matmul.
    pub fn work(&self, cfg: &LabConfig) -> u64 {
        let rows = ((1 + cfg.tangent_directions()) * cfg.points) as u64;
        let m = (self.width * cfg.act.multiplier()) as u64;
        let layer = (rows * m * m).min(2 * rows * rows * m + rows * rows * rows / 3);
        layer * cfg.depth as u64 * self.nets as u64
    }
}

/// Whether the Monte Carlo covers `cfg`: every setting but looks-linear nets with batch norm
/// (their mirrored weights are not Gaussian, and the nets are linear: their limit is not a
/// sampling question).
pub fn covers(cfg: &LabConfig) -> bool {
    cfg.init != Init::Ll
}

/// Runs depths 1..=cfg.depth of `size.nets` nets of width `size.width`, handing each depth's
/// integrated-readout summaries and pooled correlation matrix to `on_depth`, which returns
/// `Break` to stop early.
pub fn simulate(
    cfg: &LabConfig,
    size: WideNets,
    mut on_depth: impl FnMut(usize, PairStats, Heat) -> ControlFlow<()>,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        covers(cfg),
        "no infinite-width limit for looks-linear nets with batch norm"
    );
    let shape = NetShape {
        width: size.width,
        ..NetShape::from_config(cfg)
    };
    let grid = cfg.grid();
    let net = WideNet {
        shape,
        rectify: Rectify::for_lab(cfg),
        first: FirstLayer {
            shape: &shape,
            inputs: cfg.inputs,
            grid: &grid,
            seed: cfg.seed,
            directions: cfg.tangent_directions(),
        },
        linear_stream: cfg.inputs == Inputs::Independent && inputs::linear_stream(&shape),
        sigma2: hidden_sigma2(&shape),
    };
    let mut states: Vec<State> = (0..size.nets)
        .map(|r| State {
            index: r,
            rng: WeightRng::new(cfg.seed, SAMPLE_STREAM | r as u64),
            state: Vec::new(),
            work: Vec::new(),
            scratch: Vec::new(),
            branch: Vec::new(),
        })
        .collect();
    for depth in 1..=cfg.depth {
        let tangents: Vec<f64> = states
            .par_iter_mut()
            .map(|s| net.step(s, depth))
            .collect::<Vec<_>>()
            .concat();
        let width = shape.readout_width();
        let vectors = PointVectors::integrated(tangents, cfg.points, width, false);
        let side = HEAT_CELLS.min(cfg.points);
        let heat = Heat {
            side,
            cells: vectors.pooled_correlation(side),
        };
        if on_depth(depth, vectors.pair_stats(), heat).is_break() {
            break;
        }
    }
    Ok(())
}

/// What every wide net shares.
struct WideNet<'a> {
    shape: NetShape,
    rectify: Rectify,
    first: FirstLayer<'a>,
    /// A resnet with independent inputs starts its stream at layer 1's linear output.
    linear_stream: bool,
    /// Hidden entries have variance sigma2 / fan_in.
    sigma2: f64,
}

/// One wide net's rows, (rows x units) row-major, in buffers reused from layer to layer.
struct State {
    index: usize,
    rng: WeightRng,
    state: Vec<f64>,
    work: Vec<f64>,
    scratch: Vec<f64>,
    branch: Vec<f64>,
}

impl WideNet<'_> {
    fn rows(&self) -> usize {
        (1 + self.rectify.directions) * self.rectify.points
    }

    /// Advances one net to `depth`; returns each point's own tangent row (points x width).
    fn step(&self, s: &mut State, depth: usize) -> Vec<f64> {
        let rows = self.rows();
        if depth == 1 {
            let draw = ScalarNetDraw::new(self.shape, self.first.seed, s.index as u64);
            self.first.pre_activation(&draw, s.index, &mut s.work);
            if self.linear_stream {
                std::mem::swap(&mut s.state, &mut s.work);
            } else {
                let first = Rectify {
                    batch_norm: false,
                    ..self.rectify
                };
                s.state.resize(rows * self.shape.first_output_width(), 0.0);
                first.host(&s.work, &mut s.state, self.shape.width, &mut s.scratch);
            }
        } else {
            let (fan_in, fan_out) = self.shape.hidden_shape();
            match self.shape.arch {
                Arch::Ff => {
                    mix(
                        &s.state,
                        &mut s.work,
                        rows,
                        fan_in,
                        fan_out,
                        self.sigma2,
                        &mut s.rng,
                    );
                    s.state.resize(rows * fan_in, 0.0);
                    self.rectify
                        .host(&s.work, &mut s.state, fan_out, &mut s.scratch);
                }
                Arch::Res => {
                    s.work.resize(rows * fan_in, 0.0);
                    self.rectify
                        .host(&s.state, &mut s.work, fan_out, &mut s.scratch);
                    mix(
                        &s.work,
                        &mut s.branch,
                        rows,
                        fan_in,
                        fan_out,
                        self.sigma2,
                        &mut s.rng,
                    );
                    let beta = self.shape.beta;
                    s.state
                        .iter_mut()
                        .zip(&s.branch)
                        .for_each(|(h, b)| *h += beta * b);
                }
            }
        }
        let (p, width) = (self.rectify.points, self.shape.readout_width());
        (0..p)
            .flat_map(|i| {
                let row = own_tangent_row(p, self.rectify.directions, i) * width;
                s.state[row..row + width].iter().copied()
            })
            .collect()
    }
}

/// z = h W for W (fan_in x fan_out) with independent N(0, sigma2 / fan_in) entries, drawn in
/// distribution: by the weights themselves when fan_in is small, else as fan_out independent
/// columns N(0, G), G = sigma2 / fan_in h h^T, through a square root of G. Rows of h that
/// are zero (tangents of points a direction does not move) stay zero, as they do under W.
fn mix(
    h: &[f64],
    z: &mut Vec<f64>,
    rows: usize,
    fan_in: usize,
    fan_out: usize,
    sigma2: f64,
    rng: &mut WeightRng,
) {
    let var = sigma2 / fan_in as f64;
    z.clear();
    z.resize(rows * fan_out, 0.0);
    let live: Vec<usize> = (0..rows)
        .filter(|&r| h[r * fan_in..(r + 1) * fan_in].iter().any(|&v| v != 0.0))
        .collect();
    let n = live.len();
    if n == 0 {
        return;
    }
    let h_mat = MatRef::from_row_major_slice(&h[..rows * fan_in], rows, fan_in);
    if rows * fan_in * fan_out <= n * n * (fan_in + fan_out) + n * n * n / 3 {
        let w = rng.gaussian_matrix(fan_in, fan_out, var);
        let w = MatRef::from_row_major_slice(&w, fan_in, fan_out);
        let out = MatMut::from_row_major_slice_mut(z, rows, fan_out);
        faer::linalg::matmul::matmul(out, Accum::Replace, h_mat, w, 1.0, Par::Seq);
        return;
    }
    // The live rows, gathered only when some are not.
    let gathered: Vec<f64>;
    let live_h = if n == rows {
        h_mat
    } else {
        gathered = live
            .iter()
            .flat_map(|&r| h[r * fan_in..(r + 1) * fan_in].iter().copied())
            .collect();
        MatRef::from_row_major_slice(&gathered, n, fan_in)
    };
    let mut gram = Mat::<f64>::zeros(n, n);
    faer::linalg::matmul::matmul(
        gram.as_mut(),
        Accum::Replace,
        live_h,
        live_h.transpose(),
        var,
        Par::Seq,
    );
    let root = square_root(&gram);
    let noise = rng.gaussian(n * fan_out, 1.0);
    let noise = MatRef::from_row_major_slice(&noise, n, fan_out);
    let mut sample = vec![0.0; n * fan_out];
    faer::linalg::matmul::matmul(
        MatMut::from_row_major_slice_mut(&mut sample, n, fan_out),
        Accum::Replace,
        root.as_ref(),
        noise,
        1.0,
        Par::Seq,
    );
    if n == rows {
        *z = sample;
        return;
    }
    for (row, &r) in sample.chunks_exact(fan_out).zip(&live) {
        z[r * fan_out..(r + 1) * fan_out].copy_from_slice(row);
    }
}

/// A matrix L with L L^T = G for a positive semi-definite G: the Cholesky factor, or where
/// G is singular to round-off, U sqrt(max(Λ, 0)) from its eigendecomposition.
fn square_root(gram: &Mat<f64>) -> Mat<f64> {
    if let Ok(llt) = gram.llt(Side::Lower) {
        return llt.L().to_owned();
    }
    let n = gram.nrows();
    match gram.self_adjoint_eigen(Side::Lower) {
        Ok(eig) => {
            let (u, s) = (eig.U(), eig.S());
            Mat::from_fn(n, n, |i, j| u[(i, j)] * s[j].max(0.0).sqrt())
        }
        // The eigensolver does not converge only on non-finite input: pass it on.
        Err(_) => Mat::from_fn(n, n, |_, _| f64::NAN),
    }
}
