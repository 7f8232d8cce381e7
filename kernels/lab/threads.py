"""Lab: the numba-OpenMP / OpenBLAS thread contention (DESIGN §5) and the candidate fixes.

Each configuration runs in a fresh process (the OpenMP runtime reads its environment once):
a numba prange kernel alternating with a 256x400x120 SGEMM, and a LeNet-5 training step at batch
64. Run: ``python -m kernels.lab.threads``. Validation: the GEMM result is checked against NumPy.
"""

import json
import os
import subprocess
import sys

CONFIGS = {
    "OMP_WAIT_POLICY=ACTIVE (numba's default behaviour)": {"OMP_WAIT_POLICY": "ACTIVE"},
    "OMP_WAIT_POLICY=PASSIVE (fastnn's choice)": {"OMP_WAIT_POLICY": "PASSIVE"},
    "workqueue threading layer": {"NUMBA_THREADING_LAYER": "workqueue"},
    "PASSIVE + OpenBLAS 1 thread": {"OMP_WAIT_POLICY": "PASSIVE", "OPENBLAS_NUM_THREADS": "1"},
}

CHILD = r"""
import json, time, numpy as np
import kernels
from numba import njit, prange
import fastnn
from fastnn import nn, optim
from kernels.lab.harness import best_ms

@njit(parallel=True, cache=False)
def scale(x):
    for i in prange(x.shape[0]):
        x[i] = x[i] * 1.0001

@njit(cache=False)
def gemm(out, a, b):
    np.dot(a, b, out)

a = np.random.rand(256, 400).astype(np.float32); b = np.random.rand(400, 120).astype(np.float32)
o = np.empty((256, 120), np.float32); v = np.ones(1_000_000, np.float32)
gemm(o, a, b); assert np.allclose(o, a @ b, rtol=1e-4)
m = fastnn.models.lenet5(); lf = nn.CrossEntropyLoss(); opt = optim.Adam(m.parameters())
x = np.random.default_rng(0).standard_normal((64, 1, 28, 28)).astype(np.float32); y = np.arange(64) % 10
def step():
    lf(m.forward(x, True), y); opt.zero_grad(); m.backward(lf.backward(), input_grad=False); opt.step()
print(json.dumps({"gemm": best_ms(lambda: gemm(o, a, b)), "prange": best_ms(lambda: scale(v)),
                  "prange+gemm": best_ms(lambda: (scale(v), gemm(o, a, b))), "lenet_step": best_ms(step)}))
"""


def main() -> None:
    for name, env in CONFIGS.items():
        full = {**os.environ, **env}
        out = subprocess.run([sys.executable, "-c", CHILD], env=full, capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{name:52s} gemm {r['gemm']:.3f} ms, prange {r['prange']:.3f} ms, prange+gemm "
              f"{r['prange+gemm']:.3f} ms, LeNet step b64 {r['lenet_step']:.2f} ms")


if __name__ == "__main__":
    main()
