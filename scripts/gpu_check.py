#!/usr/bin/env python3
"""GPU check of a CUDA build of shatterlab: CPU/GPU parity, GPU timings, PyTorch beside them.

Run through scripts/gpu-check.sh, which finds the CUDA libraries first. Three parts, one JSON
report and one table:

(a) parity: the same seed and nets on the CPU and on the GPU, from the binary's own output:
    the 1-D sweep's per-depth statistics (`grad`) and the losses of a few training steps
    (`train`), as max abs / rel differences against the tolerances stated in TOLERANCES;
(b) GPU timings: the 1-D sweep (wall time of `grad --depth L` less that of `grad --depth 1`,
    i.e. without process and CUDA start-up) and CIFAR training images/s (the median of the
    step records after the first, depth 20/50/110, batch 128, f32, the three nets);
(c) PyTorch on the same GPU, the same workloads (scripts/bench_pytorch.py).

Without --data-dir the training runs on generated CIFAR-format files (random images; speed
and parity do not depend on the pictures). The exit status is 1 when a parity check fails.
"""

import argparse
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# |gpu - cpu| <= atol + rtol * |cpu| for every number of a check. f64 sweeps differ only by
# summation order; f32 ones and training (f32, BN, SGD) by more. Fractions of active units
# and run lengths count signs, which may flip for a unit sitting at zero: an absolute slack.
TOLERANCES = {
    "sweep f64": {"rtol": 1e-6, "atol": 1e-9},
    "sweep f32": {"rtol": 1e-2, "atol": 1e-4},
    "sign counts": {"rtol": 0.0, "atol": 1e-3},
    "train loss": {"rtol": 1e-3, "atol": 1e-5},
}
SIGN_COUNTS = {"active_fraction", "saturated_fraction", "mean_run_length"}

# (name, bench cell name, shatterlab train flags): the nets of benches/train.rs and
# scripts/bench_pytorch.py.
NETS = [
    ("plain", "plain", ["--no-bn"]),
    ("resnet+BN", "resnet_bn", ["--bn", "--skip"]),
    ("CReLU+LL", "crelu_ll", ["--bn", "--act", "crelu", "--init", "ll"]),
]
TRAIN_DEPTHS = [20, 50, 110]
TRAIN_BATCH = 128
SWEEP_DEPTHS = [50, 200]

PLANS = {
    # What each part runs: full for the GPU machine, quick to test the plumbing anywhere.
    "full": dict(
        sweep=dict(points=256, width=200, nets=20),
        parity_depth=50,
        train_steps=10,
        bench_steps=40,
        repeats=3,
        train_depths=TRAIN_DEPTHS,
        sweep_depths=SWEEP_DEPTHS,
        torch_seconds=2.0,
    ),
    "quick": dict(
        sweep=dict(points=64, width=32, nets=4),
        parity_depth=6,
        train_steps=3,
        bench_steps=4,
        repeats=1,
        train_depths=[8],
        sweep_depths=[6],
        torch_seconds=0.2,
    ),
}


def fail(msg):
    print(f"gpu-check: {msg}", file=sys.stderr)
    sys.exit(2)


def run(cmd, **kw):
    """Runs the binary; its stderr is shown only when it fails."""
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    seconds = time.perf_counter() - t
    if proc.returncode != 0:
        fail(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout, seconds


def make_cifar(folder, train_records, test_records, seed=0):
    """CIFAR-10 binary batches of random images: a label byte and 3072 pixel bytes each."""
    os.makedirs(folder, exist_ok=True)
    rng = random.Random(seed)
    for name, n in [("data_batch_1.bin", train_records), ("test_batch.bin", test_records)]:
        with open(os.path.join(folder, name), "wb") as f:
            for _ in range(n):
                f.write(bytes([rng.randrange(10)]) + rng.randbytes(3072))
    return folder


def numbers(value, path=""):
    """Every number in a JSON value, with where it sits; null (a non-finite value) as NaN."""
    if isinstance(value, bool):
        return
    if value is None:
        yield path, math.nan
    if isinstance(value, (int, float)):
        yield path, float(value)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from numbers(v, f"{path}[{i}]")
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from numbers(v, f"{path}.{k}" if path else k)


def compare(pairs, tolerance_of):
    """Max abs / rel difference of (name, cpu, gpu) triples and whether each is in tolerance."""
    worst = {"max_abs": 0.0, "max_rel": 0.0, "failures": [], "count": 0}
    for name, a, b in pairs:
        worst["count"] += 1
        if math.isnan(a) and math.isnan(b):
            continue
        if math.isnan(a) or math.isnan(b):
            worst["max_abs"] = worst["max_rel"] = math.inf
            worst["failures"].append(f"{name}: cpu {a!r} gpu {b!r}")
            continue
        d = abs(a - b)
        tol = TOLERANCES[tolerance_of(name)]
        worst["max_abs"] = max(worst["max_abs"], d)
        worst["max_rel"] = max(worst["max_rel"], d / abs(a) if a else (0.0 if d == 0 else math.inf))
        if d > tol["atol"] + tol["rtol"] * abs(a):
            worst["failures"].append(f"{name}: cpu {a!r} gpu {b!r}")
    worst["ok"] = not worst["failures"]
    worst["failures"] = worst["failures"][:5]
    return worst


def sweep_flags(settings):
    """`grad` flags of a sweep's sizes."""
    return [w for k, v in settings.items() for w in (f"--{k}", str(v))]


def sweep_parity(binary, device, plan, extra, dtype):
    cmd = [binary, "grad", "--depth", str(plan["parity_depth"]), *sweep_flags(plan["sweep"]), "--dtype", dtype, *extra]
    cpu_out, cpu_s = run([*cmd, "--device", "cpu"])
    gpu_out, gpu_s = run([*cmd, "--device", device])
    cpu, gpu = json.loads(cpu_out), json.loads(gpu_out)
    if gpu["config"]["device"] != device:
        fail(f"the GPU sweep ran on {gpu['config']['device']}, not {device}")
    if len(cpu["depths"]) != len(gpu["depths"]):
        fail("the CPU and GPU sweeps report different depths")
    pairs = []
    for c, g in zip(cpu["depths"], gpu["depths"]):
        cn, gn = dict(numbers(c)), dict(numbers(g))
        pairs += [(f"depth {c['depth']} {k}", cn.get(k, math.nan), gn.get(k, math.nan)) for k in cn.keys() | gn.keys()]
    field = lambda name: name.split(" ")[2].split("[")[0]  # noqa: E731
    result = compare(pairs, lambda n: "sign counts" if field(n) in SIGN_COUNTS else f"sweep {dtype}")
    result.update(check=f"sweep {' '.join(extra) or 'ff+BN'} {dtype}", cpu_seconds=cpu_s, gpu_seconds=gpu_s)
    return result


def train_records(binary, device, data, runs, flags, steps, batch, log_every, extra=()):
    out, seconds = run(
        [binary, "train", *flags, "--device", device, "--batch", str(batch),
         "--train-subset", str(batch * steps), "--test-subset", "100", "--epochs", "1",
         "--log-every", str(log_every), "--no-augment", "--data-dir", data,
         "--runs-dir", runs, *extra]
    )
    return [json.loads(l) for l in out.splitlines() if l.startswith("{")], seconds


def train_parity(binary, device, data, out, plan, name, flags):
    # SGD: Adam's normalised step turns rounding noise in tiny gradients into full steps.
    args = (data, out, [*flags, "--depth", "20", "--optimizer", "sgd", "--lr", "0.01"], plan["train_steps"], 64, 1)
    cpu, cpu_s = train_records(binary, "cpu", *args, extra=["--kernels", "candle"])
    gpu, gpu_s = train_records(binary, device, *args)
    losses = lambda recs: [(r["step"], r["loss"]) for r in recs if r.get("type") == "step"]  # noqa: E731
    pairs = [(f"step {s} loss", a, b) for (s, a), (_, b) in zip(losses(cpu), losses(gpu))]
    if len(pairs) != plan["train_steps"]:
        fail(f"expected {plan['train_steps']} step records, got {len(pairs)}")
    result = compare(pairs, lambda _: "train loss")
    result.update(check=f"train {name} depth 20 sgd", cpu_seconds=cpu_s, gpu_seconds=gpu_s)
    return result


def sweep_wall_ms(binary, device, depth, plan):
    """Median wall time of `grad --depth D`, process and CUDA start-up included."""
    cmd = [binary, "grad", "--device", device, "--dtype", "f64", *sweep_flags(plan["sweep"])]
    return 1e3 * statistics.median(run([*cmd, "--depth", str(depth)])[1] for _ in range(plan["repeats"]))


def train_rate(binary, device, data, out, flags, depth, plan):
    recs, _ = train_records(binary, device, data, out, [*flags, "--depth", str(depth)],
                            plan["bench_steps"], TRAIN_BATCH, max(plan["bench_steps"] // 8, 1))
    rates = [r["images_per_sec"] for r in recs if r.get("type") == "step"][1:]
    return statistics.median(rates) if rates else None


def main():
    parser = argparse.ArgumentParser(prog="scripts/gpu-check.sh", description=__doc__.splitlines()[0])
    parser.add_argument("--binary", required=True, help="the shatterlab binary built with --features cuda")
    parser.add_argument("--device", default="cuda:0", help="the device checked against the CPU (default cuda:0)")
    parser.add_argument("--out", default="gpu-check", help="folder of the report and the runs (default ./gpu-check)")
    parser.add_argument("--data-dir", help="CIFAR-10 binary batches (default: generated random ones)")
    parser.add_argument("--quick", action="store_true", help="tiny workloads: tests the plumbing, measures nothing")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch reference")
    args = parser.parse_args()
    binary = shutil.which(args.binary) or args.binary
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        fail(f"--binary {args.binary}: not an executable file")
    plan = PLANS["quick" if args.quick else "full"]
    os.makedirs(args.out, exist_ok=True)
    runs = os.path.join(args.out, "runs")
    # Generated data goes to a temporary folder: the report's folder stays small.
    scratch = tempfile.TemporaryDirectory(prefix="gpu-check-")
    data = args.data_dir or make_cifar(scratch.name, TRAIN_BATCH * plan["bench_steps"], 100)
    version, _ = run([binary, "--version"])
    smi = shutil.which("nvidia-smi")
    gpu = run([smi, "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"])[0].strip() if smi else None
    report = {
        "binary": version.strip(),
        "device": args.device,
        "gpu": gpu,
        "plan": "quick" if args.quick else "full",
        "data": "generated" if not args.data_dir else args.data_dir,
        "tolerances": TOLERANCES,
        "complete": False,
        "parity": [],
        "sweep": [],
        "train": [],
    }
    print(f"{report['binary']} on {args.device} ({gpu or 'no nvidia-smi'})", flush=True)
    bench = None
    if args.no_torch:
        report["torch"] = "skipped (--no-torch)"
    else:
        try:
            sys.path.insert(0, HERE)
            import bench_pytorch as bench  # noqa: E402

            bench.torch.set_flush_denormal(True)
            if args.device == "cpu":
                bench.torch.set_num_threads(2)
            report["torch"] = bench.torch.__version__
        except ImportError as e:
            report["torch"] = f"not run: {e}"

    # The report is rewritten after every figure, so a run cut short keeps what it measured.
    def add(part, entry, line):
        report[part].append(entry)
        save(report, args.out)
        print(line, flush=True)

    # (a) parity
    for extra, dtype in [([], "f64"), (["--arch", "res"], "f64"), ([], "f32")]:
        p = sweep_parity(binary, args.device, plan, extra, dtype)
        add("parity", p, f"parity {p['check']}: ok={p['ok']}")
    for name, _, flags in NETS:
        p = train_parity(binary, args.device, data, runs, plan, name, flags)
        add("parity", p, f"parity {p['check']}: ok={p['ok']}")

    # (b) timings, and (c) PyTorch on the same device
    base = sweep_wall_ms(binary, args.device, 1, plan)
    for depth in plan["sweep_depths"]:
        wall = sweep_wall_ms(binary, args.device, depth, plan)
        # The sweep alone: less a depth-1 run's start-up; within noise of it, no figure.
        lab = wall - base if wall > base else None
        torch_ms = 1e3 * bench.sweep_seconds(depth, args.device, plan["repeats"], **plan["sweep"]) if bench else None
        entry = {"depth": depth, **plan["sweep"], "lab_ms": lab, "lab_wall_ms": wall, "lab_depth1_wall_ms": base, "torch_ms": torch_ms}
        add("sweep", entry, f"sweep depth {depth}: lab {lab} ms, torch {torch_ms} ms")
    for name, cell, flags in NETS:
        for depth in plan["train_depths"]:
            lab = train_rate(binary, args.device, data, runs, flags, depth, plan)
            act, bn, skip = next((a, b, s) for _, c, a, b, s in bench.NETS if c == cell) if bench else (None, None, None)
            theirs = bench.images_per_sec(depth, act, bn, skip, TRAIN_BATCH, args.device, plan["torch_seconds"]) if bench else None
            entry = {"net": name, "depth": depth, "batch": TRAIN_BATCH, "lab_images_per_sec": lab, "torch_images_per_sec": theirs}
            add("train", entry, f"train {name} depth {depth}: lab {lab} img/s, torch {theirs} img/s")

    report["complete"] = True
    save(report, args.out)
    print(render(report))
    print(f"report: {os.path.join(args.out, 'gpu-check.json')}")
    scratch.cleanup()
    sys.exit(0 if all(p["ok"] for p in report["parity"]) else 1)


def save(report, out):
    """gpu-check.json and gpu-check.md in `out`, each replaced whole."""
    for name, text in [("gpu-check.json", json.dumps(report, indent=1)), ("gpu-check.md", render(report))]:
        path = os.path.join(out, name)
        with open(path + ".part", "w") as f:
            f.write(text)
        os.replace(path + ".part", path)


def fmt(x, spec):
    return "-" if x is None else format(x, spec)


def render(report):
    cut = "" if report["complete"] else " (cut short: what it measured so far)"
    lines = [f"## GPU check{cut}: {report['binary']}, {report['device']} ({report['gpu']}), torch {report['torch']}", ""]
    lines += ["| parity | values | max abs | max rel | ok |", "|---|---|---|---|---|"]
    for p in report["parity"]:
        lines.append(f"| {p['check']} | {p['count']} | {p['max_abs']:.2e} | {p['max_rel']:.2e} | {'yes' if p['ok'] else 'NO: ' + p['failures'][0]} |")
    lines += ["", "| 1-D sweep, ff+BN, f64 | lab ms | PyTorch ms | lab / PyTorch |", "|---|---|---|---|"]
    for s in report["sweep"]:
        ratio = s["lab_ms"] / s["torch_ms"] if s["lab_ms"] and s["torch_ms"] else None
        what = f"depth {s['depth']}, P={s['points']} N={s['width']} R={s['nets']}"
        lines.append(f"| {what} | {fmt(s['lab_ms'], '.1f')} | {fmt(s['torch_ms'], '.1f')} | {fmt(ratio, '.2f')} |")
    lines += ["", "| CIFAR training, f32 | depth | batch | lab img/s | PyTorch img/s | lab / PyTorch |", "|---|---|---|---|---|---|"]
    for t in report["train"]:
        a, b = t["lab_images_per_sec"], t["torch_images_per_sec"]
        lines.append(f"| {t['net']} | {t['depth']} | {t['batch']} | {fmt(a, '.0f')} | {fmt(b, '.0f')} | {fmt(a / b if a and b else None, '.2f')} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
