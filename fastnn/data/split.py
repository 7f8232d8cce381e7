"""Stratified splits and the standard MNIST preprocessing (float32 NCHW, scaled, standardized)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np

__all__ = ["MNIST_MEAN", "MNIST_STD", "as_generator", "stratified_split", "train_val_test"]

MNIST_MEAN = 0.1307
MNIST_STD = 0.3081


def as_generator(rng: np.random.Generator | int | None) -> np.random.Generator:
    """Return ``rng`` itself if it is a Generator, else ``np.random.default_rng(rng)``."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (isinstance(rng, numbers.Integral) and not isinstance(rng, bool)):
        return np.random.default_rng(rng)
    raise TypeError(f"rng: expected a numpy Generator, an int seed or None, got {type(rng).__name__}")


def _check_fractions(fractions: Sequence[float]) -> list[float]:
    fr = [float(f) for f in fractions]
    if not fr:
        raise ValueError("fractions: expected at least one fraction, got none")
    for f in fr:
        if not (math.isfinite(f) and f > 0):
            raise ValueError(f"fractions: expected finite values > 0, got {tuple(fr)}")
    total = math.fsum(fr)
    if total > 1 + 1e-9:
        raise ValueError(f"fractions: expected a sum <= 1, got {total!r} for {tuple(fr)}")
    return fr


def stratified_split(
    labels: np.ndarray,
    fractions: Sequence[float] = (0.7, 0.2, 0.1),
    rng: np.random.Generator | int = 0,
) -> tuple[np.ndarray, ...]:
    """Split sample indices into one shuffled int64 index array per fraction, stratified by label.

    Each class's indices are shuffled and cut at the rounded cumulative fractions, so every part
    gets round-to-within-one-sample of its share of every class and, when the fractions sum to 1,
    every index lands in exactly one part.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels: expected a 1-D array, got shape {labels.shape}")
    fr = _check_fractions(fractions)
    gen = as_generator(rng)
    cum = np.cumsum(fr)
    if abs(cum[-1] - 1.0) <= 1e-9:
        cum[-1] = 1.0
    cum = np.minimum(cum, 1.0)

    order = np.argsort(labels, kind="stable")
    _, counts = np.unique(labels, return_counts=True)
    parts: list[list[np.ndarray]] = [[] for _ in fr]
    start = 0
    for n_c in counts:
        idx = gen.permutation(order[start : start + n_c])
        start += n_c
        # Round half up at each cumulative boundary: the per-class counts add up exactly.
        bounds = np.floor(cum * n_c + 0.5).astype(np.int64)
        lo = 0
        for k, hi in enumerate(bounds):
            parts[k].append(idx[lo:hi])
            lo = hi
    return tuple(
        gen.permutation(np.concatenate(p).astype(np.int64, copy=False)) if p else np.empty(0, np.int64)
        for p in parts
    )


def _preprocess(images: np.ndarray, normalize: bool | tuple[float, float]) -> np.ndarray:
    if normalize is True:
        mean, std = MNIST_MEAN, MNIST_STD
    elif normalize is False or normalize is None:
        mean, std = 0.0, 1.0
    else:
        mean, std = (float(v) for v in normalize)
    if images.dtype == np.uint8:
        # One lookup table, computed in float64: one pass over the data, no float64 temporaries.
        lut = ((np.arange(256, dtype=np.float64) / 255.0 - mean) / std).astype(np.float32)
        return lut[images]
    if np.issubdtype(images.dtype, np.integer):
        x = images.astype(np.float32) / np.float32(255.0)
    elif np.issubdtype(images.dtype, np.floating):  # taken as already scaled to [0, 1]
        x = images.astype(np.float32, copy=True)
    else:
        raise TypeError(f"images: expected an integer or floating dtype, got {images.dtype}")
    if mean != 0.0 or std != 1.0:
        x -= np.float32(mean)
        x /= np.float32(std)
    return np.ascontiguousarray(x)


def train_val_test(
    images: np.ndarray,
    labels: np.ndarray,
    fractions: Sequence[float] = (0.7, 0.2, 0.1),
    seed: np.random.Generator | int = 0,
    normalize: bool | tuple[float, float] = True,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Stratified train/val/test split, preprocessed: ``{"train": (x, y), "val": ..., "test": ...}``.

    ``x`` is float32 NCHW ((N, 28, 28) input gets a channel axis; 4-D input is kept), integer
    images scaled by 1/255 (float images are taken as already in [0, 1]), then, if ``normalize``,
    standardized with ``MNIST_MEAN``/``MNIST_STD`` (or a given ``(mean, std)``). ``y`` is int64.
    """
    images = np.asarray(images)
    labels = np.asarray(labels)
    if len(tuple(fractions)) != 3:
        raise ValueError(f"fractions: expected 3 values (train, val, test), got {tuple(fractions)}")
    if images.ndim == 3:
        images = images[:, None, :, :]
    elif images.ndim != 4:
        raise ValueError(f"images: expected (N, H, W) or (N, C, H, W), got shape {images.shape}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(f"labels: expected shape ({len(images)},) to match images, got {labels.shape}")
    splits = stratified_split(labels, fractions, seed)
    out = {}
    for name, idx in zip(("train", "val", "test"), splits, strict=True):
        out[name] = (_preprocess(images[idx], normalize), labels[idx].astype(np.int64))
    return out
