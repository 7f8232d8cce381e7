"""Fused softmax + cross-entropy: reference == cpu, PyTorch (losses, probs, gradient of the mean),
extreme logits, float64 gradchecks on both backends, hypothesis properties (rows sum to 1, shift
invariance)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from gradcheck import assert_close, assert_grad_close, numerical_grad
from hypothesis import given, settings
from hypothesis import strategies as st

import kernels

REF = kernels.get("reference")
CPU = kernels.get("cpu")
BACKENDS = {"reference": REF, "cpu": CPU}
DTYPES = [np.float32, np.float64]
SHAPES = [(1, 1), (1, 5), (7, 3), (16, 10), (3, 100)]


def make(n, k, dtype, seed=0, scale=3.0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, k)) * scale).astype(dtype), rng.integers(0, k, n).astype(np.int64)


def forward(mod, logits, labels):
    losses = np.full(logits.shape[0], np.nan, dtype=logits.dtype)
    probs = np.full_like(logits, np.nan)
    mod.softmax_cross_entropy_forward(losses, probs, logits, labels)
    return losses, probs


def backward(mod, probs, labels, scale):
    dlogits = np.full_like(probs, np.nan)
    mod.softmax_cross_entropy_backward(dlogits, probs, labels, scale)
    return dlogits


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_cpu_matches_reference(shape, dtype):
    logits, labels = make(*shape, dtype)
    l_ref, p_ref = forward(REF, logits, labels)
    l_cpu, p_cpu = forward(CPU, logits, labels)
    assert_close(l_cpu, l_ref, dtype)
    assert_close(p_cpu, p_ref, dtype)
    scale = 1.0 / shape[0]
    assert_close(backward(CPU, p_ref, labels, scale), backward(REF, p_ref, labels, scale), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_matches_torch(backend, shape, dtype):
    mod = BACKENDS[backend]
    logits, labels = make(*shape, dtype, seed=1)
    tol = 2e-5 if dtype == np.float32 else 1e-12
    losses, probs = forward(mod, logits, labels)
    t = torch.tensor(logits, requires_grad=True)
    t_losses = F.cross_entropy(t, torch.from_numpy(labels), reduction="none")
    assert_close(losses, t_losses.detach().numpy(), dtype, tol=tol, what="losses")
    assert_close(probs, torch.softmax(t, dim=1).detach().numpy(), dtype, tol=tol, what="probs")
    t_losses.mean().backward()
    assert_close(backward(mod, probs, labels, 1.0 / shape[0]), t.grad.numpy(), dtype, tol=tol, what="dlogits")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_extreme_logits(backend, dtype):
    mod = BACKENDS[backend]
    logits = np.array([[1000.0, -1000.0, 0.0, 999.0],
                       [-1000.0, -1000.0, -1000.0, -1000.0],
                       [1000.0, 1000.0, -1000.0, 1000.0],
                       [-1000.0, 1000.0, -999.5, 0.0]], dtype=dtype)
    labels = np.array([1, 2, 0, 0], dtype=np.int64)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        losses, probs = forward(mod, logits, labels)
    assert np.isfinite(losses).all() and np.isfinite(probs).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=0, atol=1e-6 if dtype == np.float32 else 1e-14)
    expected = F.cross_entropy(torch.from_numpy(logits.astype(np.float64)), torch.from_numpy(labels),
                               reduction="none").numpy()
    assert_close(losses, expected, dtype, tol=1e-6 if dtype == np.float32 else 1e-12)
    np.testing.assert_allclose(losses[1], np.log(4), rtol=1e-6)
    dl = backward(mod, probs, labels, 0.25)
    assert np.isfinite(dl).all()
    np.testing.assert_allclose(dl.sum(axis=1), 0.0, atol=1e-6)


@pytest.mark.parametrize("shape", [(1, 4), (5, 3), (4, 7)])
@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_gradcheck_mean_loss(backend, shape):
    mod = BACKENDS[backend]
    logits, labels = make(*shape, np.float64, seed=2, scale=2.0)
    n = shape[0]
    _, probs = forward(mod, logits, labels)
    analytic = backward(mod, probs, labels, 1.0 / n)
    numeric = numerical_grad(lambda: forward(mod, logits, labels)[0].mean(), logits)
    assert_grad_close(analytic, numeric)


def _logits(draw, dtype=np.float64):
    n, k = draw(st.integers(1, 6)), draw(st.integers(1, 8))
    vals = draw(st.lists(st.floats(-300, 300, allow_nan=False), min_size=n * k, max_size=n * k))
    labels = draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n))
    return np.array(vals, dtype=dtype).reshape(n, k), np.array(labels, dtype=np.int64)


@settings(deadline=None, max_examples=25)
@given(st.data())
def test_property_softmax_rows_sum_to_one(data):
    logits, labels = _logits(data.draw)
    for name, mod in BACKENDS.items():
        losses, probs = forward(mod, logits, labels)
        assert (probs >= 0).all() and (probs <= 1).all(), name
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=0, atol=1e-12, err_msg=name)
        assert (losses >= -1e-12).all() and np.isfinite(losses).all(), name


@settings(deadline=None, max_examples=25)
@given(st.data())
def test_property_cross_entropy_shift_invariance(data):
    logits, labels = _logits(data.draw)
    shifts = np.array(data.draw(st.lists(st.floats(-500, 500, allow_nan=False), min_size=len(labels),
                                         max_size=len(labels))))
    shifted = logits + shifts[:, None]
    for name, mod in BACKENDS.items():
        l0, p0 = forward(mod, logits, labels)
        l1, p1 = forward(mod, shifted, labels)
        tol = 1e-13 * (1 + np.abs(shifted).max() + np.abs(logits).max())
        np.testing.assert_allclose(l1, l0, rtol=0, atol=tol, err_msg=name)
        np.testing.assert_allclose(p1, p0, rtol=0, atol=tol, err_msg=name)
