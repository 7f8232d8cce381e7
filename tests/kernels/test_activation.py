"""Elementwise activations: reference == cpu (1-D arrays), PyTorch, extreme inputs, NaN propagation,
float64 gradchecks of every backward on both backends."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from gradcheck import assert_close, assert_grad_close, numerical_grad, weighted_sum

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
