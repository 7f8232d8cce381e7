"""2-D convolution as im2col + one BLAS GEMM per layer (batch folded into the GEMM's N).

forward:  col = im2col(x);  ws_y = W2 @ col,  W2 = w.reshape(O, C*KH*KW)
          y[n,o,oh,ow] = act(ws_y[o, column of (n, oh, ow)] + b[o])      (epilogue: bias, act, NCHW)
backward: g = dy * act'(y) scattered into ws_g (ws_y's layout, zero in unused columns); db += sums
          dw += g @ col.T (via ws_dw (O, C*KH*KW));  dx = col2im(W2.T @ g) via ws_dcol if need_dx
x (N,C,H,W), w (O,C,KH,KW), b (O,), y/dy (N,O,OH,OW). The forward col is reused in backward.
Workspace shapes and the two layouts (stride 1: "wide" grid over a padded copy ws_xp; other
strides: standard im2col): kernels/shapes.py. Inner loops are slice copies: inside prange bodies
numba vectorizes those, not scalar loops (kernels/lab/conv_wide.py).
"""

import numpy as np
from numba import prange

from kernels.cpu._jit import pjit
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
    per_sample = oh * row
    for bi in prange(n):
        for oi in range(o):
            bias = b[oi]
            for a in range(oh):
                start = bi * per_sample + a * row
                for q in range(ow):
                    y[bi, oi, a, q] = activate(ws_y[oi, start + q] + bias, act, alpha)


@pjit
def conv2d_backward(dx, dw, db, ws_dcol, ws_g, ws_dw, ws_dxp, dy, col, x, w, y, sh, sw, ph, pw, act, alpha,
                    need_dx):
    n, o, oh, ow = y.shape
    kh, kw = w.shape[2], w.shape[3]
    wide = sh == 1 and sw == 1
    row = ws_dxp.shape[3] if wide else ow
    per_sample = oh * row
    for oi in prange(o):
        acc = 0.0
        for bi in range(n):
            for a in range(oh):
                start = bi * per_sample + a * row
                for q in range(ow):
                    g = activation_grad(dy[bi, oi, a, q], y[bi, oi, a, q], act, alpha)
                    ws_g[oi, start + q] = g
                    acc += g
                ws_g[oi, start + ow:start + row] = 0
        db[oi] += acc
    np.dot(ws_g, col.T, ws_dw)
    dw2 = dw.reshape(o, w.size // o)
    dw2 += ws_dw
    if need_dx:
        np.dot(w.reshape(o, w.size // o).T, ws_g, ws_dcol)
        if wide:
            _col2im_wide(dx, ws_dxp, ws_dcol, kh, kw, ph, pw)
        else:
            col2im(dx, ws_dcol, kh, kw, sh, sw, ph, pw)
