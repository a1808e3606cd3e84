//! Forward-mode gradients of R scalar nets at once, layer by layer.
//!
//! The input is a scalar, so the tangent dh/dx can be carried beside h through every layer:
//! one pass yields the gradient g_l(x_p) = v . dh_l/dx at every depth l. Values and tangents
//! are stacked into one matrix per net so each layer costs a single (batched) matmul.

use candle_core::{DType, Device, Tensor};

use crate::config::{Activation, Arch, BnGrad, LabConfig, Precision};
use crate::lab::rectify::Rectify;
use crate::nets::scalar::{NetShape, ScalarNetDraw};
use rayon::prelude::*;

/// Which implementation of the non-linear step to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepKernel {
    /// One fused pass on the CPU.
    Fused,
    /// candle ops, on any device.
    Composed,
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
}

/// Steps R nets through their layers, one depth per call.
pub struct ForwardEngine {
    shape: NetShape,
    rectify: Rectify,
    kernel: StepKernel,
    device: Device,
    dtype: DType,
    points: usize,
    grid: Vec<f64>,
    draws: Vec<ScalarNetDraw>,
    /// (R, readout width, 1).
    readout: Tensor,
    /// h_l and its tangents, (R, (1 + K) P, width); None before layer 1.
    state: Option<Tensor>,
    depth: usize,
}

impl ForwardEngine {
    /// Draws the readout and first layer of every net; computes nothing yet.
    pub fn new(cfg: &LabConfig, device: Device) -> anyhow::Result<Self> {
        let kernel = if device.is_cpu() {
            StepKernel::Fused
        } else {
            StepKernel::Composed
        };
        Self::with_kernel(cfg, device, kernel)
    }

    /// As `new`, with the non-linear step's implementation chosen by the caller.
    pub fn with_kernel(
        cfg: &LabConfig,
        device: Device,
        kernel: StepKernel,
    ) -> anyhow::Result<Self> {
        cfg.validate()?;
        let shape = NetShape::from_config(cfg);
        let draws: Vec<ScalarNetDraw> = (0..cfg.nets as u64)
            .into_par_iter()
            .map(|i| ScalarNetDraw::new(shape, cfg.seed, i))
            .collect();
        let dtype = match cfg.dtype {
            Precision::F64 => DType::F64,
            Precision::F32 => DType::F32,
        };
        let readout: Vec<f64> = draws
            .iter()
            .flat_map(|d| d.readout.iter().copied())
            .collect();
        let readout = host_tensor(
            readout,
            (cfg.nets, shape.readout_width(), 1),
            dtype,
            &device,
        )?;
        Ok(Self {
            shape,
            rectify: Rectify {
                points: cfg.points,
                directions: cfg.tangent_directions(),
                batch_norm: cfg.bn,
                through_stats: cfg.bn_grad == BnGrad::Through,
                crelu: cfg.act == Activation::Crelu,
            },
            kernel,
            device,
            dtype,
            points: cfg.points,
            grid: cfg.grid(),
            draws,
            readout,
            state: None,
            depth: 0,
        })
    }

    fn rectify(&self, z: &Tensor, batch_norm: bool) -> candle_core::Result<Tensor> {
        let op = Rectify {
            batch_norm,
            ..self.rectify
        };
        match self.kernel {
            StepKernel::Fused => op.fused(z),
            StepKernel::Composed => op.composed(z),
        }
    }

    /// Layer 1's pre-activations z = w x + b with tangents dz/dx = w along each direction.
    fn first_pre_activation(&self) -> anyhow::Result<Tensor> {
        let (p, k, n) = (self.points, self.rectify.directions, self.shape.width);
        let rows = (1 + k) * p;
        let mut z = vec![0.0; self.draws.len() * rows * n];
        z.par_chunks_mut(rows * n)
            .zip(&self.draws)
            .for_each(|(block, draw)| {
                let (values, tangents) = block.split_at_mut(p * n);
                for (row, &x) in values.chunks_exact_mut(n).zip(&self.grid) {
                    for ((zj, &w), &b) in row.iter_mut().zip(&draw.first_w).zip(&draw.first_b) {
                        *zj = w * x + b;
                    }
                }
                for (i, row) in tangents.chunks_exact_mut(n).enumerate() {
                    // With one direction every point moves; with P, direction i / P moves
                    // point i / P only (a block of the identity seed).
                    let (dir, point) = (i / p, i % p);
                    if k == 1 || dir == point {
                        row.copy_from_slice(&draw.first_w);
                    }
                }
            });
        host_tensor(z, (self.draws.len(), rows, n), self.dtype, &self.device)
    }

    /// Draws the next hidden layer of every net as one (R, fan_in, fan_out) tensor.
    fn next_hidden(&mut self) -> anyhow::Result<Tensor> {
        let (fan_in, fan_out) = self.shape.hidden_shape();
        let layers: Vec<Vec<f64>> = self.draws.par_iter_mut().map(|d| d.next_hidden()).collect();
        let flat: Vec<f64> = layers.into_iter().flatten().collect();
        host_tensor(
            flat,
            (self.draws.len(), fan_in, fan_out),
            self.dtype,
            &self.device,
        )
    }

    /// Computes the next layer of every net and returns its gradients and activity.
    pub fn step(&mut self) -> anyhow::Result<LayerOutput> {
        let (state, post) = match self.state.take() {
            None => {
                let post = self.rectify(&self.first_pre_activation()?, false)?;
                (post.clone(), post)
            }
            Some(h) => {
                let w = self.next_hidden()?;
                match self.shape.arch {
                    Arch::Ff => {
                        let post = self.rectify(&h.matmul(&w)?, self.rectify.batch_norm)?;
                        (post.clone(), post)
                    }
                    Arch::Res => {
                        let post = self.rectify(&h, self.rectify.batch_norm)?;
                        ((h + post.matmul(&w)?)?, post)
                    }
                }
            }
        };
        self.depth += 1;
        let out = self.read_out(&state, &post)?;
        self.state = Some(state);
        Ok(out)
    }

    fn read_out(&self, state: &Tensor, post: &Tensor) -> anyhow::Result<LayerOutput> {
        let (nets, p, k) = (self.draws.len(), self.points, self.rectify.directions);
        let rows = (1 + k) * p;
        let f = to_host(&state.matmul(&self.readout)?)?;
        let mut values = Vec::with_capacity(nets * p);
        let mut grads = Vec::with_capacity(nets * p);
        for net in f.chunks_exact(rows) {
            values.extend_from_slice(&net[..p]);
            if k == 1 {
                grads.extend_from_slice(&net[p..2 * p]);
            } else {
                grads.extend((0..p).map(|i| net[(1 + i) * p + i]));
            }
        }
        // The first `units` columns of the rectifier's output are relu(y): positive exactly
        // where the unit is active.
        let units = post.dim(2)? / self.rectify.multiplier();
        let signs = to_host(&post.narrow(1, 0, p)?.narrow(2, 0, units)?)?;
        Ok(LayerOutput {
            depth: self.depth,
            values,
            grads,
            active: signs.into_iter().map(|v| v > 0.0).collect(),
            units,
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
