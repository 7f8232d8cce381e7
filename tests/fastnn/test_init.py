"""Initializers: sample statistics within 5 sigma of the formulas (dense and conv shapes), fans and gains
equal to PyTorch's, orthogonality, seeding, layers' init= / bias_init=, and argument validation."""

from __future__ import annotations

import fastnn  # noqa: F401, I001  # isort: skip  (first: kernels set the thread policy before OpenMP starts)

import json
import math

import numpy as np
import pytest
import torch
from scipy import stats

from fastnn import init, io, nn

DENSE = (256, 512)
CONV = (64, 32, 3, 3)
SHAPES = [DENSE, CONV]


def torch_fans(shape):
    return torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))


def gain(nl, param=None):
    return torch.nn.init.calculate_gain(nl, param)


def uniform_dist(bound):
    return stats.uniform(loc=-bound, scale=2 * bound)


def trunc_dist(mean, std, a, b):
    return stats.truncnorm((a - mean) / std, (b - mean) / std, loc=mean, scale=std)


# Each case: (fastnn call, the expected distribution for a shape) — the expectation is written from the
# formula with PyTorch's fans, independently of fastnn's code.
CASES = {
    "uniform": (lambda w, r: init.uniform_(w, -0.3, 0.7, rng=r), lambda s: stats.uniform(-0.3, 1.0)),
    "normal": (lambda w, r: init.normal_(w, 0.5, 2.0, rng=r), lambda s: stats.norm(0.5, 2.0)),
    "trunc_normal": (lambda w, r: init.trunc_normal_(w, 0.1, 0.5, -0.5, 1.0, rng=r),
                     lambda s: trunc_dist(0.1, 0.5, -0.5, 1.0)),
    "trunc_normal_tail": (lambda w, r: init.trunc_normal_(w, 0.0, 1.0, 2.5, 4.0, rng=r),
                          lambda s: trunc_dist(0.0, 1.0, 2.5, 4.0)),
    "xavier_uniform_tanh": (lambda w, r: init.xavier_uniform_(w, gain=init.calculate_gain("tanh"), rng=r),
                            lambda s: uniform_dist(gain("tanh") * math.sqrt(6 / sum(torch_fans(s))))),
    "xavier_normal_2": (lambda w, r: init.xavier_normal_(w, gain=2.0, rng=r),
                        lambda s: stats.norm(0, 2.0 * math.sqrt(2 / sum(torch_fans(s))))),
    "kaiming_uniform_relu": (lambda w, r: init.kaiming_uniform_(w, nonlinearity="relu", rng=r),
                             lambda s: uniform_dist(math.sqrt(2) * math.sqrt(3 / torch_fans(s)[0]))),
    "kaiming_uniform_leaky_fan_out": (
        lambda w, r: init.kaiming_uniform_(w, negative_slope=0.2, mode="fan_out", rng=r),
        lambda s: uniform_dist(gain("leaky_relu", 0.2) * math.sqrt(3 / torch_fans(s)[1]))),
    "kaiming_normal_relu_fan_out": (lambda w, r: init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu", rng=r),
                                    lambda s: stats.norm(0, math.sqrt(2) / math.sqrt(torch_fans(s)[1]))),
    "kaiming_normal_selu": (lambda w, r: init.kaiming_normal_(w, nonlinearity="selu", rng=r),
                            lambda s: stats.norm(0, 0.75 / math.sqrt(torch_fans(s)[0]))),
    "variance_scaling_truncated": (  # Keras: truncated at +-2 s, s = sqrt(scale / n) / 0.8796...
        lambda w, r: init.variance_scaling_(w, 2.0, "fan_in", "truncated_normal", rng=r),
        lambda s: trunc_dist(0, math.sqrt(2.0 / torch_fans(s)[0]) / 0.87962566103423978,
                             -2 * math.sqrt(2.0 / torch_fans(s)[0]) / 0.87962566103423978,
                             2 * math.sqrt(2.0 / torch_fans(s)[0]) / 0.87962566103423978)),
    "variance_scaling_normal_is_truncated": (
        lambda w, r: init.variance_scaling_(w, 1.0, "fan_avg", "normal", rng=r),
        lambda s: trunc_dist(0, math.sqrt(2.0 / sum(torch_fans(s))) / 0.87962566103423978,
                             -2 * math.sqrt(2.0 / sum(torch_fans(s))) / 0.87962566103423978,
                             2 * math.sqrt(2.0 / sum(torch_fans(s))) / 0.87962566103423978)),
    "variance_scaling_untruncated": (
        lambda w, r: init.variance_scaling_(w, 0.5, "fan_out", "untruncated_normal", rng=r),
        lambda s: stats.norm(0, math.sqrt(0.5 / torch_fans(s)[1]))),
    "variance_scaling_uniform": (lambda w, r: init.variance_scaling_(w, 3.0, "fan_avg", "uniform", rng=r),
                                 lambda s: uniform_dist(math.sqrt(3 * 3.0 / (sum(torch_fans(s)) / 2)))),
    "he_normal_keras": (lambda w, r: init.get_initializer("he_normal")(w, rng=r),
                        lambda s: trunc_dist(0, math.sqrt(2 / torch_fans(s)[0]) / 0.87962566103423978,
                                             -2 * math.sqrt(2 / torch_fans(s)[0]) / 0.87962566103423978,
                                             2 * math.sqrt(2 / torch_fans(s)[0]) / 0.87962566103423978)),
    "lecun_uniform_keras": (lambda w, r: init.get_initializer("lecun_uniform")(w, rng=r),
                            lambda s: uniform_dist(math.sqrt(3 / torch_fans(s)[0]))),
    "torch_default_weight": (lambda w, r: (init.torch_default_(w, None, rng=r), w)[1],
                             lambda s: uniform_dist(1 / math.sqrt(torch_fans(s)[0]))),
}


@pytest.mark.parametrize("shape", SHAPES, ids=["dense", "conv"])
@pytest.mark.parametrize("name", list(CASES))
def test_sample_mean_and_variance_match_the_formula(name, shape):
    fill, dist_of = CASES[name]
    w = np.empty(shape, np.float32)
    out = fill(w, np.random.default_rng(1234))
    assert out is w, "initializers work in place and return their array"
    dist = dist_of(shape)
    n = w.size
    x = w.astype(np.float64).ravel()
    mean, var = dist.mean(), dist.var()
    mu4 = dist.expect(lambda v: (v - mean) ** 4)  # 4th central moment: the sampling error of the variance
    tol_mean = 5 * math.sqrt(var / n)
    tol_var = 5 * math.sqrt((mu4 - var ** 2) / n)
    assert abs(x.mean() - mean) <= tol_mean, (x.mean(), mean, tol_mean)
    assert abs(x.var() - var) <= tol_var, (x.var(), var, tol_var)
    lo, hi = dist.support()
    assert x.min() >= lo - 1e-6 * max(1, abs(lo)) and x.max() <= hi + 1e-6 * max(1, abs(hi))
    if shape == DENSE:  # the bound is tight enough to catch a scale 5% off
        assert tol_var / var < 0.05


@pytest.mark.parametrize("shape", [(3, 4), DENSE, CONV, (8, 3, 5), (2, 3, 4, 5, 6), (1, 1), (5, 7, 1, 1)])
def test_fans_equal_pytorch(shape):
    assert init.fan_in_fan_out(shape) == torch_fans(shape)
    assert init.calculate_fan_in_and_fan_out(np.empty(shape, np.float32)) == torch_fans(shape)


def test_fans_need_two_dimensions_like_pytorch():
    with pytest.raises(ValueError):
        torch_fans((5,))
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        init.fan_in_fan_out((5,))


@pytest.mark.parametrize("nl, param", [
    ("linear", None), ("conv1d", None), ("conv2d", None), ("conv3d", None), ("conv_transpose2d", None),
    ("sigmoid", None), ("tanh", None), ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.2),
    ("leaky_relu", 0), ("leaky_relu", 1), ("leaky_relu", math.sqrt(5)), ("selu", None)])
def test_calculate_gain_equals_pytorch(nl, param):
    assert init.calculate_gain(nl, param) == torch.nn.init.calculate_gain(nl, param)


@pytest.mark.parametrize("nl, param", [("swish", None), ("leaky_relu", "0.2"), ("leaky_relu", True)])
def test_calculate_gain_rejects_what_pytorch_rejects(nl, param):
    with pytest.raises(ValueError):
        torch.nn.init.calculate_gain(nl, param)
    with pytest.raises(ValueError):
        init.calculate_gain(nl, param)


@pytest.mark.parametrize("shape", [(64, 128), (128, 64), (32, 16, 3, 3), (50, 50)])
@pytest.mark.parametrize("g", [1.0, math.sqrt(2)])
def test_orthogonal_gives_scaled_orthonormal_rows_or_columns(shape, g):
    w = init.orthogonal_(np.empty(shape, np.float32), gain=g, rng=np.random.default_rng(0))
    m = w.reshape(shape[0], -1).astype(np.float64)
    gram = m @ m.T if m.shape[0] <= m.shape[1] else m.T @ m
    np.testing.assert_allclose(gram, g * g * np.eye(len(gram)), atol=2e-5 * g * g)


@pytest.mark.parametrize("shape", [(6, 10), (10, 6), (4, 3, 2, 2)])
def test_orthogonal_is_pytorchs_algorithm_on_the_same_gaussian_draw(shape):
    """QR of the standard normal (rows, cols) draw, transposed when rows < cols, sign-fixed by diag(R)."""
    w = init.orthogonal_(np.empty(shape, np.float64), gain=1.5, rng=np.random.default_rng(7))
    rows = shape[0]
    cols = math.prod(shape) // rows
    g = torch.from_numpy(np.random.default_rng(7).standard_normal((rows, cols)))
    if rows < cols:
        g = g.T
    q, r = torch.linalg.qr(g)
    q = q * torch.diag(r, 0).sign()
    if rows < cols:
        q = q.T
    np.testing.assert_allclose(w, (1.5 * q).numpy().reshape(shape), rtol=1e-10, atol=1e-12)


RANDOM = {name: fill for name, (fill, _) in CASES.items()} | {
    "orthogonal": lambda w, r: init.orthogonal_(w, rng=r)}


@pytest.mark.parametrize("name", list(RANDOM))
def test_same_seed_same_weights_different_seed_different(name):
    fill = RANDOM[name]

    def draw(seed):
        return fill(np.empty(CONV, np.float32), np.random.default_rng(seed))

    assert np.array_equal(draw(3), draw(3))
    assert not np.array_equal(draw(3), draw(4))
    # rng=None: the global generator, reseeded by fastnn.manual_seed
    fastnn.manual_seed(11)
    a = fill(np.empty(CONV, np.float32), None)
    fastnn.manual_seed(11)
    b = fill(np.empty(CONV, np.float32), None)
    assert np.array_equal(a, b)


def test_constants():
    w = np.full((3, 4), 7.0, np.float32)
    assert np.all(init.zeros_(w) == 0) and np.all(init.ones_(w) == 1)
    assert np.all(init.constant_(w, 0.1) == np.float32(0.1))


def test_fastnn_nn_init_is_this_module():
    import fastnn.nn.init as nn_init

    assert nn_init is init and nn.init is init


# --------------------------------------------------------------------------- layers


def test_layer_default_init_is_unchanged_pytorchs():
    """No init= / bias_init=: exactly the 0.1 draws (W then b, U(+-1/sqrt(fan_in)), from the given rng)."""
    lin = nn.Linear(20, 7, rng=np.random.default_rng(5))
    rng = np.random.default_rng(5)
    b = 1 / math.sqrt(20)
    w = rng.uniform(-math.sqrt(2 / 6) * math.sqrt(3 / 20), math.sqrt(2 / 6) * math.sqrt(3 / 20), (7, 20))
    np.testing.assert_array_equal(lin.weight.data, w.astype(np.float32))
    np.testing.assert_array_equal(lin.bias.data, rng.uniform(-b, b, 7).astype(np.float32))
    conv = nn.Conv2d(3, 4, 3, rng=np.random.default_rng(5))
    assert np.abs(conv.weight.data).max() <= 1 / math.sqrt(27) and np.abs(conv.bias.data).max() <= 1 / math.sqrt(27)


def test_layer_init_by_name_and_bias_constant():
    lin = nn.Linear(300, 200, rng=np.random.default_rng(0), init="xavier_uniform", bias_init=0.1)
    expected = init.xavier_uniform_(np.empty((200, 300), np.float32), rng=np.random.default_rng(0))
    np.testing.assert_array_equal(lin.weight.data, expected)
    assert np.all(lin.bias.data == np.float32(0.1))
    conv = nn.Conv2d(16, 32, 3, rng=np.random.default_rng(1), init="kaiming_normal_", bias_init="zeros")
    expected = init.kaiming_normal_(np.empty((32, 16, 3, 3), np.float32), rng=np.random.default_rng(1))
    np.testing.assert_array_equal(conv.weight.data, expected)
    assert np.all(conv.bias.data == 0)
    ortho = nn.Linear(64, 32, init="orthogonal", bias=False, rng=np.random.default_rng(2))
    np.testing.assert_allclose(ortho.weight.data @ ortho.weight.data.T, np.eye(32), atol=1e-5)


def test_layer_init_default_weight_with_custom_bias_and_vice_versa():
    lin = nn.Linear(10, 5, rng=np.random.default_rng(0), bias_init=0.5)  # weight: PyTorch's default
    ref = nn.Linear(10, 5, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(lin.weight.data, ref.weight.data)
    assert np.all(lin.bias.data == 0.5)
    lin = nn.Linear(10, 5, rng=np.random.default_rng(0), init="ones")  # bias: PyTorch's default bound
    assert np.all(lin.weight.data == 1) and np.abs(lin.bias.data).max() <= 1 / math.sqrt(10)
    assert len(np.unique(lin.bias.data)) == 5


def test_layer_init_callables():
    rng = np.random.default_rng(3)
    lin = nn.Linear(8, 4, init=lambda w: init.normal_(w, 0, 0.01, rng=rng), bias_init=lambda b: init.constant_(b, -1))
    assert 0 < lin.weight.data.std() < 0.05 and np.all(lin.bias.data == -1)
    # a callable that returns a new array instead of filling in place: copied in
    lin = nn.Linear(8, 4, init=lambda w: np.full(w.shape, 2.0), bias_init=lambda b: np.arange(4))
    assert np.all(lin.weight.data == 2) and lin.bias.data.tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="shape"):
        nn.Linear(8, 4, init=lambda w: np.zeros(3))


def test_layer_init_errors_name_the_layer():
    with pytest.raises(ValueError, match="Linear init: unknown initializer 'glorot_magic'"):
        nn.Linear(4, 4, init="glorot_magic")
    with pytest.raises(ValueError, match="Conv2d bias_init"):
        nn.Conv2d(1, 2, 3, bias_init="xavier_uniform")  # a 1-D bias has no fans
    with pytest.raises(TypeError, match="Linear init"):
        nn.Linear(4, 4, init=[1, 2])


def test_init_args_are_not_in_config_and_models_round_trip(tmp_path):
    model = nn.Sequential(nn.Conv2d(1, 4, 3, init="he_normal", bias_init=0.1), nn.ReLU(), nn.Flatten(),
                          nn.Linear(4 * 26 * 26, 10, init=lambda w: init.orthogonal_(w), bias_init="zeros"))
    cfg = model.config()
    assert json.loads(json.dumps(cfg)) == cfg
    assert "init" not in json.dumps(cfg)
    io.save(model, tmp_path / "m.safetensors")
    loaded = io.load(tmp_path / "m.safetensors")
    for (k, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert np.array_equal(a, b), k


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize("call, exc, match", [
    (lambda w: init.kaiming_uniform_(w, mode="fan_avg"), ValueError, "mode 'fan_avg' not supported"),
    (lambda w: init.kaiming_normal_(w, mode="fan"), ValueError, "mode"),
    (lambda w: init.kaiming_normal_(w, nonlinearity="swish"), ValueError, "nonlinearity"),
    (lambda w: init.kaiming_uniform_(w, negative_slope="0.1"), ValueError, "negative_slope"),
    (lambda w: init.variance_scaling_(w, distribution="laplace"), ValueError, "distribution"),
    (lambda w: init.variance_scaling_(w, mode="fan_sum"), ValueError, "mode"),
    (lambda w: init.variance_scaling_(w, scale=0.0), ValueError, "scale"),
    (lambda w: init.trunc_normal_(w, a=1.0, b=-1.0), ValueError, "a < b"),
    (lambda w: init.trunc_normal_(w, std=0.0), ValueError, "std"),
    (lambda w: init.normal_(w, std=-1.0), ValueError, "std"),
    (lambda w: init.orthogonal_(w[0]), ValueError, "2 or more dimensions"),
    (lambda w: init.xavier_uniform_(w[0]), ValueError, "2 dimensions"),
    (lambda w: init.uniform_(w, rng=np.random.RandomState(0)), TypeError, "Generator"),
    (lambda w: init.get_initializer("nope"), ValueError, "unknown initializer"),
])
def test_bad_arguments(call, exc, match):
    with pytest.raises(exc, match=match):
        call(np.empty((4, 5), np.float32))
