"""Layer, instance and local response normalization (formulas and shapes: kernels/reference/norm.py).

Every prange body calls a serial @jit helper over one row / plane / sample (numba does not vectorize
scalar loops written inside a prange body). Statistics take two passes (mean, then the centered sum of
squares) with batchnorm's blocked float64 accumulation. layernorm splits its M rows into ``nchunks``
contiguous blocks, one per thread (``nchunks == 1``: serial, no thread wake-up); its backward sums each
block's dgamma/dbeta partials into ws_dparams[t] and adds the blocks up serially (deterministic for a
given nchunks).
instancenorm runs in parallel over the N*C planes (serially below PARALLEL_MIN elements), lrn over
the batch.
"""

import math

from numba import prange

from kernels.cpu._jit import jit, pjit
from kernels.cpu.batchnorm import _row_sum, _row_sumsq_dev

__all__ = ["layernorm_forward", "layernorm_backward", "instancenorm_forward", "instancenorm_backward",
           "lrn_forward", "lrn_backward"]

PARALLEL_MIN = 1 << 15


@jit
def _mean_var(v):
    """(mean, biased variance) of a contiguous 1-D array, two passes (BLOCK-long partial sums in the
    input's precision, added up in float64: kernels/cpu/batchnorm.py)."""
    n = v.size
    mu = _row_sum(v) / n
    m_ = v.dtype.type(mu)
    var = _row_sumsq_dev(v, m_) / n - (mu - m_) * (mu - m_)
    return mu, max(var, 0.0)


# ------------------------------------------------------------------------------------ layernorm


@jit
def _layernorm_rows(y, mean, invstd, x, gamma, beta, eps, r0, r1):
    for r in range(r0, r1):
        xr = x[r]
        yr = y[r]
        mu, var = _mean_var(xr)
        inv = 1.0 / math.sqrt(var + eps)
        mean[r] = mu
        invstd[r] = inv
        m_ = x.dtype.type(mu)
        i_ = x.dtype.type(inv)
        for i in range(xr.size):
            yr[i] = (xr[i] - m_) * i_ * gamma[i] + beta[i]


@pjit
def layernorm_forward(y, mean, invstd, x, gamma, beta, eps, nchunks):
    m = x.shape[0]
    if nchunks <= 1:
        _layernorm_rows(y, mean, invstd, x, gamma, beta, eps, 0, m)
        return
    for t in prange(nchunks):
        _layernorm_rows(y, mean, invstd, x, gamma, beta, eps, t * m // nchunks, (t + 1) * m // nchunks)


@jit
def _layernorm_backward_rows(dx, dgs, dbs, dy, x, mean, invstd, gamma, r0, r1):
    """dx rows [r0, r1); adds the rows' dy * xhat into dgs and dy into dbs."""
    d = x.shape[1]
    for r in range(r0, r1):
        xr = x[r]
        gr = dy[r]
        out = dx[r]
        m_ = mean[r]
        i_ = invstd[r]
        sh = 0.0
        shx = 0.0
        for i in range(d):
            xh = (xr[i] - m_) * i_
            h = gr[i] * gamma[i]
            sh += h
            shx += h * xh
            dgs[i] += gr[i] * xh
            dbs[i] += gr[i]
        a = x.dtype.type(sh / d)
        b = x.dtype.type(shx / d)
        for i in range(d):
            xh = (xr[i] - m_) * i_
            out[i] = i_ * (gr[i] * gamma[i] - a - xh * b)


@pjit
def layernorm_backward(dx, dgamma, dbeta, ws_dparams, dy, x, mean, invstd, gamma, nchunks):
    m, d = x.shape
    if nchunks <= 1:
        _layernorm_backward_rows(dx, dgamma, dbeta, dy, x, mean, invstd, gamma, 0, m)
        return
    for t in prange(nchunks):
        ws_dparams[t] = 0
        _layernorm_backward_rows(dx, ws_dparams[t, 0], ws_dparams[t, 1], dy, x, mean, invstd, gamma,
                                 t * m // nchunks, (t + 1) * m // nchunks)
    for t in range(nchunks):
        for i in range(d):
            dgamma[i] += ws_dparams[t, 0, i]
            dbeta[i] += ws_dparams[t, 1, i]


# ------------------------------------------------------------------------------------ instancenorm


@jit
def _instancenorm_plane(y, mean, invstd, x, gamma, beta, eps, p):
    c = x.shape[1]
    n, ci = p // c, p % c
    xr = x[n, ci]
    yr = y[n, ci]
    mu, var = _mean_var(xr)
    inv = 1.0 / math.sqrt(var + eps)
    mean[n, ci] = mu
    invstd[n, ci] = inv
    m_ = x.dtype.type(mu)
    a = x.dtype.type(gamma[ci] * inv)
    b = beta[ci]
    for i in range(xr.size):
        yr[i] = (xr[i] - m_) * a + b


@pjit
def instancenorm_forward(y, mean, invstd, running_mean, running_var, x, gamma, beta, eps, momentum,
                         update_running):
    n, c, s = x.shape
    if x.size < PARALLEL_MIN:
        for p in range(n * c):
            _instancenorm_plane(y, mean, invstd, x, gamma, beta, eps, p)
    else:
        for p in prange(n * c):
            _instancenorm_plane(y, mean, invstd, x, gamma, beta, eps, p)
    if update_running:
        for ci in range(c):
            sm = 0.0
            sv = 0.0
            for b in range(n):
                sm += mean[b, ci]
                inv = float(invstd[b, ci])
                sv += 1.0 / (inv * inv) - eps  # the plane's biased variance
            running_mean[ci] = (1 - momentum) * running_mean[ci] + momentum * sm / n
            running_var[ci] = (1 - momentum) * running_var[ci] + momentum * sv / n * s / (s - 1)


@jit
def _instancenorm_backward_plane(dx, ws_sums, dy, x, mean, invstd, gamma, p):
    c = x.shape[1]
    n, ci = p // c, p % c
    xr = x[n, ci]
    gr = dy[n, ci]
    out = dx[n, ci]
    m_ = mean[n, ci]
    i_ = invstd[n, ci]
    s = xr.size
    sg = 0.0
    sgx = 0.0
    for i in range(s):
        sg += gr[i]
        sgx += gr[i] * ((xr[i] - m_) * i_)
    ws_sums[n, ci, 0] = sg
    ws_sums[n, ci, 1] = sgx
    k = x.dtype.type(gamma[ci] * i_)
    a = x.dtype.type(sg / s)
    b = x.dtype.type(sgx / s)
    for i in range(s):
        out[i] = k * (gr[i] - a - (xr[i] - m_) * i_ * b)


@pjit
def instancenorm_backward(dx, dgamma, dbeta, ws_sums, dy, x, mean, invstd, gamma):
    n, c, s = x.shape
    if x.size < PARALLEL_MIN:
        for p in range(n * c):
            _instancenorm_backward_plane(dx, ws_sums, dy, x, mean, invstd, gamma, p)
    else:
        for p in prange(n * c):
            _instancenorm_backward_plane(dx, ws_sums, dy, x, mean, invstd, gamma, p)
    for b in range(n):
        for ci in range(c):
            dbeta[ci] += ws_sums[b, ci, 0]
            dgamma[ci] += ws_sums[b, ci, 1]


# ------------------------------------------------------------------------------------ LRN


@jit
def _lrn_sample(y, scale, x, size, alpha, beta, k):
    """One sample: x, y, scale (C, S)."""
    c, s = x.shape
    lo_off = size // 2
    hi_off = (size - 1) // 2
    coef = x.dtype.type(alpha / size)
    k_ = x.dtype.type(k)
    nb = x.dtype.type(-beta)
    for ci in range(c):
        sr = scale[ci]
        sr[:] = 0
        for cj in range(max(ci - lo_off, 0), min(ci + hi_off + 1, c)):
            xr = x[cj]
            for i in range(s):
                sr[i] += xr[i] * xr[i]
        xr = x[ci]
        yr = y[ci]
        for i in range(s):
            v = k_ + coef * sr[i]
            sr[i] = v
            yr[i] = xr[i] * v ** nb


@pjit
def lrn_forward(y, scale, x, size, alpha, beta, k):
    n = x.shape[0]
    if x.size < PARALLEL_MIN:
        for b in range(n):
            _lrn_sample(y[b], scale[b], x[b], size, alpha, beta, k)
    else:
        for b in prange(n):
            _lrn_sample(y[b], scale[b], x[b], size, alpha, beta, k)


@jit
def _lrn_backward_sample(dx, t, dy, x, y, scale, size, alpha, beta, k):
    """One sample: t (C, S) scratch holds dy * y / scale."""
    c, s = x.shape
    lo_off = (size - 1) // 2  # j receives from c in [j - (size-1)//2, j + size//2]
    hi_off = size // 2
    coef = x.dtype.type(2 * alpha * beta / size)
    nb = x.dtype.type(-beta)
    for ci in range(c):
        tr = t[ci]
        gr = dy[ci]
        yr = y[ci]
        sr = scale[ci]
        for i in range(s):
            tr[i] = gr[i] * yr[i] / sr[i]
    for ci in range(c):
        out = dx[ci]
        out[:] = 0
        for cj in range(max(ci - lo_off, 0), min(ci + hi_off + 1, c)):
            tr = t[cj]
            for i in range(s):
                out[i] += tr[i]
        xr = x[ci]
        gr = dy[ci]
        sr = scale[ci]
        for i in range(s):
            out[i] = gr[i] * sr[i] ** nb - coef * xr[i] * out[i]


@pjit
def lrn_backward(dx, ws, dy, x, y, scale, size, alpha, beta, k):
    n = x.shape[0]
    if x.size < PARALLEL_MIN:
        for b in range(n):
            _lrn_backward_sample(dx[b], ws[b], dy[b], x[b], y[b], scale[b], size, alpha, beta, k)
    else:
        for b in prange(n):
            _lrn_backward_sample(dx[b], ws[b], dy[b], x[b], y[b], scale[b], size, alpha, beta, k)
