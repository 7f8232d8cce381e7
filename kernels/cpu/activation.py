"""Elementwise activations (see kernels/reference/activation.py for the formulas).

Arrays are 1-D, C-contiguous and of equal length (callers pass ``a.reshape(-1)``).
"""

import math

from numba import prange

from kernels.codes import ACT_LEAKY_RELU, ACT_NONE, ACT_RELU, ACT_SIGMOID, ACT_TANH
from kernels.cpu._jit import jit, pjit

__all__ = ["relu_forward", "relu_backward", "leaky_relu_forward", "leaky_relu_backward",
           "sigmoid_forward", "sigmoid_backward", "tanh_forward", "tanh_backward"]


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


@pjit
def relu_forward(y, x):
    for i in prange(x.size):
        y[i] = 0 if x[i] <= 0 else x[i]


@pjit
def relu_backward(dx, dy, y):
    for i in prange(y.size):
        dx[i] = dy[i] if y[i] > 0 else 0


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
