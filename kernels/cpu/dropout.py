"""Dropout mask + scale, forward and backward (formulas: kernels/reference/dropout.py).

dropout: x, y, dx, dy, mask (n,) (mask uint8); dropout2d: x, y (R, L), mask (R,). prange over chunks
of a serial (vectorizable) helper; arrays below ``SERIAL_BELOW`` elements run serially (thread
wake-up costs more than the work).
"""

from numba import prange

from kernels.cpu._jit import jit, pjit

__all__ = ["dropout_forward", "dropout_backward", "dropout2d_forward", "dropout2d_backward"]

SERIAL_BELOW = 1 << 15
CHUNK = 1 << 14


@jit
def _apply(out, inp, mask, scale, lo, hi):
    for i in range(lo, hi):
        out[i] = inp[i] * (mask[i] * scale)


@pjit
def _apply_parallel(out, inp, mask, scale):
    n = inp.size
    chunks = (n + CHUNK - 1) // CHUNK
    for c in prange(chunks):
        _apply(out, inp, mask, scale, c * CHUNK, min(n, (c + 1) * CHUNK))


@jit
def _apply_rows(out, inp, mask, scale, lo, hi):
    for r in range(lo, hi):
        s = mask[r] * scale
        for j in range(inp.shape[1]):
            out[r, j] = inp[r, j] * s


@pjit
def _apply_rows_parallel(out, inp, mask, scale):
    rows = inp.shape[0]
    per = max(1, CHUNK // max(1, inp.shape[1]))
    chunks = (rows + per - 1) // per
    for c in prange(chunks):
        _apply_rows(out, inp, mask, scale, c * per, min(rows, (c + 1) * per))


@jit
def dropout_forward(y, mask, x, scale):
    if x.size < SERIAL_BELOW:
        _apply(y, x, mask, scale, 0, x.size)
    else:
        _apply_parallel(y, x, mask, scale)


@jit
def dropout_backward(dx, dy, mask, scale):
    if dy.size < SERIAL_BELOW:
        _apply(dx, dy, mask, scale, 0, dy.size)
    else:
        _apply_parallel(dx, dy, mask, scale)


@jit
def dropout2d_forward(y, mask, x, scale):
    if x.size < SERIAL_BELOW:
        _apply_rows(y, x, mask, scale, 0, x.shape[0])
    else:
        _apply_rows_parallel(y, x, mask, scale)


@jit
def dropout2d_backward(dx, dy, mask, scale):
    if dy.size < SERIAL_BELOW:
        _apply_rows(dx, dy, mask, scale, 0, dy.shape[0])
    else:
        _apply_rows_parallel(dx, dy, mask, scale)
