//! The drawn weights of a sweep's nets, kept from one sweep to the next. Toggles that keep
//! every shape (batch norm, frozen/through statistics, β, first-layer bias, the displayed
//! depth) reuse them, and a deeper depth draws only the layers it lacks: drawing a layer costs
//! a sizeable fraction of its matmuls, so without the bank every toggle pays the RNG again.

use crate::config::LabConfig;
use crate::nets::scalar::{NetShape, ScalarNetDraw};

/// Memory the TUI's worker may keep drawn layers in, per side: the default preset (depth 50,
/// 20 nets of width 200, f64) takes 320 MB; deeper sweeps keep their first layers and draw
/// the rest on every sweep.
pub const DEFAULT_BUDGET_BYTES: usize = 1 << 30;

/// Hidden layers of R nets drawn so far, plus each net's stream to draw more.
pub struct WeightBank {
    /// The experiment the weights belong to; None before the first sweep.
    key: Option<(NetShape, u64)>,
    nets: Vec<NetWeights>,
    budget_bytes: usize,
}

/// One net's drawn parameters.
pub struct NetWeights {
    /// Readout and layer 1, and the stream positioned after the last kept hidden layer.
    pub draw: ScalarNetDraw,
    /// Hidden layers 2, 3, ... as drawn: (fan_in x fan_out), β not applied.
    hidden: Vec<Vec<f64>>,
}

/// Layers a sweep needs beyond what the bank keeps: drawn from a copy of the net's stream,
/// into one reused buffer, leaving the bank as it was.
#[derive(Default)]
pub struct Spill {
    draw: Option<ScalarNetDraw>,
    layer: Vec<f64>,
    /// Index of the next hidden layer `draw` yields.
    next: usize,
}

impl Default for WeightBank {
    fn default() -> Self {
        Self::new(DEFAULT_BUDGET_BYTES)
    }
}

impl WeightBank {
    /// A bank that keeps at most `budget_bytes` of hidden layers (0: keeps none, every sweep
    /// draws its own).
    pub fn new(budget_bytes: usize) -> Self {
        Self {
            key: None,
            nets: Vec::new(),
            budget_bytes,
        }
    }

    /// Gets ready for a sweep of `cfg`: keeps the weights drawn for the same experiment
    /// (seed and every shape; β and the first-layer bias are applied at use), else starts
    /// over. Returns the hidden layers each net may keep, and its first `cfg.nets` nets.
    pub fn prepare(&mut self, cfg: &LabConfig) -> (usize, &mut [NetWeights]) {
        let shape = NetShape {
            beta: 1.0,
            first_bias: true,
            ..NetShape::from_config(cfg)
        };
        if self.key != Some((shape, cfg.seed)) {
            self.key = Some((shape, cfg.seed));
            self.nets.clear();
        }
        // Net r draws from stream r: nets added later are the same as if drawn at once.
        for index in self.nets.len()..cfg.nets {
            self.nets.push(NetWeights {
                draw: ScalarNetDraw::new(shape, cfg.seed, index as u64),
                hidden: Vec::new(),
            });
        }
        let (fan_in, fan_out) = shape.hidden_shape();
        let layer_bytes = cfg.nets * fan_in * fan_out * size_of::<f64>();
        let keep = self.budget_bytes / layer_bytes.max(1);
        (keep, &mut self.nets[..cfg.nets])
    }
}

impl WeightBank {
    /// The first `nets` nets, as `prepare` left them.
    pub(crate) fn prepare_nets(&mut self, nets: usize) -> &mut [NetWeights] {
        &mut self.nets[..nets]
    }
}

impl NetWeights {
    /// Hidden layer `index` (0 is layer 2), drawn now if the bank lacks it: kept while
    /// `index < keep`, else drawn into `spill`. Layers must be asked for in order.
    pub fn layer<'a>(&'a mut self, index: usize, keep: usize, spill: &'a mut Spill) -> &'a [f64] {
        if index == self.hidden.len() && index < keep {
            self.hidden.push(self.draw.next_hidden());
        }
        if let Some(layer) = self.hidden.get(index) {
            return layer;
        }
        let draw = match &mut spill.draw {
            Some(draw) => draw,
            None => {
                spill.next = self.hidden.len();
                spill.draw.insert(self.draw.clone())
            }
        };
        while spill.next <= index {
            spill.layer = draw.next_hidden();
            spill.next += 1;
        }
        &spill.layer
    }
}
