"""Dropout layers (DESIGN §6: masks come from a seeded numpy Generator, never from numba's RNG).

``Dropout(p)`` is inverted dropout, as PyTorch: in training each element is kept with probability
1 - p and scaled by 1/(1 - p), so E[y] = x; in eval it is the identity. ``Dropout(p, mode="textbook")``
is the original formulation (Srivastava et al., 2014): no scaling in training, y = x (1 - p) at
inference. ``Dropout2d`` drops whole channels of (N, C, H, W) inputs; like PyTorch 2.x it reads a
3-D input as (N, C, L) (channel-wise 1-D dropout), not as an unbatched (C, H, W).

The mask is drawn from ``rng`` (default: ``fastnn.init.default_rng()`` at construction, so
``fastnn.manual_seed`` makes runs repeatable): same seed -> same masks. backward reuses the last
training forward's mask. Uniform draws, the uint8 mask and outputs live in reused buffers.
"""

from __future__ import annotations

import numpy as np

from fastnn import init
from fastnn.layers.base import Module

MODES = ("inverted", "textbook")


class _DropoutBase(Module):
    def __init__(self, p: float = 0.5, inplace: bool = False, mode: str = "inverted",
                 rng: np.random.Generator | None = None) -> None:
        super().__init__()
        name = type(self).__name__
        if isinstance(p, bool) or not isinstance(p, (int, float, np.floating, np.integer)) or not 0 <= p <= 1:
            raise ValueError(f"{name}: dropout probability has to be between 0 and 1, but got {p!r}")
        if mode not in MODES:
            raise ValueError(f"{name}: mode must be 'inverted' or 'textbook', got {mode!r}")
        if rng is not None and not isinstance(rng, np.random.Generator):
            raise TypeError(f"{name}: rng must be a numpy Generator or None, got {type(rng).__name__}")
        self.p = float(p)
        self.inplace = bool(inplace)  # accepted for PyTorch compatibility; outputs are always separate buffers
        self.mode = mode
        self.rng = init.default_rng() if rng is None else rng
        self._mask: np.ndarray | None = None
        self._seed: int | None = None  # CUDA masks: counter-based RNG key, drawn from rng on first use
        self._draws = 0

    def config(self) -> dict:
        out = {"p": self.p}
        if self.mode != "inverted":
            out["mode"] = self.mode
        return out

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(input_shape)

    @property
    def train_scale(self) -> float:
        """The factor kept elements are multiplied by in training."""
        if self.mode == "textbook":
            return 1.0
        return 0.0 if self.p == 1 else 1.0 / (1.0 - self.p)

    def _mask_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        raise TypeError(f"{type(self).__name__} must define _mask_shape")  # abstract: subclasses say it

    def _draw_mask(self, shape: tuple[int, ...], p: float) -> np.ndarray:
        """Keep-mask (1 = kept) with drop probability ``p``: from the layer's Generator on the CPU; on CUDA
        from the counter-based RNG keyed by (a seed drawn once from the Generator, the draw count)."""
        if self.backend.is_cuda:
            mask = self._buffer("mask", shape, np.uint8)
            if self._seed is None:
                self._seed = int(self.rng.integers(1 << 62))
            self.backend.k.dropout_mask(mask, float(p), self._seed, self._draws)
            self._draws += 1
            return mask
        u = self._buffer("uniform", shape, np.float64)
        self.rng.random(out=u)
        mask = self._buffer("mask", shape, np.uint8)
        np.greater_equal(u, p, out=mask.view(np.bool_), casting="unsafe")
        return mask

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        self._check_input(x, self._expected, lambda: self._shape_ok(x))
        x = self.backend.contiguous(x)
        self._training_forward = training
        self._shape = x.shape
        if not training:
            if self.mode == "inverted":
                return x
            y = self._buffer("y", x.shape)
            if self.backend.is_cuda:  # x (1 - p) as a dropout with nothing dropped
                self._mask = self._draw_mask(self._mask_shape(x.shape), 0.0)
                self._apply(y, x, True, 1.0 - self.p)
            else:
                np.multiply(x, np.float32(1.0 - self.p), out=y)
            return y
        y = self._buffer("y", x.shape)
        self._mask = self._draw_mask(self._mask_shape(x.shape), self.p)
        self._apply(y, x, True, self.train_scale)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        dy = self._check_grad(dy, self._shape)
        if not self._training_forward:
            if self.mode == "inverted":
                return dy
            dx = self._buffer("dx", dy.shape)
            if self.backend.is_cuda:
                self._apply(dx, dy, False, 1.0 - self.p)
            else:
                np.multiply(dy, np.float32(1.0 - self.p), out=dx)
            return dx
        dx = self._buffer("dx", dy.shape)
        self._apply(dx, dy, False, self.train_scale)
        return dx

    def extra_repr(self) -> str:
        return f"p={self.p}" + (f", mode={self.mode!r}" if self.mode != "inverted" else "")


class Dropout(_DropoutBase):
    """Zeroes each element with probability p (elementwise mask); see the module docstring."""

    _expected = "(any shape)"

    def _shape_ok(self, x: np.ndarray) -> bool:
        return True

    def _mask_shape(self, shape):
        return (int(np.prod(shape)),)

    def _apply(self, out, inp, forward: bool, scale: float):
        k = self.backend.k
        if forward:
            k.dropout_forward(out.reshape(-1), self._mask, inp.reshape(-1), np.float32(scale))
        else:
            k.dropout_backward(out.reshape(-1), inp.reshape(-1), self._mask, np.float32(scale))


class Dropout2d(_DropoutBase):
    """Zeroes whole channels: one keep/drop draw per (sample, channel) of an (N, C, H, W) or (N, C, L) input."""

    _expected = "(N, C, H, W) or (N, C, L)"

    def _shape_ok(self, x: np.ndarray) -> bool:
        return x.ndim in (3, 4)

    def _mask_shape(self, shape):
        return (shape[0] * shape[1],)

    def _apply(self, out, inp, forward: bool, scale: float):
        k = self.backend.k
        rows = self._mask.shape[0]
        if forward:
            k.dropout2d_forward(out.reshape(rows, -1), self._mask, inp.reshape(rows, -1), np.float32(scale))
        else:
            k.dropout2d_backward(out.reshape(rows, -1), inp.reshape(rows, -1), self._mask, np.float32(scale))
