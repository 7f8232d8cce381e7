"""What every CUDA launcher shares: grid sizes, the device-array check and a scratch-buffer cache.

Launchers (the public functions in ``kernels/cuda/*.py``) keep the CPU kernel's name and argument
order: outputs first, then inputs, then scalars. Every array argument must already live on the
device: a host NumPy array would make numba copy it in and out behind the caller's back on every
launch (DESIGN §7), so ``require_device`` turns that into a TypeError naming the kernel and argument.
"""

from __future__ import annotations

import os

import numpy as np
from numba import cuda

# The simulator (NUMBA_ENABLE_CUDASIM=1) runs one Python thread per CUDA thread, so it gets small blocks:
# the kernels are written for any power-of-two block size, and the same code is compiled to PTX with the
# GPU sizes (tests/kernels/test_cuda_ptx_*.py).
SIMULATOR = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
THREADS = 32 if SIMULATOR else 256  # threads per block of the 1-D (elementwise, per-row) kernels
TILE = 8 if SIMULATOR else 16  # side of the shared-memory tiles of the GEMM and transpose kernels

_scratch: dict[tuple, object] = {}


@cuda.jit(device=True)
def block_sum(buf, v):
    """Sum of ``v`` over a 1-D block of THREADS threads (a power of two) by a tree in the shared array ``buf``
    (THREADS,); every thread gets the total, and ``buf`` may be reused right after."""
    t = cuda.threadIdx.x
    buf[t] = v
    cuda.syncthreads()
    s = THREADS // 2
    while s > 0:
        if t < s:
            buf[t] += buf[t + s]
        cuda.syncthreads()
        s //= 2
    total = buf[0]
    cuda.syncthreads()
    return total


def blocks(n: int, threads: int = THREADS) -> int:
    """Blocks of ``threads`` threads that cover ``n`` items (at least one, so empty launches are valid)."""
    return max(1, -(-int(n) // threads))


def is_device_array(a) -> bool:
    """True for a numba device array (real or simulated) and any ``__cuda_array_interface__`` object."""
    return bool(getattr(a, "__cuda_ndarray__", False)) or hasattr(a, "__cuda_array_interface__")


def require_device(kernel: str, **arrays) -> None:
    """Raise TypeError when an array argument of ``kernel`` is not on the device (an implicit copy)."""
    for name, a in arrays.items():
        if a is not None and not is_device_array(a):
            raise TypeError(f"kernels.cuda.{kernel}: argument {name!r} is a host {type(a).__name__} "
                            f"(shape {getattr(a, 'shape', '?')}); move it with Backend('cuda').to_device "
                            f"first: implicit host<->device copies are not allowed")


def scratch(key: str, shape: tuple[int, ...], dtype=np.float32):
    """A device buffer cached by (key, shape, dtype): launchers' temporaries allocate once, then reuse."""
    k = (key, tuple(int(s) for s in shape), np.dtype(dtype).str)
    buf = _scratch.get(k)
    if buf is None:
        buf = _scratch[k] = device_array(k[1], dtype)
    return buf


def device_array(shape: tuple[int, ...], dtype=np.float32):
    """Allocate an uninitialised device array (the one allocation point of the launchers)."""
    return cuda.device_array(shape, dtype=dtype)
