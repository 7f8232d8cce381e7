"""Linear: y = act(x @ W.T + b), x (N, in_features) -> y (N, out_features). ``act`` is the fused
activation Sequential passes when the next layer is an activation (none when called alone)."""

from __future__ import annotations

import numpy as np

from fastnn.init import init_layer_
from fastnn.layers.base import Module
from fastnn.params import Parameter
from kernels.codes import ACT_NONE, FUSED_EPILOGUE_ACTS

MIN_MACS_PER_CHUNK = 1 << 18


class Linear(Module):
    """Fully connected layer, PyTorch's ``nn.Linear`` (weight (out, in), bias (out,), same init).

    ``init`` / ``bias_init`` replace PyTorch's default initialization: an initializer name
    (``"xavier_uniform"``, ``"kaiming_normal"``, ``"orthogonal"``, ... see ``fastnn.init.INITIALIZERS``), a
    callable filling the array in place, or (bias, typically) a constant such as ``0.1``. Random ones draw
    from ``rng`` (default: the global generator). They act at construction only and are not part of
    ``config()``: a saved model stores the weights themselves.
    """

    _device_arrays = ("_no_bias", "_no_bias_grad")

    FUSABLE_ACTS = FUSED_EPILOGUE_ACTS  # activation codes forward(x, training, act) applies in its epilogue

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 rng: np.random.Generator | None = None, init=None, bias_init=None) -> None:
        super().__init__()
        if in_features < 1 or out_features < 1:
            raise ValueError(f"Linear: features must be >= 1, got ({in_features}, {out_features})")
        self.in_features, self.out_features, self.has_bias = in_features, out_features, bias
        self.weight = Parameter(np.empty((out_features, in_features), np.float32))
        self._params["weight"] = self.weight
        self.bias = Parameter(np.empty(out_features, np.float32)) if bias else None
        if self.bias is not None:
            self._params["bias"] = self.bias
        init_layer_(self.weight.data, self.bias.data if bias else None, rng, init, bias_init, "Linear")
        self._no_bias = np.zeros(out_features, np.float32)
        self._no_bias_grad = np.zeros(out_features, np.float32)

    def config(self) -> dict:
        return {"in_features": self.in_features, "out_features": self.out_features, "bias": self.has_bias}

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}" + ("" if self.has_bias else ", bias=False")

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(input_shape) != 2 or input_shape[1] != self.in_features:
            raise ValueError(f"{self.label}: expected input of shape (N, {self.in_features}), got {input_shape}")
        return input_shape[0], self.out_features

    def forward(self, x: np.ndarray, training: bool, act: int = ACT_NONE, alpha: float = 0.0) -> np.ndarray:
        self._check_input(x, f"(N, {self.in_features})",
                          lambda: x.ndim == 2 and x.shape[1] == self.in_features)
        x = self.backend.contiguous(x)
        n = x.shape[0]
        y = self._buffer("y", (n, self.out_features))
        b = self.bias.data if self.bias is not None else self._no_bias
        # one row block per thread, but only when each block gets >= ~256k multiply-adds
        work = n * self.in_features * self.out_features
        nchunks = max(1, min(self.backend.num_threads(), n, work // MIN_MACS_PER_CHUNK))
        self.backend.k.linear_forward(y, x, self.weight.data, b, act, alpha, nchunks)
        self._x, self._y, self._act, self._alpha, self._nchunks = x, y, act, alpha, nchunks
        return y

    def backward(self, dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        x = self._x
        dy = self._check_grad(dy, self._y.shape)
        dx = self._buffer("dx", x.shape)
        ws_g = self._buffer("g", dy.shape)
        ws_dw = self._buffer("dw", self.backend.k.linear_workspace_shape(x.shape[0], self.in_features,
                                                                        self.out_features, self._nchunks))
        db = self.bias.grad if self.bias is not None else self._no_bias_grad
        self.backend.k.linear_backward(dx, self.weight.grad, db, ws_g, ws_dw, dy, x,
                                       self.weight.data, self._y, self._act, self._alpha, need_dx, self._nchunks)
        return dx if need_dx else None
