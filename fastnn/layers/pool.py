"""MaxPool2d / AvgPool2d: PyTorch's layers (kernel_size, stride=kernel_size, padding <= kernel/2).

x (N, C, H, W) -> y (N, C, OH, OW), OH = (H + 2*PH - KH) // SH + 1 (floor mode).
"""

from __future__ import annotations

import numpy as np

from fastnn.layers.base import Module, pair


class _Pool2d(Module):
    def __init__(self, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None,
                 padding: int | tuple[int, int] = 0) -> None:
        super().__init__()
        name = type(self).__name__
        self.kernel_size = pair(kernel_size, "kernel_size", name)
        self.stride = pair(stride if stride is not None else kernel_size, "stride", name)
        self.padding = pair(padding, "padding", name)
        if min(self.kernel_size) < 1 or min(self.stride) < 1:
            raise ValueError(f"{name}: kernel_size and stride must be >= 1, got {self.kernel_size}, {self.stride}")
        if any(p < 0 or 2 * p > k for p, k in zip(self.padding, self.kernel_size)):
            raise ValueError(f"{name}: padding must be between 0 and half the kernel size, got padding "
                             f"{self.padding} for kernel_size {self.kernel_size}")

    def config(self) -> dict:
        return {"kernel_size": list(self.kernel_size), "stride": list(self.stride), "padding": list(self.padding)}

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(input_shape) != 4:
            raise ValueError(f"{self.label}: expected input of shape (N, C, H, W), got {tuple(input_shape)}")
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        n, c, h, w = input_shape
        if h + 2 * ph < kh or w + 2 * pw < kw:
            raise ValueError(f"{self.label}: input {h}x{w} is smaller than the pooling window {kh}x{kw}")
        return n, c, (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1

    def _prepare(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self._check_input(x, "(N, C, H, W)", lambda: x.ndim == 4)
        x = np.ascontiguousarray(x)
        self._x = x
        self._y = self._buffer("y", self.output_shape(x.shape))
        return x, self._y

    @property
    def _geometry(self) -> tuple[int, ...]:
        return (*self.kernel_size, *self.stride, *self.padding)


class MaxPool2d(_Pool2d):
    """y = max over each window (padding never wins); backward routes dy to the argmax."""

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        x, y = self._prepare(x)
        self._idx = self._buffer("idx", y.shape, np.int32)
        self.backend.k.maxpool2d_forward(y, self._idx, x, *self._geometry)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        dx = self._buffer("dx", self._x.shape)
        self.backend.k.maxpool2d_backward(dx, self._check_grad(dy, self._y.shape), self._idx, *self._geometry)
        return dx


class AvgPool2d(_Pool2d):
    """y = window mean; divisor KH*KW (count_include_pad=True, PyTorch's default) or the in-bounds count."""

    def __init__(self, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None,
                 padding: int | tuple[int, int] = 0, count_include_pad: bool = True) -> None:
        super().__init__(kernel_size, stride, padding)
        self.count_include_pad = count_include_pad

    def config(self) -> dict:
        return {**super().config(), "count_include_pad": self.count_include_pad}

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        x, y = self._prepare(x)
        self.backend.k.avgpool2d_forward(y, x, *self._geometry, self.count_include_pad)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        dx = self._buffer("dx", self._x.shape)
        self.backend.k.avgpool2d_backward(dx, self._check_grad(dy, self._y.shape), *self._geometry,
                                          self.count_include_pad)
        return dx
