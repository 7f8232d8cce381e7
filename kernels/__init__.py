"""fastnn's compute kernels: pure functions over NumPy (or device) arrays, no layers, no state.

    import kernels
    cpu = kernels.get("cpu")        # the numba CPU backend module
    ref = kernels.get("reference")  # the NumPy oracles
    kernels.OPS                     # the registry: every op with its implementations and tests

Importing this package configures the thread budget and numba's cache location (kernels/_env.py)
before numba starts; import it before anything that runs numba parallel code.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

from kernels import _env

_env.configure()
BLAS_THREADS = _env.load_single_threaded_blas()
if sys.modules.get("numba") is not None:  # numba read its config before us: make it see the cache dir
    sys.modules["numba"].core.config.reload_config()

from kernels.registry import OPS, Op  # noqa: E402

BACKENDS = ("reference", "cpu", "cuda")


def get(backend: str) -> ModuleType:
    """Return the kernel module of ``backend`` ("reference", "cpu" or "cuda"), importing it lazily."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown kernel backend {backend!r}; expected one of {BACKENDS}")
    try:
        return importlib.import_module(f"kernels.{backend}")
    except ImportError as e:
        if backend == "cuda" and e.name and e.name.startswith("numba"):
            raise RuntimeError("the CUDA kernels need numba-cuda: pip install 'fastnn[cuda]'") from e
        raise


__all__ = ["OPS", "Op", "get", "BACKENDS"]
