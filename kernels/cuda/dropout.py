"""Dropout on the GPU (formulas: kernels/reference/dropout.py).

dropout: x, y, dx, dy, mask (n,) (mask uint8); dropout2d: x, y (R, L), mask (R,). One thread per element,
one launch per call; ``scale`` is cast to the data's dtype on the host. dropout_mask fills mask (n,) from the
counter-based splitmix64 hash of the reference (uint64 arithmetic wraps mod 2^64 on the GPU as in NumPy), so
a training step draws its masks without a host Generator or a host copy.
"""

import numba
import numpy as np
from numba import cuda

from kernels.cuda._launch import THREADS, blocks, require_device

__all__ = ["dropout_forward", "dropout_backward", "dropout2d_forward", "dropout2d_backward", "dropout_mask"]

_GAMMA = np.uint64(0x9E3779B97F4A7C15)  # splitmix64's increment and finalizer constants (as the reference)
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_S27, _S30, _S31, _S40 = np.uint64(27), np.uint64(30), np.uint64(31), np.uint64(40)
_ONE = np.uint64(1)
_INV_2_24 = 2.0 ** -24
_MASK64 = (1 << 64) - 1


@cuda.jit
def _dropout_kernel(out, inp, mask, scale):
    """out = inp * (mask * scale); out, inp, mask (n,)."""
    i = cuda.grid(1)
    if i < inp.size:
        out[i] = inp[i] * (mask[i] * scale)


@cuda.jit
def _dropout2d_kernel(out, inp, mask, scale):
    """out[r, j] = inp[r, j] * (mask[r] * scale); out, inp (R, L), mask (R,)."""
    i = cuda.grid(1)
    if i < inp.size:
        width = inp.shape[1]
        r = i // width
        j = i - r * width
        out[r, j] = inp[r, j] * (mask[r] * scale)


@cuda.jit(device=True)
def _mix64(z):
    """splitmix64's finalizer (uint64 in, uint64 out; every constant uint64 so nothing promotes to float)."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@cuda.jit
def _dropout_mask_kernel(mask, p, seed, counter):
    """mask[i] = 1 iff (h_i >> 40) / 2^24 >= p, h_i = mix64(key + (i + 1) G),
    key = mix64(mix64(seed) + (counter + 1) G); mask uint8 (n,), seed and counter uint64."""
    i = cuda.grid(1)
    if i < mask.size:
        key = _mix64(_mix64(seed) + (counter + _ONE) * _GAMMA)
        h = _mix64(key + (numba.uint64(i) + _ONE) * _GAMMA)
        mask[i] = 1 if (h >> _S40) * _INV_2_24 >= p else 0


def _grid(a):
    return blocks(a.size), THREADS


def dropout_forward(y, mask, x, scale):
    require_device("dropout_forward", y=y, mask=mask, x=x)
    _dropout_kernel[_grid(x)](y, x, mask, x.dtype.type(scale))


def dropout_backward(dx, dy, mask, scale):
    require_device("dropout_backward", dx=dx, dy=dy, mask=mask)
    _dropout_kernel[_grid(dy)](dx, dy, mask, dy.dtype.type(scale))


def dropout2d_forward(y, mask, x, scale):
    require_device("dropout2d_forward", y=y, mask=mask, x=x)
    _dropout2d_kernel[_grid(x)](y, x, mask, x.dtype.type(scale))


def dropout2d_backward(dx, dy, mask, scale):
    require_device("dropout2d_backward", dx=dx, dy=dy, mask=mask)
    _dropout2d_kernel[_grid(dy)](dx, dy, mask, dy.dtype.type(scale))


def dropout_mask(mask, p, seed, counter):
    require_device("dropout_mask", mask=mask)
    _dropout_mask_kernel[_grid(mask)](mask, float(p), np.uint64(int(seed) & _MASK64),
                                      np.uint64(int(counter) & _MASK64))
