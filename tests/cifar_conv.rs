//! The conv nets at init: looks-linear nets are exactly linear (f64, no batch norm), He/ReLU
//! nets are not.

use std::sync::Arc;

use candle_core::{DType, Device, Tensor};
use shatterlab::config::Activation;
use shatterlab::nets::conv::{CandleConv, ConvInit, ConvNet, ConvNetConfig, Mode};
use shatterlab::nets::init::WeightRng;

fn images(stream: u64) -> Tensor {
    let v = WeightRng::new(99, stream).gaussian(2 * 3 * 32 * 32, 1.0);
    Tensor::from_vec(v, (2, 3, 32, 32), &Device::Cpu).expect("tensor")
}

/// max |f(a+b) - f(a) - f(b) + f(0)| / max |f(a)|.
fn nonlinearity(cfg: ConvNetConfig) -> f64 {
    let net = ConvNet::new(&cfg, 5, DType::F64, &Device::Cpu, Arc::new(CandleConv)).expect("net");
    let f = |x: &Tensor| net.forward(x, Mode::Eval).expect("forward");
    let (a, b) = (images(0), images(1));
    let zero = a.zeros_like().expect("zeros");
    let fa = f(&a);
    let gap = ((f(&(&a + &b).expect("add")) - &fa).expect("sub") - f(&b))
        .and_then(|t| t + f(&zero))
        .expect("combine");
    let max = |t: &Tensor| {
        t.abs()
            .and_then(|t| t.max_all())
            .and_then(|t| t.to_scalar::<f64>())
            .expect("max")
    };
    let scale = max(&fa);
    assert!(
        scale > 1e-12 && scale.is_finite(),
        "output vanished: {scale}"
    );
    max(&gap) / scale
}

fn cfg(init: ConvInit, act: Activation, skip: bool) -> ConvNetConfig {
    ConvNetConfig {
        depth: 12,
        act,
        init,
        bn: false,
        skip,
    }
}

#[test]
fn looks_linear_nets_are_exactly_linear_at_init() {
    for skip in [false, true] {
        for init in [ConvInit::Ll, ConvInit::LlDelta] {
            let e = nonlinearity(cfg(init, Activation::Crelu, skip));
            assert!(e < 1e-10, "{init:?} skip={skip}: relative nonlinearity {e}");
        }
    }
}

#[test]
fn the_deepest_looks_linear_net_is_still_linear() {
    let mut c = cfg(ConvInit::Ll, Activation::Crelu, false);
    c.depth = shatterlab::nets::conv::MAX_CONV_DEPTH;
    let e = nonlinearity(c);
    assert!(e < 1e-9, "depth 198: relative nonlinearity {e}");
}

#[test]
fn he_relu_nets_are_not_linear() {
    let e = nonlinearity(cfg(ConvInit::He, Activation::Relu, false));
    assert!(e > 1e-3, "He/ReLU looked linear: {e}");
}

#[test]
fn a_seed_fixes_the_weights() {
    let c = cfg(ConvInit::He, Activation::Crelu, true);
    let out = |seed| {
        let net =
            ConvNet::new(&c, seed, DType::F64, &Device::Cpu, Arc::new(CandleConv)).expect("net");
        net.forward(&images(2), Mode::Eval)
            .and_then(|t| t.flatten_all())
            .and_then(|t| t.to_vec1::<f64>())
            .expect("forward")
    };
    assert_eq!(out(3), out(3));
    assert_ne!(out(3), out(4));
}
