"""Host<->device helpers for the CUDA tier (explicit copies only)."""

import numpy as np
from numba import cuda


def dev(a):
    """Copy a host array to the device (C-contiguous)."""
    return cuda.to_device(np.ascontiguousarray(a))


def host(d) -> np.ndarray:
    """Copy a device array back to the host."""
    cuda.synchronize()
    return d.copy_to_host()


def empty_like(a, dtype=None):
    """An uninitialised device array with ``a``'s shape; filled with NaN so unwritten outputs show."""
    dtype = np.dtype(dtype or a.dtype)
    fill = np.full(a.shape, np.nan, dtype) if dtype.kind == "f" else np.zeros(a.shape, dtype)
    return cuda.to_device(fill)
