"""Sequential models vs PyTorch: LeNet-5 and the MLP (state_dict, forward, backward), fused == unfused,
the container protocol, state_dict/load_state_dict, the flat parameter buffer, summary and errors."""

from __future__ import annotations

# fastnn first: its kernels package sets OMP_WAIT_POLICY / the thread budget before any OpenMP runtime
# (torch's included) starts.
import fastnn  # noqa: F401  isort: skip

import numpy as np
import pytest
import torch

from fastnn import nn

torch.set_num_threads(1)

ATOL = 1e-4  # conv/GEMM sums through several float32 layers
RTOL = 1e-5


def randn(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


def close(actual, expected, rtol: float = RTOL, atol: float = ATOL, what: str = "") -> None:
    if isinstance(expected, torch.Tensor):
        expected = expected.detach().numpy()
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=what)


def torch_lenet5(num_classes: int = 10) -> torch.nn.Sequential:
    t = torch.nn
    return t.Sequential(
        t.Conv2d(1, 6, 5, padding=2), t.ReLU(), t.MaxPool2d(2),
        t.Conv2d(6, 16, 5), t.ReLU(), t.MaxPool2d(2), t.Flatten(),
        t.Linear(400, 120), t.ReLU(), t.Linear(120, 84), t.ReLU(), t.Linear(84, num_classes))


def torch_mlp() -> torch.nn.Sequential:
    t = torch.nn
    return t.Sequential(t.Flatten(), t.Linear(784, 256), t.ReLU(), t.Linear(256, 10))


ARCHS = {"lenet5": (fastnn.models.lenet5, torch_lenet5), "mlp": (fastnn.models.mlp, torch_mlp)}


def torch_state(model) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(v) for k, v in model.state_dict().items()}


def pair(arch: str, seed: int = 0):
    """A fastnn model and a torch model with the SAME weights (torch's init, loaded into fastnn)."""
    make, tmake = ARCHS[arch]
    torch.manual_seed(seed)
    tm = tmake()
    fastnn.manual_seed(seed)
    fm = make()
    fm.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})
    return fm, tm


def unfused_copy(model: nn.Sequential, make) -> nn.Sequential:
    """The same architecture built with fuse=False, holding ``model``'s weights."""
    layers = make().layers  # fresh layers (the temporary model is dropped)
    unfused = nn.Sequential(*layers, fuse=False)
    unfused.load_state_dict(model.state_dict())
    return unfused


def compare_forward_backward(fm, tm, x: np.ndarray, dy: np.ndarray | None = None) -> None:
    rng = np.random.default_rng(99)
    y = fm.forward(x, True)
    tx = torch.tensor(x, requires_grad=True)
    ty = tm(tx)
    close(y, ty, what="logits")
    dy = randn(rng, *y.shape) if dy is None else dy
    dx = fm.backward(dy)
    ty.backward(torch.from_numpy(dy))
    close(dx, tx.grad, what="dx")
    tparams = dict(tm.named_parameters())
    for name, p in fm.named_parameters():
        close(p.grad, tparams[name].grad, what=f"grad {name}")


# --------------------------------------------------------------------------- parity with torch


@pytest.mark.parametrize("arch", list(ARCHS))
def test_state_dict_keys_and_shapes_match_torch(arch):
    make, tmake = ARCHS[arch]
    fm, tm = make(), tmake()
    ours, theirs = fm.state_dict(), tm.state_dict()
    assert list(ours) == list(theirs)  # same names, same order
    for k in theirs:
        assert ours[k].shape == tuple(theirs[k].shape), k
        assert ours[k].dtype == np.float32
    assert [n for n, _ in fm.named_parameters()] == [n for n, _ in tm.named_parameters()]
    assert fm.flat.size == sum(p.numel() for p in tm.parameters())


@pytest.mark.parametrize("arch", list(ARCHS))
@pytest.mark.parametrize("n", [1, 5])
def test_forward_and_backward_match_torch(arch, n):
    fm, tm = pair(arch)
    x = randn(np.random.default_rng(n), n, 1, 28, 28)
    compare_forward_backward(fm, tm, x)


@pytest.mark.parametrize("arch", list(ARCHS))
def test_cross_entropy_end_to_end_matches_torch(arch):
    fm, tm = pair(arch, seed=3)
    rng = np.random.default_rng(3)
    x, y = randn(rng, 6, 1, 28, 28), rng.integers(0, 10, 6)
    loss_fn = nn.CrossEntropyLoss()
    loss = loss_fn(fm.forward(x, True), y)
    fm.backward(loss_fn.backward(), input_grad=False)
    tloss = torch.nn.functional.cross_entropy(tm(torch.from_numpy(x)), torch.from_numpy(y))
    tloss.backward()
    assert abs(loss - tloss.item()) < 1e-5
    tparams = dict(tm.named_parameters())
    for name, p in fm.named_parameters():
        close(p.grad, tparams[name].grad, atol=1e-5, what=name)


def test_load_state_dict_accepts_torch_tensors_directly():
    torch.manual_seed(1)
    tm = torch_lenet5()
    fm = fastnn.models.lenet5()
    fm.load_state_dict(tm.state_dict())
    for k, v in tm.state_dict().items():
        np.testing.assert_array_equal(fm.state_dict()[k], v.numpy())


def test_input_grad_false_returns_none_and_same_param_grads():
    fm, tm = pair("lenet5")
    rng = np.random.default_rng(4)
    x = randn(rng, 3, 1, 28, 28)
    y = fm.forward(x, True)
    dy = randn(rng, *y.shape)
    assert fm.backward(dy, input_grad=False) is None
    tm(torch.from_numpy(x)).backward(torch.from_numpy(dy))
    tparams = dict(tm.named_parameters())
    for name, p in fm.named_parameters():
        close(p.grad, tparams[name].grad, what=name)


def test_grads_accumulate_across_backward_calls_like_torch():
    fm, tm = pair("lenet5")
    rng = np.random.default_rng(5)
    for _ in range(2):
        x = randn(rng, 2, 1, 28, 28)
        y = fm.forward(x, True)
        dy = randn(rng, *y.shape)
        fm.backward(dy)
        tm(torch.from_numpy(x)).backward(torch.from_numpy(dy))
    tparams = dict(tm.named_parameters())
    for name, p in fm.named_parameters():
        close(p.grad, tparams[name].grad, what=name)


def test_batch_size_change_between_calls():
    """Buffers are per batch shape: forward(4), forward(3), backward(3) must use the 3-sample buffers."""
    fm, tm = pair("lenet5")
    rng = np.random.default_rng(6)
    fm.forward(randn(rng, 4, 1, 28, 28), True)
    compare_forward_backward(fm, tm, randn(rng, 3, 1, 28, 28))


def test_non_28x28_input_and_other_class_count():
    torch.manual_seed(0)
    t = torch.nn
    tm = t.Sequential(t.Conv2d(3, 4, 3, padding="same"), t.Tanh(), t.AvgPool2d(2), t.Conv2d(4, 5, (3, 2), stride=2),
                      t.Sigmoid(), t.Flatten(), t.Linear(5 * 2 * 4, 7), t.LeakyReLU(0.1), t.Linear(7, 3))
    fm = nn.Sequential(nn.Conv2d(3, 4, 3, padding="same"), nn.Tanh(), nn.AvgPool2d(2),
                       nn.Conv2d(4, 5, (3, 2), stride=2), nn.Sigmoid(), nn.Flatten(), nn.Linear(5 * 2 * 4, 7),
                       nn.LeakyReLU(0.1), nn.Linear(7, 3))
    fm.load_state_dict(tm.state_dict())
    x = randn(np.random.default_rng(7), 2, 3, 12, 19)
    assert fm.output_shape(x.shape) == (2, 3)
    compare_forward_backward(fm, tm, x)


ACTS = {"ReLU": lambda ns: ns.ReLU(), "LeakyReLU(0.1)": lambda ns: ns.LeakyReLU(0.1),
        "LeakyReLU(-0.2)": lambda ns: ns.LeakyReLU(-0.2), "Sigmoid": lambda ns: ns.Sigmoid(),
        "Tanh": lambda ns: ns.Tanh()}


@pytest.mark.parametrize("act", list(ACTS))
def test_every_fusable_activation_after_conv_and_linear_matches_torch(act):
    """Fused epilogues (and the unfused fallback of a negative LeakyReLU slope) vs torch."""
    torch.manual_seed(2)

    def make(ns):
        return ns.Sequential(ns.Conv2d(2, 3, 3, padding=1), ACTS[act](ns), ns.Flatten(), ns.Linear(3 * 5 * 4, 6),
                             ACTS[act](ns), ns.Linear(6, 4))

    tm = make(torch.nn)
    fm = make(nn)
    fm.load_state_dict(tm.state_dict())
    compare_forward_backward(fm, tm, randn(np.random.default_rng(8), 3, 2, 5, 4))


def test_nested_sequential_matches_torch():
    torch.manual_seed(3)
    t = torch.nn
    tm = t.Sequential(t.Sequential(t.Conv2d(1, 2, 3), t.ReLU()), t.Flatten(), t.Sequential(t.Linear(2 * 4 * 4, 3)))
    fm = nn.Sequential(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()), nn.Flatten(), nn.Sequential(nn.Linear(32, 3)))
    assert list(fm.state_dict()) == list(tm.state_dict())  # "0.0.weight", ...
    fm.load_state_dict(tm.state_dict())
    compare_forward_backward(fm, tm, randn(np.random.default_rng(9), 2, 1, 6, 6))
    for _, p in fm.named_parameters():  # the outer model's flat buffer holds every parameter
        assert np.shares_memory(p.data, fm.flat.data)


# --------------------------------------------------------------------------- fused == unfused


@pytest.mark.parametrize("arch", list(ARCHS))
def test_fused_equals_unfused(arch):
    make, _ = ARCHS[arch]
    fastnn.manual_seed(11)
    fused = make()
    unfused = unfused_copy(fused, make)
    assert fused.fuse and not unfused.fuse
    rng = np.random.default_rng(11)
    x = randn(rng, 4, 1, 28, 28)
    ya, yb = fused(x), unfused(x)
    np.testing.assert_allclose(ya, yb, rtol=1e-6, atol=1e-6)
    dy = randn(rng, *ya.shape)
    fused.forward(x, True)
    dxa = fused.backward(dy).copy()
    unfused.forward(x, True)
    dxb = unfused.backward(dy)
    np.testing.assert_allclose(dxa, dxb, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(fused.flat.grad, unfused.flat.grad, rtol=1e-6, atol=1e-6)


# --------------------------------------------------------------------------- container protocol


def test_indexing_len_iteration():
    m = fastnn.models.lenet5()
    assert len(m) == 12
    assert isinstance(m[0], nn.Conv2d) and isinstance(m[-1], nn.Linear) and isinstance(m[6], nn.Flatten)
    assert m[-1] is m[11]
    layers = list(m)
    assert len(layers) == 12 and all(a is b for a, b in zip(layers, m.layers))
    assert [type(layer).__name__ for layer in m] == [
        "Conv2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU", "MaxPool2d", "Flatten",
        "Linear", "ReLU", "Linear", "ReLU", "Linear"]
    with pytest.raises(IndexError):
        m[12]


def test_slicing_shares_layers_and_matches_torch_slice():
    fm, tm = pair("lenet5")
    head = fm[:6]
    assert isinstance(head, nn.Sequential) and len(head) == 6
    assert all(a is b for a, b in zip(head, list(fm)[:6]))
    x = randn(np.random.default_rng(12), 2, 1, 28, 28)
    close(head(x), tm[:6](torch.from_numpy(x)))
    tail = fm[6:]
    close(tail(head(x)), tm(torch.from_numpy(x)))
    # slicing must not move the parameters out of the full model's flat buffer
    for _, p in fm.named_parameters():
        assert np.shares_memory(p.data, fm.flat.data) and np.shares_memory(p.grad, fm.flat.grad)
    close(fm(x), tm(torch.from_numpy(x)))


def test_slicing_keeps_error_labels_of_the_full_model():
    m = fastnn.models.lenet5()
    _ = m[3:]  # a view of layers 3.. must not relabel them as model[0]..
    with pytest.raises(ValueError) as e:
        m.forward(np.zeros((1, 1, 4, 4), np.float32), True)
    assert "Conv2d at model[3]" in str(e.value), str(e.value)


def test_non_layer_item_is_rejected():
    with pytest.raises(TypeError, match="item 1"):
        nn.Sequential(nn.Linear(2, 2), torch.nn.ReLU())


def test_train_eval_propagate_to_layers():
    m = fastnn.models.lenet5()
    assert m.eval() is m
    assert not m.training and not any(layer.training for layer in m)
    m.train()
    assert m.training and all(layer.training for layer in m)


# --------------------------------------------------------------------------- state dict


def test_state_dict_returns_copies():
    m = fastnn.models.lenet5()
    before = m[0].weight.data.copy()
    sd = m.state_dict()
    sd["0.weight"][...] = 123.0
    np.testing.assert_array_equal(m[0].weight.data, before)
    assert not np.shares_memory(sd["0.weight"], m.flat.data)


def test_load_state_dict_round_trip_between_models():
    fastnn.manual_seed(1)
    a = fastnn.models.lenet5()
    fastnn.manual_seed(2)
    b = fastnn.models.lenet5()
    assert not np.array_equal(a.flat.data, b.flat.data)
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(a.flat.data, b.flat.data)
    x = randn(np.random.default_rng(13), 2, 1, 28, 28)
    np.testing.assert_array_equal(a(x), b(x))


def test_load_state_dict_missing_and_unexpected_keys():
    m = fastnn.models.lenet5()
    good = m.state_dict()
    missing = {k: v for k, v in good.items() if k != "3.bias"}
    with pytest.raises((KeyError, ValueError), match=r"3\.bias"):
        m.load_state_dict(missing)
    unexpected = {**good, "12.weight": np.zeros((3, 3), np.float32)}
    with pytest.raises((KeyError, ValueError), match=r"12\.weight"):
        m.load_state_dict(unexpected)
    # non-strict: present keys load, extras are ignored
    fastnn.manual_seed(5)
    other = fastnn.models.lenet5().state_dict()
    partial = {"0.weight": other["0.weight"], "extra": np.zeros(1, np.float32)}
    m.load_state_dict(partial, strict=False)
    np.testing.assert_array_equal(m[0].weight.data, other["0.weight"])
    np.testing.assert_array_equal(m[3].weight.data, good["3.weight"])


def test_load_state_dict_wrong_shape_and_nan():
    m = fastnn.models.lenet5()
    good = m.state_dict()
    bad_shape = {**good, "7.weight": np.zeros((120, 401), np.float32)}
    with pytest.raises(ValueError) as e:
        m.load_state_dict(bad_shape)
    assert "7.weight" in str(e.value) and "(120, 400)" in str(e.value) and "(120, 401)" in str(e.value)
    transposed = {**good, "7.weight": good["7.weight"].T.copy()}
    with pytest.raises(ValueError, match=r"7\.weight"):
        m.load_state_dict(transposed)
    for bad in (np.nan, np.inf):
        poisoned = {k: v.copy() for k, v in good.items()}
        poisoned["9.bias"][3] = bad
        with pytest.raises(ValueError, match=r"9\.bias"):
            m.load_state_dict(poisoned)


def test_rejected_load_state_dict_leaves_model_unchanged():
    """A load that raises must not leave the model half-overwritten (validate everything, then copy)."""
    fastnn.manual_seed(0)
    m = fastnn.models.lenet5()
    before = m.flat.data.copy()
    fastnn.manual_seed(1)
    new = fastnn.models.lenet5().state_dict()
    new["11.bias"][0] = np.nan  # the last key: every earlier key would already have been copied
    with pytest.raises(ValueError):
        m.load_state_dict(new)
    np.testing.assert_array_equal(m.flat.data, before)
    new = fastnn.models.lenet5().state_dict()
    new["11.weight"] = np.zeros((10, 85), np.float32)
    with pytest.raises(ValueError):
        m.load_state_dict(new)
    np.testing.assert_array_equal(m.flat.data, before)


# --------------------------------------------------------------------------- flat buffer


def test_named_parameters_are_views_into_the_flat_buffer():
    m = fastnn.models.lenet5()
    params = list(m.named_parameters())
    assert len(params) == 10 and len(m.parameters()) == 10
    assert m.flat.data.dtype == np.float32 and m.flat.data.flags.c_contiguous
    offset = 0
    for name, p in params:  # back to back in state_dict order
        assert p.offset == offset, name
        assert np.shares_memory(p.data, m.flat.data) and np.shares_memory(p.grad, m.flat.grad)
        offset += p.size
    assert offset == m.flat.size == 61706
    # writing through a view changes the flat buffer ...
    name, p = params[4]  # 7.weight
    p.data[...] = 7.0
    np.testing.assert_array_equal(m.flat.data[p.offset:p.offset + p.size], 7.0)
    p.grad[...] = -2.0
    np.testing.assert_array_equal(m.flat.grad[p.offset:p.offset + p.size], -2.0)
    # ... and writing the flat buffer changes the layer's weights (what the optimizer relies on)
    m.flat.data[:] = 0.5
    assert np.all(m[0].weight.data == 0.5) and np.all(m[11].bias.data == 0.5)
    m.flat.grad[:] = 0
    assert not m[3].weight.grad.any()


def test_backward_writes_the_flat_grad_buffer():
    m = fastnn.models.mlp()
    x = randn(np.random.default_rng(14), 2, 1, 28, 28)
    y = m.forward(x, True)
    m.backward(np.ones_like(y))
    concat = np.concatenate([p.grad.reshape(-1) for p in m.parameters()])
    np.testing.assert_array_equal(m.flat.grad, concat)
    assert np.abs(m.flat.grad).sum() > 0


def test_call_returns_copy_forward_returns_buffer():
    m = fastnn.models.lenet5()
    rng = np.random.default_rng(15)
    x1, x2 = randn(rng, 2, 1, 28, 28), randn(rng, 2, 1, 28, 28)
    y1 = m(x1)
    saved = y1.copy()
    y2 = m(x2)
    assert not np.shares_memory(y1, y2)
    np.testing.assert_array_equal(y1, saved)
    assert not np.array_equal(y1, y2)
    a = m.forward(x1, False)
    b = m.forward(x2, False)
    assert np.shares_memory(a, b)  # documented: forward's result is valid until the next call


# --------------------------------------------------------------------------- summary and errors


def test_summary_lenet5():
    s = fastnn.models.lenet5().summary((1, 1, 28, 28))
    assert "61,706" in s
    for shape in ["(1, 6, 28, 28)", "(1, 6, 14, 14)", "(1, 16, 10, 10)", "(1, 16, 5, 5)", "(1, 400)", "(1, 120)",
                  "(1, 84)", "(1, 10)"]:
        assert shape in s, shape
    for count in ["156", "2,416", "48,120", "10,164", "850"]:
        assert count in s, count
    assert len(s.splitlines()) == 1 + 12 + 1  # header, one row per layer, total


def test_summary_mlp():
    s = fastnn.models.mlp().summary((8, 1, 28, 28))
    assert "203,530" in s and "(8, 784)" in s and "(8, 256)" in s and "(8, 10)" in s


def test_three_channel_input_error_names_first_conv():
    m = fastnn.models.lenet5()
    with pytest.raises(ValueError) as e:
        m(np.zeros((2, 3, 28, 28), np.float32))
    msg = str(e.value)
    assert "Conv2d at model[0]" in msg and "(N, 1, H, W)" in msg and "(2, 3, 28, 28)" in msg


def test_error_deep_in_the_model_names_that_layer():
    m = fastnn.models.lenet5()
    with pytest.raises(ValueError) as e:  # 32x32 images reach Linear at model[7] with 576 features
        m(np.zeros((2, 1, 32, 32), np.float32))
    msg = str(e.value)
    assert "Linear at model[7]" in msg and "(N, 400)" in msg and "(2, 576)" in msg
    with pytest.raises(ValueError) as e:  # too small for the second conv
        m(np.zeros((1, 1, 4, 4), np.float32))
    assert "Conv2d at model[3]" in str(e.value) and "5x5" in str(e.value)
    with pytest.raises(ValueError) as e:
        m(np.zeros((2, 1, 28, 28), np.float64))
    assert "Conv2d at model[0]" in str(e.value) and "float64" in str(e.value)
    with pytest.raises(ValueError, match=r"model\[7\]"):
        m.summary((1, 1, 32, 32))


def test_manual_seed_reproduces_whole_model():
    fastnn.manual_seed(21)
    a = fastnn.models.lenet5()
    fastnn.manual_seed(21)
    b = fastnn.models.lenet5()
    fastnn.manual_seed(22)
    c = fastnn.models.lenet5()
    np.testing.assert_array_equal(a.flat.data, b.flat.data)
    assert not np.array_equal(a.flat.data, c.flat.data)


def test_batchnorm_relu_is_fused_and_equals_the_unfused_model():
    from fastnn import nn as fnn

    def build(fuse):
        fastnn.manual_seed(3)
        return fnn.Sequential(fnn.Conv2d(2, 4, 3, padding=1, bias=False), fnn.BatchNorm2d(4), fnn.ReLU(),
                              fnn.Flatten(), fnn.Linear(4 * 5 * 5, 3), fuse=fuse)

    fused, plain = build(True), build(False)
    assert [type(layer).__name__ for layer, act, _ in fused._plan if act is not None] == ["BatchNorm2d"]
    x = np.random.default_rng(0).standard_normal((6, 2, 5, 5)).astype(np.float32)
    dy = np.random.default_rng(1).standard_normal((6, 3)).astype(np.float32)
    outs = []
    for m in (fused, plain):
        y = m.forward(x, True).copy()
        m.backward(dy)
        outs.append((y, m.flat.grad.copy(), m[1].running_mean.copy()))
    for a, b in zip(*outs):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_deepcopy_keeps_parameters_viewing_the_copied_flat_buffer():
    import copy

    import fastnn
    from fastnn import optim

    model = fastnn.models.resnet8()  # nested Sequentials inside Residual blocks
    clone = copy.deepcopy(model)
    assert clone.flat.data is not model.flat.data
    for p in clone.parameters():
        assert p.flat is clone.flat and np.shares_memory(p.data, clone.flat.data)
    before = model.flat.data.copy()
    opt = optim.SGD(clone.parameters(), lr=1.0)
    clone.flat.grad[...] = 1.0
    opt.step()
    np.testing.assert_array_equal(model.flat.data, before)  # the original is untouched
    np.testing.assert_allclose(clone.parameters()[0].data.ravel(), before[:clone.parameters()[0].size] - 1.0)
