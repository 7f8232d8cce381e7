"""Losses with PyTorch's names: ``loss = loss_fn(logits, target)`` then ``dlogits = loss_fn.backward()``."""

from __future__ import annotations

import numpy as np

from fastnn.backend import CPU, Backend


class CrossEntropyLoss:
    """Softmax + cross-entropy on raw logits (N, K) and integer class targets (N,), fused and stable.

    loss_i = logsumexp(z_i) - z_i[y_i]; reduction "mean" (default), "sum" or "none".
    backward() returns dL/dlogits = scale * (softmax(z) - onehot(y)), scale 1/N for "mean".
    """

    def __init__(self, reduction: str = "mean", backend: Backend = CPU) -> None:
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"CrossEntropyLoss: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        self.reduction = reduction
        self.backend = backend
        self._bufs: dict[str, np.ndarray] = {}

    def _buffer(self, key: str, shape: tuple[int, ...]) -> np.ndarray:
        buf = self._bufs.get(key)
        if buf is None or buf.shape != shape:
            buf = self._bufs[key] = self.backend.empty(shape)
        return buf

    def __call__(self, logits: np.ndarray, target: np.ndarray) -> float | np.ndarray:
        return self.forward(logits, target)

    def forward(self, logits: np.ndarray, target: np.ndarray) -> float | np.ndarray:
        if not isinstance(logits, np.ndarray) or logits.dtype != np.float32 or logits.ndim != 2:
            raise ValueError(f"CrossEntropyLoss: expected float32 logits of shape (N, K), got "
                             f"{getattr(logits, 'dtype', type(logits).__name__)} {getattr(logits, 'shape', '')}")
        n, k = logits.shape
        target = np.asarray(target)
        if target.shape != (n,) or not np.issubdtype(target.dtype, np.integer):
            raise ValueError(f"CrossEntropyLoss: expected integer class targets of shape ({n},), got "
                             f"{target.dtype} {target.shape}")
        if n and (target.min() < 0 or target.max() >= k):
            raise ValueError(f"CrossEntropyLoss: targets must lie in [0, {k}), got range "
                             f"[{target.min()}, {target.max()}]")
        losses = self._buffer("losses", (n,))
        self._probs = self._buffer("probs", (n, k))
        self._target = np.ascontiguousarray(target, dtype=np.int64)
        self.backend.k.softmax_cross_entropy_forward(losses, self._probs, np.ascontiguousarray(logits),
                                                     self._target)
        if self.reduction == "none":
            return losses.copy()
        total = float(losses.sum(dtype=np.float64))
        return total / n if self.reduction == "mean" else total

    def backward(self, grad: float = 1.0) -> np.ndarray:
        """dL/dlogits for the last forward call, times ``grad`` (the upstream scalar)."""
        n = self._probs.shape[0]
        scale = grad / n if self.reduction == "mean" else grad
        dlogits = self._buffer("dlogits", self._probs.shape)
        self.backend.k.softmax_cross_entropy_backward(dlogits, self._probs, self._target, float(scale))
        return dlogits
