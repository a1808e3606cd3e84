//! A whole conv net of `nets::conv` on the CPU kernels: parameters and gradients in flat
//! vectors (so the optimiser updates them in one pass), activations and scratch allocated once
//! for the largest batch, forward in training or evaluation mode, backward to every gradient.
//! Tensors keep candle's names and layouts (kernels OIHW), so checkpoints are the same on
//! either path.

use std::ops::Range;

use num_traits::ToPrimitive;

use crate::kernels::activation::{self, Affine};
use crate::kernels::head::{self, Head};
use crate::kernels::im2col::ConvShape;
use crate::kernels::shortcut::{self, Shortcut};
use crate::kernels::{Real, batchnorm, conv, layout};
use crate::nets::conv::{BN_EPS, BN_MOMENTUM, Block, CLASSES, ConvNetConfig, LayerSpec, Mode};
use crate::train::cifar::{CHANNELS, SIDE};

/// Where a named tensor lives and how its candle layout maps onto it.
#[derive(Clone, Debug)]
pub struct Slot {
    pub name: String,
    /// Shape in candle's layout.
    pub shape: Vec<usize>,
    /// Trained (in `params`) or a BN running statistic (in `running`).
    pub trainable: bool,
    range: Range<usize>,
}

/// One conv module's geometry and the places of its tensors.
struct Layer {
    spec: LayerSpec,
    /// Side of its input.
    side: usize,
    kernel: Range<usize>,
    /// Bias (no BN) or γ then β (BN) in `params`.
    affine: Range<usize>,
    /// Running mean then variance in `running` (BN only).
    running: Option<Range<usize>>,
    /// Batch mean then variance in `stats` (BN only).
    stats: Range<usize>,
}

impl Layer {
    fn shape(&self, batch: usize) -> ConvShape {
        ConvShape {
            batch,
            h: self.side,
            w: self.side,
            c_in: self.spec.in_channels,
            c_out: self.spec.filters,
            stride: self.spec.stride,
        }
    }
}

/// The net, its gradients and every buffer a step needs.
pub struct FastNet<T> {
    cfg: ConvNetConfig,
    capacity: usize,
    layers: Vec<Layer>,
    blocks: Vec<Block>,
    slots: Vec<Slot>,
    dense_w: Range<usize>,
    dense_b: Range<usize>,
    params: Vec<T>,
    grads: Vec<T>,
    running: Vec<T>,
    stats: Vec<T>,
    /// `acts[0]` is the NHWC input, `acts[i + 1]` module i's output (skip sum included).
    acts: Vec<Vec<T>>,
    /// Module i's convolution output.
    zs: Vec<Vec<T>>,
    conv_scratch: conv::Scratch<T>,
    gy: Vec<T>,
    grad_bufs: [Vec<T>; 3],
    feat: Vec<T>,
    d_feat: Vec<T>,
    logits: Vec<T>,
    /// Per-channel scratch: the affine map's centre, scale and shift.
    center: Vec<T>,
    scale: Vec<T>,
    shift: Vec<T>,
}

impl<T: Real> FastNet<T> {
    /// A net of `cfg` with zero weights (load them with `set`), for batches up to `capacity`;
    /// the convolutions split each batch over `threads` threads.
    pub fn new(cfg: &ConvNetConfig, capacity: usize, threads: usize) -> Self {
        let specs = cfg.layers();
        let mut slots = Vec::new();
        let mut params = 0;
        let mut running = 0;
        let mut stats = 0;
        let mut add = |name: String, shape: Vec<usize>, trainable: bool| {
            let len: usize = shape.iter().product();
            let at = if trainable { &mut params } else { &mut running };
            let range = *at..*at + len;
            *at += len;
            slots.push(Slot {
                name,
                shape,
                trainable,
                range: range.clone(),
            });
            range
        };
        let mut layers = Vec::new();
        let mut side = SIDE;
        for (i, spec) in specs.iter().copied().enumerate() {
            let (o, c) = (spec.filters, spec.in_channels);
            let kernel = add(format!("conv{i}.weight"), vec![o, c, 3, 3], true);
            let (affine, running_range) = if cfg.bn {
                let g = add(format!("bn{i}.gamma"), vec![o], true);
                let b = add(format!("bn{i}.beta"), vec![o], true);
                let m = add(format!("bn{i}.running_mean"), vec![o], false);
                let v = add(format!("bn{i}.running_var"), vec![o], false);
                (g.start..b.end, Some(m.start..v.end))
            } else {
                (add(format!("conv{i}.bias"), vec![o], true), None)
            };
            let stat_len = if cfg.bn { 2 * o } else { 0 };
            layers.push(Layer {
                spec,
                side,
                kernel,
                affine,
                running: running_range,
                stats: stats..stats + stat_len,
            });
            stats += stat_len;
            side = (side - 1) / spec.stride + 1;
        }
        let features = cfg.features();
        let dense_w = add("dense.weight".into(), vec![features, CLASSES], true);
        let dense_b = add("dense.bias".into(), vec![CLASSES], true);
        let mult = cfg.act.multiplier();
        let mut acts = vec![vec![T::zero(); capacity * SIDE * SIDE * CHANNELS]];
        let mut zs = Vec::new();
        let (mut gy, mut widest) = (0, CHANNELS);
        for l in &layers {
            let s = l.shape(capacity);
            zs.push(vec![T::zero(); s.output_len()]);
            acts.push(vec![T::zero(); s.output_len() * mult]);
            gy = gy.max(s.output_len());
            widest = widest.max(l.spec.filters);
        }
        let act_max = acts.iter().map(Vec::len).max().unwrap_or(0);
        let shapes: Vec<ConvShape> = layers.iter().map(|l| l.shape(capacity)).collect();
        Self {
            cfg: *cfg,
            capacity,
            blocks: cfg.blocks(),
            layers,
            dense_w,
            dense_b,
            grads: vec![T::zero(); params],
            params: vec![T::zero(); params],
            running: vec![T::zero(); running],
            stats: vec![T::zero(); stats],
            acts,
            zs,
            conv_scratch: conv::Scratch::new(&shapes, threads),
            gy: vec![T::zero(); gy],
            grad_bufs: std::array::from_fn(|_| vec![T::zero(); act_max]),
            feat: vec![T::zero(); capacity * features],
            d_feat: vec![T::zero(); capacity * features],
            logits: vec![T::zero(); capacity * CLASSES],
            center: vec![T::zero(); widest],
            scale: vec![T::zero(); widest],
            shift: vec![T::zero(); widest],
            slots,
        }
    }

    /// Bytes of every buffer the net holds (parameters, gradients, statistics,
    /// activations, scratch): its memory while training, the optimiser's state aside.
    pub fn bytes(&self) -> usize {
        let vecs = [
            &self.params,
            &self.grads,
            &self.running,
            &self.stats,
            &self.gy,
            &self.feat,
            &self.d_feat,
            &self.logits,
            &self.center,
            &self.scale,
            &self.shift,
        ];
        let held = vecs.iter().map(|v| v.len()).sum::<usize>()
            + self
                .acts
                .iter()
                .chain(&self.zs)
                .chain(&self.grad_bufs)
                .map(Vec::len)
                .sum::<usize>()
            + self.conv_scratch.elements();
        held * std::mem::size_of::<T>()
    }

    /// Every tensor in `ConvNet::named_vars`' order.
    pub fn slots(&self) -> &[Slot] {
        &self.slots
    }

    /// Largest batch the buffers hold.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// `source` (a vector laid out like the parameters, or the running statistics) at `slot`.
    /// Every tensor is stored in candle's layout (kernels OIHW), so this is a copy.
    pub fn export(&self, slot: &Slot, source: &[T]) -> Vec<T> {
        source[slot.range.clone()].to_vec()
    }

    /// Writes `data` into `dest` (laid out like the parameters or the running statistics)
    /// at `slot`.
    pub fn import(slot: &Slot, data: &[T], dest: &mut [T]) {
        dest[slot.range.clone()].copy_from_slice(data);
    }

    /// The tensor named `slot.name`, in candle's layout.
    pub fn get(&self, slot: &Slot) -> Vec<T> {
        let source = if slot.trainable {
            &self.params
        } else {
            &self.running
        };
        self.export(slot, source)
    }

    /// Sets a tensor from candle's layout.
    pub fn set(&mut self, slot: &Slot, data: &[T]) {
        let dest = if slot.trainable {
            &mut self.params
        } else {
            &mut self.running
        };
        Self::import(slot, data, dest);
    }

    /// The gradient of a trained tensor after `train_step`, in candle's layout.
    pub fn grad(&self, slot: &Slot) -> Vec<T> {
        self.export(slot, &self.grads)
    }

    /// Parameters (to update) and their gradients, flat.
    pub fn params_and_grads(&mut self) -> (&mut [T], &[T]) {
        (&mut self.params, &self.grads)
    }

    /// Forward in training mode on `x` (NCHW images), mean cross-entropy against `labels`,
    /// and backward into the gradients. Returns the loss.
    pub fn train_step<X: ToPrimitive + Copy + Sync>(&mut self, x: &[X], labels: &[u32]) -> T {
        on_pool(|| {
            let n = labels.len();
            self.forward(x, n, Mode::Train);
            let h = self.head(n);
            let loss = head::cross_entropy(&h, &mut self.logits, labels);
            self.backward(n);
            loss
        })
    }

    /// Logits (n x 10) of `n` NCHW images `x`.
    pub fn logits<X: ToPrimitive + Copy + Sync>(&mut self, x: &[X], n: usize, mode: Mode) -> &[T] {
        on_pool(|| self.forward(x, n, mode));
        &self.logits[..n * CLASSES]
    }

    /// The classifier's geometry; the linear classifier's features are single pixels.
    fn head(&self, n: usize) -> Head {
        let last = self.layers.last().map_or(1, |l| l.shape(n).out_h());
        Head {
            batch: n,
            pixels: last * last,
            features: self.dense_w.len() / CLASSES,
            classes: CLASSES,
        }
    }

    fn forward<X: ToPrimitive + Copy>(&mut self, x: &[X], n: usize, mode: Mode) {
        assert!(n <= self.capacity && x.len() == n * CHANNELS * SIDE * SIDE);
        layout::nchw_to_cnhw(x, n, CHANNELS, SIDE * SIDE, &mut self.acts[0]);
        for b in 0..self.blocks.len() {
            match self.blocks[b] {
                Block::Single(i) => self.layer_forward(i, n, mode),
                Block::Pair(i) => {
                    self.layer_forward(i, n, mode);
                    self.layer_forward(i + 1, n, mode);
                    let s = self.shortcut(i, n);
                    let (before, after) = self.acts.split_at_mut(i + 1);
                    shortcut::add_forward(&s, &before[i], &mut after[1]);
                }
            }
        }
        let h = self.head(n);
        let (w, b) = (
            &self.params[self.dense_w.clone()],
            &self.params[self.dense_b.clone()],
        );
        if self.cfg.is_linear() {
            // NCHW images flattened per image are the linear classifier's features.
            for (f, v) in self.feat.iter_mut().zip(&x[..n * h.features]) {
                *f = <T as num_traits::NumCast>::from(*v).unwrap_or_else(T::zero);
            }
            head::dense(&h, &self.feat, w, b, &mut self.logits);
            return;
        }
        head::logits(
            &h,
            &self.acts[self.layers.len()],
            w,
            b,
            &mut self.feat,
            &mut self.logits,
        );
    }

    fn shortcut(&self, i: usize, n: usize) -> Shortcut {
        let (first, second) = (&self.layers[i], &self.layers[i + 1]);
        let out_side = second.shape(n).out_h();
        let mult = self.cfg.act.multiplier();
        Shortcut {
            batch: n,
            h: first.side,
            w: first.side,
            c: first.spec.in_channels,
            out_c: second.spec.filters * mult,
            pool: first.side / out_side,
            halves: mult,
        }
    }

    /// Fills `center`, `scale`, `shift` with layer i's affine map: the bias, or BN with the
    /// batch (after `batch_stats`) or running statistics.
    fn set_affine(&mut self, i: usize, mode: Mode) {
        let l = &self.layers[i];
        let f = l.spec.filters;
        let (center, scale, shift) = (
            &mut self.center[..f],
            &mut self.scale[..f],
            &mut self.shift[..f],
        );
        let affine = &self.params[l.affine.clone()];
        let Some(running) = &l.running else {
            center.fill(T::zero());
            scale.fill(T::one());
            shift.copy_from_slice(affine);
            return;
        };
        let (gamma, beta) = affine.split_at(f);
        let (mean, var) = match mode {
            Mode::Train => self.stats[l.stats.clone()].split_at(f),
            Mode::Eval => self.running[running.clone()].split_at(f),
        };
        center.copy_from_slice(mean);
        batchnorm::scale(gamma, var, eps::<T>(), scale);
        shift.copy_from_slice(beta);
    }

    fn layer_forward(&mut self, i: usize, n: usize, mode: Mode) {
        let s = self.layers[i].shape(n);
        let f = s.c_out;
        let z = &mut self.zs[i][..s.output_len()];
        conv::forward(
            &s,
            &self.acts[i][..s.input_len()],
            &self.params[self.layers[i].kernel.clone()],
            &mut self.conv_scratch,
            z,
        );
        let l = &self.layers[i];
        if let (Mode::Train, Some(running)) = (mode, &l.running) {
            let (mean, var) = self.stats[l.stats.clone()].split_at_mut(f);
            batchnorm::batch_stats(z, mean, var);
            let (r_mean, r_var) = self.running[running.clone()].split_at_mut(f);
            let m = T::from_f64(BN_MOMENTUM).unwrap_or_else(T::zero);
            batchnorm::update_running(r_mean, mean, m);
            batchnorm::update_running(r_var, var, m);
        }
        self.set_affine(i, mode);
        let aff = Affine {
            center: &self.center[..f],
            scale: &self.scale[..f],
            shift: &self.shift[..f],
        };
        let crelu = self.cfg.act.multiplier() == 2;
        let out = &mut self.acts[i + 1][..s.output_len() * self.cfg.act.multiplier()];
        activation::forward(&self.zs[i][..s.output_len()], f, &aff, crelu, out);
    }

    fn backward(&mut self, n: usize) {
        let h = self.head(n);
        let [g0, g1, g2] = &mut self.grad_bufs;
        let (d_w, d_b) = self.grads.split_at_mut(self.dense_b.start);
        head::dense_backward(
            &h,
            &self.logits,
            &self.feat,
            &self.params[self.dense_w.clone()],
            &mut d_w[self.dense_w.clone()],
            &mut d_b[..CLASSES],
            &mut self.d_feat,
        );
        if self.cfg.is_linear() {
            // The pixels' gradient is not needed.
            return;
        }
        head::unpool(&h, &self.d_feat, g0);
        // Rotate the three gradient buffers so `cur` always holds the block output's gradient.
        let mut bufs = [std::mem::take(g0), std::mem::take(g1), std::mem::take(g2)];
        for b in (0..self.blocks.len()).rev() {
            match self.blocks[b] {
                Block::Single(i) => {
                    let [cur, next, _] = &mut bufs;
                    self.layer_backward(i, n, cur, next);
                    bufs.swap(0, 1);
                }
                Block::Pair(i) => {
                    let [cur, mid, input] = &mut bufs;
                    self.layer_backward(i + 1, n, cur, mid);
                    self.layer_backward(i, n, mid, input);
                    shortcut::add_backward(&self.shortcut(i, n), cur, input);
                    bufs.swap(0, 2);
                }
            }
        }
        self.grad_bufs = bufs;
    }

    /// Gradients of layer i's parameters from `g_out`, its output's gradient; `g_in` gets its
    /// input's gradient (except for the stem, whose input is the data).
    fn layer_backward(&mut self, i: usize, n: usize, g_out: &[T], g_in: &mut [T]) {
        let s = self.layers[i].shape(n);
        let f = s.c_out;
        self.set_affine(i, Mode::Train);
        let aff = Affine {
            center: &self.center[..f],
            scale: &self.scale[..f],
            shift: &self.shift[..f],
        };
        let crelu = self.cfg.act.multiplier() == 2;
        let z = &self.zs[i][..s.output_len()];
        let gy = &mut self.gy[..s.output_len()];
        activation::backward(z, g_out, f, &aff, crelu, gy);
        let l = &self.layers[i];
        let d_affine = &mut self.grads[l.affine.clone()];
        if l.running.is_some() {
            let (mean, var) = self.stats[l.stats.clone()].split_at(f);
            let gamma = &self.params[l.affine.start..l.affine.start + f];
            let (d_gamma, d_beta) = d_affine.split_at_mut(f);
            batchnorm::backward(z, gy, mean, var, gamma, eps::<T>(), d_gamma, d_beta);
        } else {
            activation::row_sums(gy, d_affine);
        }
        let x = &self.acts[i][..s.input_len()];
        let d_kernel = &mut self.grads[l.kernel.clone()];
        let kernel = &self.params[l.kernel.clone()];
        // The stem's input is the data: no input gradient.
        let g_in = (i > 0).then_some(g_in);
        conv::backward(&s, x, gy, kernel, &mut self.conv_scratch, d_kernel, g_in);
    }
}

/// Runs `op` on one of rayon's pool threads. Every kernel forks parallel loops (a hundred or
/// more a step); forked from a pool thread, a loop keeps one share and hands the other to a
/// worker that is usually still spinning, where from an outside thread each loop is handed
/// over whole while the caller sleeps until it ends: two wake-ups per loop. Measured +3 % on
/// the 50-layer plain net and +8 % on the 50-layer resnet+BN at batch 64.
fn on_pool<R: Send>(op: impl FnOnce() -> R + Send) -> R {
    rayon::scope(|_| op())
}

fn eps<T: Real>() -> T {
    T::from_f64(BN_EPS).unwrap_or_else(T::zero)
}
