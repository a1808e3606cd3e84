#!/usr/bin/env python3
"""Kernels against PyTorch eager, interleaved: for each cell of `cargo bench --bench train`,
`--rounds` rounds of (the kernels' cell, then PyTorch's same net), each side's median over the
rounds, and the ratio. Interleaving matters on a shared machine: its speed drifts by 10 % and
more over minutes, so two tables measured one after the other compare two different machines.

Usage: python3 scripts/compare_pytorch.py [filter] [--rounds N]   (needs torch)
Run from the repository root. Not needed by the lab, its tests or CI.
"""

import argparse
import os
import statistics
import subprocess
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_pytorch  # noqa: E402  (the identical nets, and their timing)


def kernels_rate(cell):
    """images/s of the kernels' cell, from the table `cargo bench --bench train` prints."""
    out = subprocess.run(
        ["cargo", "bench", "--quiet", "--bench", "train", "--", f"fast/{cell}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    for line in out.splitlines():
        fields = [f.strip() for f in line.strip().strip("|").split("|")]
        if len(fields) > 3 and fields[0].isdigit():
            return float(fields[3])
    raise RuntimeError(f"no table row for {cell} in:\n{out}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("filter", nargs="?", default="", help="part of the cell names")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(2)
    torch.set_flush_denormal(True)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.rounds} rounds")
    print("| depth | net | batch | kernels img/s | PyTorch img/s | kernels / PyTorch |")
    print("|---|---|---|---|---|---|")
    for name, cell_name, act, bn, skip in bench_pytorch.NETS:
        for depth in bench_pytorch.DEPTHS:
            for batch in bench_pytorch.BATCHES:
                cell = f"d{depth}_{cell_name}_b{batch}"
                if args.filter not in cell:
                    continue
                ours, theirs = [], []
                for _ in range(args.rounds):
                    ours.append(kernels_rate(cell))
                    theirs.append(bench_pytorch.images_per_sec(depth, act, bn, skip, batch))
                k, p = statistics.median(ours), statistics.median(theirs)
                print(f"| {depth} | {name} | {batch} | {k:.0f} | {p:.0f} | {k / p:.2f}× |", flush=True)


if __name__ == "__main__":
    main()
