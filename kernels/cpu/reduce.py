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
        lo, hi = np.uint64(seg_start[s]), np.uint64(seg_end[s])
        if p == 1.0:  # vectorizes; pow does not
            for i in range(lo, hi):
                acc += abs(np.float64(x[i]))
        elif p == 2.0:
            for i in range(lo, hi):
                v = np.float64(x[i])
                acc += v * v
        else:
            for i in range(lo, hi):
                acc += abs(np.float64(x[i])) ** p
    out[0] = acc


@jit
def _absmax_bits(bits, lo, hi, mask, m):
    for i in range(np.uint64(lo), np.uint64(hi)):
        m = max(m, bits[i] & mask)
    return m


@jit
def _bits_to_float(m, mantissa_bits, bias, exp_max):
    """The float whose IEEE bit pattern (sign bit clear) is the integer m (no allocation, no reinterpret)."""
    e = np.int64(m >> mantissa_bits)
    frac = np.float64(m & ((1 << mantissa_bits) - 1)) / 2.0 ** mantissa_bits
    if e == exp_max:
        return np.inf if frac == 0.0 else np.nan
    if e == 0:  # subnormal
        return frac * 2.0 ** (1 - bias)
    return (1.0 + frac) * 2.0 ** (e - bias)


@jit
def absmax(out, x, seg_start, seg_end):
    """max |x| as an integer max over the IEEE bit patterns with the sign bit cleared: for non-negative
    floats the bit order is the value order and every NaN pattern lies above inf's, so NaN propagates
    and the loop vectorizes (a float compare-and-select max reduction does not without no-NaN fastmath)."""
    if x.itemsize == 4:
        bits32, m32 = x.view(np.uint32), np.uint32(0)
        for s in range(seg_start.size):
            m32 = _absmax_bits(bits32, seg_start[s], seg_end[s], np.uint32(0x7FFFFFFF), m32)
        out[0] = _bits_to_float(np.uint64(m32), 23, 127, 255)
    else:
        bits64, m64 = x.view(np.uint64), np.uint64(0)
        for s in range(seg_start.size):
            m64 = _absmax_bits(bits64, seg_start[s], seg_end[s], np.uint64(0x7FFFFFFFFFFFFFFF), m64)
        out[0] = _bits_to_float(m64, 52, 1023, 2047)


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

