"""Flatten: (N, d1, d2, ...) -> (N, d1*d2*...) as a view (start_dim=1, PyTorch's default)."""

from __future__ import annotations

import math

import numpy as np

from fastnn.layers.base import Module


class Flatten(Module):
    """Flattens all but the batch dimension; backward reshapes dy back."""

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(input_shape) < 1:
            raise ValueError(f"{self.label}: expected input of shape (N, ...), got {tuple(input_shape)}")
        return input_shape[0], math.prod(input_shape[1:])

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        self._check_input(x, "(N, ...)", lambda: x.ndim >= 1)
        self._shape = x.shape
        return self.backend.contiguous(x).reshape(self.output_shape(x.shape))

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return self._check_grad(dy, self.output_shape(self._shape)).reshape(self._shape)
