"""Process-wide settings that must be in place before numba (or OpenBLAS) starts its threads.

Thread budget (DESIGN §5). numba owns the threads: kernels split a batch into one chunk per numba
thread and each chunk calls BLAS (numba's ``np.dot`` -> SciPy's OpenBLAS) single-threaded.
Measured on the 2-core dev machine (``python -m kernels.lab.threads``):
- a numba ``prange`` region followed by a 256x400x120 SGEMM took 8.1 ms per pair with the default
  OpenMP wait policy (idle OpenMP workers spin and starve OpenBLAS), 0.31 ms with
  ``OMP_WAIT_POLICY=PASSIVE`` and 0.37 ms with the workqueue threading layer: we set PASSIVE
  (unless the user set it);
- with a second process busy on the other core, every 2-thread OpenBLAS call could stall for a
  scheduler time slice (~16 ms: LeNet steps went from 8 ms to 20-70 ms). SciPy's OpenBLAS is
  therefore loaded single-threaded (NumPy's own OpenBLAS, a separate library, keeps the user's
  setting) and parallelism comes from numba's chunks only.
- with that design, re-measured (2 cores, quiet): idle numba workers that spin (GOMP's default policy)
  make a LeNet-5 step ~10-20% faster (b64 5.0-5.9 ms vs 6.3-6.7 ms PASSIVE) but make a NumPy
  (multi-threaded OpenBLAS) GEMM issued right after a prange 13x slower (8.3 ms vs 0.31 ms per pair;
  GOMP_SPINCOUNT=20000: 1.4 ms). PASSIVE stays the default because fastnn lives inside other people's
  NumPy code; a process that only runs fastnn can set OMP_WAIT_POLICY itself (user settings are kept).
  PASSIVE also applies to a torch imported later in the same process (torch's LeNet-5 step is ~2x
  slower under it): compare with torch in its own process (benchmarks/separate_processes.py).
``FASTNN_NUM_THREADS`` sets numba's thread count (default: all cores).

Cache: numba writes ``cache=True`` artifacts next to the source. When the package directory is
not writable (system site-packages, read-only images) we point ``NUMBA_CACHE_DIR`` at a per-user
directory instead, so import never fails on a cache write.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

PACKAGE_DIR = Path(__file__).resolve().parent


def user_cache_dir() -> Path:
    """Per-user cache directory for compiled kernels (XDG on Linux, ~/Library/Caches on macOS)."""
    if sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    elif os.name == "nt":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "fastnn" / "numba"


def choose_cache_dir(package_dir: Path = PACKAGE_DIR, env: dict | None = None) -> Path | None:
    """Return the directory numba should cache into, or None to keep numba's in-tree default."""
    env = os.environ if env is None else env
    if env.get("NUMBA_CACHE_DIR"):
        return Path(env["NUMBA_CACHE_DIR"])
    if os.access(package_dir, os.W_OK) and os.access(package_dir / "cpu", os.W_OK):
        return None
    return user_cache_dir()


def configure(env: dict | None = None) -> None:
    """Apply the thread budget and cache location to ``env`` (default ``os.environ``)."""
    env = os.environ if env is None else env
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    threads = env.get("FASTNN_NUM_THREADS")
    if threads:
        env.setdefault("NUMBA_NUM_THREADS", threads)
    cache = choose_cache_dir(env=env)
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        env["NUMBA_CACHE_DIR"] = str(cache)


def load_single_threaded_blas(env: dict | None = None) -> str:
    """Load SciPy's OpenBLAS (the BLAS numba's np.dot calls) with one thread; returns what was done.

    NumPy is imported first so its own OpenBLAS keeps the user's thread setting; the environment is
    restored afterwards so child processes see the user's values. If SciPy's BLAS is already loaded,
    threadpoolctl limits it at run time (when installed); a user-set OPENBLAS_NUM_THREADS is kept.
    """
    env = os.environ if env is None else env
    if "OPENBLAS_NUM_THREADS" in env:
        return "user setting kept"
    if "scipy.linalg.cython_blas" in sys.modules:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            return "scipy already loaded; threadpoolctl missing, BLAS threads unchanged"
        threadpool_limits(limits=1, user_api="blas")
        return "limited to 1 thread by threadpoolctl"
    try:
        import numpy  # noqa: F401  (its OpenBLAS starts with the user's settings)
    except ImportError:
        return "numpy not installed"

    env["OPENBLAS_NUM_THREADS"] = "1"
    try:
        import_cython_blas()
    except ImportError:  # NumPy-only installs (fastnn.runtime) never call BLAS from numba
        return "scipy not installed"
    finally:
        del env["OPENBLAS_NUM_THREADS"]
    return "loaded single-threaded"


def import_cython_blas() -> ModuleType:
    """Import ``scipy.linalg.cython_blas`` without executing the ``scipy.linalg`` package yet.

    numba's compiled ``np.dot`` looks this extension module up by name (``sys.modules``) for its BLAS
    function pointers; nothing else of SciPy is needed. Executing ``scipy/linalg/__init__.py`` costs
    ~0.2 s (it builds SciPy's array-API namespace, which imports numpy.f2py and numpy.testing), more
    than a quarter of fastnn's warm start-up, so the package is registered lazily
    (``importlib.util.LazyLoader``): it runs on first attribute access (``import scipy.linalg``,
    ``scipy.linalg.solve``...) and then looks exactly as after a plain import, ``cython_blas``
    attribute included (on Python < 3.12 two threads touching it first at the same time could both
    execute it; fastnn's kernels never touch it). If scipy.linalg is already imported this is a plain
    import.
    """
    name = "scipy.linalg.cython_blas"
    if "scipy.linalg" in sys.modules:
        return importlib.import_module(name)
    import scipy

    spec = importlib.util.find_spec("scipy.linalg")
    # PathFinder, not find_spec(name): that would import the parent package first
    blas_spec = importlib.machinery.PathFinder.find_spec(name, spec.submodule_search_locations)
    blas = importlib.util.module_from_spec(blas_spec)
    blas_spec.loader.exec_module(blas)
    spec.loader = importlib.util.LazyLoader(spec.loader)
    linalg = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(linalg)  # lazy: only marks the module
    linalg.cython_blas = blas
    sys.modules["scipy.linalg"], sys.modules[name], scipy.linalg = linalg, blas, linalg
    return blas
