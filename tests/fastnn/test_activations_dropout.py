"""Activation layers (issue 4) and Dropout / Dropout2d: parity with PyTorch (forward and backward, train and
eval), binary step's straight-through option, Softmax/LogSoftmax along any dim, dropout statistics,
scaling, determinism from the seeded Generator, mask reuse in backward, Sequential/io integration, errors."""

from __future__ import annotations

import fastnn  # noqa: F401, I001  # isort: skip

import warnings

import numpy as np
import pytest
import torch

from fastnn import nn

torch.set_num_threads(1)


def randn(*shape, seed=0, scale=2.0):
    return (scale * np.random.default_rng(seed).standard_normal(shape)).astype(np.float32)


def run_both(layer, tlayer, x, dy, rtol=1e-5, atol=1e-6):
    y = layer.forward(x, True).copy()
    tx = torch.tensor(x, requires_grad=True)
    ty = tlayer(tx)
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=rtol, atol=atol, err_msg="forward")
    assert y.dtype == np.float32 and y.shape == x.shape
    dx = layer.backward(dy)
    ty.backward(torch.from_numpy(dy))
    assert dx.dtype == np.float32 and dx.shape == x.shape
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=rtol, atol=atol, err_msg="backward")
    return y, dx


LAYER_PAIRS = {
    "Identity": (lambda: nn.Identity(), lambda: torch.nn.Identity()),
    "ReLU": (lambda: nn.ReLU(), lambda: torch.nn.ReLU()),
    "LeakyReLU": (lambda: nn.LeakyReLU(0.1), lambda: torch.nn.LeakyReLU(0.1)),
    "Sigmoid": (lambda: nn.Sigmoid(), lambda: torch.nn.Sigmoid()),
    "Tanh": (lambda: nn.Tanh(), lambda: torch.nn.Tanh()),
    "ELU": (lambda: nn.ELU(), lambda: torch.nn.ELU()),
    "ELU0.5": (lambda: nn.ELU(alpha=0.5), lambda: torch.nn.ELU(alpha=0.5)),
    "Softplus": (lambda: nn.Softplus(), lambda: torch.nn.Softplus()),
    "Softplus_b2_t5": (lambda: nn.Softplus(beta=2.0, threshold=5.0),
                       lambda: torch.nn.Softplus(beta=2.0, threshold=5.0)),
    "GELU": (lambda: nn.GELU(), lambda: torch.nn.GELU()),
    "GELU_tanh": (lambda: nn.GELU(approximate="tanh"), lambda: torch.nn.GELU(approximate="tanh")),
    "SiLU": (lambda: nn.SiLU(), lambda: torch.nn.SiLU()),
    "Softmax1": (lambda: nn.Softmax(dim=1), lambda: torch.nn.Softmax(dim=1)),
    "Softmax-1": (lambda: nn.Softmax(dim=-1), lambda: torch.nn.Softmax(dim=-1)),
    "Softmax0": (lambda: nn.Softmax(dim=0), lambda: torch.nn.Softmax(dim=0)),
    "LogSoftmax1": (lambda: nn.LogSoftmax(dim=1), lambda: torch.nn.LogSoftmax(dim=1)),
    "LogSoftmax-1": (lambda: nn.LogSoftmax(dim=-1), lambda: torch.nn.LogSoftmax(dim=-1)),
    "LogSoftmax2": (lambda: nn.LogSoftmax(dim=2), lambda: torch.nn.LogSoftmax(dim=2)),
}


@pytest.mark.parametrize("shape", [(5, 7), (2, 3, 4, 5)])
@pytest.mark.parametrize("key", sorted(LAYER_PAIRS))
def test_activation_layers_match_torch(key, shape):
    if key == "LogSoftmax2" and len(shape) < 3:
        pytest.skip("dim 2 needs 3+ dimensions")
    make, tmake = LAYER_PAIRS[key]
    layer = make()
    x, dy = randn(*shape, seed=1), randn(*shape, seed=2)
    run_both(layer, tmake(), x, dy)
    for mode in (False,):  # eval mode: activations behave the same
        layer.train(mode)
        layer.forward(x, mode)
        np.testing.assert_allclose(layer(x), tmake().eval()(torch.from_numpy(x)).detach().numpy(), rtol=1e-5, atol=1e-6)
    # repeated calls reuse buffers and stay correct (new shape, then the old one)
    run_both(layer, tmake(), randn(3, 2, 2, seed=3), randn(3, 2, 2, seed=4))
    run_both(layer, tmake(), x, dy)


@pytest.mark.parametrize("key", sorted(LAYER_PAIRS))
def test_activation_layers_extreme_inputs_finite(key):
    make, tmake = LAYER_PAIRS[key]
    x = np.array([[-1000.0, -30.0, 0.0, 30.0, 1000.0], [1000.0, 1000.0, -1000.0, 999.0, 0.5]], np.float32)
    if key == "LogSoftmax2":
        x = x[None]
    dy = np.ones_like(x)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y, dx = run_both(make(), tmake(), x, dy, atol=1e-5)
    assert np.isfinite(y).all() and np.isfinite(dx).all()


def test_softmax_implicit_dim_like_torch():
    x = randn(2, 3, 4, seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = torch.nn.Softmax()(torch.from_numpy(x)).numpy()  # legacy: dim 0 for 3-D
    np.testing.assert_allclose(nn.Softmax()(x), expected, rtol=1e-6, atol=1e-7)


def test_binary_step_forward_and_gradients():
    x = np.array([[-2.0, -1e-20, 0.0, 1e-20, 3.0]], np.float32)
    dy = np.array([[1.0, 2.0, 3.0, 4.0, 5.0]], np.float32)
    layer = nn.BinaryStep()
    np.testing.assert_array_equal(layer.forward(x, True), [[0, 0, 1, 1, 1]])
    np.testing.assert_array_equal(
        layer.forward(x, True), torch.heaviside(torch.from_numpy(x), torch.tensor(1.0)).numpy())
    np.testing.assert_array_equal(layer.backward(dy), 0)  # the true derivative (0 almost everywhere)
    ste = nn.BinaryStep(straight_through=True)
    ste.forward(x, True)
    np.testing.assert_array_equal(ste.backward(dy), dy)  # straight-through estimator: dx = dy
    assert ste.config() == {"straight_through": True}


def test_new_activations_are_not_fused_and_sequential_matches_unfused():
    fastnn.manual_seed(0)
    layers = [nn.Linear(6, 8), nn.GELU(), nn.Linear(8, 8), nn.ELU(), nn.Linear(8, 8), nn.SiLU(),
              nn.Linear(8, 8), nn.Softplus(), nn.Linear(8, 4), nn.LogSoftmax(dim=1)]
    model = nn.Sequential(*layers)
    assert all(act is None for _, act, _ in model._plan)  # no new activation is fused into an epilogue
    x = randn(5, 6, seed=6)
    y = model(x)
    h = x
    for layer in layers:
        h = layer.forward(h, True)
    np.testing.assert_allclose(y, h, rtol=1e-6)
    dx = model.backward(np.ones_like(y))
    assert dx.shape == x.shape and np.isfinite(dx).all()


def test_layers_registered_and_config_round_trip():
    for name in ("Identity", "BinaryStep", "ELU", "Softplus", "GELU", "SiLU", "Softmax", "LogSoftmax", "Dropout",
                 "Dropout2d"):
        assert name in nn.LAYERS
    for layer in (nn.ELU(0.3), nn.Softplus(2.0, 4.0), nn.GELU("tanh"), nn.Softmax(-1), nn.LogSoftmax(0),
                  nn.BinaryStep(True), nn.Dropout(0.2), nn.Dropout(0.3, mode="textbook"), nn.Dropout2d(0.1)):
        rebuilt = type(layer)(**layer.config())
        assert rebuilt.config() == layer.config()
    assert nn.ELU(0.3).alpha == 0.3


@pytest.mark.parametrize("make,fragments", [
    (lambda: nn.GELU("fast"), ["GELU", "approximate"]),
    (lambda: nn.Softmax(dim=1.5), ["Softmax", "dim"]),
    (lambda: nn.Softmax(dim=3).forward(np.zeros((2, 3), np.float32), True), ["Softmax", "dim 3"]),
    (lambda: nn.ELU().forward(np.zeros(3), True), ["ELU", "float32", "float64"]),
    (lambda: nn.Dropout(1.5), ["Dropout", "between 0 and 1", "1.5"]),
    (lambda: nn.Dropout(0.5, mode="classic"), ["Dropout", "mode", "textbook"]),
    (lambda: nn.Dropout2d(0.5).forward(np.zeros((2, 3), np.float32), True), ["Dropout2d", "(N, C, H, W)", "(2, 3)"]),
])
def test_errors(make, fragments):
    with pytest.raises(ValueError) as e:
        make()
    for f in fragments:
        assert f in str(e.value), (f, str(e.value))


def test_dropout_rng_type_error():
    with pytest.raises(TypeError, match="Dropout.*Generator"):
        nn.Dropout(0.5, rng=np.random.RandomState(0))


# --------------------------------------------------------------------------- dropout
@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_mask_statistics_and_inverted_scaling(p):
    layer = nn.Dropout(p, rng=np.random.default_rng(1))
    x = np.ones((200, 500), np.float32)
    y = layer.forward(x, True)
    kept = y != 0
    n = x.size
    sigma = np.sqrt(p * (1 - p) / n)
    assert abs(kept.mean() - (1 - p)) < 5 * sigma  # mask mean ~ 1 - p within 5 sigma
    np.testing.assert_allclose(y[kept], 1 / (1 - p), rtol=1e-6)  # kept elements scaled by 1/(1-p)
    assert abs(y.mean() - 1.0) < 5 * sigma / (1 - p)  # E[y] = x


def test_dropout_eval_is_identity_and_backward_passes_through():
    layer = nn.Dropout(0.5).eval()
    x = randn(4, 6, seed=7)
    np.testing.assert_array_equal(layer(x), x)
    dy = randn(4, 6, seed=8)
    layer.forward(x, False)
    np.testing.assert_array_equal(layer.backward(dy), dy)


def test_dropout_textbook_mode():
    p = 0.3
    layer = nn.Dropout(p, mode="textbook", rng=np.random.default_rng(2))
    x = randn(50, 40, seed=9)
    y = layer.forward(x, True)
    kept = layer._mask.reshape(x.shape).astype(bool)
    np.testing.assert_array_equal(y[kept], x[kept])  # no scaling in training
    assert (y[~kept] == 0).all()
    dy = randn(50, 40, seed=10)
    np.testing.assert_array_equal(layer.backward(dy), dy * kept)
    np.testing.assert_allclose(layer.forward(x, False), x * (1 - p), rtol=1e-6)  # inference: x (1 - p)
    np.testing.assert_allclose(layer.backward(dy), dy * (1 - p), rtol=1e-6)


def test_dropout_backward_uses_the_same_mask():
    layer = nn.Dropout(0.4, rng=np.random.default_rng(3))
    x = randn(30, 30, seed=11)
    y = layer.forward(x, True).copy()
    dx = layer.backward(np.ones_like(x))
    np.testing.assert_array_equal(dx != 0, y != 0)
    np.testing.assert_allclose(dx[dx != 0], 1 / 0.6, rtol=1e-6)
    # and equals torch's gradient for the same mask: d(x * m / (1 - p))/dx
    np.testing.assert_allclose(y, x * (dx != 0) / 0.6, rtol=1e-6)


def test_dropout_same_seed_same_masks():
    x = np.ones((16, 64), np.float32)
    a, b = nn.Dropout(0.5, rng=np.random.default_rng(42)), nn.Dropout(0.5, rng=np.random.default_rng(42))
    for _ in range(3):
        np.testing.assert_array_equal(a.forward(x, True), b.forward(x, True))
    c = nn.Dropout(0.5, rng=np.random.default_rng(43))
    assert not np.array_equal(c.forward(x, True), a.forward(x, True))
    # default: the global generator at construction, reseeded by fastnn.manual_seed
    fastnn.manual_seed(7)
    m1 = nn.Dropout(0.5).forward(x, True).copy()
    fastnn.manual_seed(7)
    m2 = nn.Dropout(0.5).forward(x, True).copy()
    np.testing.assert_array_equal(m1, m2)


def test_dropout_edge_probabilities():
    x = randn(8, 8, seed=12)
    np.testing.assert_array_equal(nn.Dropout(0.0).forward(x, True), x)
    np.testing.assert_array_equal(nn.Dropout(1.0).forward(x, True), 0)
    tx = torch.from_numpy(x)
    np.testing.assert_array_equal(torch.nn.Dropout(1.0)(tx).numpy(), 0)


@pytest.mark.parametrize("shape", [(6, 10, 5, 5), (4, 8, 7)])
def test_dropout2d_zeroes_whole_channels(shape):
    p = 0.5
    layer = nn.Dropout2d(p, rng=np.random.default_rng(4))
    x = np.abs(randn(*shape, seed=13)) + 0.1
    y = layer.forward(x, True)
    flat = y.reshape(shape[0], shape[1], -1)
    dropped = (flat == 0).all(axis=2)
    kept = (flat != 0).all(axis=2)
    assert (dropped | kept).all()  # every channel is all-zero or all-kept
    assert 0 < dropped.mean() < 1
    np.testing.assert_allclose(flat[kept], (x.reshape(flat.shape) / (1 - p))[kept], rtol=1e-6)
    dx = layer.backward(np.ones_like(x)).reshape(flat.shape)
    assert ((dx == 0).all(axis=2) == dropped).all()
    layer.eval()
    np.testing.assert_array_equal(layer(x), x)


def test_dropout2d_statistics_and_torch_eval():
    layer = nn.Dropout2d(0.3, rng=np.random.default_rng(5))
    x = np.ones((100, 100, 2, 2), np.float32)
    y = layer.forward(x, True)
    kept = (y[:, :, 0, 0] != 0).mean()
    assert abs(kept - 0.7) < 5 * np.sqrt(0.21 / 1e4)
    np.testing.assert_array_equal(torch.nn.Dropout2d(0.3).eval()(torch.from_numpy(x)).numpy(),
                                  layer.eval()(x))


def test_dropout_in_sequential_train_vs_eval():
    fastnn.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 3))
    x = randn(8, 10, seed=14)
    model.eval()
    y1, y2 = model(x), model(x)
    np.testing.assert_array_equal(y1, y2)  # eval: deterministic
    model.train()
    y3 = model(x)
    assert not np.allclose(y3, y1)
    assert model.backward(np.ones_like(y3)).shape == x.shape
