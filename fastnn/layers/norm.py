"""Normalization layers, PyTorch's names, arguments and state_dict keys (formulas: kernels/reference/).

BatchNorm1d ((N, C) or (N, C, L)) and BatchNorm2d ((N, C, H, W)) normalize each channel over the batch (and
the spatial positions): batch statistics in training (biased variance to normalize, unbiased in the running
estimate, ``momentum=None``: cumulative average), running statistics in evaluation when
``track_running_stats``. A BatchNorm followed by a ReLU can run fused (``forward(x, training, ACT_RELU)``:
the ReLU is applied in the same pass; its backward masks by the output). LayerNorm normalizes over the
trailing ``normalized_shape``, InstanceNorm2d each (sample, channel) plane, LocalResponseNorm across a
window of ``size`` neighbouring channels (AlexNet's formula).

state_dict order, as PyTorch: weight, bias, running_mean, running_var, num_batches_tracked (the last an
int64 scalar array). Differences from PyTorch: InstanceNorm2d raises on a channel count different from
``num_features`` even when ``affine=False`` (PyTorch only warns and ignores ``num_features``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from fastnn.backend import assign
from fastnn.layers.base import Module
from fastnn.params import Parameter
from kernels.codes import ACT_NONE, ACT_RELU

# LayerNorm splits its rows over the threads from this many elements on (serial below: thread wake-up
# costs more than the work)
LAYERNORM_PARALLEL_MIN = 1 << 16


def _positive_int(value, name: str, layer: str) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{layer}: {name} must be a positive int, got {value!r}")
    return int(value)


def _eps(value, layer: str) -> float:
    value = float(value)
    if not value > 0:
        raise ValueError(f"{layer}: eps must be > 0, got {value}")
    return value


def _momentum(value, layer: str) -> float | None:
    if value is None:
        return None
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{layer}: momentum must be in [0, 1] or None, got {value}")
    return value


class _RunningStats(Module):
    """Shared parts of BatchNorm and InstanceNorm: the affine parameters and the running-statistics buffers."""

    _device_arrays = ("running_mean", "running_var", "_ones", "_zeros", "_scratch")

    def __init__(self, num_features: int, eps: float, momentum: float | None, affine: bool,
                 track_running_stats: bool, bias: bool = True) -> None:
        super().__init__()
        name = type(self).__name__
        self.num_features = c = _positive_int(num_features, "num_features", name)
        self.eps = _eps(eps, name)
        self.momentum = _momentum(momentum, name)
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        self.weight = self.bias = None
        if self.affine:
            self.weight = Parameter(np.ones(c, np.float32))
            self._params["weight"] = self.weight
            if bias:
                self.bias = Parameter(np.zeros(c, np.float32))
                self._params["bias"] = self.bias
        self.running_mean = self.running_var = self.num_batches_tracked = None
        if self.track_running_stats:
            self.running_mean = np.zeros(c, np.float32)
            self.running_var = np.ones(c, np.float32)
            self.num_batches_tracked = np.zeros((), np.int64)
        # stand-ins for absent parameters / buffers (the kernels always take them)
        self._ones, self._zeros = np.ones(c, np.float32), np.zeros(c, np.float32)
        self._scratch = np.zeros((4, c), np.float32)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            assign(self.running_mean, 0)
            assign(self.running_var, 1)
            self.num_batches_tracked[...] = 0

    def _gamma_beta(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(gamma, beta, dgamma, dbeta): the parameters or constant 1 / 0 with scratch gradients."""
        gamma = self.weight.data if self.weight is not None else self._ones
        dgamma = self.weight.grad if self.weight is not None else self._scratch[0]
        beta = self.bias.data if self.bias is not None else self._zeros
        dbeta = self.bias.grad if self.bias is not None else self._scratch[1]
        return gamma, beta, dgamma, dbeta

    def _running(self) -> tuple[np.ndarray, np.ndarray]:
        if self.track_running_stats:
            return self.running_mean, self.running_var
        return self._scratch[2], self._scratch[3]

    def named_state(self, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
        yield from super().named_state(prefix)
        if self.track_running_stats:
            yield prefix + "running_mean", self.running_mean
            yield prefix + "running_var", self.running_var
            yield prefix + "num_batches_tracked", self.num_batches_tracked

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


# --------------------------------------------------------------------------------------- BatchNorm


class _BatchNorm(_RunningStats):
    _shapes: str  # the accepted input shapes, for error messages
    FUSABLE_ACTS = (ACT_RELU,)  # activation codes forward(x, training, act) can apply in the same pass

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats)

    def config(self) -> dict:
        return {"num_features": self.num_features, "eps": self.eps, "momentum": self.momentum,
                "affine": self.affine, "track_running_stats": self.track_running_stats}

    def _ndim_ok(self, ndim: int) -> bool:
        raise TypeError(f"{type(self).__name__} must define _ndim_ok")  # abstract: subclasses say it

    def _expected(self) -> str:
        return self._shapes.replace("C", str(self.num_features))

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if not self._ndim_ok(len(input_shape)) or input_shape[1] != self.num_features:
            raise ValueError(f"{self.label}: expected input of shape {self._expected()}, got {tuple(input_shape)}")
        return tuple(input_shape)

    def forward(self, x: np.ndarray, training: bool, act: int = ACT_NONE, alpha: float = 0.0) -> np.ndarray:
        """Normalize x; ``act`` = ACT_RELU applies a ReLU in the same pass (fused BN + ReLU)."""
        self._check_input(x, self._expected(), lambda: self._ndim_ok(x.ndim) and x.shape[1] == self.num_features)
        if act != ACT_NONE and act not in self.FUSABLE_ACTS:
            raise ValueError(f"{self.label}: only ReLU can be fused into batch normalization, got activation code "
                             f"{act}")
        x = self.backend.contiguous(x)
        n, c = x.shape[0], self.num_features
        x3 = x.reshape(n, c, -1)
        y = self._buffer("y", x.shape)
        mean, invstd = self._buffer("mean", (c,)), self._buffer("invstd", (c,))
        gamma, beta, _, _ = self._gamma_beta()
        running_mean, running_var = self._running()
        batch_stats = training or not self.track_running_stats
        if batch_stats:
            if n * x3.shape[2] < 2:
                raise ValueError(f"{self.label}: expected more than 1 value per channel when using batch statistics "
                                 f"(training), got input of shape {tuple(x.shape)}")
            update = training and self.track_running_stats
            factor = 0.0
            if update:
                self.num_batches_tracked += 1
                factor = 1.0 / int(self.num_batches_tracked) if self.momentum is None else self.momentum
            self.backend.k.batchnorm_forward_train(y.reshape(x3.shape), mean, invstd, running_mean, running_var, x3,
                                                   gamma, beta, self.eps, factor, update, act)
        else:
            self.backend.k.batchnorm_forward_eval(y.reshape(x3.shape), mean, invstd, x3, gamma, beta, running_mean,
                                                  running_var, self.eps, act)
        self._x, self._y, self._act, self._batch_stats = x, y, act, batch_stats
        return y

    def backward(self, dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        """dL/dx (training: through the batch statistics; evaluation: the running statistics are constants);
        dgamma / dbeta accumulate."""
        dy = self._check_grad(dy, self._y.shape)
        x = self._x
        x3 = x.reshape(x.shape[0], self.num_features, -1)
        dx = self._buffer("dx", x.shape)
        gamma, _, dgamma, dbeta = self._gamma_beta()
        self.backend.k.batchnorm_backward(dx.reshape(x3.shape), dgamma, dbeta, dy.reshape(x3.shape), x3,
                                          self._y.reshape(x3.shape), self._buffers["mean"], self._buffers["invstd"],
                                          gamma, self._act, self._batch_stats)
        return dx if need_dx else None


class BatchNorm1d(_BatchNorm):
    """Batch normalization of (N, C) or (N, C, L) inputs over N (and L), PyTorch's ``nn.BatchNorm1d``."""

    _shapes = "(N, C) or (N, C, L)"

    def _ndim_ok(self, ndim: int) -> bool:
        return ndim in (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalization of (N, C, H, W) inputs over N, H and W, PyTorch's ``nn.BatchNorm2d``."""

    _shapes = "(N, C, H, W)"

    def _ndim_ok(self, ndim: int) -> bool:
        return ndim == 4


# --------------------------------------------------------------------------------------- InstanceNorm


class InstanceNorm2d(_RunningStats):
    """Normalizes every (sample, channel) plane of (N, C, H, W) or unbatched (C, H, W) inputs over H, W,
    PyTorch's ``nn.InstanceNorm2d`` (defaults: no affine parameters, no running statistics). With
    ``track_running_stats`` the running estimates average the per-plane statistics over the batch and are
    used in evaluation; ``momentum=None`` leaves them unchanged (as PyTorch, which passes 0.0), and
    num_batches_tracked is never incremented (as PyTorch)."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = False,
                 track_running_stats: bool = False, *, bias: bool = True) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, bias)
        self.has_bias = bool(bias)

    def config(self) -> dict:
        return {"num_features": self.num_features, "eps": self.eps, "momentum": self.momentum,
                "affine": self.affine, "track_running_stats": self.track_running_stats, "bias": self.has_bias}

    def _expected(self) -> str:
        return f"(N, {self.num_features}, H, W) or ({self.num_features}, H, W)"

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(input_shape) not in (3, 4) or input_shape[-3] != self.num_features:
            raise ValueError(f"{self.label}: expected input of shape {self._expected()}, got {tuple(input_shape)}")
        return tuple(input_shape)

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        self._check_input(x, self._expected(), lambda: x.ndim in (3, 4) and x.shape[-3] == self.num_features)
        x = self.backend.contiguous(x)
        c = self.num_features
        n = x.shape[0] if x.ndim == 4 else 1
        x3 = x.reshape(n, c, -1)
        y = self._buffer("y", x.shape)
        gamma, beta, _, _ = self._gamma_beta()
        running_mean, running_var = self._running()
        use_input_stats = training or not self.track_running_stats
        if use_input_stats:
            if x3.shape[2] < 2:
                raise ValueError(f"{self.label}: expected more than 1 spatial element when using instance "
                                 f"statistics, got input of shape {tuple(x.shape)}")
            mean, invstd = self._buffer("mean", (n, c)), self._buffer("invstd", (n, c))
            update = training and self.track_running_stats
            momentum = self.momentum if self.momentum is not None else 0.0
            self.backend.k.instancenorm_forward(y.reshape(x3.shape), mean, invstd, running_mean, running_var, x3,
                                                gamma, beta, self.eps, momentum, update)
        else:  # running statistics: per-channel constants, batch normalization's evaluation kernel
            mean, invstd = self._buffer("mean_running", (c,)), self._buffer("invstd_running", (c,))
            self.backend.k.batchnorm_forward_eval(y.reshape(x3.shape), mean, invstd, x3, gamma, beta, running_mean,
                                                  running_var, self.eps, ACT_NONE)
        self._x, self._x3_shape, self._y, self._input_stats = x, x3.shape, y, use_input_stats
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        dy = self._check_grad(dy, self._y.shape)
        shape = self._x3_shape
        x3 = self._x.reshape(shape)
        dx = self._buffer("dx", self._x.shape)
        gamma, _, dgamma, dbeta = self._gamma_beta()
        if self._input_stats:
            mean, invstd = self._buffers["mean"], self._buffers["invstd"]
            ws = self._buffer("ws_sums", (shape[0], shape[1], 2))
            self.backend.k.instancenorm_backward(dx.reshape(shape), dgamma, dbeta, ws, dy.reshape(shape), x3, mean,
                                                 invstd, gamma)
        else:
            mean, invstd = self._buffers["mean_running"], self._buffers["invstd_running"]
            self.backend.k.batchnorm_backward(dx.reshape(shape), dgamma, dbeta, dy.reshape(shape), x3,
                                              self._y.reshape(shape), mean, invstd, gamma, ACT_NONE, False)
        return dx


# --------------------------------------------------------------------------------------- LayerNorm


class LayerNorm(Module):
    """Normalizes over the trailing ``normalized_shape`` dimensions, PyTorch's ``nn.LayerNorm``
    (weight / bias of that shape when ``elementwise_affine``; ``bias=False`` drops the bias)."""

    _device_arrays = ("_ones", "_zeros", "_scratch")

    def __init__(self, normalized_shape: int | list[int] | tuple[int, ...], eps: float = 1e-5,
                 elementwise_affine: bool = True, bias: bool = True) -> None:
        super().__init__()
        if isinstance(normalized_shape, (int, np.integer)) and not isinstance(normalized_shape, bool):
            normalized_shape = (normalized_shape,)
        if not isinstance(normalized_shape, (list, tuple)) or not normalized_shape:
            raise ValueError(f"LayerNorm: normalized_shape must be an int or a non-empty list of ints, got "
                             f"{normalized_shape!r}")
        self.normalized_shape = tuple(_positive_int(d, "normalized_shape", "LayerNorm") for d in normalized_shape)
        self.eps = _eps(eps, "LayerNorm")
        self.elementwise_affine, self.has_bias = bool(elementwise_affine), bool(bias)
        d = math.prod(self.normalized_shape)
        self.weight = self.bias = None
        if self.elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, np.float32))
            self._params["weight"] = self.weight
            if self.has_bias:
                self.bias = Parameter(np.zeros(self.normalized_shape, np.float32))
                self._params["bias"] = self.bias
        self._ones, self._zeros = np.ones(d, np.float32), np.zeros(d, np.float32)
        self._scratch = np.zeros((2, d), np.float32)

    def config(self) -> dict:
        return {"normalized_shape": list(self.normalized_shape), "eps": self.eps,
                "elementwise_affine": self.elementwise_affine, "bias": self.has_bias}

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
                + ("" if self.has_bias else ", bias=False"))

    def _expected(self) -> str:
        return "(*, " + ", ".join(map(str, self.normalized_shape)) + ")"

    def _ok(self, shape: tuple[int, ...]) -> bool:
        k = len(self.normalized_shape)
        return len(shape) >= k and tuple(shape[len(shape) - k:]) == self.normalized_shape

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if not self._ok(tuple(input_shape)):
            raise ValueError(f"{self.label}: expected input of shape {self._expected()}, got {tuple(input_shape)}")
        return tuple(input_shape)

    def _params_flat(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        d = self._ones.size
        if self.weight is None:
            return self._ones, self._zeros, self._scratch[0], self._scratch[1]
        gamma, dgamma = self.weight.data.reshape(d), self.weight.grad.reshape(d)
        if self.bias is None:
            return gamma, self._zeros, dgamma, self._scratch[1]
        return gamma, self.bias.data.reshape(d), dgamma, self.bias.grad.reshape(d)

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        self._check_input(x, self._expected(), lambda: self._ok(x.shape))
        x = self.backend.contiguous(x)
        d = self._ones.size
        x2 = x.reshape(-1, d)
        m = x2.shape[0]
        y = self._buffer("y", x.shape)
        mean, invstd = self._buffer("mean", (m,)), self._buffer("invstd", (m,))
        nchunks = 1 if x.size < LAYERNORM_PARALLEL_MIN else max(1, min(self.backend.num_threads(), m))
        gamma, beta, _, _ = self._params_flat()
        self.backend.k.layernorm_forward(y.reshape(x2.shape), mean, invstd, x2, gamma, beta, self.eps, nchunks)
        self._x, self._y, self._nchunks = x, y, nchunks
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        dy = self._check_grad(dy, self._y.shape)
        d = self._ones.size
        x2 = self._x.reshape(-1, d)
        dx = self._buffer("dx", self._x.shape)
        ws = self._buffer("ws_dparams", (self._nchunks, 2, d))
        gamma, _, dgamma, dbeta = self._params_flat()
        self.backend.k.layernorm_backward(dx.reshape(x2.shape), dgamma, dbeta, ws, dy.reshape(x2.shape), x2,
                                          self._buffers["mean"], self._buffers["invstd"], gamma, self._nchunks)
        return dx


# --------------------------------------------------------------------------------------- LRN


class LocalResponseNorm(Module):
    """AlexNet's local response normalization across channels, PyTorch's ``nn.LocalResponseNorm``:
    b_c = a_c * (k + alpha / size * sum_{c' = c - size//2}^{c + (size-1)//2} a_{c'}^2)^-beta over (N, C, *)
    inputs, channels outside [0, C) counting as zero."""

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> None:
        super().__init__()
        self.size = _positive_int(size, "size", "LocalResponseNorm")
        self.alpha, self.beta, self.k = float(alpha), float(beta), float(k)

    def config(self) -> dict:
        return {"size": self.size, "alpha": self.alpha, "beta": self.beta, "k": self.k}

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(input_shape) < 3:
            raise ValueError(f"{self.label}: expected input of shape (N, C, *) with 3 or more dimensions, got "
                             f"{tuple(input_shape)}")
        return tuple(input_shape)

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        self._check_input(x, "(N, C, *) with 3 or more dimensions", lambda: x.ndim >= 3)
        x = self.backend.contiguous(x)
        x3 = x.reshape(x.shape[0], x.shape[1], -1)
        y = self._buffer("y", x.shape)
        scale = self._buffer("scale", x3.shape)
        self.backend.k.lrn_forward(y.reshape(x3.shape), scale, x3, self.size, self.alpha, self.beta, self.k)
        self._x, self._y = x, y
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        dy = self._check_grad(dy, self._y.shape)
        shape = self._buffers["scale"].shape
        dx = self._buffer("dx", self._x.shape)
        ws = self._buffer("ws", shape)
        self.backend.k.lrn_backward(dx.reshape(shape), ws, dy.reshape(shape), self._x.reshape(shape),
                                    self._y.reshape(shape), self._buffers["scale"], self.size, self.alpha, self.beta,
                                    self.k)
        return dx
