//! Adam and SGD with momentum over candle `Var`s. Written here rather than taken from
//! candle-nn because its SGD has no momentum and its AdamW keeps its moments private, and a
//! checkpoint must save them to resume exactly.

use candle_core::backprop::GradStore;
use candle_core::{DType, Result, Tensor, Var, WithDType};

use crate::kernels::Real;
use serde::{Deserialize, Serialize};

const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPS: f64 = 1e-8;

/// Which update rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// Adam (β1 0.9, β2 0.999), as in the paper.
    Adam,
    /// SGD with heavy-ball momentum.
    Sgd,
}

/// An update rule and its hyper-parameters, applied element-wise to flat slices, shared by
/// the candle path (`Optimizer`) and the CPU kernels' path (`FlatOptimizer`).
#[derive(Clone, Copy, Debug)]
struct Rule {
    kind: OptimizerKind,
    momentum: f64,
}

impl Rule {
    /// Update number `t` (from 1) of `p` by gradient `g`; `first`/`second` are the moments
    /// (`second` is unused by SGD).
    fn apply<T: Real>(
        &self,
        t: u64,
        lr: f64,
        p: &mut [T],
        g: &[T],
        first: &mut [T],
        second: &mut [T],
    ) {
        let c = |v: f64| T::from_f64(v).unwrap_or_else(T::nan);
        match self.kind {
            OptimizerKind::Adam => {
                let t = i32::try_from(t).unwrap_or(i32::MAX);
                let (b1, b2) = (c(BETA1), c(BETA2));
                let (a1, a2) = (c(1.0 - BETA1), c(1.0 - BETA2));
                let corr1 = c(1.0 / (1.0 - BETA1.powi(t)));
                let corr2 = c(1.0 / (1.0 - BETA2.powi(t)));
                let (lr, eps) = (c(lr), c(EPS));
                for (((p, &g), m), v) in p
                    .iter_mut()
                    .zip(g)
                    .zip(first.iter_mut())
                    .zip(second.iter_mut())
                {
                    *m = b1 * *m + a1 * g;
                    *v = b2 * *v + a2 * g * g;
                    *p = *p - lr * (*m * corr1) / ((*v * corr2).sqrt() + eps);
                }
            }
            OptimizerKind::Sgd => {
                let (mu, lr) = (c(self.momentum), c(lr));
                for ((p, &g), v) in p.iter_mut().zip(g).zip(first.iter_mut()) {
                    *v = mu * *v + g;
                    *p = *p - lr * *v;
                }
            }
        }
    }
}

/// An optimiser over candle `Var`s (the candle path): parameters and per-parameter state.
pub struct Optimizer {
    rule: Rule,
    params: Vec<Var>,
    /// Adam's first moments, or SGD's velocities.
    first: Vec<Var>,
    /// Adam's second moments (empty for SGD).
    second: Vec<Var>,
    steps: u64,
}

impl Optimizer {
    pub fn new(kind: OptimizerKind, momentum: f64, params: Vec<Var>) -> Result<Self> {
        let zeros = |p: &Var| Var::zeros(p.shape(), p.dtype(), p.device());
        let first = params.iter().map(zeros).collect::<Result<Vec<_>>>()?;
        let second = match kind {
            OptimizerKind::Adam => params.iter().map(zeros).collect::<Result<Vec<_>>>()?,
            OptimizerKind::Sgd => Vec::new(),
        };
        Ok(Self {
            rule: Rule { kind, momentum },
            params,
            first,
            second,
            steps: 0,
        })
    }

    /// Applies one update with learning rate `lr`.
    pub fn step(&mut self, grads: &GradStore, lr: f64) -> Result<()> {
        self.steps += 1;
        for i in 0..self.params.len() {
            let Some(g) = grads.get(&self.params[i]) else {
                continue;
            };
            match self.params[i].dtype() {
                DType::F32 => self.update::<f32>(i, g, lr)?,
                DType::F64 => self.update::<f64>(i, g, lr)?,
                other => candle_core::bail!("cannot optimise {other:?} parameters"),
            }
        }
        Ok(())
    }

    /// Runs the rule on host copies of parameter i, its gradient and its state.
    fn update<T: Real + WithDType>(&mut self, i: usize, g: &Tensor, lr: f64) -> Result<()> {
        let host = |t: &Tensor| t.flatten_all()?.to_vec1::<T>();
        let p = &self.params[i];
        let mut pv = host(p.as_tensor())?;
        let gv = host(g)?;
        let mut first = host(self.first[i].as_tensor())?;
        let mut second = match self.second.get(i) {
            Some(v) => host(v.as_tensor())?,
            None => Vec::new(),
        };
        self.rule
            .apply(self.steps, lr, &mut pv, &gv, &mut first, &mut second);
        let back = |v: Vec<T>| Tensor::from_vec(v, p.shape(), p.device());
        p.set(&back(pv)?)?;
        self.first[i].set(&back(first)?)?;
        if let Some(v) = self.second.get(i) {
            v.set(&back(second)?)?;
        }
        Ok(())
    }

    /// Updates applied so far (Adam's bias correction depends on it).
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The state a checkpoint needs, by name, to continue exactly.
    pub fn named_state(&self) -> Vec<(String, Var)> {
        let first = self
            .first
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("opt.first.{i}"), v.clone()));
        let second = self
            .second
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("opt.second.{i}"), v.clone()));
        first.chain(second).collect()
    }

    /// Restores the step count saved beside `named_state`.
    pub fn set_steps(&mut self, steps: u64) {
        self.steps = steps;
    }
}

/// The same rules over one flat parameter vector (the CPU kernels keep all parameters in one),
/// state laid out like the parameters.
pub struct FlatOptimizer<T> {
    rule: Rule,
    /// Adam's first moments, or SGD's velocities.
    pub first: Vec<T>,
    /// Adam's second moments (empty for SGD).
    pub second: Vec<T>,
    steps: u64,
}

impl<T: Real> FlatOptimizer<T> {
    pub fn new(kind: OptimizerKind, momentum: f64, len: usize) -> Self {
        let second = match kind {
            OptimizerKind::Adam => vec![T::zero(); len],
            OptimizerKind::Sgd => Vec::new(),
        };
        Self {
            rule: Rule { kind, momentum },
            first: vec![T::zero(); len],
            second,
            steps: 0,
        }
    }

    /// Applies one update with learning rate `lr`.
    pub fn step(&mut self, params: &mut [T], grads: &[T], lr: f64) {
        self.steps += 1;
        self.rule.apply(
            self.steps,
            lr,
            params,
            grads,
            &mut self.first,
            &mut self.second,
        );
    }

    /// Updates applied so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Restores the step count saved beside the moments.
    pub fn set_steps(&mut self, steps: u64) {
        self.steps = steps;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    /// Minimises (x - 3)^2 from x = 0.
    fn minimise(kind: OptimizerKind, lr: f64) -> f64 {
        let x = Var::new(&[0f64], &Device::Cpu).unwrap();
        let mut opt = Optimizer::new(kind, 0.9, vec![x.clone()]).unwrap();
        for _ in 0..500 {
            let loss = (x.as_tensor() - 3.0)
                .unwrap()
                .sqr()
                .unwrap()
                .sum_all()
                .unwrap();
            opt.step(&loss.backward().unwrap(), lr).unwrap();
        }
        let v: Tensor = x.as_tensor().clone();
        v.to_vec1::<f64>().unwrap()[0]
    }

    #[test]
    fn both_rules_reach_the_minimum() {
        assert!((minimise(OptimizerKind::Adam, 0.05) - 3.0).abs() < 1e-2);
        assert!((minimise(OptimizerKind::Sgd, 0.01) - 3.0).abs() < 1e-6);
    }
}
