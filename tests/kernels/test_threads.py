"""kernels/cpu/_threads.py run_chunks: every chunk once, errors surface, the pool survives a fork."""

import subprocess
import sys

import numpy as np
import pytest
from numba import njit

from kernels.cpu._threads import run_chunks


@njit(nogil=True, cache=False)
def _mark(out, spin, t):
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
    def chunk(t):
        if t == 1:
            raise ValueError("chunk 1 failed")

    with pytest.raises(ValueError, match="chunk 1 failed"):
        run_chunks(chunk, (), 2)


def test_pool_is_rebuilt_in_a_forked_child():
    code = ("import os, numpy as np\nfrom kernels.cpu._threads import run_chunks\n"
            "out = np.zeros(2)\nrun_chunks(lambda t: out.__setitem__(t, 1), (), 2)\n"
            "pid = os.fork()\n"
            "if pid == 0:\n"
            "    run_chunks(lambda t: out.__setitem__(t, 2), (), 2)\n"
            "    os._exit(0 if out.tolist() == [2.0, 2.0] else 3)\n"
            "print(os.waitpid(pid, 0)[1])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "0", out.stdout + out.stderr
