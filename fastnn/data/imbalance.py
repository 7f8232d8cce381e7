"""Class imbalance: balanced class weights for the loss, and under/over-sampling index samplers.

class_weight("balanced"): w_c = N / (K * n_c) (scikit-learn's definition; mean weight over samples 1).
Samplers return a shuffled index array to train on: undersample keeps min_c n_c samples of every
class; oversample draws (with replacement) extra samples of minority classes up to max_c n_c.
"""

from __future__ import annotations

import numpy as np

from .split import as_generator


def _counts(labels: np.ndarray, num_classes: int | None) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer) or (labels.size and labels.min() < 0):
        raise ValueError(f"expected non-negative integer labels of shape (N,), got {labels.dtype} {labels.shape}")
    k = num_classes if num_classes is not None else int(labels.max()) + 1
    return np.bincount(labels, minlength=k)


def class_weight(labels: np.ndarray, mode: str = "balanced", num_classes: int | None = None) -> np.ndarray:
    """float32 per-class weights for CrossEntropyLoss(weight=...); classes absent from labels get 0."""
    if mode != "balanced":
        raise ValueError(f"class_weight: mode must be 'balanced', got {mode!r}")
    counts = _counts(labels, num_classes)
    present = counts > 0
    weights = np.zeros(len(counts), dtype=np.float64)
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return weights.astype(np.float32)


def undersample(labels: np.ndarray, rng: np.random.Generator | int | None = 0) -> np.ndarray:
    """Indices with every present class cut (at random) to the smallest class's count, shuffled."""
    rng = as_generator(rng)
    labels = np.asarray(labels)
    counts = _counts(labels, None)
    keep = counts[counts > 0].min()
    idx = np.concatenate([rng.choice(np.flatnonzero(labels == c), keep, replace=False)
                          for c in np.flatnonzero(counts)])
    return rng.permutation(idx)


def oversample(labels: np.ndarray, rng: np.random.Generator | int | None = 0) -> np.ndarray:
    """Indices with every present class topped up (drawn with replacement) to the largest count, shuffled."""
    rng = as_generator(rng)
    labels = np.asarray(labels)
    counts = _counts(labels, None)
    target = counts.max()
    parts = []
    for c in np.flatnonzero(counts):
        members = np.flatnonzero(labels == c)
        parts.append(np.concatenate([members, rng.choice(members, target - len(members), replace=True)]))
    return rng.permutation(np.concatenate(parts))
