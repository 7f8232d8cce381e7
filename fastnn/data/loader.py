"""Mini-batch iteration over in-memory arrays, reshuffled every epoch from one Generator."""

from __future__ import annotations

import numbers
from collections.abc import Iterator
from typing import Any

import numpy as np

from .split import as_generator

__all__ = ["BatchIterator"]


class BatchIterator:
    """Iterate ``(xb, yb)`` mini-batches (C-contiguous) over ``x`` and ``y`` along axis 0.

    Every ``iter()`` draws a fresh permutation from the same Generator (when ``shuffle``), so
    epochs differ from each other while a new iterator with the same seed replays the same
    sequence. The final partial batch is yielded unless ``drop_last``. Without shuffling the
    batches may be views of ``x`` and ``y``.
    """

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        batch_size: int,
        shuffle: bool = True,
        drop_last: bool = False,
        rng: np.random.Generator | int | None = 0,
    ) -> None:
        x = np.asarray(x)
        y = np.asarray(y)
        if x.ndim == 0 or y.ndim == 0:
            raise ValueError(f"x, y: expected arrays with a sample axis, got shapes {x.shape} and {y.shape}")
        if len(x) != len(y):
            raise ValueError(f"len(y): expected {len(x)} (= len(x)), got {len(y)}")
        if not isinstance(batch_size, numbers.Integral) or isinstance(batch_size, bool):
            raise TypeError(f"batch_size: expected an int, got {type(batch_size).__name__}")
        if batch_size < 1:
            raise ValueError(f"batch_size: expected >= 1, got {batch_size}")
        self.x = x
        self.y = y
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self._rng = as_generator(rng)

    @property
    def n_samples(self) -> int:
        """Number of samples."""
        return len(self.x)

    def __len__(self) -> int:
        """Number of batches per epoch."""
        n, b = len(self.x), self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        # The permutation is drawn here, eagerly, so the Generator state after iter() is defined.
        order = self._rng.permutation(len(self.x)) if self.shuffle else None
        return self._batches(order)

    def _batches(self, order: np.ndarray | None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        b = self.batch_size
        for i in range(len(self)):
            if order is None:
                xb, yb = self.x[i * b : (i + 1) * b], self.y[i * b : (i + 1) * b]
            else:
                idx = order[i * b : (i + 1) * b]
                xb, yb = self.x[idx], self.y[idx]
            yield np.ascontiguousarray(xb), np.ascontiguousarray(yb)

    @property
    def rng(self) -> np.random.Generator:
        """The Generator that draws each epoch's permutation."""
        return self._rng

    def get_state(self) -> dict[str, Any]:
        """The Generator's ``bit_generator.state`` (a fresh dict), for checkpointing."""
        return self._rng.bit_generator.state

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore a state from :meth:`get_state`; the next ``iter()`` then replays that epoch."""
        self._rng.bit_generator.state = state

    @property
    def state(self) -> dict[str, Any]:
        """Same as :meth:`get_state`; assignable (same as :meth:`set_state`)."""
        return self.get_state()

    @state.setter
    def state(self, state: dict[str, Any]) -> None:
        self.set_state(state)
