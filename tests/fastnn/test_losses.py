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


# =========================================================================== issue 4: more losses vs torch
REDUCTIONS = ["mean", "sum", "none"]
F = torch.nn.functional


def check_against_torch(fn, tfn, inputs, reduction, grad_index=0, rtol=1e-5, atol=1e-6, upstream=None):
    """fastnn loss(*inputs) and its backward vs torch: tfn(*tensors) with inputs[grad_index] requiring grad."""
    loss = fn(*inputs)
    tensors = [torch.tensor(a) if isinstance(a, np.ndarray) and a.dtype == np.float32 else
               torch.from_numpy(np.asarray(a, np.int64)) for a in inputs]
    tensors[grad_index].requires_grad_(True)
    tloss = tfn(*tensors)
    if reduction == "none":
        assert isinstance(loss, np.ndarray) and loss.dtype == np.float32 and loss.shape == tuple(tloss.shape)
        up = np.random.default_rng(0).standard_normal(loss.shape).astype(np.float32) if upstream is None else upstream
        (tloss * torch.from_numpy(up)).sum().backward()
        grad = fn.backward(up)
    else:
        assert isinstance(loss, float)
        tloss.backward()
        grad = fn.backward()
    np.testing.assert_allclose(loss, tloss.detach().numpy(), rtol=rtol, atol=atol)
    assert grad.dtype == np.float32 and grad.shape == inputs[grad_index].shape
    np.testing.assert_allclose(grad, tensors[grad_index].grad.numpy(), rtol=rtol, atol=atol)
    return loss, grad


def ce_data(n=12, k=5, seed=0, ignore_frac=0.25, scale=3.0):
    logits, target = data(n, k, seed=seed, scale=scale)
    rng = np.random.default_rng(seed + 1)
    target[rng.random(n) < ignore_frac] = -100
    target[0] = 1  # at least one kept
    weight = rng.uniform(0.2, 3.0, k).astype(np.float32)
    return logits, target, weight


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("label_smoothing", [0.0, 0.15])
@pytest.mark.parametrize("use_weight", [False, True])
@pytest.mark.parametrize("ignore", [False, True])
def test_cross_entropy_weight_smoothing_ignore_match_torch(reduction, label_smoothing, use_weight, ignore):
    logits, target, weight = ce_data(ignore_frac=0.3 if ignore else 0.0, seed=3)
    w = weight if use_weight else None
    fn = nn.CrossEntropyLoss(weight=w, reduction=reduction, label_smoothing=label_smoothing)
    tw = torch.from_numpy(weight) if use_weight else None
    check_against_torch(fn, lambda z, y: F.cross_entropy(z, y, weight=tw, reduction=reduction,
                                                         label_smoothing=label_smoothing), (logits, target), reduction)


def test_cross_entropy_all_options_together_custom_ignore_index():
    logits, target, weight = ce_data(n=40, k=7, seed=5, ignore_frac=0.0)
    target[::3] = 4  # ignore class 4 as a target
    for reduction in REDUCTIONS:
        fn = nn.CrossEntropyLoss(weight=weight, ignore_index=4, label_smoothing=0.2, reduction=reduction)
        _, grad = check_against_torch(
            fn, lambda z, y, r=reduction: F.cross_entropy(z, y, weight=torch.from_numpy(weight), ignore_index=4,
                                                          label_smoothing=0.2, reduction=r), (logits, target),
            reduction)
        assert (grad[target == 4] == 0).all()


def test_cross_entropy_options_extreme_logits_finite():
    logits = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 1000.0], [-1000.0, -1000.0, -1000.0],
                       [1000.0, -1000.0, 0.0]], np.float32)
    target = np.array([0, 2, -100, 1])
    weight = np.array([1.0, 2.0, 0.5], np.float32)
    for reduction in REDUCTIONS:
        fn = nn.CrossEntropyLoss(weight=weight, label_smoothing=0.1, reduction=reduction)
        loss, grad = check_against_torch(
            fn, lambda z, y, r=reduction: F.cross_entropy(z.double(), y, weight=torch.from_numpy(weight).double(),
                                                          label_smoothing=0.1, reduction=r).float(),
            (logits, target), reduction, rtol=1e-6, atol=1e-4)
        assert np.all(np.isfinite(loss)) and np.all(np.isfinite(grad))


def test_cross_entropy_all_ignored_is_nan_like_torch():
    logits, _ = data(3, 4)
    target = np.full(3, -100)
    assert np.isnan(nn.CrossEntropyLoss()(logits, target))
    assert np.isnan(F.cross_entropy(torch.from_numpy(logits), torch.from_numpy(target)).item())
    assert nn.CrossEntropyLoss(reduction="sum")(logits, target) == 0.0


def test_cross_entropy_none_accepts_upstream_array_without_options():
    logits, target = data(6, 4, seed=9)
    fn = nn.CrossEntropyLoss(reduction="none")
    check_against_torch(fn, lambda z, y: F.cross_entropy(z, y, reduction="none"), (logits, target), "none")


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("use_weight", [False, True])
def test_nll_loss_matches_torch(reduction, use_weight):
    logits, target, weight = ce_data(seed=11)
    logp = torch.log_softmax(torch.from_numpy(logits), 1).numpy()
    w = weight if use_weight else None
    tw = torch.from_numpy(weight) if use_weight else None
    fn = nn.NLLLoss(weight=w, reduction=reduction)
    check_against_torch(fn, lambda x, y: F.nll_loss(x, y, weight=tw, reduction=reduction), (logp, target), reduction)


def regression_data(shape=(6, 5), seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape).astype(np.float32), rng.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", ["MSELoss", "L1Loss"])
def test_regression_losses_match_torch(name, reduction):
    x, t = regression_data()
    fn = getattr(nn, name)(reduction=reduction)
    tfn = getattr(torch.nn, name)(reduction=reduction)
    check_against_torch(fn, tfn, (x, t), reduction)
    # upstream scalar scales the gradient
    fn(x, t)
    if reduction != "none":
        g1 = fn.backward().copy()
        np.testing.assert_allclose(fn.backward(2.5), 2.5 * g1, rtol=1e-6)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("use_weight", [False, True])
def test_bce_loss_matches_torch(reduction, use_weight):
    rng = np.random.default_rng(2)
    x = rng.uniform(0.001, 0.999, (8, 3)).astype(np.float32)
    t = rng.uniform(0, 1, (8, 3)).astype(np.float32)
    w = rng.uniform(0.5, 2, 3).astype(np.float32) if use_weight else None
    fn = nn.BCELoss(weight=w, reduction=reduction)
    tfn = torch.nn.BCELoss(weight=None if w is None else torch.from_numpy(w), reduction=reduction)
    check_against_torch(fn, tfn, (x, t), reduction, rtol=2e-5)


def test_bce_loss_saturated_probabilities_clamped_like_torch():
    x = np.array([0.0, 1.0, 1.0, 0.0], np.float32)
    t = np.array([1.0, 0.0, 1.0, 0.0], np.float32)
    for reduction in REDUCTIONS:
        loss, grad = check_against_torch(nn.BCELoss(reduction=reduction), torch.nn.BCELoss(reduction=reduction),
                                         (x, t), reduction, upstream=np.ones(4, np.float32))
        assert np.all(np.isfinite(loss))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("pos_weight", [None, "per_class", "scalar"])
def test_bce_with_logits_matches_torch(reduction, pos_weight):
    rng = np.random.default_rng(4)
    x = (4 * rng.standard_normal((9, 4))).astype(np.float32)
    t = (rng.random((9, 4)) < 0.4).astype(np.float32)
    pw = {None: None, "per_class": rng.uniform(0.3, 5, 4).astype(np.float32),
          "scalar": np.array([3.0], np.float32)}[pos_weight]
    fn = nn.BCEWithLogitsLoss(reduction=reduction, pos_weight=pw)
    tfn = torch.nn.BCEWithLogitsLoss(reduction=reduction, pos_weight=None if pw is None else torch.from_numpy(pw))
    check_against_torch(fn, tfn, (x, t), reduction)


def test_bce_with_logits_extreme_logits_finite_and_weight():
    x = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 30.0]], np.float32)
    t = np.array([[0.0, 1.0, 1.0], [0.0, 1.0, 0.0]], np.float32)
    pw = np.array([2.0, 3.0, 0.5], np.float32)
    w = np.array([[1.0, 2.0, 0.5]], np.float32)
    for reduction in REDUCTIONS:
        fn = nn.BCEWithLogitsLoss(weight=w, reduction=reduction, pos_weight=pw)
        tfn = torch.nn.BCEWithLogitsLoss(weight=torch.from_numpy(w), reduction=reduction,
                                         pos_weight=torch.from_numpy(pw))
        loss, grad = check_against_torch(fn, tfn, (x, t), reduction)
        assert np.all(np.isfinite(loss)) and np.all(np.isfinite(grad))


@pytest.mark.parametrize("reduction", REDUCTIONS + ["batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_matches_torch(reduction, log_target):
    rng = np.random.default_rng(6)
    x = torch.log_softmax(torch.from_numpy(rng.standard_normal((5, 4)).astype(np.float32)), 1).numpy()
    p = torch.softmax(torch.from_numpy(rng.standard_normal((5, 4)).astype(np.float32)), 1).numpy()
    p[0, 0] = 0.0  # xlogy(0, 0) = 0
    t = np.log(np.maximum(p, 1e-30)).astype(np.float32) if log_target else p
    fn = nn.KLDivLoss(reduction=reduction, log_target=log_target)
    tfn = torch.nn.KLDivLoss(reduction=reduction, log_target=log_target)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns that "mean" is not the true KL
        check_against_torch(fn, tfn, (x, t), "none" if reduction == "none" else reduction)


# --------------------------------------------------------------------------- distillation
def distill_formula(s, t, y, temp, alpha):
    s, t = s.astype(np.float64), t.astype(np.float64)

    def log_softmax(z):
        z = z - z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    ce = -log_softmax(s)[np.arange(len(y)), y].mean()
    lp, lq = log_softmax(t / temp), log_softmax(s / temp)
    kl = (np.exp(lp) * (lp - lq)).sum(axis=1).mean()
    return (1 - alpha) * ce + alpha * temp ** 2 * kl


@pytest.mark.parametrize("temp,alpha", [(4.0, 0.5), (1.0, 0.9), (2.5, 0.0)])
def test_distillation_matches_numpy_formula_and_torch(temp, alpha):
    s, y = data(10, 6, seed=12)
    t, _ = data(10, 6, seed=13)
    fn = nn.DistillationLoss(T=temp, alpha=alpha)
    loss = fn(s, y, t)
    assert loss == pytest.approx(distill_formula(s, t, y, temp, alpha), rel=1e-5, abs=1e-6)
    # torch spelling of the same loss: CE + T^2 * KLDivLoss(batchmean) on temperature-scaled log-softmaxes
    ts = torch.tensor(s, requires_grad=True)
    tl = ((1 - alpha) * F.cross_entropy(ts, torch.from_numpy(y))
          + alpha * temp ** 2 * F.kl_div(torch.log_softmax(ts / temp, 1), torch.softmax(torch.from_numpy(t) / temp, 1),
                                         reduction="batchmean"))
    tl.backward()
    assert loss == pytest.approx(tl.item(), rel=1e-5, abs=1e-6)
    np.testing.assert_allclose(fn.backward(), ts.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_distillation_gradient_matches_finite_differences():
    s, y = data(4, 5, seed=14)
    t, _ = data(4, 5, seed=15)
    fn = nn.DistillationLoss(T=3.0, alpha=0.7)
    fn(s, y, t)
    grad = fn.backward().astype(np.float64)
    s64 = s.astype(np.float64)
    numeric = np.zeros_like(s64)
    eps = 1e-6
    for idx in np.ndindex(*s.shape):
        plus, minus = s64.copy(), s64.copy()
        plus[idx] += eps
        minus[idx] -= eps
        numeric[idx] = (distill_formula(plus, t, y, 3.0, 0.7) - distill_formula(minus, t, y, 3.0, 0.7)) / (2 * eps)
    np.testing.assert_allclose(grad, numeric, rtol=1e-4, atol=1e-6)


def test_distillation_extreme_logits_and_reductions():
    s = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, -1000.0]], np.float32)
    t = np.array([[-1000.0, 1000.0, 0.0], [-1000.0, 1000.0, 999.0]], np.float32)
    y = np.array([1, 2])
    fn = nn.DistillationLoss(T=2.0, alpha=0.5)
    loss = fn(s, y, t)
    grad = fn.backward()
    assert np.isfinite(loss) and np.all(np.isfinite(grad))
    assert loss == pytest.approx(distill_formula(s, t, y, 2.0, 0.5), rel=1e-5)
    per = nn.DistillationLoss(T=2.0, alpha=0.5, reduction="none")(s, y, t)
    assert per.shape == (2,) and per.mean() == pytest.approx(loss, rel=1e-6)
    assert nn.DistillationLoss(T=2.0, alpha=0.5, reduction="sum")(s, y, t) == pytest.approx(2 * loss, rel=1e-6)


# --------------------------------------------------------------------------- errors of the new losses
@pytest.mark.parametrize("make_call,fragments", [
    (lambda: nn.MSELoss()(np.zeros((2, 3), np.float32), np.zeros((3, 2), np.float32)), ["MSELoss", "(2, 3)", "(3, 2)"]),
    (lambda: nn.L1Loss()(np.zeros(3), np.zeros(3, np.float32)), ["L1Loss", "float32", "float64"]),
    (lambda: nn.BCELoss()(np.full(2, 1.5, np.float32), np.zeros(2, np.float32)), ["BCELoss", "between 0 and 1"]),
    (lambda: nn.BCEWithLogitsLoss(pos_weight=np.ones(4))(np.zeros((2, 3), np.float32), np.zeros((2, 3), np.float32)),
     ["BCEWithLogitsLoss", "pos_weight", "(4,)"]),
    (lambda: nn.NLLLoss()(np.zeros((2, 3), np.float32), np.array([0, 3])), ["NLLLoss", "[0, 3)", "3"]),
    (lambda: nn.CrossEntropyLoss(weight=np.ones(4))(np.zeros((2, 3), np.float32), np.array([0, 1])),
     ["CrossEntropyLoss", "weight", "3"]),
    (lambda: nn.CrossEntropyLoss(label_smoothing=1.5), ["CrossEntropyLoss", "label_smoothing"]),
    (lambda: nn.KLDivLoss(reduction="avg"), ["KLDivLoss", "batchmean"]),
    (lambda: nn.DistillationLoss(T=0), ["DistillationLoss", "T"]),
    (lambda: nn.DistillationLoss(alpha=2), ["DistillationLoss", "alpha"]),
    (lambda: nn.DistillationLoss()(np.zeros((2, 3), np.float32), np.array([0, 1]), np.zeros((2, 4), np.float32)),
     ["DistillationLoss", "teacher", "(2, 4)"]),
    (lambda: nn.MSELoss(reduction="batchmean"), ["MSELoss", "reduction"]),
])
def test_new_loss_errors(make_call, fragments):
    with pytest.raises(ValueError) as e:
        make_call()
    for f in fragments:
        assert f in str(e.value), (f, str(e.value))


def test_backward_upstream_errors():
    x, t = regression_data()
    fn = nn.MSELoss(reduction="none")
    fn(x, t)
    with pytest.raises(ValueError, match=r"MSELoss\.backward.*\(6, 5\)"):
        fn.backward(np.ones((5, 6), np.float32))
    fn = nn.MSELoss()
    fn(x, t)
    with pytest.raises(ValueError, match=r"MSELoss\.backward.*scalar"):
        fn.backward(np.ones((6, 5), np.float32))
    with pytest.raises(RuntimeError, match="before a forward"):
        nn.L1Loss().backward()
