"""Lab: cold compile time of everything one LeNet-5 training step needs (issue 6: target <= 10 s).

Runs STEP in a fresh interpreter with ``NUMBA_CACHE_DIR`` pointed at an empty temporary directory
(cold: every kernel compiles), then once more with the same directory (warm: every kernel loads
from the cache), and prints both wall times plus the top compile events of the cold run from
numba's event API (``numba:compile``), with self time = total minus the compiles nested inside
(numba compiles callees while it types their caller). Run: ``python -m kernels.lab.compile_time``
(``--top N``, ``--runs N`` for the median of N cold runs).

Record (2-core dev machine, shared: wall seconds of the cold child with the 1-minute load in brackets;
only rows measured back to back compare; "base" = the commit before issue 6's changes, same session):

| variant (cumulative)                                                          | cold s      | base s      |
|-------------------------------------------------------------------------------|-------------|-------------|
| base: lazy kernels, slice copies in the conv "wide" helpers                    | 33.5 [2.6]  |             |
| conv wide helpers: explicit loops instead of array slice assignment / ``+=``  | 23.4 [4.0]  | 33.5 [2.6]  |
|   (numba.np.arrayobj raise_with_shape_context + numba.cpython.unicode gone: -10 s)  |   |             |
| softmax(-cross-entropy) loss: serial / prange driver chosen in Python          | 26.6 [6.4]  | 34.4 [5.4]  |
| conv: one prange kernel per column layout (wide / strided), chosen in Python   | 19.1 [6.9]  |             |
| maxpool forward: 2x2 and generic prange kernels, chosen in Python             | 17.5 [8.5]  |             |
| wide helpers on 1-D run views (vectorize: 2.5-6x faster than base at run time) | 17.9 [3.2]  | 25.7 [4.1]  |
| final (previous session)                                                       | 16.5 [2.6]  | 28.3 [3.0]  |
| conv in cache-sized blocks + Winograd (more helpers; session 2 start: 19.7 s)  | 19.7 [0.9]  |             |
| conv chunks on kernels/cpu/_threads.py run_chunks, no prange wrapper           | 11.6 [0.7]  | 19.7 [0.9]  |
| linear and max-pool chunks on run_chunks too                                   | 9.3 [0.8]   |             |
| session 4: wide backward's tap-by-tap branch pruned (None argument) when no    | 8.8-9.0     | 9.8-10.5    |
|   layer takes it, linear db as an explicit sum (3 A/B pairs, load 1.2-1.4)    | [1.2-1.4]   | (5e18b15)   |

Warm (same cache, second process): 1.3-1.7 s before and after. A branch on an argument that is None in one
call's types is pruned before typing (``if taps_xp is not None``): its callees are never compiled for that
specialization -- how the wide backward keeps _accumulate_taps / gemm_into / pad_planes (1.1 s) off LeNet-5's path.
Tried and dropped: passing the im2col
helper as a dispatcher argument (compiles one layout only, but numba does not cache such functions).
Where the rest goes (``numba:llvm_lock`` ~65% of compile): a prange kernel's body, with every helper it
calls, is optimized and emitted by LLVM three times (gufunc, gufunc wrapper, caller), a helper a fourth
time on its own, and the chunk kernel a prange wrapper calls compiles twice (as a callee, and for the gufunc's
argument types: the chunk index is unsigned there) -- hence run_chunks (kernels/lab/chunk_dispatch.py);
activation switches (``activate`` / ``activation_grad``) get their loops unswitched
per activation (``_bias_act``: 1384 lines of asm vs 371 without the switch).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

STEP = r"""
import json, os, sys, time
t0 = time.perf_counter()
from numba.core import event
rec = event.RecordingListener()
event.register("numba:compile", rec)
import numpy as np
import fastnn
from fastnn import nn, optim
fastnn.manual_seed(0)
model = fastnn.models.lenet5()
loss_fn = nn.CrossEntropyLoss()
opt = optim.Adam(model.parameters(), lr=1e-3)
rng = np.random.default_rng(0)
x = rng.standard_normal((64, 1, 28, 28), dtype=np.float32)
y = rng.integers(0, 10, 64)
opt.zero_grad()
loss = loss_fn(model.forward(x, True), y)
model.backward(loss_fn.backward(), input_grad=False)
opt.step()
model.forward(x[:1], False)
model.forward(x, False)
wall = time.perf_counter() - t0

stack, rows = [], []
for ts, ev in rec.buffer:
    if ev.is_start:
        fn = getattr(ev.data["dispatcher"], "py_func", None)
        stack.append([ev, ts, 0.0, fn.__qualname__ if fn is not None else "?"])
        continue
    start, t_start, nested, _ = stack.pop()
    total = ts - t_start
    if stack:
        stack[-1][2] += total
    disp = ev.data["dispatcher"]
    fn = getattr(disp, "py_func", None)
    name = f"{fn.__module__}.{fn.__qualname__}" if fn is not None else repr(disp)
    rows.append({"name": name, "args": str(ev.data["args"]), "total": total, "self": total - nested,
                 "parent": stack[-1][3] if stack else ""})
json.dump({"wall": wall, "loss": float(loss), "events": rows}, sys.stdout)
"""


def run_step(cache_dir: str) -> dict:
    """Run STEP in a fresh interpreter with NUMBA_CACHE_DIR=cache_dir; its JSON plus outer wall time."""
    env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir}
    t0, cpu0 = time.perf_counter(), _children_cpu()
    out = subprocess.run([sys.executable, "-c", STEP], env=env, capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    result["process"] = time.perf_counter() - t0
    result["cpu"] = _children_cpu() - cpu0
    return result


def _children_cpu() -> float:
    """User + system CPU seconds of finished children: steadier than wall time on a loaded machine."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def report(cold: dict, top: int) -> None:
    """Print the top compile events by self time, and the totals grouped by module."""
    events = sorted(cold["events"], key=lambda e: -e["self"])
    print(f"\ntop {top} compile events by self time (s), of {len(events)}:")
    print(f"{'self':>6} {'total':>6}  function [signature]")
    for e in events[:top]:
        print(f"{e['self']:6.2f} {e['total']:6.2f}  {e['name']} {e['args'][:90]} <- {e['parent']}")
    by_module: dict[str, float] = {}
    for e in events:
        module = e["name"].rsplit(".", 1)[0]
        by_module[module] = by_module.get(module, 0.0) + e["self"]
    print("\nself time by module (s):")
    for module, s in sorted(by_module.items(), key=lambda kv: -kv[1])[:15]:
        print(f"{s:6.2f}  {module}")
    print(f"\ncompile events in total: {sum(e['self'] for e in events):.2f} s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--runs", type=int, default=1, help="cold runs (median reported)")
    args = parser.parse_args(argv)
    print(f"load: {os.getloadavg()}")
    colds, warm = [], None
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="fastnn-cold-") as d:
            colds.append(run_step(d))
            warm = warm or run_step(d)
    cold = sorted(colds, key=lambda r: r["process"])[len(colds) // 2]
    runs = ", ".join(f"{r['process']:.2f}" for r in colds)
    print(f"cold: {statistics.median(r['process'] for r in colds):.2f} s per process "
          f"(runs: {runs}; in-script {cold['wall']:.2f} s; CPU {statistics.median(r['cpu'] for r in colds):.2f} s)")
    print(f"warm: {warm['process']:.2f} s per process (in-script {warm['wall']:.2f} s, CPU {warm['cpu']:.2f} s, "
          f"{len(warm['events'])} compile events)")
    print(f"loss: {cold['loss']:.6f}")
    report(cold, args.top)
    print(f"load: {os.getloadavg()}")


if __name__ == "__main__":
    main()
