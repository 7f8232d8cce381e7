"""Layer, instance and local response normalization on the GPU (formulas and shapes: kernels/reference/norm.py).

layernorm and instancenorm run ONE block of THREADS threads per row / (n, c) plane: the threads stride over
the contiguous row (coalesced) and reduce in shared memory (``block_sum`` from kernels/cuda/_launch.py);
statistics take two passes (mean, then the centered sum of squares) in the input's precision.
Parameter gradients are column sums over rows / planes, done deterministically (fixed order, no atomics):
layernorm sums dgamma / dbeta partials over chunks of LN_ROWS rows (one thread per column and chunk) into
a scratch buffer, then adds the chunks; instancenorm writes per-plane sums into ws_sums and adds them per
channel; both accumulate (+=) into dgamma / dbeta like the cpu kernels. layernorm's ws_dparams and nchunks
(the cpu threads' layout) are accepted and unused.
lrn is elementwise (one thread per value; the channel window is a short loop); its backward recomputes the
window's dy * y / scale instead of staging it in ws (accepted, unused): one launch.
"""

import math

from numba import cuda

from kernels.cuda._launch import THREADS, block_sum, blocks, require_device, scratch
from kernels.cuda.batchnorm import _unravel

__all__ = ["layernorm_forward", "layernorm_backward", "instancenorm_forward", "instancenorm_backward",
           "lrn_forward", "lrn_backward"]

LN_ROWS = 32  # rows per chunk of layernorm's dgamma / dbeta partial sums
MAX_CHUNKS = 4096  # at most this many chunks (grid.y) however many rows


# --- device helpers -----------------------------------------------------------------------------------


@cuda.jit(device=True)
def _mean_var(buf, v):
    """(mean, biased variance) of the contiguous 1-D array v, computed by the whole block (two passes)."""
    t = cuda.threadIdx.x
    n = v.shape[0]
    acc = v.dtype.type(0)
    for i in range(t, n, THREADS):
        acc += v[i]
    mu = block_sum(buf, acc) / v.dtype.type(n)
    acc = v.dtype.type(0)
    for i in range(t, n, THREADS):
        d = v[i] - mu
        acc += d * d
    return mu, block_sum(buf, acc) / v.dtype.type(n)


@cuda.jit(device=True)
def _channel_window(c, lo_off, hi_off, nc):
    """Channels [c - lo_off, c + hi_off] clipped to [0, nc), as a range's (start, stop)."""
    return max(c - lo_off, 0), min(c + hi_off + 1, nc)


# --- layernorm ----------------------------------------------------------------------------------------


@cuda.jit
def _layernorm_forward_kernel(y, mean, invstd, x, gamma, beta, eps):
    """Block r: mean_r, var_r of x[r] (D values), invstd_r = 1/sqrt(var_r + eps), y[r] = gamma (x[r] - mean_r)
    invstd_r + beta. x, y (M, D); gamma, beta (D,); mean, invstd (M,); one block per row."""
    r = cuda.blockIdx.x
    t = cuda.threadIdx.x
    buf = cuda.shared.array(THREADS, x.dtype)
    xr = x[r]
    yr = y[r]
    mu, var = _mean_var(buf, xr)
    inv = x.dtype.type(1) / math.sqrt(var + eps)
    if t == 0:
        mean[r] = mu
        invstd[r] = inv
    for i in range(t, xr.shape[0], THREADS):
        yr[i] = (xr[i] - mu) * inv * gamma[i] + beta[i]


@cuda.jit
def _layernorm_dx_kernel(dx, dy, x, mean, invstd, gamma):
    """Block r: h = dy[r] gamma, xhat = (x[r] - mean_r) invstd_r, dx[r] = invstd_r (h - mean(h) - xhat
    mean(h xhat)). dx, dy, x (M, D); one block per row."""
    r = cuda.blockIdx.x
    t = cuda.threadIdx.x
    buf = cuda.shared.array(THREADS, x.dtype)
    xr = x[r]
    gr = dy[r]
    out = dx[r]
    d = xr.shape[0]
    mu = mean[r]
    inv = invstd[r]
    acc_h = x.dtype.type(0)
    acc_hx = x.dtype.type(0)
    for i in range(t, d, THREADS):
        h = gr[i] * gamma[i]
        acc_h += h
        acc_hx += h * ((xr[i] - mu) * inv)
    a = block_sum(buf, acc_h) / x.dtype.type(d)
    b = block_sum(buf, acc_hx) / x.dtype.type(d)
    for i in range(t, d, THREADS):
        out[i] = inv * (gr[i] * gamma[i] - a - (xr[i] - mu) * inv * b)


@cuda.jit
def _layernorm_dparams_partial_kernel(part, dy, x, mean, invstd, rows):
    """part[k, 0, i] = sum dy[r, i] xhat[r, i], part[k, 1, i] = sum dy[r, i] over the rows r of chunk k
    ([k*rows, (k+1)*rows)); part (K, 2, D); grid (blocks(D), K): one thread per column and chunk."""
    i = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
    k = cuda.blockIdx.y
    if i >= x.shape[1]:
        return
    sg = x.dtype.type(0)
    sgx = x.dtype.type(0)
    for r in range(k * rows, min((k + 1) * rows, x.shape[0])):
        g = dy[r, i]
        sg += g
        sgx += g * ((x[r, i] - mean[r]) * invstd[r])
    part[k, 0, i] = sgx
    part[k, 1, i] = sg


@cuda.jit
def _add_partials_kernel(dgamma, dbeta, part):
    """dgamma[i] += sum_k part[k, 0, i], dbeta[i] += sum_k part[k, 1, i] (k in order); part (K, 2, D),
    one thread per column i."""
    i = cuda.grid(1)
    if i >= dgamma.shape[0]:
        return
    sgx = dgamma[i]
    sg = dbeta[i]
    for k in range(part.shape[0]):
        sgx += part[k, 0, i]
        sg += part[k, 1, i]
    dgamma[i] = sgx
    dbeta[i] = sg


# --- instancenorm -------------------------------------------------------------------------------------


@cuda.jit
def _instancenorm_forward_kernel(y, mean, invstd, var, x, gamma, beta, eps):
    """Block p = (n, c): mean, var (biased) of x[n, c] (S values), invstd = 1/sqrt(var + eps), y[n, c] =
    gamma_c (x - mean) invstd + beta_c. x, y (N, C, S); mean, invstd, var (N, C); one block per plane."""
    nc = x.shape[1]
    b = cuda.blockIdx.x // nc
    c = cuda.blockIdx.x - b * nc
    t = cuda.threadIdx.x
    buf = cuda.shared.array(THREADS, x.dtype)
    xr = x[b, c]
    yr = y[b, c]
    mu, v = _mean_var(buf, xr)
    inv = x.dtype.type(1) / math.sqrt(v + eps)
    if t == 0:
        mean[b, c] = mu
        invstd[b, c] = inv
        var[b, c] = v
    a = gamma[c] * inv
    shift = beta[c]
    for i in range(t, xr.shape[0], THREADS):
        yr[i] = (xr[i] - mu) * a + shift


@cuda.jit
def _instancenorm_running_kernel(running_mean, running_var, mean, var, momentum, unbias):
    """running_mean_c = (1 - m) running_mean_c + m mean_n(mean[n, c]), running_var_c = (1 - m) running_var_c
    + m mean_n(var[n, c]) unbias (unbias = S / (S - 1)); mean, var (N, C); one thread per channel."""
    c = cuda.grid(1)
    if c >= running_mean.shape[0]:
        return
    n = mean.shape[0]
    sm = mean.dtype.type(0)
    sv = mean.dtype.type(0)
    for b in range(n):
        sm += mean[b, c]
        sv += var[b, c]
    keep = mean.dtype.type(1) - momentum
    count = mean.dtype.type(n)
    running_mean[c] = keep * running_mean[c] + momentum * (sm / count)
    running_var[c] = keep * running_var[c] + momentum * (sv / count * unbias)


@cuda.jit
def _instancenorm_backward_kernel(dx, ws_sums, dy, x, mean, invstd, gamma):
    """Block p = (n, c): sg = sum dy, sgx = sum dy xhat over the plane (into ws_sums[n, c] (N, C, 2)),
    dx = gamma_c invstd (dy - sg / S - xhat sgx / S). dx, dy, x (N, C, S); one block per plane."""
    nc = x.shape[1]
    b = cuda.blockIdx.x // nc
    c = cuda.blockIdx.x - b * nc
    t = cuda.threadIdx.x
    buf = cuda.shared.array(THREADS, x.dtype)
    xr = x[b, c]
    gr = dy[b, c]
    out = dx[b, c]
    s = xr.shape[0]
    mu = mean[b, c]
    inv = invstd[b, c]
    acc_g = x.dtype.type(0)
    acc_gx = x.dtype.type(0)
    for i in range(t, s, THREADS):
        acc_g += gr[i]
        acc_gx += gr[i] * ((xr[i] - mu) * inv)
    sg = block_sum(buf, acc_g)
    sgx = block_sum(buf, acc_gx)
    if t == 0:
        ws_sums[b, c, 0] = sg
        ws_sums[b, c, 1] = sgx
    k = gamma[c] * inv
    a = sg / x.dtype.type(s)
    q = sgx / x.dtype.type(s)
    for i in range(t, s, THREADS):
        out[i] = k * (gr[i] - a - (xr[i] - mu) * inv * q)


@cuda.jit
def _instancenorm_dparams_kernel(dgamma, dbeta, ws_sums):
    """dbeta_c += ws_sums[n, c, 0], dgamma_c += ws_sums[n, c, 1] for n in order; one thread per channel."""
    c = cuda.grid(1)
    if c >= dgamma.shape[0]:
        return
    sg = dbeta[c]
    sgx = dgamma[c]
    for b in range(ws_sums.shape[0]):
        sg += ws_sums[b, c, 0]
        sgx += ws_sums[b, c, 1]
    dbeta[c] = sg
    dgamma[c] = sgx


# --- LRN ----------------------------------------------------------------------------------------------


@cuda.jit
def _lrn_forward_kernel(y, scale, x, size, coef, neg_beta, k):
    """scale = k + coef sum_{c' = c - size//2}^{c + (size-1)//2} x_{c'}^2 (coef = alpha / size, channels
    outside [0, C) skipped), y = x scale^-beta. x, y, scale (N, C, S); one thread per value."""
    j = cuda.grid(1)
    if j >= x.size:
        return
    nc = x.shape[1]
    b, c, i = _unravel(j, nc, x.shape[2])
    c0, c1 = _channel_window(c, size // 2, (size - 1) // 2, nc)
    acc = x.dtype.type(0)
    for cj in range(c0, c1):
        v = x[b, cj, i]
        acc += v * v
    sc = k + coef * acc
    scale[b, c, i] = sc
    y[b, c, i] = x[b, c, i] * sc ** neg_beta


@cuda.jit
def _lrn_backward_kernel(dx, dy, x, y, scale, size, coef, neg_beta):
    """dx_j = dy_j scale_j^-beta - coef x_j sum_{c = j - (size-1)//2}^{j + size//2} dy_c y_c / scale_c
    (coef = 2 alpha beta / size). dx, dy, x, y, scale (N, C, S); one thread per value."""
    j = cuda.grid(1)
    if j >= x.size:
        return
    nc = x.shape[1]
    b, c, i = _unravel(j, nc, x.shape[2])
    c0, c1 = _channel_window(c, (size - 1) // 2, size // 2, nc)
    acc = x.dtype.type(0)
    for cj in range(c0, c1):
        acc += dy[b, cj, i] * y[b, cj, i] / scale[b, cj, i]
    dx[b, c, i] = dy[b, c, i] * scale[b, c, i] ** neg_beta - coef * x[b, c, i] * acc


# --- launchers ----------------------------------------------------------------------------------------


def layernorm_forward(y, mean, invstd, x, gamma, beta, eps, nchunks):
    require_device("layernorm_forward", y=y, mean=mean, invstd=invstd, x=x, gamma=gamma, beta=beta)
    if x.shape[0] == 0:
        return
    _layernorm_forward_kernel[x.shape[0], THREADS](y, mean, invstd, x, gamma, beta, x.dtype.type(eps))


def layernorm_backward(dx, dgamma, dbeta, ws_dparams, dy, x, mean, invstd, gamma, nchunks):
    require_device("layernorm_backward", dx=dx, dgamma=dgamma, dbeta=dbeta, ws_dparams=ws_dparams, dy=dy, x=x,
                   mean=mean, invstd=invstd, gamma=gamma)
    m, d = x.shape
    if m > 0:
        _layernorm_dx_kernel[m, THREADS](dx, dy, x, mean, invstd, gamma)
    chunks = max(1, min(-(-m // LN_ROWS), MAX_CHUNKS))
    part = scratch("layernorm_dparams", (chunks, 2, d), x.dtype)
    _layernorm_dparams_partial_kernel[(blocks(d), chunks), THREADS](part, dy, x, mean, invstd, -(-m // chunks))
    _add_partials_kernel[blocks(d), THREADS](dgamma, dbeta, part)


def instancenorm_forward(y, mean, invstd, running_mean, running_var, x, gamma, beta, eps, momentum,
                         update_running):
    require_device("instancenorm_forward", y=y, mean=mean, invstd=invstd, running_mean=running_mean,
                   running_var=running_var, x=x, gamma=gamma, beta=beta)
    n, c, s = x.shape
    if n * c == 0:
        return
    var = scratch("instancenorm_var", (n, c), x.dtype)
    f = x.dtype.type
    _instancenorm_forward_kernel[n * c, THREADS](y, mean, invstd, var, x, gamma, beta, f(eps))
    if update_running:
        unbias = s / (s - 1) if s > 1 else math.nan  # var * S / (S - 1): NaN for one value, as the reference
        _instancenorm_running_kernel[blocks(c), THREADS](running_mean, running_var, mean, var, f(momentum),
                                                         f(unbias))


def instancenorm_backward(dx, dgamma, dbeta, ws_sums, dy, x, mean, invstd, gamma):
    require_device("instancenorm_backward", dx=dx, dgamma=dgamma, dbeta=dbeta, ws_sums=ws_sums, dy=dy, x=x,
                   mean=mean, invstd=invstd, gamma=gamma)
    n, c, _ = x.shape
    if n * c == 0:
        return
    _instancenorm_backward_kernel[n * c, THREADS](dx, ws_sums, dy, x, mean, invstd, gamma)
    _instancenorm_dparams_kernel[blocks(c), THREADS](dgamma, dbeta, ws_sums)


def lrn_forward(y, scale, x, size, alpha, beta, k):
    require_device("lrn_forward", y=y, scale=scale, x=x)
    f = x.dtype.type
    _lrn_forward_kernel[blocks(x.size), THREADS](y, scale, x, int(size), f(alpha / size), f(-beta), f(k))


def lrn_backward(dx, ws, dy, x, y, scale, size, alpha, beta, k):
    require_device("lrn_backward", dx=dx, ws=ws, dy=dy, x=x, y=y, scale=scale)
    f = x.dtype.type
    _lrn_backward_kernel[blocks(x.size), THREADS](dx, dy, x, y, scale, int(size), f(2 * alpha * beta / size),
                                                  f(-beta))
