"""im2col / col2im (layout and formula: kernels/reference/im2col.py).

x, dx (N, C, H, W); col (C*KH*KW, N*OH*OW). Parallel over the batch; each sample writes its own
column block, so there are no races. For each kernel tap the in-bounds output columns [q0, q1) are
computed once, so the inner copy loop has no bounds test (numba vectorizes it for stride 1).
col2im zeroes dx first.
"""

from numba import prange

from kernels.cpu._jit import jit, pjit
from kernels.shapes import conv_out_size

__all__ = ["conv_out_size", "im2col", "col2im"]


@jit
def _valid_range(j, sw, pw, w, ow):
    """Output columns q with 0 <= q*sw - pw + j < w, as [q0, q1)."""
    q0 = max(0, (pw - j + sw - 1) // sw)
    q1 = min(ow, (w - 1 + pw - j) // sw + 1)
    return q0, max(q0, q1)


@pjit
def im2col(col, x, kh, kw, sh, sw, ph, pw):
    n, c, h, w = x.shape
    oh = (h + 2 * ph - kh) // sh + 1
    ow = (w + 2 * pw - kw) // sw + 1
    p = oh * ow
    for b in prange(n):
        for ci in range(c):
            for i in range(kh):
                for j in range(kw):
                    row = col[(ci * kh + i) * kw + j]
                    q0, q1 = _valid_range(j, sw, pw, w, ow)
                    off = j - pw
                    for a in range(oh):
                        hh = a * sh - ph + i
                        base = b * p + a * ow
                        if hh < 0 or hh >= h:
                            for q in range(ow):
                                row[base + q] = 0
                            continue
                        for q in range(q0):
                            row[base + q] = 0
                        for q in range(q1, ow):
                            row[base + q] = 0
                        src = x[b, ci, hh]
                        if sw == 1:
                            for q in range(q0, q1):
                                row[base + q] = src[q + off]
                        else:
                            for q in range(q0, q1):
                                row[base + q] = src[q * sw + off]


@pjit
def col2im(dx, col, kh, kw, sh, sw, ph, pw):
    n, c, h, w = dx.shape
    oh = (h + 2 * ph - kh) // sh + 1
    ow = (w + 2 * pw - kw) // sw + 1
    p = oh * ow
    for b in prange(n):
        dx[b] = 0
        for ci in range(c):
            for i in range(kh):
                for j in range(kw):
                    row = col[(ci * kh + i) * kw + j]
                    q0, q1 = _valid_range(j, sw, pw, w, ow)
                    off = j - pw
                    for a in range(oh):
                        hh = a * sh - ph + i
                        if hh < 0 or hh >= h:
                            continue
                        base = b * p + a * ow
                        dst = dx[b, ci, hh]
                        if sw == 1:
                            for q in range(q0, q1):
                                dst[q + off] += row[base + q]
                        else:
                            for q in range(q0, q1):
                                dst[q * sw + off] += row[base + q]
