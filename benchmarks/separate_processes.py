"""LeNet-5 / MLP training steps with fastnn and PyTorch each ALONE in a fresh process, alternated.

Why: in one process torch runs under the OMP_WAIT_POLICY=PASSIVE that fastnn sets at import, which
slows torch's OpenMP wake-ups (LeNet b32: 8.6 ms in-process vs ~3-4 ms alone on the dev machine).
``fastnn bench`` is the one-process comparison; this script is the fair-to-torch one.

    python benchmarks/separate_processes.py [--rounds 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

COMMON = r"""
import json, time, numpy as np
def timed(step, reps=15, n=20):
    for _ in range(10):
        step()
    out = []
    for _ in range(reps):
        s = time.perf_counter()
        for _ in range(n):
            step()
        out.append((time.perf_counter() - s) / n * 1e3)
    return float(np.median(out))
"""

FASTNN = COMMON + r"""
import numba, fastnn
from fastnn import nn, optim
numba.set_num_threads(THREADS)
res = {}
for name in ("lenet5", "mlp"):
    m = fastnn.models.MODELS[name](); lf = nn.CrossEntropyLoss(); opt = optim.Adam(m.parameters(), lr=1e-3)
    for bs in (32, 64, 256):
        rng = np.random.default_rng(0)
        x = rng.standard_normal((bs, 1, 28, 28)).astype(np.float32); y = rng.integers(0, 10, bs)
        def step():
            lf(m.forward(x, True), y); opt.zero_grad(); m.backward(lf.backward(), input_grad=False); opt.step()
        res[f"{name} b{bs}"] = timed(step)
print(json.dumps(res))
"""

TORCH = COMMON + r"""
import torch
torch.set_num_threads(THREADS)
t = torch.nn
def lenet5():
    return t.Sequential(t.Conv2d(1, 6, 5, padding=2), t.ReLU(), t.MaxPool2d(2), t.Conv2d(6, 16, 5), t.ReLU(),
                        t.MaxPool2d(2), t.Flatten(), t.Linear(400, 120), t.ReLU(), t.Linear(120, 84), t.ReLU(),
                        t.Linear(84, 10))
def mlp():
    return t.Sequential(t.Flatten(), t.Linear(784, 256), t.ReLU(), t.Linear(256, 10))
res = {}
for name, build in (("lenet5", lenet5), ("mlp", mlp)):
    m = build(); opt = torch.optim.Adam(m.parameters(), lr=1e-3, fused=True)
    for bs in (32, 64, 256):
        x = torch.randn(bs, 1, 28, 28); y = torch.randint(0, 10, (bs,))
        def step():
            opt.zero_grad(); torch.nn.functional.cross_entropy(m(x), y).backward(); opt.step()
        res[f"{name} b{bs}"] = timed(step)
print(json.dumps(res))
"""


def run(code: str, threads: int) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", code.replace("THREADS", str(threads))], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    runs: dict[str, list[tuple[float, float]]] = {}
    for _ in range(args.rounds):
        ours, theirs = run(FASTNN, args.threads), run(TORCH, args.threads)
        for k in ours:
            runs.setdefault(k, []).append((ours[k], theirs[k]))
    print(f"| work (train step, {args.threads} threads) | fastnn ms | torch ms | torch/fastnn | per round |")
    print("|---|---:|---:|---:|---|")
    for k, pairs in runs.items():
        f, t = statistics.median(a for a, _ in pairs), statistics.median(b for _, b in pairs)
        rounds = ", ".join(f"{b / a:.2f}x" for a, b in pairs)
        print(f"| {k} | {f:.3f} | {t:.3f} | {t / f:.2f}x | {rounds} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
