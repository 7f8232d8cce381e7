"""im2col / col2im and conv2d_forward / conv2d_backward.

reference == cpu on sampled geometries (batch 1, odd/non-square sizes, stride 2/3, padding, kernels
1/3/5, non-square kernels, (kh, kw) != (sh, sw), 3x3 stride-1 with >= 16 channels: the Winograd forward, dx, dw);
every fused activation; need_dx; dw/db
accumulation; float64 gradchecks of both backends; PyTorch's
conv2d (forward and autograd); hypothesis: im2col-GEMM conv == direct conv, col2im adjoint of im2col.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from gradcheck import assert_close, assert_grad_close, numerical_grad, weighted_sum
from hypothesis import given, settings
from hypothesis import strategies as st

import kernels
from kernels.codes import ACT_LEAKY_RELU, ACT_NONE, ACT_RELU, ACT_SIGMOID, ACT_TANH
from kernels.reference.im2col import conv_out_size

REF = kernels.get("reference")
CPU = kernels.get("cpu")
BACKENDS = {"reference": REF, "cpu": CPU}
DTYPES = [np.float32, np.float64]
ACTS = [(ACT_NONE, 0.0), (ACT_RELU, 0.0), (ACT_LEAKY_RELU, 0.1), (ACT_SIGMOID, 0.0), (ACT_TANH, 0.0)]
ACT_IDS = ["none", "relu", "leaky_relu", "sigmoid", "tanh"]

# (N, C, H, W, O, KH, KW, SH, SW, PH, PW)
CASES = [
    (1, 1, 5, 5, 1, 1, 1, 1, 1, 0, 0),  # 1x1 kernel, batch 1
    (2, 3, 7, 6, 4, 3, 3, 1, 1, 1, 1),  # 3x3 "same", non-square input
    (2, 2, 9, 8, 3, 5, 5, 2, 2, 2, 2),  # 5x5, stride 2, padding 2
    (3, 2, 6, 7, 2, 3, 2, 1, 2, 1, 0),  # non-square kernel and stride
    (1, 3, 8, 5, 5, 2, 3, 3, 1, 0, 1),  # stride 3x1, (kh,kw) != (sh,sw), ragged output
    (2, 1, 5, 5, 2, 5, 3, 1, 2, 0, 1),  # kernel as tall as the input
    (2, 2, 4, 4, 2, 2, 2, 2, 2, 0, 0),  # kernel == stride (non-overlapping)
    (2, 2, 6, 9, 3, 5, 3, 1, 1, 2, 1),  # stride 1 ("wide" path), non-square kernel, unequal padding
    (2, 16, 6, 7, 3, 3, 3, 1, 1, 1, 1),  # Winograd forward: odd output width
    (1, 17, 5, 5, 4, 3, 3, 1, 1, 0, 0),  # Winograd: no padding, odd 3x3 output (partial last tiles)
    (3, 16, 4, 6, 5, 3, 3, 1, 1, 2, 1),  # Winograd: padding 2 x 1 (output larger than the input)
    (2, 16, 6, 5, 16, 3, 3, 1, 1, 1, 1),  # Winograd forward and dx (>= 16 output channels), odd input width
    (1, 16, 5, 7, 18, 3, 3, 1, 1, 0, 2),  # Winograd forward, dx and dw (O > C): padding 0 x 2, odd sizes
    (2, 16, 5, 6, 20, 3, 3, 1, 1, 2, 1),  # Winograd dw: output taller than the input (more y tiles than dx tiles)
    (1, 16, 7, 9, 17, 3, 3, 1, 1, 1, 1),  # Winograd dw: output width 9 = 4k + 1 (last tile past the wide row)
]
CASE_IDS = ["x".join(map(str, c)) for c in CASES]


def geometry(case):
    n, c, h, w, o, kh, kw, sh, sw, ph, pw = case
    return n, c, h, w, o, kh, kw, sh, sw, ph, pw, conv_out_size(h, kh, sh, ph), conv_out_size(w, kw, sw, pw)


def make_inputs(case, dtype, seed=0):
    n, c, h, w, o, kh, kw, *_ = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    wt = (rng.standard_normal((o, c, kh, kw)) / np.sqrt(c * kh * kw)).astype(dtype)
    b = rng.standard_normal(o).astype(dtype)
    return x, wt, b


def run_im2col(mod, x, kh, kw, sh, sw, ph, pw):
    n, c, h, w = x.shape
    oh, ow = conv_out_size(h, kh, sh, ph), conv_out_size(w, kw, sw, pw)
    col = np.full((c * kh * kw, n * oh * ow), np.nan, dtype=x.dtype)
    mod.im2col(col, x, kh, kw, sh, sw, ph, pw)
    return col


def run_col2im(mod, col, xshape, kh, kw, sh, sw, ph, pw):
    dx = np.full(xshape, np.nan, dtype=col.dtype)
    mod.col2im(dx, col, kh, kw, sh, sw, ph, pw)
    return dx


def forward(mod, x, w, b, sh, sw, ph, pw, act, alpha, nchunks=2, group=None):
    """Run conv2d_forward with the batch split into ``nchunks`` of blocks of ``group`` samples; returns y and
    the workspaces backward reuses (col, ws_y, ws_xp, ws_dw shape, nchunks)."""
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    oh, ow = conv_out_size(h, kh, sh, ph), conv_out_size(wd, kw, sw, pw)
    dt = x.dtype
    y = np.full((n, o, oh, ow), np.nan, dtype=dt)
    nchunks = max(1, min(n, nchunks))
    col_s, y_s, xp_s, dw_s = CPU.conv2d_workspace_shapes(x.shape, w.shape, sh, sw, ph, pw, nchunks, group)
    ws = tuple(np.full(s, np.nan, dtype=dt) for s in (col_s, y_s, xp_s))
    mod.conv2d_forward(y, *ws, x, w, b, sh, sw, ph, pw, act, alpha, nchunks)
    return y, (*ws, dw_s, nchunks)


def backward(mod, dy, ws, x, w, y, sh, sw, ph, pw, act, alpha, need_dx, dw0=None, db0=None):
    """Run conv2d_backward; dx starts as a sentinel, dw/db start at dw0/db0 (zeros by default)."""
    dt = x.dtype
    o = w.shape[0]
    col, ws_y, ws_xp, dw_shape, nchunks = ws
    dx = np.full(x.shape, 7.0, dtype=dt)
    dw = np.zeros(w.shape, dt) if dw0 is None else dw0.copy()
    db = np.zeros(o, dt) if db0 is None else db0.copy()
    ws_dcol = np.full(col.shape, np.nan, dtype=dt)
    ws_g = np.full(ws_y.shape, np.nan, dtype=dt)
    ws_dw = np.full(dw_shape, np.nan, dtype=dt)
    ws_dxp = np.full(ws_xp.shape, np.nan, dtype=dt)
    mod.conv2d_backward(dx, dw, db, ws_dcol, ws_g, ws_dw, ws_dxp, dy, col, x, w, y, sh, sw, ph, pw, act, alpha,
                        need_dx, nchunks)
    return dx, dw, db


# ---------------------------------------------------------------------------------------- im2col


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_im2col_cpu_matches_reference(case, dtype):
    n, c, h, w, o, kh, kw, sh, sw, ph, pw, oh, ow = geometry(case)
    x = make_inputs(case, dtype)[0]
    col_ref = run_im2col(REF, x, kh, kw, sh, sw, ph, pw)
    col_cpu = run_im2col(CPU, x, kh, kw, sh, sw, ph, pw)
    assert col_ref.shape == (c * kh * kw, n * oh * ow)
    np.testing.assert_array_equal(col_cpu, col_ref)  # a pure copy: exact, every entry written
    # spot-check the documented layout on the reference itself
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    rng = np.random.default_rng(5)
    for _ in range(20):
        nn, cc, i, j, a, q = (int(rng.integers(m)) for m in (n, c, kh, kw, oh, ow))
        assert col_ref[(cc * kh + i) * kw + j, (nn * oh + a) * ow + q] == xp[nn, cc, a * sh + i, q * sw + j]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_col2im_cpu_matches_reference(case, dtype):
    n, c, h, w, o, kh, kw, sh, sw, ph, pw, oh, ow = geometry(case)
    col = np.random.default_rng(2).standard_normal((c * kh * kw, n * oh * ow)).astype(dtype)
    dx_ref = run_col2im(REF, col, (n, c, h, w), kh, kw, sh, sw, ph, pw)
    dx_cpu = run_col2im(CPU, col, (n, c, h, w), kh, kw, sh, sw, ph, pw)
    assert np.isfinite(dx_cpu).all(), "col2im must overwrite every entry of dx"
    assert_close(dx_cpu, dx_ref, dtype)


# ------------------------------------------------------------------------------ conv forward


@pytest.mark.parametrize("act,alpha", ACTS, ids=ACT_IDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_forward_cpu_matches_reference(case, dtype, act, alpha):
    n, c, h, w, o, kh, kw, sh, sw, ph, pw, oh, ow = geometry(case)
    x, wt, b = make_inputs(case, dtype)
    y_ref, _ = forward(REF, x, wt, b, sh, sw, ph, pw, act, alpha)
    y_cpu, _ = forward(CPU, x, wt, b, sh, sw, ph, pw, act, alpha)
    assert y_cpu.shape == (n, o, oh, ow)
    assert_close(y_cpu, y_ref, dtype)


@pytest.mark.parametrize("act", [ACT_NONE, ACT_RELU, ACT_TANH], ids=["none", "relu", "tanh"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_forward_matches_torch(case, dtype, act):
    *_, sh, sw, ph, pw = case
    x, wt, b = make_inputs(case, dtype, seed=7)
    z = F.conv2d(torch.from_numpy(x), torch.from_numpy(wt), torch.from_numpy(b), stride=(sh, sw),
                 padding=(ph, pw))
    expected = {ACT_NONE: z, ACT_RELU: F.relu(z), ACT_TANH: torch.tanh(z)}[act].numpy()
    for name, mod in BACKENDS.items():
        y, _ = forward(mod, x, wt, b, sh, sw, ph, pw, act, 0.0)
        assert_close(y, expected, dtype, tol=2e-5 if dtype == np.float32 else 1e-10, what=name)


# ----------------------------------------------------------------------------- conv backward


@pytest.mark.parametrize("need_dx", [True, False])
@pytest.mark.parametrize("act,alpha", ACTS, ids=ACT_IDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_backward_cpu_matches_reference(case, dtype, act, alpha, need_dx):
    *_, sh, sw, ph, pw = case
    x, wt, b = make_inputs(case, dtype)
    rng = np.random.default_rng(1)
    y, _ = forward(REF, x, wt, b, sh, sw, ph, pw, act, alpha)
    _, ws = forward(CPU, x, wt, b, sh, sw, ph, pw, act, alpha)  # the cpu backward reuses the cpu forward's col
    dy = rng.standard_normal(y.shape).astype(dtype)
    dw0 = rng.standard_normal(wt.shape).astype(dtype)
    db0 = rng.standard_normal(b.shape).astype(dtype)
    args = (dy, ws, x, wt, y, sh, sw, ph, pw, act, alpha, need_dx)
    out_ref = backward(REF, *args, dw0=dw0, db0=db0)
    out_cpu = backward(CPU, *args, dw0=dw0, db0=db0)
    for name, a, r in zip(("dx", "dw", "db"), out_cpu, out_ref):
        assert_close(a, r, dtype, what=name)
    for mod, (dx, dw, db) in (("reference", out_ref), ("cpu", out_cpu)):
        if not need_dx:
            assert np.all(dx == 7.0), f"{mod}: dx must be left untouched when need_dx is False"
        _, dw_z, db_z = backward(BACKENDS[mod], *args)
        assert_close(dw, dw0 + dw_z, dtype, what=f"{mod} dw accumulates")
        assert_close(db, db0 + db_z, dtype, what=f"{mod} db accumulates")


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_backward_matches_torch_autograd(backend, case):
    mod = BACKENDS[backend]
    *_, sh, sw, ph, pw = case
    x, wt, b = make_inputs(case, np.float64, seed=11)
    y, ws = forward(mod, x, wt, b, sh, sw, ph, pw, ACT_TANH, 0.0)
    dy = np.random.default_rng(12).standard_normal(y.shape)
    dx, dw, db = backward(mod, dy, ws, x, wt, y, sh, sw, ph, pw, ACT_TANH, 0.0, True)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, wt, b))
    torch.tanh(F.conv2d(tx, tw, tb, stride=(sh, sw), padding=(ph, pw))).backward(torch.tensor(dy))
    for name, ours, theirs in (("dx", dx, tx.grad), ("dw", dw, tw.grad), ("db", db, tb.grad)):
        assert_close(ours, theirs.numpy(), np.float64, tol=1e-10, what=name)


# -------------------------------------------------------------------------------- gradcheck

GRAD_CASES = [
    (1, 2, 5, 4, 2, 3, 3, 1, 1, 1, 1),
    (2, 1, 6, 5, 2, 3, 2, 2, 1, 1, 0),
    (1, 2, 5, 5, 3, 1, 1, 2, 2, 0, 0),
    (1, 1, 7, 6, 2, 5, 3, 2, 3, 2, 1),
]


def _away_from_kink(case, seed):
    """float64 inputs whose pre-activations stay >= 1e-2 away from 0 (ReLU kinks)."""
    *_, sh, sw, ph, pw = case
    for s in range(seed, seed + 1000):
        x, wt, b = make_inputs(case, np.float64, seed=s)
        z, _ = forward(REF, x, wt, b, sh, sw, ph, pw, ACT_NONE, 0.0)
        if np.abs(z).min() > 1e-2:
            return x, wt, b
    raise AssertionError("no kink-free sample found")


@pytest.mark.parametrize("act,alpha", ACTS, ids=ACT_IDS)
@pytest.mark.parametrize("case", GRAD_CASES, ids=["x".join(map(str, c)) for c in GRAD_CASES])
@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_gradcheck(backend, case, act, alpha):
    mod = BACKENDS[backend]
    *_, sh, sw, ph, pw = case
    x, wt, b = _away_from_kink(case, seed=20)
    y, ws = forward(mod, x, wt, b, sh, sw, ph, pw, act, alpha)
    r = np.random.default_rng(21).standard_normal(y.shape)
    loss = weighted_sum(lambda: forward(mod, x, wt, b, sh, sw, ph, pw, act, alpha)[0], r)
    dx, dw, db = backward(mod, r, ws, x, wt, y, sh, sw, ph, pw, act, alpha, True)
    assert_grad_close(dx, numerical_grad(loss, x), what="dx")
    assert_grad_close(dw, numerical_grad(loss, wt), what="dw")
    assert_grad_close(db, numerical_grad(loss, b), what="db")


# ------------------------------------------------------------------------------- properties


@st.composite
def conv_geometries(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    return (draw(st.integers(1, 2)), draw(st.integers(1, 3)),
            draw(st.integers(max(1, kh - 2 * ph), 8)), draw(st.integers(max(1, kw - 2 * pw), 8)),
            draw(st.integers(1, 3)), kh, kw, draw(st.integers(1, 3)), draw(st.integers(1, 3)), ph, pw)


@settings(deadline=None, max_examples=25)
@given(case=conv_geometries(), act=st.sampled_from(ACTS), seed=st.integers(0, 2**31 - 1))
def test_property_im2col_gemm_conv_equals_direct_conv(case, act, seed):
    n, c, h, w, o, kh, kw, sh, sw, ph, pw, oh, ow = geometry(case)
    x, wt, b = make_inputs(case, np.float64, seed=seed)
    y_direct, _ = forward(REF, x, wt, b, sh, sw, ph, pw, *act)
    y_gemm, _ = forward(CPU, x, wt, b, sh, sw, ph, pw, *act)
    assert_close(y_gemm, y_direct, np.float64)
    # and an explicit NumPy GEMM over the reference im2col (independent of both conv kernels)
    col = run_im2col(REF, x, kh, kw, sh, sw, ph, pw)
    z = (wt.reshape(o, -1) @ col).reshape(o, n, oh, ow).transpose(1, 0, 2, 3) + b[None, :, None, None]
    y_none, _ = forward(REF, x, wt, b, sh, sw, ph, pw, ACT_NONE, 0.0)
    assert_close(z, y_none, np.float64)


@settings(deadline=None, max_examples=25)
@given(case=conv_geometries(), seed=st.integers(0, 2**31 - 1))
def test_property_col2im_is_adjoint_of_im2col(case, seed):
    n, c, h, w, o, kh, kw, sh, sw, ph, pw, oh, ow = geometry(case)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w))
    cmat = rng.standard_normal((c * kh * kw, n * oh * ow))
    for name, mod in BACKENDS.items():
        lhs = float(np.sum(run_im2col(mod, x, kh, kw, sh, sw, ph, pw) * cmat))
        rhs = float(np.sum(x * run_col2im(mod, cmat, x.shape, kh, kw, sh, sw, ph, pw)))
        assert abs(lhs - rhs) <= 1e-10 * (1 + np.abs(cmat).sum()), name


# ------------------------------------------------------------------------- thread chunks


@pytest.mark.parametrize(("nchunks", "group"), [(1, None), (2, None), (3, None), (5, None), (1, 2), (2, 1),
                                                (2, 2), (1, 4)])
@pytest.mark.parametrize("case", [(5, 2, 7, 6, 3, 3, 3, 1, 1, 1, 1), (5, 2, 9, 8, 3, 3, 2, 2, 1, 1, 0),
                                  (5, 16, 5, 6, 16, 3, 3, 1, 1, 1, 1), (5, 16, 6, 5, 20, 3, 3, 1, 1, 1, 1)],
                         ids=["wide", "strided", "winograd", "winograd_dw"])
def test_batch_split_into_chunks_and_blocks_matches_reference(case, nchunks, group):
    """Each chunk runs one GEMM per block of ``group`` samples in its slot of the workspaces: every split of
    the batch (uneven chunks, one sample per chunk, several blocks per chunk with a short last block, where
    backward recomputes the im2col the forward overwrote) must give the reference's outputs and accumulated
    gradients."""
    *_, sh, sw, ph, pw = case
    x, wt, b = make_inputs(case, np.float64, seed=3)
    y_ref, _ = forward(REF, x, wt, b, sh, sw, ph, pw, ACT_TANH, 0.0)
    y, ws = forward(CPU, x, wt, b, sh, sw, ph, pw, ACT_TANH, 0.0, nchunks=nchunks, group=group)
    what = f"with {nchunks} chunks of blocks of {group}"
    assert_close(y, y_ref, np.float64, what=f"y {what}")
    dy = np.random.default_rng(4).standard_normal(y.shape)
    dw0, db0 = np.ones_like(wt), np.full(wt.shape[0], 0.5)
    ref = backward(REF, dy, ws, x, wt, y_ref, sh, sw, ph, pw, ACT_TANH, 0.0, True, dw0, db0)
    got = backward(CPU, dy, ws, x, wt, y, sh, sw, ph, pw, ACT_TANH, 0.0, True, dw0, db0)
    for name, a, r in zip(("dx", "dw", "db"), got, ref):
        assert_close(a, r, np.float64, what=f"{name} {what}")


def test_winograd_cases_take_the_winograd_path():
    """The Winograd cases above run the Winograd forward / dx / dw (they would silently test im2col if the
    thresholds moved), and the others do not."""
    from kernels.shapes import conv2d_winograd, conv2d_winograd_dw, conv2d_winograd_dx

    def chosen(predicate):
        return [case for case in CASES if predicate(case[:4], (case[4], case[1], case[5], case[6]), *case[7:9])]

    assert chosen(conv2d_winograd) == [case for case in CASES if case[1] >= 16] and len(chosen(conv2d_winograd)) == 7
    assert chosen(conv2d_winograd_dx) == [case for case in CASES if case[1] >= 16 and case[4] >= 16]
    assert len(chosen(conv2d_winograd_dx)) == 4
    assert chosen(conv2d_winograd_dw) == [case for case in CASES if case[1] >= 16 and case[4] > case[1]]
    assert len(chosen(conv2d_winograd_dw)) == 3
