"""Seeded batch augmentation on the augment kernels (kernels/cpu/augment.py): random shift (zero-pad +
crop), horizontal flip, small rotation, Gaussian noise, and mixup. Every random choice comes from one
np.random.Generator, so the same seed gives the same augmented batches.

    aug = Augment(shift=2, rotate=10, rng=0)      # shift up to +-2 px, rotate up to +-10 degrees
    fastnn.fit(model, loss, opt, data, augment=aug)
"""

from __future__ import annotations

import math

import numpy as np

from .split import as_generator


class Augment:
    """Callable ``xb -> augmented xb`` (float32 NCHW); returns a buffer reused across calls."""

    def __init__(self, shift: int = 0, flip: bool = False, rotate: float = 0.0, noise: float = 0.0,
                 rng: np.random.Generator | int | None = 0, backend=None) -> None:
        if shift < 0 or rotate < 0 or noise < 0:
            raise ValueError(f"Augment: shift, rotate and noise must be >= 0, got {shift}, {rotate}, {noise}")
        from fastnn.backend import CPU

        self.shift, self.flip, self.rotate, self.noise = int(shift), bool(flip), float(rotate), float(noise)
        self.rng = as_generator(rng)
        self.k = (backend or CPU).k
        self._bufs: dict[str, np.ndarray] = {}

    def _buf(self, key: str, like: np.ndarray) -> np.ndarray:
        b = self._bufs.get(key)
        if b is None or b.shape != like.shape:
            b = self._bufs[key] = np.empty_like(like)
        return b

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if not isinstance(x, np.ndarray) or x.dtype != np.float32 or x.ndim != 4:
            raise ValueError(f"Augment: expected a float32 (N, C, H, W) batch, got "
                             f"{getattr(x, 'dtype', type(x).__name__)} {getattr(x, 'shape', '')}")
        x = np.ascontiguousarray(x)
        n = len(x)
        src, dst = x, self._buf("a", x)
        if self.shift:
            d = self.rng.integers(-self.shift, self.shift + 1, size=(2, n)).astype(np.int64)
            self.k.shift_forward(dst, src, d[0], d[1])
            src, dst = dst, self._buf("b", x)
        if self.flip:
            self.k.hflip_forward(dst, src, self.rng.integers(0, 2, n).astype(np.int64))
            src, dst = dst, (self._buf("a", x) if dst is self._bufs.get("b") else self._buf("b", x))
        if self.rotate:
            angles = np.radians(self.rng.uniform(-self.rotate, self.rotate, n))
            self.k.rotate_forward(dst, src, angles)
            src, dst = dst, (self._buf("a", x) if dst is self._bufs.get("b") else self._buf("b", x))
        if self.noise:
            self.k.noise_forward(dst, src, self.rng.standard_normal(x.shape, dtype=np.float32), self.noise)
            src = dst
        return src if src is not x else x.copy()


def mixup(x: np.ndarray, y: np.ndarray, num_classes: int, alpha: float = 0.2,
          rng: np.random.Generator | int | None = 0, backend=None) -> tuple[np.ndarray, np.ndarray, float]:
    """Mix a batch with a shuffled copy of itself (Zhang et al. 2018): lam ~ Beta(alpha, alpha);
    returns (mixed inputs, soft labels (N, K) float32, lam)."""
    from fastnn.backend import CPU

    rng = as_generator(rng)
    if alpha <= 0:
        raise ValueError(f"mixup: alpha must be > 0, got {alpha}")
    y = np.asarray(y)
    if y.shape != (len(x),) or y.min() < 0 or y.max() >= num_classes:
        raise ValueError(f"mixup: expected integer labels (N,) in [0, {num_classes}), got {y.dtype} {y.shape}")
    lam = float(rng.beta(alpha, alpha))
    perm = rng.permutation(len(x)).astype(np.int64)
    onehot = np.eye(num_classes, dtype=np.float32)[y]
    out_x, out_y = np.empty_like(x), np.empty_like(onehot)
    (backend or CPU).k.mixup_forward(out_x, out_y, np.ascontiguousarray(x), onehot, perm, lam)
    assert math.isfinite(lam)
    return out_x, out_y, lam
