"""Where arrays live and which kernels run on them (DESIGN §1).

``Backend("cpu")`` allocates NumPy arrays and runs ``kernels.cpu``. Layers allocate only through
their backend, so the CUDA backend (device arrays + ``kernels.cuda``) slots in without layer changes.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np

import kernels


class Backend:
    """Allocation, host/device transfer and the kernel module of one compute device."""

    def __init__(self, name: str = "cpu") -> None:
        if name != "cpu":
            raise ValueError(f"unknown backend {name!r}: this build supports 'cpu' (CUDA kernels are not "
                             f"implemented yet)")
        self.name = name
        self.k: ModuleType = kernels.get(name)

    def empty(self, shape: tuple[int, ...], dtype=np.float32) -> np.ndarray:
        return np.empty(shape, dtype=dtype)

    def zeros(self, shape: tuple[int, ...], dtype=np.float32) -> np.ndarray:
        return np.zeros(shape, dtype=dtype)

    def to_device(self, array: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(array)

    def to_host(self, array: np.ndarray) -> np.ndarray:
        return np.asarray(array)

    def num_threads(self) -> int:
        """Threads the kernels split work over (numba's thread count; BLAS runs one thread per chunk)."""
        return self.k.num_threads()

    def synchronize(self) -> None:
        """Wait for queued work (a no-op on the CPU)."""

    def __repr__(self) -> str:
        return f"Backend({self.name!r})"


CPU = Backend("cpu")
