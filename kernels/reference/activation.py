"""Elementwise activations. Shapes: any; y, x, dx, dy all the same shape.

relu(x) = max(x, 0); leaky_relu(x) = x if x > 0 else alpha*x; sigmoid(x) = 1/(1+e^-x);
tanh(x). Backward of relu/sigmoid/tanh uses the output y; leaky_relu uses the input x so any
alpha (also negative) is exact.
"""

import numpy as np

from kernels.codes import ACT_LEAKY_RELU, ACT_NONE, ACT_RELU, ACT_SIGMOID, ACT_TANH

__all__ = ["relu_forward", "relu_backward", "leaky_relu_forward", "leaky_relu_backward",
           "sigmoid_forward", "sigmoid_backward", "tanh_forward", "tanh_backward"]


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
