"""CUDA elementwise ops (kernels/cuda/elementwise.py) against the NumPy reference, on the simulator: fill, add
(out distinct from and equal to an input), copy; sizes 1 and not a multiple of the block size; float32 and
float64; host arrays rejected; the reference's names and signatures.
"""

import inspect

import numpy as np
import pytest
from devarrays import dev, empty_like, host

from kernels.cuda import elementwise as cuda_ew
from kernels.cuda._launch import THREADS
from kernels.reference import elementwise as ref_ew

SIZES = [1, THREADS + 3]
DTYPES = [np.float32, np.float64]


def rand(n, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(n).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", SIZES)
def test_fill(n, dtype):
    for value in (0, 1.5):
        want = np.full(n, np.nan, dtype)
        ref_ew.fill(want, value)
        d = empty_like(want)
        cuda_ew.fill(d, value)
        got = host(d)
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", SIZES)
def test_add(n, dtype):
    a, b = rand(n, dtype, 1), rand(n, dtype, 2)
    want = np.empty(n, dtype)
    ref_ew.add(want, a, b)
    out = empty_like(a)
    cuda_ew.add(out, dev(a), dev(b))
    np.testing.assert_array_equal(host(out), want)
    da = dev(a)  # in place: out is a (the residual add)
    cuda_ew.add(da, da, dev(b))
    np.testing.assert_array_equal(host(da), want)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", SIZES)
def test_copy(n, dtype):
    x = rand(n, dtype)
    want = np.empty(n, dtype)
    ref_ew.copy(want, x)
    out = empty_like(x)
    cuda_ew.copy(out, dev(x))
    np.testing.assert_array_equal(host(out), want)


def test_host_array_is_rejected():
    x = rand(5, np.float32)
    with pytest.raises(TypeError, match="'x'"):
        cuda_ew.fill(x, 0.0)
    with pytest.raises(TypeError, match="'b'"):
        cuda_ew.add(dev(x), dev(x), x)
    with pytest.raises(TypeError, match="'out'"):
        cuda_ew.copy(x, dev(x))


def test_names_and_signatures_match_reference():
    assert cuda_ew.__all__ == ref_ew.__all__
    for name in ref_ew.__all__:
        params = [list(inspect.signature(getattr(m, name)).parameters) for m in (ref_ew, cuda_ew)]
        assert params[0] == params[1], name
