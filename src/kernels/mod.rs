//! A dedicated CPU forward and backward pass for the thin conv nets of `nets::conv`:
//! channel-major (CNHW) activations, 3x3 convolutions as GEMMs on the `gemm` crate, batch
//! norm fused with the rectifier, and buffers allocated once per run rather than per step.
//! candle's graph stays the reference (`--kernels candle`) and the path on CUDA.
//!
//! Every kernel is generic over [`Real`] so the tests can compare it with candle's ops in f64.

use std::fmt::Debug;
use std::iter::Sum;

use serde::{Deserialize, Serialize};

pub mod activation;
pub mod batchnorm;
pub mod conv;
pub mod gemm;
pub mod head;
pub mod im2col;
pub mod inner;
pub mod layout;
pub mod net;
pub mod reduce;
pub mod shortcut;

/// Which implementation trains a conv net.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Kernels {
    /// This module's CPU kernels (on CUDA, candle's are used instead).
    #[default]
    Fast,
    /// candle's ops and autograd: the reference path.
    Candle,
}

/// The float types the kernels run in: f32 to train, f64 to test against candle.
pub trait Real:
    num_traits::Float + num_traits::FromPrimitive + Default + Debug + Sum + Send + Sync + 'static
{
    /// `c += a · bᵀ` over rows ([`inner::accumulate_dots`]), vectorised where the type allows.
    fn accumulate_dots(c: &mut [Self], a: inner::Rows<'_, Self>, b: inner::Rows<'_, Self>) {
        inner::portable(c, a, b);
    }
}

impl Real for f32 {
    fn accumulate_dots(c: &mut [Self], a: inner::Rows<'_, Self>, b: inner::Rows<'_, Self>) {
        inner::f32_dots(c, a, b);
    }
}

impl Real for f64 {}
