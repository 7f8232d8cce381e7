"""Lab: stride-1 3x3 conv, im2col + GEMM vs Winograd F(4x4, 3x3) (kernels/cpu/winograd.py): the forward, and
the backward's weight gradient tap by tap vs by Winograd.

Everything runs through kernels.cpu.conv2d_forward / conv2d_backward at batch 64 on 2 chunks; the forward path is
switched with kernels.shapes.WINOGRAD_MIN_CHANNELS (the threshold conv2d_winograd applies), the weight gradient
with conv2d_winograd_dw. Validated against the reference before timing. Run: ``python -m kernels.lab.winograd``.

Forward record (2-core dev machine, shared, load ~1.1 from outside; ms per forward, best of 7):
| conv (64 samples)  | im2col G=1/2/4      | F(4x4, 3x3) G=1/2/4 | F(2x2, 3x3) G=1/2/4 (previous session) |
|--------------------|---------------------|---------------------|----------------------------------------|
| 16->16 28x28       | 3.78 / 3.49 / 3.54  | 2.56 / 2.48 / 2.49  | 2.26 / 2.34 / 2.31 (im2col 3.23 / 3.08 / 3.12)
| 32->32 14x14       | 2.78 / 2.75 / 2.65  | 2.02 / 1.97 / 2.10  | 1.88 / 1.82 / 1.70 (im2col 2.40 / 2.50 / 2.81)
| 64->64 7x7         | 3.00 / 2.58 / 2.45  | 2.49 / 2.45 / 2.09  | 1.96 / 1.92 / 2.45 (im2col 2.63 / 2.33 / 2.39)
| 32->64 16x16       | 4.88 / 4.91 / 7.96  | 3.95 / 3.94 / 3.84  | 3.36 / 3.42 / 3.50 (im2col 4.93 / 4.72 / 4.54)
| 8->16 28x28        | 1.26 / 2.91 / 2.92  | 1.35 / 1.31 / 1.25  | 1.52 / 1.49 / 1.95 -> Winograd from 16 input channels
| 6->16 14x14        | 0.35 / 0.32 / 0.34  | 0.70 / 0.67 / 0.64  | 0.67 / 0.78 / 0.73
This run was ~20% slower across the board than the previous session's (compare the im2col columns); run back to
back on the same layer, 32->64 16x16 F(4x4, 3x3) against F(2x2, 3x3) (commit 5e18b15): forward 2.56-3.25 vs
3.60-4.41 ms, forward + backward 8.35-10.6 vs 11.5-14.6 ms (kernels/cpu/conv.py Conv2d, 3 rounds each).
Per sample on one thread, F(4x4, 3x3), us (32->64 16x16 / 64->32 16x16, the forward and the dx of that layer):
pad 2 / 4, gather of the 6x6 tiles 10.5 / 21, the two B^T passes 4.3 / 9.6, the 36 tile GEMMs 25 / 25 (95 GFLOP/s),
output columns 3.4 / 1.6, output rows + bias + act 13.6 / 6.8.
Transform variants that lost:
- F(4x4, 3x3) input transform as one scalar loop per tile (36 outputs from 36 loads): 22.6 / 45 us vs 15 / 31 for
  the gather + two vectorized B^T passes over whole planes; the gather through a view per plane: 40 / 82 us vs
  18 / 21 with flat indices;
- output rows through a helper call per output row: 39 us vs 13.6 for one loop nest; the last tile column of a
  width that is not a multiple of 4 inside the same nest: 34 us (the loop over tiles is no longer unswitched on
  the activation), so it has a nest of its own;
- F(2x2, 3x3), previous session: the output transform as one loop over a tile row reading the 16 M planes: 27 /
  84 us vs 9 / 24 for the two-stage form (with ~20 pointers LLVM gives up the runtime alias checks); its input
  transform split into a row pass and a column pass per tile row: 45-50 vs 14-25 us; planes exactly C*T apart:
  97 us (32x16x16) vs 18 with PLANE_PAD elements of padding (planes a power of two bytes apart share L1 sets).
- blocks of a fixed number of tiles for Winograd layers (instead of the im2col-sized ones Conv2d picks: G = 1 at
  these sizes): 32 / 64 / 128 / 256 tiles per block gave no gain for forward + backward at any ResNet-8 shape or
  32->64 16x16 (medians within the noise, 128 and 256 slower at 7x7 and 16x16).

Backward record (dx by Winograd, ms, blocks as Conv2d picks them; dw_record):
| conv (64 samples)  | dw by taps | dw by Winograd |
|--------------------|------------|----------------|
| 16->16 28x28 (G=1) | 4.56       | 4.35           |
| 32->32 14x14 (G=1) | 3.50       | 4.31           |
| 64->64 7x7 (G=1)   | 5.64       | 5.46           |
| 32->64 16x16 (G=1) | 10.20      | 7.46           |  -> Winograd dw when O > C (conv2d_winograd_dw)
| 16->32 14x14 (G=2) | 2.73       | 3.21           |  (O > C but lost here: the rule is tuned on 32->64 16x16)
With one block per chunk (G=32) Winograd dw won at 64->64 7x7 (4.15 vs 4.92 ms) but lost at 16->16 28x28 (8.42
vs 6.52); a tap-by-tap dw with O > C lost to the im2col GEMM it replaced (32->64 16x16 dw-only 5.6 vs 4.4 ms), so
it is Winograd there. F(2x2, 3x3) weight gradient (previous session, dropped): 32->64 16x16 per 32 samples on one
thread 5.14 (G=1), 3.65 (G=8) vs 4.1 ms for im2col + GEMM; at O = C it lost at G=1.
"""

import numpy as np

import kernels
import kernels.cpu.conv as cpu_conv
import kernels.shapes as shapes
from fastnn.layers.conv import Conv2d
from kernels.codes import ACT_RELU
from kernels.lab.harness import best_ms
from kernels.shapes import conv2d_workspace_shapes

SHAPES = [(16, 16, 28), (32, 32, 14), (64, 64, 7), (32, 64, 16), (8, 16, 28), (6, 16, 14)]   # (C, O, H=W)
DW_SHAPES = [(16, 16, 28), (32, 32, 14), (64, 64, 7), (32, 64, 16), (16, 32, 14)]


def _layer(rng: np.random.Generator, c: int, o: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    """A batch-64 float32 input (64, C, H, H) and a 3x3 filter (O, C, 3, 3) scaled to keep outputs O(1)."""
    x = rng.standard_normal((64, c, h, h)).astype(np.float32)
    return x, (rng.standard_normal((o, c, 3, 3)) / np.sqrt(9 * c)).astype(np.float32)


def forward_record() -> None:
    cpu, ref = kernels.get("cpu"), kernels.get("reference")
    rng = np.random.default_rng(0)
    threshold = shapes.WINOGRAD_MIN_CHANNELS
    try:
        for c, o, h in SHAPES:
            x, w = _layer(rng, c, o, h)
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
            x, w = _layer(rng, c, o, h)
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
