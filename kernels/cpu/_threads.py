"""Run a kernel's batch chunks on persistent worker threads that spin, not sleep, between nearby jobs.

``run_chunks(fn, args, nchunks)`` calls ``fn(*args, t, sync)`` for t = 0..nchunks-1: chunk 0 on the calling
thread, chunk t on worker t, and returns when all are done. ``fn`` is a serial ``nogil`` numba kernel
(kernels/cpu/_jit.py ``jit``), so the chunks run in parallel outside the GIL, each calling single-threaded BLAS
(DESIGN §5: one chunk per thread; ``nchunks`` comes from numba's thread count). Contract: a chunk kernel's first
statement is ``release_workers(sync, t)``.

Why (issue 6):
- no ``prange`` wrapper: it is a second compiled kernel whose gufunc re-optimizes the whole chunk kernel
  (~6.5 s of the 19 s cold compile of a LeNet-5 step, kernels/lab/compile_time.py);
- no sleeping hand-off: waking a sleeping thread costs ~25-35 us each way on a VM (a futex round trip was
  ~60 us, the same as waking numba's passive OpenMP workers), several times a small layer's work. A worker
  spins (``pause``) for SPINS iterations (~0.3 ms) after each job, so the jobs of one training step find it
  awake, then sleeps on a condition variable (kernels/lab/chunk_dispatch.py times both).
- no GIL hand-off: a woken worker needs the GIL to call ``fn``; were it released while the caller held the
  GIL, it would sleep on the GIL instead. So chunk 0 releases the workers from inside its nogil body
  (``release_workers``), and a worker publishes "done" only from nogil code, after giving the GIL back.

A second thread calling run_chunks while the pool is busy runs its chunks serially. The pool is rebuilt in a
forked child (its threads do not survive a fork).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

import numpy as np

from kernels.cpu._atomic import atomic_load, atomic_store, cpu_relax
from kernels.cpu._jit import jit, num_threads

SPINS = 10_000   # pause iterations (~30 ns each) a worker waits awake for the next job
_GO, _POSTED, _STRIDE = 0, 1, 8   # sync[_GO]: last job released; sync[_POSTED]: last job posted;
#                                   worker k's last finished job at sync[_STRIDE * k] (its own cache line)


@jit
def chunk_span(n, nchunks, t):
    """Chunk t's share [n*t // nchunks, n*(t+1) // nchunks) of n items."""
    return n * t // nchunks, n * (t + 1) // nchunks


def chunk_count(items: int, size: int, serial_max: int) -> int:
    """Chunks for a call over ``items`` (samples, channels, elements) of ``size`` elements in all: one per thread,
    or one (no hand-off) when size <= serial_max."""
    return 1 if size <= serial_max else max(1, min(items, num_threads()))


@jit
def release_workers(sync, t):
    """Chunk 0 (on the caller, GIL released) lets the workers start the posted job; other chunks: nothing."""
    if t == 0:
        atomic_store(sync, _GO, sync[_POSTED])


@jit
def _wait_done(sync, nworkers, job):
    """Release ``job`` (if chunk 0 raised before doing so, or is not a kernel), spin until workers 1..nworkers
    have finished it."""
    atomic_store(sync, _GO, job)
    for k in range(1, nworkers + 1):
        while atomic_load(sync, _STRIDE * k) < job:
            cpu_relax()


@jit
def _finish_and_wait(sync, k, job, spins):
    """Worker k: publish ``job`` as finished, then spin for a later released job; returns it, or ``job``."""
    atomic_store(sync, _STRIDE * k, job)
    for _ in range(spins):
        released = atomic_load(sync, _GO)
        if released > job:
            return released
        cpu_relax()
    return job


_IDLE_SYNC = np.zeros(2, np.int64)   # for chunks run without workers (release_workers is then a no-op store)


class _Pool:
    def __init__(self, nworkers: int) -> None:
        self.nworkers = nworkers
        self.sync = np.zeros(_STRIDE * (nworkers + 1), np.int64)
        self.job: tuple = (0, None, (), 0)   # (number, fn, args, nchunks)
        self.errors: list[BaseException | None] = [None] * (nworkers + 1)
        self.busy = threading.Lock()
        self.wake = threading.Condition()
        self.sleeping = 0
        for k in range(1, nworkers + 1):
            threading.Thread(target=self._work, args=(k,), daemon=True, name=f"fastnn-chunk-{k}").start()

    def _work(self, k: int) -> None:
        done = 0
        while True:
            if _finish_and_wait(self.sync, k, done, SPINS) == done:
                with self.wake:
                    self.sleeping += 1   # before the check: a poster that saw 0 sleepers posted before it
                    while self.sync[_POSTED] == done:
                        self.wake.wait()
                    self.sleeping -= 1
                continue
            done, fn, args, nchunks = self.job
            if k < nchunks:
                try:
                    fn(*args, k, self.sync)
                except BaseException as error:  # noqa: BLE001 - re-raised on the caller's thread
                    self.errors[k] = error

    def run(self, fn: Callable, args: tuple, nchunks: int) -> None:
        job = self.job[0] + 1
        self.job = (job, fn, args, nchunks)
        self.sync[_POSTED] = job
        if self.sleeping:
            with self.wake:
                self.wake.notify_all()
        try:
            fn(*args, 0, self.sync)
        finally:
            _wait_done(self.sync, nchunks - 1, job)
        errors = [e for e in self.errors[1:nchunks] if e is not None]
        self.errors = [None] * (self.nworkers + 1)
        if errors:
            raise errors[0]


_pool: _Pool | None = None


def _drop_pool() -> None:
    global _pool
    _pool = None


os.register_at_fork(after_in_child=_drop_pool)


def run_chunks(fn: Callable, args: tuple, nchunks: int) -> None:
    """fn(*args, t, sync) for every chunk t in [0, nchunks): chunk 0 here, the rest on worker threads."""
    global _pool
    if nchunks <= 1:
        fn(*args, 0, _IDLE_SYNC)
        return
    if _pool is None or _pool.nworkers < nchunks - 1:
        _pool = _Pool(nchunks - 1)   # a smaller old pool's workers sleep for good
    pool = _pool
    if not pool.busy.acquire(blocking=False):   # another thread is using the pool
        for t in range(nchunks):
            fn(*args, t, _IDLE_SYNC)
        return
    try:
        pool.run(fn, args, nchunks)
    finally:
        pool.busy.release()
