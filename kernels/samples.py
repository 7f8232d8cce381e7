"""Sample arguments for every kernel function: one valid call, in the kernels' argument order.

    s = sample("conv2d_forward", scale="tiny", dtype=np.float32, seed=0)
    kernels.reference.conv2d_forward(*copy.deepcopy(s.args))   # then compare args[i] for i in s.outputs

``args`` are fresh NumPy arrays and Python scalars, valid for reference, cpu and cuda (after moving the
arrays to the device). Write-only outputs and workspaces are NaN-filled (integer ones hold a sentinel:
-1, or 255 for uint8) so unwritten entries show; accumulated outputs (dw, db, dgamma...) and optimizer
state hold realistic values. ``outputs`` lists the arrays whose final contents are the result (never
scratch workspaces); ``rtol``/``atol`` suit the function and dtype. Arguments may alias (``add``'s
``out`` is ``a`` for some seeds): copy with ``copy.deepcopy`` to keep that.

scale "tiny": a few hundred elements, ragged sizes (5, 7, 13...), batch 1 for some seeds (the CUDA
simulator); "full": LeNet-5 / ResNet-8 layer shapes at batch 64. ``seed`` picks the data and the
variant: seed 0 is the most common configuration, seeds 1, 2 (then cyclically) the other options.
``conv2d_backward`` reads the ``col`` its backend's forward wrote: pass ``backend="cuda"`` for the CUDA
(standard im2col) layout; the default is the CPU's chunked layout (the reference ignores ``col``).
"""

from __future__ import annotations

import importlib
import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from kernels.codes import ACT_LEAKY_RELU, ACT_NONE, ACT_RELU, ACT_SIGMOID, ACT_TANH
from kernels.shapes import conv2d_group, conv2d_workspace_shapes, conv_out_size, linear_workspace_shape

__all__ = ["Sample", "sample", "functions", "SCALES"]

SCALES = ("tiny", "full")

# functions other helpers are adding; listed by functions() once their reference exists
_EXTRA = {"matmul": ("gemm", "batched_gemm"), "dropout": ("dropout_mask",), "loss": ("accuracy_count",),
          "elementwise": ("fill", "add", "copy")}


@dataclass
class Sample:
    """One call's arguments, the indices of its result arrays and the comparison tolerances."""

    args: tuple
    outputs: tuple[int, ...]
    rtol: float
    atol: float


_BUILDERS: dict[str, Callable] = {}


def _builds(*names):
    def register(fn):
        for name in names:
            _BUILDERS[name] = fn
        return fn
    return register


def functions() -> list[tuple[str, str]]:
    """(op name, function name) for every function in kernels.OPS, plus registered-soon extras that exist."""
    from kernels.registry import OPS

    out = [(op.name, fn) for op in OPS.values() for fn in op.functions]
    seen = set(out)
    for op, names in _EXTRA.items():
        try:
            module = importlib.import_module(f"kernels.reference.{op}")
        except ModuleNotFoundError:
            continue
        out += [(op, fn) for fn in names if (op, fn) not in seen and hasattr(module, fn)]
    return out


def sample(function: str, scale: str = "tiny", dtype=np.float32, seed: int = 0, backend: str = "cpu") -> Sample:
    """Fresh arguments for one call of kernel ``function`` (see the module docstring)."""
    if function not in _BUILDERS:
        raise KeyError(f"no sample for kernel function {function!r}")
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    ctx = _Ctx(function, scale, dtype, int(seed), backend)
    args, outputs, kind = _BUILDERS[function](ctx)
    rtol, atol = _TOL[kind][dtype == np.float64]
    return Sample(tuple(args), tuple(outputs), rtol, atol * ctx.mag)


# (float32, float64) (rtol, atol) per kind; atol is multiplied by the builder's output magnitude ctx.mag
_TOL = {"exact": ((0.0, 0.0), (0.0, 0.0)),
        "elem": ((2e-5, 1e-6), (1e-10, 1e-13)),
        "reduce": ((1e-4, 1e-5), (1e-9, 1e-12))}


class _Ctx:
    """What a builder needs: the rng, the scale, the dtype, the variant and array helpers."""

    def __init__(self, function, scale, dtype, seed, backend):
        self.fn = function
        self.rng = np.random.default_rng([seed, zlib.crc32(function.encode())])
        self.full = scale == "full"
        self.dtype, self.seed, self.backend = dtype, seed, backend
        self.mag = 1.0  # typical |output|, scales atol

    def fn_is(self, name):
        return self.fn == name

    def pick(self, variants):
        return variants[self.seed % len(variants)]

    def size(self, tiny, full):
        return full if self.full else tiny

    def randn(self, *shape, std=1.0, mean=0.0):
        return (mean + std * self.rng.standard_normal(shape)).astype(self.dtype)

    def uniform(self, lo, hi, *shape):
        return self.rng.uniform(lo, hi, shape).astype(self.dtype)

    def nan(self, *shape, dtype=None):
        dtype = self.dtype if dtype is None else np.dtype(dtype)
        if dtype.kind == "f":
            return np.full(shape, np.nan, dtype)
        return np.full(shape, 255 if dtype == np.uint8 else -1, dtype)

    def labels(self, n, k):
        return self.rng.integers(0, k, n).astype(np.int64)

    def zeros_at(self, a, frac=0.1):
        """Set a random fraction of a's entries to exactly 0 (boundary cases)."""
        a.reshape(-1)[self.rng.random(a.size) < frac] = 0
        return a


def _ref(function):
    from kernels import reference

    return getattr(reference, function)


_ACT_VARIANTS = ((ACT_RELU, 0.0), (ACT_NONE, 0.0), (ACT_LEAKY_RELU, 0.1), (ACT_SIGMOID, 0.0), (ACT_TANH, 0.0))


# ---------------------------------------------------------------------------------------------- matmul


@_builds("linear_forward", "linear_backward")
def _linear(c: _Ctx):
    n, k, m = c.pick([(c.size(5, 64), c.size(13, 400), c.size(7, 120)), (c.size(1, 64), c.size(9, 120),
                                                                         c.size(7, 84)),
                      (c.size(6, 64), c.size(11, 84), c.size(3, 10))])
    act, alpha = _ACT_VARIANTS[c.seed % len(_ACT_VARIANTS)]
    nchunks = min(n, c.size(2, 4))
    x = c.randn(n, k)
    w = c.randn(m, k, std=math.sqrt(2 / k))
    b = c.randn(m, std=0.1)
    c.mag = 4.0
    if c.fn_is("linear_forward"):
        return (c.nan(n, m), x, w, b, act, alpha, nchunks), (0,), "reduce"
    y = c.nan(n, m)
    _ref("linear_forward")(y, x, w, b, act, alpha, nchunks)
    need_dx = c.seed % 3 != 1  # the first layer (seed 1) skips dx
    dw, db = c.randn(m, k, std=0.1), c.randn(m, std=0.1)
    args = (c.nan(n, k), dw, db, c.nan(n, m), c.nan(*linear_workspace_shape(n, k, m, nchunks)), c.randn(n, m),
            x, w, y, act, alpha, need_dx, nchunks)
    c.mag = 4.0 * math.sqrt(n)
    return args, ((0, 1, 2) if need_dx else (1, 2)), "reduce"


@_builds("gemm")
def _gemm(c: _Ctx):
    m, k, n = c.pick([(c.size(5, 64), c.size(13, 400), c.size(7, 120)), (c.size(1, 120), c.size(7, 64),
                                                                         c.size(9, 400)),
                      (c.size(6, 84), c.size(11, 120), c.size(3, 64))])
    alpha, beta = c.pick([(1.0, 0.0), (0.5, 1.0), (2.0, 0.0), (1.0, -0.5)])
    out = c.nan(m, n) if beta == 0 else c.randn(m, n)  # beta == 0: c is not read (BLAS convention)
    c.mag = 4.0 * math.sqrt(k)
    return (out, c.randn(m, k), c.randn(k, n), alpha, beta), (0,), "reduce"


@_builds("batched_gemm")
def _batched_gemm(c: _Ctx):
    b, m, k, n = c.pick([(c.size(3, 64), c.size(5, 16), c.size(7, 150), c.size(6, 100)),
                         (1, c.size(4, 64), c.size(9, 288), c.size(5, 64)), (c.size(2, 64), 1, c.size(13, 120), 3)])
    c.mag = 4.0 * math.sqrt(k)
    return (c.nan(b, m, n), c.randn(b, m, k), c.randn(b, k, n)), (0,), "reduce"


# ---------------------------------------------------------------------------------------------- im2col / conv

# (N, C, H, W, O, KH, KW, SH, SW, PH, PW)
_CONV_TINY = [(2, 1, 7, 9, 3, 3, 3, 1, 1, 1, 1), (1, 2, 6, 5, 3, 2, 3, 1, 1, 0, 1), (3, 2, 7, 6, 2, 3, 3, 2, 2, 1, 1),
              (2, 1, 9, 7, 2, 3, 2, 2, 1, 0, 1)]
_CONV_FULL = [(64, 1, 28, 28, 6, 5, 5, 1, 1, 2, 2), (64, 6, 14, 14, 16, 5, 5, 1, 1, 0, 0),
              (64, 32, 16, 16, 64, 3, 3, 2, 2, 1, 1), (64, 32, 16, 16, 32, 3, 3, 1, 1, 1, 1)]


def _conv_geometry(c: _Ctx):
    return c.pick(_CONV_FULL if c.full else _CONV_TINY)


@_builds("im2col", "col2im")
def _im2col(c: _Ctx):
    n, ch, h, w, _, kh, kw, sh, sw, ph, pw = _conv_geometry(c)
    oh, ow = conv_out_size(h, kh, sh, ph), conv_out_size(w, kw, sw, pw)
    geometry = (kh, kw, sh, sw, ph, pw)
    if c.fn_is("im2col"):
        return (c.nan(ch * kh * kw, n * oh * ow), c.randn(n, ch, h, w), *geometry), (0,), "exact"
    c.mag = float(kh * kw)
    return (c.nan(n, ch, h, w), c.randn(ch * kh * kw, n * oh * ow), *geometry), (0,), "elem"


def _col_layout(x, kh, kw, sh, sw, ph, pw, nchunks, size, backend):
    """The flat ``col`` conv2d_forward of ``backend`` writes with one block per chunk (CPU: chunk t's samples in
    slot t, stride-1 "wide" grid; CUDA: standard im2col (C*KH*KW, N*OH*OW) row-major at the start), NaN elsewhere."""
    n, ch, h, w = x.shape
    oh, ow = conv_out_size(h, kh, sh, ph), conv_out_size(w, kw, sw, pw)
    ckk = ch * kh * kw
    col = np.full(size, np.nan, x.dtype)
    wide = backend != "cuda" and sh == 1 and sw == 1
    if wide:
        wp = w + 2 * pw
        xp = np.zeros((n, ch, h + 2 * ph + 1, wp), x.dtype)
        xp[:, :, ph:ph + h, pw:pw + w] = x
        per = oh * wp
        flat = xp.reshape(n, ch, -1)
        blocks = np.stack([flat[:, :, i * wp + j:i * wp + j + per] for i in range(kh) for j in range(kw)], axis=2)
    else:
        per = oh * ow
        xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
        blocks = np.stack([xp[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw].reshape(n, ch, per)
                           for i in range(kh) for j in range(kw)], axis=2)
    blocks = blocks.reshape(n, ckk, per)
    if backend == "cuda":
        col[:ckk * n * per] = blocks.transpose(1, 0, 2).reshape(-1)
        return col
    slot = ckk * conv2d_group(n, nchunks) * per
    for t in range(nchunks):
        n0, n1 = n * t // nchunks, n * (t + 1) // nchunks
        col[t * slot:t * slot + ckk * (n1 - n0) * per] = blocks[n0:n1].transpose(1, 0, 2).reshape(-1)
    return col


@_builds("conv2d_forward", "conv2d_backward")
def _conv(c: _Ctx):
    n, ch, h, w, o, kh, kw, sh, sw, ph, pw = _conv_geometry(c)
    act, alpha = c.pick([(ACT_RELU, 0.0), (ACT_NONE, 0.0), (ACT_LEAKY_RELU, 0.1), (ACT_TANH, 0.0)])
    nchunks = min(n, c.size(2, 4))
    oh, ow = conv_out_size(h, kh, sh, ph), conv_out_size(w, kw, sw, pw)
    x = c.randn(n, ch, h, w)
    wt = c.randn(o, ch, kh, kw, std=math.sqrt(2 / (ch * kh * kw)))
    b = c.randn(o, std=0.1)
    col_s, y_s, xp_s, dw_s = conv2d_workspace_shapes(x.shape, wt.shape, sh, sw, ph, pw, nchunks)
    c.mag = 4.0
    if c.fn_is("conv2d_forward"):
        return (c.nan(n, o, oh, ow), c.nan(*col_s), c.nan(*y_s), c.nan(*xp_s), x, wt, b, sh, sw, ph, pw, act, alpha,
                nchunks), (0,), "reduce"
    y = c.nan(n, o, oh, ow)
    _ref("conv2d_forward")(y, None, None, None, x, wt, b, sh, sw, ph, pw, act, alpha, nchunks)
    need_dx = c.seed % 4 != 1
    col = _col_layout(x, kh, kw, sh, sw, ph, pw, nchunks, col_s[0], c.backend)
    args = (c.nan(n, ch, h, w), c.randn(o, ch, kh, kw, std=0.1), c.randn(o, std=0.1), c.nan(*col_s), c.nan(*y_s),
            c.nan(*dw_s), c.nan(*xp_s), c.randn(n, o, oh, ow), col, x, wt, y, sh, sw, ph, pw, act, alpha, need_dx,
            nchunks)
    c.mag = 4.0 * math.sqrt(n * oh * ow)
    return args, ((0, 1, 2) if need_dx else (1, 2)), "reduce"


# ---------------------------------------------------------------------------------------------- pool

# (N, C, H, W, KH, KW, SH, SW, PH, PW, count_include_pad)
_POOL_TINY = [(2, 1, 7, 9, 2, 2, 2, 2, 0, 0, True), (1, 2, 7, 6, 3, 3, 2, 2, 1, 1, False),
              (2, 1, 6, 7, 3, 2, 1, 2, 1, 0, True), (2, 3, 5, 5, 5, 5, 5, 5, 0, 0, True)]
_POOL_FULL = [(64, 6, 28, 28, 2, 2, 2, 2, 0, 0, True), (64, 16, 10, 10, 2, 2, 2, 2, 0, 0, True),
              (64, 32, 16, 16, 3, 3, 2, 2, 1, 1, False), (64, 64, 8, 8, 8, 8, 8, 8, 0, 0, True)]


@_builds("maxpool2d_forward", "maxpool2d_backward", "avgpool2d_forward", "avgpool2d_backward")
def _pool(c: _Ctx):
    n, ch, h, w, kh, kw, sh, sw, ph, pw, include = c.pick(_POOL_FULL if c.full else _POOL_TINY)
    oh, ow = conv_out_size(h, kh, sh, ph), conv_out_size(w, kw, sw, pw)
    geometry = (kh, kw, sh, sw, ph, pw)
    x = c.randn(n, ch, h, w)
    if c.fn_is("maxpool2d_forward"):
        return (c.nan(n, ch, oh, ow), c.nan(n, ch, oh, ow, dtype=np.int32), x, *geometry), (0, 1), "exact"
    if c.fn_is("maxpool2d_backward"):
        idx = c.nan(n, ch, oh, ow, dtype=np.int32)
        _ref("maxpool2d_forward")(c.nan(n, ch, oh, ow), idx, x, *geometry)
        c.mag = 4.0
        return (c.nan(n, ch, h, w), c.randn(n, ch, oh, ow), idx, *geometry), (0,), "elem"
    if c.fn_is("avgpool2d_forward"):
        return (c.nan(n, ch, oh, ow), x, *geometry, include), (0,), "elem"
    return (c.nan(n, ch, h, w), c.randn(n, ch, oh, ow), *geometry, include), (0,), "elem"


# ---------------------------------------------------------------------------------------------- activation

_ELEMENTWISE_ACTS = ("relu", "leaky_relu", "sigmoid", "tanh", "step", "elu", "softplus", "gelu", "silu")


@_builds(*(f"{a}_{d}" for a in _ELEMENTWISE_ACTS for d in ("forward", "backward")))
def _activation(c: _Ctx):
    name, direction = c.fn.rsplit("_", 1)
    n = c.size(37, 64 * 6 * 28 * 28) if c.seed != 1 else c.size(1, 64 * 120)
    x = c.zeros_at(c.randn(n, std=c.pick([2.0, 2.0, 8.0])))  # exact zeros: the kinks
    scalars = {"leaky_relu": (c.pick([0.01, 0.2, -0.1]),), "elu": (c.pick([1.0, 0.5, 2.0]),),
               "softplus": c.pick([(1.0, 20.0), (2.0, 5.0), (0.5, 1.0)]), "gelu": (c.pick([False, True]),)}
    extra = scalars.get(name, ())
    if direction == "forward":
        return (c.nan(n), x, *extra), (0,), "elem"
    c.mag = 2.0
    dy = c.randn(n)
    if name == "step":  # straight_through: seed 0 the identity estimator, seed 1 the true derivative 0
        return (c.nan(n), dy, c.pick([True, False])), (0,), "elem"
    if name in ("relu", "sigmoid", "tanh"):  # from the output y
        y = c.nan(n)
        _ref(f"{name}_forward")(y, x)
        return (c.nan(n), dy, y), (0,), "elem"
    return (c.nan(n), dy, x, *extra), (0,), "elem"


@_builds("softmax_forward", "softmax_backward", "log_softmax_forward", "log_softmax_backward")
def _softmax(c: _Ctx):
    rows, k = c.pick([(c.size(5, 64), c.size(7, 10)), (1, c.size(13, 1000)), (c.size(6, 64 * 16), c.size(3, 100))])
    x = c.randn(rows, k, std=c.pick([2.0, 2.0, 20.0]))
    name = c.fn.rsplit("_", 1)[0]
    if c.fn.endswith("forward"):
        c.mag = 10.0 if name == "log_softmax" else 1.0
        return (c.nan(rows, k), x), (0,), "elem"
    y = c.nan(rows, k)
    _ref(f"{name}_forward")(y, x)
    c.mag = float(k) if name == "log_softmax" else 1.0
    return (c.nan(rows, k), c.randn(rows, k), y), (0,), "reduce"


# ---------------------------------------------------------------------------------------------- loss


def _classes(c: _Ctx):
    return c.pick([(c.size(5, 64), c.size(7, 10)), (1, c.size(3, 10)), (c.size(9, 64), c.size(4, 100))])


@_builds("softmax_cross_entropy_forward", "softmax_cross_entropy_backward")
def _sce(c: _Ctx):
    n, k = _classes(c)
    logits = c.randn(n, k, std=c.pick([2.0, 30.0, 2.0]))
    labels = c.labels(n, k)
    if c.fn_is("softmax_cross_entropy_forward"):
        c.mag = 10.0
        return (c.nan(n), c.nan(n, k), logits, labels), (0, 1), "elem"
    probs = c.nan(n, k)
    _ref("softmax_cross_entropy_forward")(c.nan(n), probs, logits, labels)
    return (c.nan(n, k), probs, labels, c.pick([1.0 / n, 1.0, 0.25])), (0,), "elem"


def _ce_options(c: _Ctx, n, k):
    """(labels, weight, ignore_index, label_smoothing): seed 0 smoothing, 1 class weights + ignored rows (-100),
    2 weights + smoothing + ignore_index a real class."""
    labels = c.labels(n, k)
    weight = np.ones(k, c.dtype) if c.seed % 3 == 0 else c.uniform(0.2, 2.0, k)
    ignore_index, smoothing = c.pick([(-100, 0.1), (-100, 0.0), (1, 0.2)])
    if c.seed % 3 == 1 and n > 1:
        labels[:: 3] = -100
    return labels, weight, ignore_index, smoothing


@_builds("cross_entropy_forward", "cross_entropy_backward")
def _ce(c: _Ctx):
    n, k = _classes(c)
    logits = c.randn(n, k, std=2.0)
    labels, weight, ignore_index, smoothing = _ce_options(c, n, k)
    if c.fn_is("cross_entropy_forward"):
        c.mag = 10.0
        return (c.nan(n), c.nan(n, k), logits, labels, weight, ignore_index, smoothing), (0, 1), "elem"
    probs = c.nan(n, k)
    _ref("cross_entropy_forward")(c.nan(n), probs, logits, labels, weight, ignore_index, smoothing)
    dloss = np.full(n, 1.0 / n, c.dtype) if c.seed % 3 != 2 else c.randn(n)
    return (c.nan(n, k), probs, labels, weight, dloss, ignore_index, smoothing), (0,), "elem"


@_builds("nll_forward", "nll_backward")
def _nll(c: _Ctx):
    n, k = _classes(c)
    logp = c.nan(n, k)
    _ref("log_softmax_forward")(logp, c.randn(n, k, std=2.0))
    labels, weight, ignore_index, _ = _ce_options(c, n, k)
    c.mag = 10.0
    if c.fn_is("nll_forward"):
        return (c.nan(n), logp, labels, weight, ignore_index), (0,), "elem"
    return (c.nan(n, k), labels, weight, c.randn(n), ignore_index), (0,), "elem"


def _dloss(c: _Ctx, n):
    """The upstream gradient: (1,) broadcast (a mean reduction) for seeds 0, 2; per element for seed 1."""
    return c.randn(n) if c.seed % 3 == 1 else np.full(1, 1.0 / n, c.dtype)


@_builds("mse_forward", "mse_backward", "l1_forward", "l1_backward")
def _regression(c: _Ctx):
    n = c.pick([c.size(37, 64 * 784), c.size(1, 64 * 10), c.size(13, 64)])
    x, t = c.randn(n), c.randn(n)
    eq = c.rng.random(n) < 0.1
    t[eq] = x[eq]  # x == t: l1's sign is 0 there
    c.mag = 10.0
    if c.fn.endswith("forward"):
        return (c.nan(n), x, t), (0,), "elem"
    return (c.nan(n), x, t, _dloss(c, n)), (0,), "elem"


@_builds("bce_forward", "bce_backward")
def _bce(c: _Ctx):
    n = c.pick([c.size(37, 64 * 10), c.size(13, 64), c.size(1, 64 * 784)])
    x = (1 / (1 + np.exp(-2 * c.rng.standard_normal(n)))).astype(c.dtype)
    if c.seed % 3 == 1:  # saturated probabilities: the log clamp at -100 / the 1e-12 denominator floor
        x[:: 4], x[1:: 4] = 0, 1
    t = (c.rng.random(n) < 0.5).astype(c.dtype) if c.seed % 3 != 2 else c.uniform(0, 1, n)
    if c.fn_is("bce_forward"):
        c.mag = 100.0
        return (c.nan(n), x, t), (0,), "elem"
    c.mag = 10.0
    return (c.nan(n), x, t, _dloss(c, n)), (0,), "elem"


@_builds("bce_with_logits_forward", "bce_with_logits_backward")
def _bce_logits(c: _Ctx):
    m, ch = c.pick([(c.size(13, 64), 1), (c.size(5, 64), c.size(3, 10)), (c.size(1, 64 * 784), 1)])
    x = c.randn(m, ch, std=3.0)
    t = (c.rng.random((m, ch)) < 0.5).astype(c.dtype)
    pw = c.pick([np.ones(1, c.dtype), c.uniform(0.5, 3.0, ch), np.full(1, 2.0, c.dtype)])
    c.mag = 10.0
    if c.fn_is("bce_with_logits_forward"):
        return (c.nan(m, ch), x, t, pw), (0,), "elem"
    return (c.nan(m, ch), x, t, pw, _dloss(c, m * ch)), (0,), "elem"


@_builds("kl_div_forward", "kl_div_backward")
def _kl(c: _Ctx):
    rows, k = _classes(c)
    log_target = c.pick([False, True, False])
    logq = c.nan(rows, k)
    _ref("log_softmax_forward")(logq, c.randn(rows, k, std=2.0))
    p = c.nan(rows, k)
    _ref("log_softmax_forward" if log_target else "softmax_forward")(p, c.randn(rows, k, std=2.0))
    if not log_target:
        c.zeros_at(p)  # t = 0: the term is 0
    n = rows * k
    c.mag = 10.0
    if c.fn_is("kl_div_forward"):
        return (c.nan(n), logq.reshape(-1), p.reshape(-1), log_target), (0,), "elem"
    return (c.nan(n), p.reshape(-1), _dloss(c, n), log_target), (0,), "elem"


@_builds("distillation_forward", "distillation_backward")
def _distill(c: _Ctx):
    n, k = _classes(c)
    temperature, alpha = c.pick([(4.0, 0.5), (2.0, 0.9), (1.0, 0.0)])
    s, t, labels = c.randn(n, k, std=2.0), c.randn(n, k, std=2.0), c.labels(n, k)
    outs = (c.nan(n), c.nan(n, k), c.nan(n, k), c.nan(n, k))
    c.mag = 10.0
    if c.fn_is("distillation_forward"):
        return (*outs, s, t, labels, temperature, alpha), (0, 1, 2, 3), "elem"
    _ref("distillation_forward")(*outs, s, t, labels, temperature, alpha)
    dloss = np.full(n, 1.0 / n, c.dtype) if c.seed % 3 != 1 else c.randn(n)
    return (c.nan(n, k), *outs[1:], labels, dloss, temperature, alpha), (0,), "elem"


@_builds("accuracy_count")
def _accuracy(c: _Ctx):
    n, k = _classes(c)
    logits = c.randn(n, k)
    if c.seed % 3 == 1:
        logits = np.round(logits).astype(c.dtype)  # ties: the first maximum wins
    if c.seed % 3 == 2:
        logits[0, k // 2] = np.nan  # NaN counts as the maximum
    labels = np.where(c.rng.random(n) < 0.6, np.nan_to_num(logits, nan=np.inf).argmax(axis=1), c.labels(n, k))
    return (c.nan(1, dtype=np.int64), logits, labels.astype(np.int64)), (0,), "exact"


# ---------------------------------------------------------------------------------------------- dropout


@_builds("dropout_forward", "dropout_backward", "dropout2d_forward", "dropout2d_backward")
def _dropout(c: _Ctx):
    p, scale = c.pick([(0.5, 2.0), (0.1, 1 / 0.9), (0.3, 1.0)])  # seed 2: the textbook variant (scale 1)
    scale = c.dtype.type(scale)  # the layer passes the array dtype
    if c.fn.startswith("dropout2d"):
        rows, length = c.pick([(c.size(6, 64 * 16), c.size(7, 100)), (c.size(3, 64 * 6), c.size(13, 196)),
                               (1, c.size(33, 4096))])
        shape, mask = (rows, length), (c.rng.random(rows) >= p).astype(np.uint8)
    else:
        n = c.pick([c.size(37, 64 * 16 * 10 * 10), c.size(13, 64 * 120), c.size(1, 64 * 84)])
        shape, mask = (n,), (c.rng.random(n) >= p).astype(np.uint8)
    c.mag = 2.0
    if c.fn.endswith("forward"):
        return (c.nan(*shape), mask, c.randn(*shape), scale), (0,), "elem"
    return (c.nan(*shape), c.randn(*shape), mask, scale), (0,), "elem"


@_builds("dropout_mask")
def _dropout_mask(c: _Ctx):
    n = c.pick([c.size(37, 64 * 16 * 10 * 10), c.size(1, 64 * 120), c.size(13, 64 * 84)])
    p, seed, counter = c.pick([(0.5, 1234567891011, 0), (0.1, 42, 7), (0.0, (1 << 63) + 5, 1 << 40)])
    return (c.nan(n, dtype=np.uint8), p, seed, counter), (0,), "exact"


# ---------------------------------------------------------------------------------------------- augment


def _images(c: _Ctx):
    return c.pick([(c.size(2, 64), 1, c.size(7, 28), c.size(9, 28)), (c.size(3, 64), c.size(2, 3), c.size(5, 32),
                                                                      c.size(6, 32)),
                   (1, 1, c.size(9, 28), c.size(7, 28))])


@_builds("shift_forward", "hflip_forward", "rotate_forward", "noise_forward", "mixup_forward")
def _augment(c: _Ctx):
    n, ch, h, w = _images(c)
    x = c.uniform(0, 1, n, ch, h, w)
    out = c.nan(n, ch, h, w)
    if c.fn_is("shift_forward"):
        r = min(4, h // 2)
        return (out, x, c.rng.integers(-r, r + 1, n).astype(np.int64),
                c.rng.integers(-r, r + 1, n).astype(np.int64)), (0,), "exact"
    if c.fn_is("hflip_forward"):
        flip = c.rng.integers(0, 2, n).astype(np.int64)
        flip[0] = 1
        return (out, x, flip), (0,), "exact"
    if c.fn_is("rotate_forward"):
        return (out, x, c.rng.uniform(-0.35, 0.35, n) * c.pick([1.0, 1.0, 4.0])), (0,), "elem"
    if c.fn_is("noise_forward"):
        return (out, x, c.randn(n, ch, h, w), c.pick([0.1, 0.5, 0.0])), (0,), "elem"
    k = c.size(3, 10)
    y = np.eye(k, dtype=c.dtype)[c.labels(n, k)]
    lam = c.pick([0.7, 0.3, 1.0])
    return (out, c.nan(n, k), x, y, c.rng.permutation(n).astype(np.int64), lam), (0, 1), "elem"


# ---------------------------------------------------------------------------------------------- optim / reduce

_LENET_PARAMS = 61706


def _segments(c: _Ctx, empty=False):
    """(n, seg_start, seg_end) with 3 segments of odd lengths and gaps (frozen elements never touched)."""
    if c.full:
        n, bounds = _LENET_PARAMS, [(0, 2572), (2692, 50692), (50812, 61622)]
    else:
        n, bounds = 101, [(0, 13), (20, 57), (57, 96)]
    if empty:
        bounds[1] = (bounds[1][0], bounds[1][0])
    return n, np.array([s for s, _ in bounds], np.int64), np.array([e for _, e in bounds], np.int64)


def _table(c: _Ctx, base_lr):
    """(n, params, grads, seg_start, seg_end, seg_lr, seg_wd, seg_l1)."""
    n, start, end = _segments(c)
    params = c.zeros_at(c.randn(n, std=0.1), 0.02)  # p = 0: sign(p) = 0 for the L1 term
    grads = c.zeros_at(c.randn(n, std=0.01), 0.02)
    lr = np.array([base_lr, base_lr * 0.5, base_lr * 2.0])
    wd = np.array(c.pick([[5e-4, 0.0, 1e-2], [0.0, 0.0, 0.0], [1e-4, 1e-3, 0.0]]))
    l1 = np.array(c.pick([[0.0, 0.0, 1e-4], [0.0, 0.0, 0.0], [1e-5, 0.0, 0.0]]))
    return n, params, grads, start, end, lr, wd, l1


@_builds("sgd_update", "momentum_update")
def _sgd(c: _Ctx):
    n, p, g, *table = _table(c, 0.05)
    maximize = c.seed % 3 == 2
    if c.fn_is("momentum_update"):
        return (p, c.randn(n, std=0.01), g, *table, 0.9, c.seed % 3 == 1, maximize), (0, 1), "elem"
    momentum, dampening, nesterov, first = c.pick([(0.9, 0.0, False, False), (0.0, 0.0, False, False),
                                                   (0.9, 0.0, True, True), (0.5, 0.1, False, False)])
    buf = c.randn(n, std=0.01) if momentum else np.zeros(0, c.dtype)  # first_step overwrites it
    outs = (0, 1) if momentum else (0,)
    return (p, buf, g, *table, momentum, dampening, nesterov, maximize, first), outs, "elem"


@_builds("adagrad_update")
def _adagrad(c: _Ctx):
    n, p, g, *table = _table(c, 0.01)
    return (p, c.uniform(0, 1e-3, n), g, *table, 1e-10, c.seed % 3 == 1), (0, 1), "elem"


def _square_avg(c: _Ctx, n):
    """(square_avg, grad_avg) with grad_avg^2 < square_avg, so centered RMSProp stays real."""
    sq = c.uniform(1e-6, 2e-4, n)
    return sq, (np.sqrt(sq) * c.rng.uniform(-0.9, 0.9, n)).astype(c.dtype)


@_builds("rmsprop_update", "rmsprop_nesterov_update")
def _rmsprop(c: _Ctx):
    n, p, g, *table = _table(c, 1e-3)
    sq, ga = _square_avg(c, n)
    empty = np.zeros(0, c.dtype)
    nesterov = c.fn_is("rmsprop_nesterov_update")
    momentum, centered, eps_inside, maximize = c.pick([(0.0 if not nesterov else 0.9, False, False, False),
                                                       (0.9, True, False, False), (0.5, False, True, True)])
    buf = c.randn(n, std=1e-3) if momentum > 0 else empty
    grad_avg = ga if centered else empty
    outs = (0, 1) + ((2,) if centered else ()) + ((3,) if momentum > 0 else ())
    return (p, sq, grad_avg, buf, g, *table, 0.99, 1e-6 if eps_inside else 1e-8, momentum, centered, eps_inside,
            maximize), outs, "elem"


def _moments(c: _Ctx, n):
    return c.randn(n, std=0.005), c.uniform(1e-6, 1e-4, n)


@_builds("adam_update")
def _adam(c: _Ctx):
    n, p, g, *table = _table(c, 1e-3)
    m, v = _moments(c, n)
    amsgrad, decoupled, maximize = c.pick([(False, False, False), (True, False, False), (False, True, True),
                                           (True, True, False)])
    vmax = c.uniform(1e-6, 1e-4, n) if amsgrad else np.zeros(0, c.dtype)
    t, b1, b2 = 5, 0.9, 0.999
    outs = (0, 1, 2, 3) if amsgrad else (0, 1, 2)
    return (p, m, v, vmax, g, *table, b1, b2, 1e-8, 1 - b1 ** t, 1 - b2 ** t, amsgrad, decoupled, maximize), outs, \
        "elem"


@_builds("adamax_update")
def _adamax(c: _Ctx):
    n, p, g, *table = _table(c, 2e-3)
    m, _ = _moments(c, n)
    t, b1, b2 = 5, 0.9, 0.999
    u = c.uniform(1e-3, 2e-2, n)
    return (p, m, u, g, *table, b1, b2, 1e-8, 1 - b1 ** t, c.seed % 3 == 1), (0, 1, 2), "elem"


@_builds("nadam_update")
def _nadam(c: _Ctx):
    n, p, g, *table = _table(c, 2e-3)
    m, v = _moments(c, n)
    t, b1, b2, psi = 5, 0.9, 0.999, 4e-3
    mus = [b1 * (1 - 0.5 * 0.96 ** (i * psi)) for i in range(1, t + 2)]
    prod = math.prod(mus[:t])
    c_grad, c_avg = (1 - mus[t - 1]) / (1 - prod), mus[t] / (1 - prod * mus[t])
    decoupled, maximize = c.pick([(False, False), (True, False), (False, True)])
    return (p, m, v, g, *table, b1, b2, 1e-8, 1 - b2 ** t, c_grad, c_avg, decoupled, maximize), (0, 1, 2), "elem"


@_builds("sumsq", "sum_abs_pow", "absmax", "scale", "clip_value")
def _reduce(c: _Ctx):
    n, start, end = _segments(c, empty=c.seed % 3 == 2)  # seed 2: an empty segment
    x = c.randn(n, std=0.01)
    if c.seed % 3 == 1:
        x[start[1] - 1] = np.nan  # in a gap: never read
    scalar = {"sum_abs_pow": (c.pick([1.0, 3.0, 0.5]),), "scale": (c.pick([0.5, 1 / 3, 0.0]),),
              "clip_value": (c.pick([0.01, 0.005, 1.0]),)}.get(c.fn, ())
    if c.fn in ("scale", "clip_value"):
        return (x, start, end, *scalar), (0,), "elem"
    c.mag = float(n) * 1e-4
    return (np.full(1, np.nan), x, start, end, *scalar), (0,), "reduce"


# ---------------------------------------------------------------------------------------------- normalization


@_builds("batchnorm_forward_train", "batchnorm_forward_eval", "batchnorm_backward")
def _batchnorm(c: _Ctx):
    n, ch, s = c.pick([(c.size(5, 64), c.size(3, 16), c.size(7, 1024)), (c.size(13, 64), c.size(7, 120), 1),
                       (c.size(2, 64), 1, c.size(33, 64))])
    act = c.pick([ACT_RELU, ACT_NONE, ACT_RELU])
    x = c.randn(n, ch, s, std=2.0, mean=3.0)
    gamma, beta = c.uniform(0.5, 1.5, ch), c.randn(ch, std=0.1)
    rm, rv = c.randn(ch, std=0.1), c.uniform(0.5, 1.5, ch)
    eps = 1e-5
    c.mag = 4.0
    if c.fn_is("batchnorm_forward_train"):
        momentum, update = c.pick([(0.1, True), (0.0, False), (1 / 3, True)])
        outs = (0, 1, 2, 3, 4) if update else (0, 1, 2)
        return (c.nan(n, ch, s), c.nan(ch), c.nan(ch), rm, rv, x, gamma, beta, eps, momentum, update, act), outs, \
            "reduce"
    if c.fn_is("batchnorm_forward_eval"):
        return (c.nan(n, ch, s), c.nan(ch), c.nan(ch), x, gamma, beta, rm, rv, eps, act), (0, 1, 2), "elem"
    batch_stats = c.seed % 3 != 1
    y, mean, invstd = c.nan(n, ch, s), c.nan(ch), c.nan(ch)
    if batch_stats:
        _ref("batchnorm_forward_train")(y, mean, invstd, rm, rv, x, gamma, beta, eps, 0.0, False, act)
    else:
        _ref("batchnorm_forward_eval")(y, mean, invstd, x, gamma, beta, rm, rv, eps, act)
    c.mag = 4.0 * math.sqrt(n * s)
    return (c.nan(n, ch, s), c.randn(ch, std=0.1), c.randn(ch, std=0.1), c.randn(n, ch, s), x, y, mean, invstd,
            gamma, act, batch_stats), (0, 1, 2), "reduce"


@_builds("layernorm_forward", "layernorm_backward")
def _layernorm(c: _Ctx):
    m, d = c.pick([(c.size(5, 64), c.size(13, 120)), (1, c.size(33, 84)), (c.size(7, 64 * 16), c.size(3, 100))])
    nchunks = min(m, c.size(2, 4))
    x = c.randn(m, d, std=2.0, mean=1.0)
    gamma, beta = c.uniform(0.5, 1.5, d), c.randn(d, std=0.1)
    c.mag = 4.0
    if c.fn_is("layernorm_forward"):
        return (c.nan(m, d), c.nan(m), c.nan(m), x, gamma, beta, 1e-5, nchunks), (0, 1, 2), "reduce"
    mean, invstd = c.nan(m), c.nan(m)
    _ref("layernorm_forward")(c.nan(m, d), mean, invstd, x, gamma, beta, 1e-5, nchunks)
    c.mag = 4.0 * math.sqrt(m)
    return (c.nan(m, d), c.randn(d, std=0.1), c.randn(d, std=0.1), c.nan(nchunks, 2, d), c.randn(m, d), x, mean,
            invstd, gamma, nchunks), (0, 1, 2), "reduce"


@_builds("instancenorm_forward", "instancenorm_backward")
def _instancenorm(c: _Ctx):
    n, ch, s = c.pick([(c.size(2, 64), c.size(3, 16), c.size(13, 1024)), (1, 1, c.size(33, 784)),
                       (c.size(3, 64), c.size(2, 32), c.size(7, 256))])
    x = c.randn(n, ch, s, std=2.0, mean=1.0)
    gamma, beta = c.uniform(0.5, 1.5, ch), c.randn(ch, std=0.1)
    c.mag = 4.0
    if c.fn_is("instancenorm_forward"):
        momentum, update = c.pick([(0.1, False), (0.1, True), (0.5, True)])
        outs = (0, 1, 2, 3, 4) if update else (0, 1, 2)
        return (c.nan(n, ch, s), c.nan(n, ch), c.nan(n, ch), c.randn(ch, std=0.1), c.uniform(0.5, 1.5, ch), x, gamma,
                beta, 1e-5, momentum, update), outs, "reduce"
    mean, invstd = c.nan(n, ch), c.nan(n, ch)
    _ref("instancenorm_forward")(c.nan(n, ch, s), mean, invstd, None, None, x, gamma, beta, 1e-5, 0.0, False)
    c.mag = 4.0 * math.sqrt(n * s)
    return (c.nan(n, ch, s), c.randn(ch, std=0.1), c.randn(ch, std=0.1), c.nan(n, ch, 2), c.randn(n, ch, s), x,
            mean, invstd, gamma), (0, 1, 2), "reduce"


@_builds("lrn_forward", "lrn_backward")
def _lrn(c: _Ctx):
    n, ch, s = c.pick([(c.size(2, 64), c.size(7, 16), c.size(13, 100)), (1, c.size(6, 32), c.size(5, 256)),
                       (c.size(3, 64), 2, c.size(11, 36))])
    size, alpha, beta, k = c.pick([(5, 1e-4, 0.75, 2.0), (4, 1e-2, 0.75, 1.0), (5, 0.1, 0.5, 1.0)])
    x = c.randn(n, ch, s, std=2.0)
    c.mag = 4.0
    if c.fn_is("lrn_forward"):
        return (c.nan(n, ch, s), c.nan(n, ch, s), x, size, alpha, beta, k), (0, 1), "elem"
    y, scale = c.nan(n, ch, s), c.nan(n, ch, s)
    _ref("lrn_forward")(y, scale, x, size, alpha, beta, k)
    return (c.nan(n, ch, s), c.nan(n, ch, s), c.randn(n, ch, s), x, y, scale, size, alpha, beta, k), (0,), "reduce"


# ---------------------------------------------------------------------------------------------- elementwise


@_builds("fill", "add", "copy")
def _elementwise(c: _Ctx):
    n = c.pick([c.size(37, _LENET_PARAMS), c.size(1, 64 * 32 * 16 * 16), c.size(13, 64 * 10)])
    if c.fn_is("fill"):
        return (c.nan(n), c.pick([0.0, 1.0, 1 / 3])), (0,), "exact"
    if c.fn_is("copy"):
        return (c.nan(n), c.randn(n)), (0,), "exact"
    a, b = c.randn(n), c.randn(n)
    if c.seed % 3 == 1:
        return (a, a, b), (0,), "exact"  # in place: out is a (a residual add)
    return (c.nan(n), a, b), (0,), "exact"
