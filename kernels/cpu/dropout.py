"""Dropout mask + scale, forward and backward (formulas: kernels/reference/dropout.py).

dropout: x, y, dx, dy, mask (n,) (mask uint8); dropout2d: x, y (R, L), mask (R,). prange over chunks
of a serial (vectorizable) helper; arrays below ``SERIAL_BELOW`` elements run serially (thread
wake-up costs more than the work). dropout_mask: mask uint8 (n,) from the counter-based hash of
kernels/reference/dropout.py (uint64 arithmetic wraps mod 2^64 in numba as in NumPy).
"""

import numpy as np
from numba import prange

from kernels.cpu._jit import jit, pjit

__all__ = ["dropout_forward", "dropout_backward", "dropout2d_forward", "dropout2d_backward", "dropout_mask"]

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


_GAMMA = np.uint64(0x9E3779B97F4A7C15)  # splitmix64's increment and finalizer constants (as the reference)
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_S27, _S30, _S31, _S40 = np.uint64(27), np.uint64(30), np.uint64(31), np.uint64(40)
_ONE = np.uint64(1)
_MASK64 = (1 << 64) - 1


@jit
def _mix64(z):
    """splitmix64's finalizer (uint64 in, uint64 out; every constant uint64 so nothing promotes to float)."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@pjit
def _dropout_mask(mask, p, seed, counter):
    key = _mix64(_mix64(seed) + (counter + _ONE) * _GAMMA)
    for i in prange(mask.size):
        h = _mix64(key + (np.uint64(i) + _ONE) * _GAMMA)
        mask[i] = 1 if (h >> _S40) * 2.0 ** -24 >= p else 0


def dropout_mask(mask, p, seed, counter):
    """mask[i] = 1 iff u_i >= p, u_i from the hash of (seed, counter, i) (see kernels/reference/dropout.py)."""
    _dropout_mask(mask, float(p), np.uint64(int(seed) & _MASK64), np.uint64(int(counter) & _MASK64))
