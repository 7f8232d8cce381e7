"""Process-wide settings that must be in place before numba (or OpenBLAS) starts its threads.

Thread budget (DESIGN §5), measured on the 2-core dev machine (``python -m kernels.lab.threads``):
a numba ``prange`` region followed by a 256x400x120 SGEMM took 8.1 ms per pair with the default
OpenMP wait policy (OpenMP workers spin and starve OpenBLAS), 0.31 ms with
``OMP_WAIT_POLICY=PASSIVE`` and 0.37 ms with the workqueue threading layer. We therefore set
``OMP_WAIT_POLICY=PASSIVE`` (unless the user set it) and let numba and BLAS share one budget of
``FASTNN_NUM_THREADS`` threads (default: all cores), which also sets ``NUMBA_NUM_THREADS`` and
``OPENBLAS_NUM_THREADS`` when those are unset.

Cache: numba writes ``cache=True`` artifacts next to the source. When the package directory is
not writable (system site-packages, read-only images) we point ``NUMBA_CACHE_DIR`` at a per-user
directory instead, so import never fails on a cache write.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

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
        env.setdefault("OPENBLAS_NUM_THREADS", threads)
        env.setdefault("OMP_NUM_THREADS", threads)
    cache = choose_cache_dir(env=env)
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        env["NUMBA_CACHE_DIR"] = str(cache)
