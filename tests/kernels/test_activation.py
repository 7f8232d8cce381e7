"""Activations: reference == cpu (1-D arrays; softmax/log_softmax on rows), PyTorch forward and backward,
extreme inputs (+-1000), NaN propagation, float64 gradchecks of every backward on both backends, softmax
properties (rows sum to 1, shift invariance)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from gradcheck import assert_close, assert_grad_close, numerical_grad, weighted_sum
from hypothesis import given, settings
from hypothesis import strategies as st

import kernels

REF = kernels.get("reference")
CPU = kernels.get("cpu")
BACKENDS = {"reference": REF, "cpu": CPU}
DTYPES = [np.float32, np.float64]
SIZES = [1, 7, 1000]

# name -> (alpha or None); leaky_relu's backward uses x, so any alpha (negative too) is exact
ACTS = [("relu", None), ("leaky_relu", 0.2), ("leaky_relu", -0.3), ("leaky_relu", 0.0),
        ("sigmoid", None), ("tanh", None)]
ACT_IDS = ["relu", "leaky0.2", "leaky-0.3", "leaky0", "sigmoid", "tanh"]
FUNCTIONS = {"relu": ("relu_forward", "relu_backward"),
             "leaky_relu": ("leaky_relu_forward", "leaky_relu_backward"),
             "sigmoid": ("sigmoid_forward", "sigmoid_backward"),
             "tanh": ("tanh_forward", "tanh_backward")}


def fwd(mod, name, alpha, x):
    y = np.full_like(x, np.nan)
    f = getattr(mod, FUNCTIONS[name][0])
    f(y, x) if alpha is None else f(y, x, alpha)
    return y


def bwd(mod, name, alpha, dy, x, y):
    """The backward with dx pre-filled with NaN (must be overwritten); leaky_relu reads x, the rest y."""
    dx = np.full_like(dy, np.nan)
    f = getattr(mod, FUNCTIONS[name][1])
    f(dx, dy, y) if alpha is None else f(dx, dy, x, alpha)
    return dx


def torch_forward(name, alpha, x):
    t = torch.from_numpy(x)
    return {"relu": F.relu, "leaky_relu": lambda u: F.leaky_relu(u, alpha),
            "sigmoid": torch.sigmoid, "tanh": torch.tanh}[name](t).numpy()


def sample(n, dtype, seed=0, kink_gap=0.0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n) * 3
    x = np.where(np.abs(x) < kink_gap, np.sign(x + 1e-300) * kink_gap + x, x)
    return x.astype(dtype)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,alpha", ACTS, ids=ACT_IDS)
def test_cpu_matches_reference(name, alpha, dtype, n):
    x = sample(n, dtype)
    y_ref = fwd(REF, name, alpha, x)
    y_cpu = fwd(CPU, name, alpha, x)
    assert y_cpu.dtype == dtype
    assert_close(y_cpu, y_ref, dtype)
    dy = sample(n, dtype, seed=1)
    assert_close(bwd(CPU, name, alpha, dy, x, y_ref), bwd(REF, name, alpha, dy, x, y_ref), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,alpha", ACTS, ids=ACT_IDS)
def test_forward_matches_torch(name, alpha, dtype):
    x = sample(257, dtype, seed=2)
    expected = torch_forward(name, alpha, x)
    for b, mod in BACKENDS.items():
        assert_close(fwd(mod, name, alpha, x), expected, dtype, tol=1e-6 if dtype == np.float32 else 1e-14,
                     what=b)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,alpha", ACTS, ids=ACT_IDS)
def test_extreme_inputs_and_nan(name, alpha, dtype):
    # no overflow warnings or NaN from +-1000 (sigmoid splits by sign); NaN in -> NaN out (no fastmath nnan)
    x = np.array([-1000.0, -100.0, -30.0, 0.0, 30.0, 100.0, 1000.0, np.nan], dtype=dtype)
    expected = torch_forward(name, alpha, x)
    for b, mod in BACKENDS.items():
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            y = fwd(mod, name, alpha, x[:-1])
        assert np.isfinite(y).all(), b
        assert_close(y, expected[:-1], dtype, tol=1e-6, what=b)
        assert np.isnan(fwd(mod, name, alpha, x)[-1]), f"{b}: NaN must propagate"


@pytest.mark.parametrize("name,alpha", ACTS, ids=ACT_IDS)
@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_gradcheck(backend, name, alpha):
    mod = BACKENDS[backend]
    x = sample(23, np.float64, seed=3, kink_gap=1e-2)  # away from the 0 kink of relu/leaky_relu
    r = sample(23, np.float64, seed=4)
    y = fwd(mod, name, alpha, x)
    numeric = numerical_grad(weighted_sum(lambda: fwd(mod, name, alpha, x), r), x)
    assert_grad_close(bwd(mod, name, alpha, r, x, y), numeric)


# --------------------------------------------------------------------------- activations with their own kernels
# id -> (forward fn, backward fn, forward scalars, backward scalars, torch forward). Every backward here reads
# the input x: backward(dx, dy, x, *scalars) (step_backward reads neither: step_backward(dx, dy, straight_through)).
NEW = {
    "elu1": ("elu_forward", "elu_backward", (1.0,), (1.0,), lambda t: F.elu(t, 1.0)),
    "elu0.3": ("elu_forward", "elu_backward", (0.3,), (0.3,), lambda t: F.elu(t, 0.3)),
    "softplus": ("softplus_forward", "softplus_backward", (1.0, 20.0), (1.0, 20.0), lambda t: F.softplus(t)),
    "softplus_b2_t3": ("softplus_forward", "softplus_backward", (2.0, 3.0), (2.0, 3.0),
                       lambda t: F.softplus(t, beta=2.0, threshold=3.0)),
    "gelu": ("gelu_forward", "gelu_backward", (False,), (False,), lambda t: F.gelu(t)),
    "gelu_tanh": ("gelu_forward", "gelu_backward", (True,), (True,), lambda t: F.gelu(t, approximate="tanh")),
    "silu": ("silu_forward", "silu_backward", (), (), F.silu),
}


def new_fwd(mod, key, x):
    f, _, fs, _, _ = NEW[key]
    y = np.full_like(x, np.nan)
    getattr(mod, f)(y, x, *fs)
    return y


def new_bwd(mod, key, dy, x):
    _, b, _, bs, _ = NEW[key]
    dx = np.full_like(dy, np.nan)
    getattr(mod, b)(dx, dy, x, *bs)
    return dx


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("key", sorted(NEW))
def test_new_cpu_matches_reference(key, dtype, n):
    x, dy = sample(n, dtype), sample(n, dtype, seed=1)
    assert_close(new_fwd(CPU, key, x), new_fwd(REF, key, x), dtype)
    assert_close(new_bwd(CPU, key, dy, x), new_bwd(REF, key, dy, x), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("key", sorted(NEW))
def test_new_forward_and_backward_match_torch(key, dtype):
    x, dy = sample(257, dtype, seed=2), sample(257, dtype, seed=5)
    t = torch.tensor(x, requires_grad=True)
    ty = NEW[key][4](t)
    ty.backward(torch.from_numpy(dy))
    tol = 2e-6 if dtype == np.float32 else 1e-13
    for b, mod in BACKENDS.items():
        assert_close(new_fwd(mod, key, x), ty.detach().numpy(), dtype, tol=tol, what=f"{b} forward")
        assert_close(new_bwd(mod, key, dy, x), t.grad.numpy(), dtype, tol=tol, what=f"{b} backward")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("key", sorted(NEW))
def test_new_extreme_inputs_and_nan(key, dtype):
    x = np.array([-1000.0, -100.0, -30.0, 0.0, 30.0, 100.0, 1000.0], dtype=dtype)
    t = torch.tensor(x, requires_grad=True)
    ty = NEW[key][4](t)
    ty.sum().backward()
    for b, mod in BACKENDS.items():
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            y = new_fwd(mod, key, x)
            dx = new_bwd(mod, key, np.ones_like(x), x)
        assert np.isfinite(y).all() and np.isfinite(dx).all(), b
        assert_close(y, ty.detach().numpy(), dtype, tol=1e-6, what=b)
        assert_close(dx, t.grad.numpy(), dtype, tol=1e-6, what=b)
        assert np.isnan(new_fwd(mod, key, np.array([np.nan], dtype)))[0], f"{b}: NaN must propagate"


@pytest.mark.parametrize("key", sorted(NEW))
@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_new_gradcheck(backend, key):
    mod = BACKENDS[backend]
    x = sample(23, np.float64, seed=3, kink_gap=1e-2)  # away from elu's kink at 0
    r = sample(23, np.float64, seed=4)
    if key == "softplus_b2_t3":  # also away from the threshold switch at beta*x = 3
        x = np.where(np.abs(2 * x - 3) < 1e-2, x + 0.05, x)
    numeric = numerical_grad(weighted_sum(lambda: new_fwd(mod, key, x), r), x)
    assert_grad_close(new_bwd(mod, key, r, x), numeric)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_step_forward_and_backward(backend, dtype):
    mod = BACKENDS[backend]
    x = np.array([-1000.0, -1.5, -1e-30, 0.0, 1e-30, 2.0, 1000.0] + list(sample(300, np.float64)), dtype=dtype)
    y = np.full_like(x, np.nan)
    mod.step_forward(y, x)
    tx = torch.from_numpy(x)
    np.testing.assert_array_equal(y, torch.heaviside(tx, torch.ones((), dtype=tx.dtype)).numpy())
    dy = sample(x.size, dtype, seed=7)
    dx = np.full_like(dy, np.nan)
    mod.step_backward(dx, dy, False)  # the true derivative: 0 almost everywhere
    np.testing.assert_array_equal(dx, 0)
    mod.step_backward(dx, dy, True)  # straight-through: identity gradient
    np.testing.assert_array_equal(dx, dy)
    # gradcheck away from 0: the numeric derivative is 0, as the default backward
    xs = sample(23, np.float64, seed=3, kink_gap=1e-2)
    r = sample(23, np.float64, seed=4)
    numeric = numerical_grad(weighted_sum(lambda: (mod.step_forward(y64 := np.empty_like(xs), xs), y64)[1], r), xs)
    mod.step_backward(d64 := np.empty_like(r), r, False)
    assert_grad_close(d64, numeric)


# --------------------------------------------------------------------------- softmax / log_softmax (rows)
SOFTMAXES = {"softmax": ("softmax_forward", "softmax_backward", lambda t: torch.softmax(t, dim=1)),
             "log_softmax": ("log_softmax_forward", "log_softmax_backward", lambda t: torch.log_softmax(t, dim=1))}
ROW_SHAPES = [(1, 1), (1, 7), (5, 3), (64, 10), (3, 1000)]


def sm_fwd(mod, key, x):
    y = np.full_like(x, np.nan)
    getattr(mod, SOFTMAXES[key][0])(y, x)
    return y


def sm_bwd(mod, key, dy, y):
    dx = np.full_like(dy, np.nan)
    getattr(mod, SOFTMAXES[key][1])(dx, dy, y)
    return dx


def sample2(shape, dtype, seed=0, scale=3.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)


@pytest.mark.parametrize("shape", ROW_SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("key", sorted(SOFTMAXES))
def test_softmax_cpu_matches_reference_and_torch(key, dtype, shape):
    x, dy = sample2(shape, dtype), sample2(shape, dtype, seed=1)
    y_ref = sm_fwd(REF, key, x)
    assert_close(sm_fwd(CPU, key, x), y_ref, dtype)
    assert_close(sm_bwd(CPU, key, dy, y_ref), sm_bwd(REF, key, dy, y_ref), dtype)
    t = torch.tensor(x, requires_grad=True)
    ty = SOFTMAXES[key][2](t)
    ty.backward(torch.from_numpy(dy))
    tol = 2e-5 if dtype == np.float32 else 1e-12
    for b, mod in BACKENDS.items():
        y = sm_fwd(mod, key, x)
        assert_close(y, ty.detach().numpy(), dtype, tol=tol, what=f"{b} forward")
        assert_close(sm_bwd(mod, key, dy, y), t.grad.numpy(), dtype, tol=tol, what=f"{b} backward")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("key", sorted(SOFTMAXES))
def test_softmax_extreme_logits(key, dtype):
    x = np.array([[1000.0, -1000.0, 0.0, 999.0], [-1000.0, -1000.0, -1000.0, -1000.0],
                  [1000.0, 1000.0, -1000.0, 1000.0]], dtype=dtype)
    t = torch.tensor(x.astype(np.float64), requires_grad=True)
    ty = SOFTMAXES[key][2](t)
    ty.sum().backward()
    for b, mod in BACKENDS.items():
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            y = sm_fwd(mod, key, x)
            dx = sm_bwd(mod, key, np.ones_like(x), y)
        assert np.isfinite(y).all() and np.isfinite(dx).all(), b
        assert_close(y, ty.detach().numpy(), dtype, tol=1e-6, what=b)
        assert_close(dx, t.grad.numpy(), dtype, tol=1e-6, what=b)


@pytest.mark.parametrize("key", sorted(SOFTMAXES))
@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_softmax_gradcheck(backend, key):
    mod = BACKENDS[backend]
    x, r = sample2((4, 6), np.float64, seed=3), sample2((4, 6), np.float64, seed=4)
    numeric = numerical_grad(weighted_sum(lambda: sm_fwd(mod, key, x), r), x)
    assert_grad_close(sm_bwd(mod, key, r, sm_fwd(mod, key, x)), numeric)


@settings(deadline=None, max_examples=25)
@given(st.integers(1, 5), st.integers(1, 9), st.floats(-500, 500), st.integers(0, 2 ** 31))
def test_property_softmax_rows_sum_to_one_and_shift_invariant(n, k, shift, seed):
    x = sample2((n, k), np.float64, seed=seed, scale=50.0)
    for b, mod in BACKENDS.items():
        y = sm_fwd(mod, "softmax", x)
        np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=0, atol=1e-12, err_msg=b)
        np.testing.assert_allclose(sm_fwd(mod, "softmax", x + shift), y, rtol=0, atol=1e-12, err_msg=b)
        ly = sm_fwd(mod, "log_softmax", x)
        np.testing.assert_allclose(np.exp(ly), y, rtol=1e-12, atol=1e-300, err_msg=b)
