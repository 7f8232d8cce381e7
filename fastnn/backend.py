"""Where arrays live and which kernels run on them (DESIGN §1, §7).

``Backend("cpu")`` allocates NumPy arrays and runs ``kernels.cpu``; ``Backend("cuda")`` allocates
numba device arrays and runs ``kernels.cuda`` (``NUMBA_ENABLE_CUDASIM=1`` gives the simulator).
Layers, losses and optimizers allocate and move data only through their backend, so one training
step runs on the device with only scalars (the loss, the correct count) copied back.

Every ``numba.cuda`` import of the fastnn package is in this file (DESIGN §7).
"""

from __future__ import annotations

import os
from types import ModuleType

import numpy as np

import kernels

DEVICES = ("cpu", "cuda")


def cuda_unavailable_reason() -> str | None:
    """None when CUDA kernels can run here (a GPU, or the simulator); otherwise why not, in words."""
    try:
        from numba import cuda
    except ImportError:
        return "numba-cuda is not installed (pip install 'fastnn[cuda]')"
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        return None
    error = cuda.cuda_error()
    if error is not None:
        return f"the CUDA driver could not be loaded ({' '.join(str(error).split())}); is an NVIDIA driver installed?"
    if not cuda.is_available() or len(cuda.gpus) == 0:
        return "the NVIDIA driver loaded but reports no usable CUDA device"
    return None


def is_device_array(a) -> bool:
    """True for a numba device array (real or simulated)."""
    return bool(getattr(a, "__cuda_ndarray__", False))


def to_numpy(a) -> np.ndarray:
    """A host copy of ``a`` (a NumPy array or a device array)."""
    return a.copy_to_host() if is_device_array(a) else np.array(a, copy=True)


def assign(target, value) -> None:
    """``target[...] = value`` for a NumPy or device ``target`` and a host ``value``."""
    if is_device_array(target):
        host = np.ascontiguousarray(np.broadcast_to(value, target.shape), dtype=target.dtype)
        target.reshape(-1).copy_to_device(host.reshape(-1))
    else:
        target[...] = value


class Backend:
    """Allocation, host/device transfer and the kernel module of one compute device.

    ``Backend("cpu")`` / ``Backend("cuda")`` (the latter raises RuntimeError saying why CUDA is not
    usable here). Array helpers (``fill``, ``add``, ``copy``, ``sum``...) work on this backend's arrays.
    """

    name = "cpu"

    def __new__(cls, name: str = "cpu") -> Backend:
        if cls is Backend:
            if name not in DEVICES:
                raise ValueError(f"unknown device {name!r}; expected one of {DEVICES}")
            cls = CudaBackend if name == "cuda" else CpuBackend
        return super().__new__(cls)

    def __init__(self, name: str = "cpu") -> None:
        self.k: ModuleType = kernels.get(self.name)

    @property
    def is_cuda(self) -> bool:
        return self.name == "cuda"

    def __repr__(self) -> str:
        return f"Backend({self.name!r})"

    def __reduce__(self):  # pickles (and deep-copies) as the shared instance of its device
        return get_backend, (self.name,)


class CpuBackend(Backend):
    """NumPy arrays and the numba CPU kernels."""

    name = "cpu"
    cache_chunks = True  # layers split a batch into cache-sized chunks (kernels/cpu conv, linear)

    def empty(self, shape: tuple[int, ...], dtype=np.float32) -> np.ndarray:
        return np.empty(shape, dtype=dtype)

    def zeros(self, shape: tuple[int, ...], dtype=np.float32) -> np.ndarray:
        return np.zeros(shape, dtype=dtype)

    def to_device(self, array, out: np.ndarray | None = None) -> np.ndarray:
        if out is None:
            return np.ascontiguousarray(array)
        out[...] = array
        return out

    def to_host(self, array) -> np.ndarray:
        return np.asarray(array)

    def is_array(self, x) -> bool:
        return isinstance(x, np.ndarray)

    def contiguous(self, x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(x)

    def fill(self, x: np.ndarray, value: float) -> None:
        x.fill(value)

    def add(self, out: np.ndarray, a: np.ndarray, b: np.ndarray) -> None:
        if (out.shape == a.shape == b.shape and out.dtype == a.dtype == b.dtype
                and out.flags.c_contiguous and a.flags.c_contiguous and b.flags.c_contiguous):
            self.k.add(out.reshape(-1), a.reshape(-1), b.reshape(-1))   # both cores (kernels/cpu/elementwise.py)
        else:
            np.add(a, b, out=out)

    def copy(self, out: np.ndarray, x: np.ndarray) -> None:
        np.copyto(out, x)

    def clone(self, x: np.ndarray) -> np.ndarray:
        return x.copy()

    def sum(self, x: np.ndarray) -> float:
        return float(x.sum(dtype=np.float64))

    def count_correct(self, logits: np.ndarray, labels: np.ndarray) -> int:
        """Rows of ``logits`` (N, K) whose argmax equals the host ``labels`` (N,)."""
        return int((logits.argmax(axis=1) == labels).sum())

    def stage(self, x: np.ndarray, key: str) -> np.ndarray:
        """Host arrays are already where the CPU kernels run."""
        return x

    def num_threads(self) -> int:
        """Threads the kernels split work over (numba's thread count; BLAS runs one thread per chunk)."""
        return self.k.num_threads()

    def synchronize(self) -> None:
        """Wait for queued work (a no-op on the CPU)."""


class CudaBackend(Backend):
    """numba device arrays and the numba.cuda kernels; host batches go through a pinned staging buffer."""

    name = "cuda"
    cache_chunks = False  # one launch covers the whole batch

    def __init__(self, name: str = "cuda") -> None:
        why = cuda_unavailable_reason()
        if why is not None:
            raise RuntimeError(f"Backend('cuda'): CUDA is not usable here: {why}")
        from numba import cuda

        self._cuda = cuda
        super().__init__(name)
        self._pinned: dict[tuple, np.ndarray] = {}
        self._buffers: dict[str, object] = {}
        self._sum = cuda.reduce(lambda a, b: a + b)

    def empty(self, shape: tuple[int, ...], dtype=np.float32):
        return self._cuda.device_array(tuple(shape), dtype=dtype)

    def zeros(self, shape: tuple[int, ...], dtype=np.float32):
        out = self.empty(shape, dtype)
        if out.size:
            self.fill(out, 0)
        return out

    def to_device(self, array, out=None):
        """Copy a host array to the device through a reused pinned buffer (into ``out`` when given)."""
        if is_device_array(array):
            return array
        host = np.ascontiguousarray(array)
        key = (host.shape, host.dtype.str)
        staging = self._pinned.get(key)
        if staging is None:
            staging = self._pinned[key] = self._cuda.pinned_array(host.shape, dtype=host.dtype)
        np.copyto(staging, host)
        if out is None:
            return self._cuda.to_device(staging)
        out.copy_to_device(staging)
        return out

    def to_host(self, array) -> np.ndarray:
        return array.copy_to_host() if is_device_array(array) else np.asarray(array)

    def is_array(self, x) -> bool:
        return is_device_array(x)

    def contiguous(self, x):
        if not x.is_c_contiguous():
            raise ValueError(f"expected a C-contiguous device array, got strides {x.strides} for shape {x.shape}")
        return x

    def fill(self, x, value: float) -> None:
        self.k.fill(x.reshape(-1), value)

    def add(self, out, a, b) -> None:
        self.k.add(out.reshape(-1), a.reshape(-1), b.reshape(-1))

    def copy(self, out, x) -> None:
        self.k.copy(out.reshape(-1), x.reshape(-1))

    def clone(self, x):
        out = self.empty(x.shape, x.dtype)
        self.copy(out, x)
        return out

    def sum(self, x) -> float:
        return float(self._sum(x.reshape(-1))) if x.size else 0.0

    def count_correct(self, logits, labels: np.ndarray) -> int:
        """Rows of the device ``logits`` (N, K) whose argmax equals the host ``labels`` (N,): the labels go
        to the device, the count is reduced there and only that scalar comes back."""
        labels = np.ascontiguousarray(labels, dtype=np.int64)
        out = self._scratch("correct", (1,), np.int64)
        self.k.accuracy_count(out, logits, self.stage(labels, "labels"))
        return int(out.copy_to_host()[0])

    def stage(self, x: np.ndarray, key: str):
        """Host array ``x`` copied into this backend's reused device buffer ``key`` (one per shape and dtype;
        valid until the next ``stage`` with the same key)."""
        return self.to_device(x, out=self._scratch(key, x.shape, x.dtype))

    def _scratch(self, key: str, shape: tuple[int, ...], dtype):
        buf = self._buffers.get(key)
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            buf = self._buffers[key] = self.empty(shape, dtype)
        return buf

    def num_threads(self) -> int:
        """One: a launch covers the whole batch (layers then pass nchunks=1)."""
        return 1

    def synchronize(self) -> None:
        self._cuda.synchronize()


_BACKENDS: dict[str, Backend] = {}


def get_backend(device: str | Backend) -> Backend:
    """The shared Backend of ``device`` ("cpu" or "cuda"; a Backend is returned as is)."""
    if isinstance(device, Backend):
        return device
    if device not in _BACKENDS:
        _BACKENDS[device] = Backend(device)
    return _BACKENDS[device]


CPU = get_backend("cpu")
