"""2-D convolution as im2col + one BLAS GEMM per layer (batch folded into the GEMM's N).

forward:  col = im2col(x) (C*KH*KW, N*P);  ws_y = W2 @ col (O, N*P), W2 = w.reshape(O, C*KH*KW)
          y[n,o,p] = act(ws_y[o, n*P + p] + b[o])          (epilogue: bias, activation, to NCHW)
backward: g[o, n*P + p] = dy[n,o,p] * act'(y[n,o,p]) -> ws_g;  db += row sums of g
          dw += g @ col.T (via ws_dw (O, C*KH*KW));  dx = col2im(W2.T @ g) via ws_dcol if need_dx
x (N,C,H,W), w (O,C,KH,KW), b (O,), y/dy (N,O,OH,OW), P = OH*OW. The forward col is reused in backward.
"""

import numpy as np
from numba import prange

from kernels.cpu._jit import pjit
from kernels.cpu.activation import activate, activation_grad
from kernels.cpu.im2col import col2im, im2col

__all__ = ["conv2d_forward", "conv2d_backward"]


@pjit
def conv2d_forward(y, col, ws_y, x, w, b, sh, sw, ph, pw, act, alpha):
    n, o, oh, ow = y.shape
    kh, kw = w.shape[2], w.shape[3]
    p = oh * ow
    im2col(col, x, kh, kw, sh, sw, ph, pw)
    np.dot(w.reshape(o, w.size // o), col, ws_y)
    y3 = y.reshape(n, o, p)
    for bi in prange(n):
        for oi in range(o):
            for q in range(p):
                y3[bi, oi, q] = activate(ws_y[oi, bi * p + q] + b[oi], act, alpha)


@pjit
def conv2d_backward(dx, dw, db, ws_dcol, ws_g, ws_dw, dy, col, x, w, y, sh, sw, ph, pw, act, alpha, need_dx):
    n, o, oh, ow = y.shape
    kh, kw = w.shape[2], w.shape[3]
    p = oh * ow
    dy3 = dy.reshape(n, o, p)
    y3 = y.reshape(n, o, p)
    for oi in prange(o):
        acc = 0.0
        for bi in range(n):
            for q in range(p):
                g = activation_grad(dy3[bi, oi, q], y3[bi, oi, q], act, alpha)
                ws_g[oi, bi * p + q] = g
                acc += g
        db[oi] += acc
    w2 = w.reshape(o, w.size // o)
    np.dot(ws_g, col.T, ws_dw)
    dw2 = dw.reshape(o, w.size // o)
    dw2 += ws_dw
    if need_dx:
        np.dot(w2.T, ws_g, ws_dcol)
        col2im(dx, ws_dcol, kh, kw, sh, sw, ph, pw)
