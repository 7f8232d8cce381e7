"""Every layer alone vs PyTorch CPU (the oracle): forward, backward dx, parameter gradients and their
accumulation, default initialization, seeding, and the errors a user sees for bad inputs/arguments."""

from __future__ import annotations

# fastnn first: its kernels package sets OMP_WAIT_POLICY / the thread budget before any OpenMP runtime
# (torch's included) starts.
import fastnn  # noqa: F401  isort: skip

import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from fastnn import nn

torch.set_num_threads(1)

RTOL, ATOL = 1e-5, 1e-5  # elementwise / small sums
CONV_ATOL = 1e-4  # conv and GEMM sums in float32


def randn(rng: np.random.Generator, *shape: int, scale: float = 1.0) -> np.ndarray:
    return (scale * rng.standard_normal(shape)).astype(np.float32)


def close(actual, expected, rtol: float = RTOL, atol: float = ATOL, what: str = "") -> None:
    if isinstance(expected, torch.Tensor):
        expected = expected.detach().numpy()
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=what)


def copy_params(src, dst: torch.nn.Module) -> None:
    """Load a fastnn layer's state_dict into the torch layer (strict: same keys, same shapes)."""
    dst.load_state_dict({k: torch.from_numpy(v) for k, v in src.state_dict().items()})


def run_both(layer, tlayer: torch.nn.Module, x: np.ndarray, dy: np.ndarray, atol: float = ATOL, **bwd):
    """Forward + backward through both; compare y, dx and every parameter gradient."""
    y = layer.forward(x, True)
    tx = torch.tensor(x, requires_grad=True)
    ty = tlayer(tx)
    close(y, ty, atol=atol, what="forward")
    assert y.dtype == np.float32 and y.shape == tuple(ty.shape)
    dx = layer.backward(dy, **bwd)
    ty.backward(torch.from_numpy(dy))
    if bwd.get("need_dx", True):
        assert dx.dtype == np.float32 and dx.shape == x.shape
        close(dx, tx.grad, atol=atol, what="dx")
    else:
        assert dx is None
    tparams = dict(tlayer.named_parameters())
    assert sorted(tparams) == sorted(name for name, _ in layer.named_parameters())
    for name, p in layer.named_parameters():
        close(p.grad, tparams[name].grad, atol=atol, what=f"d{name}")
    return y, dx


# --------------------------------------------------------------------------- Linear


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("n", [1, 5])
def test_linear_matches_torch(bias, n):
    rng = np.random.default_rng(1)
    layer = nn.Linear(7, 3, bias=bias)
    tlayer = torch.nn.Linear(7, 3, bias=bias)
    copy_params(layer, tlayer)
    assert [k for k, _ in layer.named_parameters()] == (["weight", "bias"] if bias else ["weight"])
    assert layer.weight.shape == (3, 7)
    run_both(layer, tlayer, randn(rng, n, 7), randn(rng, n, 3))


def test_linear_need_dx_false_still_computes_param_grads():
    rng = np.random.default_rng(2)
    layer, tlayer = nn.Linear(6, 4), torch.nn.Linear(6, 4)
    copy_params(layer, tlayer)
    run_both(layer, tlayer, randn(rng, 3, 6), randn(rng, 3, 4), need_dx=False)


def test_linear_non_contiguous_input():
    rng = np.random.default_rng(3)
    layer, tlayer = nn.Linear(5, 4), torch.nn.Linear(5, 4)
    copy_params(layer, tlayer)
    x = randn(rng, 5, 6).T  # (6, 5), Fortran-ordered view
    assert not x.flags.c_contiguous
    run_both(layer, tlayer, x, randn(rng, 6, 4))


# --------------------------------------------------------------------------- Conv2d

CONV_CASES = [
    # (in, out, kernel, stride, padding, bias, input shape)
    (3, 4, 3, 1, 1, True, (2, 3, 7, 9)),
    (3, 4, 3, 1, 0, True, (2, 3, 6, 6)),
    (2, 5, (3, 5), (2, 1), (1, 2), True, (2, 2, 8, 11)),
    (2, 3, 5, 1, "same", True, (1, 2, 6, 7)),  # batch 1, non-square
    (2, 3, (3, 1), 1, "same", True, (2, 2, 5, 4)),
    (2, 3, (2, 3), 1, "valid", True, (3, 2, 5, 6)),
    (3, 4, 3, 2, 0, False, (2, 3, 9, 8)),  # stride 2, no bias
    (3, 2, 3, 2, 1, True, (1, 3, 10, 7)),  # stride 2, padding, batch 1, ragged output
    (4, 6, 1, 1, 0, True, (2, 4, 3, 5)),  # 1x1
    (1, 6, 5, 1, 2, True, (2, 1, 12, 12)),  # LeNet's first layer, small
    (2, 2, 3, 3, 0, True, (2, 2, 3, 3)),  # output 1x1
]


@pytest.mark.parametrize("cin,cout,k,s,p,bias,shape", CONV_CASES)
def test_conv2d_matches_torch(cin, cout, k, s, p, bias, shape):
    rng = np.random.default_rng(4)
    layer = nn.Conv2d(cin, cout, k, stride=s, padding=p, bias=bias)
    tlayer = torch.nn.Conv2d(cin, cout, k, stride=s, padding=p, bias=bias)
    copy_params(layer, tlayer)
    x = randn(rng, *shape)
    out_shape = layer.output_shape(shape)
    assert out_shape == tuple(tlayer(torch.from_numpy(x)).shape)
    run_both(layer, tlayer, x, randn(rng, *out_shape), atol=CONV_ATOL)


def test_conv2d_need_dx_false_still_computes_param_grads():
    rng = np.random.default_rng(5)
    layer, tlayer = nn.Conv2d(2, 3, 3, padding=1), torch.nn.Conv2d(2, 3, 3, padding=1)
    copy_params(layer, tlayer)
    run_both(layer, tlayer, randn(rng, 2, 2, 5, 6), randn(rng, 2, 3, 5, 6), atol=CONV_ATOL, need_dx=False)


def test_conv2d_new_batch_shape_reallocates_buffers():
    """Buffers are reused per input shape; a different batch/spatial shape must not reuse stale ones."""
    rng = np.random.default_rng(6)
    layer, tlayer = nn.Conv2d(2, 3, 3, padding=1), torch.nn.Conv2d(2, 3, 3, padding=1)
    copy_params(layer, tlayer)
    layer.forward(randn(rng, 4, 2, 8, 8), True)
    layer.backward(randn(rng, 4, 3, 8, 8))
    layer.weight.grad[...] = 0
    layer.bias.grad[...] = 0
    run_both(layer, tlayer, randn(rng, 1, 2, 5, 7), randn(rng, 1, 3, 5, 7), atol=CONV_ATOL)


# --------------------------------------------------------------------------- pooling

POOL_CASES = [
    # (kernel, stride, padding, input shape)
    (2, None, 0, (2, 3, 8, 8)),
    (2, None, 0, (1, 2, 7, 9)),  # odd sizes: floor mode drops the last row/column
    (3, 2, 1, (2, 2, 9, 7)),  # overlapping windows with padding
    ((2, 3), (1, 2), (1, 1), (2, 2, 6, 7)),
    (3, 1, 0, (1, 1, 5, 5)),  # stride 1: heavy overlap
    (4, 4, 2, (2, 1, 6, 6)),  # padding = half the kernel
]


@pytest.mark.parametrize("k,s,p,shape", POOL_CASES)
def test_maxpool2d_matches_torch(k, s, p, shape):
    rng = np.random.default_rng(7)
    layer = nn.MaxPool2d(k, stride=s, padding=p)
    tlayer = torch.nn.MaxPool2d(k, stride=s, padding=p)
    x = randn(rng, *shape)
    out_shape = layer.output_shape(shape)
    run_both(layer, tlayer, x, randn(rng, *out_shape))


def test_maxpool2d_all_negative_input_with_padding():
    """Padding never wins the max, even when every input is negative."""
    rng = np.random.default_rng(8)
    layer, tlayer = nn.MaxPool2d(3, stride=2, padding=1), torch.nn.MaxPool2d(3, stride=2, padding=1)
    x = -np.abs(randn(rng, 1, 2, 5, 5)) - 1
    run_both(layer, tlayer, x, randn(rng, 1, 2, 3, 3))


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("k,s,p,shape", POOL_CASES)
def test_avgpool2d_matches_torch(k, s, p, shape, count_include_pad):
    rng = np.random.default_rng(9)
    layer = nn.AvgPool2d(k, stride=s, padding=p, count_include_pad=count_include_pad)
    tlayer = torch.nn.AvgPool2d(k, stride=s, padding=p, count_include_pad=count_include_pad)
    x = randn(rng, *shape)
    run_both(layer, tlayer, x, randn(rng, *layer.output_shape(shape)))


# --------------------------------------------------------------------------- Flatten


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (1, 6), (3, 2, 5)])
def test_flatten_matches_torch(shape):
    rng = np.random.default_rng(10)
    layer = nn.Flatten()
    x = randn(rng, *shape)
    n = math.prod(shape[1:])
    assert layer.output_shape(shape) == (shape[0], n)
    run_both(layer, torch.nn.Flatten(), x, randn(rng, shape[0], n))


# --------------------------------------------------------------------------- activations

ACTIVATIONS = [
    ("ReLU", lambda: nn.ReLU(), lambda: torch.nn.ReLU()),
    ("LeakyReLU", lambda: nn.LeakyReLU(), lambda: torch.nn.LeakyReLU()),
    ("LeakyReLU(0.2)", lambda: nn.LeakyReLU(0.2), lambda: torch.nn.LeakyReLU(0.2)),
    ("LeakyReLU(-0.2)", lambda: nn.LeakyReLU(-0.2), lambda: torch.nn.LeakyReLU(-0.2)),
    ("Sigmoid", lambda: nn.Sigmoid(), lambda: torch.nn.Sigmoid()),
    ("Tanh", lambda: nn.Tanh(), lambda: torch.nn.Tanh()),
]


def activation_input(rng, shape):
    x = randn(rng, *shape, scale=3.0)
    flat = x.reshape(-1)
    flat[:6] = [0.0, -0.0, 40.0, -40.0, 100.0, -100.0]  # exact zeros and saturation
    return x


@pytest.mark.parametrize("name,make,tmake", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (7, 11)])
def test_activation_matches_torch(name, make, tmake, shape):
    rng = np.random.default_rng(11)
    x = activation_input(rng, shape)
    y, dx = run_both(make(), tmake(), x, randn(rng, *shape))
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(dx))


# --------------------------------------------------------------------------- gradient accumulation

ACCUMULATING = [
    ("Linear", lambda: nn.Linear(6, 4), lambda: torch.nn.Linear(6, 4), (3, 6)),
    ("Linear-nobias", lambda: nn.Linear(6, 4, bias=False), lambda: torch.nn.Linear(6, 4, bias=False), (3, 6)),
    ("Conv2d", lambda: nn.Conv2d(2, 3, 3, padding=1), lambda: torch.nn.Conv2d(2, 3, 3, padding=1), (2, 2, 5, 6)),
    ("Conv2d-s2", lambda: nn.Conv2d(2, 3, (3, 2), stride=2, bias=False),
     lambda: torch.nn.Conv2d(2, 3, (3, 2), stride=2, bias=False), (2, 2, 7, 6)),
]


@pytest.mark.parametrize("name,make,tmake,shape", ACCUMULATING, ids=[a[0] for a in ACCUMULATING])
def test_param_grads_accumulate_over_two_backward_calls(name, make, tmake, shape):
    rng = np.random.default_rng(12)
    layer, tlayer = make(), tmake()
    copy_params(layer, tlayer)
    for _ in range(2):
        x = randn(rng, *shape)
        y = layer.forward(x, True)
        dy = randn(rng, *y.shape)
        layer.backward(dy)
        tlayer(torch.from_numpy(x)).backward(torch.from_numpy(dy))
    tparams = dict(tlayer.named_parameters())
    for pname, p in layer.named_parameters():
        close(p.grad, tparams[pname].grad, atol=CONV_ATOL, what=f"accumulated d{pname}")


# --------------------------------------------------------------------------- buffers and copies


def test_forward_reuses_buffer_and_call_returns_copy():
    rng = np.random.default_rng(13)
    layer = nn.Linear(4, 3)
    x1, x2 = randn(rng, 2, 4), randn(rng, 2, 4)
    a = layer.forward(x1, True)
    b = layer.forward(x2, True)
    assert np.shares_memory(a, b)  # documented: the returned buffer is valid until the next call
    c = layer(x1)
    expected = c.copy()
    d = layer(x2)
    assert not np.shares_memory(c, d)
    np.testing.assert_array_equal(c, expected)
    assert not np.array_equal(c, d)


def test_backward_after_second_forward_uses_latest_input():
    rng = np.random.default_rng(14)
    layer, tlayer = nn.Conv2d(1, 2, 3), torch.nn.Conv2d(1, 2, 3)
    copy_params(layer, tlayer)
    layer.forward(randn(rng, 2, 1, 6, 6), True)
    run_both(layer, tlayer, randn(rng, 2, 1, 6, 6), randn(rng, 2, 2, 4, 4), atol=CONV_ATOL)


# --------------------------------------------------------------------------- initialization


@pytest.mark.parametrize("make,tmake,fan_in", [
    (lambda: nn.Linear(1000, 300), lambda: torch.nn.Linear(1000, 300), 1000),
    (lambda: nn.Conv2d(16, 64, 5), lambda: torch.nn.Conv2d(16, 64, 5), 16 * 25),
    (lambda: nn.Conv2d(8, 300, (3, 2)), lambda: torch.nn.Conv2d(8, 300, (3, 2)), 8 * 6),
])
def test_default_init_statistics_match_torch(make, tmake, fan_in):
    fastnn.manual_seed(0)
    torch.manual_seed(0)
    layer, tlayer = make(), tmake()
    bound = 1 / math.sqrt(fan_in)
    w, tw = layer.weight.data, tlayer.weight.detach().numpy()
    b, tb = layer.bias.data, tlayer.bias.detach().numpy()
    assert w.dtype == np.float32 and b.dtype == np.float32
    assert w.shape == tw.shape and b.shape == tb.shape
    for ours, theirs in ((w, tw), (b, tb)):
        assert np.abs(ours).max() <= bound * (1 + 1e-6)
        assert np.abs(theirs).max() <= bound * (1 + 1e-6)
    # U(-bound, bound): std = bound / sqrt(3), mean 0; the layer is large enough for ~2% accuracy.
    assert abs(w.std() - bound / math.sqrt(3)) < 0.03 * bound / math.sqrt(3)
    assert abs(w.std() - tw.std()) < 0.03 * tw.std()
    assert abs(w.mean()) < 0.02 * bound
    assert np.abs(w).max() > 0.99 * bound  # the full range is used, not a narrower one
    assert b.std() > 0.4 * bound  # bias is not zero-initialized (PyTorch's default)


def test_manual_seed_makes_construction_reproducible():
    def build():
        return [nn.Linear(20, 10), nn.Conv2d(3, 4, 3), nn.Linear(10, 2, bias=False)]

    fastnn.manual_seed(123)
    a = build()
    fastnn.manual_seed(123)
    b = build()
    fastnn.manual_seed(124)
    c = build()
    for la, lb, lc in zip(a, b, c):
        for (na, pa), (nb, pb), (_, pc) in zip(la.named_parameters(), lb.named_parameters(), lc.named_parameters()):
            assert na == nb
            np.testing.assert_array_equal(pa.data, pb.data)
            assert not np.array_equal(pa.data, pc.data)
    # consecutive layers draw different values from the same stream
    fastnn.manual_seed(7)
    d, e = nn.Linear(5, 5), nn.Linear(5, 5)
    assert not np.array_equal(d.weight.data, e.weight.data)


def test_explicit_rng_argument_is_reproducible_and_independent_of_global_seed():
    fastnn.manual_seed(1)
    a = nn.Conv2d(2, 3, 3, rng=np.random.default_rng(42))
    fastnn.manual_seed(2)
    b = nn.Conv2d(2, 3, 3, rng=np.random.default_rng(42))
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    np.testing.assert_array_equal(a.bias.data, b.bias.data)


# --------------------------------------------------------------------------- input errors


def assert_error(excinfo, *fragments: str) -> None:
    msg = str(excinfo.value)
    for f in fragments:
        assert f in msg, f"{f!r} not in error message {msg!r}"


@pytest.mark.parametrize("x,fragments", [
    (np.zeros((2, 3, 5), np.float32), ["Linear", "(N, 5)", "(2, 3, 5)"]),  # wrong ndim
    (np.zeros(5, np.float32), ["Linear", "(N, 5)", "(5,)"]),
    (np.zeros((2, 4), np.float32), ["Linear", "(N, 5)", "(2, 4)"]),  # wrong feature count
    (np.zeros((2, 5), np.float64), ["Linear", "float32", "float64"]),
    (np.zeros((2, 5), np.int32), ["Linear", "float32", "int32"]),
    ([[0.0] * 5], ["Linear", "NumPy array", "list"]),
], ids=["ndim3", "ndim1", "features", "float64", "int32", "list"])
def test_linear_input_errors(x, fragments):
    with pytest.raises(ValueError) as e:
        nn.Linear(5, 2).forward(x, True)
    assert_error(e, *fragments)


def test_linear_rejects_torch_tensor_input():
    with pytest.raises(ValueError) as e:
        nn.Linear(5, 2)(torch.zeros(2, 5))
    assert_error(e, "Linear", "NumPy array", "Tensor")


@pytest.mark.parametrize("layer,x,fragments", [
    (lambda: nn.Conv2d(3, 4, 3), np.zeros((2, 3, 8), np.float32), ["Conv2d", "(N, 3, H, W)", "(2, 3, 8)"]),
    (lambda: nn.Conv2d(3, 4, 3), np.zeros((2, 1, 8, 8), np.float32), ["Conv2d", "(N, 3, H, W)", "(2, 1, 8, 8)"]),
    (lambda: nn.Conv2d(3, 4, 3), np.zeros((2, 3, 8, 8), np.float64), ["Conv2d", "float32", "float64"]),
    (lambda: nn.Conv2d(1, 1, 5), np.zeros((1, 1, 3, 8), np.float32), ["Conv2d", "3x8", "5x5"]),
    (lambda: nn.Conv2d(1, 1, (3, 5), padding=(0, 1)), np.zeros((1, 1, 4, 2), np.float32), ["Conv2d", "3x5", "4x2"]),
    (lambda: nn.MaxPool2d(2), np.zeros((2, 8, 8), np.float32), ["MaxPool2d", "(N, C, H, W)", "(2, 8, 8)"]),
    (lambda: nn.MaxPool2d(2), np.zeros((1, 1, 4, 4), np.float64), ["MaxPool2d", "float32", "float64"]),
    (lambda: nn.MaxPool2d(4), np.zeros((1, 1, 3, 6), np.float32), ["MaxPool2d", "3x6", "4x4"]),
    (lambda: nn.AvgPool2d(3), np.zeros((1, 1, 2, 2), np.float32), ["AvgPool2d", "2x2", "3x3"]),
    (lambda: nn.AvgPool2d(2), np.zeros((4, 4), np.float32), ["AvgPool2d", "(N, C, H, W)", "(4, 4)"]),
    (lambda: nn.Flatten(), np.zeros((2, 3), np.float64), ["Flatten", "float32", "float64"]),
    (lambda: nn.ReLU(), np.zeros((2, 3), np.float64), ["ReLU", "float32", "float64"]),
    (lambda: nn.LeakyReLU(0.1), np.zeros(3, np.float16), ["LeakyReLU", "float32", "float16"]),
    (lambda: nn.Sigmoid(), np.zeros(3, np.float64), ["Sigmoid", "float32", "float64"]),
    (lambda: nn.Tanh(), np.zeros(3, np.int64), ["Tanh", "float32", "int64"]),
], ids=["conv-ndim", "conv-channels", "conv-float64", "conv-kernel>input", "conv-kernel>padded", "maxpool-ndim",
        "maxpool-float64", "maxpool-window>input", "avgpool-window>input", "avgpool-ndim", "flatten-float64",
        "relu-float64", "leaky-float16", "sigmoid-float64", "tanh-int64"])
def test_layer_input_errors(layer, x, fragments):
    with pytest.raises(ValueError) as e:
        layer().forward(x, True)
    assert_error(e, *fragments)


@pytest.mark.parametrize("make,fragments", [
    (lambda: nn.Linear(0, 3), ["Linear", "0"]),
    (lambda: nn.Linear(3, 0), ["Linear", "0"]),
    (lambda: nn.Conv2d(0, 3, 3), ["Conv2d", "channels"]),
    (lambda: nn.Conv2d(1, 3, 0), ["Conv2d", "kernel_size"]),
    (lambda: nn.Conv2d(1, 3, (3,)), ["Conv2d", "kernel_size", "(3,)"]),
    (lambda: nn.Conv2d(1, 3, 3.0), ["Conv2d", "kernel_size", "3.0"]),
    (lambda: nn.Conv2d(1, 3, True), ["Conv2d", "kernel_size"]),
    (lambda: nn.Conv2d(1, 3, 3, stride=0), ["Conv2d", "stride"]),
    (lambda: nn.Conv2d(1, 3, 3, padding=-1), ["Conv2d", "padding"]),
    (lambda: nn.Conv2d(1, 3, 3, padding="full"), ["Conv2d", "padding", "full"]),
    (lambda: nn.Conv2d(1, 3, 3, stride=2, padding="same"), ["Conv2d", "same", "stride"]),
    (lambda: nn.Conv2d(1, 3, 4, padding="same"), ["Conv2d", "same", "(4, 4)"]),
    (lambda: nn.MaxPool2d(0), ["MaxPool2d", "kernel_size"]),
    (lambda: nn.MaxPool2d(2, stride=0), ["MaxPool2d", "stride"]),
    (lambda: nn.MaxPool2d(2, padding=2), ["MaxPool2d", "padding"]),
    (lambda: nn.MaxPool2d(2, padding=-1), ["MaxPool2d", "padding"]),
    (lambda: nn.AvgPool2d((2, 2, 2)), ["AvgPool2d", "kernel_size"]),
    (lambda: nn.AvgPool2d(3, padding=(0, 2)), ["AvgPool2d", "padding"]),
], ids=["linear-in0", "linear-out0", "conv-in0", "conv-k0", "conv-k-1tuple", "conv-k-float", "conv-k-bool",
        "conv-stride0", "conv-pad-neg", "conv-pad-full", "conv-same-stride2", "conv-same-even", "maxpool-k0",
        "maxpool-stride0", "maxpool-pad>half", "maxpool-pad-neg", "avgpool-k-3tuple", "avgpool-pad>half"])
def test_invalid_constructor_args(make, fragments):
    with pytest.raises(ValueError) as e:
        make()
    assert_error(e, *fragments)


# --------------------------------------------------------------------------- upstream-gradient errors
# A wrong-shaped or wrong-dtype dy reaching a compiled kernel reads/writes out of bounds (numba does no
# bounds checking), so each case runs in a child process: a crash fails the case instead of the session.

BACKWARD_CASES = {
    "Linear-dy-cols": ("nn.Linear(3, 2)", (2, 3), (2, 50), "float32"),
    "Linear-dy-rows": ("nn.Linear(3, 2)", (2, 3), (5, 2), "float32"),
    "Linear-dy-float64": ("nn.Linear(3, 2)", (2, 3), (2, 2), "float64"),
    "Conv2d-dy-shape": ("nn.Conv2d(1, 2, 3)", (1, 1, 5, 5), (1, 2, 4, 4), "float32"),
    "MaxPool2d-dy-shape": ("nn.MaxPool2d(2)", (1, 1, 4, 4), (1, 1, 3, 3), "float32"),
    "AvgPool2d-dy-shape": ("nn.AvgPool2d(2)", (1, 1, 4, 4), (1, 1, 3, 3), "float32"),
    "ReLU-dy-shape": ("nn.ReLU()", (1, 1, 4, 4), (1, 1, 3, 3), "float32"),
    "Flatten-dy-shape": ("nn.Flatten()", (2, 3, 4), (2, 11), "float32"),
}

_CHILD = textwrap.dedent("""
    import sys
    import fastnn
    import numpy as np
    from fastnn import nn
    for name in sys.argv[1:]:
        make, xs, dys, dt = CASES[name]
        print("START", name, flush=True)
        layer = eval(make)
        layer.forward(np.ones(xs, np.float32), True)
        try:
            layer.backward(np.ones(dys, dt))
            print("RESULT", name, "no error", flush=True)
        except ValueError as e:
            print("RESULT", name, "ValueError", str(e).replace(chr(10), " "), flush=True)
        except Exception as e:
            print("RESULT", name, type(e).__name__, str(e).replace(chr(10), " "), flush=True)
""")


@pytest.fixture(scope="module")
def backward_error_results() -> dict[str, str]:
    """Run every case in child processes, restarting after a crash; name -> outcome line."""
    code = f"CASES = {BACKWARD_CASES!r}\n" + _CHILD
    todo, results = list(BACKWARD_CASES), {}
    while todo:
        proc = subprocess.run([sys.executable, "-c", code, *todo], capture_output=True, text=True, timeout=300)
        started = None
        for line in proc.stdout.splitlines():
            kind, name, *rest = line.split(" ", 2)
            if kind == "START":
                started = name
            elif kind == "RESULT":
                results[name] = rest[0] if rest else ""
                started = None
        if started is not None:
            results[started] = f"crashed (exit code {proc.returncode}): {proc.stderr[-300:]}"
        remaining = [n for n in todo if n not in results]
        if remaining == todo:
            raise AssertionError(f"child process failed before running a case: {proc.stderr[-2000:]}")
        todo = remaining
    return results


@pytest.mark.parametrize("case", list(BACKWARD_CASES))
def test_backward_rejects_bad_upstream_gradient(case, backward_error_results):
    outcome = backward_error_results[case]
    layer_name = BACKWARD_CASES[case][0].split("(")[0].removeprefix("nn.")
    assert outcome.startswith("ValueError"), f"{case}: expected a ValueError, got {outcome}"
    assert layer_name in outcome
