"""Conv2d: PyTorch's ``nn.Conv2d`` (cross-correlation, zero padding, stride; groups=dilation=1).

x (N, C_in, H, W) -> y (N, C_out, OH, OW), OH = (H + 2*PH - KH) // SH + 1. im2col + GEMM in cache-sized
blocks of samples, one chunk of the batch per thread (kernels/cpu/conv.py); backward reuses the forward's
im2col block when a chunk is a single block.
"""

from __future__ import annotations

import os

import numpy as np

from fastnn.init import init_layer_
from fastnn.layers.base import Module, pair
from fastnn.params import Parameter
from kernels.codes import ACT_NONE, FUSED_EPILOGUE_ACTS
from kernels.shapes import conv2d_columns_per_sample, conv2d_workspace_shapes

CHUNK_BYTES = int(os.environ.get("FASTNN_CONV_CHUNK_BYTES", 1 << 18))
# Strided layers: a chunk of several blocks recomputes its im2col in the backward, which costs more than the
# cache saves (16->32 s2 28x28 b64 fwd+bwd 6.0 -> 5.0-5.6 ms, 32->64 s2 14x14 4.5 -> 3.65 ms with one block
# per chunk, kernels/lab/conv_blocks.py): their blocks may be this large, one per chunk at ResNet sizes.
STRIDED_CHUNK_BYTES = 1 << 23


class Conv2d(Module):
    """2-D convolution layer; ``padding`` may be an int, an (h, w) pair, "valid" or "same" (stride 1).

    ``init`` / ``bias_init``: as for Linear (an initializer name, a callable or a bias constant;
    construction-time only, not in ``config()``); fans of the (out, in, kh, kw) weight are PyTorch's.
    """

    _device_arrays = ("_no_bias", "_no_bias_grad")

    FUSABLE_ACTS = FUSED_EPILOGUE_ACTS  # activation codes forward(x, training, act) applies in its epilogue

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] | str = 0,
                 bias: bool = True, rng: np.random.Generator | None = None, init=None, bias_init=None) -> None:
        super().__init__()
        if in_channels < 1 or out_channels < 1:
            raise ValueError(f"Conv2d: channels must be >= 1, got ({in_channels}, {out_channels})")
        self.in_channels, self.out_channels, self.has_bias = in_channels, out_channels, bias
        self.kernel_size = pair(kernel_size, "kernel_size", "Conv2d")
        self.stride = pair(stride, "stride", "Conv2d")
        self.padding_arg = padding
        self.padding = self._resolve_padding(padding)
        if min(self.kernel_size) < 1 or min(self.stride) < 1 or min(self.padding) < 0:
            raise ValueError(f"Conv2d: kernel_size and stride must be >= 1 and padding >= 0, got "
                             f"{self.kernel_size}, {self.stride}, {self.padding}")
        self.weight = Parameter(np.empty((out_channels, in_channels, *self.kernel_size), np.float32))
        self._params["weight"] = self.weight
        self.bias = Parameter(np.empty(out_channels, np.float32)) if bias else None
        if self.bias is not None:
            self._params["bias"] = self.bias
        init_layer_(self.weight.data, self.bias.data if bias else None, rng, init, bias_init, "Conv2d")
        self._no_bias = np.zeros(out_channels, np.float32)
        self._no_bias_grad = np.zeros(out_channels, np.float32)

    def _resolve_padding(self, padding) -> tuple[int, int]:
        if padding == "valid":
            return 0, 0
        if padding == "same":
            if self.stride != (1, 1) or any(k % 2 == 0 for k in self.kernel_size):
                raise ValueError(f"Conv2d: padding='same' needs stride 1 and odd kernel sizes, got stride "
                                 f"{self.stride} and kernel_size {self.kernel_size}")
            return self.kernel_size[0] // 2, self.kernel_size[1] // 2
        return pair(padding, "padding", "Conv2d")

    def config(self) -> dict:
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": list(self.kernel_size), "stride": list(self.stride),
                "padding": self.padding_arg if isinstance(self.padding_arg, str) else list(self.padding),
                "bias": self.has_bias}

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}" + ("" if self.has_bias else ", bias=False"))

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        expected = f"(N, {self.in_channels}, H, W)"
        if len(input_shape) != 4 or input_shape[1] != self.in_channels:
            raise ValueError(f"{self.label}: expected input of shape {expected}, got {tuple(input_shape)}")
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        n, _, h, w = input_shape
        if h + 2 * ph < kh or w + 2 * pw < kw:
            raise ValueError(f"{self.label}: input {h}x{w} (padded {h + 2 * ph}x{w + 2 * pw}) is smaller than the "
                             f"kernel {kh}x{kw}")
        return n, self.out_channels, (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1

    def forward(self, x: np.ndarray, training: bool, act: int = ACT_NONE, alpha: float = 0.0) -> np.ndarray:
        self._check_input(x, f"(N, {self.in_channels}, H, W)",
                          lambda: x.ndim == 4 and x.shape[1] == self.in_channels)
        x = self.backend.contiguous(x)
        n, o, oh, ow = self.output_shape(x.shape)
        kh, kw = self.kernel_size
        y = self._buffer("y", (n, o, oh, ow))
        nchunks, group = self._chunks(x.shape)
        col_shape, ws_y_shape, xp_shape, _ = conv2d_workspace_shapes(x.shape, self.weight.shape, *self.stride,
                                                                     *self.padding, nchunks, group)
        col = self._buffer("col", col_shape)
        ws_y = self._buffer("ws_y", ws_y_shape)
        ws_xp = self._buffer("ws_xp", xp_shape)
        b = self.bias.data if self.bias is not None else self._no_bias
        self.backend.k.conv2d_forward(y, col, ws_y, ws_xp, x, self.weight.data, b, *self.stride, *self.padding, act,
                                      alpha, nchunks)
        self._x, self._y, self._col, self._act, self._alpha = x, y, col, act, alpha
        self._nchunks, self._group = nchunks, group
        return y

    def _chunks(self, x_shape: tuple[int, ...]) -> tuple[int, int | None]:
        """(chunks, samples per block): one chunk per thread, each working through blocks small enough that
        the block's im2col matrix (C*KH*KW x samples x columns, float32) stays in cache from its im2col to its
        GEMM (strided layers: up to STRIDED_CHUNK_BYTES). A backend without cache chunks gets one chunk of one
        block (the whole batch)."""
        if not self.backend.cache_chunks:
            return 1, None
        per_sample = conv2d_columns_per_sample(x_shape, self.weight.shape, *self.stride, *self.padding)
        sample_bytes = self.in_channels * self.kernel_size[0] * self.kernel_size[1] * per_sample * 4
        budget = CHUNK_BYTES if self.stride == (1, 1) else STRIDED_CHUNK_BYTES
        return max(1, min(x_shape[0], self.backend.num_threads())), max(1, budget // sample_bytes)

    def backward(self, dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        x, col, nchunks = self._x, self._col, self._nchunks
        dy = self._check_grad(dy, self._y.shape)
        dx = self._buffer("dx", x.shape)
        _, ws_y_shape, xp_shape, dw_shape = conv2d_workspace_shapes(x.shape, self.weight.shape, *self.stride,
                                                                    *self.padding, nchunks, self._group)
        ws_dcol = self._buffer("ws_dcol", col.shape) if need_dx else col
        ws_g = self._buffer("ws_y", ws_y_shape)   # the forward's ws_y, free by now
        ws_dw = self._buffer("ws_dw", dw_shape)
        ws_dxp = self._buffer("ws_xp", xp_shape)
        db = self.bias.grad if self.bias is not None else self._no_bias_grad
        self.backend.k.conv2d_backward(dx, self.weight.grad, db, ws_dcol, ws_g, ws_dw, ws_dxp, dy,
                                       col, x, self.weight.data, self._y, *self.stride, *self.padding,
                                       self._act, self._alpha, need_dx, nchunks)
        return dx if need_dx else None
