"""CrossEntropyLoss vs torch.nn.functional.cross_entropy: reductions, backward, extreme logits, errors."""

from __future__ import annotations

# fastnn first: its kernels package sets OMP_WAIT_POLICY / the thread budget before any OpenMP runtime
# (torch's included) starts.
import fastnn  # noqa: F401  isort: skip

import numpy as np
import pytest
import torch

from fastnn import nn

torch.set_num_threads(1)


def data(n: int, k: int, seed: int = 0, scale: float = 3.0):
    rng = np.random.default_rng(seed)
    return (scale * rng.standard_normal((n, k))).astype(np.float32), rng.integers(0, k, n)


def torch_loss_and_grad(logits: np.ndarray, target: np.ndarray, reduction: str, upstream: float = 1.0):
    z = torch.tensor(logits, requires_grad=True)
    loss = torch.nn.functional.cross_entropy(z, torch.from_numpy(target.astype(np.int64)), reduction=reduction)
    (loss.sum() * upstream).backward()  # for "none": the gradient of the summed per-sample losses
    return loss.detach().numpy(), z.grad.numpy()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("n,k", [(1, 2), (7, 10), (64, 3), (5, 1000)])
def test_forward_and_backward_match_torch(reduction, n, k):
    logits, target = data(n, k, seed=n + k)
    fn = nn.CrossEntropyLoss(reduction=reduction)
    loss = fn(logits, target)
    tloss, tgrad = torch_loss_and_grad(logits, target, reduction)
    if reduction == "none":
        assert isinstance(loss, np.ndarray) and loss.shape == (n,) and loss.dtype == np.float32
        np.testing.assert_allclose(loss, tloss, rtol=1e-5, atol=1e-5)
    else:
        assert isinstance(loss, float)
        assert loss == pytest.approx(float(tloss), rel=1e-5, abs=1e-5)
    grad = fn.backward()
    assert grad.shape == (n, k) and grad.dtype == np.float32
    np.testing.assert_allclose(grad, tgrad, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_backward_scales_by_upstream_gradient(reduction):
    logits, target = data(6, 4, seed=1)
    fn = nn.CrossEntropyLoss(reduction=reduction)
    fn(logits, target)
    _, tgrad = torch_loss_and_grad(logits, target, reduction, upstream=2.5)
    np.testing.assert_allclose(fn.backward(2.5), tgrad, rtol=1e-5, atol=1e-7)


def test_integer_target_dtypes_accepted():
    logits, target = data(8, 5, seed=2)
    expected = nn.CrossEntropyLoss()(logits, target.astype(np.int64))
    for dt in (np.int32, np.int16, np.uint8):
        assert nn.CrossEntropyLoss()(logits, target.astype(dt)) == expected
    assert nn.CrossEntropyLoss()(logits, list(target)) == expected


def test_non_contiguous_logits():
    logits, target = data(5, 6, seed=3)
    t = np.asfortranarray(logits)
    fn = nn.CrossEntropyLoss()
    assert fn(t, target) == pytest.approx(fn(logits, target), rel=1e-7)


def test_extreme_logits_are_finite_and_match_torch():
    logits = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 1000.0], [-1000.0, -1000.0, -1000.0],
                       [1000.0, -1000.0, 0.0], [88.0, 89.0, -104.0]], np.float32)
    target = np.array([0, 2, 1, 1, 2])
    for reduction in ("none", "sum", "mean"):
        fn = nn.CrossEntropyLoss(reduction=reduction)
        loss = fn(logits, target)
        grad = fn.backward()
        assert np.all(np.isfinite(loss)) and np.all(np.isfinite(grad))
        tloss, tgrad = torch_loss_and_grad(logits, target, reduction)
        np.testing.assert_allclose(loss, tloss, rtol=1e-6, atol=1e-5)
        np.testing.assert_allclose(grad, tgrad, rtol=1e-6, atol=1e-7)
    fn = nn.CrossEntropyLoss(reduction="none")
    losses = fn(logits, target)
    assert losses[0] == 0.0 and losses[3] == pytest.approx(2000.0)
    assert losses[2] == pytest.approx(np.log(3.0), rel=1e-6)


def test_softmax_gradient_rows_sum_to_zero():
    logits, target = data(32, 10, seed=4, scale=20.0)
    fn = nn.CrossEntropyLoss(reduction="sum")
    fn(logits, target)
    np.testing.assert_allclose(fn.backward().sum(axis=1), 0.0, atol=1e-6)


def test_repeated_calls_reuse_buffers_but_stay_correct():
    fn = nn.CrossEntropyLoss()
    a, ya = data(4, 3, seed=5)
    b, yb = data(6, 3, seed=6)
    la = fn(a, ya)
    lb = fn(b, yb)
    assert fn(a, ya) == la
    _, tgrad = torch_loss_and_grad(a, ya, "mean")
    np.testing.assert_allclose(fn.backward(), tgrad, rtol=1e-5, atol=1e-7)
    assert fn(b, yb) == lb


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("target,fragments", [
    (np.array([0, 1, 3]), ["[0, 3)", "3"]),  # out of range
    (np.array([0, -1, 2]), ["[0, 3)", "-1"]),
    (np.array([[0], [1], [2]]), ["(3,)", "(3, 1)"]),  # wrong shape
    (np.array([0, 1]), ["(3,)", "(2,)"]),
    (np.array([0.0, 1.0, 2.0]), ["integer", "float64"]),  # float targets
    (np.array([0.0, 1.0, 2.0], np.float32), ["integer", "float32"]),
    (np.array([True, False, True]), ["integer", "bool"]),
    (np.array(1), ["(3,)"]),
])
def test_bad_targets(target, fragments):
    logits = np.zeros((3, 3), np.float32)
    with pytest.raises(ValueError) as e:
        nn.CrossEntropyLoss()(logits, target)
    msg = str(e.value)
    assert "CrossEntropyLoss" in msg
    for f in fragments:
        assert f in msg, (f, msg)


@pytest.mark.parametrize("logits,fragments", [
    (np.zeros((3, 3), np.float64), ["float64", "(N, K)"]),
    (np.zeros(3, np.float32), ["(N, K)", "(3,)"]),
    (np.zeros((3, 3, 1), np.float32), ["(N, K)", "(3, 3, 1)"]),
    ([[0.0, 1.0]] * 3, ["(N, K)", "list"]),
])
def test_bad_logits(logits, fragments):
    with pytest.raises(ValueError) as e:
        nn.CrossEntropyLoss()(logits, np.array([0, 1, 0]))
    msg = str(e.value)
    assert "CrossEntropyLoss" in msg
    for f in fragments:
        assert f in msg, (f, msg)


def test_bad_reduction():
    with pytest.raises(ValueError, match="CrossEntropyLoss.*reduction"):
        nn.CrossEntropyLoss(reduction="avg")
