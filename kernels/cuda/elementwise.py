"""Whole-buffer elementwise ops on the GPU (formulas and shapes: kernels/reference/elementwise.py):
fill (zero_grad), add (residual adds; out may be a or b), copy (buffer copies).

One thread per element over 1-D C-contiguous arrays (adjacent threads, adjacent elements: coalesced),
one launch per call; ``value`` is cast to x's dtype on the host.
"""

from numba import cuda

from kernels.cuda._launch import THREADS, blocks, require_device

__all__ = ["fill", "add", "copy"]


@cuda.jit
def _fill_kernel(x, value):
    """x_i = value for x (N,); value in x's dtype."""
    i = cuda.grid(1)
    if i < x.size:
        x[i] = value


def fill(x, value):
    require_device("fill", x=x)
    _fill_kernel[blocks(x.size), THREADS](x, x.dtype.type(value))


@cuda.jit
def _add_kernel(out, a, b):
    """out_i = a_i + b_i for out, a, b (N,) (out may alias a or b: each thread reads before it writes)."""
    i = cuda.grid(1)
    if i < out.size:
        out[i] = a[i] + b[i]


def add(out, a, b):
    require_device("add", out=out, a=a, b=b)
    _add_kernel[blocks(out.size), THREADS](out, a, b)


@cuda.jit
def _copy_kernel(out, x):
    """out_i = x_i for out, x (N,)."""
    i = cuda.grid(1)
    if i < out.size:
        out[i] = x[i]


def copy(out, x):
    require_device("copy", out=out, x=x)
    _copy_kernel[blocks(out.size), THREADS](out, x)
