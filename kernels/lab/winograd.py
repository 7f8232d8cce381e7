"""Lab: stride-1 3x3 conv forward, im2col + GEMM vs Winograd F(2x2, 3x3) (kernels/cpu/winograd.py).

Both run through kernels.cpu.conv2d_forward at batch 64 on 2 chunks; the path is switched with
kernels.shapes.WINOGRAD_MIN_CHANNELS (the threshold conv2d_winograd applies). Validated against the reference
before timing. Run: ``python -m kernels.lab.winograd``.

Record (2-core dev machine, shared; ms per forward, best of 7):
| conv (64 samples)  | im2col G=1/2/4      | Winograd G=1/2/4    |
|--------------------|---------------------|---------------------|
| 16->16 28x28       | 3.23 / 3.08 / 3.12  | 2.26 / 2.34 / 2.31  |
| 32->32 14x14       | 2.40 / 2.50 / 2.81  | 1.88 / 1.82 / 1.70  |
| 64->64 7x7         | 2.63 / 2.33 / 2.39  | 1.96 / 1.92 / 2.45  |
| 32->64 16x16       | 4.93 / 4.72 / 4.54  | 3.36 / 3.42 / 3.50  |
| 8->16 28x28        | 1.01 / 1.90 / 1.74  | 1.52 / 1.49 / 1.95  |  -> Winograd from 16 input channels
| 6->16 14x14        | 0.33 / 0.29 / 0.30  | 0.67 / 0.78 / 0.73  |
Per sample, 16->16 28x28: the 16 tile GEMMs (16x16x196) 17 us vs 98 us for the im2col GEMM (16x144x840).
Transform variants that lost (us per sample, 2 samples per block):
- output transform as one loop over a tile row reading the 16 M planes and writing both output rows: 27 (16->16
  28x28), 84 (->64 16x16) vs 9 and 24 for the kept two-stage form (8 loops with 3-4 streams each, then the rows):
  with ~20 pointers LLVM gives up the runtime alias checks and leaves the loop scalar;
- input transform split into a row pass and a column pass (8 short loops per tile row): 45-50 vs 14-25 for one
  loop; planes exactly C*T apart: 97 us (32x16x16) and 54 us (64x7x7) vs 18 and 10.5 with PLANE_PAD elements of
  padding (planes a power of two bytes apart share L1 sets).
Weight gradient by Winograd (tried, dropped): dU[xi] = Z[xi] V[xi]^T with Z = A dY A^T per output-gradient tile,
dw = G^T dU G (2.4x fewer flops than the im2col GEMM, no im2col matrix; validated against the reference). dW-only
backward at batch 64, ms, Winograd vs im2col: 16->16 28x28 2.50 vs 2.20 (G=1), 2.40 vs 2.31 (G=8); 32->32 14x14
2.30 vs 2.01 (G=1), 1.66 vs 1.98 (G=16); 64->64 7x7 2.63 vs 2.36 (G=1), 1.94 vs 1.98 (G=28): at these channel
counts the two transforms cost what the GEMM saves, and the per-block dU accumulation (16*O*C adds) needs large
blocks. 32->64 16x16, per 32 samples on one thread: 5.14 (G=1), 3.75 (G=2), 3.65 (G=8) vs 4.1 ms for im2col +
GEMM (the GEMM at 88 GFLOP/s).
"""

import numpy as np

import kernels
import kernels.cpu.conv as cpu_conv
from fastnn.layers.conv import Conv2d
import kernels.shapes as shapes
from kernels.codes import ACT_RELU
from kernels.lab.harness import best_ms
from kernels.shapes import conv2d_workspace_shapes

SHAPES = [(16, 16, 28), (32, 32, 14), (64, 64, 7), (32, 64, 16), (8, 16, 28), (6, 16, 14)]   # (C, O, H=W)
DW_SHAPES = [(16, 16, 28), (32, 32, 14), (64, 64, 7), (32, 64, 16), (16, 32, 14)]


def forward_record() -> None:
    cpu, ref = kernels.get("cpu"), kernels.get("reference")
    rng = np.random.default_rng(0)
    threshold = shapes.WINOGRAD_MIN_CHANNELS
    try:
        for c, o, h in SHAPES:
            x = rng.standard_normal((64, c, h, h)).astype(np.float32)
            w = (rng.standard_normal((o, c, 3, 3)) / np.sqrt(9 * c)).astype(np.float32)
            b = rng.standard_normal(o).astype(np.float32)
            expected = np.empty((64, o, h, h))
            ref.conv2d_forward(expected, None, None, None, x.astype(np.float64), w.astype(np.float64),
                               b.astype(np.float64), 1, 1, 1, 1, ACT_RELU, 0.0, 2)
            times = {}
            for name, min_channels in (("im2col", 1 << 30), ("winograd", 1)):
                shapes.WINOGRAD_MIN_CHANNELS = min_channels
                for group in (1, 2, 4):
                    ws = [np.empty(s, np.float32)
                          for s in conv2d_workspace_shapes(x.shape, w.shape, 1, 1, 1, 1, 2, group)[:3]]
                    y = np.empty((64, o, h, h), np.float32)

                    def run(ws=ws, y=y):
                        cpu.conv2d_forward(y, *ws, x, w, b, 1, 1, 1, 1, ACT_RELU, 0.0, 2)
                        return y

                    np.testing.assert_allclose(run(), expected, rtol=1e-4, atol=1e-4, err_msg=f"{name} G={group}")
                    times[f"{name} G={group}"] = best_ms(run, reps=10, rounds=7)
            print(f"conv {c}->{o} {h}x{h} fwd: " + ", ".join(f"{k} {v:.2f} ms" for k, v in times.items()))
    finally:
        shapes.WINOGRAD_MIN_CHANNELS = threshold


def dw_record() -> None:
    """Backward (dx by Winograd) with dw tap by tap vs by Winograd, batch 64 on 2 chunks in the blocks Conv2d
    picks, validated first."""
    cpu, ref = kernels.get("cpu"), kernels.get("reference")
    rng = np.random.default_rng(1)
    rule = shapes.conv2d_winograd_dw
    try:
        for c, o, h in DW_SHAPES:
            x = rng.standard_normal((64, c, h, h)).astype(np.float32)
            w = (rng.standard_normal((o, c, 3, 3)) / np.sqrt(9 * c)).astype(np.float32)
            b = np.zeros(o, np.float32)
            y = np.empty((64, o, h, h), np.float32)
            ref.conv2d_forward(y, None, None, None, x, w, b, 1, 1, 1, 1, ACT_RELU, 0.0, 2)
            dy = rng.standard_normal(y.shape).astype(np.float32)
            expected = [np.zeros(x.shape), np.zeros(w.shape), np.zeros(o)]
            ref.conv2d_backward(*expected, None, None, None, None, dy.astype(np.float64), None, x.astype(np.float64),
                                w.astype(np.float64), y.astype(np.float64), 1, 1, 1, 1, ACT_RELU, 0.0, True, 2)
            times = {}
            for name, on in (("taps", False), ("winograd", True)):
                shapes.conv2d_winograd_dw = cpu_conv.conv2d_winograd_dw = lambda *a, on=on: on
                group = Conv2d(c, o, 3, padding=1)._chunks(x.shape)[1]
                col, ws_y, ws_xp, ws_dw = (np.empty(s, np.float32)
                                           for s in conv2d_workspace_shapes(x.shape, w.shape, 1, 1, 1, 1, 2, group))
                cpu.conv2d_forward(np.empty_like(y), col, ws_y, ws_xp, x, w, b, 1, 1, 1, 1, ACT_RELU, 0.0, 2)
                grads = [np.zeros_like(x), np.zeros_like(w), np.zeros_like(b)]
                ws_g, ws_dcol, ws_dxp = np.empty_like(ws_y), np.empty_like(col), np.empty_like(ws_xp)

                def run(grads=grads, ws=(ws_dcol, ws_g, ws_dw, ws_dxp), col=col):
                    for g in grads:
                        g[...] = 0
                    cpu.conv2d_backward(*grads, *ws, dy, col, x, w, y, 1, 1, 1, 1, ACT_RELU, 0.0, True, 2)
                    return grads

                for got, want, what in zip(run(), expected, ("dx", "dw", "db")):
                    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-3 * np.abs(want).max(),
                                               err_msg=f"{name} {what}")
                times[name] = best_ms(run, reps=10, rounds=7)
            print(f"conv {c}->{o} {h}x{h} backward (G={group}): "
                  + ", ".join(f"dw by {k} {v:.2f} ms" for k, v in times.items()))
    finally:
        shapes.conv2d_winograd_dw = cpu_conv.conv2d_winograd_dw = rule


if __name__ == "__main__":
    forward_record()
    dw_record()
