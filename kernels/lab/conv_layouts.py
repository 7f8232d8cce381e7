"""Lab: stride-1 conv forward, standard im2col layout vs the "wide" grid kernels.cpu uses.

standard: col (C*KH*KW, N*OH*OW) via kernels.cpu.im2col, i.e. OH short runs of OW per (n, c, tap);
          numba spends ~20 ns per run, so LeNet's conv2 im2col (96k runs) took 1.6-2.2 ms on one core.
wide:     kernels.cpu.conv2d_forward: one contiguous run of OH*Wp per (n, c, tap) (a vectorized slice
          copy), output computed on OH x Wp and cropped in the epilogue. im2col ~0.1 ms (memset speed).
Also: scalar element loops inside a prange body were NOT vectorized (1.3 ms for the same copy that a
slice assignment does in 0.1 ms). Run: ``python -m kernels.lab.conv_layouts``.
"""

import numpy as np
from numba import prange

import kernels
from kernels.cpu._jit import pjit
from kernels.cpu.activation import activate
from kernels.lab.harness import compare
from kernels.shapes import conv2d_workspace_shapes, conv_out_size


@pjit
def _epilogue_standard(y, ws_y, b, act, alpha):
    n, o, oh, ow = y.shape
    p = oh * ow
    y3 = y.reshape(n, o, p)
    for bi in prange(n):
        for oi in range(o):
            for q in range(p):
                y3[bi, oi, q] = activate(ws_y[oi, bi * p + q] + b[oi], act, alpha)


def conv_standard(cpu, y, col, ws_y, x, w, b, ph, pw):
    cpu.im2col(col, x, w.shape[2], w.shape[3], 1, 1, ph, pw)
    np.dot(w.reshape(w.shape[0], -1), col, ws_y)
    _epilogue_standard(y, ws_y, b, 1, 0.0)
    return y


def main() -> None:
    cpu, ref = kernels.get("cpu"), kernels.get("reference")
    rng = np.random.default_rng(0)
    for n, c, h, wd, o, k, p in [(64, 1, 28, 28, 6, 5, 2), (64, 6, 14, 14, 16, 5, 0), (1, 6, 14, 14, 16, 5, 0)]:
        x = rng.standard_normal((n, c, h, wd)).astype(np.float32)
        w = rng.standard_normal((o, c, k, k)).astype(np.float32)
        b = rng.standard_normal(o).astype(np.float32)
        oh, ow = conv_out_size(h, k, 1, p), conv_out_size(wd, k, 1, p)
        expected = np.empty((n, o, oh, ow), np.float32)
        ref.conv2d_forward(expected, None, None, None, x, w, b, 1, 1, p, p, 1, 0.0, 1)
        y = np.empty_like(expected)
        col = np.empty((c * k * k, n * oh * ow), np.float32)
        ws_y = np.empty((o, n * oh * ow), np.float32)
        wide = [np.empty(s, np.float32) for s in conv2d_workspace_shapes(x.shape, w.shape, 1, 1, p, p, 1)[:3]]
        compare(f"conv fwd+relu {x.shape} -> {o}ch k{k} p{p}", {
            "standard im2col": lambda: conv_standard(cpu, y, col, ws_y, x, w, b, p, p),
            "wide (kernels.cpu)": lambda: (cpu.conv2d_forward(y, *wide, x, w, b, 1, 1, p, p, 1, 0.0, 1), y)[1],
        }, expected)


if __name__ == "__main__":
    main()
