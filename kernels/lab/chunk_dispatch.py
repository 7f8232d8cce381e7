"""Lab: running a kernel's 2 batch chunks in parallel, numba prange vs kernels/cpu/_threads.py run_chunks.

The chunk kernel (a serial nogil loop, `n` iterations per chunk) is called for t = 0, 1 three ways: one after
the other on this thread, from a prange region (numba's OpenMP threads, OMP_WAIT_POLICY=PASSIVE as fastnn sets
it), and by run_chunks (chunk 0 here, chunk 1 on a waiting Python worker thread). Results are checked equal
before timing. Run: ``python -m kernels.lab.chunk_dispatch``.

Record (2-core dev machine, us per call): n=0: serial 1.0, prange 56.8, run_chunks 53.7; n=20k: 67.6 / 91.0 /
100.4; n=200k: 684 / 394 / 409. Dispatch costs the same (~55 us: waking a sleeping thread), so the conv,
linear and max-pool kernels use run_chunks, which needs no compiled prange wrapper: cold compile of a LeNet-5
step 19.7 s -> 9.3 s (``python -m kernels.lab.compile_time``), LeNet-5 / MLP / ResNet-8 steps equal within the
machine's noise in interleaved A/B runs.
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
