"""``fastnn check --device cuda [--tiny]``: is the CUDA backend right, and how fast is it, on this machine?

1. Kernel parity: every function of every op in ``kernels.OPS`` runs on the CPU (``kernels.cpu``) and on
   the device (``kernels.cuda``) with the same sample arguments (``kernels.samples``: "full" = LeNet-5 /
   ResNet-8 sizes at batch 64, "tiny" = simulator sizes, three option variants each); every output must
   agree within the sample's tolerance.
2. Training parity: two SGD-momentum steps of a CNN with batch norm (LeNet-5 + BN; tiny: a 2-conv net on
   8x8 images) from the same weights on both devices: logits, losses and weights agree.
3. Timing (skipped under --tiny): SGEMM GFLOP/s at 4096^3 vs cuBLAS (through PyTorch or CuPy when
   importable), the Adam update's GB/s vs the device's copy bandwidth, LeNet-5 and ResNet-8 training
   steps at batch 64 and 256 vs PyTorch CUDA eager.

Everything runs through ``fastnn.backend`` (device arrays, explicit copies, synchronize).
"""

from __future__ import annotations

import copy
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import kernels
from fastnn.backend import Backend, get_backend, to_numpy


@dataclass
class Parity:
    """One compared call: the function, the sample variant, and the worst error relative to tolerance."""

    function: str
    variant: str
    ok: bool
    detail: str


def _compare(name: str, got: np.ndarray, want: np.ndarray, rtol: float, atol: float) -> str | None:
    """None when ``got`` matches ``want`` (NaN where it has NaN), else what differs."""
    if got.shape != want.shape:
        return f"{name}: shape {got.shape} != {want.shape}"
    if want.dtype.kind != "f":
        bad = int(np.count_nonzero(got != want))
        return None if bad == 0 else f"{name}: {bad} of {want.size} elements differ"
    if not np.array_equal(np.isnan(got), np.isnan(want)):
        return f"{name}: NaN at different positions ({int(np.isnan(got).sum())} vs {int(np.isnan(want).sum())})"
    finite = ~np.isnan(want)
    err = np.abs(got[finite].astype(np.float64) - want[finite])
    tol = atol + rtol * np.abs(want[finite].astype(np.float64))
    if err.size and not (err <= tol).all():
        i = int(np.argmax(err - tol))
        return f"{name}: max error {err[i]:.3g} > tolerance {tol[i]:.3g} (want {want[finite][i]:.6g})"
    return None


def kernel_parity(cuda: Backend, scale: str = "full", seeds: tuple[int, ...] = (0, 1, 2)) -> list[Parity]:
    """Run every registry function on cpu and cuda with ``kernels.samples`` arguments; compare outputs."""
    from kernels import samples

    cpu = kernels.get("cpu")
    rows = []
    for _op, fn in samples.functions():
        for seed in seeds:
            variant = f"{scale}/seed {seed}"
            s = samples.sample(fn, scale, np.float32, seed)  # conv's col workspace: each backend's own layout
            host = list(s.args)
            dev = [cuda.to_device(a) if isinstance(a, np.ndarray) else a
                   for a in samples.sample(fn, scale, np.float32, seed, backend="cuda").args]
            try:
                getattr(cpu, fn)(*host)
                getattr(cuda.k, fn)(*dev)
                cuda.synchronize()
            except Exception as e:  # noqa: BLE001  (report the failing kernel, check the others)
                rows.append(Parity(fn, variant, False, f"{type(e).__name__}: {e}"))
                continue
            errors = [_compare(f"arg {i}", to_numpy(dev[i]), host[i], s.rtol, s.atol) for i in s.outputs]
            errors = [e for e in errors if e]
            rows.append(Parity(fn, variant, not errors, "; ".join(errors) or "ok"))
    return rows


def tiny_cnn(seed: int = 0):
    """A 2-conv CNN with batch norm, pooling, a residual add and dropout-free head, for 1x8x8 inputs."""
    from fastnn import nn

    rng = np.random.default_rng(seed)
    block = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1, bias=False, rng=rng), nn.BatchNorm2d(4))
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False, rng=rng), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.MaxPool2d(2),
                         nn.Residual(block, None, nn.ReLU()), nn.AvgPool2d(2), nn.Flatten(),
                         nn.Linear(16, 7, rng=rng), nn.Tanh(), nn.Linear(7, 3, rng=rng))


def lenet5_bn(seed: int = 0):
    """LeNet-5 with batch norm after each convolution (the full-size training-parity model)."""
    from fastnn import nn

    rng = np.random.default_rng(seed)
    return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2, rng=rng), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(6, 16, 5, rng=rng), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(400, 120, rng=rng), nn.ReLU(), nn.Linear(120, 84, rng=rng), nn.ReLU(),
                         nn.Linear(84, 10, rng=rng))


def training_run(model, device: str | Backend, x: np.ndarray, y: np.ndarray, steps: int = 2, lr: float = 0.05):
    """``steps`` SGD-momentum steps of ``model`` on ``device`` over the same batch; returns (losses, logits of
    the last step, final flat weights), all on the host."""
    from fastnn import nn, optim

    model = model.to(device)
    backend = model.backend
    loss_fn = nn.CrossEntropyLoss().to(backend)
    opt = optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    xd = backend.to_device(x)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        logits = model.forward(xd, True)
        losses.append(loss_fn(logits, y))
        model.backward(loss_fn.backward(), input_grad=False)
        opt.step()
    return np.array(losses), to_numpy(logits), to_numpy(model.flat.data)


def training_parity(tiny: bool, steps: int = 2) -> list[Parity]:
    """The same model, weights and batch on cpu and cuda for ``steps`` steps: losses, logits, weights."""
    make, shape, classes = (tiny_cnn, (2, 1, 8, 8), 3) if tiny else (lenet5_bn, (64, 1, 28, 28), 10)
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape, dtype=np.float32)
    y = rng.integers(0, classes, shape[0]).astype(np.int64)
    model = make()
    cpu = training_run(copy.deepcopy(model), "cpu", x, y, steps)
    gpu = training_run(model, "cuda", x, y, steps)
    rows = []
    for what, a, b in zip(("losses", "logits", "weights"), gpu, cpu):
        err = _compare(what, a, b, rtol=2e-4, atol=2e-5)
        rows.append(Parity(f"{make.__name__} {steps}-step training", what, err is None, err or "ok"))
    return rows


# ----------------------------------------------------------------------------------------- timing


def _median_time(fn: Callable[[], object], sync: Callable[[], None], repeats: int = 5, inner: int = 10) -> float:
    """Median over ``repeats`` of the mean time of ``inner`` calls, in seconds (synchronized)."""
    fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        sync()
        times.append((time.perf_counter() - start) / inner)
    return statistics.median(times)


def _torch_cuda():
    try:
        import torch
    except ImportError:
        return None
    return torch if torch.cuda.is_available() else None


def sgemm_rows(cuda: Backend, n: int = 4096) -> list[tuple[str, float | None, float | None, str]]:
    """(work, fastnn, reference, unit): SGEMM n^3 GFLOP/s of kernels.cuda.gemm vs cuBLAS."""
    rng = np.random.default_rng(0)
    a, b = (cuda.to_device(rng.standard_normal((n, n), dtype=np.float32)) for _ in range(2))
    c = cuda.zeros((n, n))
    flops = 2.0 * n ** 3
    ours = flops / _median_time(lambda: cuda.k.gemm(c, a, b, 1.0, 0.0), cuda.synchronize, 3, 3) / 1e9
    ref = None
    torch = _torch_cuda()
    if torch is not None:
        ta, tb = (torch.randn(n, n, device="cuda") for _ in range(2))
        ref = flops / _median_time(lambda: ta @ tb, torch.cuda.synchronize, 3, 3) / 1e9
    else:
        try:
            import cupy
        except ImportError:
            cupy = None
        if cupy is not None:
            ca, cb = (cupy.random.standard_normal((n, n), dtype=np.float32) for _ in range(2))
            ref = flops / _median_time(lambda: ca @ cb, cupy.cuda.Device().synchronize, 3, 3) / 1e9
    return [(f"SGEMM {n}^3 (cuBLAS via torch/cupy)", ours, ref, "GFLOP/s")]


def optim_rows(cuda: Backend, n: int = 10_000_000) -> list[tuple[str, float | None, float | None, str]]:
    """The Adam update's effective bandwidth (7 float32 streams) vs a device-to-device copy (2 streams)."""
    from fastnn import optim
    from fastnn.params import FlatParams, Parameter

    p = Parameter(np.random.default_rng(0).standard_normal(n, dtype=np.float32))
    FlatParams.of([p]).to(cuda)
    opt = optim.Adam([p], lr=1e-3)
    cuda.fill(p.flat.grad, 0.01)
    adam = 7 * 4 * n / _median_time(opt.step, cuda.synchronize) / 1e9
    src, dst = cuda.zeros((n,)), cuda.empty((n,))
    copy_bw = 2 * 4 * n / _median_time(lambda: cuda.copy(dst, src), cuda.synchronize) / 1e9
    return [(f"Adam update {n:,} params (vs copy bandwidth)", adam, copy_bw, "GB/s")]


def _fastnn_step(host_model, cuda: Backend, x: np.ndarray, y: np.ndarray) -> Callable[[], None]:
    """One Adam training step of a device copy of ``host_model`` on the device batch (x, y)."""
    from fastnn import nn, optim

    model = copy.deepcopy(host_model).to(cuda)
    loss_fn = nn.CrossEntropyLoss().to(cuda)
    opt = optim.Adam(model.parameters(), lr=1e-3)
    xd = cuda.to_device(x)

    def step() -> None:
        opt.zero_grad()
        loss_fn(model.forward(xd, True), y)
        model.backward(loss_fn.backward(), input_grad=False)
        opt.step()
    return step


def _torch_step(torch, tmodel, x: np.ndarray, y: np.ndarray) -> Callable[[], None]:
    """The same step in PyTorch CUDA eager (fused Adam when available)."""
    opt = torch.optim.Adam(tmodel.parameters(), lr=1e-3)
    tx, ty = torch.from_numpy(x).cuda(), torch.from_numpy(y).cuda()
    loss_fn = torch.nn.CrossEntropyLoss()

    def step() -> None:
        opt.zero_grad()
        loss = loss_fn(tmodel(tx), ty)
        loss.backward()
        opt.step()
        loss.item()  # fastnn's loss is a host float: the same synchronization
    return step


def step_rows(cuda: Backend, batches: tuple[int, ...] = (64, 256)) -> list[tuple[str, float | None, float | None, str]]:
    """LeNet-5 and ResNet-8 training steps (Adam) in ms: fastnn CUDA vs PyTorch CUDA eager."""
    from fastnn import models
    from fastnn.bench import _to_torch, torch_resnet8

    torch = _torch_cuda()
    rows = []
    for name in ("lenet5", "resnet8"):
        for batch in batches:
            rng = np.random.default_rng(0)
            x = rng.standard_normal((batch, 1, 28, 28), dtype=np.float32)
            y = rng.integers(0, 10, batch).astype(np.int64)
            host_model = getattr(models, name)()
            ours = _median_time(_fastnn_step(host_model, cuda, x, y), cuda.synchronize) * 1e3
            ref = None
            if torch is not None:
                tmodel = (torch_resnet8(torch) if name == "resnet8" else _to_torch(host_model, torch)).cuda()
                ref = _median_time(_torch_step(torch, tmodel, x, y), torch.cuda.synchronize) * 1e3
            rows.append((f"{name} training step, batch {batch} (vs PyTorch CUDA)", ours, ref, "ms"))
    return rows


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.4g}"


def run_check(tiny: bool = False, out: Callable[[str], None] = print, seeds: tuple[int, ...] = (0, 1, 2)) -> int:
    """Print the parity and timing report; returns 0 when every parity check passed, 1 otherwise."""
    cuda = get_backend("cuda")
    out(f"fastnn check --device cuda{' --tiny' if tiny else ''}")
    with np.errstate(over="ignore"):  # the simulator runs dropout_mask's uint64 hash in wrapping NumPy scalars
        rows = kernel_parity(cuda, "tiny" if tiny else "full", seeds) + training_parity(tiny)
    failed = [r for r in rows if not r.ok]
    out(f"parity with the CPU kernels: {len(rows) - len(failed)}/{len(rows)} ok")
    for r in failed:
        out(f"  FAIL {r.function} [{r.variant}]: {r.detail}")
    if tiny:
        out("timing skipped (--tiny: simulator-sized shapes)")
    else:
        out("| work | fastnn | reference | unit | ratio |")
        out("|---|---:|---:|---|---:|")
        for work, ours, ref, unit in sgemm_rows(cuda) + optim_rows(cuda) + step_rows(cuda):
            ratio = "-" if ours is None or ref is None else (
                f"{ref / ours:.2f}x" if unit == "ms" else f"{ours / ref:.0%}")
            out(f"| {work} | {_fmt(ours)} | {_fmt(ref)} | {unit} | {ratio} |")
    return 1 if failed else 0
