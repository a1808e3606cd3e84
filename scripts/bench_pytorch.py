#!/usr/bin/env python3
"""PyTorch eager reference for `cargo bench --bench train`: the same thin CIFAR-10 conv nets
(layer plan of src/nets/conv.rs: 3x3 convs from 8 filters doubling to 64 at each stride-2
reduction, CReLU nets at 1/sqrt(2) the filters, optional BN, skip pairs with an avg-pool and
zero-channel shortcut, global average pooling, dense to 10 classes), trained with Adam in f32 on
fixed random images on 2 threads, no augmentation, no evaluation. Prints images/s per cell.

Usage: python3 scripts/bench_pytorch.py [filter]   (needs torch)
Not needed by the lab, its tests or CI.
"""

import math
import statistics
import sys
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


def images_per_sec(depth, act, bn, skip, batch):
    torch.manual_seed(0)
    net = Net(depth, act, bn, skip)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x = torch.randn(batch, 3, 32, 32)
    y = torch.arange(batch) % 10

    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(net(x), y).backward()
        opt.step()

    for _ in range(2):
        step()
    times = []
    deadline = time.perf_counter() + SECONDS
    while len(times) < 3 or time.perf_counter() < deadline:
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    # The median step, as `cargo bench --bench train` reports (the best of noisy steps
    # flatters whichever side had the luckier one).
    return batch / statistics.median(times)


def main():
    torch.set_num_threads(2)
    # Denormal floats (deep plain nets' vanishing values) take slow microcode paths: without
    # this the 110-layer plain net ran at 36 img/s instead of 182 on the development machine.
    torch.set_flush_denormal(True)
    flt = sys.argv[1] if len(sys.argv) > 1 else ""
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| depth | net | batch | PyTorch img/s |")
    print("|---|---|---|---|")
    for name, cell_name, act, bn, skip in NETS:
        for depth in DEPTHS:
            for batch in BATCHES:
                cell = f"d{depth}_{cell_name}_b{batch}"
                if flt not in cell:
                    continue
                rate = images_per_sec(depth, act, bn, skip, batch)
                print(f"| {depth} | {name} | {batch} | {rate:.0f} |", flush=True)


if __name__ == "__main__":
    main()
