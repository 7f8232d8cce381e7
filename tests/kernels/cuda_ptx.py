"""Compile CUDA kernels to PTX without a GPU, through their launchers (the non-simulator tier).

The simulator runs kernels as Python, so it cannot catch what only the real compiler rejects
(untyped helpers, NumPy calls inside a kernel, float64 literals forcing double math, shared arrays
of non-constant size). ``ptx_launches`` (a fixture in the CUDA PTX tests) makes every launch
``kernel[grid, block](*args)`` compile the kernel for the argument types instead of running it:
arrays are simulator arrays (``dev(a)``) that carry the real device-array numba type, so the types
compiled are exactly those a real launch would specialize on. Needs NVVM/NVRTC (the ``cuda`` extra's
wheels); skipped with that reason when they are absent.
"""

from __future__ import annotations

from types import SimpleNamespace

import numba
import numba.cuda.dispatcher
import numpy as np
import pytest
from numba import cuda
from numba.cuda.dispatcher import CUDADispatcher
from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray

import kernels.cuda._launch as launch

CC = (8, 0)


def dev(a) -> FakeCUDAArray:
    """A stand-in device array with the same numba type as ``cuda.to_device(a)``."""
    return FakeCUDAArray(np.ascontiguousarray(a))


def _nvvm_available() -> str | None:
    def probe(y):
        y[0] = 1.0
    try:
        cuda.compile_ptx(probe, (numba.float32[::1],), cc=CC)
    except Exception as e:  # noqa: BLE001  (the CUDA toolchain wheels are missing: say which library)
        return f"{type(e).__name__}: {e}".splitlines()[0]
    return None


@pytest.fixture
def ptx_launches(monkeypatch):
    """Turn kernel launches into PTX compilation; yields the list of (kernel name, arg types) compiled."""
    missing = _nvvm_available()
    if missing:
        pytest.skip(f"no NVVM/NVRTC to compile PTX (pip install 'numba-cuda[cu12]'): {missing}")
    compiled: list[tuple[str, tuple]] = []
    seen: set = set()

    def getitem(self, config):
        def compile_launch(*args):
            sig = tuple(numba.typeof(a, numba.core.typing.typeof.Purpose.argument) for a in args)
            if (self.py_func, sig) not in seen:
                cuda.compile_ptx(self.py_func, sig, cc=CC)
                seen.add((self.py_func, sig))
                compiled.append((self.py_func.__name__, sig))
        return compile_launch

    monkeypatch.setattr(CUDADispatcher, "__getitem__", getitem)
    # typing a call to a @cuda.jit(device=True) helper asks the current device for its compute capability
    monkeypatch.setattr(numba.cuda.dispatcher, "get_current_device", lambda: SimpleNamespace(compute_capability=CC))
    monkeypatch.setattr(launch, "device_array", lambda shape, dtype=np.float32: dev(np.zeros(shape, dtype)))
    monkeypatch.setattr(launch, "_scratch", {})
    yield compiled
