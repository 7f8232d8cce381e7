"""kernels/cpu/_threads.py run_chunks: every chunk once (many jobs, sleeping workers, two callers), errors
surface, the pool survives a fork."""

import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from numba import njit

from kernels.cpu._threads import release_workers, run_chunks


@njit(nogil=True, cache=False)
def _mark(out, spin, t, sync):
    release_workers(sync, t)
    acc = 0.0
    for i in range(spin):
        acc += i * 1e-9
    out[t] += 1.0 + acc * 0.0


@pytest.mark.parametrize("nchunks", [1, 2, 3, 5])
def test_every_chunk_runs_once(nchunks):
    out = np.zeros(nchunks)
    run_chunks(_mark, (out, 10), nchunks)
    np.testing.assert_array_equal(out, np.ones(nchunks))


def test_an_error_in_a_worker_chunk_reaches_the_caller():
    def chunk(t, sync):
        if t == 1:
            raise ValueError("chunk 1 failed")

    with pytest.raises(ValueError, match="chunk 1 failed"):
        run_chunks(chunk, (), 2)


def test_pool_is_rebuilt_in_a_forked_child():
    code = ("import os, numpy as np\nfrom kernels.cpu._threads import run_chunks\n"
            "out = np.zeros(2)\nrun_chunks(lambda t, sync: out.__setitem__(t, 1), (), 2)\n"
            "pid = os.fork()\n"
            "if pid == 0:\n"
            "    run_chunks(lambda t, sync: out.__setitem__(t, 2), (), 2)\n"
            "    os._exit(0 if out.tolist() == [2.0, 2.0] else 3)\n"
            "print(os.waitpid(pid, 0)[1])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "0", out.stdout + out.stderr


def test_many_jobs_of_mixed_sizes_run_every_chunk_exactly_once():
    for rep in range(300):
        nchunks = 2 + rep % 3
        out = np.zeros(nchunks)
        run_chunks(_mark, (out, rep % 50), nchunks)
        np.testing.assert_array_equal(out, np.ones(nchunks))


def test_workers_that_went_to_sleep_are_woken():
    out = np.zeros(2)
    run_chunks(_mark, (out, 10), 2)
    time.sleep(0.05)   # far beyond the workers' spin (~0.3 ms): they sleep on the condition variable
    run_chunks(_mark, (out, 10), 2)
    np.testing.assert_array_equal(out, [2.0, 2.0])


def test_an_error_in_chunk_0_still_waits_for_the_workers():
    done = []

    def chunk(t, sync):
        if t == 0:
            raise ValueError("chunk 0 failed")
        time.sleep(0.01)
        done.append(t)

    with pytest.raises(ValueError, match="chunk 0 failed"):
        run_chunks(chunk, (), 3)
    assert sorted(done) == [1, 2]


def test_callers_on_two_threads_both_get_every_chunk():
    outs = [np.zeros(2) for _ in range(2)]

    def call(out):
        for _ in range(200):
            run_chunks(_mark, (out, 100), 2)

    threads = [threading.Thread(target=call, args=(out,)) for out in outs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for out in outs:
        np.testing.assert_array_equal(out, [200.0, 200.0])
