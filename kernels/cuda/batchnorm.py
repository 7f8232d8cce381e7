"""Batch normalization over (N, C, S) on the GPU (formulas: kernels/reference/batchnorm.py).

y, dx, x, dy (N, C, S) C-contiguous; mean, invstd, gamma, beta, dgamma, dbeta, running_mean, running_var (C,).
Training forward and backward run ONE block of THREADS threads per channel: the block walks the channel's
N*S values (thread t takes values t, t + THREADS, ...: consecutive threads read consecutive elements of a
row x[n, c, :]) and reduces per-thread partial sums in shared memory (``block_sum`` from _launch, also used by
kernels/cuda/norm.py). Statistics take two passes (mean, then the centered sum of squares: no cancellation
when |mean| >> std), in the input's precision. Evaluation is elementwise (one thread per value).
Per-channel scalars are written by thread 0 of the channel's block; dgamma / dbeta accumulate (+=).
"""

import math

from numba import cuda

from kernels.codes import ACT_RELU
from kernels.cuda._launch import THREADS, block_sum, blocks, require_device

__all__ = ["batchnorm_forward_train", "batchnorm_forward_eval", "batchnorm_backward"]


# --- device helpers -----------------------------------------------------------------------------------


@cuda.jit(device=True)
def _first(t, s):
    """Where thread t starts in a channel's N*S values, (n, i) = divmod(t, S), and the (n, i) step of THREADS
    values: the channel loops then advance with ``_next`` and no integer division."""
    return t // s, t % s, THREADS // s, THREADS % s


@cuda.jit(device=True)
def _next(b, i, db, di, s):
    """(n, i) + (db, di) with the carry from i into n."""
    b += db
    i += di
    if i >= s:
        i -= s
        b += 1
    return b, i


@cuda.jit(device=True)
def _unravel(j, c, s):
    """(n, c, i) of the flat index j into a C-contiguous (N, C, S) array."""
    p = j // s
    n = p // c
    return n, p - n * c, j - p * s


@cuda.jit(device=True)
def _affine(v, mu, a, b0, relu, zero):
    """act(a * (v - mu) + b0): the ReLU gives zero (the dtype's 0) for r <= 0 and keeps NaN."""
    r = a * (v - mu) + b0
    if relu and r <= 0:
        return zero
    return r


@cuda.jit(device=True)
def _grad(dy, y, relu, zero):
    """The gradient reaching the normalization: dy, masked by y > 0 for the fused ReLU (zero: the dtype's 0)."""
    if relu and not y > 0:
        return zero
    return dy


# --- kernels ------------------------------------------------------------------------------------------


@cuda.jit
def _bn_train_kernel(y, mean, invstd, running_mean, running_var, x, gamma, beta, eps, momentum, unbias,
                     update_running, relu):
    """Block c: mean_c = sum x[:, c, :] / M, var_c = sum (x - mean_c)^2 / M (M = N*S), invstd_c =
    1/sqrt(var_c + eps), y = act(gamma_c invstd_c (x - mean_c) + beta_c); running stats (C,) blend in
    momentum * (mean_c, var_c * unbias). x, y (N, C, S); one block per channel."""
    c = cuda.blockIdx.x
    t = cuda.threadIdx.x
    n, s = x.shape[0], x.shape[2]
    buf = cuda.shared.array(THREADS, x.dtype)
    zero = x.dtype.type(0)
    one = x.dtype.type(1)
    m = x.dtype.type(n * s)
    b0, i0, db, di = _first(t, s)

    acc = zero
    b, i = b0, i0
    while b < n:
        acc += x[b, c, i]
        b, i = _next(b, i, db, di, s)
    mu = block_sum(buf, acc) / m

    acc = zero
    b, i = b0, i0
    while b < n:
        d = x[b, c, i] - mu
        acc += d * d
        b, i = _next(b, i, db, di, s)
    var = block_sum(buf, acc) / m
    inv = one / math.sqrt(var + eps)

    a = gamma[c] * inv
    shift = beta[c]
    b, i = b0, i0
    while b < n:
        y[b, c, i] = _affine(x[b, c, i], mu, a, shift, relu, zero)
        b, i = _next(b, i, db, di, s)

    if t == 0:
        mean[c] = mu
        invstd[c] = inv
        if update_running:
            running_mean[c] = (one - momentum) * running_mean[c] + momentum * mu
            running_var[c] = (one - momentum) * running_var[c] + momentum * var * unbias


@cuda.jit
def _bn_eval_kernel(y, mean, invstd, x, gamma, beta, running_mean, running_var, eps, relu):
    """y = act(gamma_c (x - running_mean_c) / sqrt(running_var_c + eps) + beta_c) per value of x, y (N, C, S);
    threads 0..C-1 also write mean = running_mean, invstd (C,). One thread per value."""
    j = cuda.grid(1)
    nc, s = x.shape[1], x.shape[2]
    if j < nc:
        mean[j] = running_mean[j]
        invstd[j] = x.dtype.type(1) / math.sqrt(running_var[j] + eps)
    if j >= x.size:
        return
    b, c, i = _unravel(j, nc, s)
    inv = x.dtype.type(1) / math.sqrt(running_var[c] + eps)
    y[b, c, i] = _affine(x[b, c, i], running_mean[c], gamma[c] * inv, beta[c], relu, x.dtype.type(0))


@cuda.jit
def _bn_backward_kernel(dx, dgamma, dbeta, dy, x, y, mean, invstd, gamma, relu, batch_stats):
    """Block c: g = dy (masked by y > 0 for relu), xhat = (x - mean_c) invstd_c; dbeta_c += sum g,
    dgamma_c += sum g xhat; dx = gamma_c invstd_c (g - [sum g / M + xhat sum g xhat / M] if batch_stats).
    dx, dy, x, y (N, C, S); one block per channel."""
    c = cuda.blockIdx.x
    t = cuda.threadIdx.x
    n, s = x.shape[0], x.shape[2]
    buf = cuda.shared.array(THREADS, x.dtype)
    zero = x.dtype.type(0)
    mu = mean[c]
    inv = invstd[c]
    b0, i0, db, di = _first(t, s)

    acc_g = zero
    acc_gx = zero
    b, i = b0, i0
    while b < n:
        g = _grad(dy[b, c, i], y[b, c, i], relu, zero)
        acc_g += g
        acc_gx += g * (x[b, c, i] - mu)
        b, i = _next(b, i, db, di, s)
    sum_g = block_sum(buf, acc_g)
    sum_gxhat = block_sum(buf, acc_gx) * inv
    if t == 0:
        dbeta[c] += sum_g
        dgamma[c] += sum_gxhat

    # dx = scale * g + k2 * (x - mu) + k0
    scale = gamma[c] * inv
    k2 = zero
    k0 = zero
    if batch_stats:
        m = x.dtype.type(n * s)
        k2 = -scale * inv * sum_gxhat / m
        k0 = -scale * sum_g / m
    b, i = b0, i0
    while b < n:
        g = _grad(dy[b, c, i], y[b, c, i], relu, zero)
        dx[b, c, i] = scale * g + k2 * (x[b, c, i] - mu) + k0
        b, i = _next(b, i, db, di, s)


# --- launchers ----------------------------------------------------------------------------------------


def batchnorm_forward_train(y, mean, invstd, running_mean, running_var, x, gamma, beta, eps, momentum,
                            update_running, act):
    require_device("batchnorm_forward_train", y=y, mean=mean, invstd=invstd, running_mean=running_mean,
                   running_var=running_var, x=x, gamma=gamma, beta=beta)
    if x.size == 0:  # no values (the channel loops need S > 0)
        return
    m = x.shape[0] * x.shape[2]
    f = x.dtype.type
    unbias = m / (m - 1) if m > 1 else math.nan  # var * M / (M - 1): NaN for one value, as the reference
    _bn_train_kernel[x.shape[1], THREADS](y, mean, invstd, running_mean, running_var, x, gamma, beta, f(eps),
                                          f(momentum), f(unbias), bool(update_running), act == ACT_RELU)


def batchnorm_forward_eval(y, mean, invstd, x, gamma, beta, running_mean, running_var, eps, act):
    require_device("batchnorm_forward_eval", y=y, mean=mean, invstd=invstd, x=x, gamma=gamma, beta=beta,
                   running_mean=running_mean, running_var=running_var)
    _bn_eval_kernel[blocks(max(x.size, x.shape[1])), THREADS](y, mean, invstd, x, gamma, beta, running_mean,
                                                              running_var, x.dtype.type(eps), act == ACT_RELU)


def batchnorm_backward(dx, dgamma, dbeta, dy, x, y, mean, invstd, gamma, act, batch_stats):
    require_device("batchnorm_backward", dx=dx, dgamma=dgamma, dbeta=dbeta, dy=dy, x=x, y=y, mean=mean,
                   invstd=invstd, gamma=gamma)
    if x.size == 0:  # nothing to add to dgamma / dbeta (the channel loops need S > 0)
        return
    _bn_backward_kernel[x.shape[1], THREADS](dx, dgamma, dbeta, dy, x, y, mean, invstd, gamma, act == ACT_RELU,
                                             bool(batch_stats))
