"""im2col / col2im on numba.cuda (layout and formula: kernels/reference/im2col.py).

x, dx (N, C, H, W); col (C*KH*KW, N*OH*OW):
  col[(c*KH + i)*KW + j, (n*OH + a)*OW + q] = x[n, c, a*SH - PH + i, q*SW - PW + j]  (0 in the padding)
im2col: one thread per col element, threads along the contiguous column axis. col2im: one thread per
dx pixel gathering the entries of the taps that read it (no atomics, no zero-fill pass). The conv
launchers call the kernels on flat workspaces.
"""

import numpy as np
from numba import cuda

from kernels.cuda._launch import THREADS, blocks, require_device
from kernels.shapes import conv_out_size

__all__ = ["conv_out_size", "im2col", "col2im"]

_ZERO = np.float32(0.0)  # keeps float32 kernels in float32


@cuda.jit
def _im2col_kernel(col, x, kh, kw, sh, sw, ph, pw, oh, ow):
    """col (flat, C*KH*KW x N*OH*OW row-major) = the patches of x (N, C, H, W); grid over col's size."""
    n, c, h, w = x.shape
    ncols = n * oh * ow
    e = cuda.grid(1)
    if e < c * kh * kw * ncols:
        r, p = e // ncols, e % ncols
        ci, t = r // (kh * kw), r % (kh * kw)
        b, s = p // (oh * ow), p % (oh * ow)
        hh = (s // ow) * sh - ph + t // kw
        ww = (s % ow) * sw - pw + t % kw
        col[e] = x[b, ci, hh, ww] if 0 <= hh < h and 0 <= ww < w else _ZERO


@cuda.jit
def _col2im_kernel(dx, col, kh, kw, sh, sw, ph, pw, oh, ow):
    """dx[n, c, h, w] = sum of col[(c*KH + i)*KW + j, (n*OH + a)*OW + q] over the taps with
    a*SH - PH + i == h and q*SW - PW + j == w; col flat as in _im2col_kernel; one thread per dx pixel."""
    n, c, h, w = dx.shape
    ncols = n * oh * ow
    e = cuda.grid(1)
    if e < n * c * h * w:
        wi, hi = e % w, (e // w) % h
        ci, b = (e // (w * h)) % c, e // (w * h * c)
        acc = _ZERO
        for i in range(kh):
            u = hi + ph - i
            if u >= 0 and u % sh == 0 and u // sh < oh:
                for j in range(kw):
                    v = wi + pw - j
                    if v >= 0 and v % sw == 0 and v // sw < ow:
                        acc += col[((ci * kh + i) * kw + j) * ncols + (b * oh + u // sh) * ow + v // sw]
        dx[b, ci, hi, wi] = acc


def launch_im2col(col, x, kh, kw, sh, sw, ph, pw):
    """im2col into the flat ``col`` (at least C*KH*KW*N*OH*OW elements)."""
    n, c, h, w = x.shape
    oh, ow = conv_out_size(h, kh, sh, ph), conv_out_size(w, kw, sw, pw)
    size = c * kh * kw * n * oh * ow
    _im2col_kernel[blocks(size), THREADS](col, x, kh, kw, sh, sw, ph, pw, oh, ow)


def launch_col2im(dx, col, kh, kw, sh, sw, ph, pw):
    """col2im from the flat ``col`` (standard layout) into dx (N, C, H, W), overwriting it."""
    n, c, h, w = dx.shape
    oh, ow = conv_out_size(h, kh, sh, ph), conv_out_size(w, kw, sw, pw)
    _col2im_kernel[blocks(dx.size), THREADS](dx, col, kh, kw, sh, sw, ph, pw, oh, ow)


def im2col(col, x, kh, kw, sh, sw, ph, pw):
    require_device("im2col", col=col, x=x)
    launch_im2col(col.reshape(col.size), x, kh, kw, sh, sw, ph, pw)


def col2im(dx, col, kh, kw, sh, sw, ph, pw):
    require_device("col2im", dx=dx, col=col)
    launch_col2im(dx, col.reshape(col.size), kh, kw, sh, sw, ph, pw)
