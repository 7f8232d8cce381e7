"""Fully connected product on BLAS with a fused bias + activation epilogue, split over threads.

forward:  y = act(x @ w.T + b)                 x (N, K), w (M, K), b (M,), y (N, M)
          chunk t: the rows (samples) r0:r1 of y, the epilogue right after the GEMM, while in cache.
backward: chunk t: g = dy * act'(y) for rows r0:r1 -> ws_g (N, M), dx[r0:r1] = g @ w (only if need_dx);
          and for the output features m0:m1: gT = (dy * act'(y))[:, m0:m1].T (M_t, N) and
          part = gT @ x (M_t, K) in its slot of ws_dw, dw[m0:m1] += part, db[m0:m1] += row sums of gT.
          Splitting dw by output features needs no serial reduction of per-thread partials after the chunks
          (that was ~10% of an MLP step), and each GEMM's inner dimension is the whole batch.
Chunk t runs on its own thread (kernels/cpu/_threads.py run_chunks) with single-threaded BLAS (kernels/_env.py);
nchunks == 1 (the layer's choice for small work) runs on the calling thread alone.

gemm:         c = alpha * a @ b + beta * c  (c (M, N), a (M, K), b (K, N); beta == 0: c is not read).
              BLAS writes a @ b into c directly when beta == 0; beta != 0 needs an (M, N) temporary.
batched_gemm: c[i] = a[i] @ b[i]  (c (B, M, N), a (B, M, K), b (B, K, N)), one matrix per thread.
"""

import numpy as np
from numba import prange

from kernels.cpu._jit import jit, pjit
from kernels.cpu._threads import chunk_span, release_workers, run_chunks
from kernels.cpu.activation import activate, activation_grad
from kernels.shapes import linear_workspace_shape

__all__ = ["linear_workspace_shape", "linear_forward", "linear_backward", "gemm", "batched_gemm"]


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
def _forward_chunk(y, x, w, b, act, alpha, nchunks, t, sync):
    """Row block t: y = act(x @ w.T + b)."""
    release_workers(sync, t)
    r0, r1 = chunk_span(x.shape[0], nchunks, t)
    np.dot(x[r0:r1], w.T, y[r0:r1])
    _bias_act(y[r0:r1], b, act, alpha)


def linear_forward(y, x, w, b, act, alpha, nchunks):
    run_chunks(_forward_chunk, (y, x, w, b, act, alpha, nchunks), nchunks)


@jit
def _backward_chunk(dx, dw, db, ws_g, ws_dw, dy, x, w, y, act, alpha, need_dx, nchunks, t, sync):
    """dx for the rows of chunk t (if need_dx), dw and db for its output features."""
    release_workers(sync, t)
    n, k = x.shape
    m = w.shape[0]
    if need_dx:
        r0, r1 = chunk_span(n, nchunks, t)
        g = ws_g[r0:r1]
        _act_grad(g, dy[r0:r1], y[r0:r1], act, alpha)
        np.dot(g, w, dx[r0:r1])
    m0, m1 = chunk_span(m, nchunks, t)
    rows = m1 - m0
    if rows == 0:
        return
    slot = ws_dw[t * -(-m // nchunks) * (n + k):]
    gt, part = slot[:rows * n].reshape(rows, n), slot[rows * n:rows * (n + k)].reshape(rows, k)
    for i in range(n):
        for j in range(rows):
            gt[j, i] = activation_grad(dy[i, m0 + j], y[i, m0 + j], act, alpha)
    np.dot(gt, x, part)
    for j in range(rows):
        gt_j, acc = gt[j], db[m0 + j]   # an explicit sum: .sum() costs 0.25 s of cold compile
        for i in range(n):
            acc += gt_j[i]
        db[m0 + j] = acc
        dw_j, part_j = dw[m0 + j], part[j]
        for c in range(k):
            dw_j[c] += part_j[c]


def linear_backward(dx, dw, db, ws_g, ws_dw, dy, x, w, y, act, alpha, need_dx, nchunks):
    run_chunks(_backward_chunk, (dx, dw, db, ws_g, ws_dw, dy, x, w, y, act, alpha, need_dx, nchunks), nchunks)


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
