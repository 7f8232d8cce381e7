"""nn.Residual (identity / projection shortcuts, post-activation, nesting, need_dx, io round trip) and
AdaptiveAvgPool2d / GlobalAvgPool2d, each against an equivalent PyTorch module."""

import fastnn  # noqa: F401, I001  # isort: skip  (first: kernels set the thread policy before OpenMP starts)

import numpy as np
import pytest
import torch

from fastnn import io, nn

torch.set_num_threads(1)

ATOL, RTOL = 1e-4, 1e-5


class TorchResidual(torch.nn.Module):
    """The PyTorch module nn.Residual mirrors: activation(block(x) + shortcut(x))."""

    def __init__(self, block, shortcut=None, activation=None):
        super().__init__()
        self.block = block
        self.shortcut = shortcut
        self.activation = activation

    def forward(self, x):
        y = self.block(x) + (x if self.shortcut is None else self.shortcut(x))
        return y if self.activation is None else self.activation(y)


def randn(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def close(actual, expected, what="", atol=ATOL):
    if isinstance(expected, torch.Tensor):
        expected = expected.detach().numpy()
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=atol, err_msg=what)


def compare(fm, tm, x, seed=0):
    """Forward, dx and every parameter gradient of fastnn ``fm`` vs torch ``tm`` (same weights)."""
    rng = np.random.default_rng(seed)
    y = fm.forward(x, True)
    tx = torch.tensor(x, requires_grad=True)
    ty = tm(tx)
    close(y, ty, "forward")
    dy = randn(rng, *y.shape)
    dx = fm.backward(dy)
    ty.backward(torch.from_numpy(dy))
    close(dx, tx.grad, "dx")
    tparams = dict(tm.named_parameters())
    assert [n for n, _ in fm.named_parameters()] == list(tparams)
    for name, p in fm.named_parameters():
        close(p.grad, tparams[name].grad, f"grad {name}")


def make_identity(ns, residual):
    """Conv -> ReLU -> Residual(conv-relu-conv, identity, ReLU) -> Flatten -> Linear."""
    return ns.Sequential(
        ns.Conv2d(2, 4, 3, padding=1), ns.ReLU(),
        residual(ns.Sequential(ns.Conv2d(4, 4, 3, padding=1), ns.ReLU(), ns.Conv2d(4, 4, 3, padding=1)),
                 None, ns.ReLU()),
        ns.Flatten(), ns.Linear(4 * 6 * 5, 3))


def make_projection(ns, residual):
    """A stride-2 block that changes channels, with a 1x1 stride-2 conv shortcut and no activation."""
    return ns.Sequential(
        residual(ns.Sequential(ns.Conv2d(2, 5, 3, stride=2, padding=1), ns.Tanh(), ns.Conv2d(5, 5, 3, padding=1)),
                 ns.Sequential(ns.Conv2d(2, 5, 1, stride=2)), None),
        ns.Sigmoid(), ns.Flatten(), ns.Linear(5 * 3 * 3, 4))


def make_single_layer(ns, residual):
    """Block and shortcut as single layers (not Sequentials), the residual first in the model."""
    return ns.Sequential(residual(ns.Linear(6, 6), ns.Linear(6, 6), ns.Tanh()), ns.Linear(6, 2))


def pair(make, seed=0):
    torch.manual_seed(seed)
    tm = make(torch.nn, TorchResidual)
    fm = make(nn, nn.Residual)
    fm.load_state_dict(tm.state_dict())
    return fm, tm


CASES = {"identity": (make_identity, (3, 2, 6, 5)), "projection": (make_projection, (2, 2, 6, 5)),
         "single_layer": (make_single_layer, (4, 6))}


@pytest.mark.parametrize("case", list(CASES))
def test_forward_backward_match_torch(case):
    make, shape = CASES[case]
    fm, tm = pair(make)
    compare(fm, tm, randn(np.random.default_rng(1), *shape))


@pytest.mark.parametrize("case", list(CASES))
def test_state_dict_keys_and_shapes_match_torch(case):
    make, _ = CASES[case]
    fm, tm = pair(make)
    ours, theirs = fm.state_dict(), tm.state_dict()
    assert list(ours) == list(theirs)
    for k, v in theirs.items():
        assert ours[k].shape == tuple(v.shape), k
    assert fm.flat.size == sum(p.numel() for p in tm.parameters())


def test_state_dict_key_names():
    fm, _ = pair(make_identity)
    assert list(fm.state_dict()) == ["0.weight", "0.bias", "2.block.0.weight", "2.block.0.bias", "2.block.2.weight",
                                     "2.block.2.bias", "4.weight", "4.bias"]
    fm, _ = pair(make_projection)
    assert "0.shortcut.0.weight" in fm.state_dict() and "0.block.2.bias" in fm.state_dict()
    fm, _ = pair(make_single_layer)
    assert list(fm.state_dict())[:4] == ["0.block.weight", "0.block.bias", "0.shortcut.weight", "0.shortcut.bias"]


@pytest.mark.parametrize("case", list(CASES))
def test_parameters_live_in_the_outer_flat_buffer(case):
    fm, _ = pair(CASES[case][0])
    offset = 0
    for name, p in fm.named_parameters():
        assert np.shares_memory(p.data, fm.flat.data) and np.shares_memory(p.grad, fm.flat.grad), name
        assert p.offset == offset, name
        offset += p.size
    assert offset == fm.flat.size
    fm.flat.data[:] = 0.25  # the optimizer writes the flat buffer: the residual's layers see it
    res = next(layer for layer in fm if isinstance(layer, nn.Residual))
    assert all(np.all(p.data == 0.25) for p in res.parameters())


def test_grads_accumulate_across_backward_calls():
    fm, tm = pair(make_projection)
    rng = np.random.default_rng(2)
    for _ in range(2):
        x = randn(rng, 2, 2, 6, 5)
        y = fm.forward(x, True)
        dy = randn(rng, *y.shape)
        fm.backward(dy)
        tm(torch.from_numpy(x)).backward(torch.from_numpy(dy))
    tparams = dict(tm.named_parameters())
    for name, p in fm.named_parameters():
        close(p.grad, tparams[name].grad, name)


@pytest.mark.parametrize("case", ["projection", "single_layer"])
def test_input_grad_false_skips_dx_and_matches_torch_param_grads(case):
    """A first-layer Residual gets need_dx=False from Sequential: no dx, the same parameter gradients."""
    make, shape = CASES[case]
    fm, tm = pair(make)
    rng = np.random.default_rng(4)
    x = randn(rng, *shape)
    y = fm.forward(x, True)
    dy = randn(rng, *y.shape)
    assert fm.backward(dy, input_grad=False) is None
    tm(torch.from_numpy(x)).backward(torch.from_numpy(dy))
    tparams = dict(tm.named_parameters())
    for name, p in fm.named_parameters():
        close(p.grad, tparams[name].grad, name)


def test_sequential_passes_need_dx_into_a_first_residual(monkeypatch):
    """The first layer's input gradient is skipped inside the residual's branches too (generic need_dx)."""
    fm, _ = pair(make_projection)
    calls = []
    for name, conv in (("block", fm[0].block[0]), ("shortcut", fm[0].shortcut[0])):
        def spy(dy, need_dx=True, _orig=conv.backward, _name=name):
            calls.append((_name, need_dx))
            return _orig(dy, need_dx)
        monkeypatch.setattr(conv, "backward", spy)
    x = randn(np.random.default_rng(6), 2, 2, 6, 5)
    y = fm.forward(x, True)
    assert fm.backward(np.ones_like(y), input_grad=False) is None
    assert sorted(calls) == [("block", False), ("shortcut", False)]
    calls.clear()
    assert fm.backward(np.ones_like(y)).shape == x.shape
    assert sorted(calls) == [("block", True), ("shortcut", True)]


def test_residual_alone_and_nested_twice():
    """A Residual called on its own, and a Sequential holding a Residual holding a Residual."""
    torch.manual_seed(5)

    def make(ns, residual):
        inner = residual(ns.Sequential(ns.Linear(5, 5), ns.ReLU(), ns.Linear(5, 5)), None, None)
        return ns.Sequential(ns.Linear(3, 5), residual(ns.Sequential(inner, ns.Tanh()), ns.Linear(5, 5), ns.ReLU()),
                             ns.Linear(5, 2))

    tm = make(torch.nn, TorchResidual)
    fm = make(nn, nn.Residual)
    assert list(fm.state_dict()) == list(tm.state_dict())  # "1.block.0.block.0.weight", ...
    fm.load_state_dict(tm.state_dict())
    compare(fm, tm, randn(np.random.default_rng(5), 4, 3))
    # alone: the same numbers as torch's module
    res, tres = fm[1], tm[1]
    x = randn(np.random.default_rng(6), 3, 5)
    close(res(x), tres(torch.from_numpy(x)), "alone")


def test_identity_block_gradient_is_dy_plus_block_grad():
    """With a zero block the residual is the identity: dx == dy exactly, and the block's grads still flow."""
    lin = nn.Linear(4, 4)
    lin.weight.data[...] = 0
    lin.bias.data[...] = 0
    res = nn.Residual(lin)
    x = randn(np.random.default_rng(7), 3, 4)
    np.testing.assert_array_equal(res.forward(x, True), x)
    dy = randn(np.random.default_rng(8), 3, 4)
    np.testing.assert_array_equal(res.backward(dy), dy)
    np.testing.assert_allclose(lin.weight.grad, dy.T @ x, rtol=1e-6)


def test_shape_mismatch_error_names_both_shapes():
    res = nn.Residual(nn.Sequential(nn.Conv2d(2, 4, 3, padding=1)))
    with pytest.raises(ValueError) as e:
        res.forward(np.zeros((1, 2, 5, 5), np.float32), True)
    assert "(1, 4, 5, 5)" in str(e.value) and "(1, 2, 5, 5)" in str(e.value)
    model = nn.Sequential(nn.Linear(3, 3), nn.Residual(nn.Linear(3, 4), nn.Linear(3, 5)))
    with pytest.raises(ValueError) as e:
        model.output_shape((2, 3))
    msg = str(e.value)
    assert "(2, 4)" in msg and "(2, 5)" in msg and "Residual at model[1]" in msg
    with pytest.raises(ValueError) as e:
        model(np.zeros((2, 3), np.float32))
    assert "(2, 4)" in str(e.value) and "(2, 5)" in str(e.value)
    with pytest.raises(TypeError):
        nn.Residual(torch.nn.Linear(2, 2))


def test_errors_inside_a_residual_name_where_the_layer_sits():
    model = nn.Sequential(nn.Flatten(), nn.Residual(nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(5, 4))))
    with pytest.raises(ValueError, match=r"Linear at model\[1\]\.block\[2\]"):
        model(np.zeros((2, 4), np.float32))


def test_train_eval_propagate_into_branches():
    res = nn.Residual(nn.Sequential(nn.Linear(2, 2), nn.ReLU()), nn.Linear(2, 2), nn.ReLU())
    model = nn.Sequential(res)
    model.eval()
    assert not res.training and not res.block.training and not res.block[0].training
    assert not res.shortcut.training and not res.activation.training
    model.train()
    assert res.training and res.block[1].training and res.shortcut.training


def test_summary_and_repr():
    fm, _ = pair(make_identity)
    s = fm.summary((1, 2, 6, 5))
    assert "Residual" in s and "(1, 4, 6, 5)" in s and f"{fm.flat.size:,}" in s
    r = repr(fm)
    assert "(2): Residual(" in r and "(block): Sequential(" in r and "(activation): ReLU()" in r


@pytest.mark.parametrize("case", list(CASES))
def test_save_load_round_trip(tmp_path, case):
    fm, _ = pair(CASES[case][0])
    path = tmp_path / "res.safetensors"
    io.save(fm, path)
    loaded = io.load(path)
    assert loaded.config() == fm.config()
    assert type(loaded[0 if case != "identity" else 2]) is nn.Residual
    for (k1, a), (k2, b) in zip(fm.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert k1 == k2 and np.array_equal(a, b)
    x = randn(np.random.default_rng(9), *CASES[case][1])
    np.testing.assert_array_equal(loaded(x), fm(x))


def test_build_rejects_unknown_nested_layer():
    arch = nn.Sequential(nn.Residual(nn.Linear(2, 2))).config()
    arch["layers"][0]["config"]["block"]["type"] = "NoSuchLayer"
    with pytest.raises(ValueError, match="NoSuchLayer"):
        io.build(arch)


# --------------------------------------------------------------------------- adaptive average pooling


@pytest.mark.parametrize("out,shape", [((1, 1), (3, 4, 7, 7)), (1, (1, 2, 5, 3)), ((2, 3), (2, 3, 6, 9)),
                                       ((3, 2), (2, 2, 7, 5)), ((4, 4), (1, 2, 10, 6)), ((None, 2), (2, 2, 5, 7)),
                                       ((5, 5), (1, 1, 3, 4))])
def test_adaptive_avgpool_matches_torch(out, shape):
    rng = np.random.default_rng(10)
    x = randn(rng, *shape)
    layer = nn.AdaptiveAvgPool2d(out)
    tlayer = torch.nn.AdaptiveAvgPool2d(out)
    y = layer.forward(x, True)
    tx = torch.tensor(x, requires_grad=True)
    ty = tlayer(tx)
    assert y.shape == tuple(ty.shape) == layer.output_shape(shape)
    close(y, ty, "forward", atol=1e-6)
    dy = randn(rng, *y.shape)
    ty.backward(torch.from_numpy(dy))
    close(layer.backward(dy), tx.grad, "dx", atol=1e-6)


def test_global_avgpool_is_the_plane_mean():
    x = randn(np.random.default_rng(11), 4, 8, 7, 7)
    layer = nn.GlobalAvgPool2d()
    y = layer.forward(x, True)
    assert y.shape == (4, 8, 1, 1)
    np.testing.assert_allclose(y[:, :, 0, 0], x.mean(axis=(2, 3)), rtol=1e-5, atol=1e-6)
    dy = randn(np.random.default_rng(12), 4, 8, 1, 1)
    np.testing.assert_allclose(layer.backward(dy), np.broadcast_to(dy / 49, x.shape), rtol=1e-6)
    assert nn.LAYERS["GlobalAvgPool2d"] is nn.GlobalAvgPool2d and layer.config() == {}


def test_adaptive_avgpool_errors_and_config():
    with pytest.raises(ValueError, match="output_size"):
        nn.AdaptiveAvgPool2d(0)
    with pytest.raises(ValueError, match="output_size"):
        nn.AdaptiveAvgPool2d((1, 2, 3))
    layer = nn.AdaptiveAvgPool2d((2, None))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        layer.forward(np.zeros((2, 3), np.float32), True)
    assert nn.AdaptiveAvgPool2d(**layer.config()).output_size == (2, None)


def test_model_with_global_pool_round_trips(tmp_path):
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.AdaptiveAvgPool2d((2, 3)), nn.GlobalAvgPool2d(),
                          nn.Flatten(), nn.Linear(3, 2))
    io.save(model, tmp_path / "m.safetensors")
    loaded = io.load(tmp_path / "m.safetensors")
    x = randn(np.random.default_rng(13), 2, 1, 6, 6)
    np.testing.assert_array_equal(loaded(x), model(x))
