"""Fully connected product on BLAS with a fused bias + activation epilogue.

forward:  y = act(x @ w.T + b)           x (N, K), w (M, K), b (M,), y (N, M)
backward: g = dy * act'(y)  -> ws_g      dy, y, ws_g (N, M)
          dx = g @ w (N, K) if need_dx;  dw += g.T @ x via ws_dw (M, K);  db += sum_n g (M,)
"""

import numpy as np

from kernels.cpu._jit import jit
from kernels.cpu.activation import activate, activation_grad

__all__ = ["linear_forward", "linear_backward"]


@jit
def linear_forward(y, x, w, b, act, alpha):
    np.dot(x, w.T, y)
    n, m = y.shape
    for i in range(n):
        for j in range(m):
            y[i, j] = activate(y[i, j] + b[j], act, alpha)


@jit
def linear_backward(dx, dw, db, ws_g, ws_dw, dy, x, w, y, act, alpha, need_dx):
    n, m = dy.shape
    for i in range(n):
        for j in range(m):
            g = activation_grad(dy[i, j], y[i, j], act, alpha)
            ws_g[i, j] = g
            db[j] += g
    if need_dx:
        np.dot(ws_g, w, dx)
    np.dot(ws_g.T, x, ws_dw)
    dw += ws_dw
