"""Elementwise activations. Shapes: any; y, x, dx, dy all the same shape.

relu(x) = max(x, 0); leaky_relu(x) = x if x > 0 else alpha*x; sigmoid(x) = 1/(1+e^-x);
tanh(x). Backward of relu/sigmoid/tanh uses the output y; leaky_relu uses the input x so any
alpha (also negative) is exact.

step(x) = 1 if x >= 0 else 0 (torch.heaviside(x, 1)); its derivative is 0 almost everywhere, so
step_backward gives dx = 0, or dx = dy when ``straight_through`` is nonzero (the identity
straight-through estimator of Bengio et al. 2013).
elu(x) = x if x > 0 else alpha*(e^x - 1);          d/dx = 1 | alpha*e^x           (from x)
softplus(x) = log(1 + e^(beta x))/beta, = x where beta*x > threshold;  d/dx = sigmoid(beta x) | 1
gelu(x) = x*Phi(x) = x/2 (1 + erf(x/sqrt 2));      d/dx = Phi(x) + x*phi(x)
gelu tanh (approximate=1): x/2 (1 + tanh(u)), u = sqrt(2/pi)(x + 0.044715 x^3)
silu(x) = x*sigmoid(x);                            d/dx = s (1 + x (1 - s))
softmax / log_softmax: along the LAST axis of 2-D (rows, K) arrays (layers move ``dim`` last):
  y = exp(x - lse(x));  dx = y*(dy - sum(dy*y))            (from the output y)
  y = x - lse(x);       dx = dy - exp(y)*sum(dy)           (from the output y)
Every function here is stable for |x| up to float max (no overflow for x = +-1000).
"""

import math

import numpy as np
from scipy.special import erf

from kernels.codes import ACT_LEAKY_RELU, ACT_NONE, ACT_RELU, ACT_SIGMOID, ACT_TANH

__all__ = ["relu_forward", "relu_backward", "leaky_relu_forward", "leaky_relu_backward",
           "sigmoid_forward", "sigmoid_backward", "tanh_forward", "tanh_backward",
           "step_forward", "step_backward", "elu_forward", "elu_backward", "softplus_forward", "softplus_backward",
           "gelu_forward", "gelu_backward", "silu_forward", "silu_backward", "softmax_forward", "softmax_backward",
           "log_softmax_forward", "log_softmax_backward"]

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_GELU_C = 0.044715


def relu_forward(y, x):
    y[...] = np.maximum(x, 0)


def relu_backward(dx, dy, y):
    dx[...] = np.where(y > 0, dy, 0)


def leaky_relu_forward(y, x, alpha):
    y[...] = np.where(x > 0, x, alpha * x)


def leaky_relu_backward(dx, dy, x, alpha):
    dx[...] = np.where(x > 0, dy, alpha * dy)


def sigmoid_forward(y, x):
    # split by sign so exp never overflows: x>=0: 1/(1+e^-x); x<0: e^x/(1+e^x)
    e = np.exp(-np.abs(x))
    y[...] = np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def sigmoid_backward(dx, dy, y):
    dx[...] = dy * y * (1 - y)


def tanh_forward(y, x):
    y[...] = np.tanh(x)


def tanh_backward(dx, dy, y):
    dx[...] = dy * (1 - y * y)


def _sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def step_forward(y, x):
    y[...] = np.where(x >= 0, 1, 0)


def step_backward(dx, dy, straight_through):
    dx[...] = dy if straight_through else 0


def elu_forward(y, x, alpha):
    y[...] = np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def elu_backward(dx, dy, x, alpha):
    dx[...] = np.where(x > 0, dy, dy * alpha * np.exp(np.minimum(x, 0)))


def softplus_forward(y, x, beta, threshold):
    z = beta * x
    # log(1 + e^z) = max(z, 0) + log1p(e^-|z|): finite for any z
    y[...] = np.where(z > threshold, x, (np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))) / beta)


def softplus_backward(dx, dy, x, beta, threshold):
    z = beta * x
    dx[...] = np.where(z > threshold, dy, dy * _sigmoid(z))


def gelu_forward(y, x, approximate):
    if approximate:
        u = _SQRT_2_OVER_PI * (x + _GELU_C * x * x * x)
        y[...] = 0.5 * x * (1 + np.tanh(u))
    else:
        y[...] = 0.5 * x * (1 + erf(x * _INV_SQRT_2))


def gelu_backward(dx, dy, x, approximate):
    if approximate:
        u = _SQRT_2_OVER_PI * (x + _GELU_C * x * x * x)
        t = np.tanh(u)
        dx[...] = dy * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * _SQRT_2_OVER_PI * (1 + 3 * _GELU_C * x * x))
    else:
        cdf = 0.5 * (1 + erf(x * _INV_SQRT_2))
        pdf = _INV_SQRT_2PI * np.exp(-0.5 * x * x)
        dx[...] = dy * (cdf + x * pdf)


def silu_forward(y, x):
    y[...] = x * _sigmoid(x)


def silu_backward(dx, dy, x):
    s = _sigmoid(x)
    dx[...] = dy * s * (1 + x * (1 - s))


def softmax_forward(y, x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    y[...] = e / e.sum(axis=1, keepdims=True)


def softmax_backward(dx, dy, y):
    dx[...] = y * (dy - (dy * y).sum(axis=1, keepdims=True))


def log_softmax_forward(y, x):
    z = x - x.max(axis=1, keepdims=True)
    y[...] = z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def log_softmax_backward(dx, dy, y):
    dx[...] = dy - np.exp(y) * dy.sum(axis=1, keepdims=True)


def apply_activation(z, act, alpha):
    """Return act(z) for a fused epilogue (``z`` is a fresh array, may be modified)."""
    if act == ACT_NONE:
        return z
    out = np.empty_like(z)
    if act == ACT_RELU:
        relu_forward(out, z)
    elif act == ACT_LEAKY_RELU:
        leaky_relu_forward(out, z, alpha)
    elif act == ACT_SIGMOID:
        sigmoid_forward(out, z)
    elif act == ACT_TANH:
        tanh_forward(out, z)
    else:
        raise ValueError(f"unknown activation code {act}")
    return out


def act_from_output_backward(dy, y, act, alpha):
    """Return dy * act'(.) computed from the fused epilogue's output y (LeakyReLU needs alpha >= 0)."""
    if act == ACT_NONE:
        return dy.copy()
    if act in (ACT_RELU, ACT_LEAKY_RELU):
        return np.where(y > 0, dy, alpha * dy if act == ACT_LEAKY_RELU else 0 * dy)
    if act == ACT_SIGMOID:
        return dy * y * (1 - y)
    if act == ACT_TANH:
        return dy * (1 - y * y)
    raise ValueError(f"unknown activation code {act}")
