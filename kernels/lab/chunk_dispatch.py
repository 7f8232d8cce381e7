"""Lab: running a kernel's 2 batch chunks in parallel: numba prange vs Python worker threads.

The chunk kernel (a serial nogil loop, `n` iterations per chunk) is called for t = 0, 1 four ways: one after
the other on this thread; from a prange region (numba's OpenMP threads, OMP_WAIT_POLICY=PASSIVE as fastnn sets
it); "futures": chunk 1 submitted to a ThreadPoolExecutor worker sleeping on a queue (run_chunks until issue 6's
third session); and kernels/cpu/_threads.py run_chunks (workers spin ~0.3 ms between jobs, chunk 0 releases
them from nogil code). Results are checked equal before timing. Run: ``python -m kernels.lab.chunk_dispatch``.

Record (2-core dev machine, us per call, two runs): n=0: serial 0.7, prange 54.8-56.8, futures 67-69, run_chunks
4.5-5.1; n=20k: 40-42 / 84-86 / 74-79 / 27-36; n=200k: 393-403 / 258-263 / 264-278 / 202-212. A sleeping
thread costs ~25-35 us to wake on this VM (each way: an Event ping-pong measured 50-70 us), the same for
OpenMP's passive workers and a queue; spinning workers take that out of every parallel layer call: LeNet-5
b64 step 4.6 -> 3.6 ms, MLP b64 1.05 -> 0.88 ms (interleaved A/B). The chunk kernels need no compiled prange
wrapper either: cold compile of a LeNet-5 step 19.7 s -> 9.3 s (``python -m kernels.lab.compile_time``).
Tried and dropped: blocks claimed from a shared atomic counter instead of a fixed split (the worker's chunks
ran 7-10% longer than chunk 0's on this VM, and claiming cut the caller's waiting 4.1 -> 1.2 ms per ResNet-8
step, but the step time did not move in interleaved A/B: 48.3 vs 49.3 ms, 8 rounds).
"""

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit, prange

import kernels  # noqa: F401  (thread settings before numba starts its threads)
from kernels.cpu._threads import release_workers, run_chunks

_NO_WORKERS = np.zeros(2, np.int64)


@njit(nogil=True, cache=False)
def _chunk(out, n, t, sync):
    release_workers(sync, t)
    acc = 0.0
    for i in range(n):
        acc += (i % 7) * 0.5
    out[t] = acc + t


@njit(parallel=True, cache=False)
def _prange_chunks(out, n, nchunks, sync):
    for t in prange(nchunks):
        _chunk(out, n, t, sync)


def _prange(out, n, nchunks):
    _prange_chunks(out, n, nchunks, np.zeros(2, np.int64))


def _serial(out, n, nchunks):
    for t in range(nchunks):
        _chunk(out, n, t, _NO_WORKERS)


_futures_pool = ThreadPoolExecutor(1)


def _futures(out, n, nchunks):
    """The previous run_chunks: chunk 1 submitted to a sleeping ThreadPoolExecutor worker."""
    future = _futures_pool.submit(_chunk, out, n, 1, _NO_WORKERS)
    _chunk(out, n, 0, _NO_WORKERS)
    future.result()


def main() -> None:
    variants = {"serial": _serial, "prange": _prange, "futures": _futures,
                "run_chunks": lambda out, n, nchunks: run_chunks(_chunk, (out, n), nchunks)}
    for n in (0, 20_000, 200_000):
        expected = np.zeros(2)
        _serial(expected, n, 2)
        times = {}
        for name, f in variants.items():
            out = np.zeros(2)
            f(out, n, 2)
            np.testing.assert_array_equal(out, expected, err_msg=name)
            reps = 2000 if n < 100_000 else 200
            start = time.perf_counter()
            for _ in range(reps):
                f(out, n, 2)
            times[name] = (time.perf_counter() - start) / reps * 1e6
        print(f"n={n}: " + ", ".join(f"{k} {v:.1f} us" for k, v in times.items()))


if __name__ == "__main__":
    main()
