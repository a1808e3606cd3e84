#!/usr/bin/env python3
"""PyTorch eager reference for `cargo bench --bench train` and for scripts/gpu-check.sh: the same
thin CIFAR-10 conv nets (layer plan of src/nets/conv.rs: 3x3 convs from 8 filters doubling to 64
at each stride-2 reduction, CReLU nets at 1/sqrt(2) the filters, optional BN, skip pairs with an
avg-pool and zero-channel shortcut, global average pooling, dense to 10 classes), trained with
Adam in f32 on fixed random images, no augmentation, no evaluation: images/s per cell. With
--sweep, also the lab's 1-D sweep (`shatterlab grad` defaults: feedforward + BN with frozen
statistics, forward-mode tangents, 256 points, width 200, 20 nets, f64, weights drawn layer by
layer and the ACF r(0..32) of every net's gradient at every depth): seconds per sweep.

Usage: python3 scripts/bench_pytorch.py [filter] [--device cpu|cuda] [--depths 20,50]
       [--batches 128] [--sweep 50,200] [--json PATH]   (needs torch)
On the CPU it runs on 2 threads. Not needed by the lab, its tests or CI.
"""

import argparse
import json
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

DEPTHS = [8, 20, 50, 110]
BATCHES = [64, 128]
# (table name, cell name as in benches/train.rs, activation, batch norm, skips)
NETS = [
    ("plain", "plain", "relu", False, False),
    ("resnet+BN", "resnet_bn", "relu", True, True),
    ("CReLU+LL", "crelu_ll", "crelu", True, False),
]
STAGES = 4
SECONDS = 2.0


def filters(act, stage):
    relu = 8 << stage
    return relu if act == "relu" else round(relu / math.sqrt(2))


def layers(depth, act):
    """(in_channels, filters, stride) per conv, as ConvNetConfig::layers."""
    mult = 2 if act == "crelu" else 1
    rest = depth - 2
    pairs = max((rest + 1) // 2, 1)
    out = [(3, filters(act, 0), 1)]
    stage = 0
    for k in range(rest):
        want = min((k // 2) * STAGES // pairs, STAGES - 1)
        stride = 2 if want > stage else 1
        stage = want
        out.append((out[-1][1] * mult, filters(act, stage), stride))
    return out


class Module(nn.Module):
    def __init__(self, c_in, f, stride, act, bn):
        super().__init__()
        self.conv = nn.Conv2d(c_in, f, 3, stride, 1, bias=not bn)
        self.bn = nn.BatchNorm2d(f) if bn else None
        self.crelu = act == "crelu"

    def forward(self, x):
        z = self.conv(x)
        if self.bn is not None:
            z = self.bn(z)
        if self.crelu:
            return torch.cat([F.relu(z), F.relu(-z)], 1)
        return F.relu(z)


def shortcut(x, branch, halves):
    if branch.shape[2] < x.shape[2]:
        x = F.avg_pool2d(x, x.shape[2] // branch.shape[2])
    c, bc = x.shape[1], branch.shape[1]
    if bc == c:
        return x
    pad = (bc - c) // halves
    return torch.cat([F.pad(p, (0, 0, 0, 0, 0, pad)) for p in x.chunk(halves, 1)], 1)


class Net(nn.Module):
    def __init__(self, depth, act, bn, skip):
        super().__init__()
        specs = layers(depth, act)
        self.mods = nn.ModuleList(Module(c, f, s, act, bn) for c, f, s in specs)
        self.skip = skip
        self.halves = 2 if act == "crelu" else 1
        self.dense = nn.Linear(specs[-1][1] * self.halves, 10)

    def forward(self, x):
        h = self.mods[0](x)
        i, n = 1, len(self.mods)
        while i < n:
            if self.skip and i + 1 < n:
                branch = self.mods[i + 1](self.mods[i](h))
                h = shortcut(h, branch, self.halves) + branch
                i += 2
            else:
                h = self.mods[i](h)
                i += 1
        return self.dense(h.mean((2, 3)))


def timed(device, fn):
    """Seconds `fn` takes, with the GPU's queue drained before and after."""
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    sync()
    t = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - t


def images_per_sec(depth, act, bn, skip, batch, device="cpu", seconds=SECONDS):
    torch.manual_seed(0)
    net = Net(depth, act, bn, skip).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x = torch.randn(batch, 3, 32, 32, device=device)
    y = torch.arange(batch, device=device) % 10

    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(net(x), y).backward()
        opt.step()

    for _ in range(2):
        step()
    times = []
    deadline = time.perf_counter() + seconds
    while len(times) < 3 or time.perf_counter() < deadline:
        times.append(timed(device, step))
    # The median step, as `cargo bench --bench train` reports (the best of noisy steps
    # flatters whichever side had the luckier one).
    return batch / statistics.median(times)


SWEEP = dict(points=256, width=200, nets=20, max_lag=32, eps=1e-5)


def sweep(depth, device, points, width, nets, max_lag, eps):
    """One 1-D sweep to `depth`: per depth, every net's gradient over the grid and its ACF."""
    dt = torch.float64
    x = torch.linspace(-2.0, 2.0, points, dtype=dt, device=device)
    w1 = math.sqrt(2.0) * torch.randn(nets, width, dtype=dt, device=device)
    b1 = torch.randn(nets, width, dtype=dt, device=device)
    v = torch.randn(nets, width, dtype=dt, device=device) / math.sqrt(width)

    def readout(state):
        g = torch.einsum("rpn,rn->rp", state[:, points:], v)
        c = g - g.mean(1, keepdim=True)
        denom = (c * c).sum(1)
        lags = [(c[:, : points - k] * c[:, k:]).sum(1) / denom for k in range(max_lag + 1)]
        return torch.stack(lags, 1).mean(0)

    z = x[None, :, None] * w1[:, None, :] + b1[:, None, :]
    on = z > 0
    state = torch.cat([torch.where(on, z, 0.0), torch.where(on, w1[:, None, :], 0.0)], 1)
    acfs = [readout(state)]
    for _ in range(depth - 1):
        w = math.sqrt(2.0 / width) * torch.randn(nets, width, width, dtype=dt, device=device)
        z = torch.bmm(state, w)
        val, tan = z[:, :points], z[:, points:]
        mu = val.mean(1, keepdim=True)
        inv = torch.rsqrt(((val - mu) ** 2).mean(1, keepdim=True) + eps)
        y = (val - mu) * inv
        on = y > 0
        state = torch.cat([torch.where(on, y, 0.0), torch.where(on, tan * inv, 0.0)], 1)
        acfs.append(readout(state))
    return torch.stack(acfs)


def sweep_seconds(depth, device="cpu", runs=5, **sizes):
    """Median seconds of the lab's 1-D sweep to `depth` on `device` (default sizes, or
    `points`, `width`, `nets` given)."""
    torch.manual_seed(0)
    settings = {**SWEEP, **sizes}
    timed(device, lambda: sweep(depth, device, **settings))  # warm-up
    return statistics.median(timed(device, lambda: sweep(depth, device, **settings)) for _ in range(runs))


def integers(text):
    return [int(t) for t in text.split(",") if t]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("filter", nargs="?", default="", help="part of the cell names, e.g. d20_plain")
    parser.add_argument("--device", default="cpu", help="cpu (2 threads) or cuda[:N]")
    parser.add_argument("--depths", type=integers, default=DEPTHS, help="conv net depths, comma separated")
    parser.add_argument("--batches", type=integers, default=BATCHES, help="batch sizes, comma separated")
    parser.add_argument("--seconds", type=float, default=SECONDS, help="timing window per cell")
    parser.add_argument("--sweep", type=integers, default=[], help="also time the 1-D sweep to these depths")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()
    if args.device == "cpu":
        torch.set_num_threads(2)
    elif not torch.cuda.is_available():
        parser.error(f"--device {args.device}: torch {torch.__version__} sees no CUDA device")
    # Denormal floats (deep plain nets' vanishing values) take slow microcode paths: without
    # this the 110-layer plain net ran at 36 img/s instead of 182 on the development machine.
    torch.set_flush_denormal(True)
    where = f"{torch.get_num_threads()} threads" if args.device == "cpu" else torch.cuda.get_device_name(args.device)
    print(f"torch {torch.__version__}, {args.device} ({where})")
    report = {"torch": torch.__version__, "device": args.device, "train": [], "sweep": []}
    print("| depth | net | batch | PyTorch img/s |")
    print("|---|---|---|---|")
    for name, cell_name, act, bn, skip in NETS:
        for depth in args.depths:
            for batch in args.batches:
                cell = f"d{depth}_{cell_name}_b{batch}"
                if args.filter not in cell:
                    continue
                rate = images_per_sec(depth, act, bn, skip, batch, args.device, args.seconds)
                report["train"].append({"cell": cell, "net": name, "depth": depth, "batch": batch, "images_per_sec": rate})
                print(f"| {depth} | {name} | {batch} | {rate:.0f} |", flush=True)
    for depth in args.sweep:
        seconds = sweep_seconds(depth, args.device)
        report["sweep"].append({"depth": depth, "seconds": seconds, **SWEEP})
        print(f"sweep ff+BN depth {depth}, P={SWEEP['points']} N={SWEEP['width']} R={SWEEP['nets']} f64: {seconds * 1e3:.1f} ms", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
