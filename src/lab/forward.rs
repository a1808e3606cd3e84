//! Forward-mode gradients of R scalar nets at once, layer by layer.
//!
//! The input is a scalar, so the tangent dh/dx can be carried beside h through every layer:
//! one pass yields the gradient g_l(x_p) = v . dh_l/dx at every depth l. Values and tangents
//! are stacked into one matrix per net so each layer costs a single matmul per net.
//!
//! On the CPU each net keeps its own buffers and the nets are spread over the cores: one
//! task per net draws the layer's weights, multiplies (single-threaded faer matmul, written into
//! the reused buffer), rectifies and reads out while its rows are still in cache. Other
//! devices run the same maths from candle ops on stacked (R, rows, width) tensors.

use candle_core::{DType, Device, Tensor};
use faer::{Accum, MatMut, MatRef, Par};
use num_traits::Float;

use crate::config::{Arch, Inputs, LabConfig, Precision};
use crate::lab::bank::{NetWeights, Spill, WeightBank};
use crate::lab::inputs;
use crate::lab::rectify::Rectify;
use crate::nets::scalar::{NetShape, ScalarNetDraw};
use rayon::prelude::*;

/// Which implementation of the non-linear step to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepKernel {
    /// Per-net buffers and faer matmuls on the CPU, the rectifier in one pass.
    Fused,
    /// candle ops, on any device.
    Composed,
}

impl StepKernel {
    /// The fast kernel the device can run.
    pub fn for_device(device: &Device) -> Self {
        if device.is_cpu() {
            StepKernel::Fused
        } else {
            StepKernel::Composed
        }
    }
}

/// What one layer of all R nets produced.
#[derive(Clone, Debug)]
pub struct LayerOutput {
    /// Depth l (1-based: layer 1 is the first rectifier layer).
    pub depth: usize,
    /// f_l(x_p), net-major (R x P).
    pub values: Vec<f64>,
    /// g_l(x_p) = df_l/dx at x_p, net-major (R x P).
    pub grads: Vec<f64>,
    /// Rectifier inputs of this layer, as signs: `true` where active, (R x P x units).
    pub active: Vec<bool>,
    /// Pre-activation units per net at this layer.
    pub units: usize,
    /// dh_l/dx at every point, (R x P x `tangent_width`): the integrated readout's input.
    pub tangents: Vec<f64>,
    pub tangent_width: usize,
    /// The readout is mirrored ([v; -v], looks-linear) rather than isotropic Gaussian.
    pub mirrored_readout: bool,
}

/// Steps R nets through their layers, one depth per call.
pub struct ForwardEngine {
    shape: NetShape,
    rectify: Rectify,
    grid: Vec<f64>,
    inputs: Inputs,
    seed: u64,
    nets: usize,
    bank: WeightBank,
    /// Hidden layers per net the bank keeps.
    keep: usize,
    spills: Vec<Spill>,
    lanes: Lanes,
    depth: usize,
    /// Relative change applied to layer 1's pre-activations (0: none); see [`Self::perturbed`].
    perturbation: f64,
}

/// Where the nets' rows live between layers.
enum Lanes {
    F64(Vec<HostNet<f64>>),
    F32(Vec<HostNet<f32>>),
    Candle(CandleNets),
}

impl ForwardEngine {
    /// Draws the readout and first layer of every net; computes nothing yet.
    pub fn new(cfg: &LabConfig, device: Device) -> anyhow::Result<Self> {
        Self::with_kernel(cfg, device.clone(), StepKernel::for_device(&device))
    }

    /// As `new`, with the non-linear step's implementation chosen by the caller.
    pub fn with_kernel(
        cfg: &LabConfig,
        device: Device,
        kernel: StepKernel,
    ) -> anyhow::Result<Self> {
        Self::with_bank(cfg, device, kernel, WeightBank::new(0))
    }

    /// As `with_kernel`, taking weights from (and drawing new ones into) `bank`; get it back
    /// with `into_bank`.
    pub fn with_bank(
        cfg: &LabConfig,
        device: Device,
        kernel: StepKernel,
        mut bank: WeightBank,
    ) -> anyhow::Result<Self> {
        cfg.validate()?;
        let shape = NetShape::from_config(cfg);
        let (keep, nets) = bank.prepare(cfg);
        let lanes = match (kernel, cfg.dtype) {
            (StepKernel::Fused, _) if !device.is_cpu() => {
                anyhow::bail!("the fused kernel runs on the CPU only")
            }
            (StepKernel::Fused, Precision::F64) => Lanes::F64(HostNet::for_nets(cfg)),
            (StepKernel::Fused, Precision::F32) => Lanes::F32(HostNet::for_nets(cfg)),
            (StepKernel::Composed, dtype) => {
                let dtype = match dtype {
                    Precision::F64 => DType::F64,
                    Precision::F32 => DType::F32,
                };
                let readout: Vec<f64> = nets
                    .iter()
                    .flat_map(|n| n.draw.readout.iter().copied())
                    .collect();
                let readout = host_tensor(
                    readout,
                    (cfg.nets, shape.readout_width(), 1),
                    dtype,
                    &device,
                )?;
                Lanes::Candle(CandleNets {
                    device,
                    dtype,
                    readout,
                    state: None,
                })
            }
        };
        Ok(Self {
            shape,
            rectify: Rectify::for_lab(cfg),
            grid: cfg.grid(),
            inputs: cfg.inputs,
            seed: cfg.seed,
            nets: cfg.nets,
            bank,
            keep,
            spills: (0..cfg.nets).map(|_| Spill::default()).collect(),
            lanes,
            depth: 0,
            perturbation: 0.0,
        })
    }

    /// The same nets with layer 1's pre-activations scaled by 1 + `eta`: a change of a few
    /// units in the last place moves every later rounding error, so comparing the two runs
    /// measures how much of a result is rounding (the round-off shadow of a sweep).
    pub fn perturbed(mut self, eta: f64) -> Self {
        self.perturbation = eta;
        self
    }

    /// The bank, with every layer drawn so far.
    pub fn into_bank(self) -> WeightBank {
        self.bank
    }

    /// Computes the next layer of every net and returns its gradients and activity.
    pub fn step(&mut self) -> anyhow::Result<LayerOutput> {
        let layer = Layer {
            shape: self.shape,
            rectify: self.rectify,
            grid: &self.grid,
            inputs: self.inputs,
            seed: self.seed,
            index: self.depth,
            keep: self.keep,
            perturbation: self.perturbation,
            // Few nets cannot keep every core busy: let each matmul split instead.
            parallelism: if self.nets < rayon::current_num_threads() {
                Par::rayon(rayon::current_num_threads())
            } else {
                Par::Seq
            },
        };
        let nets = self.bank.prepare_nets(self.nets);
        let out = match &mut self.lanes {
            Lanes::F64(lanes) => layer.host(lanes, nets, &mut self.spills),
            Lanes::F32(lanes) => layer.host(lanes, nets, &mut self.spills),
            Lanes::Candle(candle) => candle.step(&layer, nets, &mut self.spills)?,
        };
        self.depth += 1;
        Ok(out)
    }
}

/// What every net does at one depth.
struct Layer<'a> {
    shape: NetShape,
    rectify: Rectify,
    grid: &'a [f64],
    inputs: Inputs,
    seed: u64,
    /// 0 for layer 1.
    index: usize,
    keep: usize,
    perturbation: f64,
    parallelism: Par,
}

impl Layer<'_> {
    fn points(&self) -> usize {
        self.rectify.points
    }

    fn rows(&self) -> usize {
        (1 + self.rectify.directions) * self.points()
    }

    fn rectify(&self) -> Rectify {
        Rectify {
            // Layer 1 is never normalised.
            batch_norm: self.rectify.batch_norm && self.index > 0,
            ..self.rectify
        }
    }

    /// With independent inputs a resnet's stream starts at layer 1's linear output z (its
    /// signs only report activity); otherwise layer 1 is rectified.
    fn linear_stream(&self) -> bool {
        self.inputs == Inputs::Independent && inputs::linear_stream(&self.shape)
    }

    /// Layer 1's pre-activations with their tangents into `z`: [`first_pre_activation`].
    fn first_pre_activation<T: Element>(&self, draw: &ScalarNetDraw, net: usize, z: &mut Vec<T>) {
        let first = FirstLayer {
            shape: &self.shape,
            inputs: self.inputs,
            grid: self.grid,
            seed: self.seed,
            directions: self.rectify.directions,
        };
        first.pre_activation(draw, net, z);
        if self.perturbation != 0.0 {
            // The values are the first P rows of the (1 + K) P stacked rows.
            let values = z.len() / (1 + self.rectify.directions);
            let factor = T::of(1.0 + self.perturbation);
            z[..values].iter_mut().for_each(|v| *v *= factor);
        }
    }

    fn own_tangent_row(&self, point: usize) -> usize {
        own_tangent_row(self.points(), self.rectify.directions, point)
    }

    /// One depth of every net on the host, the nets spread over the cores.
    fn host<T: Element>(
        &self,
        lanes: &mut [HostNet<T>],
        nets: &mut [NetWeights],
        spills: &mut [Spill],
    ) -> LayerOutput {
        let own_rows = self.points() * self.shape.readout_width();
        // Each net writes its points' tangent rows straight into the output.
        let mut tangents = vec![0.0; lanes.len() * own_rows];
        let parts: Vec<NetLayer> = lanes
            .par_iter_mut()
            .zip(nets)
            .zip(spills)
            .zip(tangents.par_chunks_mut(own_rows.max(1)))
            .enumerate()
            .map(|(index, (((lane, weights), spill), tangents))| {
                lane.step(self, index, weights, spill, tangents)
            })
            .collect();
        let units = parts.first().map_or(0, |p| p.units);
        let mut out = LayerOutput {
            depth: self.index + 1,
            values: Vec::with_capacity(parts.len() * self.points()),
            grads: Vec::with_capacity(parts.len() * self.points()),
            active: Vec::with_capacity(parts.len() * self.points() * units),
            units,
            tangents,
            tangent_width: self.shape.readout_width(),
            mirrored_readout: self.shape.mirrored_readout(),
        };
        for part in parts {
            out.values.extend(part.values);
            out.grads.extend(part.grads);
            out.active.extend(part.active);
        }
        out
    }

    /// Values f(x_p) and gradients g(x_p) of one net from f = h v on every row.
    fn read_out(&self, f: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let p = self.points();
        let values = f[..p].to_vec();
        let grads = if self.rectify.directions == 1 {
            f[p..2 * p].to_vec()
        } else {
            (0..p).map(|i| f[(1 + i) * p + i]).collect()
        };
        (values, grads)
    }
}

/// What layer 1 of a net depends on.
pub(crate) struct FirstLayer<'a> {
    pub shape: &'a NetShape,
    pub inputs: Inputs,
    pub grid: &'a [f64],
    pub seed: u64,
    /// Tangent directions K.
    pub directions: usize,
}

impl FirstLayer<'_> {
    /// Layer 1's pre-activations with their tangents along each direction,
    /// ((1 + K) P x width) into `z`: on the grid z = w x + b, dz/dx = w; with independent
    /// inputs, see [`inputs`].
    pub(crate) fn pre_activation<T: Element>(
        &self,
        draw: &ScalarNetDraw,
        net: usize,
        z: &mut Vec<T>,
    ) {
        let (p, k) = (self.grid.len(), self.directions);
        let independent = (self.inputs == Inputs::Independent)
            .then(|| inputs::first_layer(self.shape, self.seed, net as u64, p));
        let n = independent
            .as_ref()
            .map_or(self.shape.width, |l| l.tangent.len());
        z.clear();
        z.resize((1 + k) * p * n, T::zero());
        let (values, tangents) = z.split_at_mut(p * n);
        let tangent = match &independent {
            Some(layer) => {
                values
                    .iter_mut()
                    .zip(&layer.values)
                    .for_each(|(z, &v)| *z = T::of(v));
                &layer.tangent
            }
            None => {
                let bias = self.shape.first_bias;
                for (row, &x) in values.chunks_exact_mut(n).zip(self.grid) {
                    for ((zj, &w), &b) in row.iter_mut().zip(&draw.first_w).zip(&draw.first_b) {
                        *zj = T::of(if bias { w * x + b } else { w * x });
                    }
                }
                &draw.first_w
            }
        };
        for (i, row) in tangents.chunks_exact_mut(n).enumerate() {
            // With one direction every point moves; with P, direction i / P moves point
            // i / P only (a block of the identity seed).
            let (dir, point) = (i / p, i % p);
            if k == 1 || dir == point {
                row.iter_mut()
                    .zip(tangent)
                    .for_each(|(r, &w)| *r = T::of(w));
            }
        }
    }
}

/// Row of point i's own tangent among (1 + K) P rows: block 1 with one direction, the
/// diagonal of the P x P blocks with P.
pub(crate) fn own_tangent_row(points: usize, directions: usize, point: usize) -> usize {
    if directions == 1 {
        points + point
    } else {
        (1 + point) * points + point
    }
}

/// One net's part of a layer's output.
struct NetLayer {
    values: Vec<f64>,
    grads: Vec<f64>,
    active: Vec<bool>,
    units: usize,
}

/// f32 or f64, the dtypes the host path runs in.
pub(crate) trait Element: Float + faer::traits::RealField + Send + Sync + 'static {
    fn of(v: f64) -> Self;
    /// A hidden layer's weights in this type: borrowed as drawn for f64, else converted.
    fn weights<'a>(drawn: &'a [f64], buffer: &'a mut Vec<Self>) -> &'a [Self];
}

impl Element for f64 {
    fn of(v: f64) -> Self {
        v
    }

    fn weights<'a>(drawn: &'a [f64], _: &'a mut Vec<Self>) -> &'a [Self] {
        drawn
    }
}

impl Element for f32 {
    fn of(v: f64) -> Self {
        v as f32
    }

    fn weights<'a>(drawn: &'a [f64], buffer: &'a mut Vec<Self>) -> &'a [Self] {
        buffer.clear();
        buffer.extend(drawn.iter().map(|&v| v as f32));
        buffer
    }
}

/// One net's rows on the host, in buffers reused from layer to layer.
struct HostNet<T> {
    /// h_l and its tangents, ((1 + K) P x readout width).
    state: Vec<T>,
    /// Pre-activations (feedforward) or the residual branch's rectified input.
    work: Vec<T>,
    /// The rectifier's normalised values and column statistics.
    scratch: Vec<T>,
    readout: Vec<T>,
    /// f = h v on every row.
    f: Vec<T>,
    /// Hidden weights converted to T (f32 only).
    weights: Vec<T>,
}

impl<T: Element> HostNet<T> {
    fn for_nets(cfg: &LabConfig) -> Vec<Self> {
        (0..cfg.nets)
            .map(|_| Self {
                state: Vec::new(),
                work: Vec::new(),
                scratch: Vec::new(),
                readout: Vec::new(),
                f: Vec::new(),
                weights: Vec::new(),
            })
            .collect()
    }

    fn step(
        &mut self,
        layer: &Layer,
        index: usize,
        net: &mut NetWeights,
        spill: &mut Spill,
        tangents: &mut [f64],
    ) -> NetLayer {
        let rows = layer.rows();
        let rectify = layer.rectify();
        let width = layer.shape.width;
        let post_is_state = if layer.index == 0 {
            self.readout.clear();
            self.readout
                .extend(net.draw.readout.iter().map(|&v| T::of(v)));
            layer.first_pre_activation(&net.draw, index, &mut self.work);
            if layer.linear_stream() {
                self.state.clone_from(&self.work);
                false
            } else {
                resize(&mut self.state, rows * layer.shape.first_output_width());
                rectify.host(&self.work, &mut self.state, width, &mut self.scratch);
                true
            }
        } else {
            let (fan_in, fan_out) = layer.shape.hidden_shape();
            let drawn = net.layer(layer.index - 1, layer.keep, spill);
            let w = T::weights(drawn, &mut self.weights);
            match layer.shape.arch {
                Arch::Ff => {
                    resize(&mut self.work, rows * fan_out);
                    matmul(
                        &self.state,
                        w,
                        &mut self.work,
                        (rows, fan_in, fan_out),
                        None,
                        layer.parallelism,
                    );
                    rectify.host(&self.work, &mut self.state, fan_out, &mut self.scratch);
                    true
                }
                Arch::Res => {
                    // h + β act(BN(h)) W, the sum accumulated by the matmul itself.
                    resize(&mut self.work, rows * fan_in);
                    rectify.host(&self.state, &mut self.work, fan_out, &mut self.scratch);
                    let beta = T::of(layer.shape.beta);
                    matmul(
                        &self.work,
                        w,
                        &mut self.state,
                        (rows, fan_in, fan_out),
                        Some(beta),
                        layer.parallelism,
                    );
                    false
                }
            }
        };
        let state_width = layer.shape.readout_width();
        resize(&mut self.f, rows);
        matmul(
            &self.state,
            &self.readout,
            &mut self.f,
            (rows, state_width, 1),
            None,
            Par::Seq,
        );
        let f: Vec<f64> = self
            .f
            .iter()
            .map(|v| v.to_f64().unwrap_or(f64::NAN))
            .collect();
        let (values, grads) = layer.read_out(&f);
        // The first `units` columns of the rectifier's output are relu(y): positive exactly
        // where the unit is active. A linear stream's layer 1 has every column's sign.
        let post = if post_is_state {
            &self.state
        } else {
            &self.work
        };
        let post_width = post.len() / rows;
        let units = if layer.index == 0 && layer.linear_stream() {
            post_width
        } else {
            post_width / layer.rectify.multiplier()
        };
        let active = post[..layer.points() * post_width]
            .chunks_exact(post_width)
            .flat_map(|row| row[..units].iter().map(|&v| v > T::zero()))
            .collect();
        // Each point's own tangent row, (points x readout width).
        for (i, out) in tangents.chunks_exact_mut(state_width).enumerate() {
            let row = layer.own_tangent_row(i) * state_width;
            out.iter_mut()
                .zip(&self.state[row..row + state_width])
                .for_each(|(o, v)| *o = v.to_f64().unwrap_or(f64::NAN));
        }
        NetLayer {
            values,
            grads,
            active,
            units,
        }
    }
}

fn resize<T: Element>(buffer: &mut Vec<T>, len: usize) {
    buffer.resize(len, T::zero());
}

/// c = a b for row-major a (m x k), b (k x n), c (m x n); with `accumulate` = Some(β),
/// c += β a b instead. faer's kernels use AVX-512 where the CPU has it.
fn matmul<T: Element>(
    a: &[T],
    b: &[T],
    c: &mut [T],
    (m, k, n): (usize, usize, usize),
    accumulate: Option<T>,
    par: Par,
) {
    let a = MatRef::from_row_major_slice(&a[..m * k], m, k);
    let b = MatRef::from_row_major_slice(&b[..k * n], k, n);
    let c = MatMut::from_row_major_slice_mut(&mut c[..m * n], m, n);
    match accumulate {
        Some(beta) => faer::linalg::matmul::matmul(c, Accum::Add, a, b, beta, par),
        None => faer::linalg::matmul::matmul(c, Accum::Replace, a, b, T::one(), par),
    }
}

/// The nets' rows as candle tensors, for devices other than the CPU.
struct CandleNets {
    device: Device,
    dtype: DType,
    /// (R, readout width, 1).
    readout: Tensor,
    /// h_l and its tangents, (R, (1 + K) P, width); None before layer 1.
    state: Option<Tensor>,
}

impl CandleNets {
    fn step(
        &mut self,
        layer: &Layer,
        nets: &mut [NetWeights],
        spills: &mut [Spill],
    ) -> anyhow::Result<LayerOutput> {
        let rectify = layer.rectify();
        let (state, post) = match self.state.take() {
            None => {
                let rows = layer.rows();
                let mut z = Vec::new();
                let mut all = Vec::with_capacity(nets.len() * rows * layer.shape.width);
                for (index, net) in nets.iter().enumerate() {
                    layer.first_pre_activation(&net.draw, index, &mut z);
                    all.extend_from_slice(&z);
                }
                let shape = (nets.len(), rows, z.len() / rows);
                let z = host_tensor(all, shape, self.dtype, &self.device)?;
                let post = rectify.composed(&z)?;
                if layer.linear_stream() {
                    (z, post)
                } else {
                    (post.clone(), post)
                }
            }
            Some(h) => {
                let (fan_in, fan_out) = layer.shape.hidden_shape();
                let mut flat = Vec::with_capacity(nets.len() * fan_in * fan_out);
                for (net, spill) in nets.iter_mut().zip(spills) {
                    flat.extend_from_slice(net.layer(layer.index - 1, layer.keep, spill));
                }
                let w = host_tensor(
                    flat,
                    (nets.len(), fan_in, fan_out),
                    self.dtype,
                    &self.device,
                )?;
                match layer.shape.arch {
                    Arch::Ff => {
                        let post = rectify.composed(&h.matmul(&w)?)?;
                        (post.clone(), post)
                    }
                    Arch::Res => {
                        let post = rectify.composed(&h)?;
                        let branch = (post.matmul(&w)? * layer.shape.beta)?;
                        ((h + branch)?, post)
                    }
                }
            }
        };
        let f = to_host(&state.matmul(&self.readout)?)?;
        let (p, rows) = (layer.points(), layer.rows());
        let mut values = Vec::with_capacity(nets.len() * p);
        let mut grads = Vec::with_capacity(nets.len() * p);
        for net in f.chunks_exact(rows) {
            let (v, g) = layer.read_out(net);
            values.extend(v);
            grads.extend(g);
        }
        // The first `units` columns of the rectifier's output are relu(y): positive exactly
        // where the unit is active.
        let units = post.dim(2)? / layer.rectify.multiplier();
        let signs = to_host(&post.narrow(1, 0, p)?.narrow(2, 0, units)?)?;
        let own_rows: Vec<u32> = (0..p).map(|i| layer.own_tangent_row(i) as u32).collect();
        let own_rows = Tensor::new(own_rows, &self.device)?;
        let tangents = to_host(&state.index_select(&own_rows, 1)?)?;
        let tangent_width = state.dim(2)?;
        self.state = Some(state);
        Ok(LayerOutput {
            depth: layer.index + 1,
            values,
            grads,
            active: signs.into_iter().map(|v| v > 0.0).collect(),
            units,
            tangents,
            tangent_width,
            mirrored_readout: layer.shape.mirrored_readout(),
        })
    }
}

/// Builds a tensor from host f64 data in the lab's dtype on `device`.
fn host_tensor(
    data: Vec<f64>,
    shape: (usize, usize, usize),
    dtype: DType,
    device: &Device,
) -> anyhow::Result<Tensor> {
    let t = match dtype {
        DType::F32 => {
            let data: Vec<f32> = data.into_iter().map(|v| v as f32).collect();
            Tensor::from_vec(data, shape, &Device::Cpu)?
        }
        _ => Tensor::from_vec(data, shape, &Device::Cpu)?,
    };
    Ok(t.to_device(device)?)
}

/// Copies a tensor to the host as flat f64.
fn to_host(t: &Tensor) -> anyhow::Result<Vec<f64>> {
    Ok(t.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?)
}
