//! An independent path to the same gradients: the nets rebuilt as ordinary candle graphs,
//! differentiated by candle's reverse-mode autograd, and evaluated pointwise for finite
//! differences. Tests and benchmarks hold the forward-mode engine against it.

use candle_core::{D, DType, Device, Tensor, Var};

use crate::config::{Activation, Arch, LabConfig};
use crate::lab::rectify::BN_EPS;
use crate::nets::scalar::{NetShape, ScalarNetDraw};

/// One net's parameters up to a depth, as f64 candle tensors.
pub struct NetGraph {
    shape: NetShape,
    batch_norm: bool,
    readout: Tensor,
    first_w: Tensor,
    first_b: Tensor,
    hidden: Vec<Tensor>,
}

/// Where batch-norm statistics come from in a graph evaluation.
#[derive(Clone, Copy)]
enum Stats<'a> {
    /// The evaluated points' own statistics, differentiated through.
    Own,
    /// The evaluated points' own statistics, held constant.
    OwnFrozen,
    /// Constants taken from another grid (finite differences with frozen statistics).
    From(&'a Tensor),
}

impl NetGraph {
    /// Net `index` of the experiment `cfg`, drawn exactly as the engine draws it.
    pub fn draw(cfg: &LabConfig, index: u64, depth: usize) -> candle_core::Result<Self> {
        let shape = NetShape::from_config(cfg);
        let mut draw = ScalarNetDraw::new(shape, cfg.seed, index);
        let dev = Device::Cpu;
        let (fan_in, fan_out) = shape.hidden_shape();
        let hidden = (1..depth)
            .map(|_| Tensor::from_vec(draw.next_hidden(), (fan_in, fan_out), &dev))
            .collect::<candle_core::Result<_>>()?;
        Ok(Self {
            shape,
            batch_norm: cfg.bn,
            readout: Tensor::from_vec(draw.readout.clone(), (shape.readout_width(), 1), &dev)?,
            first_w: Tensor::from_vec(draw.first_w.clone(), (1, shape.width), &dev)?,
            first_b: Tensor::from_vec(draw.first_b.clone(), (1, shape.width), &dev)?,
            hidden,
        })
    }

    fn act(&self, y: &Tensor) -> candle_core::Result<Tensor> {
        match self.shape.act {
            Activation::Relu => y.relu(),
            Activation::Crelu => Tensor::cat(&[y.relu()?, y.neg()?.relu()?], D::Minus1),
        }
    }

    /// Batch norm over rows; `reference` supplies the statistics when given.
    fn norm(z: &Tensor, reference: Option<&Tensor>, frozen: bool) -> candle_core::Result<Tensor> {
        let src = reference.unwrap_or(z);
        let mean = src.mean_keepdim(0)?;
        let var = src.broadcast_sub(&mean)?.sqr()?.mean_keepdim(0)?;
        let (mean, var) = if frozen {
            (mean.detach(), var.detach())
        } else {
            (mean, var)
        };
        z.broadcast_sub(&mean)?
            .broadcast_div(&(var + BN_EPS)?.sqrt()?)
    }

    /// f(x) at the rows of `x` (P x 1).
    fn eval(&self, x: &Tensor, stats: Stats) -> candle_core::Result<Tensor> {
        let mut reference = match stats {
            Stats::From(grid) => Some(grid.broadcast_mul(&self.first_w)?.broadcast_add(&self.first_b)?),
            _ => None,
        };
        let frozen = !matches!(stats, Stats::Own);
        let z = x.broadcast_mul(&self.first_w)?.broadcast_add(&self.first_b)?;
        let mut h = self.act(&z)?;
        reference = reference.map(|r| self.act(&r)).transpose()?;
        for w in &self.hidden {
            let step = |h: &Tensor, r: Option<&Tensor>| -> candle_core::Result<Tensor> {
                match self.shape.arch {
                    Arch::Ff => {
                        let z = h.matmul(w)?;
                        let y = if self.batch_norm {
                            Self::norm(&z, r.map(|r| r.matmul(w)).transpose()?.as_ref(), frozen)?
                        } else {
                            z
                        };
                        self.act(&y)
                    }
                    Arch::Res => {
                        let y = if self.batch_norm {
                            Self::norm(h, r, frozen)?
                        } else {
                            h.clone()
                        };
                        h + self.act(&y)?.matmul(w)?
                    }
                }
            };
            let next_ref = reference.as_ref().map(|r| step(r, None)).transpose()?;
            h = step(&h, reference.as_ref())?;
            reference = next_ref;
        }
        h.matmul(&self.readout)
    }

    /// df/dx at every grid point by reverse mode. Frozen statistics make the Jacobian
    /// diagonal, so one backward pass of sum f suffices; through the statistics it is not,
    /// and each point needs its own backward pass.
    pub fn reverse_gradients(&self, grid: &[f64], through_stats: bool) -> candle_core::Result<Vec<f64>> {
        let x = Var::from_tensor(&column(grid)?)?;
        if !through_stats || !self.batch_norm {
            let f = self.eval(x.as_tensor(), Stats::OwnFrozen)?;
            let grads = f.sum_all()?.backward()?;
            return leaf_grad(&grads, &x)?.flatten_all()?.to_vec1();
        }
        let f = self.eval(x.as_tensor(), Stats::Own)?;
        (0..grid.len())
            .map(|p| {
                let grads = f.narrow(0, p, 1)?.sum_all()?.backward()?;
                let g = leaf_grad(&grads, &x)?;
                g.narrow(0, p, 1)?.sum_all()?.to_scalar::<f64>()
            })
            .collect()
    }

    /// Central finite differences of f at every grid point with step `h`.
    pub fn finite_difference_gradients(
        &self,
        grid: &[f64],
        h: f64,
        through_stats: bool,
    ) -> candle_core::Result<Vec<f64>> {
        let base = column(grid)?;
        if !through_stats || !self.batch_norm {
            let plus = self.eval(&(&base + h)?, Stats::From(&base))?;
            let minus = self.eval(&(&base - h)?, Stats::From(&base))?;
            return ((plus - minus)? / (2.0 * h))?.flatten_all()?.to_vec1();
        }
        (0..grid.len())
            .map(|p| {
                let at = |d: f64| -> candle_core::Result<f64> {
                    let mut moved = grid.to_vec();
                    moved[p] += d;
                    let f = self.eval(&column(&moved)?, Stats::Own)?;
                    f.narrow(0, p, 1)?.sum_all()?.to_scalar::<f64>()
                };
                Ok((at(h)? - at(-h)?) / (2.0 * h))
            })
            .collect()
    }

    /// f(x) at the grid points, statistics from the grid itself.
    pub fn values(&self, grid: &[f64]) -> candle_core::Result<Vec<f64>> {
        self.eval(&column(grid)?, Stats::OwnFrozen)?.flatten_all()?.to_vec1()
    }
}

fn leaf_grad<'a>(grads: &'a candle_core::backprop::GradStore, x: &Var) -> candle_core::Result<&'a Tensor> {
    grads
        .get(x)
        .ok_or_else(|| candle_core::Error::Msg("the input does not reach the output".into()))
}

fn column(values: &[f64]) -> candle_core::Result<Tensor> {
    Tensor::from_vec(values.to_vec(), (values.len(), 1), &Device::Cpu)?.to_dtype(DType::F64)
}
