"""im2col / col2im (layout and formula: kernels/reference/im2col.py).

x, dx (N, C, H, W); col (C*KH*KW, N*OH*OW). Parallel over the batch; each sample writes its own
column block, so there are no races. col2im zeroes dx first.
"""

from numba import prange

from kernels.cpu._jit import pjit

__all__ = ["conv_out_size", "im2col", "col2im"]


def conv_out_size(size, k, s, p):
    return (size + 2 * p - k) // s + 1


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
                    r = (ci * kh + i) * kw + j
                    for a in range(oh):
                        hh = a * sh - ph + i
                        base = b * p + a * ow
                        if hh < 0 or hh >= h:
                            for q in range(ow):
                                col[r, base + q] = 0
                            continue
                        for q in range(ow):
                            ww = q * sw - pw + j
                            col[r, base + q] = x[b, ci, hh, ww] if 0 <= ww < w else 0


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
                    r = (ci * kh + i) * kw + j
                    for a in range(oh):
                        hh = a * sh - ph + i
                        if hh < 0 or hh >= h:
                            continue
                        base = b * p + a * ow
                        for q in range(ow):
                            ww = q * sw - pw + j
                            if 0 <= ww < w:
                                dx[b, ci, hh, ww] += col[r, base + q]
