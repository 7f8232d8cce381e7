"""Elementwise activations (see kernels/reference/activation.py for the formulas).

Arrays are 1-D, C-contiguous and of equal length (callers pass ``a.reshape(-1)``), except
softmax/log_softmax: 2-D (rows, K), normalized along the last axis (one serial row helper per row).
"""

import math

from numba import prange

from kernels.codes import ACT_LEAKY_RELU, ACT_NONE, ACT_RELU, ACT_SIGMOID, ACT_TANH
from kernels.cpu._expf import exp_
from kernels.cpu._jit import jit, pjit
from kernels.cpu._threads import chunk_count, chunk_span, release_workers, run_chunks

__all__ = ["relu_forward", "relu_backward", "leaky_relu_forward", "leaky_relu_backward",
           "sigmoid_forward", "sigmoid_backward", "tanh_forward", "tanh_backward",
           "step_forward", "step_backward", "elu_forward", "elu_backward", "softplus_forward", "softplus_backward",
           "gelu_forward", "gelu_backward", "silu_forward", "silu_backward", "softmax_forward", "softmax_backward",
           "log_softmax_forward", "log_softmax_backward"]

SERIAL_MAX = 1 << 16   # ReLU: up to this many elements on the calling thread alone (ReLU's chunks run on
#                        kernels/cpu/_threads.py workers, the other activations in prange regions)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_GELU_C = 0.044715


@jit
def activate(z, act, alpha):
    """act(z) for one scalar: the shared epilogue of linear and conv kernels."""
    if act == ACT_RELU:
        return 0 if z <= 0 else z
    if act == ACT_LEAKY_RELU:
        return z if z > 0 else alpha * z
    if act == ACT_SIGMOID:
        if z >= 0:
            return 1 / (1 + math.exp(-z))
        e = math.exp(z)
        return e / (1 + e)
    if act == ACT_TANH:
        return math.tanh(z)
    return z


@jit
def activation_grad(dy, y, act, alpha):
    """dy * act'(.) from the activation's output y (ACT_LEAKY_RELU needs alpha >= 0)."""
    if act == ACT_NONE:
        return dy
    if act == ACT_RELU:
        return dy if y > 0 else 0
    if act == ACT_LEAKY_RELU:
        return dy if y > 0 else alpha * dy
    if act == ACT_SIGMOID:
        return dy * y * (1 - y)
    return dy * (1 - y * y)


def relu_forward(y, x):
    nchunks = chunk_count(x.size, x.size, SERIAL_MAX)
    run_chunks(_relu_forward_chunk, (y, x, nchunks), nchunks)


@jit
def _relu_forward_chunk(y, x, nchunks, t, sync):
    release_workers(sync, t)
    i0, i1 = chunk_span(x.size, nchunks, t)
    xs, ys = x[i0:i1], y[i0:i1]   # loops from 0 over slices vectorize; range(i0, i1) does not
    for i in range(xs.size):
        ys[i] = 0 if xs[i] <= 0 else xs[i]


def relu_backward(dx, dy, y):
    nchunks = chunk_count(y.size, y.size, SERIAL_MAX)
    run_chunks(_relu_backward_chunk, (dx, dy, y, nchunks), nchunks)


@jit
def _relu_backward_chunk(dx, dy, y, nchunks, t, sync):
    release_workers(sync, t)
    i0, i1 = chunk_span(y.size, nchunks, t)
    dxs, dys, ys = dx[i0:i1], dy[i0:i1], y[i0:i1]
    for i in range(ys.size):
        dxs[i] = dys[i] if ys[i] > 0 else 0


@pjit
def leaky_relu_forward(y, x, alpha):
    for i in prange(x.size):
        y[i] = x[i] if x[i] > 0 else alpha * x[i]


@pjit
def leaky_relu_backward(dx, dy, x, alpha):
    for i in prange(x.size):
        dx[i] = dy[i] if x[i] > 0 else alpha * dy[i]


@pjit
def sigmoid_forward(y, x):
    for i in prange(x.size):
        y[i] = activate(x[i], ACT_SIGMOID, 0.0)


@pjit
def sigmoid_backward(dx, dy, y):
    for i in prange(y.size):
        dx[i] = dy[i] * y[i] * (1 - y[i])


@pjit
def tanh_forward(y, x):
    for i in prange(x.size):
        y[i] = math.tanh(x[i])


@pjit
def tanh_backward(dx, dy, y):
    for i in prange(y.size):
        dx[i] = dy[i] * (1 - y[i] * y[i])


@jit
def _sigmoid(z):
    if z >= 0:
        return 1 / (1 + math.exp(-z))
    e = math.exp(z)
    return e / (1 + e)


@pjit
def step_forward(y, x):
    for i in prange(x.size):
        y[i] = 1 if x[i] >= 0 else 0


@pjit
def step_backward(dx, dy, straight_through):
    if straight_through:
        for i in prange(dy.size):
            dx[i] = dy[i]
    else:
        for i in prange(dy.size):
            dx[i] = 0


@pjit
def elu_forward(y, x, alpha):
    for i in prange(x.size):
        y[i] = x[i] if x[i] > 0 else alpha * math.expm1(x[i])


@pjit
def elu_backward(dx, dy, x, alpha):
    for i in prange(x.size):
        dx[i] = dy[i] if x[i] > 0 else dy[i] * alpha * math.exp(x[i])


@pjit
def softplus_forward(y, x, beta, threshold):
    for i in prange(x.size):
        z = beta * x[i]
        if z > threshold:
            y[i] = x[i]
        else:
            y[i] = (max(z, 0.0) + math.log1p(math.exp(-abs(z)))) / beta


@pjit
def softplus_backward(dx, dy, x, beta, threshold):
    for i in prange(x.size):
        z = beta * x[i]
        dx[i] = dy[i] if z > threshold else dy[i] * _sigmoid(z)


@pjit
def gelu_forward(y, x, approximate):
    if approximate:
        for i in prange(x.size):
            v = x[i]
            y[i] = 0.5 * v * (1 + math.tanh(_SQRT_2_OVER_PI * (v + _GELU_C * v * v * v)))
    else:
        for i in prange(x.size):
            y[i] = 0.5 * x[i] * (1 + math.erf(x[i] * _INV_SQRT_2))


@pjit
def gelu_backward(dx, dy, x, approximate):
    if approximate:
        for i in prange(x.size):
            v = x[i]
            t = math.tanh(_SQRT_2_OVER_PI * (v + _GELU_C * v * v * v))
            dx[i] = dy[i] * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * _SQRT_2_OVER_PI * (1 + 3 * _GELU_C * v * v))
    else:
        for i in prange(x.size):
            v = x[i]
            dx[i] = dy[i] * (0.5 * (1 + math.erf(v * _INV_SQRT_2)) + v * _INV_SQRT_2PI * math.exp(-0.5 * v * v))


@pjit
def silu_forward(y, x):
    for i in prange(x.size):
        y[i] = x[i] * _sigmoid(x[i])


@pjit
def silu_backward(dx, dy, x):
    for i in prange(x.size):
        s = _sigmoid(x[i])
        dx[i] = dy[i] * s * (1 + x[i] * (1 - s))


@jit
def _softmax_row(y, x, log):
    k = x.size
    m = x[0]
    for j in range(1, k):
        m = max(m, x[j])
    s = 0.0
    if log:
        for j in range(k):
            s += exp_(x[j] - m)
        lse = m + math.log(s)
        for j in range(k):
            y[j] = x[j] - lse
    else:
        for j in range(k):
            e = exp_(x[j] - m)
            y[j] = e
            s += e
        inv = 1.0 / s
        for j in range(k):
            y[j] *= inv


@jit
def _softmax_backward_row(dx, dy, y, log):
    k = y.size
    s = 0.0
    if log:
        for j in range(k):
            s += dy[j]
        for j in range(k):
            dx[j] = dy[j] - math.exp(y[j]) * s
    else:
        for j in range(k):
            s += dy[j] * y[j]
        for j in range(k):
            dx[j] = y[j] * (dy[j] - s)


@pjit
def softmax_forward(y, x):
    for i in prange(x.shape[0]):
        _softmax_row(y[i], x[i], False)


@pjit
def softmax_backward(dx, dy, y):
    for i in prange(y.shape[0]):
        _softmax_backward_row(dx[i], dy[i], y[i], False)


@pjit
def log_softmax_forward(y, x):
    for i in prange(x.shape[0]):
        _softmax_row(y[i], x[i], True)


@pjit
def log_softmax_backward(dx, dy, y):
    for i in prange(y.shape[0]):
        _softmax_backward_row(dx[i], dy[i], y[i], True)
