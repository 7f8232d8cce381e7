"""Elementwise kernels (kernels/reference/elementwise.py): fill, add, copy. reference == cpu, float32 and
float64, empty and odd sizes, add in place (out is a or b), fill casting its value to the array dtype."""

import inspect

import numpy as np
import pytest

from kernels.cpu import elementwise as cpu_ew
from kernels.reference import elementwise as ref_ew

DTYPES = [np.float32, np.float64]
SIZES = [0, 1, 1001, 131_075]   # the last above kernels/cpu/elementwise.py SERIAL_MAX: add runs in chunks


def rand(n, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(n).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", SIZES)
def test_fill(n, dtype):
    for value in (0, -2, 1.5, 0.1):
        want, got = np.full(n, np.nan, dtype), np.full(n, np.nan, dtype)
        ref_ew.fill(want, value)
        cpu_ew.fill(got, value)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(got, np.full(n, value, dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", SIZES)
def test_add(n, dtype):
    a, b = rand(n, dtype, 1), rand(n, dtype, 2)
    want, got = np.full(n, np.nan, dtype), np.full(n, np.nan, dtype)
    ref_ew.add(want, a, b)
    cpu_ew.add(got, a, b)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(want, a + b)
    for which in (0, 1):  # in place: out is a, then out is b
        x, y = a.copy(), b.copy()
        cpu_ew.add(x if which == 0 else y, x, y)
        np.testing.assert_array_equal(x if which == 0 else y, want)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", SIZES)
def test_copy(n, dtype):
    x = rand(n, dtype)
    want, got = np.full(n, np.nan, dtype), np.full(n, np.nan, dtype)
    ref_ew.copy(want, x)
    cpu_ew.copy(got, x)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got, x)


def test_names_and_signatures():
    assert cpu_ew.__all__ == ref_ew.__all__ == ["fill", "add", "copy"]
    for name in ref_ew.__all__:
        fn = getattr(cpu_ew, name)
        assert list(inspect.signature(getattr(fn, "py_func", fn)).parameters) == \
            list(inspect.signature(getattr(ref_ew, name)).parameters)
