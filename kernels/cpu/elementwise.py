"""Whole-buffer elementwise ops (formulas and shapes: kernels/reference/elementwise.py): fill, add, copy.

Loops over 1-D C-contiguous arrays, indexed with ``np.uint64`` or over slices from 0 so LLVM vectorizes them
(see kernels/cpu/optim.py). They are memory-bound: fill and copy stay serial (a prange twin measured no faster
on the 2-core dev machine, its wake-up costing what the second core saves); add (the residual sum) splits into
chunks on kernels/cpu/_threads.py workers above SERIAL_MAX elements: 800k floats 103 -> 66 us.
"""

import numpy as np

from kernels.cpu._jit import jit
from kernels.cpu._threads import chunk_count, chunk_span, release_workers, run_chunks

SERIAL_MAX = 1 << 16

__all__ = ["fill", "add", "copy"]


@jit
def fill(x, value):
    v = x.dtype.type(value)
    for i in range(np.uint64(x.size)):
        x[i] = v


def add(out, a, b):
    nchunks = chunk_count(out.size, out.size, SERIAL_MAX)
    run_chunks(_add_chunk, (out, a, b, nchunks), nchunks)


@jit
def _add_chunk(out, a, b, nchunks, t, sync):
    release_workers(sync, t)
    i0, i1 = chunk_span(out.size, nchunks, t)
    o, x, y = out[i0:i1], a[i0:i1], b[i0:i1]
    for i in range(o.size):
        o[i] = x[i] + y[i]


@jit
def copy(out, x):
    for i in range(np.uint64(out.size)):
        out[i] = x[i]
