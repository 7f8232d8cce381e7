"""Dropout: apply a precomputed keep-mask and a scale (the layer draws the mask from its seeded Generator).

dropout:   y = x * mask * scale;   dx = dy * mask * scale          x, y, dx, dy, mask (n,)
dropout2d: the same with one mask entry per (sample, channel) row:  x, y (R, L), mask (R,)
mask is uint8 (0 = dropped, 1 = kept); scale = 1/(1-p) for inverted dropout, 1 for the textbook
variant (which scales by 1-p at inference instead).
dropout_mask draws the keep-mask itself, with no host Generator (a GPU mask never leaves the device): a
counter-based hash of (seed, counter, element index), bit-identical on every backend (see its docstring).
"""

import numpy as np

__all__ = ["dropout_forward", "dropout_backward", "dropout2d_forward", "dropout2d_backward", "dropout_mask"]


def dropout_forward(y, mask, x, scale):
    y[...] = x * (mask * scale)


def dropout_backward(dx, dy, mask, scale):
    dx[...] = dy * (mask * scale)


def dropout2d_forward(y, mask, x, scale):
    y[...] = x * (mask * scale)[:, None]


def dropout2d_backward(dx, dy, mask, scale):
    dx[...] = dy * (mask * scale)[:, None]


# --------------------------------------------------------------------------- counter-based mask RNG
_GAMMA = np.uint64(0x9E3779B97F4A7C15)  # splitmix64's increment (2^64 / golden ratio, odd)
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_MASK64 = (1 << 64) - 1


def _mix64(z):
    """splitmix64's finalizer on a uint64 array (products wrap mod 2^64)."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def dropout_mask(mask, p, seed, counter):
    """mask[i] = 1 (keep) iff u_i >= p, u_i = (h_i >> 40) / 2^24 uniform in [0, 1) from the counter-based hash
    h_i = mix64(key + (i + 1) G), key = mix64(mix64(seed) + (counter + 1) G) (splitmix64: G its odd increment,
    mix64 its finalizer; uint64 arithmetic mod 2^64; seed and counter taken mod 2^64). mask uint8 (n,).
    Any (seed, counter, i) gives the same bit on every backend; p = 0 keeps all, p = 1 drops all."""
    s = np.array([int(seed) & _MASK64], dtype=np.uint64)
    c = np.array([int(counter) & _MASK64], dtype=np.uint64)
    key = _mix64(_mix64(s) + (c + np.uint64(1)) * _GAMMA)
    h = _mix64(key + np.arange(1, mask.size + 1, dtype=np.uint64) * _GAMMA)
    u = (h >> np.uint64(40)).astype(np.float64) * 2.0 ** -24
    mask[...] = u >= p
