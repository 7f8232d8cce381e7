"""Whole-buffer elementwise ops (formulas and shapes: kernels/reference/elementwise.py): fill, add, copy.

Serial loops over 1-D C-contiguous arrays, indexed with ``np.uint64`` so LLVM vectorizes them (see
kernels/cpu/optim.py). They are memory-bound: a prange twin measured no faster on the 2-core dev
machine, so there is none.
"""

import numpy as np

from kernels.cpu._jit import jit

__all__ = ["fill", "add", "copy"]


@jit
def fill(x, value):
    v = x.dtype.type(value)
    for i in range(np.uint64(x.size)):
        x[i] = v


@jit
def add(out, a, b):
    for i in range(np.uint64(out.size)):
        out[i] = a[i] + b[i]


@jit
def copy(out, x):
    for i in range(np.uint64(out.size)):
        out[i] = x[i]
