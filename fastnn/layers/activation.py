"""Activation layers. Inside a Sequential, one that follows a Linear/Conv2d is fused into that layer's
epilogue (``fused_code``); called alone they run their own elementwise kernels."""

from __future__ import annotations

import numpy as np

from fastnn.layers.base import Module
from kernels.codes import ACT_LEAKY_RELU, ACT_RELU, ACT_SIGMOID, ACT_TANH


class _Activation(Module):
    code: int

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(input_shape)

    @property
    def fused_code(self) -> int | None:
        """The epilogue code a preceding Linear/Conv2d can apply instead of this layer, or None."""
        return self.code

    @property
    def alpha(self) -> float:
        return 0.0

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        self._check_input(x, "(any shape)", lambda: True)
        x = np.ascontiguousarray(x)
        y = self._buffer("y", x.shape)
        self._forward_kernel(y.reshape(-1), x.reshape(-1))
        self._x, self._y = x, y
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        dx = self._buffer("dx", self._y.shape)
        self._backward_kernel(dx.reshape(-1), self._check_grad(dy, self._y.shape).reshape(-1))
        return dx


class ReLU(_Activation):
    """y = max(x, 0)."""

    code = ACT_RELU

    def _forward_kernel(self, y, x):
        self.backend.k.relu_forward(y, x)

    def _backward_kernel(self, dx, dy):
        self.backend.k.relu_backward(dx, dy, self._y.reshape(-1))


class LeakyReLU(_Activation):
    """y = x if x > 0 else negative_slope * x."""

    code = ACT_LEAKY_RELU

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = float(negative_slope)

    @property
    def fused_code(self) -> int | None:
        return self.code if self.negative_slope >= 0 else None  # the fused backward reads sign(y)

    @property
    def alpha(self) -> float:
        return self.negative_slope

    def config(self) -> dict:
        return {"negative_slope": self.negative_slope}

    def _forward_kernel(self, y, x):
        self.backend.k.leaky_relu_forward(y, x, self.negative_slope)

    def _backward_kernel(self, dx, dy):
        self.backend.k.leaky_relu_backward(dx, dy, self._x.reshape(-1), self.negative_slope)


class Sigmoid(_Activation):
    """y = 1 / (1 + exp(-x)), computed without overflow."""

    code = ACT_SIGMOID

    def _forward_kernel(self, y, x):
        self.backend.k.sigmoid_forward(y, x)

    def _backward_kernel(self, dx, dy):
        self.backend.k.sigmoid_backward(dx, dy, self._y.reshape(-1))


class Tanh(_Activation):
    """y = tanh(x)."""

    code = ACT_TANH

    def _forward_kernel(self, y, x):
        self.backend.k.tanh_forward(y, x)

    def _backward_kernel(self, dx, dy):
        self.backend.k.tanh_backward(dx, dy, self._y.reshape(-1))
