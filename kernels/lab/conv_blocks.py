"""Lab: how many samples one conv GEMM block should hold (kernels/cpu/conv.py, fastnn/layers/conv.py).

Each of the 2 threads (one chunk of the batch each) works through its samples in blocks of G: im2col of the
block -> one GEMM -> epilogue (backward: g, dw/db partials, dcol GEMM, col2im). Variants, forward + backward
of one Conv2d(+ReLU) at batch 64, validated against the reference before timing:
- "one block per chunk": G = N / threads, the im2col matrix of half the batch (up to 15 MB for 16->16 28x28)
  streams through memory between im2col and GEMM, and again in backward (the layout before the slots);
- "G = 1 / 2 / 4 / 8": cache-sized blocks; backward recomputes the block's im2col (cheap next to the memory
  traffic it saves);
- "layer (CHUNK_BYTES)": the Conv2d layer's choice, G = CHUNK_BYTES // (im2col bytes per sample) (strided:
  STRIDED_CHUNK_BYTES).
Run ``python -m kernels.lab.conv_blocks``. Measured (2 cores, shared VM, ms fwd+bwd, one run): 16->16 28x28
one block per chunk 28.0 vs G=1 9.1 (3.1x); 32->32 14x14 9.4 vs 6.6; 6->16 k5 14x14 1.6 vs 1.2; 16->32 s2
6.5 vs 6.8-8.0 (strided: recomputing the standard im2col in backward costs what the cache saves). Layer level
(fastnn.nn.Conv2d, batch 64, fwd+bwd): 16->32 s2 28x28 6.0 ms at G=2 vs 5.0-5.6 at one block per chunk, 32->64
s2 14x14 4.5 vs 3.65: strided layers take blocks up to fastnn.layers.conv.STRIDED_CHUNK_BYTES.
Tried and dropped: a "wide" grid for strided convolutions too (each sample split into its SH*SW stride phases,
so every im2col row is one contiguous run of a phase plane): 3x3 stride 2 fwd+bwd within noise of the standard
layout (7.4-8.8 vs 7.4-8.1 ms for 16->32 28x28), 1x1 stride 2 about 2x slower (3.4-3.9 vs 1.5-1.6 ms: all 4
phases split for one used).
"""

import numpy as np

import kernels
from fastnn.layers.conv import CHUNK_BYTES, STRIDED_CHUNK_BYTES
from kernels.codes import ACT_RELU
from kernels.lab.harness import compare
from kernels.shapes import conv2d_columns_per_sample, conv2d_workspace_shapes, conv_out_size

THREADS = 2
SHAPES = [(1, 6, 5, 1, 2, 28), (6, 16, 5, 1, 0, 14), (16, 16, 3, 1, 1, 28), (16, 32, 3, 2, 1, 28),
          (32, 32, 3, 1, 1, 14), (64, 64, 3, 1, 1, 7)]   # (C, O, K, stride, pad, H=W): LeNet-5, ResNet-8


def fwd_bwd(mod, x, w, b, dy, s, p, group):
    """Forward + backward (dx, dw, db) with ``group`` samples per block; returns the outputs concatenated."""
    n, o = x.shape[0], w.shape[0]
    oh = conv_out_size(x.shape[2], w.shape[2], s, p)
    col_s, y_s, xp_s, dw_s = conv2d_workspace_shapes(x.shape, w.shape, s, s, p, p, THREADS, group)
    col, ws_y, ws_xp = (np.empty(sh, x.dtype) for sh in (col_s, y_s, xp_s))
    y = np.empty((n, o, oh, oh), x.dtype)
    mod.conv2d_forward(y, col, ws_y, ws_xp, x, w, b, s, s, p, p, ACT_RELU, 0.0, THREADS)
    dx, dw, db = np.empty_like(x), np.zeros_like(w), np.zeros_like(b)
    mod.conv2d_backward(dx, dw, db, np.empty_like(col), ws_y, np.empty(dw_s, x.dtype), ws_xp, dy, col, x, w, y,
                        s, s, p, p, ACT_RELU, 0.0, x.shape[1] > 1, THREADS)
    return np.concatenate([a.ravel() for a in (y, dx if x.shape[1] > 1 else dx[:0], dw, db)])


def main() -> None:
    cpu, ref = kernels.get("cpu"), kernels.get("reference")
    rng = np.random.default_rng(0)
    for c, o, k, s, p, h in SHAPES:
        x = rng.standard_normal((64, c, h, h)).astype(np.float32)
        w = (rng.standard_normal((o, c, k, k)) / np.sqrt(c * k * k)).astype(np.float32)
        b = rng.standard_normal(o).astype(np.float32)
        oh = conv_out_size(h, k, s, p)
        dy = rng.standard_normal((64, o, oh, oh)).astype(np.float32)
        expected = fwd_bwd(ref, x.astype(np.float64), w.astype(np.float64), b.astype(np.float64),
                           dy.astype(np.float64), s, p, None)
        sample_bytes = c * k * k * conv2d_columns_per_sample(x.shape, w.shape, s, s, p, p) * 4
        variants = {"one block per chunk": lambda: fwd_bwd(cpu, x, w, b, dy, s, p, None)}
        for g in (1, 2, 4, 8):
            variants[f"G={g}"] = lambda g=g: fwd_bwd(cpu, x, w, b, dy, s, p, g)
        layer_g = max(1, (CHUNK_BYTES if s == 1 else STRIDED_CHUNK_BYTES) // sample_bytes)
        variants[f"layer G={layer_g}"] = lambda: fwd_bwd(cpu, x, w, b, dy, s, p, layer_g)
        compare(f"conv {c}->{o} k{k} s{s} {h}x{h} fwd+bwd", variants, expected, rtol=2e-3, atol=2e-3)


if __name__ == "__main__":
    main()
