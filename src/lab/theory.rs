//! The paper's theorems on gradient covariance (paper §4) and a Monte-Carlo simulation of
//! the idealised model they are proved in: shared Gaussian weights, every unit active with
//! probability 1/2 independently for each of two inputs i and j.
//!
//! Depth L counts rectifier layers including layer 1, so a resnet of depth L has L - 1
//! residual modules; Theorems 2 and 3 are evaluated at that module count.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::Serialize;

use crate::config::Arch;

/// Which theorem (and idealised model) applies.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Model {
    /// Theorem 1: feedforward, He init.
    Feedforward,
    /// Theorem 2: resnet without batch norm.
    ResnetNoBn,
    /// Theorem 3: resnet with batch norm and β-scaled branches.
    ResnetBn,
    /// Theorem 3's product with the *centred* stream variance 1 + (1 - 1/π) β² (l - 1): batch
    /// norm removes the mean of each branch's ReLU output (variance 1/2 - 1/(2π) instead of
    /// second moment 1/2), which Theorem 3's recursion ignores. Not in the paper; real nets
    /// with independent inputs follow it at large β.
    ResnetBnCentred,
}

impl Model {
    pub fn for_arch(arch: Arch, bn: bool) -> Self {
        match (arch, bn) {
            (Arch::Ff, _) => Model::Feedforward,
            (Arch::Res, false) => Model::ResnetNoBn,
            (Arch::Res, true) => Model::ResnetBn,
        }
    }

    /// The centred-variance companion of a model, where it has one (Theorem 3 only).
    pub fn centred(self) -> Option<Self> {
        (self == Model::ResnetBn).then_some(Model::ResnetBnCentred)
    }
}

/// C(i) = E[g_i^2] and C(i,j) = E[g_i g_j] predicted at depth L.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Moments {
    pub c_ii: f64,
    pub c_ij: f64,
}

impl Moments {
    /// R = C(i,j) / C(i).
    pub fn correlation(&self) -> f64 {
        self.c_ij / self.c_ii
    }
}

/// s_l^2: the variance a batch-normalised resnet's stream has reached at module l, which BN
/// divides out. Each earlier branch adds β² times 2 Var(relu(BN h)) per unit: 1 under
/// Theorem 3 (second moment, mean kept), 1 - 1/π once BN removes the mean.
fn stream_variance(model: Model, module: usize, beta: f64) -> f64 {
    let per_branch = match model {
        Model::ResnetBnCentred => 1.0 - std::f64::consts::FRAC_1_PI,
        _ => 1.0,
    };
    1.0 + per_branch * beta * beta * (module as f64 - 1.0)
}

/// The exact theorem values at depth L.
pub fn moments(model: Model, depth: usize, beta: f64) -> Moments {
    let modules = depth.saturating_sub(1);
    let b2 = beta * beta;
    match model {
        Model::Feedforward => Moments {
            c_ii: 1.0,
            c_ij: 0.5f64.powi(depth as i32),
        },
        Model::ResnetNoBn => Moments {
            c_ii: (1.0 + b2).powi(modules as i32),
            c_ij: (1.0 + b2 / 2.0).powi(modules as i32),
        },
        Model::ResnetBn | Model::ResnetBnCentred => (1..=modules).fold(
            Moments {
                c_ii: 1.0,
                c_ij: 1.0,
            },
            |m, l| {
                let s2 = stream_variance(model, l, beta);
                Moments {
                    c_ii: m.c_ii * (1.0 + b2 / s2),
                    c_ij: m.c_ij * (1.0 + b2 / (2.0 * s2)),
                }
            },
        ),
    }
}

/// Theorem 3's large-L form R ~ 1 / (β sqrt(L)); None where it says nothing (β = 0).
pub fn resnet_bn_asymptote(depth: usize, beta: f64) -> Option<f64> {
    (beta > 0.0).then(|| 1.0 / (beta * (depth as f64).sqrt()))
}

/// Mean and standard error of a Monte-Carlo estimate.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Estimate {
    pub mean: f64,
    pub se: f64,
}

/// The idealised model's measured moments at one depth.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Measured {
    pub c_ii: Estimate,
    pub c_jj: Estimate,
    pub c_ij: Estimate,
    /// Ratio estimate C(i,j) / sqrt(C(i) C(j)).
    pub correlation: f64,
    /// Its standard error (delta method over the trials).
    pub correlation_se: f64,
}

/// Simulates the idealised model for depths 1..=`depth` with `width` units and `trials`
/// independent draws. Only W u_i and W u_j of each fresh Gaussian W enter the gradients, and
/// per output unit that pair is Gaussian with covariance (2/N) Gram(u_i, u_j): sampling it
/// directly is the shared-weight model exactly, at O(N) instead of O(N^2) per layer. The
/// readout v is integrated out: E[g_i g_j | u] = u_i . u_j / N.
pub fn simulate(
    model: Model,
    depth: usize,
    beta: f64,
    width: usize,
    trials: usize,
    seed: u64,
) -> Vec<Measured> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = width as f64;
    // Per depth, per trial: (u_i.u_i, u_j.u_j, u_i.u_j) / N.
    let mut samples = vec![Vec::with_capacity(trials); depth];
    let mut ui = vec![0.0; width];
    let mut uj = vec![0.0; width];
    for _ in 0..trials {
        match model {
            Model::Feedforward => {
                for k in 0..width {
                    let w = 2f64.sqrt() * normal(&mut rng);
                    ui[k] = if rng.random::<bool>() { w } else { 0.0 };
                    uj[k] = if rng.random::<bool>() { w } else { 0.0 };
                }
            }
            Model::ResnetNoBn | Model::ResnetBn | Model::ResnetBnCentred => {
                for k in 0..width {
                    ui[k] = normal(&mut rng);
                    uj[k] = ui[k];
                }
            }
        }
        samples[0].push(gram(&ui, &uj, n));
        for (l, slot) in samples.iter_mut().enumerate().skip(1) {
            // Feedforward: u <- D (W u). Resnet module l: u <- u + scale W (D u).
            let (xi, xj) = match model {
                Model::Feedforward => (ui.clone(), uj.clone()),
                _ => (masked(&mut rng, &ui), masked(&mut rng, &uj)),
            };
            let (a, b, c) = gram(&xi, &xj, 1.0);
            let (yi, yj) = correlated_pairs(&mut rng, width, 2.0 / n, a, b, c);
            match model {
                Model::Feedforward => {
                    ui = masked(&mut rng, &yi);
                    uj = masked(&mut rng, &yj);
                }
                Model::ResnetNoBn | Model::ResnetBn | Model::ResnetBnCentred => {
                    let scale = match model {
                        Model::ResnetNoBn => beta,
                        _ => beta / stream_variance(model, l, beta).sqrt(),
                    };
                    ui.iter_mut().zip(&yi).for_each(|(u, y)| *u += scale * y);
                    uj.iter_mut().zip(&yj).for_each(|(u, y)| *u += scale * y);
                }
            }
            slot.push(gram(&ui, &uj, n));
        }
    }
    samples.iter().map(|s| summarise(s)).collect()
}

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    <StandardNormal as Distribution<f64>>::sample(&StandardNormal, rng)
}

/// Each entry kept with probability 1/2, independently.
fn masked(rng: &mut ChaCha8Rng, u: &[f64]) -> Vec<f64> {
    u.iter()
        .map(|&v| if rng.random::<bool>() { v } else { 0.0 })
        .collect()
}

/// (a.a, b.b, a.b) / scale.
fn gram(a: &[f64], b: &[f64], scale: f64) -> (f64, f64, f64) {
    let dot = |x: &[f64], y: &[f64]| x.iter().zip(y).map(|(p, q)| p * q).sum::<f64>() / scale;
    (dot(a, a), dot(b, b), dot(a, b))
}

/// `width` independent pairs (y_i, y_j) ~ N(0, var * [[a, c], [c, b]]) (Cholesky).
fn correlated_pairs(
    rng: &mut ChaCha8Rng,
    width: usize,
    var: f64,
    a: f64,
    b: f64,
    c: f64,
) -> (Vec<f64>, Vec<f64>) {
    let l11 = (var * a).sqrt();
    let l21 = if l11 > 0.0 { var * c / l11 } else { 0.0 };
    let l22 = (var * b - l21 * l21).max(0.0).sqrt();
    (0..width)
        .map(|_| {
            let (z1, z2) = (normal(rng), normal(rng));
            (l11 * z1, l21 * z1 + l22 * z2)
        })
        .unzip()
}

fn summarise(samples: &[(f64, f64, f64)]) -> Measured {
    let n = samples.len() as f64;
    let est = |f: &dyn Fn(&(f64, f64, f64)) -> f64| {
        let mean = samples.iter().map(f).sum::<f64>() / n;
        let var = samples.iter().map(|s| (f(s) - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
        Estimate {
            mean,
            se: (var / n).sqrt(),
        }
    };
    let (c_ii, c_jj, c_ij) = (est(&|s| s.0), est(&|s| s.1), est(&|s| s.2));
    let correlation = c_ij.mean / (c_ii.mean * c_jj.mean).sqrt();
    // R = a / sqrt(b c) to first order moves with a/ā - b/(2 b̄) - c/(2 c̄) per trial.
    let linearised = est(&|s| s.2 / c_ij.mean - s.0 / (2.0 * c_ii.mean) - s.1 / (2.0 * c_jj.mean));
    Measured {
        c_ii,
        c_jj,
        c_ij,
        correlation,
        correlation_se: correlation.abs() * linearised.se,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn theorem_three_reference_values_at_depth_fifty() {
        // paper §4: R = 0.159 (β = 1), 0.283 (β = 0.5), 0.820 (β = 0.1) at L = 50
        for (beta, want) in [(1.0, 0.159), (0.5, 0.283), (0.1, 0.820)] {
            let r = moments(Model::ResnetBn, 50, beta).correlation();
            assert!((r - want).abs() < 5e-4, "β={beta}: {r}");
        }
    }

    #[test]
    fn centred_variant_reference_values_at_depth_fifty() {
        // issue 13's independent NumPy product: 0.810 / 0.207 / 0.095 at β = 0.1 / 0.5 / 1
        for (beta, want) in [(0.1, 0.810), (0.5, 0.207), (1.0, 0.095)] {
            let r = moments(Model::ResnetBnCentred, 50, beta).correlation();
            assert!((r - want).abs() < 5e-4, "β={beta}: {r}");
        }
    }

    #[test]
    fn theorem_one_halves_per_layer() {
        assert_eq!(moments(Model::Feedforward, 3, 1.0).correlation(), 0.125);
    }
}
