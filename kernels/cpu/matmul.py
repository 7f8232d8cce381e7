"""Fully connected product on BLAS with a fused bias + activation epilogue, rows split per thread.

forward:  y = act(x @ w.T + b)                 x (N, K), w (M, K), b (M,), y (N, M)
backward: g = dy * act'(y) -> ws_g (N, M);  dx = g @ w (N, K) if need_dx
          partial_t = g[rows_t].T @ x[rows_t] (M, K) into ws_dw (nchunks*M*K,); dw += sum_t partial_t;
          db += sum_n g
Each of ``nchunks`` row blocks runs on its own thread (kernels/cpu/_threads.py run_chunks) with
single-threaded BLAS (kernels/_env.py); the epilogue runs on each block right after its GEMM, while it is in
cache. nchunks == 1 (the layer's choice for small work) runs on the calling thread alone (waking a worker costs
~50 us, more than a batch-1 layer's whole work).

gemm:         c = alpha * a @ b + beta * c  (c (M, N), a (M, K), b (K, N); beta == 0: c is not read).
              BLAS writes a @ b into c directly when beta == 0; beta != 0 needs an (M, N) temporary.
batched_gemm: c[i] = a[i] @ b[i]  (c (B, M, N), a (B, M, K), b (B, K, N)), one matrix per thread.
"""

import numpy as np
from numba import prange

from kernels.cpu._jit import jit, pjit
from kernels.cpu._threads import run_chunks
from kernels.cpu.activation import activate, activation_grad

__all__ = ["linear_workspace_shape", "linear_forward", "linear_backward", "gemm", "batched_gemm"]


def linear_workspace_shape(n, k, m, nchunks):
    """Shape of ws_dw: one (M, K) partial weight gradient per chunk."""
    return (nchunks * m * k,)


@jit
def _rows(n, nchunks, t):
    return n * t // nchunks, n * (t + 1) // nchunks


@jit
def _bias_act(y, b, act, alpha):
    for i in range(y.shape[0]):
        for j in range(y.shape[1]):
            y[i, j] = activate(y[i, j] + b[j], act, alpha)


@jit
def _act_grad(g, dy, y, act, alpha):
    for i in range(g.shape[0]):
        for j in range(g.shape[1]):
            g[i, j] = activation_grad(dy[i, j], y[i, j], act, alpha)


@jit
def _forward_chunk(y, x, w, b, act, alpha, nchunks, t):
    """Row block t: y = act(x @ w.T + b)."""
    r0, r1 = _rows(x.shape[0], nchunks, t)
    np.dot(x[r0:r1], w.T, y[r0:r1])
    _bias_act(y[r0:r1], b, act, alpha)


def linear_forward(y, x, w, b, act, alpha, nchunks):
    run_chunks(_forward_chunk, (y, x, w, b, act, alpha, nchunks), nchunks)


@jit
def _backward_chunk(dx, ws_g, ws_dw, dy, x, w, y, act, alpha, need_dx, nchunks, t):
    """Row block t: g = dy * act'(y); dx = g @ w (if need_dx); partial_t = g.T @ x (this block's dw)."""
    r0, r1 = _rows(x.shape[0], nchunks, t)
    m, k = w.shape
    g = ws_g[r0:r1]
    _act_grad(g, dy[r0:r1], y[r0:r1], act, alpha)
    if need_dx:
        np.dot(g, w, dx[r0:r1])
    np.dot(g.T, x[r0:r1], ws_dw[t * m * k:(t + 1) * m * k].reshape(m, k))


def linear_backward(dx, dw, db, ws_g, ws_dw, dy, x, w, y, act, alpha, need_dx, nchunks):
    run_chunks(_backward_chunk, (dx, ws_g, ws_dw, dy, x, w, y, act, alpha, need_dx, nchunks), nchunks)
    _reduce(dw, db, ws_g, ws_dw, nchunks)


@jit
def _reduce(dw, db, g, ws_dw, nchunks):
    """db += column sums of g;  dw += sum of the per-chunk partials."""
    m, k = dw.shape
    for i in range(g.shape[0]):
        for j in range(m):
            db[j] += g[i, j]
    for t in range(nchunks):
        part = ws_dw[t * m * k:(t + 1) * m * k].reshape(m, k)
        for j in range(m):
            for c in range(k):
                dw[j, c] += part[j, c]


@jit
def gemm(c, a, b, alpha, beta):
    if beta == 0:
        np.dot(a, b, c)
        if alpha != 1:
            c *= alpha
    else:
        c[...] = alpha * np.dot(a, b) + beta * c


@pjit
def batched_gemm(c, a, b):
    for i in prange(a.shape[0]):
        np.dot(a[i], b[i], c[i])
