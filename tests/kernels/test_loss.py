"""Loss kernels. Fused softmax + cross-entropy: reference == cpu, PyTorch (losses, probs, gradient of the
mean), extreme logits, float64 gradchecks on both backends, hypothesis properties (rows sum to 1, shift
invariance). Weighted / label-smoothed / ignore_index cross-entropy, NLL, the elementwise losses (MSE, L1,
BCE, BCE-with-logits with pos_weight, KL divergence) and distillation: reference == cpu, PyTorch per-element
losses and gradients, float64 gradchecks, extreme logits."""

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


# --------------------------------------------------------------------------- weighted / smoothed / ignoring CE, NLL
IGNORE = -100


def ce_case(n, k, dtype, seed=0, scale=3.0, ignore_some=True):
    logits, labels = make(n, k, dtype, seed=seed, scale=scale)
    rng = np.random.default_rng(seed + 100)
    if ignore_some and n > 1:
        labels[rng.random(n) < 0.3] = IGNORE
    weight = rng.uniform(0.2, 2.0, k).astype(dtype)
    dloss = rng.standard_normal(n).astype(dtype)
    return logits, labels, weight, dloss


def ce_forward(mod, logits, labels, weight, eps):
    losses = np.full(logits.shape[0], np.nan, dtype=logits.dtype)
    probs = np.full_like(logits, np.nan)
    mod.cross_entropy_forward(losses, probs, logits, labels, weight, IGNORE, eps)
    return losses, probs


def ce_backward(mod, probs, labels, weight, dloss, eps):
    dlogits = np.full_like(probs, np.nan)
    mod.cross_entropy_backward(dlogits, probs, labels, weight, dloss, IGNORE, eps)
    return dlogits


@pytest.mark.parametrize("eps", [0.0, 0.1, 1.0])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_weighted_ce_cpu_matches_reference_and_torch(shape, dtype, eps):
    logits, labels, weight, dloss = ce_case(*shape, dtype, seed=shape[0] * shape[1])
    l_ref, p_ref = ce_forward(REF, logits, labels, weight, eps)
    l_cpu, p_cpu = ce_forward(CPU, logits, labels, weight, eps)
    assert_close(l_cpu, l_ref, dtype)
    assert_close(p_cpu, p_ref, dtype)
    g_ref = ce_backward(REF, p_ref, labels, weight, dloss, eps)
    assert_close(ce_backward(CPU, p_ref, labels, weight, dloss, eps), g_ref, dtype)
    t = torch.tensor(logits, requires_grad=True)
    tl = F.cross_entropy(t, torch.from_numpy(labels), weight=torch.from_numpy(weight), ignore_index=IGNORE,
                         label_smoothing=eps, reduction="none")
    (tl * torch.from_numpy(dloss)).sum().backward()
    tol = 2e-5 if dtype == np.float32 else 1e-12
    assert_close(l_ref, tl.detach().numpy(), dtype, tol=tol, what="losses")
    assert_close(g_ref, t.grad.numpy(), dtype, tol=tol, what="dlogits")


@pytest.mark.parametrize("eps", [0.0, 0.2])
@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_weighted_ce_gradcheck(backend, eps):
    mod = BACKENDS[backend]
    logits, labels, weight, dloss = ce_case(5, 4, np.float64, seed=3, scale=2.0)
    _, probs = ce_forward(mod, logits, labels, weight, eps)
    numeric = numerical_grad(lambda: float(ce_forward(mod, logits, labels, weight, eps)[0] @ dloss), logits)
    g = ce_backward(mod, probs, labels, weight, dloss, eps)
    assert_grad_close(g, numeric)
    assert (g[labels == IGNORE] == 0).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_weighted_ce_extreme_logits(backend, dtype):
    mod = BACKENDS[backend]
    logits = np.array([[1000.0, -1000.0, 0.0, 999.0], [-1000.0, -1000.0, -1000.0, -1000.0],
                       [1000.0, 1000.0, -1000.0, 1000.0], [-1000.0, 1000.0, -999.5, 0.0]], dtype=dtype)
    labels = np.array([1, 2, IGNORE, 0], dtype=np.int64)
    weight = np.array([0.5, 1.0, 2.0, 1.5], dtype=dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        losses, probs = ce_forward(mod, logits, labels, weight, 0.1)
        g = ce_backward(mod, probs, labels, weight, np.ones(4, dtype), 0.1)
    assert np.isfinite(losses).all() and np.isfinite(g).all()
    expected = F.cross_entropy(torch.from_numpy(logits.astype(np.float64)), torch.from_numpy(labels),
                               weight=torch.from_numpy(weight.astype(np.float64)), label_smoothing=0.1,
                               reduction="none").numpy()
    assert_close(losses, expected, dtype, tol=1e-6 if dtype == np.float32 else 1e-12)


def nll_run(mod, x, labels, weight, dloss):
    losses = np.full(x.shape[0], np.nan, dtype=x.dtype)
    mod.nll_forward(losses, x, labels, weight, IGNORE)
    dx = np.full_like(x, np.nan)
    mod.nll_backward(dx, labels, weight, dloss, IGNORE)
    return losses, dx


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_nll_cpu_matches_reference_and_torch(shape, dtype):
    logits, labels, weight, dloss = ce_case(*shape, dtype, seed=7)
    x = torch.log_softmax(torch.from_numpy(logits), 1).numpy()
    l_ref, g_ref = nll_run(REF, x, labels, weight, dloss)
    l_cpu, g_cpu = nll_run(CPU, x, labels, weight, dloss)
    assert_close(l_cpu, l_ref, dtype)
    assert_close(g_cpu, g_ref, dtype)
    t = torch.tensor(x, requires_grad=True)
    tl = F.nll_loss(t, torch.from_numpy(labels), weight=torch.from_numpy(weight), ignore_index=IGNORE,
                    reduction="none")
    (tl * torch.from_numpy(dloss)).sum().backward()
    assert_close(l_ref, tl.detach().numpy(), dtype)
    assert_close(g_ref, t.grad.numpy(), dtype)


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_nll_gradcheck(backend):
    mod = BACKENDS[backend]
    x, labels, weight, dloss = ce_case(6, 3, np.float64, seed=8)
    numeric = numerical_grad(lambda: float(nll_run(mod, x, labels, weight, dloss)[0] @ dloss), x)
    assert_grad_close(nll_run(mod, x, labels, weight, dloss)[1], numeric)


# --------------------------------------------------------------------------- elementwise losses
def _probs(rng, n):
    return rng.uniform(0.01, 0.99, n)


# name -> (make input, make target, torch per-element loss)
ELEMENTWISE = {
    "mse": (lambda r, n: r.standard_normal(n) * 2, lambda r, n: r.standard_normal(n),
            lambda x, t: F.mse_loss(x, t, reduction="none")),
    "l1": (lambda r, n: r.standard_normal(n) * 2, lambda r, n: r.standard_normal(n),
           lambda x, t: F.l1_loss(x, t, reduction="none")),
    "bce": (_probs, lambda r, n: r.uniform(0, 1, n), lambda x, t: F.binary_cross_entropy(x, t, reduction="none")),
    "kl_div": (lambda r, n: r.standard_normal(n) - 2, _probs,
               lambda x, t: F.kl_div(x, t, reduction="none")),
    "kl_div_log": (lambda r, n: r.standard_normal(n) - 2, lambda r, n: r.standard_normal(n) - 2,
                   lambda x, t: F.kl_div(x, t, reduction="none", log_target=True)),
}


ELEMENTWISE_FUNCTIONS = {"mse": ("mse_forward", "mse_backward"), "l1": ("l1_forward", "l1_backward"),
                         "bce": ("bce_forward", "bce_backward")}


def elem_forward(mod, name, x, t):
    losses = np.full_like(x, np.nan)
    if name.startswith("kl_div"):
        mod.kl_div_forward(losses, x, t, name == "kl_div_log")
    else:
        getattr(mod, ELEMENTWISE_FUNCTIONS[name][0])(losses, x, t)
    return losses


def elem_backward(mod, name, x, t, dloss):
    dx = np.full_like(x, np.nan)
    if name.startswith("kl_div"):
        mod.kl_div_backward(dx, t, dloss, name == "kl_div_log")
    else:
        getattr(mod, ELEMENTWISE_FUNCTIONS[name][1])(dx, x, t, dloss)
    return dx


def elem_case(name, n, dtype, seed=0):
    rng = np.random.default_rng(seed)
    mk_x, mk_t, _ = ELEMENTWISE[name]
    return mk_x(rng, n).astype(dtype), mk_t(rng, n).astype(dtype), rng.standard_normal(n).astype(dtype)


@pytest.mark.parametrize("n", [1, 7, 300])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_elementwise_cpu_matches_reference_and_torch(name, dtype, n):
    x, t, dloss = elem_case(name, n, dtype, seed=n)
    l_ref = elem_forward(REF, name, x, t)
    assert_close(elem_forward(CPU, name, x, t), l_ref, dtype)
    tx = torch.tensor(x, requires_grad=True)
    tl = ELEMENTWISE[name][2](tx, torch.from_numpy(t))
    (tl * torch.from_numpy(dloss)).sum().backward()
    assert_close(l_ref, tl.detach().numpy(), dtype, tol=2e-6 if dtype == np.float32 else 1e-12)
    for dl in (dloss, dloss[:1].copy()):  # per-element and broadcast (1,) upstream gradients
        g_ref = elem_backward(REF, name, x, t, dl)
        assert_close(elem_backward(CPU, name, x, t, dl), g_ref, dtype)
    assert_close(elem_backward(REF, name, x, t, dloss), tx.grad.numpy(), dtype,
                 tol=2e-6 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_elementwise_gradcheck(backend, name):
    mod = BACKENDS[backend]
    x, t, dloss = elem_case(name, 17, np.float64, seed=5)
    if name == "l1":
        x = np.where(np.abs(x - t) < 1e-2, x + 0.1, x)  # away from the kink
    numeric = numerical_grad(lambda: float(elem_forward(mod, name, x, t) @ dloss), x)
    assert_grad_close(elem_backward(mod, name, x, t, dloss), numeric)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_bce_clamps_log_at_minus_100(backend, dtype):
    mod = BACKENDS[backend]
    x = np.array([0.0, 1.0, 0.0, 1.0, 1e-45 if dtype == np.float64 else 0.0], dtype=dtype)
    t = np.array([1.0, 0.0, 0.0, 1.0, 1.0], dtype=dtype)
    with np.errstate(over="raise", invalid="raise"):
        losses = elem_forward(mod, "bce", x, t)
        dx = elem_backward(mod, "bce", x, t, np.ones(5, dtype))
    expected = F.binary_cross_entropy(torch.from_numpy(x), torch.from_numpy(t), reduction="none").numpy()
    np.testing.assert_allclose(losses, expected, rtol=1e-6)
    assert losses[0] == 100 and losses[1] == 100 and np.isfinite(dx).all()


def bcel_run(mod, x, t, pw, dloss):
    losses = np.full_like(x, np.nan)
    mod.bce_with_logits_forward(losses, x, t, pw)
    dx = np.full_like(x, np.nan)
    mod.bce_with_logits_backward(dx, x, t, pw, dloss)
    return losses, dx


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (7, 1), (5, 3), (16, 10)])
def test_bce_with_logits_cpu_matches_reference_and_torch(shape, dtype):
    rng = np.random.default_rng(shape[0])
    x = (rng.standard_normal(shape) * 4).astype(dtype)
    t = rng.uniform(0, 1, shape).astype(dtype)
    pw = rng.uniform(0.2, 3.0, shape[1]).astype(dtype)
    dloss = rng.standard_normal(shape).astype(dtype)
    l_ref, g_ref = bcel_run(REF, x, t, pw, dloss)
    l_cpu, g_cpu = bcel_run(CPU, x, t, pw, dloss.reshape(-1))
    assert_close(l_cpu, l_ref, dtype)
    assert_close(g_cpu, g_ref, dtype)
    tx = torch.tensor(x, requires_grad=True)
    tl = F.binary_cross_entropy_with_logits(tx, torch.from_numpy(t), pos_weight=torch.from_numpy(pw),
                                            reduction="none")
    (tl * torch.from_numpy(dloss)).sum().backward()
    tol = 2e-6 if dtype == np.float32 else 1e-12
    assert_close(l_ref, tl.detach().numpy(), dtype, tol=tol)
    assert_close(g_ref, tx.grad.numpy(), dtype, tol=tol)


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_bce_with_logits_gradcheck_and_extremes(backend):
    mod = BACKENDS[backend]
    rng = np.random.default_rng(9)
    x, t = rng.standard_normal((4, 3)) * 3, rng.uniform(0, 1, (4, 3))
    pw, dloss = rng.uniform(0.5, 2, 3), rng.standard_normal(12)
    numeric = numerical_grad(lambda: float(bcel_run(mod, x, t, pw, dloss)[0].reshape(-1) @ dloss), x)
    assert_grad_close(bcel_run(mod, x, t, pw, dloss)[1], numeric)
    for dtype in DTYPES:
        xe = np.array([[-1000.0, 1000.0], [1000.0, -1000.0]], dtype=dtype)
        te = np.array([[1.0, 0.0], [1.0, 0.0]], dtype=dtype)
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            losses, dx = bcel_run(mod, xe, te, np.ones(2, dtype), np.ones(1, dtype))
        np.testing.assert_allclose(losses, [[1000.0, 1000.0], [0.0, 0.0]], rtol=1e-6)
        np.testing.assert_allclose(dx, [[-1.0, 1.0], [0.0, 0.0]], atol=1e-6)


# --------------------------------------------------------------------------- distillation
def distill_numpy(s, t, y, temp, alpha):
    """The formula in NumPy, float64: (1-a) CE(s, y) + a T^2 KL(softmax(t/T) || softmax(s/T)) per row."""
    def log_softmax(z):
        z = z - z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    ce = -log_softmax(s)[np.arange(len(y)), y]
    lp, lq = log_softmax(t / temp), log_softmax(s / temp)
    return (1 - alpha) * ce + alpha * temp ** 2 * (np.exp(lp) * (lp - lq)).sum(axis=1)


def distill_run(mod, s, t, y, temp, alpha, dloss):
    n, k = s.shape
    losses = np.full(n, np.nan, s.dtype)
    probs, ss, st_ = (np.full_like(s, np.nan) for _ in range(3))
    mod.distillation_forward(losses, probs, ss, st_, s, t, y, temp, alpha)
    ds = np.full_like(s, np.nan)
    mod.distillation_backward(ds, probs, ss, st_, y, dloss, temp, alpha)
    return losses, ds


@pytest.mark.parametrize("temp,alpha", [(1.0, 0.5), (4.0, 0.7), (2.0, 0.0), (3.0, 1.0)])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (5, 3), (16, 10)])
def test_distillation_cpu_matches_reference_and_formula(shape, dtype, temp, alpha):
    s, y = make(*shape, dtype, seed=1)
    t, _ = make(*shape, dtype, seed=2)
    dloss = np.random.default_rng(3).standard_normal(shape[0]).astype(dtype)
    l_ref, g_ref = distill_run(REF, s, t, y, temp, alpha, dloss)
    l_cpu, g_cpu = distill_run(CPU, s, t, y, temp, alpha, dloss)
    assert_close(l_cpu, l_ref, dtype)
    assert_close(g_cpu, g_ref, dtype)
    expected = distill_numpy(s.astype(np.float64), t.astype(np.float64), y, temp, alpha)
    assert_close(l_ref, expected, dtype, tol=2e-5 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_distillation_gradcheck(backend):
    mod = BACKENDS[backend]
    s, y = make(4, 5, np.float64, seed=4)
    t, _ = make(4, 5, np.float64, seed=5)
    dloss = np.random.default_rng(6).standard_normal(4)
    numeric = numerical_grad(lambda: float(distill_run(mod, s, t, y, 3.0, 0.6, dloss)[0] @ dloss), s)
    assert_grad_close(distill_run(mod, s, t, y, 3.0, 0.6, dloss)[1], numeric)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_distillation_extreme_logits(backend, dtype):
    mod = BACKENDS[backend]
    s = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, -1000.0]], dtype=dtype)
    t = np.array([[-1000.0, 1000.0, 0.0], [-1000.0, 1000.0, 999.0]], dtype=dtype)
    y = np.array([1, 1], dtype=np.int64)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        losses, ds = distill_run(mod, s, t, y, 2.0, 0.5, np.ones(2, dtype))
    assert np.isfinite(losses).all() and np.isfinite(ds).all()
    assert_close(losses, distill_numpy(s.astype(np.float64), t.astype(np.float64), y, 2.0, 0.5), dtype,
                 tol=1e-6 if dtype == np.float32 else 1e-12)


# --------------------------------------------------------------------------- the vectorizable float32 exp
def test_fast_float32_exp_accuracy_and_edges():
    from numba import njit

    from kernels.cpu._expf import exp_

    @njit
    def run(y, x):
        for i in range(x.size):
            y[i] = exp_(x[i])

    x = np.concatenate([np.linspace(-87.3, 88.7, 400_001), [-1e-8, 0.0, 1e-8, 88.72, -87.33]]).astype(np.float32)
    y = np.empty_like(x)
    run(y, x)
    exact = np.exp(x.astype(np.float64))
    np.testing.assert_allclose(y, exact, rtol=2.5e-7, atol=0)  # ~2 ulp
    edges = np.array([np.nan, -np.inf, np.inf, -1000.0, -88.0, 89.0, 1000.0], np.float32)
    ye = np.empty_like(edges)
    run(ye, edges)
    assert np.isnan(ye[0])
    np.testing.assert_array_equal(ye[1:], [0.0, np.inf, 0.0, 0.0, np.inf, np.inf])
    x64 = np.array([-700.0, 0.5, 700.0])  # float64 keeps math.exp
    y64 = np.empty_like(x64)
    run(y64, x64)
    np.testing.assert_allclose(y64, np.exp(x64), rtol=1e-15)


# --------------------------------------------------------------------------- accuracy_count
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (7, 3), (200, 10), (5, 0)])
def test_accuracy_count_matches_argmax(shape, dtype):
    rng = np.random.default_rng(shape[0])
    logits = rng.integers(0, 3, shape).astype(dtype)  # many ties: the first maximum wins
    labels = rng.integers(0, max(shape[1], 1), shape[0]).astype(np.int64)
    if shape[0] > 10:
        logits[3, 5], logits[4, :], logits[5, [2, 7]] = np.nan, np.nan, np.nan  # NaN wins, the first NaN
        labels[3], labels[4], labels[5] = 5, 0, 2
    expected = int(np.count_nonzero(logits.argmax(axis=1) == labels)) if logits.size else 0
    for mod in BACKENDS.values():
        out = np.full(1, -1, np.int64)
        mod.accuracy_count(out, logits, labels)
        assert out[0] == expected
