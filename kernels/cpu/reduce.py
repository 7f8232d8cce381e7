"""Global-norm reductions and in-place rescaling over the segments of a flat buffer (formulas and shapes:
kernels/reference/reduce.py). ``clip_grad_norm_`` = one reduction (``sumsq``) + one ``scale``.

``sumsq``, ``scale`` and ``clip_value`` have ``*_parallel`` twins (prange over fixed chunks of the
buffer, same signatures) for large buffers; ``scale``/``clip_value`` results are bitwise those of the
serial kernels, ``sumsq_parallel`` sums in a different order (deterministic for a fixed thread count).
Loops index with ``np.uint64`` so LLVM vectorizes them (see kernels/cpu/optim.py).
"""

import numpy as np
from numba import prange

from kernels.cpu._jit import jit, pjit
from kernels.cpu.optim import _chunk, _span  # the chunking the optimizer drivers use

__all__ = ["sumsq", "sum_abs_pow", "absmax", "scale", "clip_value", "sumsq_parallel", "scale_parallel",
           "clip_value_parallel"]


@jit
def _sumsq_range(x, lo, hi):
    acc = 0.0
    for i in range(np.uint64(lo), np.uint64(hi)):
        v = np.float64(x[i])
        acc += v * v
    return acc


@jit
def sumsq(out, x, seg_start, seg_end):
    acc = 0.0
    for s in range(seg_start.size):
        acc += _sumsq_range(x, seg_start[s], seg_end[s])
    out[0] = acc


@pjit
def sumsq_parallel(out, x, seg_start, seg_end):
    lo, hi, n = _span(seg_start, seg_end)
    acc = 0.0
    for c in prange(n):
        part = 0.0
        for s in range(seg_start.size):
            a, b = _chunk(seg_start, seg_end, lo, hi, c, s)
            if a < b:
                part += _sumsq_range(x, a, b)
        acc += part
    out[0] = acc


@jit
def sum_abs_pow(out, x, seg_start, seg_end, p):
    acc = 0.0
    for s in range(seg_start.size):
        for i in range(np.uint64(seg_start[s]), np.uint64(seg_end[s])):
            acc += abs(np.float64(x[i])) ** p
    out[0] = acc


@jit
def absmax(out, x, seg_start, seg_end):
    m = 0.0
    nan = False
    for s in range(seg_start.size):
        for i in range(np.uint64(seg_start[s]), np.uint64(seg_end[s])):
            v = abs(np.float64(x[i]))
            nan |= v != v
            m = v if v > m else m
    out[0] = np.nan if nan else m


@jit
def _scale_range(x, lo, hi, s):
    f = x.dtype.type(s)
    for i in range(np.uint64(lo), np.uint64(hi)):
        x[i] *= f


@jit
def scale(x, seg_start, seg_end, s):
    for k in range(seg_start.size):
        _scale_range(x, seg_start[k], seg_end[k], s)


@pjit
def scale_parallel(x, seg_start, seg_end, s):
    lo, hi, n = _span(seg_start, seg_end)
    for c in prange(n):
        for k in range(seg_start.size):
            a, b = _chunk(seg_start, seg_end, lo, hi, c, k)
            if a < b:
                _scale_range(x, a, b, s)


@jit
def _clip_range(x, lo, hi, c):
    hi_, lo_ = x.dtype.type(c), x.dtype.type(-c)
    for i in range(np.uint64(lo), np.uint64(hi)):
        v = x[i]
        x[i] = hi_ if v > hi_ else (lo_ if v < lo_ else v)  # NaN fails both tests and stays


@jit
def clip_value(x, seg_start, seg_end, c):
    for k in range(seg_start.size):
        _clip_range(x, seg_start[k], seg_end[k], c)


@pjit
def clip_value_parallel(x, seg_start, seg_end, c):
    lo, hi, n = _span(seg_start, seg_end)
    for k_c in prange(n):
        for k in range(seg_start.size):
            a, b = _chunk(seg_start, seg_end, lo, hi, k_c, k)
            if a < b:
                _clip_range(x, a, b, c)

