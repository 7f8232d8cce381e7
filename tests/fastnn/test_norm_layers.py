"""Normalization layers vs PyTorch CPU: BatchNorm1d/2d (train and eval, affine / track_running_stats
switches, running statistics over 20 steps incl. momentum=None, fused BN + ReLU), LayerNorm, InstanceNorm2d,
LocalResponseNorm; state_dict keys in PyTorch's order; fold_batchnorm; save/load; input/grad errors."""

import fastnn  # noqa: F401, I001  # isort: skip

import numpy as np
import pytest
import torch

from fastnn import io, nn
from fastnn.nn.utils import fold_batchnorm
from kernels.codes import ACT_RELU

torch.set_num_threads(1)

ATOL = RTOL = 2e-5


def randn(rng, *shape, scale=1.0, shift=0.0):
    return (scale * rng.standard_normal(shape) + shift).astype(np.float32)


def close(actual, expected, atol=ATOL, rtol=RTOL, what=""):
    if isinstance(expected, torch.Tensor):
        expected = expected.detach().numpy()
    expected = np.asarray(expected)
    atol = atol * max(1.0, float(np.abs(expected).max(initial=0.0)))  # float32 sums: error grows with the size
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=what)


def to_torch_state(layer):
    return {k: torch.from_numpy(np.array(v)) for k, v in layer.state_dict().items()}


def randomize(layer, rng):
    """Non-trivial affine parameters and running statistics (so eval mode tests something)."""
    for _, p in layer.named_parameters():
        p.data[...] = rng.uniform(0.5, 1.5, p.shape) if p.data.min() == 1 else rng.standard_normal(p.shape)
    if getattr(layer, "track_running_stats", False):
        layer.running_mean[...] = rng.standard_normal(layer.running_mean.shape)
        layer.running_var[...] = rng.uniform(0.5, 2.0, layer.running_var.shape)


def check_step(layer, tlayer, x, dy, training, atol=ATOL):
    """One forward + backward in both frameworks; compares y, dx, parameter gradients and buffers."""
    layer.train(training)
    tlayer.train(training)
    y = layer.forward(x, training)
    tx = torch.tensor(x, requires_grad=True)
    ty = tlayer(tx)
    close(y, ty, atol=atol, what="forward")
    assert y.dtype == np.float32 and y.shape == x.shape
    dx = layer.backward(dy)
    ty.backward(torch.from_numpy(dy))
    close(dx, tx.grad, atol=atol, what="dx")
    tparams = dict(tlayer.named_parameters())
    assert [k for k, _ in layer.named_parameters()] == list(tparams)
    for name, p in layer.named_parameters():
        close(p.grad, tparams[name].grad, atol=atol, what=f"d{name}")
    tstate = tlayer.state_dict()
    for name, value in layer.state_dict().items():
        close(value, tstate[name], atol=atol, what=name)


# --------------------------------------------------------------------------- BatchNorm

BN_CASES = [("1d", (6, 5)), ("1d", (4, 3, 7)), ("1d", (1, 2, 9)), ("2d", (3, 4, 5, 6)), ("2d", (1, 1, 3, 3)),
            ("2d", (8, 16, 12, 12))]


def bn_pair(kind, c, **kw):
    cls, tcls = (nn.BatchNorm1d, torch.nn.BatchNorm1d) if kind == "1d" else (nn.BatchNorm2d, torch.nn.BatchNorm2d)
    return cls(c, **kw), tcls(c, **kw)


@pytest.mark.parametrize("track", [True, False], ids=["track", "notrack"])
@pytest.mark.parametrize("affine", [True, False], ids=["affine", "noaffine"])
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("kind,shape", BN_CASES, ids=[f"{k}-{'x'.join(map(str, s))}" for k, s in BN_CASES])
def test_batchnorm_matches_torch(kind, shape, training, affine, track):
    rng = np.random.default_rng(1)
    layer, tlayer = bn_pair(kind, shape[1], affine=affine, track_running_stats=track)
    randomize(layer, rng)
    tlayer.load_state_dict(to_torch_state(layer))
    x, dy = randn(rng, *shape, scale=2.0, shift=0.5), randn(rng, *shape)
    check_step(layer, tlayer, x, dy, training)
    check_step(layer, tlayer, randn(rng, *shape), randn(rng, *shape), training)  # gradients accumulate


@pytest.mark.parametrize("momentum", [0.1, 0.3, None], ids=["m0.1", "m0.3", "cumulative"])
@pytest.mark.parametrize("kind,shape", [("2d", (5, 3, 4, 4)), ("1d", (7, 4))], ids=["2d", "1d"])
def test_batchnorm_running_stats_20_steps(kind, shape, momentum):
    rng = np.random.default_rng(2)
    layer, tlayer = bn_pair(kind, shape[1], momentum=momentum)
    for step in range(20):
        x = randn(rng, *shape, scale=1 + step / 10, shift=step / 5)
        layer.forward(x, True)
        tlayer(torch.from_numpy(x))
    assert int(layer.num_batches_tracked) == int(tlayer.num_batches_tracked) == 20
    assert layer.num_batches_tracked.dtype == np.int64 and layer.num_batches_tracked.shape == ()
    close(layer.running_mean, tlayer.running_mean, atol=1e-5, what="running_mean")
    close(layer.running_var, tlayer.running_var, atol=1e-5, what="running_var")
    # evaluation then uses them
    x = randn(rng, *shape)
    tlayer.eval()
    close(layer.forward(x, False), tlayer(torch.from_numpy(x)), what="eval forward")
    assert int(layer.num_batches_tracked) == 20  # evaluation never counts


def test_batchnorm_fused_relu_equals_unfused():
    rng = np.random.default_rng(3)
    shape = (4, 3, 6, 5)
    x, dy = randn(rng, *shape), randn(rng, *shape)
    for training in (True, False):
        fused, plain = nn.BatchNorm2d(3), nn.BatchNorm2d(3)
        randomize(fused, rng)
        plain.load_state_dict(fused.state_dict())
        relu = nn.ReLU()
        y = fused.forward(x, training, ACT_RELU).copy()
        y_ref = relu.forward(plain.forward(x, training), training)
        np.testing.assert_allclose(y, y_ref, rtol=1e-6, atol=1e-6)
        assert (y == 0).any() and (y > 0).any()
        dx = fused.backward(dy).copy()
        dx_ref = plain.backward(relu.backward(dy))
        np.testing.assert_allclose(dx, dx_ref, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(fused.weight.grad, plain.weight.grad, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(fused.bias.grad, plain.bias.grad, rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(fused.running_mean, plain.running_mean)


def test_batchnorm_in_sequential_trains_like_torch():
    rng = np.random.default_rng(4)
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                          nn.Linear(4 * 5 * 5, 6), nn.BatchNorm1d(6))
    tmodel = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                                 torch.nn.Flatten(), torch.nn.Linear(4 * 5 * 5, 6), torch.nn.BatchNorm1d(6))
    tmodel.load_state_dict(to_torch_state(model))
    assert list(model.state_dict()) == list(tmodel.state_dict())
    x, dy = randn(rng, 3, 2, 5, 5), randn(rng, 3, 6)
    y = model.forward(x, True)
    tx = torch.tensor(x, requires_grad=True)
    ty = tmodel(tx)
    close(y, ty, atol=1e-4)
    dx = model.backward(dy)
    ty.backward(torch.from_numpy(dy))
    close(dx, tx.grad, atol=1e-4, what="dx")
    tparams = dict(tmodel.named_parameters())
    for name, p in model.named_parameters():
        close(p.grad, tparams[name].grad, atol=1e-4, what=name)
    for name, v in model.state_dict().items():
        close(v, tmodel.state_dict()[name], atol=1e-5, what=name)


# --------------------------------------------------------------------------- LayerNorm

LN_CASES = [(7, (6, 7), dict()), (7, (4, 7), dict(eps=1e-3)), ((3, 4), (2, 5, 3, 4), dict()), (8, (2, 3, 8), dict()),
            (6, (1, 6), dict(elementwise_affine=False)), (5, (3, 5), dict(bias=False)), (2, (4, 2), dict()),
            (512, (64, 512), dict()), (130, (600, 130), dict())]


@pytest.mark.parametrize("ns,shape,kw", LN_CASES, ids=[f"{s}-{'x'.join(map(str, t))}-{len(k)}"
                                                       for s, t, k in LN_CASES])
def test_layernorm_matches_torch(ns, shape, kw):
    rng = np.random.default_rng(5)
    layer, tlayer = nn.LayerNorm(ns, **kw), torch.nn.LayerNorm(ns, **kw)
    randomize(layer, rng)
    assert list(layer.state_dict()) == list(tlayer.state_dict())
    tlayer.load_state_dict(to_torch_state(layer))
    for training in (True, False):
        check_step(layer, tlayer, randn(rng, *shape, scale=3, shift=1), randn(rng, *shape), training, atol=5e-5)


# --------------------------------------------------------------------------- InstanceNorm2d

IN_CASES = [((2, 3, 4, 5), dict()), ((1, 1, 3, 3), dict(affine=True)), ((3, 4, 5, 5), dict(affine=True, bias=False)),
            ((2, 3, 4, 4), dict(track_running_stats=True)),
            ((2, 3, 4, 4), dict(affine=True, track_running_stats=True, momentum=0.3)),
            ((3, 4, 5), dict(affine=True)), ((4, 8, 32, 32), dict(affine=True))]


@pytest.mark.parametrize("shape,kw", IN_CASES, ids=[f"{'x'.join(map(str, s))}-{sorted(k)}" for s, k in IN_CASES])
def test_instancenorm_matches_torch(shape, kw):
    rng = np.random.default_rng(6)
    c = shape[-3]
    layer, tlayer = nn.InstanceNorm2d(c, **kw), torch.nn.InstanceNorm2d(c, **kw)
    randomize(layer, rng)
    assert list(layer.state_dict()) == list(tlayer.state_dict())
    tlayer.load_state_dict(to_torch_state(layer))
    for _ in range(3):  # running statistics (if tracked) move, and num_batches_tracked stays 0 as in PyTorch
        check_step(layer, tlayer, randn(rng, *shape, scale=2, shift=-1), randn(rng, *shape), True)
    check_step(layer, tlayer, randn(rng, *shape, scale=2, shift=-1), randn(rng, *shape), False)


def test_instancenorm_momentum_none_keeps_running_stats():
    rng = np.random.default_rng(7)
    layer = nn.InstanceNorm2d(2, momentum=None, track_running_stats=True)
    tlayer = torch.nn.InstanceNorm2d(2, momentum=None, track_running_stats=True)
    x = randn(rng, 2, 2, 3, 3)
    layer.forward(x, True)
    tlayer(torch.from_numpy(x))
    for name, v in layer.state_dict().items():
        close(v, tlayer.state_dict()[name], what=name)


# --------------------------------------------------------------------------- LocalResponseNorm

LRN_CASES = [((2, 5, 4, 4), dict(size=3)), ((1, 7, 3, 2), dict(size=4, alpha=0.5, beta=0.6, k=2.0)),
             ((3, 4, 6), dict(size=2, alpha=0.2)), ((2, 1, 3, 3), dict(size=5, alpha=1.0)),
             ((2, 6, 2, 3, 2), dict(size=3, alpha=0.4)), ((8, 16, 13, 13), dict(size=5, alpha=0.3))]


@pytest.mark.parametrize("shape,kw", LRN_CASES, ids=[f"{'x'.join(map(str, s))}-{k['size']}" for s, k in LRN_CASES])
def test_lrn_matches_torch(shape, kw):
    rng = np.random.default_rng(8)
    layer, tlayer = nn.LocalResponseNorm(**kw), torch.nn.LocalResponseNorm(**kw)
    assert layer.state_dict() == {} and not tlayer.state_dict()
    for training in (True, False):
        check_step(layer, tlayer, randn(rng, *shape, scale=2), randn(rng, *shape), training)


# --------------------------------------------------------------------------- state_dict, config, io


def all_layers():
    return [(nn.BatchNorm1d(3), torch.nn.BatchNorm1d(3)),
            (nn.BatchNorm2d(3, affine=False), torch.nn.BatchNorm2d(3, affine=False)),
            (nn.BatchNorm2d(3, track_running_stats=False), torch.nn.BatchNorm2d(3, track_running_stats=False)),
            (nn.LayerNorm([2, 3]), torch.nn.LayerNorm([2, 3])),
            (nn.LayerNorm(3, elementwise_affine=False), torch.nn.LayerNorm(3, elementwise_affine=False)),
            (nn.InstanceNorm2d(3), torch.nn.InstanceNorm2d(3)),
            (nn.InstanceNorm2d(3, affine=True, track_running_stats=True),
             torch.nn.InstanceNorm2d(3, affine=True, track_running_stats=True)),
            (nn.LocalResponseNorm(3), torch.nn.LocalResponseNorm(3))]


@pytest.mark.parametrize("i", range(8))
def test_state_dict_keys_order_and_initial_values(i):
    layer, tlayer = all_layers()[i]
    ours, theirs = layer.state_dict(), tlayer.state_dict()
    assert list(ours) == list(theirs)
    for k in ours:
        assert ours[k].shape == tuple(theirs[k].shape), k
        np.testing.assert_array_equal(ours[k], theirs[k].numpy(), err_msg=k)
        assert ours[k].dtype == theirs[k].numpy().dtype, k
    # a PyTorch state_dict loads
    layer.load_state_dict({k: v.numpy() for k, v in theirs.items()})


def test_save_load_round_trip(tmp_path):
    rng = np.random.default_rng(9)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4, momentum=None), nn.ReLU(), nn.LocalResponseNorm(3),
                          nn.InstanceNorm2d(4, affine=True, track_running_stats=True), nn.Flatten(),
                          nn.Linear(4 * 4 * 4, 5), nn.BatchNorm1d(5, eps=1e-3), nn.LayerNorm(5, bias=False))
    for _ in range(3):
        model.forward(randn(rng, 4, 1, 6, 6), True)
    path = tmp_path / "norm.safetensors"
    io.save(model, path)
    loaded = io.load(path)
    assert [type(a) for a in loaded] == [type(a) for a in model]
    assert loaded[1].momentum is None and loaded[7].eps == 1e-3 and loaded[8].bias is None
    for (k, a), (k2, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2
        np.testing.assert_array_equal(a, b, err_msg=k)
    assert int(loaded[1].num_batches_tracked) == 3
    x = randn(rng, 2, 1, 6, 6)
    np.testing.assert_array_equal(loaded.eval()(x), model.eval()(x))


# --------------------------------------------------------------------------- fold_batchnorm


def conv_bn_model(rng):
    model = nn.Sequential(nn.Conv2d(2, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(6 * 4 * 4, 5), nn.BatchNorm1d(5))
    for _ in range(5):  # real running statistics
        model.forward(randn(rng, 8, 2, 8, 8, scale=2, shift=0.3), True)
    for layer in (model[1], model[6]):
        layer.weight.data[...] = rng.uniform(0.5, 1.5, layer.weight.shape)
        layer.bias.data[...] = rng.standard_normal(layer.bias.shape)
    return model


def test_fold_batchnorm_equals_unfolded():
    rng = np.random.default_rng(10)
    model = conv_bn_model(rng)
    before = {k: v.copy() for k, v in model.state_dict().items()}
    folded = fold_batchnorm(model)
    assert [type(a).__name__ for a in folded] == ["Conv2d", "ReLU", "MaxPool2d", "Flatten", "Linear"]
    assert not folded.training and all(not layer.training for layer in folded)
    assert folded.flat.size < model.flat.size
    assert len(folded.state_dict()) < len(model.state_dict())
    x = randn(rng, 4, 2, 8, 8, scale=2)
    expect = model.eval()(x)
    np.testing.assert_allclose(folded(x), expect, rtol=1e-5, atol=1e-5)
    # the original is untouched and still trains on its own buffer
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k], err_msg=k)
    assert model.flat.data is model[0].weight.data.base or np.shares_memory(model.flat.data, model[0].weight.data)
    assert not np.shares_memory(folded.flat.data, model.flat.data)
    # PyTorch agrees with the unfolded model
    tmodel = torch.nn.Sequential(torch.nn.Conv2d(2, 6, 3, padding=1), torch.nn.BatchNorm2d(6), torch.nn.ReLU(),
                                 torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(96, 5),
                                 torch.nn.BatchNorm1d(5))
    tmodel.load_state_dict(to_torch_state(model))
    close(folded(x), tmodel.eval()(torch.from_numpy(x)), atol=1e-4)


def test_fold_batchnorm_no_bias_no_affine_nested_and_unfoldable():
    rng = np.random.default_rng(11)
    inner = nn.Sequential(nn.Conv2d(3, 3, 1, bias=False), nn.BatchNorm2d(3, affine=False))
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1, bias=False), nn.BatchNorm2d(3), inner,
                          nn.BatchNorm2d(3, track_running_stats=False), nn.ReLU(), nn.LocalResponseNorm(2))
    for _ in range(3):
        model.forward(randn(rng, 4, 2, 5, 5), True)
    folded = fold_batchnorm(model)
    assert [type(a).__name__ for a in folded] == ["Conv2d", "Sequential", "BatchNorm2d", "ReLU", "LocalResponseNorm"]
    assert [type(a).__name__ for a in folded[1]] == ["Conv2d"]
    assert folded[0].bias is not None  # the folded shift needs a bias
    x = randn(rng, 3, 2, 5, 5)
    np.testing.assert_allclose(folded(x), model.eval()(x), rtol=1e-5, atol=1e-5)


def test_fold_batchnorm_inside_residual_blocks():
    residual = pytest.importorskip("fastnn.layers.residual")
    rng = np.random.default_rng(13)
    block = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1),
                          nn.BatchNorm2d(4))
    shortcut = nn.Sequential(nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4))
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                          residual.Residual(block, shortcut, nn.ReLU()), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
    for _ in range(3):
        model.forward(randn(rng, 5, 1, 6, 6), True)
    folded = fold_batchnorm(model)
    res = folded[2]
    assert [type(a).__name__ for a in res.block] == ["Conv2d", "ReLU", "Conv2d"]
    assert [type(a).__name__ for a in res.shortcut] == ["Conv2d"]
    x = randn(rng, 3, 1, 6, 6)
    np.testing.assert_allclose(folded(x), model.eval()(x), rtol=1e-5, atol=1e-5)


def test_fold_batchnorm_rejects_non_models():
    with pytest.raises(TypeError, match="fold_batchnorm"):
        fold_batchnorm(torch.nn.Linear(2, 2))


# --------------------------------------------------------------------------- buffers and errors


def test_buffers_reused_per_shape():
    rng = np.random.default_rng(12)
    for layer, shape in ((nn.BatchNorm2d(3), (2, 3, 4, 4)), (nn.LayerNorm(4), (3, 4)),
                         (nn.InstanceNorm2d(3), (2, 3, 4, 4)), (nn.LocalResponseNorm(3), (2, 3, 4, 4))):
        y1 = layer.forward(randn(rng, *shape), True)
        dx1 = layer.backward(randn(rng, *shape))
        y2 = layer.forward(randn(rng, *shape), True)
        dx2 = layer.backward(randn(rng, *shape))
        assert y1 is y2 and dx1 is dx2, type(layer).__name__
        y3 = layer.forward(randn(rng, 5, *shape[1:]), True)
        assert y3.shape[0] == 5


@pytest.mark.parametrize("layer,bad,match", [
    (nn.BatchNorm2d(3), np.zeros((2, 4, 5, 5), np.float32), r"BatchNorm2d: expected input of shape \(N, 3, H, W\)"),
    (nn.BatchNorm2d(3), np.zeros((2, 3, 5), np.float32), r"\(N, 3, H, W\), got \(2, 3, 5\)"),
    (nn.BatchNorm1d(3), np.zeros((2, 3, 5, 5), np.float32), r"\(N, 3\) or \(N, 3, L\), got \(2, 3, 5, 5\)"),
    (nn.BatchNorm1d(3), np.zeros((2, 3), np.float64), "float32 input .* got dtype float64"),
    (nn.BatchNorm1d(3), [[1.0, 2.0, 3.0]], "NumPy array"),
    (nn.BatchNorm1d(3), np.zeros((1, 3), np.float32), "more than 1 value per channel"),
    (nn.LayerNorm(4), np.zeros((2, 5), np.float32), r"LayerNorm: expected input of shape \(\*, 4\), got \(2, 5\)"),
    (nn.LayerNorm([2, 4]), np.zeros((2, 4, 2), np.float32), r"\(\*, 2, 4\)"),
    (nn.InstanceNorm2d(3), np.zeros((2, 2, 4, 4), np.float32), r"InstanceNorm2d: expected input of shape"),
    (nn.InstanceNorm2d(3), np.zeros((2, 3, 1, 1), np.float32), "more than 1 spatial element"),
    (nn.LocalResponseNorm(3), np.zeros((2, 3), np.float32), "LocalResponseNorm: .*3 or more dimensions"),
    (nn.LocalResponseNorm(3), np.zeros((2, 3, 4), np.int32), "float32"),
], ids=["bn2d-channels", "bn2d-ndim", "bn1d-ndim", "bn-dtype", "bn-list", "bn-one-value", "ln-shape",
        "ln-shape2", "in-channels", "in-spatial", "lrn-ndim", "lrn-dtype"])
def test_input_errors(layer, bad, match):
    with pytest.raises(ValueError, match=match):
        layer.forward(bad, True)


def test_batchnorm_one_value_per_channel_allowed_in_eval():
    layer = nn.BatchNorm1d(3)
    y = layer.forward(np.ones((1, 3), np.float32), False)
    np.testing.assert_allclose(y, 1 / np.sqrt(1 + 1e-5), rtol=1e-6)


@pytest.mark.parametrize("layer,shape", [(nn.BatchNorm2d(3), (2, 3, 4, 4)), (nn.LayerNorm(4), (3, 4)),
                                         (nn.InstanceNorm2d(3), (2, 3, 4, 4)), (nn.LocalResponseNorm(2), (2, 3, 4))],
                         ids=["bn", "ln", "in", "lrn"])
def test_grad_errors(layer, shape):
    layer.forward(np.ones(shape, np.float32) + np.arange(shape[-1], dtype=np.float32), True)
    name = type(layer).__name__
    with pytest.raises(ValueError, match=rf"{name}\.backward: expected a float32 gradient of shape"):
        layer.backward(np.zeros((9, *shape[1:]), np.float32))
    with pytest.raises(ValueError, match="float32 gradient"):
        layer.backward(np.zeros(shape, np.float64))


@pytest.mark.parametrize("make,match", [
    (lambda: nn.BatchNorm2d(0), "num_features must be a positive int"),
    (lambda: nn.BatchNorm1d(3.5), "num_features must be a positive int"),
    (lambda: nn.BatchNorm2d(3, eps=0), "eps must be > 0"),
    (lambda: nn.BatchNorm2d(3, momentum=1.5), r"momentum must be in \[0, 1\] or None"),
    (lambda: nn.LayerNorm([]), "normalized_shape"),
    (lambda: nn.LayerNorm([3, 0]), "normalized_shape must be a positive int"),
    (lambda: nn.InstanceNorm2d(-1), "InstanceNorm2d: num_features"),
    (lambda: nn.LocalResponseNorm(0), "LocalResponseNorm: size must be a positive int"),
], ids=["bn-zero", "bn-float", "eps", "momentum", "ln-empty", "ln-zero", "in-neg", "lrn-size"])
def test_argument_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_fused_activation_other_than_relu_rejected():
    with pytest.raises(ValueError, match="only ReLU can be fused"):
        nn.BatchNorm2d(2).forward(np.ones((2, 2, 2, 2), np.float32), True, 3)
