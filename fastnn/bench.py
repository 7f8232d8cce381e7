"""Side-by-side speed table: fastnn vs PyTorch CPU vs plain NumPy, measured in ONE process (DESIGN §9).

    fastnn bench [--quick] [--only ops|train|optim|startup] [--startup] [--threads N] [--json PATH]
    python -m fastnn.bench --quick

Every row times the same work on the same data (and, for training, the same initial weights) in
each library. Repeats are interleaved (fastnn, torch, numpy, then the reverse order, ...) so machine
noise hits every column alike; each repeat runs N calls (N calibrated to about ``target`` seconds,
after warm-up) and the table shows the median time per call over the repeats. The ratio column is
torch ms / fastnn ms: above 1 means fastnn is faster.

The NumPy column is a straightforward NumPy implementation written here (np.dot / @ for linear,
im2col through ``sliding_window_view`` + ``tensordot`` for convolution, reshape-max for pooling,
mean/var/x-hat formulas for BatchNorm and LayerNorm, vectorized Adam): what a user would write without a
framework.

Thread budget: fastnn (numba threads, each chunk calling single-threaded BLAS), torch
(``torch.set_num_threads``) and NumPy's BLAS all get ``--threads`` threads (default: all cores).
``import fastnn`` happens before torch is imported
(torch is imported lazily, inside functions): fastnn's import sets ``OMP_WAIT_POLICY=PASSIVE`` before
any OpenMP runtime starts, otherwise numba's and torch's OpenMP threads spin against each other.
torch is optional: without it the table has the fastnn and NumPy columns only.

``--startup`` times fresh interpreters (``python -c``), median of 3, from launch to the end of the probe's
code (the child prints its wall clock there: interpreter shutdown is not start-up; bytecode caching on, as in
an installed package): ``import fastnn`` -> first finished LeNet-5 training step (warm kernel cache), the same with
``NUMBA_CACHE_DIR`` pointed at an empty temporary directory (cold compile of every kernel the step
uses), and ``import torch`` alone / -> first finished step. It also reports each library's peak memory: the
peak RSS (MiB; VmHWM, the process's own ``ru_maxrss``) of a fresh process that builds LeNet-5 + CrossEntropy
+ Adam and runs 20 training steps at batch 64 on 2 threads, imports included (ratio torch MiB / fastnn MiB:
above 1 means fastnn is smaller).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

import fastnn  # noqa: F401  (before torch: sets OMP_WAIT_POLICY and the numba cache dir)
from fastnn import nn, optim
from fastnn.models import lenet5, mlp, resnet8

BATCH = 64

# --- code run in fresh interpreters by --startup and by benchmarks/bench_startup.py ---------------
_FASTNN_SETUP = """
import numpy as np
import fastnn
from fastnn import nn, optim
fastnn.manual_seed(0)
model = fastnn.models.lenet5()
loss_fn = nn.CrossEntropyLoss()
opt = optim.Adam(model.parameters(), lr=1e-3)
rng = np.random.default_rng(0)
x = rng.standard_normal((64, 1, 28, 28), dtype=np.float32)
y = rng.integers(0, 10, 64)
"""

_FASTNN_STEP = """
loss_fn(model.forward(x, True), y)
opt.zero_grad()
model.backward(loss_fn.backward(), input_grad=False)
opt.step()
"""

_TORCH_SETUP = """
import torch
from torch import nn
torch.manual_seed(0)
model = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                      nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                      nn.Linear(84, 10))
opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
x = torch.randn(64, 1, 28, 28)
y = torch.randint(0, 10, (64,))
"""

_TORCH_STEP = """
loss = nn.functional.cross_entropy(model(x), y)
opt.zero_grad()
loss.backward()
opt.step()
"""

FASTNN_FIRST_STEP = _FASTNN_SETUP + _FASTNN_STEP

TORCH_IMPORT = "import torch\n"

TORCH_FIRST_STEP = _TORCH_SETUP + _TORCH_STEP

PEAKMEM_STEPS, PEAKMEM_THREADS = 20, 2
# The child prints its peak resident set size in KiB as its last line. On Linux ru_maxrss of a process started
# by subprocess is at least the parent's RSS when it spawned (the kernel carries the old address space's peak
# across fork/vfork + exec), so a parent holding torch would inflate every child's number: the child reads its
# own address space's peak, VmHWM in /proc/self/status (reset at exec), and falls back to ru_maxrss (KiB on
# Linux, bytes on macOS) where there is no /proc.
_PRINT_MAXRSS = """
import resource, sys
try:
    with open("/proc/self/status") as _f:
        _kib = next(int(ln.split()[1]) for ln in _f if ln.startswith("VmHWM:"))
except (OSError, StopIteration):
    _kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // (1024 if sys.platform == "darwin" else 1)
print(_kib)
"""


def _loop(step: str, n: int) -> str:
    return f"for _ in range({n}):\n" + "".join(f"    {ln}\n" for ln in step.strip().splitlines())


# LeNet-5 + CrossEntropy + Adam, PEAKMEM_STEPS training steps at batch 64, then the peak RSS
FASTNN_TRAIN_PEAKMEM = _FASTNN_SETUP + _loop(_FASTNN_STEP, PEAKMEM_STEPS) + _PRINT_MAXRSS
TORCH_TRAIN_PEAKMEM = _TORCH_SETUP + _loop(_TORCH_STEP, PEAKMEM_STEPS) + _PRINT_MAXRSS


# =================================================================================================
# NumPy references
# =================================================================================================
def np_conv2d_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, pad: int) -> tuple[np.ndarray, np.ndarray]:
    """Stride-1 conv: im2col as a sliding-window view, one tensordot. Returns y and the windows."""
    if pad:
        x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    win = sliding_window_view(x, w.shape[2:], axis=(2, 3))  # (N, C, OH, OW, KH, KW)
    y = np.tensordot(win, w, axes=([1, 4, 5], [1, 2, 3]))  # (N, OH, OW, O)
    y += b
    return y.transpose(0, 3, 1, 2), win


def np_conv2d_backward(dy: np.ndarray, win: np.ndarray, w: np.ndarray, pad: int, need_dx: bool):
    """(dw, db, dx or None) of np_conv2d_forward; dx is the full correlation of dy with the flipped kernel."""
    dw = np.tensordot(dy, win, axes=([0, 2, 3], [0, 2, 3]))  # (O, C, KH, KW)
    db = dy.sum(axis=(0, 2, 3))
    if not need_dx:
        return dw, db, None
    kh, kw = w.shape[2:]
    dyp = np.pad(dy, ((0, 0), (0, 0), (kh - 1, kh - 1), (kw - 1, kw - 1)))
    dwin = sliding_window_view(dyp, (kh, kw), axis=(2, 3))  # (N, O, HP, WP, KH, KW)
    dxp = np.tensordot(dwin, w[:, :, ::-1, ::-1], axes=([1, 4, 5], [0, 2, 3])).transpose(0, 3, 1, 2)
    dx = dxp[:, :, pad:dxp.shape[2] - pad, pad:dxp.shape[3] - pad] if pad else dxp
    return dw, db, dx


def np_maxpool2d_forward(x: np.ndarray, k: int) -> np.ndarray:
    n, c, h, w = x.shape
    return x.reshape(n, c, h // k, k, w // k, k).max(axis=(3, 5))


def np_maxpool2d_backward(x: np.ndarray, y: np.ndarray, dy: np.ndarray, k: int) -> np.ndarray:
    up = y.repeat(k, axis=2).repeat(k, axis=3)
    return (x == up) * dy.repeat(k, axis=2).repeat(k, axis=3)


def np_avgpool2d_forward(x: np.ndarray, k: int) -> np.ndarray:
    n, c, h, w = x.shape
    return x.reshape(n, c, h // k, k, w // k, k).mean(axis=(3, 5))


def np_softmax_cross_entropy(z: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of logits z (N, K) and its gradient dL/dz."""
    n = z.shape[0]
    m = z.max(axis=1, keepdims=True)
    e = np.exp(z - m)
    s = e.sum(axis=1, keepdims=True)
    rows = np.arange(n)
    loss = float(np.mean(np.log(s[:, 0]) + m[:, 0] - z[rows, y]))
    p = e / s
    p[rows, y] -= 1
    p /= n
    return loss, p


def np_norm_fwdbwd(x: np.ndarray, dy: np.ndarray, gamma: np.ndarray, beta: np.ndarray, stat_axes: tuple,
                   param_axes: tuple, eps: float = 1e-5):
    """Batch / layer normalization forward (training: statistics of this x over ``stat_axes``) and backward from
    the formula; gamma / beta broadcast against x and their gradients sum over ``param_axes``. Returns y, dx,
    dgamma, dbeta, the batch mean and the biased variance."""
    mean = x.mean(axis=stat_axes, keepdims=True)
    xc = x - mean
    var = (xc * xc).mean(axis=stat_axes, keepdims=True)
    invstd = 1 / np.sqrt(var + eps)
    xhat = xc * invstd
    y = xhat * gamma + beta
    dxhat = dy * gamma
    dx = invstd * (dxhat - dxhat.mean(axis=stat_axes, keepdims=True)
                   - xhat * (dxhat * xhat).mean(axis=stat_axes, keepdims=True))
    return y, dx, (dy * xhat).sum(axis=param_axes), dy.sum(axis=param_axes), mean, var


class NpAdam:
    """Vectorized Adam over a list of (param, grad-getter) arrays, PyTorch's formula."""

    def __init__(self, params: list[np.ndarray], grads: Callable[[], list[np.ndarray]], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        self.params, self.grads, self.lr, self.betas, self.eps = params, grads, lr, betas, eps
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.t = 0

    def step(self) -> None:
        self.t += 1
        b1, b2 = self.betas
        step = self.lr / (1 - b1 ** self.t)
        inv_sqrt_bc2 = 1 / np.sqrt(1 - b2 ** self.t)
        for p, g, m, v in zip(self.params, self.grads(), self.m, self.v):
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            p -= step * m / (np.sqrt(v) * inv_sqrt_bc2 + self.eps)


class NpModel:
    """A NumPy copy of a fastnn Sequential built from Conv2d/Linear/ReLU/MaxPool2d/Flatten (same weights)."""

    def __init__(self, model: nn.Sequential) -> None:
        self.layers: list[tuple[str, dict]] = []
        self.params: list[np.ndarray] = []
        for layer in model:
            name = type(layer).__name__
            if name in ("Conv2d", "Linear"):
                w, b = layer.weight.data.copy(), layer.bias.data.copy()
                self.params += [w, b]
                pad = layer.padding[0] if name == "Conv2d" else 0
                self.layers.append((name, {"w": w, "b": b, "pad": pad}))
            elif name == "MaxPool2d":
                self.layers.append((name, {"k": layer.kernel_size[0]}))
            elif name in ("ReLU", "Flatten"):
                self.layers.append((name, {}))
            else:
                raise TypeError(f"NpModel: no NumPy version of {name}")
        self._grads: list[np.ndarray] = []
        self._first = next(i for i, (name, _) in enumerate(self.layers) if name in ("Conv2d", "Linear"))

    def forward(self, x: np.ndarray) -> np.ndarray:
        for name, s in self.layers:
            s["x"] = x
            if name == "Conv2d":
                x, s["win"] = np_conv2d_forward(x, s["w"], s["b"], s["pad"])
            elif name == "Linear":
                x = x @ s["w"].T + s["b"]
            elif name == "ReLU":
                x = np.maximum(x, 0)
            elif name == "MaxPool2d":
                x = np_maxpool2d_forward(x, s["k"])
            else:
                x = x.reshape(x.shape[0], -1)
            s["y"] = x
        return x

    def backward(self, dy: np.ndarray) -> None:
        grads: list[np.ndarray] = []
        for i in range(len(self.layers) - 1, -1, -1):
            name, s = self.layers[i]
            if name == "Conv2d":
                dw, db, dy = np_conv2d_backward(dy, s["win"], s["w"], s["pad"], i > self._first)
                grads += [db, dw]
            elif name == "Linear":
                grads += [dy.sum(axis=0), dy.T @ s["x"]]
                dy = dy @ s["w"] if i > self._first else None
            elif name == "ReLU":
                dy = dy * (s["y"] > 0)
            elif name == "MaxPool2d":
                dy = np_maxpool2d_backward(s["x"], s["y"], dy, s["k"])
            else:
                dy = dy.reshape(s["x"].shape)
            if dy is None:
                break
        self._grads = grads[::-1]

    def grads(self) -> list[np.ndarray]:
        return self._grads


# =================================================================================================
# timing
# =================================================================================================
@dataclass
class Row:
    section: str
    work: str
    fastnn_ms: float | None = None
    torch_ms: float | None = None
    numpy_ms: float | None = None
    calls: dict[str, int] = field(default_factory=dict)
    samples_ms: dict[str, list[float]] = field(default_factory=dict)

    @property
    def noisy(self) -> bool:
        """Repeats of some column differ by more than 2x (another process competed for the CPU)."""
        return any(len(v) > 1 and max(v) > 2 * min(v) for v in self.samples_ms.values())

    @property
    def ratio(self) -> float | None:
        if self.fastnn_ms is None or self.torch_ms is None:
            return None
        return self.torch_ms / self.fastnn_ms


@dataclass
class Settings:
    repeats: int
    target_s: float
    warmup: int


def _run_n(fn: Callable[[], Any], n: int) -> float:
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        return time.perf_counter() - t0
    finally:
        if gc_was_enabled:
            gc.enable()


def time_interleaved(impls: dict[str, Callable[[], Any] | None], settings: Settings) -> tuple[dict, dict]:
    """Seconds per call of each implementation in every repeat (repeats interleaved), and the calls per repeat."""
    fns = {k: f for k, f in impls.items() if f is not None}
    number: dict[str, int] = {}
    for key, fn in fns.items():
        for _ in range(settings.warmup):
            fn()
        # calls per repeat from the FASTEST of a few short batches: one call slowed by another process
        # must not shrink the repeat to a single call
        n, dt = 1, _run_n(fn, 1)
        while dt < settings.target_s / 10 and n < 1_000_000:
            n *= 4
            dt = _run_n(fn, n)
        per_call = min([dt / n] + [_run_n(fn, n) / n for _ in range(2)])
        number[key] = max(1, round(settings.target_s / max(per_call, 1e-9)))
    samples: dict[str, list[float]] = {k: [] for k in fns}
    order = list(fns)
    for r in range(settings.repeats):
        for key in order if r % 2 == 0 else order[::-1]:
            samples[key].append(_run_n(fns[key], number[key]) / number[key])
    return samples, number


def _measure(section: str, work: str, impls: dict, settings: Settings, verbose: bool) -> Row:
    samples, number = time_interleaved(impls, settings)
    row = Row(section, work, calls=number, samples_ms={k: [t * 1e3 for t in v] for k, v in samples.items()})
    for key, sec in samples.items():
        setattr(row, f"{key}_ms", statistics.median(sec) * 1e3)
    if verbose:
        print(f"  measured {work}", file=sys.stderr, flush=True)
    return row


# =================================================================================================
# torch helpers (imported lazily: after fastnn, see the module docstring)
# =================================================================================================
def _import_torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def _to_torch(model: nn.Sequential, torch):
    """The same architecture in torch.nn, with model's weights copied in."""
    tnn = torch.nn
    layers = []
    for layer in model:
        name = type(layer).__name__
        if name == "Conv2d":
            layers.append(tnn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride,
                                     layer.padding, bias=layer.bias is not None))
        elif name == "Linear":
            layers.append(tnn.Linear(layer.in_features, layer.out_features, bias=layer.bias is not None))
        elif name == "MaxPool2d":
            layers.append(tnn.MaxPool2d(layer.kernel_size, layer.stride, layer.padding))
        elif name == "ReLU":
            layers.append(tnn.ReLU())
        elif name == "Flatten":
            layers.append(tnn.Flatten())
        else:
            raise TypeError(f"no torch equivalent wired up for {name}")
    tmodel = tnn.Sequential(*layers)
    tmodel.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in model.state_dict().items()})
    return tmodel


def torch_resnet8(torch):
    """The PyTorch module fastnn.models.resnet8 mirrors (same state_dict keys)."""
    t = torch.nn

    class Residual(t.Module):
        def __init__(self, block, shortcut, activation):
            super().__init__()
            self.block, self.shortcut, self.activation = block, shortcut, activation

        def forward(self, x):
            return self.activation(self.block(x) + (x if self.shortcut is None else self.shortcut(x)))

    def basic(cin, cout, stride=1):
        block = t.Sequential(t.Conv2d(cin, cout, 3, stride, 1, bias=False), t.BatchNorm2d(cout), t.ReLU(),
                             t.Conv2d(cout, cout, 3, 1, 1, bias=False), t.BatchNorm2d(cout))
        short = None if stride == 1 and cin == cout else t.Sequential(t.Conv2d(cin, cout, 1, stride, bias=False),
                                                                       t.BatchNorm2d(cout))
        return Residual(block, short, t.ReLU())

    return t.Sequential(t.Conv2d(1, 16, 3, padding=1, bias=False), t.BatchNorm2d(16), t.ReLU(), basic(16, 16),
                        basic(16, 32, 2), basic(32, 64, 2), t.AdaptiveAvgPool2d((1, 1)), t.Flatten(), t.Linear(64, 10))



# =================================================================================================
# the rows
# =================================================================================================
def op_rows(settings: Settings, torch, verbose: bool = False) -> list[Row]:
    """Per-op timings at LeNet-5 shapes, batch 64 (fastnn layers / optimizers, as users call them), plus a
    ResNet-size 3x3 convolution and BatchNorm."""
    rng = np.random.default_rng(0)
    f32 = np.float32
    rows = []

    def randn(*shape):
        return rng.standard_normal(shape, dtype=f32)

    def t(a, grad=False):
        return torch.from_numpy(a).requires_grad_(grad) if torch else None

    def add(work, fast, tor=None, npy=None):
        rows.append(_measure("ops", work, {"fastnn": fast, "torch": tor if torch else None, "numpy": npy},
                             settings, verbose))

    # --- convolutions: LeNet-5's conv1 / conv2, and a ResNet-style 3x3 (ResNet-8's last stage width) ---------
    def add_conv(cin, cout, k, pad, hw, name=None):
        """The "fwd" and "fwd+bwd" rows of a stride-1 Conv2d(cin, cout, k, padding=pad) on (BATCH, cin, hw, hw).
        A named layer (LeNet's conv1 / conv2) is called by its name in the fwd+bwd row, other shapes by the shape.
        dx is computed except for a 1-channel input (a first layer: training never needs its input gradient)."""
        shape = f"{cin}->{cout} k{k}{f' p{pad}' if pad else ''} {hw}x{hw}"
        conv = nn.Conv2d(cin, cout, k, padding=pad)
        w, b = conv.weight.data.copy(), conv.bias.data.copy()
        x = randn(BATCH, cin, hw, hw)
        out_hw = hw + 2 * pad - k + 1
        dy = randn(BATCH, cout, out_hw, out_hw)
        need_dx = cin != 1
        t_fwd = t_fwdbwd = None
        if torch:
            tconv = torch.nn.Conv2d(cin, cout, k, padding=pad)
            tconv.load_state_dict({"weight": torch.from_numpy(w.copy()), "bias": torch.from_numpy(b.copy())})
            tx, tdy = t(x, need_dx), t(dy)

            def t_fwd():
                with torch.no_grad():
                    return tconv(tx)

            def t_fwdbwd():
                tconv(tx).backward(tdy)

        def f_fwdbwd():
            conv.forward(x, True)
            return conv.backward(dy, need_dx)

        def n_fwdbwd():
            _, win = np_conv2d_forward(x, w, b, pad)
            return np_conv2d_backward(dy, win, w, pad, need_dx)

        add(f"{name or 'conv'} {shape} fwd", lambda: conv.forward(x, True), t_fwd,
            lambda: np_conv2d_forward(x, w, b, pad)[0])
        add(f"{name or f'conv {shape}'} fwd+bwd" + ("" if need_dx else " (no dx)"), f_fwdbwd, t_fwdbwd, n_fwdbwd)

    add_conv(1, 6, 5, 2, 28, "conv1")
    add_conv(6, 16, 5, 0, 14, "conv2")
    add_conv(32, 64, 3, 1, 16)

    # --- pooling and ReLU on conv1's output (64, 6, 28, 28) ------------------------------------------
    x = randn(BATCH, 6, 28, 28)
    dy = randn(BATCH, 6, 14, 14)
    pool, avg, relu = nn.MaxPool2d(2), nn.AvgPool2d(2), nn.ReLU()
    tx_grad, tx, tdy = (t(x.copy(), True), t(x), t(dy)) if torch else (None, None, None)
    F = torch.nn.functional if torch else None

    def f_pool_fwdbwd():
        pool.forward(x, True)
        return pool.backward(dy)

    def t_pool_fwd():
        with torch.no_grad():
            return F.max_pool2d(tx, 2)

    def t_pool_fwdbwd():
        F.max_pool2d(tx_grad, 2).backward(tdy)

    def n_pool_fwdbwd():
        y = np_maxpool2d_forward(x, 2)
        return np_maxpool2d_backward(x, y, dy, 2)

    def t_avg_fwd():
        with torch.no_grad():
            return F.avg_pool2d(tx, 2)

    def t_relu():
        with torch.no_grad():
            return F.relu(tx)

    add("maxpool 2x2 (64,6,28,28) fwd", lambda: pool.forward(x, True), t_pool_fwd, lambda: np_maxpool2d_forward(x, 2))
    add("maxpool 2x2 fwd+bwd", f_pool_fwdbwd, t_pool_fwdbwd, n_pool_fwdbwd)
    add("avgpool 2x2 (64,6,28,28) fwd", lambda: avg.forward(x, True), t_avg_fwd, lambda: np_avgpool2d_forward(x, 2))
    add("relu (64,6,28,28) fwd", lambda: relu.forward(x, True), t_relu, lambda: np.maximum(x, 0))

    # --- linear 400 -> 120 ------------------------------------------------------------------------
    lin = nn.Linear(400, 120)
    w, b = lin.weight.data.copy(), lin.bias.data.copy()
    xl, dyl = randn(BATCH, 400), randn(BATCH, 120)
    if torch:
        tlin = torch.nn.Linear(400, 120)
        tlin.load_state_dict({"weight": torch.from_numpy(w.copy()), "bias": torch.from_numpy(b.copy())})
        txl, tdyl = t(xl, True), t(dyl)

    def f_lin():
        lin.forward(xl, True)
        return lin.backward(dyl, True)

    def t_lin():
        tlin(txl).backward(tdyl)

    def n_lin():
        xl @ w.T + b
        return dyl @ w, dyl.T @ xl, dyl.sum(axis=0)

    add("linear 400->120 fwd+bwd", f_lin, t_lin, n_lin)

    # --- softmax cross-entropy: LeNet's (64, 10) and a wide (256, 1000) --------------------------------
    for n, k in ((BATCH, 10), (256, 1000)):
        z, labels = randn(n, k), rng.integers(0, k, n)
        loss_fn = nn.CrossEntropyLoss()

        def f_ce(loss_fn=loss_fn, z=z, labels=labels):
            loss_fn(z, labels)
            return loss_fn.backward()

        t_ce = None
        if torch:
            tz, tlabels = t(z.copy(), True), torch.from_numpy(labels)

            def t_ce(tz=tz, tlabels=tlabels):
                F.cross_entropy(tz, tlabels).backward()

        add(f"softmax-cross-entropy ({n}x{k}) fwd+bwd", f_ce, t_ce,
            lambda z=z, labels=labels: np_softmax_cross_entropy(z, labels))

    # --- normalization (training mode, forward + backward) -----------------------------------------
    # (label, shape, fastnn layer, torch layer, statistics axes, parameter-gradient axes, parameter shape)
    bn_axes, ln_axes = ((0, 2, 3), (0, 2, 3)), ((1,), (0,))
    for label, shape, make, tmake, (stat_axes, param_axes), pshape in (
            ("BatchNorm2d (64,6,28,28)", (64, 6, 28, 28), lambda: nn.BatchNorm2d(6),
             lambda: torch.nn.BatchNorm2d(6), bn_axes, (1, 6, 1, 1)),
            ("BatchNorm2d (64,64,16,16)", (64, 64, 16, 16), lambda: nn.BatchNorm2d(64),
             lambda: torch.nn.BatchNorm2d(64), bn_axes, (1, 64, 1, 1)),
            ("LayerNorm(512) (64,512)", (64, 512), lambda: nn.LayerNorm(512), lambda: torch.nn.LayerNorm(512),
             ln_axes, (512,))):
        xn, dyn = randn(*shape), randn(*shape)
        layer = make()

        def f_norm(layer=layer, xn=xn, dyn=dyn):
            layer.forward(xn, True)
            return layer.backward(dyn)

        t_norm = None
        if torch:
            tlayer, txn, tdyn = tmake(), t(xn.copy(), True), torch.from_numpy(dyn)

            def t_norm(tlayer=tlayer, txn=txn, tdyn=tdyn):
                tlayer(txn).backward(tdyn)

        gamma, beta = np.ones(pshape, f32), np.zeros(pshape, f32)
        run_mean = run_var = None
        if len(shape) == 4:  # BatchNorm: running statistics
            run_mean, run_var = np.zeros(shape[1], f32), np.ones(shape[1], f32)

        def n_norm(xn=xn, dyn=dyn, gamma=gamma, beta=beta, stat_axes=stat_axes, param_axes=param_axes,
                   run_mean=run_mean, run_var=run_var):
            out = np_norm_fwdbwd(xn, dyn, gamma, beta, stat_axes, param_axes)
            if run_mean is not None:  # BatchNorm's running statistics (unbiased variance), as torch and fastnn
                count = xn.size // xn.shape[1]
                run_mean *= 0.9
                run_mean += 0.1 * out[4].ravel()
                run_var *= 0.9
                run_var += (0.1 * count / (count - 1)) * out[5].ravel()
            return out

        add(f"{label} fwd+bwd", f_norm, t_norm, n_norm)

    # --- optimizer steps over LeNet-5's parameters ---------------------------------------------------
    for kind in ("adam", "sgd"):
        model = lenet5()
        model.flat.grad[:] = rng.standard_normal(model.flat.size, dtype=f32) * 1e-2
        if kind == "adam":
            opt = optim.Adam(model.parameters(), lr=1e-3)
            work = f"Adam step ({model.flat.size:,} params)"
        else:
            opt = optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
            work = f"SGD momentum step ({model.flat.size:,} params)"
        topt_step = None
        if torch:
            tmodel = _to_torch(model, torch)
            for (_, p), g in zip(tmodel.named_parameters(), (q.grad for q in model.parameters())):
                p.grad = torch.from_numpy(g.copy())
            topt = (torch.optim.Adam(tmodel.parameters(), lr=1e-3, fused=True) if kind == "adam" else
                    torch.optim.SGD(tmodel.parameters(), lr=1e-3, momentum=0.9, fused=True))
            topt_step = topt.step
        p_np, g_np = model.flat.data.copy(), model.flat.grad.copy()
        if kind == "adam":
            nopt = NpAdam([p_np], lambda g_np=g_np: [g_np], lr=1e-3)
            n_step = nopt.step
        else:
            vel = np.zeros_like(p_np)

            def n_step(p_np=p_np, g_np=g_np, vel=vel):
                vel *= 0.9
                vel += g_np
                p_np -= 1e-3 * vel
        add(work, opt.step, topt_step, n_step)
    return rows


def train_rows(settings: Settings, torch, verbose: bool = False) -> tuple[list[Row], list[str]]:
    """Training steps (forward + loss + zero_grad + backward + Adam) and inference, same initial weights."""
    rows, notes = [], []
    rng = np.random.default_rng(1)
    F = torch.nn.functional if torch else None
    for arch, batches in (("lenet5", (32, 64, 256)), ("mlp", (32, 64, 256))):
        for batch in batches:
            fastnn.manual_seed(0)
            model = lenet5() if arch == "lenet5" else mlp()
            x = rng.standard_normal((batch, 1, 28, 28), dtype=np.float32)
            y = rng.integers(0, 10, batch)
            loss_fn = nn.CrossEntropyLoss()
            opt = optim.Adam(model.parameters(), lr=1e-3)
            npm = NpModel(model)
            nopt = NpAdam(npm.params, npm.grads, lr=1e-3)
            t_step = None
            losses = {}
            if torch:
                tmodel = _to_torch(model, torch)
                topt = torch.optim.Adam(tmodel.parameters(), lr=1e-3, fused=True)
                tx, ty = torch.from_numpy(x), torch.from_numpy(y)

                def t_step(tmodel=tmodel, topt=topt, tx=tx, ty=ty):
                    loss = F.cross_entropy(tmodel(tx), ty)
                    topt.zero_grad()
                    loss.backward()
                    topt.step()
                    return loss

            def f_step(model=model, loss_fn=loss_fn, opt=opt, x=x, y=y):
                loss = loss_fn(model.forward(x, True), y)
                opt.zero_grad()
                model.backward(loss_fn.backward(), input_grad=False)
                opt.step()
                return loss

            def n_step(npm=npm, nopt=nopt, x=x, y=y):
                loss, dz = np_softmax_cross_entropy(npm.forward(x), y)
                npm.backward(dz)
                nopt.step()
                return loss

            # sanity: identical weights and data give the same first loss everywhere
            losses["fastnn"] = f_step()
            losses["numpy"] = n_step()
            if torch:
                losses["torch"] = float(t_step().detach())
            spread = max(losses.values()) - min(losses.values())
            if spread > 1e-3:
                notes.append(f"WARNING {arch} b{batch}: first-step losses differ: {losses}")
            name = "LeNet-5" if arch == "lenet5" else "MLP 784-256-10"
            rows.append(_measure("train", f"train step {name} b{batch}", {"fastnn": f_step, "torch": t_step,
                                                                          "numpy": n_step}, settings, verbose))

    fastnn.manual_seed(0)
    model = resnet8()
    x = rng.standard_normal((64, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, 64)
    loss_fn, opt = nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=1e-3)
    t_step = None
    if torch:
        tmodel = torch_resnet8(torch)
        tmodel.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in model.state_dict().items()})
        topt = torch.optim.Adam(tmodel.parameters(), lr=1e-3, fused=True)
        tx, ty = torch.from_numpy(x), torch.from_numpy(y)

        def t_step(tmodel=tmodel, topt=topt, tx=tx, ty=ty):
            topt.zero_grad()
            loss = F.cross_entropy(tmodel(tx), ty)
            loss.backward()
            topt.step()
            return loss

    def r_step(model=model, loss_fn=loss_fn, opt=opt, x=x, y=y):
        loss = loss_fn(model.forward(x, True), y)
        opt.zero_grad()
        model.backward(loss_fn.backward(), input_grad=False)
        opt.step()
        return loss

    if torch:  # sanity: the same weights and data give the same first loss
        losses = {"fastnn": float(r_step()), "torch": float(t_step().detach())}
        if abs(losses["fastnn"] - losses["torch"]) > 1e-3:
            notes.append(f"WARNING ResNet-8 b64: first-step losses differ: {losses}")

    rows.append(_measure("train", "train step ResNet-8 b64", {"fastnn": r_step, "torch": t_step, "numpy": None},
                         settings, verbose))

    for batch in (1, 64):
        fastnn.manual_seed(0)
        model = lenet5().eval()
        x = rng.standard_normal((batch, 1, 28, 28), dtype=np.float32)
        npm = NpModel(model)
        t_fwd = None
        if torch:
            tmodel = _to_torch(model, torch).eval()
            tx = torch.from_numpy(x)

            def t_fwd(tmodel=tmodel, tx=tx):
                with torch.no_grad():
                    return tmodel(tx)

            diff = float(np.abs(t_fwd().numpy() - model.forward(x, False)).max())
            if diff > 1e-3:
                notes.append(f"WARNING inference b{batch}: fastnn and torch logits differ by {diff:.2e}")
        rows.append(_measure("infer", f"inference LeNet-5 b{batch}",
                             {"fastnn": lambda model=model, x=x: model.forward(x, False), "torch": t_fwd,
                              "numpy": lambda npm=npm, x=x: npm.forward(x)}, settings, verbose))
    return rows, notes


# =================================================================================================
# optimizer steps at 61.7k / 1M / 10M parameters, and bandwidth
# =================================================================================================
OPTIM_SIZES = (61_706, 1_000_000, 10_000_000)
# float32 arrays each rule moves per parameter per step: reads + writes of params, grads and state
OPTIM_ARRAYS = {"SGD momentum": 5, "Adam": 7, "RMSprop": 5}


def _optim_shapes(n: int) -> list[tuple[int, ...]]:
    """LeNet-5's parameter shapes at 61,706; else one large matrix and two vectors (n elements in all)."""
    if n == 61_706:
        return [p.shape for p in lenet5().parameters()]
    rows = n // 1000
    return [(rows, 999), (rows,), (n - rows * 1000,)]


def _fastnn_optimizer(rule: str, n: int, rng: np.random.Generator):
    from fastnn.params import FlatParams, Parameter

    params = [Parameter(rng.standard_normal(s, dtype=np.float32) * 0.05) for s in _optim_shapes(n)]
    flat = FlatParams(params)
    flat.grad[:] = rng.standard_normal(flat.size, dtype=np.float32) * 1e-2
    if rule == "SGD momentum":
        return optim.SGD(params, lr=1e-3, momentum=0.9)
    return optim.Adam(params, lr=1e-3) if rule == "Adam" else optim.RMSprop(params, lr=1e-3)


def _torch_optimizer(rule: str, opt, torch, impl: str):
    """torch.optim over tensors holding the same values as fastnn optimizer ``opt``; None if torch lacks it."""
    if rule == "RMSprop" and impl == "fused":
        return None  # torch.optim.RMSprop has no fused implementation
    tensors = []
    for p in opt.flat.params:
        t = torch.from_numpy(p.data.copy()).requires_grad_()
        t.grad = torch.from_numpy(p.grad.copy())
        tensors.append(t)
    kw = {impl: True}
    if rule == "SGD momentum":
        return torch.optim.SGD(tensors, lr=1e-3, momentum=0.9, **kw)
    return torch.optim.Adam(tensors, lr=1e-3, **kw) if rule == "Adam" else torch.optim.RMSprop(tensors, lr=1e-3, **kw)


def stream_bandwidth(n: int = 10_000_000, repeats: int = 10, threads: int = 1) -> dict[str, float]:
    """GB/s of NumPy copy (b = a: 2 arrays moved) and add (a = b + c: 3 arrays), STREAM's byte counting, best of
    ``repeats``, on n float32 (40 MB per array at 10M: beyond the last-level cache of most CPUs). With
    ``threads`` > 1 also ``copy_mt`` / ``add_mt``: the arrays split into ``threads`` slices copied / added by a
    thread pool at once (NumPy releases the GIL), the bandwidth several cores can draw."""
    from concurrent.futures import ThreadPoolExecutor

    a, b, c = (np.full(n, v, dtype=np.float32) for v in (1.0, 2.0, 3.0))
    out = {"copy": 2 * 4 * n / min(_run_n(lambda: np.copyto(a, b), 1) for _ in range(repeats)) / 1e9,
           "add": 3 * 4 * n / min(_run_n(lambda: np.add(b, c, out=a), 1) for _ in range(repeats)) / 1e9}
    if threads > 1:
        cuts = np.linspace(0, n, threads + 1).astype(int)
        parts = [slice(s, e) for s, e in zip(cuts[:-1], cuts[1:])]
        with ThreadPoolExecutor(threads) as pool:
            def copy_mt():
                list(pool.map(lambda sl: np.copyto(a[sl], b[sl]), parts))

            def add_mt():
                list(pool.map(lambda sl: np.add(b[sl], c[sl], out=a[sl]), parts))

            out["copy_mt"] = 2 * 4 * n / min(_run_n(copy_mt, 1) for _ in range(repeats)) / 1e9
            out["add_mt"] = 3 * 4 * n / min(_run_n(add_mt, 1) for _ in range(repeats)) / 1e9
    return out


def optim_rows(settings: Settings, torch, verbose: bool = False,
               sizes: tuple[int, ...] = OPTIM_SIZES) -> tuple[list[Row], dict[str, float]]:
    """One optimizer step: fastnn (one fused kernel over the flat buffer) vs torch.optim foreach and fused, for
    SGD-momentum / Adam / RMSprop at each size; plus NumPy's stream bandwidth measured in the same run.
    ``row.torch_ms`` is torch's fastest implementation (fused where it has one)."""
    import numba

    rng = np.random.default_rng(2)
    rows = []
    threads = numba.get_num_threads()
    stream = stream_bandwidth(threads=threads)
    for n in sizes:
        for rule in OPTIM_ARRAYS:
            opt = _fastnn_optimizer(rule, n, rng)
            impls = {"fastnn": opt.step}
            if torch is not None:
                for impl in ("foreach", "fused"):
                    topt = _torch_optimizer(rule, opt, torch, impl)
                    impls[f"torch_{impl}"] = topt.step if topt is not None else None
            row = _measure("optim", f"{rule} step, {n:,} params", impls, settings, verbose)
            row.n_params, row.arrays = n, OPTIM_ARRAYS[rule]
            for impl in ("torch_fused", "torch_foreach"):
                if impl in row.samples_ms:
                    row.torch_ms = statistics.median(row.samples_ms[impl])
                    break
            rows.append(row)
            del opt, impls
            gc.collect()
    after = stream_bandwidth(threads=threads)  # bandwidth drifts during a run: keep the better measurement
    stream = {k: max(v, after[k]) for k, v in stream.items()}
    return rows, stream


def format_optim_table(rows: list[Row], stream: dict[str, float], torch_available: bool) -> str:
    """fastnn vs torch foreach / fused (ratios > 1: fastnn faster); at the largest size GB/s and the fraction of
    the best NumPy stream bandwidth."""
    best = max(stream.values())
    largest = max(r.n_params for r in rows)
    head = ["work", "fastnn ms"]
    if torch_available:
        head += ["torch foreach ms", "torch fused ms", "foreach/fastnn", "fused/fastnn"]
    head += ["fastnn GB/s", "of stream"]
    body = []
    for r in rows:
        med = {k: statistics.median(v) for k, v in r.samples_ms.items()}
        cells = [r.work + (" *" if r.noisy else ""), _fmt(med["fastnn"])]
        if torch_available:
            cells += [_fmt(med.get("torch_foreach")), _fmt(med.get("torch_fused"))]
            cells += ["-" if k not in med else f"{med[k] / med['fastnn']:.2f}x"
                      for k in ("torch_foreach", "torch_fused")]
        if r.n_params == largest:
            gbs = r.arrays * 4 * r.n_params / (med["fastnn"] * 1e-3) / 1e9
            cells += [f"{gbs:.1f}", f"{gbs / best:.0%}"]
        else:
            cells += ["-", "-"]
        body.append(cells)
    widths = [max(len(str(c[i])) for c in [head, *body]) for i in range(len(head))]

    def line(cells):
        return "| " + " | ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i])
                                 for i, c in enumerate(cells)) + " |"

    sep = "|" + "|".join("-" * (w + 2) if i == 0 else "-" * (w + 1) + ":" for i, w in enumerate(widths)) + "|"
    mt = (f"; threaded copy {stream['copy_mt']:.1f}, add {stream['add_mt']:.1f}"
          if "copy_mt" in stream else "")
    foot = [f"stream bandwidth (NumPy, this run, GB/s): copy {stream['copy']:.1f}, add {stream['add']:.1f}{mt}; "
            f"'of stream' = fastnn GB/s / the best of these. GB/s counts each float32 array a rule reads or "
            f"writes once per parameter (SGD-momentum 5, Adam 7, RMSprop 5). torch.optim.RMSprop has no fused "
            f"implementation."]
    if any(r.noisy for r in rows):
        foot.append("* the repeats of this row differ by more than 2x: another process competed for the CPU")
    return "\n".join([line(head), sep, *(line(c) for c in body), *foot])


# =================================================================================================
# start-up
# =================================================================================================
_DONE = "__probe_done_at__"


def _run_child(code: str, env: dict[str, str]) -> tuple[float, str]:
    """Seconds from launching a fresh ``python -c code`` to the end of ``code`` (the child prints its wall clock
    then: interpreter shutdown is not part of a start-up), and its stdout before that line."""
    t0 = time.time()
    proc = subprocess.run([sys.executable, "-c", f"{code}\nimport time\nprint({_DONE!r}, time.time())"], env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"start-up probe failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    out, _, done = proc.stdout.rpartition(_DONE)
    return float(done) - t0, out


def _wall(code: str, env: dict[str, str]) -> float:
    return _run_child(code, env)[0]


def _peak_rss_mib(code: str, env: dict[str, str]) -> float:
    """Peak RSS in MiB that a fresh ``python -c code`` reports, in KiB, on its last stdout line."""
    return int(_run_child(code, env)[1].split()[-1]) / 1024


def peakmem_rows(torch_available: bool, quick: bool, verbose: bool = False) -> list[Row]:
    """Peak RSS (MiB, kept in the Row *_ms fields; section 'peakmem') of a fresh process that builds LeNet-5 +
    CrossEntropy + Adam and runs PEAKMEM_STEPS training steps at batch 64, imports included; both libraries
    on PEAKMEM_THREADS threads (torch: fused Adam). Median of 3 processes per library (1 with ``quick``)."""
    env = {**os.environ, "FASTNN_NUM_THREADS": str(PEAKMEM_THREADS)}
    torch_env = {**env, "OMP_NUM_THREADS": str(PEAKMEM_THREADS)}
    torch_code = f"import torch\ntorch.set_num_threads({PEAKMEM_THREADS})\n" + TORCH_TRAIN_PEAKMEM
    mib: dict[str, list[float]] = {"fastnn": [], "torch": []}
    for r in range(1 if quick else 3):
        order = ["fastnn", "torch"] if torch_available else ["fastnn"]
        for key in order if r % 2 == 0 else order[::-1]:
            mib[key].append(_peak_rss_mib(FASTNN_TRAIN_PEAKMEM, env) if key == "fastnn" else
                            _peak_rss_mib(torch_code, torch_env))
    work = f"peak memory of a LeNet-5 training run ({PEAKMEM_STEPS} steps b64)"
    if verbose:
        print(f"  measured {work}", file=sys.stderr, flush=True)
    return [Row("peakmem", work, fastnn_ms=statistics.median(mib["fastnn"]),
                torch_ms=statistics.median(mib["torch"]) if mib["torch"] else None)]


def _interleaved_walls(probes: dict[str, tuple[str, dict[str, str]] | None], repeats: int,
                       fresh_cache: bool = False) -> dict[str, float | None]:
    """Median wall seconds of each (code, env) probe; the probes alternate within every repeat."""
    probes_run = {k: p for k, p in probes.items() if p is not None}
    times: dict[str, list[float]] = {k: [] for k in probes_run}
    order = list(probes_run)
    for r in range(repeats):
        for key in order if r % 2 == 0 else order[::-1]:
            code, env = probes_run[key]
            if fresh_cache:
                with tempfile.TemporaryDirectory(prefix="fastnn-cold-") as d:
                    times[key].append(_wall(code, {**env, "NUMBA_CACHE_DIR": d}))
            else:
                times[key].append(_wall(code, env))
    return {k: statistics.median(times[k]) if k in times else None for k in probes}


def startup_rows(threads: int, torch_available: bool, quick: bool, verbose: bool = False) -> list[Row]:
    """Fresh-interpreter wall times in seconds (kept in the Row *_ms fields; section 'startup')."""
    # keeps the cache dir fastnn uses (warm); bytecode caching on, as in an installed package (pip writes .pyc)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["FASTNN_NUM_THREADS"] = str(threads)
    torch_env = {**env, "OMP_NUM_THREADS": str(threads)}
    torch_step = f"import torch\ntorch.set_num_threads({threads})\n" + TORCH_FIRST_STEP
    reps, cold_reps = 3, 1 if quick else 3
    _wall(FASTNN_FIRST_STEP, env)  # prime the kernel and bytecode caches (compiles only if sources changed)
    rows = []

    def add(work, fast, tor=None, repeats=reps, fresh_cache=False):
        t = _interleaved_walls({"fastnn": fast, "torch": tor if torch_available else None}, repeats, fresh_cache)
        rows.append(Row("startup", work, fastnn_ms=t["fastnn"], torch_ms=t["torch"]))
        if verbose:
            print(f"  measured {work}", file=sys.stderr, flush=True)

    add("python -c pass (interpreter start)", ("pass", env))
    add("import fastnn / import torch", ("import fastnn", env), (TORCH_IMPORT, torch_env))
    add("import -> first LeNet-5 step b64 (warm cache)", (FASTNN_FIRST_STEP, env), (torch_step, torch_env))
    add(f"same, cold compile (empty NUMBA_CACHE_DIR, median of {cold_reps})", (FASTNN_FIRST_STEP, env),
        repeats=cold_reps, fresh_cache=True)
    return rows


# =================================================================================================
# report
# =================================================================================================
def _fmt(v: float | None, digits: int = 3) -> str:
    if v is None:
        return "-"
    if v >= 100:
        return f"{v:.1f}"
    if v >= 10:
        return f"{v:.2f}"
    return f"{v:.{digits}f}"


def format_table(rows: list[Row], unit: str, torch_available: bool, with_numpy: bool = True) -> str:
    head = ["work", f"fastnn {unit}"]
    if torch_available:
        head.append(f"torch {unit}")
    if with_numpy:
        head.append(f"numpy {unit}")
    if torch_available:
        head.append("torch/fastnn")
    body = []
    for r in rows:
        cells = [r.work + (" *" if r.noisy else ""), _fmt(r.fastnn_ms)]
        if torch_available:
            cells.append(_fmt(r.torch_ms))
        if with_numpy:
            cells.append(_fmt(r.numpy_ms))
        if torch_available:
            cells.append("-" if r.ratio is None else f"{r.ratio:.2f}x")
        body.append(cells)
    noisy = any(r.noisy for r in rows)
    widths = [max(len(str(c[i])) for c in [head, *body]) for i in range(len(head))]

    def line(cells):
        return "| " + " | ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i])
                                 for i, c in enumerate(cells)) + " |"

    sep = "|" + "|".join("-" * (w + 2) if i == 0 else "-" * (w + 1) + ":" for i, w in enumerate(widths)) + "|"
    foot = ["* the repeats of this row differ by more than 2x: another process competed for the CPU"] if noisy else []
    return "\n".join([line(head), sep, *(line(c) for c in body), *foot])


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for ln in f:
                if ln.startswith("model name"):
                    return ln.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _set_threads(threads: int, torch) -> Callable[[], object] | None:
    """Give numba, torch and NumPy's BLAS the same thread count. fastnn's own BLAS (SciPy's OpenBLAS,
    called from each of numba's chunk threads) stays single-threaded, as kernels/_env.py loads it."""
    import numba

    numba.set_num_threads(threads)
    if torch is not None:
        torch.set_num_threads(threads)
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    numpy_blas = [(lib, lib.num_threads) for lib in ThreadpoolController().lib_controllers
                  if lib.user_api == "blas" and "scipy.libs" not in lib.filepath]
    for lib, _ in numpy_blas:
        lib.set_num_threads(threads)
    return lambda: [lib.set_num_threads(n) for lib, n in numpy_blas]


def build_parser() -> argparse.ArgumentParser:
    import numba

    p = argparse.ArgumentParser(prog="fastnn bench", description="Time fastnn against PyTorch CPU and NumPy, "
                                "side by side in one process (ratio = torch ms / fastnn ms; > 1: fastnn faster).")
    p.add_argument("--quick", action="store_true", help="fewer, shorter repeats (noisier; about 30 s)")
    p.add_argument("--only", choices=("ops", "train", "optim", "startup"), help="run one section only")
    p.add_argument("--startup", action="store_true", help="also time fresh-process start-up and cold compile")
    p.add_argument("--threads", type=int, default=numba.config.NUMBA_NUM_THREADS,
                   help="threads for fastnn (numba + BLAS) and torch alike (default: %(default)s = all allowed)")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    return p


def main(argv: list[str] | None = None) -> int:
    import numba

    args = build_parser().parse_args(argv)
    if not 1 <= args.threads <= numba.config.NUMBA_NUM_THREADS:
        print(f"fastnn bench: --threads must be between 1 and {numba.config.NUMBA_NUM_THREADS} (numba's "
              f"NUMBA_NUM_THREADS), got {args.threads}", file=sys.stderr)
        return 2
    sections = [args.only] if args.only else ["ops", "train", "optim"] + (["startup"] if args.startup else [])
    settings = Settings(repeats=5, target_s=0.02, warmup=3) if args.quick else Settings(15, 0.1, 5)
    torch = _import_torch()  # after fastnn (imported at module top)
    numba_threads, torch_threads = numba.get_num_threads(), torch.get_num_threads() if torch else 0
    restore_blas = _set_threads(args.threads, torch)

    versions = f"fastnn {fastnn.__version__}, numba {numba.__version__}, numpy {np.__version__}"
    versions += f", torch {torch.__version__}" if torch else ""
    print(f"fastnn bench: {versions}")
    print(f"CPU: {_cpu_name()}, {os.cpu_count()} cores; threads: {args.threads} (numba, BLAS"
          f"{', torch' if torch else ''}); OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}")
    if sections != ["startup"]:
        print(f"{'quick' if args.quick else 'full'} run: each row is the median of {settings.repeats} interleaved "
              f"repeats of ~{settings.target_s * 1e3:.0f} ms of calls, after warm-up")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    if load > 0.5:
        print(f"note: load average {load:.1f} before start: other processes share the CPU, timings are noisy")
    if torch is None:
        print("torch is not installed: showing the fastnn and NumPy columns only (pip install torch to compare)")
    print(flush=True)

    results: dict[str, Any] = {"versions": {"fastnn": fastnn.__version__, "numba": numba.__version__,
                                            "numpy": np.__version__, "torch": torch.__version__ if torch else None,
                                            "python": platform.python_version()},
                               "cpu": _cpu_name(), "cores": os.cpu_count(), "threads": args.threads,
                               "quick": args.quick,
                               "load_average": load, "rows": []}
    notes: list[str] = []
    verbose = sys.stderr.isatty()
    try:
        if "ops" in sections:
            rows = op_rows(settings, torch, verbose)
            print(f"Per-op at LeNet-5 shapes (+ a ResNet-size conv and BatchNorm), batch {BATCH}, ms per call "
                  f"(fastnn layers / torch.nn / NumPy refs)")
            print(format_table(rows, "ms", torch is not None), end="\n\n", flush=True)
            results["rows"] += [asdict(r) | {"ratio": r.ratio, "noisy": r.noisy} for r in rows]
        if "train" in sections:
            rows, notes = train_rows(settings, torch, verbose)
            print("Training step (forward + loss + zero_grad + backward + Adam) and inference (ms per call)")
            print(format_table(rows, "ms", torch is not None), end="\n\n", flush=True)
            results["rows"] += [asdict(r) | {"ratio": r.ratio, "noisy": r.noisy} for r in rows]
        if "optim" in sections:
            rows, stream = optim_rows(settings, torch, verbose)
            print("Optimizer step over the whole flat buffer (ms per step; fastnn: one fused kernel launch)")
            print(format_optim_table(rows, stream, torch is not None), end="\n\n", flush=True)
            results["stream_gbps"] = stream
            results["rows"] += [asdict(r) | {"ratio": r.ratio, "noisy": r.noisy, "n_params": r.n_params}
                                for r in rows]
    finally:
        numba.set_num_threads(numba_threads)
        if torch is not None:
            torch.set_num_threads(torch_threads)
        if restore_blas is not None:
            restore_blas()
    if "startup" in sections:
        rows = startup_rows(args.threads, torch is not None, args.quick, verbose)
        print("Start-up: fresh `python -c` processes, wall seconds, median of 3 (fastnn and torch alternate)")
        print(format_table(rows, "s", torch is not None, with_numpy=False), end="\n\n")
        results["rows"] += [{"section": r.section, "work": r.work, "fastnn_s": r.fastnn_ms, "torch_s": r.torch_ms,
                             "ratio": r.ratio} for r in rows]
        rows = peakmem_rows(torch is not None, args.quick, verbose)
        print(f"Peak memory: fresh `python -c` processes, peak RSS (VmHWM) in MiB, imports included, "
              f"{PEAKMEM_THREADS} threads each; ratio = torch / fastnn (> 1: fastnn smaller)")
        print(format_table(rows, "MiB", torch is not None, with_numpy=False), end="\n\n")
        results["rows"] += [{"section": r.section, "work": r.work, "fastnn_mib": r.fastnn_ms, "torch_mib": r.torch_ms,
                             "ratio": r.ratio} for r in rows]
    for note in notes:
        print(note)
    if torch is not None and ("ops" in sections or "train" in sections):
        print("torch: fused=True Adam/SGD, torch.no_grad() for forward-only rows; ratio > 1 means fastnn is faster.")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
