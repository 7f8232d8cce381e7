"""MaxPool2d / AvgPool2d: PyTorch's layers (kernel_size, stride=kernel_size, padding <= kernel/2).

x (N, C, H, W) -> y (N, C, OH, OW), OH = (H + 2*PH - KH) // SH + 1 (floor mode).

AdaptiveAvgPool2d(output_size): PyTorch's bins, row i averaging rows floor(i*H/OH) .. ceil((i+1)*H/OH)-1
(columns alike); GlobalAvgPool2d = AdaptiveAvgPool2d(1), the (N, C, 1, 1) mean over each plane.
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
        x = self.backend.contiguous(x)
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


class AdaptiveAvgPool2d(Module):
    """Average over PyTorch's adaptive bins to a fixed (OH, OW) (an int, or a pair whose None keeps that size).

    Evenly dividing sizes (always so for (1, 1): the global average pool) run the backend's avgpool2d
    kernels with kernel = stride = (H/OH, W/OW); other sizes average the (overlapping) bins with NumPy.
    """

    def __init__(self, output_size: int | tuple[int | None, int | None]) -> None:
        super().__init__()
        name = type(self).__name__
        if isinstance(output_size, (tuple, list)) and len(output_size) == 2 and any(v is None for v in output_size):
            sizes = tuple(None if v is None else pair(v, "output_size", name)[0] for v in output_size)
        else:
            sizes = pair(output_size, "output_size", name)
        if any(v is not None and v < 1 for v in sizes):
            raise ValueError(f"{name}: output_size must be >= 1, got {output_size!r}")
        self.output_size: tuple[int | None, int | None] = sizes

    def config(self) -> dict:
        return {"output_size": list(self.output_size)}

    def _out_hw(self, h: int, w: int) -> tuple[int, int]:
        oh, ow = self.output_size
        return h if oh is None else oh, w if ow is None else ow

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(input_shape) != 4:
            raise ValueError(f"{self.label}: expected input of shape (N, C, H, W), got {tuple(input_shape)}")
        n, c, h, w = input_shape
        if h < 1 or w < 1:
            raise ValueError(f"{self.label}: expected a non-empty (H, W) plane, got {tuple(input_shape)}")
        return (n, c, *self._out_hw(h, w))

    @staticmethod
    def _bins(size: int, out: int) -> list[tuple[int, int]]:
        return [((i * size) // out, -((-(i + 1) * size) // out)) for i in range(out)]

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        self._check_input(x, "(N, C, H, W)", lambda: x.ndim == 4 and x.shape[2] > 0 and x.shape[3] > 0)
        x = self.backend.contiguous(x)
        h, w = x.shape[2:]
        oh, ow = self._out_hw(h, w)
        y = self._buffer("y", self.output_shape(x.shape))
        self._x_shape, self._y = x.shape, y
        if h % oh == 0 and w % ow == 0:
            kh, kw = h // oh, w // ow
            self.backend.k.avgpool2d_forward(y, x, kh, kw, kh, kw, 0, 0, True)
        elif self.backend.is_cuda:
            raise ValueError(f"{self.label}: on CUDA the input {h}x{w} must divide into the output {oh}x{ow} "
                             f"(uneven adaptive bins run on the CPU only)")
        else:
            for a, (h0, h1) in enumerate(self._bins(h, oh)):
                for b, (w0, w1) in enumerate(self._bins(w, ow)):
                    y[:, :, a, b] = x[:, :, h0:h1, w0:w1].mean(axis=(2, 3), dtype=np.float32)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        dy = self._check_grad(dy, self._y.shape)
        dx = self._buffer("dx", self._x_shape)
        h, w = self._x_shape[2:]
        oh, ow = dy.shape[2:]
        if h % oh == 0 and w % ow == 0:
            kh, kw = h // oh, w // ow
            self.backend.k.avgpool2d_backward(dx, dy, kh, kw, kh, kw, 0, 0, True)
        else:
            dx[...] = 0
            for a, (h0, h1) in enumerate(self._bins(h, oh)):
                for b, (w0, w1) in enumerate(self._bins(w, ow)):
                    dx[:, :, h0:h1, w0:w1] += (dy[:, :, a, b] / np.float32((h1 - h0) * (w1 - w0)))[:, :, None, None]
        return dx


class GlobalAvgPool2d(AdaptiveAvgPool2d):
    """The mean over each (H, W) plane: (N, C, H, W) -> (N, C, 1, 1), i.e. ``AdaptiveAvgPool2d((1, 1))``
    (follow it with Flatten for a Linear head)."""

    def __init__(self) -> None:
        super().__init__(1)

    def config(self) -> dict:
        return {}
