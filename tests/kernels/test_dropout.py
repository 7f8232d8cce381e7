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


# --------------------------------------------------------------------------- dropout_mask (counter-based RNG)
def draw(mod, n, p, seed, counter):
    mask = np.full(n, 7, np.uint8)
    mod.dropout_mask(mask, p, seed, counter)
    return mask


@pytest.mark.parametrize("n, p, seed, counter", [(1, 0.5, 0, 0), (1000, 0.3, 1234, 7), (100_003, 0.5, 2**64 - 1, 2**63),
                                                 (33, 0.9, -1, 3)])
def test_dropout_mask_cpu_bit_identical_to_reference(n, p, seed, counter):
    expected = draw(REF, n, p, seed, counter)
    np.testing.assert_array_equal(draw(CPU, n, p, seed, counter), expected)
    assert set(np.unique(expected)) <= {0, 1}


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_mask_keep_rate(p):
    n = 100_000
    kept = draw(CPU, n, p, 42, 17).sum()
    assert abs(kept - n * (1 - p)) <= 5 * np.sqrt(n * p * (1 - p))


def test_dropout_mask_counters_and_seeds_give_different_masks():
    masks = [draw(CPU, 4096, 0.5, seed, counter) for seed, counter in [(0, 0), (0, 1), (1, 0), (0, 2**40)]]
    for i in range(len(masks)):
        for j in range(i):
            agree = (masks[i] == masks[j]).mean()
            assert 0.45 < agree < 0.55  # independent masks agree on about half the entries
    np.testing.assert_array_equal(draw(CPU, 4096, 0.5, 0, 1), masks[1])  # deterministic
    assert draw(CPU, 3, 0.5, 9, 9)[:3].tolist() == draw(CPU, 1000, 0.5, 9, 9)[:3].tolist()  # prefix-stable


@pytest.mark.parametrize("mod", [REF, CPU], ids=["reference", "cpu"])
def test_dropout_mask_p0_keeps_all_p1_drops_all(mod):
    assert (draw(mod, 1000, 0.0, 3, 4) == 1).all()
    assert (draw(mod, 1000, 1.0, 3, 4) == 0).all()
