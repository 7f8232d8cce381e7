"""Run a kernel's batch chunks on Python threads instead of a numba ``prange`` region.

``run_chunks(fn, args, nchunks)`` calls ``fn(*args, t)`` for t = 0..nchunks-1: chunk 0 on the calling thread,
the others on persistent worker threads, and returns when all are done. ``fn`` is a serial ``nogil`` numba
kernel (kernels/cpu/_jit.py ``jit``), so the chunks run in parallel outside the GIL, each calling
single-threaded BLAS (DESIGN §5: one chunk per thread; ``nchunks`` comes from numba's thread count).

Why (cold compile, issue 6): a ``prange`` wrapper is a second compiled kernel whose gufunc links and
re-optimizes the whole chunk kernel again, with the chunk compiled twice (as the wrapper's callee and for the
gufunc's argument types): the conv wrappers were ~6.5 s of the 19 s cold compile of a LeNet-5 step. A thread
pool needs no compiled wrapper; dispatching to a waiting worker costs about what waking numba's passive
OpenMP workers does (kernels/lab/threads.py). The pool is rebuilt in a forked child (its threads do not
survive a fork).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

_pool: ThreadPoolExecutor | None = None
_workers = 0


def _drop_pool() -> None:
    global _pool, _workers
    _pool, _workers = None, 0


os.register_at_fork(after_in_child=_drop_pool)


def run_chunks(fn: Callable, args: tuple, nchunks: int) -> None:
    """fn(*args, t) for every chunk t in [0, nchunks): chunk 0 here, the rest on worker threads."""
    global _pool, _workers
    if nchunks <= 1:
        fn(*args, 0)
        return
    if _pool is None or _workers < nchunks - 1:
        if _pool is not None:
            _pool.shutdown(wait=True)
        _pool, _workers = ThreadPoolExecutor(nchunks - 1, thread_name_prefix="fastnn-chunk"), nchunks - 1
    futures = [_pool.submit(fn, *args, t) for t in range(1, nchunks)]
    try:
        fn(*args, 0)
    finally:
        for future in futures:
            future.result()
