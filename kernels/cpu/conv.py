"""2-D convolution as im2col + one BLAS GEMM per layer (batch folded into the GEMM's N).

forward:  col = im2col(x);  ws_y = W2 @ col,  W2 = w.reshape(O, C*KH*KW)
          y[n,o,oh,ow] = act(ws_y[o, column of (n, oh, ow)] + b[o])      (epilogue: bias, act, NCHW)
backward: g = dy * act'(y) scattered into ws_g (ws_y's layout, zero in unused columns); db += sums
          dw += (col @ g.T).T (via ws_dw, O*C*KH*KW floats);  dx = col2im(W2.T @ g) via ws_dcol if need_dx
x (N,C,H,W), w (O,C,KH,KW), b (O,), y/dy (N,O,OH,OW). The forward col is reused in backward.
Workspace shapes and the two layouts (stride 1: "wide" grid over a padded copy ws_xp; other
strides: standard im2col): kernels/shapes.py. Inner loops are slice copies: inside prange bodies
numba vectorizes those, not scalar loops (kernels/lab/conv_wide.py).
"""

import numpy as np
from numba import prange

from kernels.cpu._jit import jit, pjit
from kernels.cpu.activation import activate, activation_grad
from kernels.cpu.im2col import col2im, im2col
from kernels.shapes import conv2d_workspace_shapes

__all__ = ["conv2d_workspace_shapes", "conv2d_forward", "conv2d_backward"]


@pjit
def _pad(xp, x, ph, pw):
    """xp[n, c, ph:ph+H, pw:pw+W] = x, zero elsewhere (incl. the spare last row)."""
    n, c, h, w = x.shape
    for b in prange(n):
        xp[b] = 0
        for ci in range(c):
            for r in range(h):
                xp[b, ci, r + ph, pw:pw + w] = x[b, ci, r]


@pjit
def _im2col_wide(col, xp, kh, kw, oh):
    """col[(c*KH+i)*KW+j, n*OH*Wp + t] = xp[n, c].flat[i*Wp + j + t], t < OH*Wp."""
    n, c, hp, wp = xp.shape
    run = oh * wp
    for b in prange(n):
        for ci in range(c):
            plane = xp[b, ci].reshape(hp * wp)
            for i in range(kh):
                for j in range(kw):
                    off = i * wp + j
                    col[(ci * kh + i) * kw + j, b * run:(b + 1) * run] = plane[off:off + run]


@pjit
def _col2im_wide(dx, dxp, dcol, kh, kw, ph, pw):
    """Adjoint of _pad + _im2col_wide: accumulate runs into dxp, then crop it into dx."""
    n, c, h, w = dx.shape
    hp, wp = dxp.shape[2], dxp.shape[3]
    run = (dcol.shape[1] // n) if n > 0 else 0
    for b in prange(n):
        dxp[b] = 0
        for ci in range(c):
            plane = dxp[b, ci].reshape(hp * wp)
            for i in range(kh):
                for j in range(kw):
                    off = i * wp + j
                    plane[off:off + run] += dcol[(ci * kh + i) * kw + j, b * run:(b + 1) * run]
            for r in range(h):
                dx[b, ci, r] = dxp[b, ci, r + ph, pw:pw + w]


@jit
def _add_row_sums(db, g):
    """db[o] += sum_t g[o, t]."""
    for oi in range(g.shape[0]):
        acc = g[oi, 0] * 0
        for t in range(g.shape[1]):
            acc += g[oi, t]
        db[oi] += acc


@pjit
def conv2d_forward(y, col, ws_y, ws_xp, x, w, b, sh, sw, ph, pw, act, alpha):
    n, o, oh, ow = y.shape
    kh, kw = w.shape[2], w.shape[3]
    wide = sh == 1 and sw == 1
    if wide:
        _pad(ws_xp, x, ph, pw)
        _im2col_wide(col, ws_xp, kh, kw, oh)
    else:
        im2col(col, x, kh, kw, sh, sw, ph, pw)
    np.dot(w.reshape(o, w.size // o), col, ws_y)
    row = ws_xp.shape[3] if wide else ow   # columns per output row in ws_y
    for bi in prange(n):
        _epilogue(y[bi], ws_y, b, bi * oh * row, row, act, alpha)


@jit
def _epilogue(y, ws_y, b, start, row, act, alpha):
    """One sample: y[o, a, q] = act(ws_y[o, start + a*row + q] + b[o]). A serial helper called from
    prange: numba vectorizes loops here, not scalar loops written inline in a prange body."""
    for oi in range(y.shape[0]):
        bias = b[oi]
        for a in range(y.shape[1]):
            src = ws_y[oi, start + a * row:start + a * row + y.shape[2]]
            dst = y[oi, a]
            for q in range(dst.size):
                dst[q] = activate(src[q] + bias, act, alpha)


@jit
def _act_grad(ws_g, dy, y, start, row, act, alpha):
    """One sample: ws_g[o, start + a*row + q] = dy * act'(y); the row's padding columns get 0."""
    for oi in range(y.shape[0]):
        for a in range(y.shape[1]):
            base = start + a * row
            g = ws_g[oi, base:base + row]
            d, yy = dy[oi, a], y[oi, a]
            for q in range(yy.size):
                g[q] = activation_grad(d[q], yy[q], act, alpha)
            for q in range(yy.size, row):
                g[q] = 0


@pjit
def conv2d_backward(dx, dw, db, ws_dcol, ws_g, ws_dw, ws_dxp, dy, col, x, w, y, sh, sw, ph, pw, act, alpha,
                    need_dx):
    n, o, oh, ow = y.shape
    kh, kw = w.shape[2], w.shape[3]
    wide = sh == 1 and sw == 1
    row = ws_dxp.shape[3] if wide else ow
    for bi in prange(n):
        _act_grad(ws_g, dy[bi], y[bi], bi * oh * row, row, act, alpha)
    _add_row_sums(db, ws_g)
    ckk = w.size // o
    dw_t = ws_dw.reshape(ckk, o)          # col @ g.T: OpenBLAS handles this long-K product ~2x faster
    np.dot(col, ws_g.T, dw_t)             # than g @ col.T (measured on LeNet's conv1/conv2 shapes)
    dw2 = dw.reshape(o, ckk)
    dw2 += dw_t.T
    if need_dx:
        np.dot(w.reshape(o, w.size // o).T, ws_g, ws_dcol)
        if wide:
            _col2im_wide(dx, ws_dxp, ws_dcol, kh, kw, ph, pw)
        else:
            col2im(dx, ws_dcol, kh, kw, sh, sw, ph, pw)
