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
        x = self.backend.contiguous(x)
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


# --- activations without a fused epilogue ------------------------------------------------------------

class _Elementwise(_Activation):
    """An activation run by its own kernels only (its derivative needs the input, or it is not worth fusing)."""

    code = -1

    @property
    def fused_code(self) -> int | None:
        return None


class Identity(_Elementwise):
    """y = x (PyTorch's nn.Identity; constructor arguments are accepted and ignored, as in PyTorch)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__()

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        self._check_input(x, "(any shape)", lambda: True)
        self._shape = x.shape
        return x

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return self._check_grad(dy, self._shape)


class BinaryStep(_Elementwise):
    """y = 1 if x >= 0 else 0 (``torch.heaviside(x, 1)``).

    The true derivative is 0 almost everywhere, so by default backward returns zeros (nothing upstream
    learns). ``straight_through=True`` uses the straight-through estimator instead: backward passes dy
    through unchanged (dx = dy), as if the step were the identity (Bengio et al., 2013).
    """

    def __init__(self, straight_through: bool = False) -> None:
        super().__init__()
        self.straight_through = bool(straight_through)

    def config(self) -> dict:
        return {"straight_through": self.straight_through}

    def _forward_kernel(self, y, x):
        self.backend.k.step_forward(y, x)

    def _backward_kernel(self, dx, dy):
        self.backend.k.step_backward(dx, dy, self.straight_through)


class ELU(_Elementwise):
    """y = x if x > 0 else alpha * (exp(x) - 1)."""

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.elu_alpha = float(alpha)

    @property
    def alpha(self) -> float:  # PyTorch's attribute name (ELU is never fused, so this is not an epilogue alpha)
        return self.elu_alpha

    def config(self) -> dict:
        return {"alpha": self.elu_alpha}

    def _forward_kernel(self, y, x):
        self.backend.k.elu_forward(y, x, self.elu_alpha)

    def _backward_kernel(self, dx, dy):
        self.backend.k.elu_backward(dx, dy, self._x.reshape(-1), self.elu_alpha)


class Softplus(_Elementwise):
    """y = log(1 + exp(beta * x)) / beta, and y = x where beta * x > threshold (PyTorch's rule)."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        if beta == 0:
            raise ValueError("Softplus: beta must be nonzero, got 0")
        self.beta, self.threshold = float(beta), float(threshold)

    def config(self) -> dict:
        return {"beta": self.beta, "threshold": self.threshold}

    def _forward_kernel(self, y, x):
        self.backend.k.softplus_forward(y, x, self.beta, self.threshold)

    def _backward_kernel(self, dx, dy):
        self.backend.k.softplus_backward(dx, dy, self._x.reshape(-1), self.beta, self.threshold)


class GELU(_Elementwise):
    """y = x * Phi(x) (exact, erf); ``approximate="tanh"``: x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def config(self) -> dict:
        return {"approximate": self.approximate}

    def _forward_kernel(self, y, x):
        self.backend.k.gelu_forward(y, x, self.approximate == "tanh")

    def _backward_kernel(self, dx, dy):
        self.backend.k.gelu_backward(dx, dy, self._x.reshape(-1), self.approximate == "tanh")


class SiLU(_Elementwise):
    """y = x * sigmoid(x) (a.k.a. swish)."""

    def _forward_kernel(self, y, x):
        self.backend.k.silu_forward(y, x)

    def _backward_kernel(self, dx, dy):
        self.backend.k.silu_backward(dx, dy, self._x.reshape(-1))


class _SoftmaxBase(_Elementwise):
    """Normalizes along ``dim``; the kernels work on rows, so a non-last ``dim`` is moved last (a copy)."""

    _log = False

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        if dim is not None and (not isinstance(dim, (int, np.integer)) or isinstance(dim, bool)):
            raise ValueError(f"{type(self).__name__}: dim must be an int or None, got {dim!r}")
        self.dim = None if dim is None else int(dim)

    def config(self) -> dict:
        return {"dim": self.dim}

    def _axis(self, ndim: int) -> int:
        dim = self.dim
        if dim is None:  # PyTorch's legacy implicit choice (it warns)
            dim = 0 if ndim in (0, 1, 3) else 1
        if not -max(ndim, 1) <= dim < max(ndim, 1):
            raise ValueError(f"{self.label}: dim {dim} out of range for an input with {ndim} dimensions")
        return dim % max(ndim, 1)

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        self._check_input(x, "(any shape)", lambda: True)
        axis = self._axis(x.ndim)
        self._axis_used = axis
        self._last = axis == max(x.ndim, 1) - 1
        if self._last:
            xm = self.backend.contiguous(x).reshape(x.shape or (1,))
        elif self.backend.is_cuda:
            raise ValueError(f"{self.label}: on CUDA softmax runs along the last dimension only, got dim "
                             f"{self.dim} for an input of shape {tuple(x.shape)}")
        else:
            xm = np.ascontiguousarray(np.moveaxis(x.reshape(x.shape or (1,)), axis, -1))
        rows = xm.reshape(-1, xm.shape[-1]) if xm.size else xm.reshape(0, 1)
        ym = self._buffer("ym", xm.shape)
        if xm.size:
            fwd = self.backend.k.log_softmax_forward if self._log else self.backend.k.softmax_forward
            fwd(ym.reshape(rows.shape), rows)
        self._ym = ym
        if self._last:
            return ym.reshape(x.shape)
        y = np.moveaxis(ym, -1, axis).reshape(x.shape)
        return y if y.flags.c_contiguous else np.ascontiguousarray(y)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        ym, axis = self._ym, self._axis_used
        shape = ym.shape if self._last else np.moveaxis(ym, -1, axis).shape
        dy = self._check_grad(dy, shape if len(shape) else ())
        dym = dy.reshape(shape) if self._last else np.ascontiguousarray(np.moveaxis(dy.reshape(shape), axis, -1))
        dxm = self._buffer("dxm", ym.shape)
        if ym.size:
            bwd = self.backend.k.log_softmax_backward if self._log else self.backend.k.softmax_backward
            k = ym.shape[-1]
            bwd(dxm.reshape(-1, k), dym.reshape(-1, k), ym.reshape(-1, k))
        if self._last:
            return dxm.reshape(dy.shape)
        dx = np.moveaxis(dxm, -1, axis).reshape(dy.shape)
        return dx if dx.flags.c_contiguous else np.ascontiguousarray(dx)


class Softmax(_SoftmaxBase):
    """y = exp(x) / sum(exp(x)) along ``dim`` (max-shifted: stable for any logits)."""


class LogSoftmax(_SoftmaxBase):
    """y = x - logsumexp(x) along ``dim`` (stable for any logits)."""

    _log = True
