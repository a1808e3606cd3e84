//! Adam and SGD with momentum over candle `Var`s. Written here rather than taken from
//! candle-nn because its SGD has no momentum and its AdamW keeps its moments private, and a
//! checkpoint must save them to resume exactly.

use candle_core::backprop::GradStore;
use candle_core::{Result, Var};
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

/// An optimiser's parameters and per-parameter state.
pub struct Optimizer {
    kind: OptimizerKind,
    momentum: f64,
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
            kind,
            momentum,
            params,
            first,
            second,
            steps: 0,
        })
    }

    /// Applies one update with learning rate `lr`.
    pub fn step(&mut self, grads: &GradStore, lr: f64) -> Result<()> {
        self.steps += 1;
        let t = self.steps as i32;
        for (i, p) in self.params.iter().enumerate() {
            let Some(g) = grads.get(p) else { continue };
            match self.kind {
                OptimizerKind::Adam => {
                    let m = ((self.first[i].as_tensor() * BETA1)? + (g * (1.0 - BETA1))?)?;
                    let v = ((self.second[i].as_tensor() * BETA2)? + (g.sqr()? * (1.0 - BETA2))?)?;
                    let m_hat = (&m / (1.0 - BETA1.powi(t)))?;
                    let v_hat = (&v / (1.0 - BETA2.powi(t)))?;
                    let update = (m_hat / (v_hat.sqrt()? + EPS)?)?;
                    p.set(&(p.as_tensor() - (update * lr)?)?)?;
                    self.first[i].set(&m)?;
                    self.second[i].set(&v)?;
                }
                OptimizerKind::Sgd => {
                    let v = ((self.first[i].as_tensor() * self.momentum)? + g)?;
                    p.set(&(p.as_tensor() - (&v * lr)?)?)?;
                    self.first[i].set(&v)?;
                }
            }
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
