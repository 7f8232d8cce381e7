"""Lab: 2x2/stride-2 max-pool, generic window loops vs the unrolled plane kernel in kernels.cpu.

The generic loops have data-dependent trip counts numba cannot unroll: 0.9-1.9 ms on LeNet's
64x6x28x28 (one core) against 0.07-0.09 ms unrolled. Run: ``python -m kernels.lab.maxpool``.
"""

import numpy as np

import kernels
from kernels.cpu._jit import jit
from kernels.lab.harness import compare


@jit
def maxpool_generic(y, x, kh, kw, sh, sw):
    n, c, h, w = x.shape
    for b in range(n):
        for ci in range(c):
            for a in range(y.shape[2]):
                for q in range(y.shape[3]):
                    best = x[b, ci, a * sh, q * sw]
                    for hh in range(a * sh, min(a * sh + kh, h)):
                        for ww in range(q * sw, min(q * sw + kw, w)):
                            best = max(best, x[b, ci, hh, ww])
                    y[b, ci, a, q] = best
    return y


def main() -> None:
    cpu, ref = kernels.get("cpu"), kernels.get("reference")
    for shape in [(64, 6, 28, 28), (64, 16, 10, 10)]:
        x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        out = (shape[0], shape[1], shape[2] // 2, shape[3] // 2)
        expected, idx = np.empty(out, np.float32), np.empty(out, np.int32)
        ref.maxpool2d_forward(expected, idx, x, 2, 2, 2, 2, 0, 0)
        y = np.empty(out, np.float32)
        compare(f"maxpool 2x2 {shape}", {
            "generic loops": lambda: maxpool_generic(y, x, 2, 2, 2, 2),
            "unrolled (kernels.cpu)": lambda: (cpu.maxpool2d_forward(y, idx, x, 2, 2, 2, 2, 0, 0), y)[1],
        }, expected, rtol=0, atol=0)


if __name__ == "__main__":
    main()
