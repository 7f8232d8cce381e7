"""kernels.cuda.im2col and kernels.cuda.conv == kernels.reference on the simulator.

Geometries: batch 1, C_in = 1, padding, stride 2 and 3, non-square kernels and strides, odd sizes;
every fused activation in forward; backward after this backend's forward (it reuses ``col``), with
dw/db accumulating onto nonzero starts and dx untouched when need_dx is False. Workspaces are sized by
conv2d_workspace_shapes for nchunks 1 and 3 (the CPU's split; the CUDA kernels ignore it).
"""

import importlib
import inspect

import numpy as np
import pytest
from devarrays import dev, empty_like, host

from kernels.codes import ACT_LEAKY_RELU, ACT_NONE, ACT_RELU, ACT_SIGMOID, ACT_TANH
from kernels.shapes import conv_out_size

# import_module: the package namespaces re-export a function named im2col that shadows the module
cpu_conv, cpu_im2col, cu, cu_im2col, ref, ref_im2col = (importlib.import_module(f"kernels.{b}.{f}") for b in (
    "cpu", "cuda", "reference") for f in ("conv", "im2col"))
TOL = {np.float32: 1e-5, np.float64: 1e-10}
ACTS = [(ACT_NONE, 0.0), (ACT_RELU, 0.0), (ACT_LEAKY_RELU, 0.1), (ACT_SIGMOID, 0.0), (ACT_TANH, 0.0)]

# (N, C, H, W, O, KH, KW, SH, SW, PH, PW)
CASES = [
    (1, 1, 5, 5, 1, 1, 1, 1, 1, 0, 0),  # 1x1 kernel, batch 1, one channel
    (2, 3, 7, 6, 4, 3, 3, 1, 1, 1, 1),  # 3x3 "same", non-square input
    (2, 2, 9, 8, 3, 5, 5, 2, 2, 2, 2),  # 5x5, stride 2, padding 2
    (1, 1, 8, 5, 5, 2, 3, 3, 1, 0, 1),  # C_in 1, stride 3x1, non-square kernel, ragged output
    (3, 2, 6, 7, 2, 3, 2, 1, 2, 1, 0),  # non-square kernel and stride
]
IDS = ["x".join(map(str, c)) for c in CASES]


def close(got, want, dtype, what=""):
    tol = TOL[dtype]
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * max(1.0, float(np.abs(want).max(initial=0))),
                               err_msg=what)


def inputs(case, dtype, seed=0):
    n, c, h, w, o, kh, kw, *_ = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    wt = (rng.standard_normal((o, c, kh, kw)) / np.sqrt(c * kh * kw)).astype(dtype)
    return x, wt, rng.standard_normal(o).astype(dtype)


def out_shape(case):
    n, c, h, w, o, kh, kw, sh, sw, ph, pw = case
    return n, o, conv_out_size(h, kh, sh, ph), conv_out_size(w, kw, sw, pw)


def workspaces(case, dtype, nchunks):
    """NaN-filled device workspaces (col, ws_y, ws_xp, ws_dw) of the CPU layout for ``nchunks``."""
    n, c, h, w, o, kh, kw, sh, sw, ph, pw = case
    shapes = cu.conv2d_workspace_shapes((n, c, h, w), (o, c, kh, kw), sh, sw, ph, pw, nchunks)
    return [empty_like(np.zeros(s, dtype)) for s in shapes]


def test_signatures_match_cpu():
    for mod, cpu in ((cu, cpu_conv), (cu_im2col, cpu_im2col)):
        assert mod.__all__ == cpu.__all__
        for name in mod.__all__:
            assert inspect.signature(getattr(mod, name)) == inspect.signature(getattr(cpu, name)), name


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES[1:4], ids=IDS[1:4])
def test_im2col_col2im(case, dtype):
    n, c, h, w, o, kh, kw, sh, sw, ph, pw = case
    x = inputs(case, dtype)[0]
    _, _, oh, ow = out_shape(case)
    want = np.empty((c * kh * kw, n * oh * ow), dtype)
    ref_im2col.im2col(want, x, kh, kw, sh, sw, ph, pw)
    col = empty_like(want)
    cu_im2col.im2col(col, dev(x), kh, kw, sh, sw, ph, pw)
    close(host(col), want, dtype, "im2col")
    g = np.random.default_rng(5).standard_normal(want.shape).astype(dtype)
    want_dx = np.empty_like(x)
    ref_im2col.col2im(want_dx, g, kh, kw, sh, sw, ph, pw)
    dx = empty_like(x)
    cu_im2col.col2im(dx, dev(g), kh, kw, sh, sw, ph, pw)
    close(host(dx), want_dx, dtype, "col2im")


def run_forward(case, dtype, act, alpha, nchunks=1):
    *_, sh, sw, ph, pw = case
    x, w, b = inputs(case, dtype)
    want = np.empty(out_shape(case), dtype)
    ref.conv2d_forward(want, None, None, None, x, w, b, sh, sw, ph, pw, act, alpha, nchunks)
    col, ws_y, ws_xp, _ = ws = workspaces(case, dtype, nchunks)
    y = empty_like(want)
    dx_, dw_, db_ = dev(x), dev(w), dev(b)
    cu.conv2d_forward(y, col, ws_y, ws_xp, dx_, dw_, db_, sh, sw, ph, pw, act, alpha, nchunks)
    return want, host(y), (x, w, b), (dx_, dw_, db_, y), ws


FORWARD = [(c, np.float32, ACT_NONE, 0.0) for c in CASES] + \
          [(CASES[3], dt, *a) for dt in (np.float32, np.float64) for a in ACTS[1:]] + [(CASES[2], np.float64, *ACTS[0])]


@pytest.mark.parametrize("case,dtype,act,alpha", FORWARD)
def test_forward(case, dtype, act, alpha):
    want, got, *_ = run_forward(case, dtype, act, alpha)
    close(got, want, dtype)


# (case, dtype, (act, alpha), need_dx, nchunks)
BACKWARD = [(CASES[0], np.float64, ACTS[1], True, 1), (CASES[1], np.float32, ACTS[4], True, 1),
            (CASES[2], np.float64, ACTS[2], True, 3), (CASES[3], np.float32, ACTS[3], True, 1),
            (CASES[4], np.float64, ACTS[0], False, 1)]


@pytest.mark.parametrize("case,dtype,act_alpha,need_dx,nchunks", BACKWARD)
def test_backward(case, dtype, act_alpha, need_dx, nchunks):
    *_, sh, sw, ph, pw = case
    act, alpha = act_alpha
    y_ref, _, (x, w, b), (xd, wd, _, yd), (col, _, _, ws_dw) = run_forward(case, dtype, act, alpha, nchunks)
    rng = np.random.default_rng(2)
    dy, dw0, db0 = (rng.standard_normal(s).astype(dtype) for s in (y_ref.shape, w.shape, b.shape))
    want = [np.full(x.shape, 7.0, dtype), dw0.copy(), db0.copy()]
    ref.conv2d_backward(*want, None, None, None, None, dy, None, x, w, y_ref, sh, sw, ph, pw, act, alpha, need_dx,
                        nchunks)
    got = [dev(np.full(x.shape, 7.0, dtype)), dev(dw0), dev(db0)]
    ws_dcol, ws_g = empty_like(np.zeros(col.shape, dtype)), empty_like(np.zeros(cu.conv2d_workspace_shapes(
        x.shape, w.shape, sh, sw, ph, pw, nchunks)[1], dtype))
    ws_dxp = empty_like(np.zeros(cu.conv2d_workspace_shapes(x.shape, w.shape, sh, sw, ph, pw, nchunks)[2], dtype))
    cu.conv2d_backward(*got, ws_dcol, ws_g, ws_dw, ws_dxp, dev(dy), col, xd, wd, yd, sh, sw, ph, pw, act, alpha,
                       need_dx, nchunks)
    for name, g, r in zip(("dx", "dw", "db"), got, want):
        close(host(g), r, dtype, what=name)


def test_host_array_rejected():
    case = CASES[1]
    x, w, b = inputs(case, np.float32)
    col, ws_y, ws_xp, _ = workspaces(case, np.float32, 1)
    y = empty_like(np.zeros(out_shape(case), np.float32))
    with pytest.raises(TypeError, match="'x'"):
        cu.conv2d_forward(y, col, ws_y, ws_xp, x, dev(w), dev(b), 1, 1, 1, 1, ACT_NONE, 0.0, 1)
    with pytest.raises(TypeError, match="'col'"):
        cu_im2col.im2col(np.zeros((27, 84), np.float32), dev(x), 3, 3, 1, 1, 1, 1)
