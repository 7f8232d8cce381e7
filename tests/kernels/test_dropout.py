"""Dropout kernels: reference == cpu (dropout_forward/backward on flat arrays, dropout2d_forward/backward on
(rows, L) with one mask entry per row), serial and parallel sizes, float64 gradchecks (the op is linear in x
for a fixed mask)."""

import fastnn  # noqa: F401, I001  # isort: skip

import numpy as np
import pytest
from gradcheck import assert_close, assert_grad_close, numerical_grad, weighted_sum

import kernels

REF = kernels.get("reference")
CPU = kernels.get("cpu")
BACKENDS = {"reference": REF, "cpu": CPU}
DTYPES = [np.float32, np.float64]


def case(shape, dtype, p=0.4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    rows = shape[0] if len(shape) == 2 else int(np.prod(shape))
    mask = (rng.random(rows) >= p).astype(np.uint8)
    return x, mask


def run(mod, fn, x, mask, scale):
    out = np.full_like(x, np.nan)
    getattr(mod, fn)(out, mask, x, scale) if fn.endswith("forward") else getattr(mod, fn)(out, x, mask, scale)
    return out


@pytest.mark.parametrize("n", [1, 7, 1000, 100_003])  # the last runs the prange path
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fn", ["dropout_forward", "dropout_backward"])
def test_dropout_cpu_matches_reference(fn, dtype, n):
    x, mask = case((n,), dtype)
    scale = 1 / 0.6
    expected = run(REF, fn, x, mask, scale)
    assert_close(run(CPU, fn, x, mask, scale), expected, dtype)
    np.testing.assert_allclose(expected, x * mask * scale, rtol=1e-6)
    assert (expected[mask == 0] == 0).all()


@pytest.mark.parametrize("shape", [(1, 1), (6, 25), (3, 1), (512, 196)])  # the last runs the prange path
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fn", ["dropout2d_forward", "dropout2d_backward"])
def test_dropout2d_cpu_matches_reference(fn, dtype, shape):
    x, mask = case(shape, dtype, seed=1)
    expected = run(REF, fn, x, mask, 2.0)
    assert_close(run(CPU, fn, x, mask, 2.0), expected, dtype)
    assert (expected[mask == 0] == 0).all()  # whole rows (channels) dropped
    np.testing.assert_allclose(expected[mask == 1], 2 * x[mask == 1], rtol=1e-6)


@pytest.mark.parametrize("pair", [("dropout_forward", "dropout_backward"),
                                  ("dropout2d_forward", "dropout2d_backward")])
@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_gradcheck(backend, pair):
    mod = BACKENDS[backend]
    shape = (13,) if pair[0] == "dropout_forward" else (4, 5)
    x, mask = case(shape, np.float64, seed=2)
    r = np.random.default_rng(3).standard_normal(shape)
    numeric = numerical_grad(weighted_sum(lambda: run(mod, pair[0], x, mask, 1.25), r), x)
    assert_grad_close(run(mod, pair[1], r, mask, 1.25), numeric)


def test_nan_propagates_through_kept_elements():
    x = np.array([np.nan, 1.0, np.nan], np.float32)
    mask = np.array([1, 1, 0], np.uint8)
    for mod in BACKENDS.values():
        y = run(mod, "dropout_forward", x, mask, 2.0)
        assert np.isnan(y[0]) and y[1] == 2.0
