"""Global-norm reductions and in-place rescaling over the segments of a flat buffer on the GPU (formulas
and shapes: kernels/reference/reduce.py; argument order: kernels/cpu/reduce.py).

The buffer is walked in chunks of ``CHUNK`` elements with the segment lookup of kernels/cuda/optim.py
(a per-block list of the segments meeting the chunk), so frozen stretches are never read or written.
``scale``/``clip_value``: one block per chunk, one launch. Reductions (float64 accumulation): a
grid-stride pass over the chunks by at most ``PARTIALS`` blocks, each reducing its elements in shared
memory to one partial, then a one-block launch that reduces the partials into ``out[0]`` in a fixed
order (deterministic; no atomics on ``out``). ``*_parallel`` names are the same launchers.
"""

import math

import numba
import numpy as np
from numba import cuda

from kernels.cuda._launch import THREADS, blocks, require_device, scratch
from kernels.cuda.optim import CHUNK, PER_THREAD, _block_chunk, _chunk_segments, _element, _nanmax, _segment_of

__all__ = ["sumsq", "sum_abs_pow", "absmax", "scale", "clip_value", "sumsq_parallel", "scale_parallel",
           "clip_value_parallel"]

PARTIALS = 1024  # most blocks of a reduction pass (and the length of its partials scratch buffer)
SUM, MAX = 0, 1  # reduction ops
LANES = 16  # threads of the second level of _block_reduce (THREADS is a multiple)


@cuda.jit(device=True)
def _combine(a, b, op):
    """a + b (SUM) or the NaN-propagating max (MAX)."""
    return a + b if op == SUM else _nanmax(a, b)


@cuda.jit(device=True)
def _block_reduce(sh, v, op):
    """Reduce every thread's v over the block through the shared float64 (THREADS,) array sh in two levels
    (LANES threads combine LANES values each, then thread 0 combines theirs: 2 barriers instead of the 8 of a
    binary tree); the result is valid in thread 0 only."""
    t = cuda.threadIdx.x
    sh[t] = v
    cuda.syncthreads()
    if t < LANES:
        acc = sh[t]
        for k in range(1, THREADS // LANES):
            acc = _combine(acc, sh[t + k * LANES], op)  # lanes read adjacent words: no bank conflicts
        sh[t] = acc  # only lane t reads sh[t] (its k = 0 term)
    cuda.syncthreads()
    acc = sh[0]
    if t == 0:
        for k in range(1, LANES):
            acc = _combine(acc, sh[k], op)
    return acc


@cuda.jit
def _partial_kernel(partial, x, seg_start, seg_end, p, op):
    """partial[block] = this block's sum of |x_i|^p (op SUM; p = 2 squares, p = 1 abs) or max |x_i| (op MAX)
    in float64 over the elements of its chunks (blockIdx.x, + gridDim.x, ...) that lie in a segment; x (N,),
    partial float64 (PARTIALS,)."""
    lst = cuda.shared.array(CHUNK, numba.int32)
    cnt = cuda.shared.array(1, numba.int32)
    sh = cuda.shared.array(THREADS, numba.float64)
    n = x.size
    acc = 0.0
    for c in range(cuda.blockIdx.x, (n + CHUNK - 1) // CHUNK, cuda.gridDim.x):
        a = numba.int64(c) * CHUNK
        b = min(a + CHUNK, n)
        m = _chunk_segments(seg_start, seg_end, a, b, lst, cnt)
        for j in range(PER_THREAD):
            i = _element(a, j)
            if _segment_of(i, b, seg_start, seg_end, lst, m) >= 0:
                v = abs(numba.float64(x[i]))
                if op == MAX:
                    acc = _nanmax(acc, v)
                elif p == 2.0:
                    acc += v * v
                elif p == 1.0:
                    acc += v
                else:
                    acc += math.pow(v, p)
        cuda.syncthreads()  # every thread is done with this chunk's segment list
    total = _block_reduce(sh, acc, op)
    if cuda.threadIdx.x == 0:
        partial[cuda.blockIdx.x] = total


@cuda.jit
def _finish_kernel(out, partial, nparts, op):
    """out[0] = the SUM or MAX of partial[:nparts] (one block; float64)."""
    sh = cuda.shared.array(THREADS, numba.float64)
    acc = 0.0
    for k in range(cuda.threadIdx.x, nparts, THREADS):
        acc = _combine(acc, partial[k], op)
    total = _block_reduce(sh, acc, op)
    if cuda.threadIdx.x == 0:
        out[0] = total


def _reduce(kernel, out, x, seg_start, seg_end, p, op):
    require_device(kernel, out=out, x=x, seg_start=seg_start, seg_end=seg_end)
    nparts = min(blocks(x.size, CHUNK), PARTIALS)
    partial = scratch("reduce.partial", (PARTIALS,), np.float64)
    _partial_kernel[nparts, THREADS](partial, x, seg_start, seg_end, float(p), op)
    _finish_kernel[1, THREADS](out, partial, nparts, op)


def sumsq(out, x, seg_start, seg_end):
    _reduce("sumsq", out, x, seg_start, seg_end, 2.0, SUM)


def sum_abs_pow(out, x, seg_start, seg_end, p):
    _reduce("sum_abs_pow", out, x, seg_start, seg_end, p, SUM)


def absmax(out, x, seg_start, seg_end):
    _reduce("absmax", out, x, seg_start, seg_end, 1.0, MAX)


@cuda.jit
def _scale_kernel(x, seg_start, seg_end, s):
    """x_i *= s (s in x's dtype) for the elements of x (N,) inside a segment."""
    lst = cuda.shared.array(CHUNK, numba.int32)
    cnt = cuda.shared.array(1, numba.int32)
    a, b, m = _block_chunk(x.size, seg_start, seg_end, lst, cnt)
    for j in range(PER_THREAD):
        i = _element(a, j)
        if _segment_of(i, b, seg_start, seg_end, lst, m) >= 0:
            x[i] *= s


def scale(x, seg_start, seg_end, s):
    require_device("scale", x=x, seg_start=seg_start, seg_end=seg_end)
    _scale_kernel[blocks(x.size, CHUNK), THREADS](x, seg_start, seg_end, x.dtype.type(s))


@cuda.jit
def _clip_kernel(x, seg_start, seg_end, lo, hi):
    """x_i = min(max(x_i, lo), hi) for the elements of x (N,) inside a segment; NaN stays NaN."""
    lst = cuda.shared.array(CHUNK, numba.int32)
    cnt = cuda.shared.array(1, numba.int32)
    a, b, m = _block_chunk(x.size, seg_start, seg_end, lst, cnt)
    for j in range(PER_THREAD):
        i = _element(a, j)
        if _segment_of(i, b, seg_start, seg_end, lst, m) >= 0:
            v = x[i]
            x[i] = hi if v > hi else (lo if v < lo else v)


def clip_value(x, seg_start, seg_end, c):
    require_device("clip_value", x=x, seg_start=seg_start, seg_end=seg_end)
    _clip_kernel[blocks(x.size, CHUNK), THREADS](x, seg_start, seg_end, x.dtype.type(-c), x.dtype.type(c))


sumsq_parallel = sumsq  # a GPU launch is always parallel
scale_parallel = scale
clip_value_parallel = clip_value
