"""2-D convolution as im2col + BLAS GEMM, the batch split into one chunk per thread.

Per chunk t (samples n0..n1, in a prange; BLAS is single-threaded, numba owns the threads):
forward:  col_t = im2col(x[n0:n1]) (C*KH*KW, cols_t);  ws_y_t = W2 @ col_t (O, cols_t)
          y[n,o,oh,ow] = act(ws_y_t[o, column of (n, oh, ow)] + b[o])   (epilogue: bias, act, NCHW)
backward: g_t = dy * act'(y) in ws_y_t's layout (padding columns 0);  partial_t = col_t @ g_t.T
          dx[n0:n1] = col2im(W2.T @ g_t) if need_dx;  then db += row sums of g, dw += sum_t partial_t.T
W2 = w.reshape(O, C*KH*KW); x (N,C,H,W), w (O,C,KH,KW), b (O,), y/dy (N,O,OH,OW). Flat workspaces
and the two column layouts (stride 1: "wide" grid over the padded copy ws_xp; other strides:
standard im2col): kernels/shapes.py. The forward col is reused in backward. Per-sample work runs in
serial helpers: numba vectorizes their loops, not scalar loops written inline in a prange body.
Each layout has its own prange kernel, chosen in Python by conv2d_forward / conv2d_backward (cold compile:
kernels/lab/compile_time.py).
"""

import numpy as np
from numba import prange

from kernels.cpu._jit import jit, pjit
from kernels.cpu.activation import activate, activation_grad
from kernels.cpu.im2col import col2im_sample, im2col_sample
from kernels.shapes import conv2d_workspace_shapes

__all__ = ["conv2d_workspace_shapes", "conv2d_forward", "conv2d_backward"]


@jit
def _chunk(n, nchunks, t):
    """Samples [n0, n1) of chunk t."""
    return n * t // nchunks, n * (t + 1) // nchunks


@jit
def _im2col_wide_sample(col, col0, xp, x, kh, kw, ph, pw, oh):
    """Pad one sample into xp (C, Hp, Wp), then col[(c*KH+i)*KW+j, col0 + t] = xp[c].flat[i*Wp + j + t].

    Explicit loops, no array assignments: those compile numba's shape-mismatch error formatting."""
    c, hp, wp = xp.shape
    h, w = x.shape[1], x.shape[2]
    run = oh * wp
    for ci in range(c):
        plane = xp[ci].reshape(hp * wp)
        for p in range(hp * wp):
            plane[p] = 0
        for r in range(h):
            src, dst = x[ci, r], plane[(r + ph) * wp + pw:]
            for q in range(w):
                dst[q] = src[q]
        for i in range(kh):
            for j in range(kw):
                src, dst = plane[i * wp + j:], col[(ci * kh + i) * kw + j, col0:]
                for t in range(run):
                    dst[t] = src[t]


@jit
def _col2im_wide_sample(dx, dxp, dcol, col0, kh, kw, ph, pw, oh):
    """Adjoint of _im2col_wide_sample: accumulate the runs into dxp, then crop it into dx (C, H, W)."""
    c, hp, wp = dxp.shape
    h, w = dx.shape[1], dx.shape[2]
    run = oh * wp
    for ci in range(c):
        plane = dxp[ci].reshape(hp * wp)
        for p in range(hp * wp):
            plane[p] = 0
        for i in range(kh):
            for j in range(kw):
                src, dst = dcol[(ci * kh + i) * kw + j, col0:], plane[i * wp + j:]
                for t in range(run):
                    dst[t] += src[t]
        for r in range(h):
            src, dst = plane[(r + ph) * wp + pw:], dx[ci, r]
            for q in range(w):
                dst[q] = src[q]


@jit
def _epilogue(y, ws_y, b, col0, row, act, alpha):
    """One sample: y[o, a, q] = act(ws_y[o, col0 + a*row + q] + b[o])."""
    for oi in range(y.shape[0]):
        bias = b[oi]
        for a in range(y.shape[1]):
            src = ws_y[oi, col0 + a * row:col0 + a * row + y.shape[2]]
            dst = y[oi, a]
            for q in range(dst.size):
                dst[q] = activate(src[q] + bias, act, alpha)


@jit
def _act_grad(ws_g, dy, y, col0, row, act, alpha):
    """One sample: ws_g[o, col0 + a*row + q] = dy * act'(y); the row's padding columns get 0."""
    for oi in range(y.shape[0]):
        for a in range(y.shape[1]):
            base = col0 + a * row
            g = ws_g[oi, base:base + row]
            d, yy = dy[oi, a], y[oi, a]
            for q in range(yy.size):
                g[q] = activation_grad(d[q], yy[q], act, alpha)
            for q in range(yy.size, row):
                g[q] = 0


def conv2d_forward(y, col, ws_y, ws_xp, x, w, b, sh, sw, ph, pw, act, alpha, nchunks):
    """Stride 1: the "wide" kernel; other strides: the standard one. Chosen here, in Python, so that a model
    compiles only the layouts it uses (a jitted switch compiles both: ~2 s more of cold compile). One chunk
    runs serially: entering a parallel region costs ~50 us, a batch-1 layer's whole work."""
    if sh == 1 and sw == 1:
        args = (y, col, ws_y, ws_xp, x, w, b, ph, pw, act, alpha, nchunks)
        if nchunks == 1:
            _forward_wide_chunk(*args, 0)
        else:
            _forward_wide(*args)
    else:
        args = (y, col, ws_y, x, w, b, sh, sw, ph, pw, act, alpha, nchunks)
        if nchunks == 1:
            _forward_strided_chunk(*args, 0)
        else:
            _forward_strided(*args)


@jit
def _forward_wide_chunk(y, col, ws_y, ws_xp, x, w, b, ph, pw, act, alpha, nchunks, t):
    """Chunk t of the stride-1 forward: im2col (wide), one GEMM, the epilogue."""
    n, o, oh, _ = y.shape
    kh, kw = w.shape[2], w.shape[3]
    ckk = w.size // o
    row = ws_xp.shape[3]   # GEMM columns per output row
    per = oh * row         # GEMM columns per sample
    w2 = w.reshape(o, ckk)
    n0, n1 = _chunk(n, nchunks, t)
    col_t = col[ckk * n0 * per:ckk * n1 * per].reshape(ckk, (n1 - n0) * per)
    y_t = ws_y[o * n0 * per:o * n1 * per].reshape(o, (n1 - n0) * per)
    for bi in range(n0, n1):
        _im2col_wide_sample(col_t, (bi - n0) * per, ws_xp[bi], x[bi], kh, kw, ph, pw, oh)
    np.dot(w2, col_t, y_t)
    for bi in range(n0, n1):
        _epilogue(y[bi], y_t, b, (bi - n0) * per, row, act, alpha)


@pjit
def _forward_wide(y, col, ws_y, ws_xp, x, w, b, ph, pw, act, alpha, nchunks):
    for t in prange(nchunks):
        _forward_wide_chunk(y, col, ws_y, ws_xp, x, w, b, ph, pw, act, alpha, nchunks, t)


@jit
def _forward_strided_chunk(y, col, ws_y, x, w, b, sh, sw, ph, pw, act, alpha, nchunks, t):
    """Chunk t of the strided forward: im2col, one GEMM, the epilogue."""
    n, o, oh, ow = y.shape
    kh, kw = w.shape[2], w.shape[3]
    ckk = w.size // o
    per = oh * ow
    w2 = w.reshape(o, ckk)
    n0, n1 = _chunk(n, nchunks, t)
    col_t = col[ckk * n0 * per:ckk * n1 * per].reshape(ckk, (n1 - n0) * per)
    y_t = ws_y[o * n0 * per:o * n1 * per].reshape(o, (n1 - n0) * per)
    for bi in range(n0, n1):
        im2col_sample(col_t, (bi - n0) * per, x[bi], kh, kw, sh, sw, ph, pw, oh, ow)
    np.dot(w2, col_t, y_t)
    for bi in range(n0, n1):
        _epilogue(y[bi], y_t, b, (bi - n0) * per, ow, act, alpha)


@pjit
def _forward_strided(y, col, ws_y, x, w, b, sh, sw, ph, pw, act, alpha, nchunks):
    for t in prange(nchunks):
        _forward_strided_chunk(y, col, ws_y, x, w, b, sh, sw, ph, pw, act, alpha, nchunks, t)


def conv2d_backward(dx, dw, db, ws_dcol, ws_g, ws_dw, ws_dxp, dy, col, x, w, y, sh, sw, ph, pw, act, alpha,
                    need_dx, nchunks):
    """The layout's kernel (see conv2d_forward), then the serial reduction of the per-chunk partials."""
    if sh == 1 and sw == 1:
        args = (dx, ws_dcol, ws_g, ws_dw, ws_dxp, dy, col, w, y, ph, pw, act, alpha, need_dx, nchunks)
        if nchunks == 1:
            _backward_wide_chunk(*args, 0)
        else:
            _backward_wide(*args)
        per = y.shape[2] * ws_dxp.shape[3]
    else:
        args = (dx, ws_dcol, ws_g, ws_dw, dy, col, w, y, sh, sw, ph, pw, act, alpha, need_dx, nchunks)
        if nchunks == 1:
            _backward_strided_chunk(*args, 0)
        else:
            _backward_strided(*args)
        per = y.shape[2] * y.shape[3]
    _reduce_grads(dw, db, ws_dw, ws_g, y.shape[0], per, nchunks)


@jit
def _backward_wide_chunk(dx, ws_dcol, ws_g, ws_dw, ws_dxp, dy, col, w, y, ph, pw, act, alpha, need_dx, nchunks, t):
    """Chunk t of the stride-1 backward: g, its dw partial, dcol and col2im (wide)."""
    n, o, oh, _ = y.shape
    kh, kw = w.shape[2], w.shape[3]
    ckk = w.size // o
    row = ws_dxp.shape[3]
    per = oh * row
    w2 = w.reshape(o, ckk)
    n0, n1 = _chunk(n, nchunks, t)
    col_t = col[ckk * n0 * per:ckk * n1 * per].reshape(ckk, (n1 - n0) * per)
    g_t = ws_g[o * n0 * per:o * n1 * per].reshape(o, (n1 - n0) * per)
    for bi in range(n0, n1):
        _act_grad(g_t, dy[bi], y[bi], (bi - n0) * per, row, act, alpha)
    np.dot(col_t, g_t.T, ws_dw[t * ckk * o:(t + 1) * ckk * o].reshape(ckk, o))
    if need_dx:
        dcol_t = ws_dcol[ckk * n0 * per:ckk * n1 * per].reshape(ckk, (n1 - n0) * per)
        np.dot(w2.T, g_t, dcol_t)
        for bi in range(n0, n1):
            _col2im_wide_sample(dx[bi], ws_dxp[bi], dcol_t, (bi - n0) * per, kh, kw, ph, pw, oh)


@pjit
def _backward_wide(dx, ws_dcol, ws_g, ws_dw, ws_dxp, dy, col, w, y, ph, pw, act, alpha, need_dx, nchunks):
    for t in prange(nchunks):
        _backward_wide_chunk(dx, ws_dcol, ws_g, ws_dw, ws_dxp, dy, col, w, y, ph, pw, act, alpha, need_dx, nchunks, t)


@jit
def _backward_strided_chunk(dx, ws_dcol, ws_g, ws_dw, dy, col, w, y, sh, sw, ph, pw, act, alpha, need_dx, nchunks, t):
    """Chunk t of the strided backward: g, its dw partial, dcol and col2im."""
    n, o, oh, ow = y.shape
    kh, kw = w.shape[2], w.shape[3]
    ckk = w.size // o
    per = oh * ow
    w2 = w.reshape(o, ckk)
    n0, n1 = _chunk(n, nchunks, t)
    col_t = col[ckk * n0 * per:ckk * n1 * per].reshape(ckk, (n1 - n0) * per)
    g_t = ws_g[o * n0 * per:o * n1 * per].reshape(o, (n1 - n0) * per)
    for bi in range(n0, n1):
        _act_grad(g_t, dy[bi], y[bi], (bi - n0) * per, ow, act, alpha)
    np.dot(col_t, g_t.T, ws_dw[t * ckk * o:(t + 1) * ckk * o].reshape(ckk, o))
    if need_dx:
        dcol_t = ws_dcol[ckk * n0 * per:ckk * n1 * per].reshape(ckk, (n1 - n0) * per)
        np.dot(w2.T, g_t, dcol_t)
        for bi in range(n0, n1):
            col2im_sample(dx[bi], dcol_t, (bi - n0) * per, kh, kw, sh, sw, ph, pw, oh, ow)


@pjit
def _backward_strided(dx, ws_dcol, ws_g, ws_dw, dy, col, w, y, sh, sw, ph, pw, act, alpha, need_dx, nchunks):
    for t in prange(nchunks):
        _backward_strided_chunk(dx, ws_dcol, ws_g, ws_dw, dy, col, w, y, sh, sw, ph, pw, act, alpha, need_dx,
                                nchunks, t)


@jit
def _reduce_grads(dw, db, ws_dw, ws_g, n, per, nchunks):
    """db[o] += sum over chunks of g_t's row o;  dw2 += sum_t partial_t.T  (dw2 = dw as (O, C*KH*KW))."""
    o, ckk = dw.shape[0], dw.size // dw.shape[0]
    dw2 = dw.reshape(o, ckk)
    for t in range(nchunks):
        n0, n1 = _chunk(n, nchunks, t)
        g_t = ws_g[o * n0 * per:o * n1 * per].reshape(o, (n1 - n0) * per)
        for oi in range(o):
            acc = db[oi] * 0
            for q in range(g_t.shape[1]):
                acc += g_t[oi, q]
            db[oi] += acc
        part = ws_dw[t * ckk * o:(t + 1) * ckk * o].reshape(ckk, o)
        for r in range(ckk):
            for oi in range(o):
                dw2[oi, r] += part[r, oi]
